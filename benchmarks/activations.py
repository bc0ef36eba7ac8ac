"""Latency of all layers' activations for one image: the engine's probe against model.predict.

    python -m benchmarks.activations [--json] [--repeat N]
"""

from __future__ import annotations

import argparse

import numpy as np

from ._common import default_model_and_image, machine, median_ms, report


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--json", action="store_true")
    p.add_argument("--repeat", type=int, default=200)
    args = p.parse_args()

    import keras

    from cnnviz.activations import probe
    from cnnviz.graph import outputs_of

    m, image = default_model_and_image()
    x = m.standardization.apply(image[None])
    pr = probe(m)
    km = m.keras_model
    sub = keras.Model(km.inputs, outputs_of(km, pr.layer_names))  # the same outputs
    engine = median_ms(lambda: pr.run(x), args.repeat)
    direct = median_ms(lambda: [np.asarray(o) for o in sub(x, training=False)], args.repeat)
    predict = median_ms(lambda: sub.predict(x, verbose=0), max(20, args.repeat // 5))
    report({**machine(), "layers": len(pr.layer_names), "engine_probe_ms": engine, "eager_submodel_call_ms": direct,
            "model_predict_ms": predict, "predict_over_engine": predict / engine}, args.json)


if __name__ == "__main__":
    main()

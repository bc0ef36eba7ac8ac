"""Latency of one attribution map, warm: the engine (one compiled call) against an eager GradientTape
over the same sub-model, as a notebook (or a library without compiled steps) computes it.

    python -m benchmarks.attribution [--json] [--repeat N]

Targets (issue 12): Grad-CAM and saliency ≤ 50 ms, SmoothGrad with 25 samples ≤ 200 ms.
"""

from __future__ import annotations

import argparse

import numpy as np

from ._common import default_model_and_image, machine, median_ms, report

TARGET_MS = {"saliency": 50.0, "gradcam": 50.0, "smoothgrad": 200.0}


def eager(m, image: np.ndarray, method: str, samples: int = 25) -> np.ndarray:
    """The same map with an eager tape: the baseline."""
    import keras
    import tensorflow as tf

    from cnnviz.graph import outputs_of, pre_softmax, score_of

    key = ("bench-eager", method)
    if key not in m.cache:
        km = m.keras_model
        score, head = score_of(km, m.output_layer)
        last = m.spatial_layers[-1]
        m.cache[key] = (keras.Model(km.inputs, [score, outputs_of(km, [last])[0]]), head)
    sub, head = m.cache[key]
    x = tf.constant(m.standardization.apply(image[None]))
    if method == "smoothgrad":
        noise = np.random.default_rng(0).normal(0, 0.15 * float(np.ptp(x.numpy())), (samples, *x.shape[1:]))
        x = tf.constant(x.numpy() + noise.astype(np.float32))
    with tf.GradientTape() as tape:
        tape.watch(x)
        s, maps = sub(x, training=False)
        logits = pre_softmax(s, head)
        score = tf.reduce_sum(logits[:, int(np.argmax(logits[0]))])
    if method == "gradcam":
        g = tape.gradient(score, maps)
        cam = tf.nn.relu(tf.reduce_sum(tf.reduce_mean(g, [1, 2], keepdims=True) * maps, -1))
        return tf.image.resize(cam[..., None], x.shape[1:3]).numpy()
    return np.abs(tape.gradient(score, x).numpy()).max(-1).mean(0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--json", action="store_true")
    p.add_argument("--repeat", type=int, default=50)
    args = p.parse_args()

    from cnnviz.attribution import attribution

    m, image = default_model_and_image()
    out: dict = {**machine()}
    for method in ("saliency", "gradcam", "smoothgrad"):
        engine = median_ms(lambda method=method: attribution(m, image, method), args.repeat)
        base = median_ms(lambda method=method: eager(m, image, method), args.repeat)
        out[f"{method}_engine_ms"] = engine
        out[f"{method}_eager_tape_ms"] = base
        out[f"{method}_eager_over_engine"] = base / engine
        out[f"{method}_target_ms"] = TARGET_MS[method]
        out[f"{method}_within_target"] = engine <= TARGET_MS[method]
    report(out, args.json)


if __name__ == "__main__":
    main()

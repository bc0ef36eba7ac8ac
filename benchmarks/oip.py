"""OIP search speed: the seed's method (eager, one map at a time) against the batched engine.

    python -m benchmarks.oip [--json] [--steps N] [--maps K]

Both run the default model's Conv2D_3, the same steps and per-step work (RMS-normalised
gradient, re-standardization, a blur every 4 steps), side by side in one run.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from ._common import machine, report


def seed_method(m, layer: str, maps: list[int], x0: np.ndarray, steps: int, step_size: float) -> float:
    """The seed's loop: eager GradientTape over a sub-model, one map after the other. Returns seconds."""
    import keras
    import tensorflow as tf

    from cnnviz.model import outputs_of

    km = m.keras_model
    sub = keras.Model(km.inputs, outputs_of(km, [layer])[0])
    k1 = np.exp(-0.5 * (np.arange(-2, 3) / 0.5) ** 2)
    kernel = tf.constant((np.outer(k1, k1) / k1.sum() ** 2).reshape(5, 5, 1, 1), tf.float32)
    t = time.perf_counter()
    for i, mp in enumerate(maps):
        x = tf.Variable(x0[i: i + 1, :, :, None])
        for s in range(steps):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(sub(x)[..., mp])
            g = tape.gradient(loss, x)
            g = g / (tf.sqrt(tf.reduce_mean(tf.square(g))) + 1e-8)
            x.assign_add(step_size * g)
            if (s + 1) % 4 == 0:
                x.assign(tf.nn.conv2d(tf.pad(x, [[0, 0], [2, 2], [2, 2], [0, 0]], "REFLECT"), kernel, 1, "VALID"))
            x.assign((x - tf.reduce_mean(x)) / tf.math.reduce_std(x))
    return time.perf_counter() - t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--json", action="store_true")
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--maps", type=int, default=64)
    p.add_argument("--seed-maps", type=int, default=8, help="maps run by the slow seed method (rate is per image-step)")
    args = p.parse_args()

    from cnnviz.model import default_model_path, load_model
    from cnnviz.oip import OIPConfig, OIPItem, initial_images, run_oip

    m = load_model(default_model_path())
    items = [OIPItem("Conv2D_3", i % 64, seed=i, wavelengths=(1.0,)) for i in range(args.maps)]
    config = OIPConfig(steps=args.steps, step_size=0.1, blur_every=4, frame_every=5)
    run_oip(m, items, OIPConfig(steps=5, frame_every=5))  # compile once: the app keeps the engine warm
    engine_s = min(run_oip(m, items, config).loop_seconds for _ in range(3))
    x0 = initial_images(items[: args.seed_maps])
    seed_method(m, "Conv2D_3", [it.map for it in items[:1]], x0, 3, 0.1)  # warm eager kernels
    seed_s = seed_method(m, "Conv2D_3", [it.map for it in items[: args.seed_maps]], x0, args.steps, 0.1)
    seed_rate = args.seed_maps * args.steps / seed_s
    engine_rate = args.maps * args.steps / engine_s
    report({**machine(), "layer": "Conv2D_3", "steps": args.steps, "maps": args.maps,
            "seed_image_steps_per_s": seed_rate, "engine_image_steps_per_s": engine_rate,
            "engine_seconds_for_all_maps": engine_s, "speedup": engine_rate / seed_rate}, args.json)


if __name__ == "__main__":
    main()

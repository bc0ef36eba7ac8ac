"""OIP search speed: the seed's method (eager, one map at a time), a bare batched ``tf.function``
ascent, and the engine with its default settings.

    python -m benchmarks.oip [--json] [--steps N] [--maps K] [--wavelength W]

All run the default model's Conv2D_3, the same steps and per-step work (RMS-normalised gradient,
re-standardization, a blur every 4 steps), side by side in one run, warm (traced once before timing).
The bare loop is the machine's limit for this work: one compiled call for all steps, no frames, no
trajectory, no redirected ReLU. Target (issue 13): the engine at >= 90 % of it with its defaults.
"""

from __future__ import annotations

import time

import numpy as np

from ._common import machine, options, report


def seed_method(m, layer: str, maps: list[int], x0: np.ndarray, steps: int, step_size: float) -> float:
    """The seed's loop: eager GradientTape over a sub-model, one map after the other. Returns seconds."""
    import keras
    import tensorflow as tf

    from cnnviz.graph import outputs_of

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


def bare_loop(m, layer: str, maps: list[int], x0: np.ndarray, steps: int, step_size: float) -> tuple[float, float]:
    """The same ascent as one batched ``tf.function`` over all steps. Returns (first call's seconds, warm seconds)."""
    import keras
    import tensorflow as tf

    from cnnviz.graph import pre_softmax, score_of

    km = m.keras_model
    tensor, head = score_of(km, layer)  # any searchable layer: a class by its score before the softmax
    sub = keras.Model(km.inputs, tensor)
    shape = tuple(int(v) for v in sub.output.shape[1:])
    if head is not None:
        shape = (int(head.kernel.shape[-1]),)
    mask = np.zeros((len(maps), *shape), np.float32)
    for b, mp in enumerate(maps):
        mask[b, ..., mp] = 1.0 / int(np.prod(shape[:-1]))
    k1 = np.exp(-0.5 * (np.arange(-2, 3) / 0.5) ** 2)
    kernel = tf.constant((np.outer(k1, k1) / k1.sum() ** 2).reshape(5, 5, 1, 1), tf.float32)

    @tf.function
    def ascend(x, mask):
        for s in tf.range(steps):
            with tf.GradientTape() as tape:
                tape.watch(x)
                obj = tf.reduce_sum(pre_softmax(sub(x, training=False), head) * mask)
            g = tape.gradient(obj, x)
            g = g / (tf.sqrt(tf.reduce_mean(tf.square(g), [1, 2, 3], keepdims=True)) + 1e-8)
            x = x + step_size * g
            if (s + 1) % 4 == 0:
                x = tf.nn.conv2d(tf.pad(x, [[0, 0], [2, 2], [2, 2], [0, 0]], "REFLECT"), kernel, 1, "VALID")
            mean, var = tf.nn.moments(x, [1, 2, 3], keepdims=True)
            x = (x - mean) / (tf.sqrt(var) + 1e-8)
        return x

    x, mk = tf.constant(x0[..., None]), tf.constant(mask)
    t = time.perf_counter()
    ascend(x, mk).numpy()
    first = time.perf_counter() - t
    t = time.perf_counter()
    ascend(x, mk).numpy()
    return first, time.perf_counter() - t


def main() -> None:
    args = options(__doc__, steps=100, wavelength=4.0, maps=64,
                   seed_maps=(8, "maps run by the slow seed method (rate is per image-step)"))

    from cnnviz.catalog import default_model_path
    from cnnviz.model import load_model
    from cnnviz.oip import initial_images, run_oip
    from cnnviz.search import OIPConfig, OIPItem

    m = load_model(default_model_path())
    items = [OIPItem("Conv2D_3", i % 64, seed=i, wavelengths=(args.wavelength,)) for i in range(args.maps)]
    config = OIPConfig(steps=args.steps, step_size=0.1, blur_every=4, frame_every=5, redirect_steps=0)
    first = run_oip(m, items, OIPConfig(steps=5, frame_every=5))  # traces once: the app keeps the engine warm
    defaults = OIPConfig(steps=args.steps)
    x_all = initial_images(items)
    bare_first, _ = bare_loop(m, "Conv2D_3", [it.map for it in items], x_all, args.steps, 0.1)
    engine_s, bare_s, plain_s = [], [], []
    for _ in range(3):  # interleaved, best of three: the machine is shared
        engine_s.append(run_oip(m, items, defaults).loop_seconds)
        plain_s.append(run_oip(m, items, config).loop_seconds)
        bare_s.append(bare_loop(m, "Conv2D_3", [it.map for it in items], x_all, args.steps, 0.1)[1])
    x0 = initial_images(items[: args.seed_maps])
    seed_method(m, "Conv2D_3", [it.map for it in items[:1]], x0, 3, 0.1)  # warm eager kernels
    seed_s = seed_method(m, "Conv2D_3", [it.map for it in items[: args.seed_maps]], x0, args.steps, 0.1)
    rate = lambda seconds: args.maps * args.steps / min(seconds)
    seed_rate = args.seed_maps * args.steps / seed_s
    report({**machine(), "layer": "Conv2D_3", "steps": args.steps, "maps": args.maps, "wavelength": args.wavelength,
            "seed_image_steps_per_s": seed_rate, "bare_tf_function_image_steps_per_s": rate(bare_s),
            "engine_defaults_image_steps_per_s": rate(engine_s),
            "engine_no_redirect_image_steps_per_s": rate(plain_s),
            "engine_defaults_over_bare": rate(engine_s) / rate(bare_s),
            "engine_no_redirect_over_bare": rate(plain_s) / rate(bare_s),
            "engine_over_seed": rate(engine_s) / seed_rate,
            "engine_compile_seconds_first_run": first.compile_seconds, "bare_first_call_seconds": bare_first,
            "engine_seconds_for_all_maps": min(engine_s)}, args.json)


if __name__ == "__main__":
    main()

"""Wavelength sweep of a whole layer: batched engine against one search per call, side by side.

    python -m benchmarks.sweep [--json] [--layer Conv2D_3] [--seeds 8] [--steps 60] [--noise lowpass] [--single 16]

The full sweep: Conv2D_3, 64 maps x 5 wavelengths (1, 2, 4, 7, 14) x 8 noises x 60 steps, both
methods (the redirected ReLU and the seed's method), each search its own noise. The same
searches one per call (the interactive pattern of the seed's notebooks) are timed on
``--single`` of them and given as a rate. The dead fractions (at the start, at the end by each
method, with Wilson 95 % intervals) come from the same run.
"""

from __future__ import annotations

import argparse
import time

from ._common import machine, report

WAVES = (1, 2, 4, 7, 14)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--json", action="store_true")
    p.add_argument("--layer", default="Conv2D_3")
    p.add_argument("--seeds", type=int, default=8)
    p.add_argument("--noise", default="lowpass")
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--single", type=int, default=16, help="searches timed one per call")
    args = p.parse_args()

    from cnnviz.catalog import default_model_path
    from cnnviz.model import load_model
    from cnnviz.oip import items_for, run_oip
    from cnnviz.search import OIPConfig, Searches
    from cnnviz.sweep import wavelength_sweep

    m = load_model(default_model_path())
    config = OIPConfig(steps=args.steps, frame_every=10)
    wavelength_sweep(m, args.layer, Searches((1,), 1, config=OIPConfig(steps=10)), maps="0-7")  # warm, like the engine
    t = time.perf_counter()
    r = wavelength_sweep(m, args.layer, Searches(WAVES, args.seeds, noise=args.noise, config=config))
    sweep_s = time.perf_counter() - t
    searches = 3 * r.activation.size  # the three methods
    items = items_for(m, args.layer, f"0-{args.single - 1}", wavelengths=[(4.0,)])
    run_oip(m, items[:1], config)  # compile the batch-of-one shape
    t = time.perf_counter()
    for it in items:
        run_oip(m, [it], config)
    single_rate = len(items) * args.steps / (time.perf_counter() - t)
    sweep_rate = searches * args.steps / sweep_s
    stats = r.dead_statistics()
    report({**machine(), "layer": args.layer, "noise": args.noise, "searches_three_methods": searches,
            "steps": args.steps, "sweep_seconds": sweep_s, "sweep_image_steps_per_s": sweep_rate,
            "one_per_call_image_steps_per_s": single_rate, "speedup_vs_one_per_call": sweep_rate / single_rate,
            **{k: stats[k] for k in ("dead_at_start", "dead_at_end_skip_dead", "dead_at_end_blur_all",
                                     "dead_at_end_redirected")},
            "maps_dead_at_every_wavelength_redirected": r.summary()["dead_at_every_wavelength"]},
           args.json)


if __name__ == "__main__":
    main()

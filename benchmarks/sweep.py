"""Wavelength sweep of a whole layer: batched engine against one search per call, side by side.

    python -m benchmarks.sweep [--json] [--layer Conv2D_3] [--seeds 2] [--steps 60] [--single 16]

The issue's target: Conv2D_3, 64 maps x 5 wavelengths (1, 2, 4, 7, 14) x 2 seeds x 60 steps,
under 30 s on a 2-core CPU. The same searches one per call (the interactive pattern of
the seed's notebooks) are timed on ``--single`` of them and given as a rate, and the dead
fractions with and without the redirected ReLU come from the same run.
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
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--single", type=int, default=16, help="searches timed one per call")
    args = p.parse_args()

    from cnnviz.model import default_model_path, load_model
    from cnnviz.oip import OIPConfig, items_for, run_oip
    from cnnviz.sweep import wavelength_sweep

    m = load_model(default_model_path())
    config = OIPConfig(steps=args.steps, frame_every=10)
    wavelength_sweep(m, args.layer, (1,), 1, OIPConfig(steps=10), maps="0-7")  # compile: the app's engine is warm
    t = time.perf_counter()
    r = wavelength_sweep(m, args.layer, WAVES, args.seeds, config)
    sweep_s = time.perf_counter() - t
    searches = r.activation.size
    items = items_for(m, args.layer, f"0-{args.single - 1}", wavelengths=[(4.0,)])
    run_oip(m, items[:1], config)  # compile the batch-of-one shape
    t = time.perf_counter()
    for it in items:
        run_oip(m, [it], config)
    single_rate = len(items) * args.steps / (time.perf_counter() - t)
    plain = wavelength_sweep(m, args.layer, WAVES, args.seeds, OIPConfig(steps=args.steps, frame_every=10,
                                                                         redirect_steps=0))
    sweep_rate = searches * args.steps / sweep_s
    report({**machine(), "layer": args.layer, "searches": searches, "steps": args.steps,
            "sweep_seconds": sweep_s, "sweep_image_steps_per_s": sweep_rate,
            "one_per_call_image_steps_per_s": single_rate, "speedup_vs_one_per_call": sweep_rate / single_rate,
            "dead_fraction_redirected": {f"{w:g}": round(float(d), 4) for w, d in zip(WAVES, r.dead_fraction)},
            "dead_fraction_seed_method": {f"{w:g}": round(float(d), 4) for w, d in zip(WAVES, plain.dead_fraction)},
            "maps_dead_at_every_wavelength_redirected": r.summary()["dead_at_every_wavelength"],
            "maps_dead_at_every_wavelength_seed_method": plain.summary()["dead_at_every_wavelength"]},
           args.json)


if __name__ == "__main__":
    main()

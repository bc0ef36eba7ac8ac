"""Each objective mode (cnnviz.objectives) against the plain search at the same batch size, side by side.

    python -m benchmarks.objectives [--json] [--batch 32] [--steps 60] [--repeat 3]

The plain search maximises one Conv2D_3 map from ``--batch`` noises (λ = 4, the true gradient); each mode runs
``--batch`` images of its own objective on the default model: negative (Conv2D_3 map 13 minimised), diversity
(``--batch`` facets of map 13), expression (Conv2D_3:13 + Conv2D_3:25 − Dense_2:1: its batch also holds each
unit's plain search, 4 × the images, so it is timed against a plain search of as many), interpolation
(``--batch`` frames from map 13 to map 25). Each time is the best of ``--repeat`` runs of the ascent loop,
after one warm-up run that traces it. Target: each mode within 1.5× of the plain search's time.
"""

from __future__ import annotations

from ._common import default_model_and_image, machine, options, report


def main() -> None:
    args = options(__doc__, batch=32, steps=60, repeat=3)

    from cnnviz.data import load_dataset
    from cnnviz.objectives import run_objective
    from cnnviz.oip import items_for, run_oip
    from cnnviz.search import Objective, OIPConfig, Unit, parse_expression

    m, _ = default_model_and_image()
    images = load_dataset("mnist").x_test
    config = OIPConfig(steps=args.steps, frame_every=args.steps).with_method("skip-dead")
    a, b = Unit("Conv2D_3", 13), Unit("Conv2D_3", 25)
    modes = {"negative": (Objective.of("negative", [a]), 1), "diversity": (Objective.of("diversity", [a]), 1),
             "expression": (Objective("expression", parse_expression("Conv2D_3:13 + Conv2D_3:25 - Dense_2:1")), 4),
             "interpolation": (Objective.of("interpolation", [a, b], frames=args.batch), 1)}

    def best(fn) -> float:
        fn()  # traces
        return min(fn() for _ in range(args.repeat))

    def plain(n: int) -> float:
        items = items_for(m, "Conv2D_3", [13], seeds=range(n), wavelengths=[(4.0,)])
        return best(lambda: run_oip(m, items, config).loop_seconds)

    out = {**machine(), "batch": args.batch, "steps": args.steps}
    for name, (objective, factor) in modes.items():
        seeds = range(args.batch)
        mode_s = best(lambda o=objective, s=seeds: run_objective(m, o, config, images=images, seeds=s).result.loop_seconds)
        plain_s = plain(args.batch * factor)
        out[f"{name}_seconds"], out[f"{name}_plain_seconds"] = mode_s, plain_s
        out[f"{name}_over_plain"] = mode_s / plain_s
    report(out, args.json)


if __name__ == "__main__":
    main()

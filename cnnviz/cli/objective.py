"""``cnnviz oip`` with an objective beyond one unit: --negative, --diversity, --objective, --interpolate."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .common import CLIError, emit, load, parse_floats, write_oip


def add_objective_flags(s: argparse.ArgumentParser) -> None:
    g = s.add_mutually_exclusive_group()
    g.add_argument("--negative", action="store_true",
                   help="minimise the unit instead (for a ReLU unit its pre-activation, so the search has a gradient)")
    g.add_argument("--diversity", type=float, metavar="W",
                   help="--seeds facets of the unit searched jointly, pushed apart with weight W (1: the default "
                        "strength)")
    g.add_argument("--objective", metavar="EXPR",
                   help="a sum of units, e.g. 'Conv2D_3:13 - 0.5*Conv2D_3:25' or 'Dense_2:7 - Dense_2:1'; each unit "
                        "scaled by its typical activation on the test set (--layer and --maps not needed)")
    g.add_argument("--interpolate", metavar="A,B",
                   help="images going from unit A to unit B of --layer (or LAYER:INDEX,LAYER:INDEX)")
    s.add_argument("--frames", type=int, default=8, help="images of an --interpolate strip (2..32)")
    s.add_argument("--alignment", type=float, default=1.0, help="--interpolate: weight keeping neighbours alike")


def wants_objective(args: argparse.Namespace) -> bool:
    return bool(args.negative or args.diversity is not None or args.objective or args.interpolate)


def _units(args: argparse.Namespace, m) -> list:
    from ..search import Unit, parse_expression, parse_maps

    if args.interpolate:
        parts = [p.strip() for p in args.interpolate.split(",")]
        if len(parts) != 2:
            raise CLIError(f"--interpolate takes two units A,B. Received: --interpolate={args.interpolate!r}")
        if all(":" in p for p in parts):
            return [parse_expression(p)[0].unit for p in parts]
        if not args.layer:
            raise CLIError("--interpolate A,B with map numbers needs --layer")
        n = m.search_layer(args.layer).maps
        return [Unit(args.layer, parse_maps(p, n)[0]) for p in parts]
    if not args.layer or args.maps is None:
        raise CLIError("--negative and --diversity need --layer and --maps (one unit)")
    maps = parse_maps(args.maps, m.search_layer(args.layer).maps)
    if len(maps) != 1:
        raise CLIError(f"--negative and --diversity take one unit. Received: --maps={args.maps!r}")
    from .common import parse_node

    return [Unit(args.layer, maps[0], parse_node(args.node))]


def objective_of(args: argparse.Namespace, m):
    """The :class:`Objective` the flags ask for."""
    from ..search import Objective, parse_expression

    if args.objective:
        return Objective("expression", parse_expression(args.objective))
    units = _units(args, m)
    if args.interpolate:
        return Objective.of("interpolation", units, weight=args.alignment, frames=args.frames)
    if args.negative:
        return Objective.of("negative", units)
    return Objective.of("diversity", units, weight=args.diversity)


def cmd_objective(args: argparse.Namespace, config) -> None:
    from tqdm import tqdm

    from ..data import load_dataset
    from ..objectives import run_objective
    from ..oip import Watched

    m = load(args.model)
    objective = objective_of(args, m)
    waves = parse_floats(args.wavelength, "--wavelength")
    if len(waves) != 1:
        raise CLIError(f"An objective search starts from one wavelength. Received: --wavelength={args.wavelength}")
    images = load_dataset(m.metadata.get("dataset", "mnist")).x_test
    seeds = range(args.seed, args.seed + args.seeds)
    with tqdm(total=args.steps, desc=objective.describe()[:40], unit="step", file=sys.stderr, disable=None) as bar:
        run = run_objective(m, objective, config, images=images, seeds=seeds, wavelengths=waves, noise=args.noise,
                            watched=Watched(lambda p: bar.update(p.step - bar.n)))
    write_oip(m, run.result, Path(args.out), labels=run.labels(), title=objective.describe())
    report = _report(m, run, objective, images, config, seeds, waves[0], args.noise)
    lines = [f"{objective.describe()}: {len(run.result.items)} images, {run.result.steps_done} steps in "
             f"{run.result.loop_seconds:.2f} s; wrote {args.out}/oip.npz, oip.png, oip.gif"]
    lines += [f"  {t['unit']}: mean {t['mean_end']:.3f} (typical {t['scale']:.3f})" for t in report["terms"]]
    lines += [f"  {k}: {v}" for k, v in report["checks"].items()]
    emit(args, report, "\n".join(lines))


def _report(m, run, objective, images, config, seeds, wavelength: float, noise: str) -> dict[str, Any]:
    """The JSON report: each term's activation per image, and the mode's own check."""
    units = [f"{t.unit.layer}:{t.unit.index}" + (f"@{t.unit.node[0]},{t.unit.node[1]}" if t.unit.node else "")
             for t in objective.terms]
    report: dict[str, Any] = {
        "mode": objective.mode, "objective": objective.describe(), "wavelength": wavelength, "noise": noise,
        "terms": [{"unit": u, "weight": t.weight, "scale": float(run.scales[k]),
                   "mean_end": float(run.end_terms[:, k].mean())} for k, (u, t) in enumerate(zip(units, objective.terms))],
        "images": [{"label": label, "seed": it.seed, "objective_start": float(run.result.activation[i, 0]),
                    "objective_end": float(run.result.activation[i, -1]),
                    "terms": {u: {"start": float(run.start_terms[i, k]), "end": float(run.end_terms[i, k])}
                              for k, u in enumerate(units)}}
                   for i, (label, it) in enumerate(zip(run.labels(), run.result.items))],
        "loop_seconds": run.result.loop_seconds, "image_steps_per_second": run.result.image_steps_per_second,
    }
    report["checks"] = _checks(m, run, objective, images, config, seeds, wavelength, noise)
    return report


def _checks(m, run, objective, images, config, seeds, wavelength: float, noise: str) -> dict[str, Any]:
    import numpy as np

    from ..objectives import unit_values
    from ..oip import items_for, run_oip

    if objective.mode == "negative":
        p1 = float(np.percentile(unit_values(m, objective, images, count=len(images))[:, 0], 1))
        ends = run.end_terms[:, 0]
        return {"test_percentile_1": p1, "below_percentile_1": bool((ends < p1).all()),
                "pre_activation": "the unit's value before its ReLU (where it has one), as minimised"}
    if objective.mode == "interpolation":
        share = run.share_a
        return {"share_a": [round(float(v), 4) for v in share], "share_a_falls": bool(np.all(np.diff(share) < 0))}
    if objective.mode == "expression":
        return {"plain_mean": [float(v) for v in run.plain] if run.plain is not None else None,
                "conflicts": [f"{u.layer}:{u.index}" for u in run.conflicts],
                "verdict": ("the units conflict: the sum leaves " + ", ".join(f"{u.layer}:{u.index}" for u in
                                                                             run.conflicts) +
                            " under half of its own plain OIP's activation") if run.conflicts else
                ("every positive unit reaches at least half of its own plain OIP's activation"
                 if run.plain is not None else "one unit")}
    unit = objective.terms[0].unit
    plain = run_oip(m, items_for(m, unit.layer, [unit.index], node=unit.node, seeds=seeds,
                                 wavelengths=[(wavelength,)], noise=noise), config.with_method("skip-dead"))
    ours, theirs = _mean_correlation(run.result.images), _mean_correlation(plain.images)
    kept = float(run.end_terms[:, 0].mean() / max(plain.end_activation.mean(), 1e-12))
    return {"mean_pairwise_correlation": ours, "plain_mean_pairwise_correlation": theirs,
            "correlation_drop": theirs - ours, "plain_mean_activation": float(plain.end_activation.mean()),
            "activation_kept": kept}


def _mean_correlation(images) -> float:
    """The mean Pearson correlation over all pairs of ``images``."""
    import numpy as np

    flat = np.asarray(images, np.float64).reshape(len(images), -1)
    if len(flat) < 2:
        return float("nan")
    c = np.asarray(np.corrcoef(flat))
    n = c.shape[0]
    return float((c.sum() - n) / (n * (n - 1)))

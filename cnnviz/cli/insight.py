"""The analysis commands: ``sweep``, ``open-rates``, ``reproducibility``, ``exemplars``, ``hand``, ``compare``. A
report as text, or as JSON with ``--json``; ``--csv``/``--png`` also write the numbers and a labelled gallery."""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from ..noise import FAMILIES
from .common import (
    MODEL_HELP,
    Bar,
    CLIError,
    add_json,
    add_method,
    emit,
    load,
    map_layers,
    method_config,
    model_and_layer,
    parse_floats,
    parse_node,
)


def _searches(args: argparse.Namespace, waves: str | None = None):
    from ..search import Searches

    return Searches(parse_floats(waves or args.wavelengths, "--wavelengths"), seeds=args.seeds, noise=args.noise,
                    config=method_config(args, steps=args.steps, frame_every=10),
                    first_seed=getattr(args, "seed", 0) or 0)


def _export(args: argparse.Namespace, rows: list[dict[str, Any]], gallery: tuple[np.ndarray, list[str], str] | None
            ) -> dict[str, str]:
    """Writes ``--csv`` (the rows) and ``--png`` (the labelled gallery: images, labels, title); returns what was
    written."""
    from ..images import labelled_grid, save_png
    from ..search import to_display
    from ..store import save_csv

    written = {}
    if args.csv:
        save_csv(args.csv, rows)
        written["csv"] = args.csv
    if getattr(args, "png", None) and gallery is not None and len(gallery[0]):
        images, labels, title = gallery
        tiles = np.round(to_display(images, rgb=images.ndim == 4) * 255).astype(np.uint8)
        save_png(labelled_grid(tiles, labels, cols=min(8, len(tiles)), title=title), args.png)
        written["png"] = args.png
    return written


def cmd_sweep(args: argparse.Namespace) -> None:
    from ..search import Watch
    from ..sweep import wavelength_sweep

    m = model_and_layer(args)
    with Bar(f"sweep {args.layer}") as progress:
        r = wavelength_sweep(m, args.layer, _searches(args), maps=args.maps, watch=Watch(progress))
    per_map = [{"map": mp, "activation": {f"{w:g}": round(float(a), 4) for w, a in zip(r.wavelengths, row)},
                "best_wavelength": float(bw)} for mp, row, bw in zip(r.maps, r.mean_activation, r.best_wavelength)]
    labels = [f"map {mp} · λ={bw:g}" for mp, bw in zip(r.maps, r.best_wavelength)]
    written = _export(args, r.rows(), (r.best_images, labels, f"{m.name} {args.layer}: each map's OIP at its best "
                                                              f"wavelength ({r.noise} noise)"))
    series = r.dead_rates.series()
    text = [f"{args.layer} of {m.name}, {r.noise} noise: {len(r.maps)} maps × {len(r.wavelengths)} wavelengths × "
            f"{r.seeds} seeds, {r.steps} steps, in {r.seconds:.1f} s. Dead searches (Wilson 95 % intervals):"]
    for j, w in enumerate(r.wavelengths):
        text.append(f"  λ={w:g}: " + "; ".join(f"{label} {rs[j]}" for _, label, rs in series))
    emit(args, {**r.summary(), "per_map": per_map, "written": written}, "\n".join(text))


def cmd_reproducibility(args: argparse.Namespace) -> None:
    from ..reproducibility import reproducibility
    from ..results import interval_text
    from ..search import Watch

    m = model_and_layer(args)
    with Bar(f"reproducibility {args.layer}") as progress:
        r = reproducibility(m, args.layer, _searches(args), maps=args.maps, max_shift=args.max_shift,
                            watch=Watch(progress))
    rows = [r.rows()[i] for i in r.order]
    labels = [f"map {r.maps[i]} · {r.score[i]:.2f}" for i in r.order]
    written = _export(args, rows, (r.best_images[r.order], labels, f"{m.name} {args.layer}: OIPs by reproducibility"))
    ci = r.score_ci95
    top = [f"map {r.maps[i]} {r.score[i]:.3f} {interval_text(ci[i, 0], ci[i, 1], '.3f')}" for i in r.order[:5]]
    emit(args, {**r.summary(), "per_map": rows, "written": written},
         f"{args.layer} of {m.name}: {r.activation.shape[1]} searches per map, shifts up to {r.max_shift} px. Most "
         f"reproducible (score [95 % interval]): {'; '.join(top)}.")


def cmd_exemplars(args: argparse.Namespace) -> None:
    from ..data import load_dataset
    from ..exemplars import exemplars
    from ..images import labelled_grid, save_png, to_uint8
    from ..search import Unit, Watch

    m = model_and_layer(args)
    data = load_dataset(m.metadata.get("dataset", "mnist"))
    with Bar(f"exemplars {args.layer} map {args.map}") as progress:
        e = exemplars(m, data.x_test, data.y_test, Unit(args.layer, args.map, parse_node(args.node)), k=args.k,
                      searches=_searches(args), watch=Watch(progress))
    written = _export(args, e.rows(), None)
    names = m.class_names
    if args.png:
        rgb = e.images.ndim == 4
        tiles = np.concatenate([to_uint8(e.oip_image[None], rgb=rgb), e.images])
        labels = [f"OIP · {e.oip_activation:.2f}"] + [f"#{i} · {names[lab]} · {a:.2f}" for i, lab, a in
                                                      zip(e.indices, e.labels, e.activation)]
        save_png(labelled_grid(tiles, labels, cols=len(tiles), title=f"{m.name} {args.layer} map {args.map}: the OIP "
                                                                     "and the test images that drive it hardest"),
                 args.png)
        written["png"] = args.png
    ratio = "∞" if not np.isfinite(e.ratio) else f"{e.ratio:.2f}"
    emit(args, {**e.summary(), "written": written},
         f"{args.layer} map {args.map}: the OIP reaches {e.oip_activation:.3f}, the best test image (#{e.indices[0]}, "
         f"{names[e.labels[0]]}) {e.activation[0]:.3f}: ratio {ratio}. Top classes: "
         f"{', '.join(names[v] for v in e.labels)}.")


def cmd_open_rates(args: argparse.Namespace) -> None:
    from ..search import Watch
    from ..sweep import open_rates

    m = model_and_layer(args)
    with Bar(f"open at start {args.layer}") as progress:
        r = open_rates(m, args.layer, parse_floats(args.wavelengths, "--wavelengths"), args.noises, noise=args.noise,
                       first_seed=args.seed, watch=Watch(progress))
    written = _export(args, r.rows(), None)
    s = r.summary()
    text = [f"{args.layer} of {m.name}, {r.noise} noise, {r.noises} noises per wavelength (seeds {s['seeds'][0]}.."
            f"{s['seeds'][1]}), {r.seconds:.1f} s; every Wilson 95 % interval within ±{100 * r.widest:.1f} points."]
    for j, w in enumerate(r.wavelengths):
        rare = [f"{mp}: {r.rate(mp, w)}" for i, mp in enumerate(r.maps) if r.opened[i, j] < 0.05 * r.noises]
        text.append(f"  λ={w:g}: maps opened by under 5 % of the noises: {'; '.join(rare) or 'none'}")
    emit(args, {**s, "per_map": r.rows(), "written": written}, "\n".join(text))


def cmd_circuit(args: argparse.Namespace) -> None:
    from ..circuits import circuit
    from ..data import load_dataset
    from ..search import BatchProgress

    m = load(args.model)
    args.layer = args.layer or map_layers(m)[-1]
    data = load_dataset(m.metadata.get("dataset", "mnist"))
    names = [la.name for la in m.keras_model.layers]
    if args.layer not in names:
        raise CLIError(f"--layer must be one of {names}. Received: --layer={args.layer}")
    units = [args.map] if args.map is not None else range(int(m.keras_model.get_layer(args.layer).output.shape[-1]))
    with Bar(f"circuits {args.layer}") as progress:
        found = []
        for i, u in enumerate(units):
            found.append(circuit(m, args.layer, u, data.x_test, top=args.top, k=args.k))
            progress(BatchProgress((i + 1) / len(units), f"unit {u}"))
    k = args.k
    top = float(np.mean([c.top_drop for c in found]))
    rnd = float(np.mean([c.random_drops.mean() for c in found]))
    weights = [c.weight_drop for c in found if c.weight_drop is not None]
    report: dict[str, Any] = {"layer": args.layer, "units": len(found), f"mean_top{k}_drop": top,
                              f"mean_random{k}_drop": rnd,
                              f"mean_largest_kernels{k}_drop": float(np.mean(weights)) if weights else None}
    if args.map is not None:
        report.update(found[0].summary())
    else:
        report["per_unit"] = [{key: v for key, v in c.summary().items() if key != "incoming"} |
                              {"incoming": c.incoming(5)} for c in found]
    first = found[0]
    text = [f"{args.layer} of {m.name}, {len(found)} unit(s), incoming units from {first.incoming_layer}"
            f"{' through ' + ', '.join(first.through) if first.through else ''}: zeroing the top {k} by measured "
            f"contribution cuts the mean activation on the {args.top} strongest test images by {100 * top:.0f} %, "
            f"{k} random ones by {100 * rnd:.0f} %" + (f", the {k} with the largest kernels by "
                                                        f"{100 * float(np.mean(weights)):.0f} %." if weights else ".")]
    if args.map is not None:
        text += [f"  {r['layer']} {r['map']}: {100 * r['contribution']:+.1f} % ({r['sign']})"
                 for r in first.incoming(10)]
    emit(args, report, "\n".join(text))


def cmd_dissect(args: argparse.Namespace) -> None:
    from ..data import load_dataset
    from ..dissect import dissect
    from ..search import Watch

    m = load(args.model)
    args.layer = args.layer or map_layers(m)[-1]
    data = load_dataset(m.metadata.get("dataset", "mnist"))
    if not 20 <= args.images <= len(data.x_test):
        raise CLIError(f"--images must be in 20..{len(data.x_test)}. Received: --images={args.images}")
    with Bar(f"dissect {args.layer}") as progress:
        r = dissect(m, args.layer, data.x_test[:args.images], data.y_test[:args.images], watch=Watch(progress))
    s = r.summary()
    written = _export(args, r.rows(), None)
    text = [f"{args.layer} of {m.name}: {s['labelled']} of {s['units']} units carry a label that beats both "
            f"baselines ({args.images} test images, {r.seconds:.1f} s): " +
            (", ".join(f"{c} ×{n}" for c, n in sorted(s["labels"].items(), key=lambda kv: -kv[1])) or "none")]
    text += [f"  unit {row['unit']}: {row['concept']} IoU {row['iou']:.3f} [{row['iou_ci95'][0]:.3f}, "
             f"{row['iou_ci95'][1]:.3f}] (rotation {row['rotation_baseline']:.3f}, shuffled "
             f"{row['shuffled_baseline']:.3f})" for row in s["per_unit"] if row["labelled"]]
    emit(args, {**s, "written": written}, "\n".join(text))


def cmd_timeline(args: argparse.Namespace) -> None:
    from ..data import load_dataset
    from ..images import gif_bytes
    from ..search import OIPConfig, Searches, Watch, parse_maps
    from ..store import save_bytes
    from ..timeline import timeline

    m = model_and_layer(args)
    maps = parse_maps(args.maps, m.spatial_layer(args.layer).maps)
    data = load_dataset(m.metadata.get("dataset", "mnist"))
    plan = Searches((args.wavelength,), seeds=args.seeds, config=OIPConfig(steps=args.steps, frame_every=args.steps))
    with Bar(f"timeline {args.layer}") as progress:
        t = timeline(m, args.layer, maps, plan, images=data.x_test, watch=Watch(progress))
    written = _export(args, t.rows(), None)
    if args.gif and len(t.epochs):
        save_bytes(args.gif, gif_bytes(t.images[:, :, 0], labels=[f"map {mp}" for mp in maps], ms=600,
                                       values=t.correlation[:, :, 0].T, steps=t.epochs, step_name="epoch"))
        written["gif"] = args.gif
    s = t.summary()
    text = [f"{args.layer} of {m.name} over {len(t.epochs)} snapshots ({t.seconds:.1f} s): mean correlation with the "
            "final OIPs " + ", ".join(f"epoch {e}: {c:.2f}" for e, c in zip(t.epochs, t.mean_correlation)),
            "  formed (correlation ≥ 0.8) at: " + ", ".join(f"map {mp}: {f if f is not None else 'never'}"
                                                           for mp, f in zip(maps, t.formed_at))]
    emit(args, {**s, "written": written}, "\n".join(text))


def cmd_hand(args: argparse.Namespace) -> None:
    from ..data import load_dataset
    from ..hand import hand_of_mnist
    from ..images import labelled_grid, save_png
    from ..search import Watch

    m = model_and_layer(args)
    data = load_dataset(m.metadata.get("dataset", "mnist"))
    noises = args.noises.split(",")
    if any(n not in FAMILIES for n in noises):
        raise CLIError(f"--noises must be some of {','.join(FAMILIES)}. Received: --noises={args.noises}")
    show = [int(v) for v in parse_floats(args.show, "--show")] if args.show else None
    with Bar(f"hand of MNIST {args.layer}") as progress:
        h = hand_of_mnist(m, args.layer, _searches(args, args.wavelengths), noises=noises, blocks=args.blocks,
                          test=(data.x_test, data.y_test), watch=Watch(progress))
    written = _export(args, h.rows(), None)
    if args.png and len(h.maps):
        shown = list(dict.fromkeys([h.maps[i] for i in h.candidates[:3]] + (show or [])))
        tiles, labels, cols = h.montage(shown)
        save_png(labelled_grid(tiles, labels, cols=cols, title=f"{m.name} {args.layer}: held-out OIPs in every setting "
                                                               "(score), then the top test images"), args.png)
        written["png"] = args.png
    s = h.summary()
    text = [f"{args.layer} of {m.name}, {h.method} method, {len(h.settings)} settings × {h.blocks} selection blocks "
            f"+ 1 held-out block × {h.block} searches per map (seeds {s['seeds'][0]}..{s['seeds'][1]}): "
            f"{s['statement']}." if len(h.maps) else "stopped"]
    for row in s.get("candidates", []):
        lo, hi = row["heldout_ci95"]
        text.append(f"  map {row['map']}: picked {row['pick_frequency']:.0%}, held-out score "
                    f"{row['heldout_score']:.2f} [{lo:.2f}, {hi:.2f}], top test images "
                    f"{h.top_text(h.maps.index(row['map']))}")
    emit(args, {**s, "written": written}, "\n".join(text))


def cmd_compare(args: argparse.Namespace) -> None:
    from ..data import load_dataset
    from ..matching import match_maps
    from ..search import Watch

    ma, mb = load(args.model_a), load(args.model_b)
    args.layer = args.layer or map_layers(ma)[-1]
    layer_b = args.layer_b or (args.layer if args.layer in mb.spatial_layers else map_layers(mb)[-1])
    data = load_dataset(ma.metadata.get("dataset", "mnist"))
    if not 1 <= args.images <= len(data.x_test):
        raise CLIError(f"--images must be in 1..{len(data.x_test)}. Received: --images={args.images}")
    with Bar(f"compare {args.layer}") as progress:
        r = match_maps(ma, mb, args.layer, data.x_test[:args.images], layer_b=layer_b, close=args.close,
                       watch=Watch(progress))
    s = r.summary()
    emit(args, {"model_a": str(ma.path), "model_b": str(mb.path), **s, "matched_pairs": r.rows(),
                "written": _export(args, r.rows(), None)},
         f"{ma.name} {args.layer} vs {mb.name} {layer_b}: mean matched correlation {s['mean_matched_correlation']:.3f}, "
         f"{100 * r.close_fraction:.1f} % with a close partner (r ≥ {r.close}), order correlation "
         f"{r.order_correlation:.2f}")


def add_commands(sub: Any) -> None:
    """Registers the analysis commands on the CLI's sub-parsers."""
    def common(s: argparse.ArgumentParser, waves: str, seeds: int) -> None:
        s.add_argument("--model", help=MODEL_HELP)
        s.add_argument("--layer", help="a layer of maps (default: the last)")
        s.add_argument("--wavelengths", default=waves, help="noise wavelengths in pixels, e.g. 1,2,4,7,14")
        s.add_argument("--seeds", type=int, default=seeds, help="noise seeds per map and wavelength")
        s.add_argument("--seed", type=int, default=0, help="the first noise seed")
        s.add_argument("--steps", type=int, default=60)
        add_method(s)
        s.add_argument("--noise", choices=FAMILIES, default="lowpass",
                       help="start noise: lowpass (long-range fluctuations), bandpass or mix")
        s.add_argument("--csv", help="also write the numbers as CSV here")
        add_json(s)

    s = sub.add_parser("sweep", help="every map at every noise wavelength: activation reached, dead fractions")
    common(s, "1,2,4,7,14", 2)
    s.add_argument("--maps", help="e.g. 0-63 or 5,7 (default: every map)")
    s.add_argument("--png", help="write each map's best OIP as a labelled PNG grid here")
    s.set_defaults(func=cmd_sweep)

    s = sub.add_parser("open-rates", help="per map and wavelength: how often a noise opens the map (forward passes "
                                          "only, thousands of noises)")
    s.add_argument("--model", help=MODEL_HELP)
    s.add_argument("--layer", help="a layer of maps (default: the last)")
    s.add_argument("--wavelengths", default="1,2,4,7,14", help="noise wavelengths in pixels")
    s.add_argument("--noises", type=int, default=2000, help="noises per wavelength")
    s.add_argument("--seed", type=int, default=0, help="the first noise seed")
    s.add_argument("--noise", choices=FAMILIES, default="lowpass")
    s.add_argument("--csv", help="also write the numbers as CSV here")
    add_json(s)
    s.set_defaults(func=cmd_open_rates)

    s = sub.add_parser("reproducibility", help="how alike a map's OIPs from different noises are")
    common(s, "4", 4)
    s.add_argument("--maps", help="e.g. 0-63 or 5,7 (default: every map)")
    s.add_argument("--max-shift", type=int, help="largest alignment shift in pixels (default: the layer's jump)")
    s.add_argument("--png", help="write the OIPs ordered by score as a labelled PNG grid here")
    s.set_defaults(func=cmd_reproducibility)

    s = sub.add_parser("exemplars", help="top test images and patches of a map or node beside its OIP")
    common(s, "1,4", 2)
    s.add_argument("--map", type=int, required=True)
    s.add_argument("--node", help="X,Y: one node instead of the map mean")
    s.add_argument("--k", type=int, default=9)
    s.add_argument("--png", help="write the OIP and the top images as one labelled PNG row here")
    s.set_defaults(func=cmd_exemplars)

    s = sub.add_parser("hand", help="the Hand of MNIST: the map whose OIP is best defined across settings, chosen on "
                                    "some searches and scored on others")
    common(s, "1,4,14", 16)
    s.add_argument("--blocks", type=int, default=4, help="selection blocks of --seeds searches each (one held-out "
                                                         "block more scores the pick)")
    s.add_argument("--noises", default="lowpass,bandpass,mix", help="noise families, comma-separated")
    s.add_argument("--show", help="maps to show in the montage beside the candidates, e.g. 13,25")
    s.add_argument("--png", help="write each shown map's OIPs in every setting and its top test images here")
    s.set_defaults(func=cmd_hand)

    _add_units(sub)

    s = sub.add_parser("compare", help="match the maps of a layer between two models")
    s.add_argument("model_a", metavar="A.keras")
    s.add_argument("model_b", metavar="B.keras")
    s.add_argument("--layer", help="A's layer of maps (default: its last)")
    s.add_argument("--layer-b", help="B's layer of maps (default: A's layer's name if B has it, else B's last)")
    s.add_argument("--images", type=int, default=10000, help="test images to correlate over")
    s.add_argument("--close", type=float, default=0.5, help="correlation that counts as a close partner")
    s.add_argument("--csv", help="also write the matched pairs as CSV here")
    add_json(s)
    s.set_defaults(func=cmd_compare)


def _add_units(sub: Any) -> None:
    """The unit commands: ``dissect``, ``timeline`` and ``circuit``."""
    s = sub.add_parser("dissect", help="label each unit of a layer with the concept of the digits it matches best, "
                                       "against two null baselines")
    s.add_argument("--model", help=MODEL_HELP)
    s.add_argument("--layer", help="any layer of maps or dense layer (default: the last layer of maps)")
    s.add_argument("--images", type=int, default=2000, help="test images (the first N)")
    s.add_argument("--csv", help="also write the per-unit rows as CSV here")
    add_json(s)
    s.set_defaults(func=cmd_dissect)

    s = sub.add_parser("timeline", help="how maps formed during training: their OIPs at every epoch, from the same "
                                        "noises (models trained by cnnviz)",
                       epilog="Each epoch's checkpoint is a weights file: load the model with keras.models.load_model("
                              "PATH, compile=False), then its weights with model.load_weights(checkpoint).")
    s.add_argument("--model", help=MODEL_HELP)
    s.add_argument("--layer", help="a layer of maps (default: the last)")
    s.add_argument("--maps", default="0-7", help="e.g. 0-63 or 5,7")
    s.add_argument("--wavelength", type=float, default=4.0)
    s.add_argument("--seeds", type=int, default=4)
    s.add_argument("--steps", type=int, default=60)
    s.add_argument("--gif", help="write each map's OIP across the epochs as an animated GIF here")
    s.add_argument("--csv", help="also write the numbers as CSV here")
    add_json(s)
    s.set_defaults(func=cmd_timeline)

    s = sub.add_parser("circuit", help="the incoming units that build a unit, by ablation on its strongest images")
    s.add_argument("--model", help=MODEL_HELP)
    s.add_argument("--layer", help="a conv or dense layer (default: the last layer of maps)")
    s.add_argument("--map", type=int, help="the unit (a map, a dense unit or a class); default: every unit, averaged")
    s.add_argument("--top", type=int, default=100, help="the unit's strongest test images to measure on")
    s.add_argument("--k", type=int, default=3, help="incoming units zeroed together for the check")
    add_json(s)
    s.set_defaults(func=cmd_circuit)

"""Insight commands of the CLI: ``sweep``, ``reproducibility``, ``exemplars``, ``compare``; JSON on stdout."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import numpy as np

from .noise import FAMILIES


def _config(args: argparse.Namespace):
    from .oip import OIPConfig

    return OIPConfig(steps=args.steps, redirect_steps=args.redirect_steps, frame_every=10)


class _Bar:
    """A tqdm bar on stderr driven by progress fractions; opened on the first report, so a
    request refused up front prints only its one error line."""

    def __init__(self, desc: str):
        self.desc = desc
        self.bar: Any = None

    def __call__(self, p) -> None:
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=100, desc=self.desc, unit="%", file=sys.stderr, bar_format="{l_bar}{bar}| {elapsed}")
        self.bar.n = round(100 * p.fraction)
        self.bar.set_postfix_str(p.stage, refresh=True)

    def __enter__(self) -> _Bar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()


def _waves(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise ValueError(f"--wavelengths must be numbers separated by commas. Received: --wavelengths={text}") from None


def _export(args: argparse.Namespace, rows: list[dict[str, Any]], images: np.ndarray | None) -> dict[str, str]:
    from .images import save_oip_grid
    from .oip import to_display
    from .store import save_csv

    written = {}
    if args.csv:
        save_csv(args.csv, rows)
        written["csv"] = args.csv
    if args.png and images is not None and len(images):
        save_oip_grid(to_display(images, rgb=images.ndim == 4), args.png)
        written["png"] = args.png
    return written


def _last_map_layer(m) -> str:
    from .cli import _map_layers

    return _map_layers(m)[-1]


def _model(args: argparse.Namespace):
    """The model of ``--model``; ``--layer`` defaults to its last layer of maps."""
    from .cli import _load

    m = _load(args.model)
    args.layer = args.layer or _last_map_layer(m)
    return m


def _emit(out: dict[str, Any]) -> None:
    print(json.dumps(out, indent=1))


def cmd_sweep(args: argparse.Namespace) -> None:
    from .sweep import wavelength_sweep

    m = _model(args)
    with _Bar(f"sweep {args.layer}") as progress:
        r = wavelength_sweep(m, args.layer, _waves(args.wavelengths), args.seeds, _config(args), maps=args.maps,
                             noise=args.noise, on_progress=progress)
    best = r.images[np.arange(len(r.maps)), r.mean_activation.argmax(1)] if len(r.maps) else None
    per_map = [{"map": mp, "activation": {f"{w:g}": round(float(a), 4) for w, a in zip(r.wavelengths, row)},
                "best_wavelength": float(bw)} for mp, row, bw in zip(r.maps, r.mean_activation, r.best_wavelength)]
    _emit({**r.summary(), "per_map": per_map, "written": _export(args, r.rows(), best)})


def cmd_reproducibility(args: argparse.Namespace) -> None:
    from .reproducibility import reproducibility

    m = _model(args)
    with _Bar(f"reproducibility {args.layer}") as progress:
        r = reproducibility(m, args.layer, maps=args.maps, seeds=args.seeds, wavelengths=_waves(args.wavelengths),
                            config=_config(args), max_shift=args.max_shift, noise=args.noise, on_progress=progress)
    rows = [r.rows()[i] for i in r.order]
    _emit({**r.summary(), "per_map": rows, "written": _export(args, rows, r.best_images[r.order])})


def cmd_exemplars(args: argparse.Namespace) -> None:
    from .cli import _parse_node
    from .data import load_dataset
    from .exemplars import exemplars

    m = _model(args)
    data = load_dataset(m.metadata.get("dataset", "mnist"))
    with _Bar(f"exemplars {args.layer} map {args.map}") as progress:
        e = exemplars(m, data.x_test, data.y_test, args.layer, args.map, _parse_node(args.node), k=args.k,
                      seeds=args.seeds, wavelengths=_waves(args.wavelengths), config=_config(args),
                      noise=args.noise, on_progress=progress)
    written = _export(args, e.rows(), None)
    if args.png:
        from .images import _save_png, tile, to_uint8

        rgb = e.images.ndim == 4
        _save_png(tile(np.concatenate([to_uint8(e.oip_image[None], rgb=rgb), e.images]), cols=len(e.images) + 1),
                  args.png, 4)
        written["png"] = args.png
    _emit({**e.summary(), "written": written})


def cmd_compare(args: argparse.Namespace) -> None:
    from .data import load_dataset
    from .matching import match_maps
    from .model import load_model

    ma, mb = load_model(args.model_a), load_model(args.model_b)
    args.layer = args.layer or _last_map_layer(ma)
    data = load_dataset(ma.metadata.get("dataset", "mnist"))
    if not 1 <= args.images <= len(data.x_test):
        raise ValueError(f"--images must be in 1..{len(data.x_test)}. Received: --images={args.images}")
    with _Bar(f"compare {args.layer}") as progress:
        r = match_maps(ma, mb, args.layer, data.x_test[:args.images], close=args.close, on_progress=progress)
    _emit({"model_a": str(ma.path), "model_b": str(mb.path), **r.summary(), "matched_pairs": r.rows(),
           "written": _export(args, r.rows(), None)})


def cmd_hand(args: argparse.Namespace) -> None:
    from .hand import hand_of_mnist

    m = _model(args)
    with _Bar(f"hand of MNIST {args.layer}") as progress:
        h = hand_of_mnist(m, args.layer, noises=args.noises.split(","), wavelengths=_waves(args.wavelengths),
                          redirect=(0, args.redirect_steps), seeds=args.seeds, config=_config(args),
                          on_progress=progress)
    written = _export(args, h.rows(), None)
    if args.png and len(h.maps):
        from .images import _save_png, contrast_enhanced, tile, to_uint8

        # the candidate in every setting: plain (top row) and contrast-enhanced (bottom row), as in the articles
        shown = h.images[:, h.candidate]
        rgb = shown.ndim == 4
        plain = to_uint8(shown, rgb=rgb)
        enhanced = to_uint8(contrast_enhanced(shown.mean(-1) if rgb else shown), per_image=False)
        if rgb:
            enhanced = np.repeat(enhanced[..., None], 3, axis=-1)
        _save_png(tile(np.concatenate([plain, enhanced]), cols=len(shown)), args.png, 4)
        written["png"] = args.png
    _emit({**h.summary(), "written": written})


def add_commands(sub: Any, model_help: str) -> None:
    """Registers the insight commands on the CLI's sub-parsers."""
    def common(s: argparse.ArgumentParser, waves: str, seeds: int) -> None:
        s.add_argument("--model", help=model_help)
        s.add_argument("--layer", help="a layer of maps (default: the last)")
        s.add_argument("--wavelengths", default=waves, help="noise wavelengths in pixels, e.g. 1,2,4,7,14")
        s.add_argument("--seeds", type=int, default=seeds, help="noise seeds per map and wavelength")
        s.add_argument("--steps", type=int, default=60)
        s.add_argument("--redirect-steps", type=int, default=20, help="redirected-ReLU steps (0 = the seed's method)")
        s.add_argument("--noise", choices=FAMILIES, default="lowpass",
                       help="start noise: lowpass (long-range fluctuations), bandpass or mix")
        s.add_argument("--csv", help="also write the numbers as CSV here")

    s = sub.add_parser("sweep", help="every map at every noise wavelength: activation reached, dead fraction (JSON)")
    common(s, "1,2,4,7,14", 2)
    s.add_argument("--maps", help="e.g. 0-63 or 5,7 (default: every map)")
    s.add_argument("--png", help="write each map's best OIP as a PNG grid here")
    s.set_defaults(func=cmd_sweep)

    s = sub.add_parser("reproducibility", help="how alike a map's OIPs from different noises are (JSON)")
    common(s, "4", 4)
    s.add_argument("--maps", help="e.g. 0-63 or 5,7 (default: every map)")
    s.add_argument("--max-shift", type=int, help="largest alignment shift in pixels (default: the layer's jump)")
    s.add_argument("--png", help="write the OIPs ordered by score as a PNG grid here")
    s.set_defaults(func=cmd_reproducibility)

    s = sub.add_parser("exemplars", help="top test images and patches of a map or node beside its OIP (JSON)")
    common(s, "1,4", 2)
    s.add_argument("--map", type=int, required=True)
    s.add_argument("--node", help="X,Y: one node instead of the map mean")
    s.add_argument("--k", type=int, default=9)
    s.add_argument("--png", help="write the OIP and the top images as one PNG row here")
    s.set_defaults(func=cmd_exemplars)

    s = sub.add_parser("hand", help="the Hand of MNIST: the map whose OIP is best defined across settings (JSON)")
    s.add_argument("--model", help=model_help)
    s.add_argument("--layer", help="a layer of maps (default: the last)")
    s.add_argument("--wavelengths", default="1,4,14", help="noise wavelengths in pixels")
    s.add_argument("--noises", default="lowpass,bandpass,mix", help="noise families, comma-separated")
    s.add_argument("--seeds", type=int, default=4, help="noise seeds per map and setting")
    s.add_argument("--steps", type=int, default=60)
    s.add_argument("--redirect-steps", type=int, default=20, help="the redirected method's steps (both methods run)")
    s.add_argument("--csv", help="also write every map's ranks as CSV here")
    s.add_argument("--png", help="write the candidate's OIP in every setting as one montage here")
    s.set_defaults(func=cmd_hand)

    s = sub.add_parser("compare", help="match the maps of a layer between two models (JSON)")
    s.add_argument("model_a", metavar="A.keras")
    s.add_argument("model_b", metavar="B.keras")
    s.add_argument("--layer", help="a layer of maps (default: the last)")
    s.add_argument("--images", type=int, default=10000, help="test images to correlate over")
    s.add_argument("--close", type=float, default=0.5, help="correlation that counts as a close partner")
    s.add_argument("--csv", help="also write the matched pairs as CSV here")
    s.add_argument("--png", help=argparse.SUPPRESS)
    s.set_defaults(func=cmd_compare)

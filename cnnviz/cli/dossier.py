"""``cnnviz card`` (one unit's dossier as a self-contained HTML file) and ``cnnviz atlas`` (every unit of a
model as a static site)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .common import MODEL_HELP, Bar, CLIError, add_json, emit, load

LIVE_URL = "http://localhost:8050"


def _unit(args: argparse.Namespace, m) -> Any:
    """The unit of ``--layer`` and ``--map``/``--unit``/``--class`` (a class by index or name)."""
    from ..search import Unit

    if args.layer is None:
        raise CLIError(f"card needs --layer (one of {m.search_layers}).")
    try:
        row = m.layer(args.layer)
    except ValueError as e:
        raise CLIError(str(e)) from None
    if not row.searchable:
        raise CLIError(f"{args.layer} is a {row.role} layer: choose a layer of maps, a dense layer or the output "
                       f"({m.search_layers}).")
    given = [v for v in (args.map, args.unit, args.cls) if v is not None]
    if len(given) != 1:
        raise CLIError("card needs exactly one of --map, --unit or --class.")
    value = given[0]
    if args.cls is not None and value in m.class_names:
        value = m.class_names.index(value)
    try:
        index = int(value)
    except ValueError:
        raise CLIError(f"--map/--unit/--class must be a number (or a class name: {list(m.class_names)}). "
                       f"Received: {value}") from None
    if not 0 <= index < row.maps:
        raise CLIError(f"{args.layer} has units 0..{row.maps - 1}. Received: {index}")
    return Unit(args.layer, index)


def cmd_card(args: argparse.Namespace) -> None:
    from ..atlas import unit_query
    from ..card import MAX_CARD_BYTES, card_html
    from ..data import load_dataset
    from ..dossier import dossier
    from ..search import Watch
    from ..store import save_bytes

    m = load(args.model)
    unit = _unit(args, m)
    data = load_dataset(m.metadata.get("dataset", "mnist"))
    with Bar(f"card {unit.layer} {unit.index}") as progress:
        d = dossier(m, unit, data.x_test, data.y_test, watch=Watch(progress))
    if d is None:
        raise CLIError("stopped")
    page = card_html(d, f"{args.url.rstrip('/')}/unit?{unit_query(d)}").encode()
    if len(page) > MAX_CARD_BYTES:
        raise CLIError(f"The card is {len(page)} bytes, over the {MAX_CARD_BYTES} a card may have.")
    save_bytes(args.out, page)
    emit(args, {**d.summary(), "written": str(args.out), "bytes": len(page)},
         f"{d.title()}: {len(page) / 1000:.0f} kB written to {args.out}\n" +
         "\n".join(f"  {a}: {b}" for a, b in d.facts()))


def cmd_atlas(args: argparse.Namespace) -> None:
    from ..atlas import build_atlas
    from ..data import load_dataset
    from ..search import Watch

    m = load(args.model)
    layers = [v.strip() for v in args.layers.split(",") if v.strip()] if args.layers else None
    for layer in layers or []:
        if layer not in m.search_layers:
            raise CLIError(f"--layers: {layer!r} is not a layer a search can drive. Layers: {m.search_layers}")
    data = load_dataset(m.metadata.get("dataset", "mnist"))
    with Bar(f"atlas of {m.name}") as progress:
        r = build_atlas(m, Path(args.out), data.x_test, data.y_test, layers, live_url=args.url, watch=Watch(progress))
    emit(args, r.summary(), f"Atlas of {m.name}: {r.pages} unit pages ({', '.join(f'{k} {v}' for k, v in r.layers.items())}"
                            f"), {r.bytes / 1e6:.1f} MB, in {r.seconds:.0f} s (searches {r.searches_seconds:.0f} s, "
                            f"exemplars {r.exemplars_seconds:.0f} s, writing {r.writing_seconds:.0f} s). Open "
                            f"{Path(args.out) / 'index.html'}")


def add_commands(sub: Any) -> None:
    s = sub.add_parser("card", help="one unit's dossier as a self-contained HTML file (inline images, offline)")
    s.add_argument("--model", help=MODEL_HELP)
    s.add_argument("--layer", help="a layer of maps, a dense layer or the output")
    s.add_argument("--map", help="a map of a layer of maps")
    s.add_argument("--unit", help="a unit of a dense layer")
    s.add_argument("--class", dest="cls", help="a class of the output (index or name)")
    s.add_argument("--out", required=True, help="the HTML file to write")
    s.add_argument("--url", default=LIVE_URL, help="the dashboard the card links back to")
    add_json(s)
    s.set_defaults(func=cmd_card)

    s = sub.add_parser("atlas", help="every unit of the model as a static site: DIR/index.html and a page per unit")
    s.add_argument("--model", help=MODEL_HELP)
    s.add_argument("--layers", help="comma-separated layers (default: the convolutions, dense layers and output)")
    s.add_argument("--out", required=True, help="the folder to write (replaced if it holds an atlas)")
    s.add_argument("--url", default=LIVE_URL, help="the dashboard the pages link back to")
    add_json(s)
    s.set_defaults(func=cmd_atlas)

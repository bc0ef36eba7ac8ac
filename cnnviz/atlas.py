"""The model atlas: a static site with one page per unit (the unit card's content) and an index of every layer
as a grid of its units' OIPs. Offline like the card, browsable from ``file://``; written into a temporary folder
beside the target and moved into place at the end, so a stopped or failed build leaves the old atlas as it was.
"""

from __future__ import annotations

import base64
import html
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlencode

import numpy as np

from .card import MAX_CARD_BYTES, STYLE, card_html
from .dossier import layer_dossiers
from .images import png_bytes, to_uint8
from .model import LoadedModel
from .results import AtlasReport, Dossier
from .search import DossierSettings, Watch


def default_layers(m: LoadedModel) -> list[str]:
    """The layers an atlas covers by default: every searchable layer but the pooling ones (whose maps are their
    convolution's, subsampled): the convolutions' maps, the dense units and the classes."""
    return [r.name for r in m.layers if r.searchable and "Pool" not in r.type]


def unit_query(d: Dossier) -> str:
    """The live unit page's query for a dossier's unit: ``model=…&layer=…&map=13`` (``unit=``, ``class=``)."""
    key = {"map": "map", "dense": "unit", "output": "class"}[d.role]
    return urlencode({"model": d.model, "layer": d.layer, key: d.index})


def _page(d: Dossier, n: int, live: str | None) -> str:
    nav = [("Atlas index", "../../index.html")]
    if d.index > 0:
        nav.append((f"← {d.index - 1}", f"{d.index - 1}.html"))
    if d.index < n - 1:
        nav.append((f"{d.index + 1} →", f"{d.index + 1}.html"))
    return card_html(d, f"{live.rstrip('/')}/unit?{unit_query(d)}" if live else None, nav)


def _thumb(d: Dossier) -> str:
    s, k = d.best
    rgb = d.oips.ndim == 5
    tile = to_uint8(d.oips[s, k].astype(np.float32)[None], rgb=rgb)[0]
    uri = "data:image/png;base64," + base64.b64encode(png_bytes(tile, 2)).decode()
    tip = html.escape(f"{d.name}: reproducibility {d.score:.2f}; top-{d.top} class "
                      f"{d.class_names[int(np.argmax(d.top_share))]}")
    return (f'<a href="units/{html.escape(d.layer)}/{d.index}.html" title="{tip}"><img alt="{html.escape(d.name)}" '
            f'src="{uri}"><span>{d.index}</span></a>')


def _index(m: LoadedModel, thumbs: dict[str, list[str]]) -> str:
    e = html.escape
    layers = "".join(f"<h2>{e(layer)} · {len(t)} units</h2><div class=\"grid\">{''.join(t)}</div>"
                     for layer, t in thumbs.items())
    style = STYLE.replace("max-width:60rem", "max-width:90rem") + (
        ".grid{display:flex;flex-wrap:wrap;gap:4px}.grid a{display:flex;flex-direction:column;align-items:center;"
        "font-size:.7rem;color:#555;text-decoration:none}")
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Atlas of {e(m.name)}</title>'
            f"<style>{style}</style></head><body><h1>Atlas of {e(m.name)}</h1><p>Each unit's strongest OIP; click "
            f"one for its page (OIPs in every setting, exemplars, class selectivity, dead-at-start rates).</p>"
            f"{layers}</body></html>")


def build_atlas(m: LoadedModel, out: str | os.PathLike[str], images: np.ndarray, labels: np.ndarray,
                layers: Sequence[str] | None = None, settings: DossierSettings = DossierSettings(), *,
                live_url: str | None = None, watch: Watch = Watch()) -> AtlasReport:
    """Writes the atlas of ``layers`` (default: :func:`default_layers`) of ``m`` into the folder ``out``.

    Raises:
        ValueError: an unknown layer or one no search can drive; a card over the size limit.
    """
    layers = list(layers or default_layers(m))
    for layer in layers:
        m.search_layer(layer)  # checks every layer before the first search
    out = Path(out)
    _check_target(out)  # before the searches, not after
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    timings: dict[str, float] = {}
    writing, total = 0.0, 0
    thumbs: dict[str, list[str]] = {}
    sizes: dict[str, int] = {}
    try:
        for j, layer in enumerate(layers):
            n = m.search_layer(layer).maps
            found = layer_dossiers(m, layer, range(n), images, labels, settings, timings=timings,
                                   watch=watch.part(j / len(layers), (j + 1) / len(layers), f"{layer}: "))
            if not found:
                return AtlasReport(out, m.name, sizes, sum(sizes.values()), 0, timings.get("searches", 0.0),
                                   timings.get("exemplars", 0.0), writing, int(timings.get("image_steps", 0)), True)
            t = time.perf_counter()
            folder = tmp / "units" / layer
            folder.mkdir(parents=True)
            for d in found:
                page = _page(d, n, live_url).encode()
                if len(page) > MAX_CARD_BYTES:
                    raise ValueError(f"The page of {layer} {d.name} is {len(page)} bytes, over {MAX_CARD_BYTES}.")
                (folder / f"{d.index}.html").write_bytes(page)
            thumbs[layer], sizes[layer] = [_thumb(d) for d in found], len(found)
            writing += time.perf_counter() - t
        t = time.perf_counter()
        (tmp / "index.html").write_text(_index(m, thumbs), encoding="utf-8")
        total = sum(f.stat().st_size for f in tmp.rglob("*") if f.is_file())
        _replace(tmp, out)
        writing += time.perf_counter() - t
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return AtlasReport(out, m.name, sizes, sum(sizes.values()), total, timings.get("searches", 0.0),
                       timings.get("exemplars", 0.0), writing, int(timings.get("image_steps", 0)))


def _check_target(out: Path) -> None:
    """A folder that exists must be empty or an atlas: anything else is refused, not deleted."""
    if out.exists() and not (out.is_dir() and not any(out.iterdir())) and not (
            (out / "index.html").is_file() and (out / "units").is_dir()):
        raise ValueError(f"{out} exists and is not an atlas (no index.html and units/): choose another folder, "
                         "or remove it.")


def _replace(new: Path, out: Path) -> None:
    """Moves the finished folder ``new`` to ``out``; an existing atlas there is swapped out, then removed."""
    _check_target(out)
    if out.is_dir() and not any(out.iterdir()):
        out.rmdir()
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
        os.replace(new, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(new, out)

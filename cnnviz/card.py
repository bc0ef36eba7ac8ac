"""A unit's dossier as pictures and one self-contained HTML file (the unit card): every image inline, no resource
from a URL, the numbers as text (:meth:`cnnviz.results.Dossier.facts`). The dashboard's unit page shows the same
pictures and the same lines. No TensorFlow here.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from .images import gif_bytes, labelled_grid, to_uint8
from .results import Dossier

MAX_CARD_BYTES = 2_000_000  # a card fits in a mail attachment


@dataclass(frozen=True)
class Picture:
    """One inline picture of a dossier: its panel's title, PNG or GIF bytes, and what it shows."""

    title: str
    data: bytes
    mime: str
    caption: str

    @property
    def uri(self) -> str:
        return f"data:{self.mime};base64,{base64.b64encode(self.data).decode()}"


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _tiles(images: np.ndarray, rgb: bool, scale: bool = True) -> np.ndarray:
    x = np.asarray(images, np.float32)
    return to_uint8(x, rgb=rgb) if scale else np.asarray(images, np.uint8)


def _grid(images: np.ndarray, labels: list[str], rgb: bool, cols: int, scale: int = 3, raw: bool = False) -> bytes:
    return _png(labelled_grid(_tiles(images, rgb, not raw), labels, cols=cols, scale=scale))


def _location(d: Dossier, rgb: bool) -> bytes:
    """Maps: the mean map over the test set, enlarged to the image, with the hottest node's field outlined; dense
    units and classes: the mean of the top images."""
    h, w = d.top_images.shape[1:3]
    if d.box is None:
        return _png(Image.fromarray(_tiles(d.location[None], rgb)[0]).convert("RGB").resize((4 * w, 4 * h),
                                                                                          Image.Resampling.NEAREST))
    img = Image.fromarray(_tiles(d.location[None], False)[0]).convert("RGB").resize((4 * w, 4 * h),
                                                                                  Image.Resampling.BILINEAR)
    y0, y1, x0, x1 = d.box
    ImageDraw.Draw(img).rectangle((4 * x0, 4 * y0, 4 * x1 + 3, 4 * y1 + 3), outline=(230, 60, 30), width=2)
    return _png(img)


def pictures(d: Dossier) -> list[Picture]:
    """The dossier's pictures, in the order the page and the card show them."""
    rgb = d.top_images.ndim == 4
    s, k = d.ends.shape
    oip_labels = [f"{d.settings[i].replace('pixel noise', 'pixel')} s{j} · {float(d.ends[i, j]):.3g}"
                  for i in range(s) for j in range(k)]
    flat = d.oips.reshape(s * k, *d.oips.shape[2:])
    top = [f"#{int(i)} ({d.class_names[int(c)]}) {float(v):.3g}"
           for i, c, v in zip(d.top_indices, d.labels, d.top_values)]
    bottom = [f"#{int(i)} ({d.class_names[int(c)]}) {float(v):.3g}"
              for i, c, v in zip(d.bottom_indices, d.labels[len(d.top_indices):], d.bottom_values)]
    out = [Picture("OIPs", _grid(flat, oip_labels, rgb, k), "image/png",
                   "Each row a setting (noise family, wavelength), each column a seed; the value is the objective "
                   "reached. Reproducibility per setting: " + ", ".join(
                       f"{n} {v:.2f}" for n, v in zip(d.settings, d.setting_scores) if np.isfinite(v)) + "."),
           Picture("Evolution", gif_bytes(d.frames.astype(np.float32)[::2, None], scale=4, rgb=rgb), "image/gif",
                   f"The strongest OIP ({d.settings[d.best[0]]}, seed {d.best[1]}) emerging from its noise."),
           Picture("Strongest test images", _grid(d.top_images, top, rgb, min(5, len(top)), raw=True), "image/png",
                   "Test image number (its class) and the unit's activation on it."),
           Picture("Least activating test images", _grid(d.bottom_images, bottom, rgb, min(5, len(bottom)), raw=True),
                   "image/png", "The weakest first.")]
    if d.patches is not None and d.patch_values is not None:
        out.append(Picture("Strongest receptive-field patches",
                           _grid(d.patches, [f"{float(v):.3g}" for v in d.patch_values], rgb, min(5, len(d.patches)),
                                 scale=3, raw=True), "image/png",
                           "The field of the strongest node on the test images that drive one node hardest."))
    out.append(Picture("Where it is active", _location(d, rgb), "image/png",
                       "The mean map over the test set (brighter: more active), the field of its most active node "
                       "outlined." if d.box is not None else
                       f"The mean of its {d.top} strongest test images (a dense unit sees the whole image)."))
    c = d.circuit
    if c is not None and c.oip_incoming is not None:
        rows = c.incoming(len(c.oip_incoming))
        out.append(Picture("Incoming circuit", _grid(c.oip_incoming, [f"{r['layer']} {r['map']}: "
                                                                     f"{100 * r['contribution']:+.0f} %" for r in rows],
                                                     rgb, len(rows)), "image/png",
                           "The OIPs of its strongest incoming units, with the drop of its mean when each is zeroed."))
    t = d.timeline
    if t is not None and len(t.epochs):
        out.append(Picture("Training timeline", _grid(t.images[:, 0, 0].astype(np.float32),
                                                      [f"epoch {e:g}: {a:.3f}" for e, a in zip(t.epochs, t.accuracy)],
                                                      rgb, len(t.epochs)), "image/png",
                           "Its OIP from the same noise at every snapshot of the training, with the test accuracy."))
    return out


def selectivity_svg(d: Dossier, width: int = 520, height: int = 180) -> str:
    """The class means with their intervals (bars) and the top images' class shares (dots), as inline SVG."""
    n = len(d.class_names)
    lo, hi = float(np.nanmin(np.minimum(d.class_ci95[:, 0], 0))), float(np.nanmax(d.class_ci95[:, 1]))
    hi = hi if hi > lo else lo + 1
    y = lambda v: 20 + (height - 50) * (hi - v) / (hi - lo)
    bw = (width - 40) / n
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">',
             f'<line x1="30" x2="{width - 10}" y1="{y(0):.1f}" y2="{y(0):.1f}" stroke="#888"/>']
    for i, name in enumerate(d.class_names):
        x = 30 + i * bw
        m, (a, b) = float(d.class_mean[i]), d.class_ci95[i]
        parts += [f'<rect x="{x + 0.15 * bw:.1f}" y="{min(y(m), y(0)):.1f}" width="{0.7 * bw:.1f}" '
                  f'height="{abs(y(m) - y(0)):.1f}" fill="#4c72b0"><title>{html.escape(name)}: {m:.3g}</title></rect>',
                  f'<line x1="{x + bw / 2:.1f}" x2="{x + bw / 2:.1f}" y1="{y(float(a)):.1f}" y2="{y(float(b)):.1f}" '
                  'stroke="black"/>',
                  f'<circle cx="{x + bw / 2:.1f}" cy="{20 + (height - 50) * (1 - float(d.top_share[i])):.1f}" r="3" '
                  f'fill="#dd8452"><title>{100 * float(d.top_share[i]):.0f} % of the top {d.top}</title></circle>',
                  f'<text x="{x + bw / 2:.1f}" y="{height - 12}" font-size="11" text-anchor="middle">'
                  f'{html.escape(name[:8])}</text>']
    return "".join(parts) + "</svg>"


STYLE = ("body{font-family:system-ui,sans-serif;max-width:60rem;margin:1rem auto;padding:0 1rem;color:#222}"
         "table{border-collapse:collapse}td{padding:2px 8px;border-bottom:1px solid #ddd;vertical-align:top}"
         "td:first-child{font-weight:600;white-space:nowrap}figure{margin:1rem 0}figcaption{font-size:.85rem;"
         "color:#555}nav a{margin-right:1rem}.legend{font-size:.85rem;color:#555}")


def card_html(d: Dossier, live_url: str | None = None, nav: list[tuple[str, str]] | None = None) -> str:
    """The unit card: one HTML file with every picture inline and no resource from a URL; ``live_url`` links
    back to the live unit page, ``nav`` adds (text, relative link) pairs at the top (the atlas's)."""
    e = html.escape
    head = "".join(f'<a href="{e(href)}">{e(text)}</a>' for text, href in nav or [])
    facts = "".join(f"<tr><td>{e(a)}</td><td>{e(b)}</td></tr>" for a, b in d.facts())
    figures = "".join(f'<figure><h2>{e(p.title)}</h2><img alt="{e(p.title)}" src="{p.uri}">'
                      f"<figcaption>{e(p.caption)}</figcaption></figure>" for p in pictures(d))
    live = f'<p><a href="{e(live_url)}">Open the live unit page</a> (a running cnnviz dashboard).</p>' \
        if live_url else ""
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{e(d.title())}</title>'
            f"<style>{STYLE}</style></head><body><nav>{head}</nav><h1>{e(d.title())}</h1>"
            f"<p>{e(d.layer)}: {d.units} units · {d.test_images} test images · {d.oips.shape[0] * d.oips.shape[1]} "
            f"OIP searches of {d.oips.shape[0]} settings.</p><table>{facts}</table>"
            f"<h2>Class selectivity</h2>{selectivity_svg(d)}<p class=\"legend\">Bars: mean activation per true class "
            f"with its 95 % interval; dots: share of its {d.top} strongest test images in the class (top: 100 %).</p>"
            f"{figures}{live}<p class=\"legend\">Made by cnnviz.</p></body></html>")

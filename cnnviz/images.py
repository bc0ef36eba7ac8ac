"""Image conversions and the few ``save_*`` writers (PNG grids, GIF) of the engine."""

from __future__ import annotations

import io
import math
import os
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from .store import atomic_path

if TYPE_CHECKING:
    from .search import OIPResult

MAX_UPLOAD_BYTES = 5 * 1024 * 1024  # an uploaded image file
MAX_UPLOAD_PIXELS = 4096 * 4096  # decoded size; beyond it Pillow's bomb guard refuses


def to_uint8(images: np.ndarray, per_image: bool = True, rgb: bool = False) -> np.ndarray:
    """Scales float images (..., h, w), or (..., h, w, 3) with ``rgb``, to 0..255 (min-max per image,
    or over the whole array)."""
    x = np.asarray(images, np.float32)
    k = 3 if rgb else 2
    axes = tuple(range(x.ndim - k, x.ndim)) if per_image else None
    lo = x.min(axis=axes, keepdims=True)
    span = x.max(axis=axes, keepdims=True) - lo
    y = np.where(span > 1e-12, (x - lo) / np.maximum(span, 1e-12), 0.5)
    return np.round(y * 255).astype(np.uint8)


def contrast_enhanced(images: np.ndarray, clip: float = 2.0, gain: float = 4.0) -> np.ndarray:
    """The articles' second view of an OIP: each image's extremes clipped at the ``clip`` and
    ``100 - clip`` percentiles, stretched to 0..1 and passed through an S-curve, so that faint
    structure next to strong strokes shows. (N, h, w) floats in, (N, h, w) in 0..1 out."""
    x = np.asarray(images, np.float64)
    lo = np.percentile(x, clip, axis=(-2, -1), keepdims=True)
    hi = np.percentile(x, 100 - clip, axis=(-2, -1), keepdims=True)
    t = np.clip((x - lo) / np.maximum(hi - lo, 1e-12), 0, 1)
    s = np.tanh(gain * (t - 0.5))
    return ((s / np.tanh(gain / 2) + 1) / 2).astype(np.float32)


def tile(images: np.ndarray, cols: int | None = None, pad: int = 1, fill: int = 255) -> np.ndarray:
    """(N, h, w) or (N, h, w, 3) uint8 -> one grid image with ``pad`` pixels between tiles."""
    n, h, w = images.shape[:3]
    cols = cols or math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    out = np.full((rows * (h + pad) - pad, cols * (w + pad) - pad, *images.shape[3:]), fill, np.uint8)
    for i, im in enumerate(images):
        r, c = divmod(i, cols)
        out[r * (h + pad): r * (h + pad) + h, c * (w + pad): c * (w + pad) + w] = im
    return out


def _font(size: int):
    """DejaVu Sans where the system has it (it has λ and the other signs labels use), else Pillow's own font."""
    from PIL import ImageFont

    try:
        return ImageFont.truetype("DejaVuSans.ttf", size)
    except OSError:
        return ImageFont.load_default(size)


def _legible(text: str, font) -> str:
    """``text`` with the signs ``font`` cannot draw spelled out (Pillow's own font has no Greek: λ becomes
    "lambda")."""
    return text if "DejaVu" in str(getattr(font, "path", "")) else text.replace("λ", "lambda ").replace("  ", " ")


def _wrap(text: str, width: float, font) -> list[str]:
    """``text`` in lines no wider than ``width`` pixels, broken at " · " (and spaces, if a part is too long)."""
    from PIL import ImageDraw

    measure = ImageDraw.Draw(Image.new("L", (1, 1))).textlength
    lines: list[str] = []
    for part in text.split(" · "):
        joined = f"{lines[-1]} · {part}" if lines else part
        if lines and measure(joined, font=font) <= width:
            lines[-1] = joined
        else:
            lines.append(part)
    return lines


def labelled_grid(tiles: np.ndarray, labels: Sequence[str] | None = None, *, cols: int | None = None,
                  scale: int = 4, title: str | None = None) -> Image.Image:
    """uint8 tiles (N, h, w) or (N, h, w, 3) as one RGB picture: each tile enlarged ``scale`` times with its
    label above it (wrapped), and ``title`` on top, so that a saved figure says what it shows."""
    from PIL import ImageDraw

    n, h, w = tiles.shape[:3]
    cols = max(1, min(cols or math.ceil(math.sqrt(n)), n))
    rows = math.ceil(n / cols)
    tw, th = w * scale, h * scale
    font, big = _font(max(9, min(13, tw // 9))), _font(14)
    wrapped = [_wrap(_legible(t, font), tw - 2, font) for t in labels] if labels else [[] for _ in range(n)]
    line = font.size + 2
    cap = line * max((len(x) for x in wrapped), default=0) + (2 if labels else 0)
    head = 22 if title else 0
    pad = 4
    out = Image.new("RGB", (cols * (tw + pad) + pad, head + rows * (th + cap + pad) + pad), "white")
    draw = ImageDraw.Draw(out)
    if title:
        draw.text((pad, 3), _legible(title, big), fill="black", font=big)
    for i in range(n):
        r, c = divmod(i, cols)
        x0, y0 = pad + c * (tw + pad), head + pad + r * (th + cap + pad)
        for k, text in enumerate(wrapped[i]):
            draw.text((x0 + 1, y0 + k * line), text, fill="black", font=font)
        tile_img = Image.fromarray(tiles[i]).convert("RGB").resize((tw, th), Image.Resampling.NEAREST)
        out.paste(tile_img, (x0, y0 + cap))
    return out


def save_png(array_or_image: np.ndarray | Image.Image, path: str | os.PathLike[str], scale: int = 1) -> None:
    """Writes a uint8 array (enlarged ``scale`` times) or a picture as a PNG, atomically."""
    img = array_or_image if isinstance(array_or_image, Image.Image) else Image.fromarray(array_or_image)
    if scale != 1:
        img = img.resize((img.width * scale, img.height * scale), Image.Resampling.NEAREST)
    with atomic_path(path) as tmp:
        img.save(tmp, format="PNG")


def save_map_grid(maps: np.ndarray, path: str | os.PathLike[str], scale: int = 4, title: str | None = None) -> None:
    """Writes every map of one layer's activation (h, w, c) as a labelled PNG grid, each map scaled alone."""
    tiles = to_uint8(np.moveaxis(maps, -1, 0))
    save_png(labelled_grid(tiles, [f"map {i}" for i in range(len(tiles))], scale=max(scale, 64 // tiles.shape[1]),
                           title=title), path)


def save_oip_grid(display: np.ndarray, path: str | os.PathLike[str], scale: int = 4, labels: Sequence[str] | None = None,
                  title: str | None = None) -> None:
    """Writes final OIP images (B, H, W) or (B, H, W, 3), 0..1, as a PNG grid, each tile with its label."""
    tiles = np.round(np.clip(display, 0, 1) * 255).astype(np.uint8)
    save_png(labelled_grid(tiles, labels, cols=min(8, len(tiles)), scale=scale, title=title), path)


def gif_bytes(frames: np.ndarray, scale: int = 4, ms: int = 120, rgb: bool = False, labels: Sequence[str] | None = None,
              values: np.ndarray | None = None, steps: Sequence[float] | np.ndarray | None = None,
              step_name: str = "step") -> bytes:
    """Frames (F, B, H, W) or (F, B, H, W, 3) -> animated GIF of the B images side by side (per-frame contrast);
    each tile labelled, with ``values`` (B, F) (its activation at each frame) and the step in the title."""
    pics = []
    for f, frame in enumerate(frames):
        text = None
        if labels is not None:
            text = [lab + (f" · {values[b, f]:.2f}" if values is not None else "") for b, lab in enumerate(labels)]
        title = f"{step_name} {float(steps[f]):g}" if steps is not None else None
        pics.append(labelled_grid(to_uint8(frame, rgb=rgb), text, cols=min(8, len(frame)), scale=scale, title=title)
                    .convert("P", palette=Image.Palette.ADAPTIVE))
    buf = io.BytesIO()
    pics[0].save(buf, format="GIF", save_all=True, append_images=pics[1:], duration=ms, loop=0)
    return buf.getvalue()


def oip_labels(result: OIPResult, role: str = "map", class_names: Sequence[str] = ()) -> list[str]:
    """Each search's label: its unit (map, unit or class by name), node, wavelengths, noise and seed."""
    out = []
    for it in result.items:
        if role == "output":
            unit = f"class {class_names[it.map]}" if it.map < len(class_names) else f"class {it.map}"
        else:
            unit = f"{'unit' if role == 'dense' else 'map'} {it.map}"
        node = f" node ({it.node[0]},{it.node[1]})" if it.node else ""
        out.append(f"{unit}{node} · λ={'+'.join(f'{w:g}' for w in it.wavelengths)} · {it.noise} · seed {it.seed}")
    return out


def save_oip_gif(result: OIPResult, path: str | os.PathLike[str], labels: Sequence[str] | None = None) -> None:
    """Writes the evolution of every item of an OIP run as one animated GIF, each tile labelled."""
    data = gif_bytes(result.frames, rgb=result.rgb, labels=labels, values=result.frame_activation(),
                     steps=result.frame_steps)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def save_attribution(image: np.ndarray, amap: np.ndarray, path: str | os.PathLike[str], title: str = "",
                     scale: int = 8) -> None:
    """The image and the image with its attribution map laid over it (hot colours where it is at least 5 % of
    its peak), side by side, as a PNG."""
    x = np.asarray(image)
    rgb = np.repeat(x[..., None], 3, -1) if x.ndim == 2 else x
    rgb = rgb.astype(np.float32) / 255.0
    a = np.asarray(amap, np.float32)
    a = a / (float(a.max()) or 1.0)
    heat = np.stack([np.clip(3 * a, 0, 1), np.clip(3 * a - 1, 0, 1), np.clip(3 * a - 2, 0, 1)], -1)  # black-red-yellow-white
    alpha = np.where(a > 0.05, 0.6, 0.0)[..., None]
    over = (1 - alpha) * rgb + alpha * heat
    tiles = np.round(np.stack([rgb, over]) * 255).astype(np.uint8)
    save_png(labelled_grid(tiles, ["image", "attribution"], cols=2, scale=scale, title=title), path)


def png_bytes(array: np.ndarray, scale: int = 1) -> bytes:
    """uint8 (h, w) -> PNG bytes."""
    img = Image.fromarray(array)
    if scale != 1:
        img = img.resize((array.shape[1] * scale, array.shape[0] * scale), Image.Resampling.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def image_to_mnist(data: bytes) -> np.ndarray:
    """An uploaded PNG/JPEG -> (28, 28) uint8 like MNIST: white digit on black, centred.

    Dark-on-light pictures (a digit on paper) are inverted; the digit's bounding box is
    scaled to fit 20x20 and centred by its centre of mass in a 28x28 field, as in MNIST.

    Raises:
        ValueError: too large, not an image Pillow can read, a decompression bomb, or blank.
    """
    img = _open_checked(data)
    if img.mode in ("RGBA", "LA") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(bg, rgba)
    g = np.asarray(img.convert("L"), np.float32)
    return array_to_mnist(g)


def _open_checked(data: bytes) -> Image.Image:
    """A PNG or JPEG file's image, loaded; ValueError for anything too large, broken or another format."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise ValueError(f"Image file too large: {len(data) / 1e6:.1f} MB; the limit is {MAX_UPLOAD_BYTES / 1e6:.0f} MB.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img: Image.Image = Image.open(io.BytesIO(data))
            if img.format not in ("PNG", "JPEG"):
                raise ValueError(f"Only PNG and JPEG images are accepted. Received: format={img.format}")
            if img.width * img.height > MAX_UPLOAD_PIXELS:
                raise ValueError(f"Image too large: {img.width}x{img.height} pixels; the limit is "
                                 f"{MAX_UPLOAD_PIXELS} pixels.")
            img.load()
    except ValueError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ValueError("Image refused: its decoded size is too large (decompression bomb).") from None
    except Exception as e:  # noqa: BLE001 - Pillow raises many types for broken files
        raise ValueError(f"Not a readable PNG or JPEG image ({type(e).__name__}).") from None
    return img


def array_to_mnist(gray: np.ndarray) -> np.ndarray:
    """A grayscale array (any size, 0..255) -> (28, 28) uint8 in MNIST's framing."""
    g = np.asarray(gray, np.float32)
    border = np.concatenate([g[0], g[-1], g[:, 0], g[:, -1]])
    if np.median(border) > 127:  # light background: invert to white-on-black
        g = 255.0 - g
    g = g - np.median(border if np.median(border) <= 127 else 255.0 - border)
    g = np.clip(g, 0, None)
    if g.max() < 1e-3:
        raise ValueError("The image is blank: no digit found.")
    g = g / g.max() * 255.0
    ys, xs = np.nonzero(g > 0.1 * 255)
    crop = g[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1]
    h, w = crop.shape
    s = 20.0 / max(h, w)
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    small = np.asarray(Image.fromarray(crop.astype(np.uint8)).resize((nw, nh), Image.Resampling.LANCZOS), np.float32)
    out = np.zeros((28, 28), np.float32)
    tot = small.sum()
    cy, cx = (np.array(np.nonzero(small >= 0)).reshape(2, -1) * small.ravel()).sum(1) / max(tot, 1e-6)
    top = int(np.clip(round(14 - cy), 0, 28 - nh))
    left = int(np.clip(round(14 - cx), 0, 28 - nw))
    out[top: top + nh, left: left + nw] = small
    return np.clip(out, 0, 255).astype(np.uint8)


def fit_to(pixels: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """An image (uint8, (h, w) or (h, w, 3)) as a model's input image of ``shape`` ((H, W) or
    (H, W, 3)): resized with Pillow if its size differs, grey turned to colour or colour to grey."""
    x = np.asarray(pixels, np.uint8)
    if x.shape == tuple(shape):
        return x
    img = Image.fromarray(x).convert("RGB" if len(shape) == 3 else "L")
    if img.size != (shape[1], shape[0]):
        img = img.resize((shape[1], shape[0]), Image.Resampling.LANCZOS)
    return np.asarray(img, np.uint8)


def image_to_rgb(data: bytes, shape: tuple[int, ...]) -> np.ndarray:
    """An uploaded PNG/JPEG -> a colour model's input (H, W, 3) uint8: the whole picture, resized."""
    img = _open_checked(data)
    return fit_to(np.asarray(img.convert("RGB"), np.uint8), shape)

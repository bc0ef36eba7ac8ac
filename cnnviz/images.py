"""Image conversions and the few ``save_*`` writers (PNG grids, GIF) of the engine."""

from __future__ import annotations

import io
import math
import os
import warnings
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from .store import atomic_path

if TYPE_CHECKING:
    from .oip import OIPResult

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


def _save_png(array: np.ndarray, path: str | os.PathLike[str], scale: int) -> None:
    img = Image.fromarray(array).resize((array.shape[1] * scale, array.shape[0] * scale), Image.Resampling.NEAREST)
    with atomic_path(path) as tmp:
        img.save(tmp, format="PNG")


def save_map_grid(maps: np.ndarray, path: str | os.PathLike[str], scale: int = 4) -> None:
    """Writes every map of one layer's activation (h, w, c) as a PNG grid, each map scaled alone."""
    _save_png(tile(to_uint8(np.moveaxis(maps, -1, 0))), path, scale)


def save_oip_grid(display: np.ndarray, path: str | os.PathLike[str], scale: int = 4) -> None:
    """Writes final OIP images (B, H, W) or (B, H, W, 3), 0..1, as a PNG grid."""
    _save_png(tile(np.round(np.clip(display, 0, 1) * 255).astype(np.uint8)), path, scale)


def gif_bytes(frames: np.ndarray, scale: int = 4, ms: int = 120, rgb: bool = False) -> bytes:
    """Frames (F, B, H, W) or (F, B, H, W, 3) -> animated GIF of the B images side by side (per-frame contrast)."""
    pics = []
    for f in frames:
        grid = tile(to_uint8(f, rgb=rgb), cols=len(f) if len(f) <= 8 else None)
        pics.append(Image.fromarray(grid).resize((grid.shape[1] * scale, grid.shape[0] * scale), Image.Resampling.NEAREST))
    buf = io.BytesIO()
    pics[0].save(buf, format="GIF", save_all=True, append_images=pics[1:], duration=ms, loop=0)
    return buf.getvalue()


def save_oip_gif(result: OIPResult, path: str | os.PathLike[str]) -> None:
    """Writes the evolution of every item of an OIP run as one animated GIF."""
    data = gif_bytes(result.frames, rgb=result.rgb)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


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

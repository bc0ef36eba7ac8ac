"""Turning what the browser sends (an index, an upload, a drawing) into an image: a test image as the
data set has it, an upload or drawing as a 28x28 digit (or a colour picture for a colour model); the
engine fits it to the model's input (``cnnviz.images.fit_to``)."""

from __future__ import annotations

import base64
import binascii
import re

import numpy as np
from PIL import Image, ImageDraw

from cnnviz.images import MAX_UPLOAD_BYTES, array_to_mnist, image_to_mnist, image_to_rgb

from .services import dataset

# The numbers of an SVG path: maximal runs of digits, signs, dots and exponents. A run ends at the first other
# character and the scan never steps back, so parsing takes time linear in the path's length (a backtracking
# pattern such as "(\d+(\.\d+)?),(...)" took 8.5 s on one comma-less 20,000-digit stroke, holding the GIL).
_NUMBER = re.compile(r"[-+]?[0-9.][0-9.eE+-]*")
# A drawing is a few dozen strokes of a few hundred points; anything far larger is refused
# before any parsing, so a crafted request cannot buy seconds of server CPU.
MAX_STROKES = 100
MAX_PATH_CHARS = 20_000  # per stroke (about 1,500 points)
MAX_POINTS = 10_000  # all strokes together
DRAW_SIZE = 28  # the drawing canvas is a 28x28 heatmap; paths come in its data coordinates


def test_image(dataset_name: str, index) -> tuple[np.ndarray, int]:
    data = dataset(dataset_name)
    try:
        i = int(index)
    except (TypeError, ValueError):
        raise ValueError(f"Image index must be a whole number. Received: index={index!r}") from None
    if not 0 <= i < len(data.x_test):
        raise ValueError(f"Image index must be in 0..{len(data.x_test) - 1}. Received: index={i}")
    return data.x_test[i], int(data.y_test[i])


def resolve(spec, dataset_name: str) -> tuple[np.ndarray, int | None, str]:
    """The image a shell-image spec names: (pixels uint8 28x28, true label or None, caption)."""
    if not isinstance(spec, dict):
        raise ValueError("No image chosen.")
    if spec.get("source") == "test":
        x, y = test_image(dataset_name, spec.get("index"))
        return x, y, f"test image {int(spec['index'])} (label {y})"
    if spec.get("source") == "pixels":
        arr = np.asarray(spec.get("pixels"), dtype=np.float64)
        if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 3)) or not min(arr.shape[:2]) >= 8 \
                or max(arr.shape[:2]) > 512 or not np.all(np.isfinite(arr)) or arr.min() < 0 or arr.max() > 255:
            raise ValueError("An image must be H×W (or H×W×3) values in 0..255, with sides in 8..512.")
        return arr.astype(np.uint8), None, str(spec.get("name", "image"))[:60]
    raise ValueError(f"Unknown image source. Received: source={spec.get('source')!r}")


def decode_upload(contents: str, shape: tuple[int, ...] = (28, 28)) -> np.ndarray:
    """A dcc.Upload data URL -> 28x28 uint8 digit, or for a colour model's ``shape`` (H, W, 3) the
    picture resized, with clear errors for anything else."""
    if not isinstance(contents, str) or "," not in contents:
        raise ValueError("The upload is not a file.")
    header, b64 = contents.split(",", 1)
    if len(b64) > MAX_UPLOAD_BYTES * 4 // 3 + 8:
        raise ValueError(f"Image file too large; the limit is {MAX_UPLOAD_BYTES // 1_000_000} MB.")
    try:
        raw = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("The upload is not valid base64 data.") from None
    return image_to_rgb(raw, shape) if len(shape) == 3 else image_to_mnist(raw)


def checked_strokes(shapes) -> list[str]:
    """The SVG paths of a drawing's strokes, refused (ValueError) beyond the limits above."""
    if not isinstance(shapes, list):
        return []
    if len(shapes) > MAX_STROKES:
        raise ValueError(f"The drawing has too many strokes (more than {MAX_STROKES}): clear it and draw again.")
    paths = [str(sh.get("path", "")) if isinstance(sh, dict) and isinstance(sh.get("path", ""), str) else ""
             for sh in shapes]
    if any(len(p) > MAX_PATH_CHARS for p in paths):
        raise ValueError(f"A stroke is too long (more than {MAX_PATH_CHARS:,} characters): clear it and draw again.")
    return paths


def _points(path: str, scale: int) -> list[tuple[float, float]]:
    """The (x, y) points of one stroke's SVG path, in canvas pixels; ValueError for a path that is not one."""
    numbers = _NUMBER.findall(path)
    if len(numbers) % 2 or len(numbers) > 2 * MAX_POINTS:
        raise ValueError("A stroke of the drawing is not a path of x,y points: clear it and draw again.")
    try:
        values = [float(v) for v in numbers]
    except ValueError:
        raise ValueError("A stroke of the drawing is not a path of x,y points: clear it and draw again.") from None
    if not all(-1e4 < v < 1e4 for v in values):
        raise ValueError("A stroke of the drawing lies far outside the canvas: clear it and draw again.")
    return [((values[i] + 0.5) * scale, (values[i + 1] + 0.5) * scale) for i in range(0, len(values), 2)]


def rasterize_drawing(shapes) -> np.ndarray:
    """Plotly 'drawopenpath' shapes (SVG paths in 28x28 data coordinates) -> 28x28 uint8 digit."""
    paths = checked_strokes(shapes)
    if not paths:
        raise ValueError("Nothing drawn yet: draw a digit with the mouse first.")
    scale = 10
    canvas = Image.new("L", (DRAW_SIZE * scale, DRAW_SIZE * scale), 0)
    pen = ImageDraw.Draw(canvas)
    points = 0
    for path in paths:
        pts = _points(path, scale)
        points += len(pts)
        if points > MAX_POINTS:
            raise ValueError(f"The drawing has too many points (more than {MAX_POINTS:,}): clear it and draw again.")
        if len(pts) == 1:
            pts = pts * 2
        if pts:
            pen.line(pts, fill=255, width=int(2.2 * scale), joint="curve")
    arr = np.asarray(canvas, np.float32)
    if arr.max() == 0:
        raise ValueError("Nothing drawn yet: draw a digit with the mouse first.")
    return array_to_mnist(arr)

"""Concepts measured on the digits themselves: pixel masks and image-level labels computed from each image, with
no external data set (what Network Dissection takes from Broden, here from the strokes).

Pixel concepts, each a boolean (H, W) mask per image:

- ``stroke``: the ink (pixels above half the range);
- ``orientation 0°/45°/90°/135°``: ink whose local stroke direction (from the structure tensor of the smoothed
  image: the direction of least change) falls within ±22.5° of the bin;
- ``end point`` and ``junction``: skeleton pixels with one, or three or more, skeleton neighbours, widened to 3×3;
- ``loop``: background enclosed by ink (the hole of a 0, 6, 8, 9);
- ``thick``: ink at least 2 pixels from the background;
- ``top``/``middle``/``bottom``, ``left``/``centre``/``right``: the image's thirds (where, not what).

Image-level concepts: ``class k`` and ``strokes = 1 / 2 / 3+`` (connected pieces of ink) and ``has loop``.

scikit-image gives the skeleton (``skimage.morphology.skeletonize``, the standard thinning that keeps the
skeleton connected and one pixel wide; scipy has none); scipy.ndimage gives labelling, hole filling, distance
transforms and filters.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

ORIENTATIONS = (0, 45, 90, 135)  # degrees, 0 = horizontal stroke, 90 = vertical
PIXEL_CONCEPTS = (["stroke"] + [f"orientation {a}°" for a in ORIENTATIONS] +
                  ["end point", "junction", "loop", "thick", "top", "middle", "bottom", "left", "centre", "right"])


def _ink(images: np.ndarray) -> np.ndarray:
    """(N, H, W) bool: pixels above half the range (uint8 0..255, or floats 0..1); colour images by their mean."""
    x = np.asarray(images, np.float32)
    if x.ndim == 4:
        x = x.mean(-1)
    scale = 255.0 if np.asarray(images).dtype == np.uint8 or x.max() > 1.5 else 1.0
    return x / scale > 0.5


def _orientation(image: np.ndarray) -> np.ndarray:
    """(H, W) stroke direction in degrees 0..180 (0 = horizontal) from the smoothed structure tensor."""
    x = ndimage.gaussian_filter(np.asarray(image, np.float32), 1.0)
    gy, gx = ndimage.sobel(x, 0), ndimage.sobel(x, 1)
    jxx, jyy, jxy = (ndimage.gaussian_filter(v, 1.5) for v in (gx * gx, gy * gy, gx * gy))
    gradient = 0.5 * np.degrees(np.arctan2(2 * jxy, jxx - jyy))  # dominant gradient direction, -90..90
    # the stroke runs across the gradient; image rows grow downwards, so flip the sign for the usual angle
    return np.mod(-(gradient + 90.0), 180.0)


def _neighbours(skeleton: np.ndarray) -> np.ndarray:
    k = np.ones((3, 3), np.int32)
    k[1, 1] = 0
    return ndimage.convolve(skeleton.astype(np.int32), k, mode="constant") * skeleton


def pixel_concepts(images: np.ndarray) -> np.ndarray:
    """(N, len(PIXEL_CONCEPTS), H, W) bool masks of ``images`` (uint8 or 0..1 floats, (N, H, W[, C]))."""
    from skimage.morphology import skeletonize

    ink = _ink(images)
    n, h, w = ink.shape
    out = np.zeros((n, len(PIXEL_CONCEPTS), h, w), bool)
    rows, cols = np.mgrid[0:h, 0:w]
    thirds = [rows < h / 3, (rows >= h / 3) & (rows < 2 * h / 3), rows >= 2 * h / 3,
              cols < w / 3, (cols >= w / 3) & (cols < 2 * w / 3), cols >= 2 * w / 3]
    gray = np.asarray(images, np.float32)
    gray = gray.mean(-1) if gray.ndim == 4 else gray
    box = np.ones((3, 3), bool)
    for i in range(n):
        s = ink[i]
        out[i, 0] = s
        angle = _orientation(gray[i])
        for b, a in enumerate(ORIENTATIONS):
            d = np.abs(np.mod(angle - a + 90, 180) - 90)
            out[i, 1 + b] = s & (d <= 22.5)
        skel = skeletonize(s)
        nb = _neighbours(skel)
        out[i, 5] = ndimage.binary_dilation(skel & (nb == 1), box)
        out[i, 6] = ndimage.binary_dilation(skel & (nb >= 3), box)
        out[i, 7] = ndimage.binary_fill_holes(s) & ~s
        out[i, 8] = ndimage.distance_transform_edt(s) >= 2
        out[i, 9:] = thirds
    return out


def image_concepts(images: np.ndarray, labels: np.ndarray, classes: int) -> tuple[list[str], np.ndarray]:
    """Names and (N, K) bool image-level concepts: each class, the number of strokes (1, 2, 3+), a loop."""
    ink = _ink(images)
    pieces = np.array([ndimage.label(s, structure=np.ones((3, 3)))[1] for s in ink])
    loops = np.array([bool((ndimage.binary_fill_holes(s) & ~s).any()) for s in ink])
    labels = np.asarray(labels)
    names = [f"class {k}" for k in range(classes)] + ["strokes = 1", "strokes = 2", "strokes = 3+", "has loop"]
    cols = [labels == k for k in range(classes)] + [pieces == 1, pieces == 2, pieces >= 3, loops]
    return names, np.stack(cols, 1)

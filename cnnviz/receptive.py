"""Receptive fields and jumps of convolution/pooling stacks, derived from the layers."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from collections.abc import Sequence
from typing import Any

SPATIAL_TYPES = ("Conv2D", "MaxPooling2D", "AveragePooling2D")


@dataclass(frozen=True)
class SpatialOp:
    """What a layer does to space: kernel, stride, padding ('valid'/'same'); 1/1 for others."""

    kernel: int = 1
    stride: int = 1
    padding: str = "valid"
    dilation: int = 1


@dataclass(frozen=True)
class Receptive:
    """Receptive field of one node on the input image.

    ``size`` is the side of the square field in input pixels, ``jump`` the input-pixel
    distance between neighbouring nodes, ``start`` the input coordinate of the top-left
    pixel of node (0, 0)'s field (negative where it reaches into padding).
    """

    size: int
    jump: int
    start: int

    def box(self, y: int, x: int, image_size: int = 28) -> tuple[int, int, int, int]:
        """Input rows y0..y1 and columns x0..x1 (inclusive) seen by node (y, x), clipped."""
        y0, x0 = self.start + y * self.jump, self.start + x * self.jump
        lo = lambda v: max(v, 0)  # noqa: E731
        hi = lambda v: min(v + self.size - 1, image_size - 1)  # noqa: E731
        return lo(y0), hi(y0), lo(x0), hi(x0)


def propagate(ops: list[SpatialOp], input_size: int = 28) -> list[Receptive]:
    """Receptive field after each op in ``ops``, applied in order to a square input."""
    size, jump, start, n = 1, 1, 0, input_size
    out = []
    for op in ops:
        k = (op.kernel - 1) * op.dilation + 1
        if op.padding == "same":
            n_out = math.ceil(n / op.stride)
            pad = max((n_out - 1) * op.stride + k - n, 0) // 2
        else:
            n_out, pad = (n - k) // op.stride + 1, 0
        start = start - pad * jump
        size = size + (k - 1) * jump
        jump = jump * op.stride
        n = n_out
        out.append(Receptive(size, jump, start))
    return out


def change_inside_outside(before, after, box: tuple[int, int, int, int]) -> tuple[float, float]:
    """RMS change of one image (H, W) inside and outside ``box`` (y0, y1, x0, x1 inclusive),
    beyond the global rescaling that re-standardization applies to every pixel.

    After maps ``after ≈ a * before + b`` by least squares over the pixels outside the box,
    then measures what that affine map leaves unexplained. For a node's OIP the gradient
    outside its receptive field is exactly zero, so with the blur off the outside change is 0.
    """
    import numpy as np

    x, y = np.asarray(before, np.float64), np.asarray(after, np.float64)
    inside = np.zeros(x.shape, bool)
    y0, y1, x0, x1 = box
    inside[y0:y1 + 1, x0:x1 + 1] = True
    if inside.all():
        return float(np.sqrt(np.mean((y - x) ** 2))), 0.0
    a, b = np.polyfit(x[~inside], y[~inside], 1)
    resid = y - (a * x + b)
    return float(np.sqrt(np.mean(resid[inside] ** 2))), float(np.sqrt(np.mean(resid[~inside] ** 2)))


@dataclass(frozen=True)
class LayerInfo:
    """One row of the architecture table. Free of TensorFlow, like this module, so that the dashboard's
    web process reads the rows that its engine processes send (``app.engine.results.ModelInfo``)."""

    name: str
    type: str
    output_shape: tuple[int, ...]  # without the batch axis
    params: int
    receptive_field: int  # side in input pixels (28 = whole image for dense layers)
    jump: int | None  # input-pixel step between neighbouring nodes (None: not spatial)
    receptive: Receptive | None = field(default=None, repr=False)

    @property
    def spatial(self) -> bool:
        return self.type in SPATIAL_TYPES

    @property
    def maps(self) -> int:
        return self.output_shape[-1]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "output_shape": list(self.output_shape),
                "params": self.params, "receptive_field": self.receptive_field, "jump": self.jump}


def find_layer(rows: Sequence[LayerInfo], name: str) -> LayerInfo:
    """The row of layer ``name``; a clear error lists the valid names."""
    for row in rows:
        if row.name == name:
            return row
    raise ValueError(f"No such layer. Existing layers are: {[r.name for r in rows]}. Received: layer={name!r}")

"""Receptive fields and jumps of convolution/pooling stacks, derived from the layers."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


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

    def box(self, y: int, x: int, image_size: int | tuple[int, int] = 28) -> tuple[int, int, int, int]:
        """Input rows y0..y1 and columns x0..x1 (inclusive) seen by node (y, x), clipped to the
        image (``image_size``: a side, or (height, width))."""
        h, w = (image_size, image_size) if isinstance(image_size, int) else image_size
        y0, x0 = self.start + y * self.jump, self.start + x * self.jump
        return max(y0, 0), min(y0 + self.size - 1, h - 1), max(x0, 0), min(x0 + self.size - 1, w - 1)

    def union(self, other: Receptive) -> Receptive | None:
        """The field of a node that adds (or concatenates) two nodes at the same grid position:
        both fields together. None where the grids differ (then no single box describes it)."""
        if other.jump != self.jump:
            return None
        start = min(self.start, other.start)
        return Receptive(max(self.start + self.size, other.start + other.size) - start, self.jump, start)


def step(rec: Receptive, op: SpatialOp, n: int) -> tuple[Receptive, int]:
    """The field after one op applied to a grid of side ``n`` whose nodes have field ``rec``;
    returns it with the op's output side."""
    k = (op.kernel - 1) * op.dilation + 1
    if op.padding == "same":
        n_out = math.ceil(n / op.stride)
        pad = max((n_out - 1) * op.stride + k - n, 0) // 2  # TensorFlow pads the extra pixel after
    else:
        n_out, pad = (n - k) // op.stride + 1, 0
    return Receptive(rec.size + (k - 1) * rec.jump, rec.jump * op.stride, rec.start - pad * rec.jump), n_out


def propagate(ops: list[SpatialOp], input_size: int = 28) -> list[Receptive]:
    """Receptive field after each op in ``ops``, applied in order to a square input."""
    rec, n = Receptive(1, 1, 0), input_size
    out = []
    for op in ops:
        rec, n = step(rec, op, n)
        out.append(rec)
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
    receptive_field: int  # side in input pixels (the image's larger side for dense layers)
    jump: int | None  # input-pixel step between neighbouring nodes (None: not spatial)
    receptive: Receptive | None = field(default=None, repr=False)
    # "map" (a grid of maps), "dense" (hidden units), "output" (classes), "scores" (a Dense layer whose
    # values a softmax layer of its own turns into the output), "other"
    role: str = "other"

    @property
    def spatial(self) -> bool:
        """A layer of maps on the image grid, with a known receptive field: shown on the Maps page."""
        return self.role == "map"

    @property
    def searchable(self) -> bool:
        """A layer whose maps (or units, or classes) an OIP search can drive."""
        return self.role in ("map", "dense", "output")

    @property
    def maps(self) -> int:
        return self.output_shape[-1]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "output_shape": list(self.output_shape),
                "params": self.params, "receptive_field": self.receptive_field, "jump": self.jump,
                "role": self.role}


class LayerRoles:
    """The layers by role, for anything with ``layers`` (rows of :class:`LayerInfo`) and ``input_shape``
    (H, W, C): the engine's loaded model and the dashboard's model info alike."""

    layers: Sequence[LayerInfo]
    input_shape: tuple[int, int, int]

    @property
    def spatial_layers(self) -> list[str]:
        """Layers of maps on the image grid, input side first."""
        return [r.name for r in self.layers if r.spatial]

    @property
    def search_layers(self) -> list[str]:
        """Layers an OIP search can drive: maps, hidden dense units, and the output's classes."""
        return [r.name for r in self.layers if r.searchable]

    @property
    def dense_layers(self) -> list[str]:
        """Hidden dense layers, input side first."""
        return [r.name for r in self.layers if r.role == "dense"]

    @property
    def output_layer(self) -> str:
        return self.layers[-1].name

    @property
    def image_shape(self) -> tuple[int, ...]:
        """One image as the arrays hold it: (H, W) for one channel, (H, W, C) else."""
        h, w, c = self.input_shape
        return (h, w) if c == 1 else (h, w, c)

    def layer(self, name: str) -> LayerInfo:
        """The row of layer ``name``; a clear error lists the valid names."""
        return find_layer(self.layers, name)


def find_layer(rows: Sequence[LayerInfo], name: str) -> LayerInfo:
    """The row of layer ``name``; a clear error lists the valid names."""
    for row in rows:
        if row.name == name:
            return row
    raise ValueError(f"No such layer. Existing layers are: {[r.name for r in rows]}. Received: layer={name!r}")

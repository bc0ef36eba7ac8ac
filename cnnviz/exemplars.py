"""OIP beside real digits: the test images and image patches that drive a map (or node) hardest."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .activations import layer_output
from .model import LoadedModel
from .oip import BatchProgress, OIPConfig, OIPItem, _masks, run_many


@dataclass(frozen=True)
class Exemplars:
    """The top-k test images of one map (or node), their receptive-field patches, and its OIP."""

    layer: str
    map: int
    node: tuple[int, int] | None  # (x, y); None: the objective is the map mean, like the OIP's
    indices: np.ndarray  # (k,) test-set indices, strongest first
    activation: np.ndarray  # (k,) the objective on each image (map mean, or the node's value)
    labels: np.ndarray  # (k,) true classes
    images: np.ndarray  # (k, *image shape) uint8
    patch_indices: np.ndarray  # (k,) test images of the strongest single nodes (one per image)
    patch_nodes: np.ndarray  # (k, 2) (x, y) of that node
    patch_activation: np.ndarray  # (k,) that node's value
    patch_boxes: np.ndarray  # (k, 4) rows y0..y1, columns x0..x1 (inclusive) of its receptive field
    patches: np.ndarray  # (k, s, s[, C]) uint8 crops of the receptive field (s = its side)
    oip_image: np.ndarray  # (*image shape) the best OIP of the map (or node), standardized units
    oip_activation: float  # the objective the OIP reaches
    oip_node_activation: float  # the strongest single node of the map on the OIP (= objective for a node)
    stopped: bool = False

    @property
    def ratio(self) -> float:
        """OIP objective / best real image's objective (how far beyond real digits the OIP drives it)."""
        best = float(self.activation[0]) if len(self.activation) else 0.0
        return self.oip_activation / best if best > 1e-12 else float("inf")

    @property
    def patch_ratio(self) -> float:
        """Strongest node on the OIP / strongest node on any real image."""
        best = float(self.patch_activation[0]) if len(self.patch_activation) else 0.0
        return self.oip_node_activation / best if best > 1e-12 else float("inf")

    def rows(self) -> list[dict[str, Any]]:
        images = [{"kind": "image", "rank": r + 1, "test_index": int(i), "label": int(lab), "activation": float(a),
                   "node_x": None, "node_y": None} for r, (i, lab, a) in
                  enumerate(zip(self.indices, self.labels, self.activation))]
        patches = [{"kind": "patch", "rank": r + 1, "test_index": int(i), "label": None, "activation": float(a),
                    "node_x": int(n[0]), "node_y": int(n[1])} for r, (i, n, a) in
                   enumerate(zip(self.patch_indices, self.patch_nodes, self.patch_activation))]
        oip = [{"kind": "oip", "rank": 0, "test_index": None, "label": None, "activation": self.oip_activation,
                "node_x": None if self.node is None else self.node[0],
                "node_y": None if self.node is None else self.node[1]}]
        return oip + images + patches

    def summary(self) -> dict[str, Any]:
        return {"layer": self.layer, "map": self.map, "node": list(self.node) if self.node else None,
                "oip_activation": self.oip_activation, "best_image_activation": float(self.activation[0]),
                "best_image_index": int(self.indices[0]), "ratio": _finite(self.ratio),
                "oip_node_activation": self.oip_node_activation,
                "best_patch_activation": float(self.patch_activation[0]), "patch_ratio": _finite(self.patch_ratio),
                "top_indices": [int(i) for i in self.indices], "top_labels": [int(v) for v in self.labels]}


def _finite(v: float) -> float | None:
    """JSON has no infinity: a ratio over a map that no real image drives is reported as null."""
    return v if np.isfinite(v) else None


def exemplars(m: LoadedModel, images: np.ndarray, labels: np.ndarray, layer: str, map: int,
              node: tuple[int, int] | None = None, *, k: int = 9, seeds: int = 2, wavelengths: Sequence[float] = (1, 4),
              config: OIPConfig = OIPConfig(), noise: str = "lowpass",
              on_progress: Callable[[BatchProgress], None] | None = None,
              should_stop: Callable[[], bool] | None = None) -> Exemplars:
    """Top-k real images and patches for ``map`` (or ``node``) of ``layer``, next to its OIP.

    Args:
        images: uint8 (N, *image shape) test images; standardized here like the training data.
        labels: (N,) their classes.

    Raises:
        ValueError: a bad layer, map, node or k, or images of the wrong shape.
    """
    info = m.spatial_layer(layer)
    item = OIPItem(layer, int(map), 0, (1.0,), node)
    _masks(m, [item])  # checks map and node now
    images = np.asarray(images)
    if images.shape[1:] != m.image_shape or len(images) != len(labels) or len(images) == 0:
        raise ValueError(f"images must be (N, *{m.image_shape}) with one label each. Received: shape={images.shape}, "
                         f"labels={len(labels)}")
    if not 1 <= int(k) <= min(64, len(images)):
        raise ValueError(f"k must be in 1..{min(64, len(images))}. Received: k={k}")
    k = int(k)
    objective = np.zeros(len(images), np.float32)
    strongest = np.zeros(len(images), np.float32)
    where = np.zeros((len(images), 2), np.int64)  # (x, y) of each image's strongest node
    x = m.standardization.apply(images)
    for start, acts in layer_output(m, layer, x):
        a = acts[..., int(map)]  # (n, h, w)
        end = start + len(a)
        if node is None:
            objective[start:end] = a.mean(axis=(1, 2))
            flat = a.reshape(len(a), -1).argmax(1)
            where[start:end] = np.stack([flat % a.shape[2], flat // a.shape[2]], 1)
        else:
            objective[start:end] = a[:, node[1], node[0]]
            where[start:end] = node
        strongest[start:end] = a[np.arange(len(a)), where[start:end, 1], where[start:end, 0]]
        if on_progress is not None:
            on_progress(BatchProgress(0.3 * end / len(images), f"test images: {end}/{len(images)}"))
        if should_stop is not None and should_stop():
            break
    top = np.argsort(-objective, kind="stable")[:k]
    ptop = np.argsort(-strongest, kind="stable")[:k]
    rec = info.receptive
    if rec is None:
        raise ValueError(f"Layer {layer} has no receptive field (not spatial).")
    boxes = np.array([rec.box(int(where[i, 1]), int(where[i, 0]), m.input_shape[:2]) for i in ptop])
    s = rec.size
    patches = np.zeros((k, s, s, *images.shape[3:]), np.uint8)
    for j, (i, (y0, y1, x0, x1)) in enumerate(zip(ptop, boxes)):
        patches[j, :y1 - y0 + 1, :x1 - x0 + 1] = images[i, y0:y1 + 1, x0:x1 + 1]
    items = [OIPItem(layer, int(map), sd, (float(w),), node, noise) for w in wavelengths for sd in range(int(seeds))]
    oips, ends, stopped = run_many(m, items, config, on_progress=on_progress, should_stop=should_stop,
                                   stage="OIP searches", span=(0.3, 1.0))
    if stopped:
        oip, oip_act, node_act = np.zeros(m.image_shape, np.float32), 0.0, 0.0
    else:
        best = int(ends.argmax())
        oip, oip_act = oips[best], float(ends[best])
        (_, acts), = layer_output(m, layer, oip[None])
        node_act = float(acts[0, node[1], node[0], int(map)] if node else acts[0, ..., int(map)].max())
    return Exemplars(layer, int(map), item.node, top, objective[top], np.asarray(labels)[top].astype(np.int64),
                     images[top].astype(np.uint8), ptop, where[ptop], strongest[ptop], boxes, patches, oip, oip_act,
                     node_act, stopped)

"""OIP beside real digits: the test images and image patches that drive a map (or node) hardest."""

from __future__ import annotations

import numpy as np

from .activations import layer_output
from .model import LoadedModel
from .oip import masks, planned_items, run_many
from .results import Exemplars
from .search import OIPItem, Searches, Unit, Watch


def exemplars(m: LoadedModel, images: np.ndarray, labels: np.ndarray, unit: Unit, *, k: int = 9,
              searches: Searches = Searches((1, 4)), watch: Watch = Watch()) -> Exemplars:
    """Top-k real images and patches for a map (or one node of it) of a layer of maps, next to its OIP.

    Args:
        images: uint8 (N, *image shape) test images; standardized here like the training data.
        labels: (N,) their classes.
        unit: the layer, the map and, optionally, the node (x, y).
        searches: the noises the OIP is searched from (the best one is kept).

    Raises:
        ValueError: a bad layer, map, node or k, or images of the wrong shape.
    """
    layer, map, node = unit.layer, unit.index, unit.node
    info = m.spatial_layer(layer)
    item = OIPItem(layer, map, 0, (1.0,), node)
    masks(m, [item])  # checks map and node now
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
        watch.report(0.3 * end / len(images), f"test images: {end}/{len(images)}")
        if watch.stopped():
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
    items = planned_items(m, layer, [map], searches, node=node)
    oips, ends, stopped = run_many(m, items, searches.config, watch=watch.part(0.3, 1.0), stage="OIP searches")
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

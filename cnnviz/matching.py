"""Compare two training runs: match the maps of a layer by how alike they respond to real images."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .activations import layer_output
from .model import LoadedModel
from .oip import planned_items, run_many
from .results import CLOSE, Comparison, Matching
from .search import Searches, Watch


def map_correlation(ma: LoadedModel, mb: LoadedModel, layers: tuple[str, str], images: np.ndarray, *, batch: int = 500,
                    watch: Watch = Watch()) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """Pearson correlation of every map of A's layer with every map of B's over all images and positions
    (``layers``: A's layer and B's).

    Each model standardizes the uint8 ``images`` its own way. Sums are accumulated batch by
    batch (float64), so even Conv2D_1 over the whole test set never sits in memory.

    Returns:
        The (maps_a, maps_b) correlations, the variance of each map of A and of B (0: the
        map never fires, and correlates 0 with everything), and whether it was stopped.
    """
    la, lb = ma.spatial_layer(layers[0]), mb.spatial_layer(layers[1])
    if la.output_shape[:2] != lb.output_shape[:2]:
        raise ValueError(f"The layers' grids differ: {la.name} of A is {la.output_shape[:2]}, {lb.name} of B "
                         f"{lb.output_shape[:2]}; maps can be matched only node by node on one grid.")
    images = np.asarray(images)
    xa, xb = ma.standardization.apply(images), mb.standardization.apply(images)
    n, sa, sb, saa, sbb, sab = 0, 0.0, 0.0, 0.0, 0.0, 0.0
    stopped = False
    for (start, a), (_, b) in zip(layer_output(ma, la.name, xa, batch), layer_output(mb, lb.name, xb, batch)):
        a = a.reshape(-1, a.shape[-1]).astype(np.float64)
        b = b.reshape(-1, b.shape[-1]).astype(np.float64)
        n += len(a)
        sa, sb = sa + a.sum(0), sb + b.sum(0)
        saa, sbb, sab = saa + (a * a).sum(0), sbb + (b * b).sum(0), sab + a.T @ b
        end = min(start + batch, len(images))
        watch.report(end / len(images), f"test images: {end}/{len(images)}")
        if watch.stopped():
            stopped = True
            break
    ma_, mb_ = sa / n, sb / n
    cov = sab / n - np.outer(ma_, mb_)
    va, vb = np.maximum(saa / n - ma_ ** 2, 0), np.maximum(sbb / n - mb_ ** 2, 0)
    den = np.sqrt(np.outer(va, vb))
    # a map that never fires (zero variance) correlates with nothing
    return np.where(den > 1e-12, cov / np.maximum(den, 1e-12), 0.0), va, vb, stopped


def match_maps(ma: LoadedModel, mb: LoadedModel, layer: str, images: np.ndarray, *, layer_b: str | None = None,
               close: float = CLOSE, watch: Watch = Watch()) -> Matching:
    """Optimal one-to-one matching (Hungarian, maximum total correlation) of the maps of A's ``layer`` to those
    of B's ``layer_b`` (default: the layer of the same name)."""
    from scipy.optimize import linear_sum_assignment

    if not -1 <= close <= 1:
        raise ValueError(f"close must be a correlation in -1..1. Received: close={close}")
    corr, va, vb, stopped = map_correlation(ma, mb, (layer, layer_b or layer), images, watch=watch)
    a, b = linear_sum_assignment(corr, maximize=True)
    return Matching(layer, corr.astype(np.float32), a, b, np.flatnonzero(va <= 1e-12), np.flatnonzero(vb <= 1e-12),
                    float(close), stopped, layer_b if layer_b and layer_b != layer else None)


def compare_models(ma: LoadedModel, mb: LoadedModel, layer: str, images: np.ndarray, searches: Searches = Searches(), *,
                   layer_b: str | None = None, watch: Watch = Watch()) -> Comparison:
    """:func:`match_maps` over ``images`` (the first 40 % of the progress), then each map's best OIP of
    ``searches`` in each model."""
    match = match_maps(ma, mb, layer, images, layer_b=layer_b, watch=watch.part(0.0, 0.4))
    stopped = Comparison(replace(match, stopped=True), np.zeros((0, *ma.image_shape)), np.zeros((0, *mb.image_shape)),
                         np.zeros(0), np.zeros(0))
    if match.stopped:
        return stopped
    best = []
    for m, name, part, tag in ((ma, layer, watch.part(0.4, 0.7), "A"), (mb, layer_b or layer, watch.part(0.7, 1.0), "B")):
        n = m.spatial_layer(name).maps
        found, ends, halted = run_many(m, planned_items(m, name, f"0-{n - 1}", searches), searches.config, watch=part,
                                       stage=f"OIPs of model {tag}")
        if halted:
            return stopped
        ends = ends.reshape(n, searches.per_map)
        best.append((found.reshape(n, searches.per_map, *m.image_shape)[np.arange(n), ends.argmax(1)], ends.max(1)))
    return Comparison(match, best[0][0], best[1][0], best[0][1], best[1][1])

"""How maps form during training: each unit's OIP at every snapshot of a training (cnnviz.history), from the
same noises, so that the frames are comparable.

Per snapshot and map: the OIP of each seed and the activation it reaches, the shift-aligned correlation of
that OIP with the map's OIP at the last snapshot from the same noise (the reproducibility score's
alignment), the map's top test images, and whether noise leaves it dead at the start; per snapshot, the
layer's share of dead searches and the test accuracy. A map has *formed* at the first epoch whose OIPs
correlate with the final ones at 0.8 or more (and stays formed is not required: the report shows the curve).

One copy of the model runs every snapshot: its weights are loaded in place, so the compiled ascent is traced
once and each snapshot's searches are one batched call.
"""

from __future__ import annotations

import time
from dataclasses import replace

import keras
import numpy as np

from .activations import layer_output
from .history import epoch_value, snapshots
from .model import LoadedModel
from .oip import planned_items, run_many, start_objective
from .results import DEAD, Timeline
from .search import Searches, Watch
from .stats import shift_correlations

FORMED = 0.8  # correlation with the final OIP at which a map counts as formed
TOP = 9  # top test images per map and snapshot
TOP_POOL = 2000  # ... among the first this many test images (a pass over all 10,000 per snapshot cost 1 s of 5)


def timeline(m: LoadedModel, layer: str, maps: list[int], searches: Searches = Searches((4.0,), seeds=4), *,
             images: np.ndarray | None = None, watch: Watch = Watch()) -> Timeline:
    """The timeline of ``maps`` of ``layer`` over every snapshot of ``m``'s training; ``images`` (uint8 test
    images) give each snapshot's top images among the first :data:`TOP_POOL` (none without).

    Raises:
        ValueError: the model has no history (an imported model), or a bad layer or map list.
    """
    snaps = snapshots(m.path)
    if not snaps:
        raise ValueError(f"{m.name} has no training history: only models trained by cnnviz keep the weights of "
                         "every epoch (an imported model has its final state only).")
    info = m.spatial_layer(layer)
    items = planned_items(m, layer, maps, searches)
    every = planned_items(m, layer, f"0-{info.maps - 1}", replace(searches, seeds=min(searches.seeds, 4)),
                          independent=True)
    clone = keras.models.clone_model(m.keras_model)
    copy = replace(m, keras_model=clone, cache={})
    t0 = time.perf_counter()
    oips, ends, starts, dead, tops = [], [], [], [], []
    x = None if images is None else m.standardization.apply(images[:TOP_POOL])  # once, for every snapshot
    for k, snap in enumerate(snaps):
        clone.load_weights(snap["path"])
        part = watch.part(k / len(snaps), (k + 1) / len(snaps), f"epoch {snap['epoch']}: ")
        images_k, ends_k, stopped = run_many(copy, items, searches.config, watch=part, stage="searches")
        if stopped:
            return Timeline.empty(layer, maps, time.perf_counter() - t0)
        oips.append(images_k.reshape(len(maps), searches.per_map, *m.image_shape))
        ends.append(ends_k.reshape(len(maps), searches.per_map))
        starts.append(start_objective(copy, items).reshape(len(maps), searches.per_map))
        dead.append(float((start_objective(copy, every) <= DEAD).mean()))
        tops.append(_top(copy, layer, maps, x))
    pairs = np.stack([np.stack(oips), np.broadcast_to(oips[-1], np.shape(oips))], axis=3)  # (S, maps, K, 2, H, W)
    corr = shift_correlations(pairs, int(info.jump or 1))[..., 0, 1]  # each OIP against the final one, aligned
    return Timeline(layer, list(maps), [epoch_value(s["epoch"]) for s in snaps], [s["path"] for s in snaps],
                    [float(s["test_accuracy"]) for s in snaps], np.stack(oips), np.stack(ends), np.stack(starts),
                    corr, np.array(dead), np.stack(tops), time.perf_counter() - t0)


def _top(m: LoadedModel, layer: str, maps: list[int], x: np.ndarray | None) -> np.ndarray:
    """(maps, TOP) test indices with the highest map means on standardized images ``x``; (maps, 0) without."""
    if x is None:
        return np.zeros((len(maps), 0), np.int64)
    means = np.concatenate([a[..., maps].mean(axis=(1, 2)) for _, a in layer_output(m, layer, x, batch=2000)])
    return np.argsort(-means, axis=0, kind="stable")[:TOP].T

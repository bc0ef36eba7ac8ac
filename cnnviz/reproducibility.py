"""How well an OIP is defined: do searches from different noises end at the same pattern?"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from .model import LoadedModel
from .oip import planned_items, run_many
from .results import Reproducibility
from .search import Searches, Watch
from .stats import shift_correlations


def reproducibility(m: LoadedModel, layer: str, searches: Searches = Searches((4,), seeds=4), *,
                    maps: str | Sequence[int] | None = None, max_shift: int | None = None,
                    watch: Watch = Watch()) -> Reproducibility:
    """OIPs of each map from ``searches`` (seeds × wavelengths), scored for how alike they are.

    The allowed shift defaults to the layer's jump: neighbouring nodes of a map see the input
    ``jump`` pixels apart, so two searches may find the same pattern that far apart.
    """
    info = m.spatial_layer(layer)
    if searches.per_map < 2:
        raise ValueError(f"Needs at least 2 searches per map (seeds × wavelengths). Received: seeds={searches.seeds}, "
                         f"wavelengths={list(searches.wavelengths)}")
    shift = int(info.jump or 1) if max_shift is None else int(max_shift)
    items = planned_items(m, layer, maps if maps is not None else f"0-{info.maps - 1}", searches)
    labels = searches.labels()
    t0 = time.perf_counter()
    images, ends, stopped = run_many(m, items, searches.config, watch=watch, stage="searches for the score")
    if stopped:
        return Reproducibility(layer, [], labels, np.zeros(0), np.zeros((0, len(labels))),
                               np.zeros((0, len(labels), *m.image_shape)), shift, time.perf_counter() - t0, True)
    map_ids = list(dict.fromkeys(it.map for it in items))
    imgs = images.reshape(len(map_ids), len(labels), *m.image_shape)
    corr = shift_correlations(imgs, shift, rgb=m.input_shape[2] == 3)
    iu = np.triu_indices(len(labels), 1)
    return Reproducibility(layer, map_ids, labels, corr[..., iu[0], iu[1]].mean(-1),
                           ends.reshape(len(map_ids), len(labels)), imgs, shift, time.perf_counter() - t0,
                           correlations=corr)

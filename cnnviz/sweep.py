"""Wavelength sweep: which noise wavelength wakes which map of a layer, and how many stay dead.

Dead is counted the articles' way and honestly: a search is *dead at the start* when its
objective on the start noise is exactly 0 (every ReLU of the map closed: zero gradient), and
*dead at the end* when it is still (near) 0 after the ascent; the blur never touches a search
whose gradient is all zero, so it cannot wake one by itself. Every search has its own noise
image (seed × map × wavelength), so the fractions count independent trials, each with a
Wilson 95 % interval. The seed's method (no redirect) and the redirected ReLU run side by side.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from .model import LoadedModel
from .oip import planned_items, run_many, start_objective
from .results import SweepResult
from .search import Searches, Watch

WAVELENGTHS = (1.0, 2.0, 4.0, 7.0, 14.0)


def wavelength_sweep(m: LoadedModel, layer: str, searches: Searches = Searches(WAVELENGTHS), *,
                     maps: str | Sequence[int] | None = None, watch: Watch = Watch()) -> SweepResult:
    """Every map (or ``maps``) of ``layer`` from ``searches.seeds`` noises at each wavelength, in batched
    calls: the start objective, the ascent by ``searches.config`` and, when it redirects, the seed's method too.

    Raises:
        ValueError: an unknown layer, a bad map list, wavelength, noise family or seed count.
    """
    n_maps = m.spatial_layer(layer).maps
    items = planned_items(m, layer, maps if maps is not None else f"0-{n_maps - 1}", searches, independent=True)
    waves, seeds, config = searches.wavelengths, searches.seeds, searches.config
    t0 = time.perf_counter()
    map_ids = list(dict.fromkeys(it.map for it in items))
    shape = (len(map_ids), len(waves), seeds)
    start = start_objective(m, items).reshape(shape)
    both = config.redirect_steps > 0
    runs = [(config, watch.part(0.0, 0.5 if both else 1.0), "sweep searches")]
    if both:
        runs.append((replace(config, redirect_steps=0), watch.part(0.5, 1.0), "sweep searches, seed's method"))
    results = []
    for cfg, part, stage in runs:
        images, ends, stopped = run_many(m, items, cfg, watch=part, stage=stage)
        if stopped:
            return SweepResult(layer, [], waves, seeds, np.zeros((0, len(waves), seeds)),
                               np.zeros((0, len(waves), *m.image_shape)), time.perf_counter() - t0, True,
                               noise=searches.noise, redirect_steps=config.redirect_steps)
        results.append((images, ends))
    images, ends = results[0]
    act = ends.reshape(shape)
    imgs = images.reshape(*shape, *m.image_shape)
    best = act.argmax(axis=2)
    chosen = np.take_along_axis(imgs, best.reshape(*best.shape, *[1] * (imgs.ndim - 2)), axis=2)[:, :, 0]
    seed_act = results[1][1].reshape(shape) if both else act
    return SweepResult(layer, map_ids, waves, seeds, act, chosen, time.perf_counter() - t0, False, start,
                       seed_act, searches.noise, config.redirect_steps)

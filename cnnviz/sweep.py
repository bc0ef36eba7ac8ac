"""Wavelength sweep: which noise wavelength wakes which map of a layer, and how many stay dead.

Dead is counted the articles' way and honestly: a search is *dead at the start* when its
objective on the start noise is exactly 0 (every ReLU of the map closed: zero gradient), and
*dead at the end* when it is still (near) 0 after the ascent. Every search has its own noise
image (seed × map × wavelength), so the fractions count independent trials, each with a
Wilson 95 % interval. Three methods run side by side on the same noises (``cnnviz.search.METHODS``):
no blur on dead searches (cnnviz's; a dead search stays dead, so its end equals its start), the
seed's literal loop that blurs every image (a blur alone can wake a search, more the longer it runs)
and the redirected ReLU. Per map and wavelength, the probability of opening at the start comes with
its interval (``SweepResult.open_at_start``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from .activations import layer_output
from .model import LoadedModel
from .noise import FAMILIES, make_noise
from .oip import planned_items, run_many, start_objective
from .results import OpenRates, SweepResult
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
    # The main method first (its images are the ones shown), then the other two on the same noises.
    methods = [config.method] + [k for k in ("skip-dead", "blur-all", "redirected") if k != config.method]
    results = {}
    for k, method in enumerate(methods):
        cfg = config.with_method(method, config.redirect_steps or 20)
        images, ends, stopped = run_many(m, items, cfg, watch=watch.part(k / 3, (k + 1) / 3),
                                         stage=f"sweep searches, {method}")
        if stopped:
            return SweepResult(layer, [], waves, seeds, np.zeros((0, len(waves), seeds)),
                               np.zeros((0, len(waves), *m.image_shape)), time.perf_counter() - t0, True,
                               noise=searches.noise, redirect_steps=config.redirect_steps, steps=config.steps)
        results[method] = (images, ends.reshape(shape))
    images, act = results[config.method]
    imgs = images.reshape(*shape, *m.image_shape)
    best = act.argmax(axis=2)
    chosen = np.take_along_axis(imgs, best.reshape(*best.shape, *[1] * (imgs.ndim - 2)), axis=2)[:, :, 0]
    return SweepResult(layer, map_ids, waves, seeds, act, chosen, time.perf_counter() - t0, False, start,
                       results["skip-dead"][1], searches.noise, config.redirect_steps, results["blur-all"][1],
                       config.steps, results["redirected"][1])


MAX_NOISES = 100_000  # per wavelength, for open_rates


def open_rates(m: LoadedModel, layer: str, wavelengths: Sequence[float] = WAVELENGTHS, noises: int = 2000, *,
               noise: str = "lowpass", first_seed: int = 0, watch: Watch = Watch()) -> OpenRates:
    """Per map and wavelength, how often a noise opens the map: its mean activation on the noise above
    :data:`~cnnviz.results.DEAD` (below it, every ReLU of the map is closed and the gradient is zero).

    Only forward passes, so thousands of noises per wavelength are cheap: enough for per-map claims with
    intervals of a point or two. Noise ``s`` of each wavelength (seeds ``first_seed`` …) is shown to every map,
    so each map's count is over independent noises (the maps' counts are not independent of each other).
    """
    from .results import DEAD

    if not 1 <= int(noises) <= MAX_NOISES:
        raise ValueError(f"noises must be in 1..{MAX_NOISES}. Received: noises={noises}")
    if noise not in FAMILIES:
        raise ValueError(f"noise must be one of {list(FAMILIES)}. Received: noise={noise!r}")
    n_maps = m.spatial_layer(layer).maps
    waves = tuple(float(w) for w in wavelengths)
    opened = np.zeros((n_maps, len(waves)), np.int64)
    t0 = time.perf_counter()
    chunk = 1000
    for j, w in enumerate(waves):
        for lo in range(first_seed, first_seed + noises, chunk):
            seeds = range(lo, min(lo + chunk, first_seed + noises))
            x = np.stack([make_noise(s, (w,), m.image_shape, family=noise) for s in seeds])
            for _, acts in layer_output(m, layer, x):
                opened[:, j] += (acts.mean(axis=(1, 2)) > DEAD).sum(0)
            done = j * noises + seeds[-1] - first_seed + 1
            watch.report(done / (len(waves) * noises), f"λ={w:g}: {seeds[-1] - first_seed + 1}/{noises} noises")
            if watch.stopped():
                return OpenRates(layer, [], waves, noises, noise, first_seed, np.zeros((0, len(waves)), np.int64),
                                 time.perf_counter() - t0, True)
    return OpenRates(layer, list(range(n_maps)), waves, int(noises), noise, int(first_seed), opened,
                     time.perf_counter() - t0)

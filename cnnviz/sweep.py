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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .model import LoadedModel
from .oip import BatchProgress, OIPConfig, items_for, run_many, start_objective
from .stats import wilson

DEAD = 1e-6  # an objective at or below this is a dead search: the ReLU let nothing through


def _fractions(dead: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(wavelengths,) fraction of dead searches and (wavelengths, 2) Wilson intervals; ``dead`` is (maps, waves, seeds)."""
    k, n = dead.sum(axis=(0, 2)), dead.shape[0] * dead.shape[2]
    lo, hi = wilson(k, np.full_like(k, n))
    return k / n, np.stack([lo, hi], -1)


@dataclass(frozen=True)
class SweepResult:
    """Start and end activation of every map's searches at every wavelength and seed.

    ``activation`` is the end of the ascent by ``redirect_steps`` (the redirected ReLU, or the
    seed's method when 0); ``seed_activation`` the end by the seed's method.
    """

    layer: str
    maps: list[int]
    wavelengths: tuple[float, ...]
    seeds: int
    activation: np.ndarray  # (maps, wavelengths, seeds) objective after the ascent
    images: np.ndarray  # (maps, wavelengths, *image shape) the best seed's OIP, standardized units
    seconds: float
    stopped: bool = False
    start: np.ndarray | None = None  # (maps, wavelengths, seeds) objective on the start noise
    seed_activation: np.ndarray | None = None  # (maps, wavelengths, seeds) end by the seed's method
    noise: str = "lowpass"
    redirect_steps: int = 20

    @property
    def dead(self) -> np.ndarray:
        """(maps, wavelengths, seeds) dead at the end, by the method of ``activation``."""
        return self.activation <= DEAD

    @property
    def dead_start(self) -> np.ndarray:
        return (self.start if self.start is not None else self.activation) <= 0

    @property
    def dead_end(self) -> np.ndarray:
        """Dead at the end by the seed's method."""
        return (self.seed_activation if self.seed_activation is not None else self.activation) <= DEAD

    @property
    def dead_fraction(self) -> np.ndarray:
        """(wavelengths,) fraction of (map, seed) searches whose OIP ends dead, by the seed's method."""
        return _fractions(self.dead_end)[0]

    @property
    def mean_activation(self) -> np.ndarray:
        """(maps, wavelengths) activation reached, mean over seeds: the heatmap."""
        return self.activation.mean(axis=2)

    @property
    def best_wavelength(self) -> np.ndarray:
        """(maps,) the wavelength whose mean activation is highest, per map."""
        return np.asarray(self.wavelengths)[self.mean_activation.argmax(axis=1)]

    @property
    def awake_at_start(self) -> np.ndarray:
        """(maps, wavelengths) fraction of each map's searches alive on the start noise."""
        return 1.0 - self.dead_start.mean(axis=2)

    def dead_statistics(self) -> dict[str, Any]:
        """Per wavelength: searches, dead at the start, dead at the end (seed's method) and with the
        redirect, each with its Wilson 95 % interval."""
        start, start_ci = _fractions(self.dead_start)
        end, end_ci = _fractions(self.dead_end)
        red, red_ci = _fractions(self.dead)
        key = [f"{w:g}" for w in self.wavelengths]
        ci = lambda a: {k: [round(float(lo), 4), round(float(hi), 4)] for k, (lo, hi) in zip(key, a)}
        val = lambda a: {k: float(v) for k, v in zip(key, a)}
        out = {"searches": {k: len(self.maps) * self.seeds for k in key},
               "dead_at_start": val(start), "dead_at_start_ci95": ci(start_ci),
               "dead_at_end": val(end), "dead_at_end_ci95": ci(end_ci)}
        if self.redirect_steps:
            out.update(dead_at_end_redirected=val(red), dead_at_end_redirected_ci95=ci(red_ci))
        return out

    def rows(self) -> list[dict[str, Any]]:
        """One row per search: map, wavelength, seed, activations, dead flags (for CSV and JSON)."""
        start = self.start if self.start is not None else np.full_like(self.activation, np.nan)
        seed_end = self.seed_activation if self.seed_activation is not None else self.activation
        return [{"layer": self.layer, "noise": self.noise, "map": m, "wavelength": w, "seed": s,
                 "start_activation": float(start[i, j, s]), "activation": float(self.activation[i, j, s]),
                 "seed_method_activation": float(seed_end[i, j, s]), "dead_at_start": bool(self.dead_start[i, j, s]),
                 "dead_at_end": bool(self.dead_end[i, j, s]), "dead": bool(self.dead[i, j, s])}
                for i, m in enumerate(self.maps) for j, w in enumerate(self.wavelengths) for s in range(self.seeds)]

    def summary(self) -> dict[str, Any]:
        stats = self.dead_statistics() if len(self.maps) else {}
        return {"layer": self.layer, "noise": self.noise, "maps": len(self.maps), "seeds": self.seeds,
                "redirect_steps": self.redirect_steps, "seconds": round(self.seconds, 2), "stopped": self.stopped,
                **stats, "dead_fraction": stats.get("dead_at_end", {}),  # the older name, kept
                "mean_activation": {f"{w:g}": float(a) for w, a in zip(self.wavelengths, self.mean_activation.mean(0))}
                if len(self.maps) else {},
                "dead_at_every_wavelength": int(self.dead.all(axis=(1, 2)).sum()),
                "awake_at_start_only_for": {str(m): [f"{w:g}" for w, a in zip(self.wavelengths, row) if a > 0]
                                            for m, row in zip(self.maps, self.awake_at_start)
                                            if 0 < (row > 0).sum() < len(self.wavelengths)}}


def wavelength_sweep(m: LoadedModel, layer: str, wavelengths: Sequence[float] = (1, 2, 4, 7, 14), seeds: int = 2,
                     config: OIPConfig = OIPConfig(), *, maps: str | Sequence[int] | None = None,
                     noise: str = "lowpass", on_progress: Callable[[BatchProgress], None] | None = None,
                     should_stop: Callable[[], bool] | None = None) -> SweepResult:
    """Every map (or ``maps``) of ``layer`` from ``seeds`` noises at each wavelength, in batched calls:
    the start objective, the ascent by ``config`` and, when ``config`` redirects, the seed's method too.

    Raises:
        ValueError: an unknown layer, a bad map list, wavelength, noise family or seed count.
    """
    if not 1 <= int(seeds) <= 64:
        raise ValueError(f"seeds must be in 1..64. Received: seeds={seeds!r}")
    waves = tuple(float(w) for w in wavelengths)
    if not waves or len(set(waves)) != len(waves):
        raise ValueError(f"wavelengths must be distinct and at least one. Received: wavelengths={list(wavelengths)}")
    n_maps = m.spatial_layer(layer).maps
    items = items_for(m, layer, maps if maps is not None else f"0-{n_maps - 1}", seeds=range(int(seeds)),
                      wavelengths=[(w,) for w in waves], noise=noise, independent=True)
    t0 = time.perf_counter()
    map_ids = list(dict.fromkeys(it.map for it in items))
    shape = (len(map_ids), len(waves), int(seeds))
    start = start_objective(m, items).reshape(shape)
    both = config.redirect_steps > 0
    runs = [(config, (0.0, 0.5 if both else 1.0), "sweep searches")]
    if both:
        runs.append((replace(config, redirect_steps=0), (0.5, 1.0), "sweep searches, seed's method"))
    results = []
    for cfg, span, stage in runs:
        images, ends, stopped = run_many(m, items, cfg, on_progress=on_progress, should_stop=should_stop,
                                         stage=stage, span=span)
        if stopped:
            return SweepResult(layer, [], waves, int(seeds), np.zeros((0, len(waves), int(seeds))),
                               np.zeros((0, len(waves), *m.image_shape)), time.perf_counter() - t0, True, noise=noise,
                               redirect_steps=config.redirect_steps)
        results.append((images, ends))
    images, ends = results[0]
    act = ends.reshape(shape)
    imgs = images.reshape(*shape, *m.image_shape)
    best = act.argmax(axis=2)
    chosen = np.take_along_axis(imgs, best.reshape(*best.shape, *[1] * (imgs.ndim - 2)), axis=2)[:, :, 0]
    seed_act = results[1][1].reshape(shape) if both else act
    return SweepResult(layer, map_ids, waves, int(seeds), act, chosen, time.perf_counter() - t0, False, start,
                       seed_act, noise, config.redirect_steps)

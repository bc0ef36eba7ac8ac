"""Wavelength sweep: which noise wavelength wakes which map of a layer, and how many stay dead."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .model import LoadedModel
from .oip import BatchProgress, OIPConfig, items_for, run_many

DEAD = 1e-6  # an objective at or below this is a dead search: the ReLU let nothing through


@dataclass(frozen=True)
class SweepResult:
    """End activation of every map's OIP at every wavelength and seed."""

    layer: str
    maps: list[int]
    wavelengths: tuple[float, ...]
    seeds: int
    activation: np.ndarray  # (maps, wavelengths, seeds) objective after the ascent
    images: np.ndarray  # (maps, wavelengths, 28, 28) the best seed's OIP, standardized units
    seconds: float
    stopped: bool = False

    @property
    def dead(self) -> np.ndarray:
        return self.activation <= DEAD

    @property
    def dead_fraction(self) -> np.ndarray:
        """(wavelengths,) fraction of (map, seed) searches whose OIP ends dead."""
        return self.dead.mean(axis=(0, 2))

    @property
    def mean_activation(self) -> np.ndarray:
        """(maps, wavelengths) activation reached, mean over seeds: the heatmap."""
        return self.activation.mean(axis=2)

    @property
    def best_wavelength(self) -> np.ndarray:
        """(maps,) the wavelength whose mean activation is highest, per map."""
        return np.asarray(self.wavelengths)[self.mean_activation.argmax(axis=1)]

    def rows(self) -> list[dict[str, Any]]:
        """One row per search: map, wavelength, seed, activation, dead (for CSV and JSON)."""
        return [{"layer": self.layer, "map": m, "wavelength": w, "seed": s,
                 "activation": float(self.activation[i, j, s]), "dead": bool(self.dead[i, j, s])}
                for i, m in enumerate(self.maps) for j, w in enumerate(self.wavelengths) for s in range(self.seeds)]

    def summary(self) -> dict[str, Any]:
        return {"layer": self.layer, "maps": len(self.maps), "seeds": self.seeds, "seconds": round(self.seconds, 2),
                "stopped": self.stopped,
                "dead_fraction": {f"{w:g}": float(d) for w, d in zip(self.wavelengths, self.dead_fraction)},
                "mean_activation": {f"{w:g}": float(a) for w, a in zip(self.wavelengths, self.mean_activation.mean(0))},
                "dead_at_every_wavelength": int(self.dead.all(axis=(1, 2)).sum())}


def wavelength_sweep(m: LoadedModel, layer: str, wavelengths: Sequence[float] = (1, 2, 4, 7, 14), seeds: int = 2,
                     config: OIPConfig = OIPConfig(), *, maps: str | Sequence[int] | None = None,
                     on_progress: Callable[[BatchProgress], None] | None = None,
                     should_stop: Callable[[], bool] | None = None) -> SweepResult:
    """Every map (or ``maps``) of ``layer`` from ``seeds`` noises at each wavelength, in batched calls.

    Raises:
        ValueError: an unknown layer, a bad map list, wavelength or seed count.
    """
    if not 1 <= int(seeds) <= 64:
        raise ValueError(f"seeds must be in 1..64. Received: seeds={seeds!r}")
    waves = tuple(float(w) for w in wavelengths)
    if not waves or len(set(waves)) != len(waves):
        raise ValueError(f"wavelengths must be distinct and at least one. Received: wavelengths={list(wavelengths)}")
    n_maps = m.spatial_layer(layer).maps
    items = items_for(m, layer, maps if maps is not None else f"0-{n_maps - 1}", seeds=range(int(seeds)),
                      wavelengths=[(w,) for w in waves])
    t0 = time.perf_counter()
    images, ends, stopped = run_many(m, items, config, on_progress=on_progress, should_stop=should_stop,
                                     stage="sweep searches")
    if stopped:
        return SweepResult(layer, [], waves, int(seeds), np.zeros((0, len(waves), int(seeds))),
                           np.zeros((0, len(waves), 28, 28)), time.perf_counter() - t0, True)
    map_ids = list(dict.fromkeys(it.map for it in items))
    act = ends.reshape(len(map_ids), len(waves), int(seeds))
    imgs = images.reshape(len(map_ids), len(waves), int(seeds), 28, 28)
    best = act.argmax(axis=2)
    chosen = np.take_along_axis(imgs, best[:, :, None, None, None], axis=2)[:, :, 0]
    return SweepResult(layer, map_ids, waves, int(seeds), act, chosen, time.perf_counter() - t0)

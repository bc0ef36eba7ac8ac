"""How well an OIP is defined: do searches from different noises end at the same pattern?"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .model import LoadedModel
from .oip import BatchProgress, OIPConfig, items_for, run_many


def shift_correlations(images: np.ndarray, max_shift: int, rgb: bool = False) -> np.ndarray:
    """Best Pearson correlation of every pair of images over translations up to ``max_shift`` pixels.

    Args:
        images: (..., K, H, W); the leading axes are independent groups (e.g. maps).
        max_shift: largest |dy| and |dx| tried; each shift compares the overlapping part only.

    Returns:
        (..., K, K) correlations, each the maximum over shifts; 1 on the diagonal. A flat
        image correlates 0 with everything.
    """
    x = np.asarray(images, np.float64)
    if rgb:  # (..., K, H, W, C): the channels go with each pixel
        x = np.moveaxis(x, -1, -3)
    flat = 3 if rgb else 2  # the axes of one image
    if x.ndim < flat + 1 or x.shape[-flat - 1] < 1:
        raise ValueError(f"images must have shape (..., K, H, W{', C' if rgb else ''}). Received: shape={images.shape}")
    h, w = x.shape[-2:]
    if not 0 <= max_shift < min(h, w) // 2:
        raise ValueError(f"max_shift must be in 0..{min(h, w) // 2 - 1}. Received: max_shift={max_shift}")
    k = x.shape[-flat - 1]
    best = np.full(x.shape[:-flat] + (k,), -np.inf)
    for dy in range(-max_shift, max_shift + 1):
        for dx in range(-max_shift, max_shift + 1):
            # pair (i, j): image i at rows y, image j at rows y + dy (the overlap only)
            a = x[..., max(0, -dy):h - max(0, dy), max(0, -dx):w - max(0, dx)]
            b = x[..., max(0, dy):h + min(0, dy), max(0, dx):w + min(0, dx)]
            best = np.maximum(best, _corr(a, b, flat))
    best[..., np.arange(k), np.arange(k)] = 1.0
    return best


def _corr(a: np.ndarray, b: np.ndarray, flat: int = 2) -> np.ndarray:
    """(..., K, h, w) x (..., K, h, w) -> (..., K, K) Pearson correlation of a[i] with b[j]; the last
    ``flat`` axes are one image."""
    def unit(v: np.ndarray) -> np.ndarray:
        v = v.reshape(v.shape[:-flat] + (-1,))
        v = v - v.mean(-1, keepdims=True)
        n = np.linalg.norm(v, axis=-1, keepdims=True)
        return np.where(n > 1e-12, v / np.maximum(n, 1e-12), 0.0)

    return np.einsum("...ip,...jp->...ij", unit(a), unit(b))


def score_interval(correlations: np.ndarray, rounds: int = 1000, seed: int = 0,
                   level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap interval of the reproducibility score over the searches (seeds × wavelengths).

    ``correlations`` is (..., K, K) from :func:`shift_correlations`. Each round redraws K searches with
    replacement and averages the correlations of the pairs of *different* searches drawn (a search
    with itself says nothing about reproducibility). Returns (lo, hi), each (...).
    """
    c = np.asarray(correlations, np.float64)
    k = c.shape[-1]
    if k < 2:
        raise ValueError(f"A score interval needs at least 2 searches. Received: K={k}")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, k, (rounds, k))
    a, b = np.triu_indices(k, 1)
    ia, ib = idx[:, a], idx[:, b]  # (rounds, pairs)
    valid = ia != ib
    vals = c[..., ia, ib]  # (..., rounds, pairs)
    with np.errstate(invalid="ignore"):
        means = np.where(valid, vals, 0).sum(-1) / np.maximum(valid.sum(-1), 1)
    means = np.where(valid.any(-1), means, np.nan)
    lo, hi = np.nanpercentile(means, [50 * (1 - level), 50 * (1 + level)], axis=-1)
    return lo, hi


def reproducibility_score(images: np.ndarray, max_shift: int, rgb: bool = False) -> np.ndarray:
    """Mean pairwise shift-aligned correlation of the K images of each group: (..., K, H, W) -> (...)."""
    c = shift_correlations(images, max_shift, rgb)
    k = c.shape[-1]
    if k < 2:
        raise ValueError(f"A reproducibility score needs at least 2 images per group. Received: K={k}")
    iu = np.triu_indices(k, 1)
    return c[..., iu[0], iu[1]].mean(-1)


@dataclass(frozen=True)
class Reproducibility:
    """Per map: how alike its OIPs from different noises are, and how alike their activations."""

    layer: str
    maps: list[int]
    labels: list[str]  # per search of a map: "λ=4 · seed 1"
    score: np.ndarray  # (maps,) mean pairwise correlation after the best shift
    activation: np.ndarray  # (maps, K) activation each search reached
    images: np.ndarray  # (maps, K, *image shape) standardized OIPs
    max_shift: int
    seconds: float
    stopped: bool = False
    correlations: np.ndarray | None = None  # (maps, K, K) shift-aligned correlations of the searches

    @property
    def score_ci95(self) -> np.ndarray:
        """(maps, 2) bootstrap 95 % interval of each map's score over its searches."""
        if self.correlations is None or not len(self.maps):
            return np.full((len(self.maps), 2), np.nan)
        lo, hi = score_interval(self.correlations)
        return np.stack([lo, hi], -1)

    @property
    def spread(self) -> np.ndarray:
        """(maps,) coefficient of variation of the activation reached (std / mean; 0 = all alike)."""
        mean = self.activation.mean(1)
        return np.where(mean > 1e-12, self.activation.std(1) / np.maximum(mean, 1e-12), np.nan)

    @property
    def order(self) -> np.ndarray:
        """Positions in ``maps`` from the most to the least reproducible."""
        return np.argsort(-self.score, kind="stable")

    @property
    def best_images(self) -> np.ndarray:
        """(maps, *image shape) each map's OIP with the highest activation."""
        return self.images[np.arange(len(self.maps)), self.activation.argmax(1)]

    def rows(self) -> list[dict[str, Any]]:
        spread, ci = self.spread, self.score_ci95
        return [{"layer": self.layer, "map": m, "score": float(self.score[i]),
                 "score_ci95_low": float(ci[i, 0]), "score_ci95_high": float(ci[i, 1]),
                 "mean_activation": float(self.activation[i].mean()), "min_activation": float(self.activation[i].min()),
                 "max_activation": float(self.activation[i].max()),
                 "spread": None if np.isnan(spread[i]) else float(spread[i])} for i, m in enumerate(self.maps)]

    def summary(self) -> dict[str, Any]:
        top = int(self.order[0]) if len(self.maps) else None
        return {"layer": self.layer, "maps": len(self.maps), "searches_per_map": int(self.activation.shape[1]),
                "max_shift": self.max_shift, "seconds": round(self.seconds, 2), "stopped": self.stopped,
                "mean_score": float(self.score.mean()) if len(self.maps) else None,
                "most_reproducible_map": self.maps[top] if top is not None else None,
                "most_reproducible_score": float(self.score[top]) if top is not None else None}


def reproducibility(m: LoadedModel, layer: str, *, maps: str | Sequence[int] | None = None, seeds: int = 4,
                    wavelengths: Sequence[float] = (4,), config: OIPConfig = OIPConfig(),
                    max_shift: int | None = None, noise: str = "lowpass",
                    on_progress: Callable[[BatchProgress], None] | None = None,
                    should_stop: Callable[[], bool] | None = None) -> Reproducibility:
    """OIPs of each map from ``seeds`` noises at each wavelength, scored for how alike they are.

    The allowed shift defaults to the layer's jump: neighbouring nodes of a map see the input
    ``jump`` pixels apart, so two searches may find the same pattern that far apart.
    """
    info = m.spatial_layer(layer)
    waves = tuple(float(w) for w in wavelengths)
    if int(seeds) * len(waves) < 2:
        raise ValueError(f"Needs at least 2 searches per map (seeds × wavelengths). Received: seeds={seeds}, "
                         f"wavelengths={list(waves)}")
    shift = int(info.jump or 1) if max_shift is None else int(max_shift)
    items = items_for(m, layer, maps if maps is not None else f"0-{info.maps - 1}", seeds=range(int(seeds)),
                      wavelengths=[(w,) for w in waves], noise=noise)
    labels = [f"λ={w:g} · seed {s}" for w in waves for s in range(int(seeds))]
    t0 = time.perf_counter()
    images, ends, stopped = run_many(m, items, config, on_progress=on_progress, should_stop=should_stop,
                                     stage="searches for the score")
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

"""Small statistics for honest figures: binomial intervals, the bootstrap, and shift-aligned correlations of
OIPs (how alike the patterns of one map are). Numpy only."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def wilson(k: int | np.ndarray, n: int | np.ndarray, z: float = 1.959964) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a binomial proportion k/n (95 % by default).

    Unlike the plain normal interval it stays inside [0, 1] and is not empty at k = 0 or k = n,
    which is where dead fractions often sit.
    """
    k, n = np.asarray(k, np.float64), np.asarray(n, np.float64)
    if np.any(n <= 0) or np.any(k < 0) or np.any(k > n):
        raise ValueError(f"Need 0 <= k <= n and n > 0. Received: k={k.tolist()}, n={n.tolist()}")
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)


def bootstrap_ci(statistic: Callable[[np.ndarray], float], n: int, rounds: int = 1000, seed: int = 0,
                 level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic(indices)`` over ``n`` units resampled with replacement."""
    if n < 2:
        raise ValueError(f"The bootstrap needs at least 2 units. Received: n={n}")
    rng = np.random.default_rng(seed)
    values = np.array([statistic(rng.integers(0, n, n)) for _ in range(rounds)])
    lo, hi = np.nanpercentile(values, [50 * (1 - level), 50 * (1 + level)])
    return float(lo), float(hi)


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


def bootstrap_scores(correlations: np.ndarray, rounds: int = 1000, seed: int = 0) -> np.ndarray:
    """Bootstrap replicates of the reproducibility score: (..., K, K) correlations -> (..., rounds).

    Each round redraws K searches with replacement and averages the correlations of the pairs of
    *different* searches drawn (a search with itself says nothing about reproducibility); NaN for a
    round that drew one search K times.
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
    means = np.where(valid, vals, 0).sum(-1) / np.maximum(valid.sum(-1), 1)
    return np.where(valid.any(-1), means, np.nan)


def score_interval(correlations: np.ndarray, rounds: int = 1000, seed: int = 0,
                   level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap interval of the reproducibility score over the searches (seeds × wavelengths).

    ``correlations`` is (..., K, K) from :func:`shift_correlations`; see :func:`bootstrap_scores`.
    Returns (lo, hi), each (...).
    """
    lo, hi = np.nanpercentile(bootstrap_scores(correlations, rounds, seed), [50 * (1 - level), 50 * (1 + level)],
                              axis=-1)
    return lo, hi


def reproducibility_score(images: np.ndarray, max_shift: int, rgb: bool = False) -> np.ndarray:
    """Mean pairwise shift-aligned correlation of the K images of each group: (..., K, H, W) -> (...)."""
    c = shift_correlations(images, max_shift, rgb)
    k = c.shape[-1]
    if k < 2:
        raise ValueError(f"A reproducibility score needs at least 2 images per group. Received: K={k}")
    iu = np.triu_indices(k, 1)
    return c[..., iu[0], iu[1]].mean(-1)

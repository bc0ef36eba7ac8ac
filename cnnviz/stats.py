"""Small statistics for honest figures: binomial intervals and the bootstrap."""

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

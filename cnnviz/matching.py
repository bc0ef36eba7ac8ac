"""Compare two training runs: match the maps of a layer by how alike they respond to real images."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .activations import layer_output
from .model import LoadedModel
from .oip import BatchProgress

CLOSE = 0.5  # a matched pair at or above this correlation counts as "a close partner"


@dataclass(frozen=True)
class Matching:
    """One-to-one matching of the maps of a layer in model A to those of model B."""

    layer: str
    correlation: np.ndarray  # (maps_a, maps_b) Pearson correlation over test images and positions
    a: np.ndarray  # (n,) matched maps of A, ascending
    b: np.ndarray  # (n,) their partners in B
    silent_a: np.ndarray  # maps of A that never fire on the images (no partner possible)
    silent_b: np.ndarray
    close: float = CLOSE
    stopped: bool = False

    @property
    def matched(self) -> np.ndarray:
        """(n,) correlation of each matched pair."""
        return self.correlation[self.a, self.b]

    @property
    def close_fraction(self) -> float:
        """Fraction of A's maps whose partner correlates at least ``close``."""
        return float((self.matched >= self.close).mean()) if len(self.a) else 0.0

    @property
    def same_index_fraction(self) -> float:
        """Fraction of maps matched to the map with the same index: 1 when the order is preserved."""
        return float((self.a == self.b).mean()) if len(self.a) else 0.0

    @property
    def order_correlation(self) -> float:
        """Spearman correlation between A's and B's indices of the pairs (1: same order, ~0: none)."""
        if len(self.a) < 2:
            return float("nan")
        ra, rb = np.argsort(np.argsort(self.a)), np.argsort(np.argsort(self.b))
        return float(np.corrcoef(ra, rb)[0, 1])

    def rows(self) -> list[dict[str, Any]]:
        return [{"layer": self.layer, "map_a": int(i), "map_b": int(j), "correlation": float(c),
                 "close": bool(c >= self.close)} for i, j, c in zip(self.a, self.b, self.matched)]

    def summary(self) -> dict[str, Any]:
        return {"layer": self.layer, "maps_a": int(self.correlation.shape[0]), "maps_b": int(self.correlation.shape[1]),
                "pairs": len(self.a), "mean_matched_correlation": float(self.matched.mean()) if len(self.a) else None,
                "median_matched_correlation": float(np.median(self.matched)) if len(self.a) else None,
                "close_threshold": self.close, "close_fraction": self.close_fraction,
                "same_index_fraction": self.same_index_fraction, "order_correlation": self.order_correlation,
                "silent_a": [int(i) for i in self.silent_a], "silent_b": [int(i) for i in self.silent_b],
                "stopped": self.stopped}


def map_correlation(ma: LoadedModel, mb: LoadedModel, layer: str, images: np.ndarray, *, batch: int = 500,
                    on_progress: Callable[[BatchProgress], None] | None = None,
                    should_stop: Callable[[], bool] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """Pearson correlation of every map of A with every map of B over all images and positions.

    Each model standardizes the uint8 ``images`` its own way. Sums are accumulated batch by
    batch (float64), so even Conv2D_1 over the whole test set never sits in memory.

    Returns:
        The (maps_a, maps_b) correlations, the variance of each map of A and of B (0: the
        map never fires, and correlates 0 with everything), and whether it was stopped.
    """
    la, lb = ma.spatial_layer(layer), mb.spatial_layer(layer)
    if la.output_shape[:2] != lb.output_shape[:2]:
        raise ValueError(f"{layer} has a different size in the two models: {la.output_shape} vs {lb.output_shape}.")
    images = np.asarray(images)
    xa, xb = ma.standardization.apply(images), mb.standardization.apply(images)
    n, sa, sb, saa, sbb, sab = 0, 0.0, 0.0, 0.0, 0.0, 0.0
    stopped = False
    for (start, a), (_, b) in zip(layer_output(ma, layer, xa, batch), layer_output(mb, layer, xb, batch)):
        a = a.reshape(-1, a.shape[-1]).astype(np.float64)
        b = b.reshape(-1, b.shape[-1]).astype(np.float64)
        n += len(a)
        sa, sb = sa + a.sum(0), sb + b.sum(0)
        saa, sbb, sab = saa + (a * a).sum(0), sbb + (b * b).sum(0), sab + a.T @ b
        if on_progress is not None:
            end = min(start + batch, len(images))
            on_progress(BatchProgress(end / len(images), f"test images: {end}/{len(images)}"))
        if should_stop is not None and should_stop():
            stopped = True
            break
    ma_, mb_ = sa / n, sb / n
    cov = sab / n - np.outer(ma_, mb_)
    va, vb = np.maximum(saa / n - ma_ ** 2, 0), np.maximum(sbb / n - mb_ ** 2, 0)
    den = np.sqrt(np.outer(va, vb))
    # a map that never fires (zero variance) correlates with nothing
    return np.where(den > 1e-12, cov / np.maximum(den, 1e-12), 0.0), va, vb, stopped


def match_maps(ma: LoadedModel, mb: LoadedModel, layer: str, images: np.ndarray, *, close: float = CLOSE,
               on_progress: Callable[[BatchProgress], None] | None = None,
               should_stop: Callable[[], bool] | None = None) -> Matching:
    """Optimal one-to-one matching (Hungarian, maximum total correlation) of A's maps to B's."""
    from scipy.optimize import linear_sum_assignment

    if not -1 <= close <= 1:
        raise ValueError(f"close must be a correlation in -1..1. Received: close={close}")
    corr, va, vb, stopped = map_correlation(ma, mb, layer, images, on_progress=on_progress, should_stop=should_stop)
    a, b = linear_sum_assignment(corr, maximize=True)
    return Matching(layer, corr.astype(np.float32), a, b, np.flatnonzero(va <= 1e-12), np.flatnonzero(vb <= 1e-12),
                    float(close), stopped)

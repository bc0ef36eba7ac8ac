"""What the analyses return: typed, numpy only, no TensorFlow.

The engine builds these; the dashboard's pages, the result cache and the CLI read them as they are
(properties and methods, never string keys), so this module must stay importable without TensorFlow.
``summary()`` and ``rows()`` are the JSON and CSV faces.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .stats import score_interval, wilson

DEAD = 1e-6  # an objective at or below this is a dead search: the ReLU let nothing through
# A bootstrap interval over fewer searches is no interval (2 searches: one pair, "0.51 [0.51, 0.51]").
MIN_SEARCHES_FOR_INTERVAL = 4


def interval_text(lo: float, hi: float, fmt: str = ".2f") -> str:
    """"[0.45, 0.62]", or "[n/a]" where there were too few searches to make an interval."""
    return "[n/a]" if not (np.isfinite(lo) and np.isfinite(hi)) else f"[{lo:{fmt}}, {hi:{fmt}}]"


def _finite(v: float) -> float | None:
    """JSON has no infinity or NaN: a ratio over a map that no real image drives, an interval that cannot be
    made, are reported as null."""
    return v if np.isfinite(v) else None


@dataclass(frozen=True)
class Rate:
    """A fraction of ``n`` trials with its Wilson 95 % interval."""

    k: int
    n: int

    @property
    def value(self) -> float:
        return self.k / self.n if self.n else float("nan")

    @property
    def interval(self) -> tuple[float, float]:
        if not self.n:
            return float("nan"), float("nan")
        lo, hi = wilson(self.k, self.n)
        return float(lo), float(hi)

    def __str__(self) -> str:
        lo, hi = self.interval
        return f"{100 * self.value:.1f} % [{100 * lo:.1f}, {100 * hi:.1f}]"


def _rates(dead: np.ndarray) -> list[Rate]:
    """Per wavelength, the dead searches among all maps' and seeds'; ``dead`` is (maps, waves, seeds)."""
    return [Rate(int(dead[:, j].sum()), int(dead[:, j].size)) for j in range(dead.shape[1])]


@dataclass(frozen=True)
class DeadRates:
    """Per wavelength: dead at the start, and dead at the end by each method that ran (cnnviz.search.METHODS):
    no blur on dead searches (``end``), the seed's loop that blurs every image (``blur_all``), the redirected ReLU
    (``redirected``); None for a method the sweep did not run."""

    start: list[Rate]
    end: list[Rate]
    redirected: list[Rate] | None
    blur_all: list[Rate] | None = None

    def series(self) -> list[tuple[str, str, list[Rate]]]:
        """(key, label, rates) of each measured fraction, in the order the views show them."""
        out = [("dead_at_start", "dead at the start", self.start),
               ("dead_at_end_skip_dead", "dead at the end, no blur on dead searches (cnnviz)", self.end)]
        if self.blur_all is not None:
            out.append(("dead_at_end_blur_all", "dead at the end, blur every image (the seed's loop)", self.blur_all))
        if self.redirected is not None:
            out.append(("dead_at_end_redirected", "dead at the end, redirected ReLU", self.redirected))
        return out


@dataclass(frozen=True)
class SweepResult:
    """Start and end activation of every map's searches at every wavelength and seed.

    ``activation`` is the end of the ascent by ``redirect_steps`` (the redirected ReLU, or no blur on dead
    searches when 0); ``seed_activation`` the end with no blur on dead searches and no redirect;
    ``blur_activation`` the end by the seed's literal loop, which blurs every image, dead ones too.
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
    seed_activation: np.ndarray | None = None  # (maps, wavelengths, seeds) end, no blur on dead, no redirect
    noise: str = "lowpass"
    redirect_steps: int = 20
    blur_activation: np.ndarray | None = None  # (maps, wavelengths, seeds) end by the seed's literal loop
    steps: int = 60  # the ascent's steps (the seed's loop wakes more searches the longer it runs)
    redirected_activation: np.ndarray | None = None  # (maps, wavelengths, seeds) end with the redirected ReLU

    @property
    def dead(self) -> np.ndarray:
        """(maps, wavelengths, seeds) dead at the end, by the method of ``activation``."""
        return self.activation <= DEAD

    @property
    def dead_start(self) -> np.ndarray:
        return (self.start if self.start is not None else self.activation) <= 0

    @property
    def dead_end(self) -> np.ndarray:
        """Dead at the end with no blur on dead searches and no redirect (equal to dead at the start, but for
        a search whose true gradient was zero at the start and not later: rare)."""
        return (self.seed_activation if self.seed_activation is not None else self.activation) <= DEAD

    @property
    def dead_blur_all(self) -> np.ndarray | None:
        return None if self.blur_activation is None else self.blur_activation <= DEAD

    @property
    def dead_fraction(self) -> np.ndarray:
        """(wavelengths,) fraction of (map, seed) searches whose OIP ends dead, no blur on dead searches."""
        return np.array([r.value for r in _rates(self.dead_end)])

    @property
    def dead_rates(self) -> DeadRates:
        blur = self.dead_blur_all
        red = self.redirected_activation if self.redirected_activation is not None else (
            self.activation if self.redirect_steps else None)
        return DeadRates(_rates(self.dead_start), _rates(self.dead_end), None if red is None else _rates(red <= DEAD),
                         None if blur is None else _rates(blur))

    @property
    def open_at_start(self) -> list[list[Rate]]:
        """Per map and wavelength: the probability that a noise opens the map (objective above 0 at the start),
        as a :class:`Rate` over the map's seeds, with its Wilson interval."""
        alive = ~self.dead_start
        return [[Rate(int(alive[i, j].sum()), int(alive.shape[2])) for j in range(len(self.wavelengths))]
                for i in range(len(self.maps))]

    @property
    def mean_activation(self) -> np.ndarray:
        """(maps, wavelengths) activation reached, mean over seeds: the heatmap."""
        return self.activation.mean(axis=2)

    @property
    def best_wavelength(self) -> np.ndarray:
        """(maps,) the wavelength whose mean activation is highest, per map."""
        return np.asarray(self.wavelengths)[self.mean_activation.argmax(axis=1)]

    @property
    def best_images(self) -> np.ndarray:
        """(maps, *image shape) each map's OIP at its best wavelength."""
        if not len(self.maps):
            return np.asarray(self.images)[:, 0] if np.ndim(self.images) > 1 else np.asarray(self.images)
        return np.asarray(self.images)[np.arange(len(self.maps)), self.mean_activation.argmax(1)]

    @property
    def awake_at_start(self) -> np.ndarray:
        """(maps, wavelengths) fraction of each map's searches alive on the start noise."""
        return 1.0 - self.dead_start.mean(axis=2)

    def awake_only_at(self) -> dict[int, list[float]]:
        """Maps that some wavelengths wake at the start and others never, among this sweep's noises: map -> those
        wavelengths. "Never" is only as good as the seed count: see :attr:`open_at_start` for the probability."""
        return {m: [w for w, a in zip(self.wavelengths, row) if a > 0] for m, row in zip(self.maps, self.awake_at_start)
                if 0 < (row > 0).sum() < len(self.wavelengths)}

    def dead_statistics(self) -> dict[str, Any]:
        """Per wavelength: searches, dead at the start, and dead at the end by each method that ran, each with its
        Wilson 95 % interval (the JSON face of :attr:`dead_rates`)."""
        key = [f"{w:g}" for w in self.wavelengths]
        out: dict[str, Any] = {"searches": {k: len(self.maps) * self.seeds for k in key}}
        for name, _, rs in self.dead_rates.series():
            out[name] = {k: r.value for k, r in zip(key, rs)}
            out[f"{name}_ci95"] = {k: [round(r.interval[0], 4), round(r.interval[1], 4)] for k, r in zip(key, rs)}
        return out

    def open_statistics(self) -> list[dict[str, Any]]:
        """Per map and wavelength: the probability of opening at the start with its Wilson interval."""
        return [{"map": m, "wavelength": w, "open_at_start": r.value, "open_at_start_ci95": [round(v, 4) for v in
                                                                                              r.interval],
                 "noises": r.n} for m, row in zip(self.maps, self.open_at_start) for w, r in zip(self.wavelengths, row)]

    def rows(self) -> list[dict[str, Any]]:
        """One row per search: map, wavelength, seed, activations by each method, dead flags (CSV and JSON)."""
        nan = np.full_like(self.activation, np.nan)
        start = self.start if self.start is not None else nan
        seed_end = self.seed_activation if self.seed_activation is not None else self.activation
        blur = self.blur_activation if self.blur_activation is not None else nan
        opened = self.open_at_start
        return [{"layer": self.layer, "noise": self.noise, "map": m, "wavelength": w, "seed": s,
                 "start_activation": float(start[i, j, s]), "activation": float(self.activation[i, j, s]),
                 "skip_dead_activation": float(seed_end[i, j, s]), "blur_all_activation": float(blur[i, j, s]),
                 "dead_at_start": bool(self.dead_start[i, j, s]), "dead_at_end_skip_dead": bool(self.dead_end[i, j, s]),
                 "dead_at_end_blur_all": bool(blur[i, j, s] <= DEAD) if np.isfinite(blur[i, j, s]) else None,
                 "dead": bool(self.dead[i, j, s]),
                 # the map's probability of opening at this wavelength over all its seeds (the same on its rows)
                 "map_open_at_start": opened[i][j].value, "map_open_at_start_ci95_low": opened[i][j].interval[0],
                 "map_open_at_start_ci95_high": opened[i][j].interval[1]}
                for i, m in enumerate(self.maps) for j, w in enumerate(self.wavelengths) for s in range(self.seeds)]

    def summary(self) -> dict[str, Any]:
        stats = self.dead_statistics() if len(self.maps) else {}
        return {"layer": self.layer, "noise": self.noise, "maps": len(self.maps), "seeds": self.seeds,
                "steps": self.steps, "redirect_steps": self.redirect_steps, "seconds": round(self.seconds, 2),
                "stopped": self.stopped, **stats,
                "mean_activation": {f"{w:g}": float(a) for w, a in zip(self.wavelengths, self.mean_activation.mean(0))}
                if len(self.maps) else {},
                "dead_at_every_wavelength": int(self.dead.all(axis=(1, 2)).sum()),
                "open_at_start_per_map": self.open_statistics() if len(self.maps) else [],
                "awake_at_start_only_for": {str(m): [f"{w:g}" for w in ws] for m, ws in self.awake_only_at().items()}}


@dataclass(frozen=True)
class OpenRates:
    """Per map and wavelength: how many of ``noises`` noises open the map at the start (cnnviz.sweep.open_rates)."""

    layer: str
    maps: list[int]
    wavelengths: tuple[float, ...]
    noises: int  # per wavelength, the same for every map
    noise: str
    first_seed: int
    opened: np.ndarray  # (maps, wavelengths) counts
    seconds: float
    stopped: bool = False

    def rate(self, map_: int, wavelength: float) -> Rate:
        return Rate(int(self.opened[self.maps.index(map_), self.wavelengths.index(float(wavelength))]), self.noises)

    @property
    def widest(self) -> float:
        """The largest half-width of any cell's Wilson interval (for "every interval under ± x points")."""
        lo, hi = wilson(self.opened, self.noises)
        return float(((hi - lo) / 2).max()) if self.opened.size else float("nan")

    def rows(self) -> list[dict[str, Any]]:
        lo, hi = wilson(self.opened, self.noises) if self.opened.size else (self.opened, self.opened)
        return [{"layer": self.layer, "map": m, "wavelength": w, "noise": self.noise, "noises": self.noises,
                 "opened": int(self.opened[i, j]), "open_at_start": float(self.opened[i, j] / self.noises),
                 "ci95_low": float(lo[i, j]), "ci95_high": float(hi[i, j])}
                for i, m in enumerate(self.maps) for j, w in enumerate(self.wavelengths)]

    def summary(self) -> dict[str, Any]:
        return {"layer": self.layer, "noise": self.noise, "noises_per_wavelength": self.noises,
                "seeds": [self.first_seed, self.first_seed + self.noises - 1], "wavelengths": list(self.wavelengths),
                "seconds": round(self.seconds, 1), "stopped": self.stopped,
                "widest_half_interval": _finite(self.widest),
                "never_opened": {f"{w:g}": [m for i, m in enumerate(self.maps) if self.opened[i, j] == 0]
                                 for j, w in enumerate(self.wavelengths)}}


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
        """(maps, 2) bootstrap 95 % interval of each map's score over its searches; NaN (no interval) with fewer
        than :data:`MIN_SEARCHES_FOR_INTERVAL` searches, where resampling them says nothing."""
        k = self.activation.shape[1] if np.ndim(self.activation) == 2 else 0
        if self.correlations is None or not len(self.maps) or k < MIN_SEARCHES_FOR_INTERVAL:
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
        return np.asarray(self.images)[np.arange(len(self.maps)), self.activation.argmax(1)]

    def position(self, map_: int) -> int:
        """The row of map ``map_``; ValueError if the result has none."""
        if map_ not in self.maps:
            raise ValueError(f"map must be one of the result's maps {self.maps[:8]}…. Received: map={map_}")
        return self.maps.index(map_)

    def rows(self) -> list[dict[str, Any]]:
        spread, ci = self.spread, self.score_ci95
        return [{"layer": self.layer, "map": m, "score": float(self.score[i]),
                 "score_ci95_low": _finite(float(ci[i, 0])), "score_ci95_high": _finite(float(ci[i, 1])),
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


@dataclass(frozen=True)
class HandOfMnist:
    """Reproducibility of every map in every setting on disjoint blocks of seeds: each selection block picks the
    map with the best mean score over the settings, the held-out block scores the picks (see :mod:`cnnviz.hand`)."""

    layer: str
    maps: list[int]
    settings: list[str]  # "lowpass λ=4", "pixel noise λ=1", …
    method: str  # the ascent method of every search (cnnviz.search.METHODS)
    block: int  # searches per map, setting and block
    first_seed: int
    block_scores: np.ndarray  # (selection blocks + 1, settings, maps); the last block is held out
    heldout_ci95: np.ndarray  # (maps, 2) bootstrap interval of the held-out score (mean over settings)
    heldout_setting_ci95: np.ndarray  # (settings, maps, 2)
    images: np.ndarray  # (settings, maps, *image shape) each map's best held-out OIP in each setting
    top_indices: np.ndarray  # (maps, k) test images with the highest map mean (k = 0: not computed)
    top_labels: np.ndarray  # (maps, k) their classes
    top_images: np.ndarray  # (maps, k, *image shape) uint8
    seconds: float
    stopped: bool = False

    @classmethod
    def empty(cls, layer: str, settings: list[str], seconds: float) -> HandOfMnist:
        """The result of a stopped run."""
        z = np.zeros((0, 0))
        return cls(layer, [], settings, "", 0, 0, np.zeros((0, 0, 0)), z, np.zeros((0, 0, 2)), np.zeros((0, 0, 28, 28)),
                   z, z, np.zeros((0, 0, 28, 28)), seconds, True)

    @property
    def blocks(self) -> int:
        """Selection blocks."""
        return len(self.block_scores) - 1

    @property
    def heldout_scores(self) -> np.ndarray:
        """(settings, maps) scores on the held-out block."""
        return self.block_scores[-1]

    @property
    def heldout_score(self) -> np.ndarray:
        """(maps,) held-out score, the mean over settings."""
        return self.heldout_scores.mean(0)

    @property
    def picks(self) -> list[int]:
        """Position in ``maps`` of each selection block's pick: the best mean score over the settings."""
        return [int(np.argmax(s.mean(0))) for s in self.block_scores[:-1]]

    @property
    def worst_rank_picks(self) -> list[int]:
        """What the earlier criterion (the best worst-case rank over the settings, then mean rank) picks in each
        selection block: reported beside :attr:`picks`, not used."""
        return [int(best_worst_rank(s)[0]) for s in self.block_scores[:-1]]

    @property
    def pick_frequency(self) -> np.ndarray:
        """(maps,) share of the selection blocks that pick each map."""
        return np.bincount(self.picks, minlength=len(self.maps)) / max(self.blocks, 1)

    @property
    def candidates(self) -> list[int]:
        """Positions of the maps picked at least once, most often first (ties: the best mean score over the
        selection blocks pooled; the held-out block has no say)."""
        pooled = self.block_scores[:-1].mean((0, 1))
        return sorted(set(self.picks), key=lambda i: (-self.pick_frequency[i], -pooled[i]))

    @property
    def candidate(self) -> int:
        """Position in ``maps`` of the most frequent pick."""
        return self.candidates[0]

    @property
    def stable(self) -> bool:
        """More than half of the selection blocks pick the candidate."""
        return bool(self.pick_frequency[self.candidate] > 0.5)

    def top_text(self, i: int) -> str:
        """The classes of map position ``i``'s top test images: "7×9" or "4×5, 9×3, 7×1"."""
        labels, counts = np.unique(self.top_labels[i], return_counts=True)
        return ", ".join(f"{lab}×{c}" for c, lab in sorted(zip(counts, labels), reverse=True))

    def statement(self) -> str:
        """The finding in one sentence, as strong as the picks allow."""
        f = self.pick_frequency
        if self.stable:
            c = self.candidate
            lo, hi = self.heldout_ci95[c]
            return (f"map {self.maps[c]}: picked by {round(f[c] * self.blocks)} of {self.blocks} selection blocks; "
                    f"held-out score {self.heldout_score[c]:.2f} {interval_text(lo, hi)}")
        top = ", ".join(f"map {self.maps[i]} ({round(f[i] * self.blocks)}/{self.blocks})" for i in self.candidates)
        return f"no stable candidate; the top set is {top}"

    def montage(self, maps: list[int]) -> tuple[np.ndarray, list[str], int]:
        """uint8 tiles, labels and columns of one row per map of ``maps``: its held-out OIP in every setting
        (with the held-out score), then its top test images (with their classes)."""
        from .search import to_display

        rgb = self.images.ndim == 5
        tiles: list[np.ndarray] = []
        labels: list[str] = []
        for mp in maps:
            if mp not in self.maps:
                raise ValueError(f"map must be one of the result's maps. Received: map={mp}")
            i = self.maps.index(mp)
            oips = np.round(to_display(np.asarray(self.images[:, i], np.float32), rgb=rgb) * 255).astype(np.uint8)
            tiles += list(oips) + list(self.top_images[i])
            labels += [f"map {mp} · {s} · {self.heldout_scores[k, i]:.2f}" for k, s in enumerate(self.settings)]
            labels += [f"map {mp} · test #{t} · class {c}" for t, c in zip(self.top_indices[i], self.top_labels[i])]
        return np.stack(tiles), labels, len(self.settings) + self.top_images.shape[1]

    def _candidate_row(self, i: int) -> dict[str, Any]:
        return {"map": self.maps[i], "pick_frequency": float(self.pick_frequency[i]),
                "heldout_score": float(self.heldout_score[i]),
                "heldout_ci95": [_finite(float(v)) for v in self.heldout_ci95[i]],
                "top_labels": self.top_labels[i].tolist(), "top_test_indices": self.top_indices[i].tolist()}

    def rows(self) -> list[dict[str, Any]]:
        f, ci = self.pick_frequency, self.heldout_ci95
        return [{"layer": self.layer, "map": m, "pick_frequency": float(f[i]),
                 "heldout_score": float(self.heldout_score[i]), "heldout_ci95_low": _finite(float(ci[i, 0])),
                 "heldout_ci95_high": _finite(float(ci[i, 1])),
                 "selection_score": float(self.block_scores[:-1, :, i].mean()),
                 "top_labels": " ".join(str(v) for v in self.top_labels[i])} for i, m in enumerate(self.maps)]

    def summary(self) -> dict[str, Any]:
        if not len(self.maps):
            return {"layer": self.layer, "stopped": self.stopped}
        c = self.candidate
        seeds_used = [self.first_seed, self.first_seed + (self.blocks + 1) * self.block - 1]
        return {"layer": self.layer, "method": self.method, "settings": self.settings, "seconds": round(self.seconds, 1),
                "searches_per_block": self.block, "selection_blocks": self.blocks, "seeds": seeds_used,
                "candidate": self.maps[c], "stable": self.stable, "statement": self.statement(),
                "heldout_score": float(self.heldout_score[c]),
                "heldout_ci95": [_finite(float(v)) for v in self.heldout_ci95[c]],
                "candidate_per_setting": [{"setting": s, "heldout_score": float(self.heldout_scores[k, c]),
                                           "heldout_ci95": [_finite(float(v)) for v in self.heldout_setting_ci95[k, c]]}
                                          for k, s in enumerate(self.settings)],
                "picks": [self.maps[i] for i in self.picks],
                "worst_rank_picks": [self.maps[i] for i in self.worst_rank_picks],
                "block_scores": np.round(self.block_scores, 4).tolist(),
                "candidates": [self._candidate_row(i) for i in self.candidates]}


def best_worst_rank(scores: np.ndarray) -> np.ndarray:
    """Positions of the maps of (settings, maps) ``scores`` by worst-case rank over the settings, then mean rank
    (rank 1 = the highest score in a setting)."""
    order = np.argsort(-scores, axis=1, kind="stable")
    ranks = np.empty_like(order)
    ranks[np.arange(len(scores))[:, None], order] = np.arange(1, scores.shape[1] + 1)[None, :]
    return np.lexsort((ranks.mean(0), ranks.max(0)))


@dataclass(frozen=True)
class Exemplars:
    """The top-k test images of one map (or node), their receptive-field patches, and its OIP."""

    layer: str
    map: int
    node: tuple[int, int] | None  # (x, y); None: the objective is the map mean, like the OIP's
    indices: np.ndarray  # (k,) test-set indices, strongest first
    activation: np.ndarray  # (k,) the objective on each image (map mean, or the node's value)
    labels: np.ndarray  # (k,) true classes
    images: np.ndarray  # (k, *image shape) uint8
    patch_indices: np.ndarray  # (k,) test images of the strongest single nodes (one per image)
    patch_nodes: np.ndarray  # (k, 2) (x, y) of that node
    patch_activation: np.ndarray  # (k,) that node's value
    patch_boxes: np.ndarray  # (k, 4) rows y0..y1, columns x0..x1 (inclusive) of its receptive field
    patches: np.ndarray  # (k, s, s[, C]) uint8 crops of the receptive field (s = its side)
    oip_image: np.ndarray  # (*image shape) the best OIP of the map (or node), standardized units
    oip_activation: float  # the objective the OIP reaches
    oip_node_activation: float  # the strongest single node of the map on the OIP (= objective for a node)
    stopped: bool = False

    @property
    def ratio(self) -> float:
        """OIP objective / best real image's objective (how far beyond real digits the OIP drives it)."""
        best = float(self.activation[0]) if len(self.activation) else 0.0
        return self.oip_activation / best if best > 1e-12 else float("inf")

    @property
    def patch_ratio(self) -> float:
        """Strongest node on the OIP / strongest node on any real image."""
        best = float(self.patch_activation[0]) if len(self.patch_activation) else 0.0
        return self.oip_node_activation / best if best > 1e-12 else float("inf")

    def rows(self) -> list[dict[str, Any]]:
        images = [{"kind": "image", "rank": r + 1, "test_index": int(i), "label": int(lab), "activation": float(a),
                   "node_x": None, "node_y": None} for r, (i, lab, a) in
                  enumerate(zip(self.indices, self.labels, self.activation))]
        patches = [{"kind": "patch", "rank": r + 1, "test_index": int(i), "label": None, "activation": float(a),
                    "node_x": int(n[0]), "node_y": int(n[1])} for r, (i, n, a) in
                   enumerate(zip(self.patch_indices, self.patch_nodes, self.patch_activation))]
        oip = [{"kind": "oip", "rank": 0, "test_index": None, "label": None, "activation": self.oip_activation,
                "node_x": None if self.node is None else self.node[0],
                "node_y": None if self.node is None else self.node[1]}]
        return oip + images + patches

    def summary(self) -> dict[str, Any]:
        return {"layer": self.layer, "map": self.map, "node": list(self.node) if self.node else None,
                "oip_activation": self.oip_activation, "best_image_activation": float(self.activation[0]),
                "best_image_index": int(self.indices[0]), "ratio": _finite(self.ratio),
                "oip_node_activation": self.oip_node_activation,
                "best_patch_activation": float(self.patch_activation[0]), "patch_ratio": _finite(self.patch_ratio),
                "top_indices": [int(i) for i in self.indices], "top_labels": [int(v) for v in self.labels]}


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
    layer_b: str | None = None  # B's layer, when it has another name

    @property
    def matched(self) -> np.ndarray:
        """(n,) correlation of each matched pair."""
        return self.correlation[self.a, self.b]

    @property
    def order(self) -> np.ndarray:
        """Positions of the pairs, best match first."""
        return np.argsort(-self.matched, kind="stable")

    def partner(self, map_a: int) -> int | None:
        """B's map matched to A's map ``map_a`` (None: unmatched)."""
        hits = np.flatnonzero(self.a == map_a)
        return int(self.b[hits[0]]) if len(hits) else None

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
        return {"layer": self.layer, "layer_b": self.layer_b or self.layer, "maps_a": int(self.correlation.shape[0]),
                "maps_b": int(self.correlation.shape[1]), "pairs": len(self.a),
                "mean_matched_correlation": float(self.matched.mean()) if len(self.a) else None,
                "median_matched_correlation": float(np.median(self.matched)) if len(self.a) else None,
                "close_threshold": self.close, "close_fraction": self.close_fraction,
                "same_index_fraction": self.same_index_fraction, "order_correlation": self.order_correlation,
                "silent_a": [int(i) for i in self.silent_a], "silent_b": [int(i) for i in self.silent_b],
                "stopped": self.stopped}


@dataclass(frozen=True)
class Comparison:
    """Two models' maps matched (:class:`Matching`), with each map's best OIP in each model."""

    matching: Matching
    oip_a: np.ndarray  # (maps_a, *image shape) standardized
    oip_b: np.ndarray  # (maps_b, *image shape)
    activation_a: np.ndarray  # (maps_a,) what each OIP reaches
    activation_b: np.ndarray

    @property
    def stopped(self) -> bool:
        return self.matching.stopped

    def pair_images(self) -> np.ndarray:
        """(2 × pairs, *image shape): A's OIP, then its partner's, best match first."""
        m = self.matching
        return np.stack([img for i in m.order for img in (self.oip_a[m.a[i]], self.oip_b[m.b[i]])])

    def rows(self) -> list[dict[str, Any]]:
        return self.matching.rows()

    def summary(self) -> dict[str, Any]:
        return self.matching.summary()


@dataclass(frozen=True)
class DensePatterns:
    """How a hidden dense layer (and the last layer of maps) respond to each class of the test set."""

    dense_layer: str
    conv_layer: str
    class_means: np.ndarray  # (classes, units) mean activation of the dense layer per true class
    conv_class_means: np.ndarray  # (classes, h, w, maps) mean of the last layer of maps per true class
    similarity: np.ndarray  # (classes, classes) cosine similarity between class means
    confusion: np.ndarray  # (classes, classes) counts, rows = true class, columns = predicted
    dense: np.ndarray  # (N, units) the dense layer's activation of every test image
    predicted: np.ndarray  # (N,) predicted class
    probabilities: np.ndarray  # (N, classes)
    labels: np.ndarray  # (N,) true class

    @property
    def accuracy(self) -> float:
        return float((self.predicted == self.labels).mean())

    def image_vs_class(self, index: int) -> dict[str, np.ndarray]:
        """Dense pattern of test image ``index`` beside the means of its true and predicted classes."""
        if not 0 <= index < len(self.labels):
            raise ValueError(f"index must be in 0..{len(self.labels) - 1}. Received: index={index}")
        return {"image": self.dense[index], "true_mean": self.class_means[self.labels[index]],
                "predicted_mean": self.class_means[self.predicted[index]]}

    def confused(self, true: int, predicted: int) -> np.ndarray:
        """Indices of the test images of class ``true`` predicted as ``predicted``."""
        return np.flatnonzero((self.labels == true) & (self.predicted == predicted))


@dataclass(frozen=True)
class Attribution:
    method: str
    layer: str | None  # Grad-CAM's layer of maps; None for the gradient methods
    cls: int  # the class whose score is explained
    predicted: int
    probabilities: np.ndarray  # (classes,)
    map: np.ndarray  # (H, W) float >= 0, in the image's pixels
    grid: np.ndarray  # Grad-CAM on the layer's own grid (h, w) before resizing; ``map`` for the others

    def to_dict(self) -> dict:
        return {"method": self.method, "layer": self.layer, "class": self.cls, "predicted": self.predicted,
                "probability": float(self.probabilities[self.cls])}


@dataclass(frozen=True)
class SanityCheck:
    """The cascading randomisation test of one attribution method (cnnviz.sanity): per step (0 = the trained
    model, then the weighted layers re-initialised from the top down, one more each step) and per image, how alike
    the map is to the trained model's, raw and image-specific (Spearman)."""

    method: str
    layer: str | None  # Grad-CAM's layer
    steps: list[str]  # "original", then the layer randomised last at each step
    raw: np.ndarray  # (steps, images)
    specific: np.ndarray  # (steps, images)
    seconds: float
    stopped: bool = False

    @staticmethod
    def _interval(values: np.ndarray) -> tuple[float, float]:
        """Bootstrap 95 % interval of the mean over images."""
        from .stats import bootstrap_ci

        return bootstrap_ci(lambda idx: float(values[idx].mean()), len(values), rounds=500)

    def rows(self) -> list[dict[str, Any]]:
        out = []
        for k, step in enumerate(self.steps):
            rlo, rhi = self._interval(self.raw[k])
            slo, shi = self._interval(self.specific[k])
            out.append({"method": self.method, "step": k, "randomised_down_to": step,
                        "raw_spearman": float(self.raw[k].mean()), "raw_ci95": [rlo, rhi],
                        "specific_spearman": float(self.specific[k].mean()), "specific_ci95": [slo, shi]})
        return out

    @property
    def passes(self) -> bool:
        """The image-specific similarity after full randomisation is below 0.2: the maps depend on the weights."""
        return bool(not self.stopped and float(self.specific[-1].mean()) < 0.2)

    def summary(self) -> dict[str, Any]:
        return {"method": self.method, "layer": self.layer, "images": int(self.raw.shape[1]),
                "seconds": round(self.seconds, 1), "stopped": self.stopped, "passes": self.passes,
                "final_specific_spearman": float(self.specific[-1].mean()),
                "final_raw_spearman": float(self.raw[-1].mean()), "steps": self.rows()}


@dataclass(frozen=True)
class Circuit:
    """The incoming units of one unit, by measured contribution, and the ablation check (cnnviz.circuits)."""

    layer: str
    unit: int
    incoming_layer: str  # the layer whose units feed it
    through: list[str]  # layers between that keep the units (pooling, flatten, ...)
    contribution: np.ndarray  # (incoming,) drop of the unit's mean on its exemplars when one is zeroed, / the mean
    base: float  # the unit's mean activation on its exemplars
    k: int
    top_drop: float  # zeroing the top k by contribution, as a fraction of base
    random_drops: np.ndarray  # (sets,) zeroing k random incoming units
    kernels: np.ndarray | None  # (incoming, kh, kw) weights to the unit, or None
    exemplars: np.ndarray  # test indices of the unit's strongest images
    weight_drop: float | None = None  # zeroing the k incoming units with the largest kernel norms, for comparison
    stopped: bool = False
    oip_unit: np.ndarray | None = None  # (*image shape) the unit's OIP (cnnviz.circuits.circuit_oips)
    oip_incoming: np.ndarray | None = None  # (n, *image shape) the OIPs of the n strongest incoming units

    @property
    def order(self) -> np.ndarray:
        """Incoming units by the size of their contribution, strongest first."""
        return np.argsort(-np.abs(self.contribution), kind="stable")

    def incoming(self, n: int | None = None) -> list[dict[str, Any]]:
        return [{"layer": self.incoming_layer, "map": int(i), "contribution": float(self.contribution[i]),
                 "sign": "excitatory" if self.contribution[i] >= 0 else "inhibitory",
                 "kernel_norm": None if self.kernels is None else float(np.linalg.norm(self.kernels[i]))}
                for i in self.order[:n]]

    def rows(self) -> list[dict[str, Any]]:
        return [{"layer": self.layer, "unit": self.unit, "incoming_layer": self.incoming_layer, **{
            k: v for k, v in r.items() if k != "layer"}} for r in self.incoming()]

    def summary(self) -> dict[str, Any]:
        return {"layer": self.layer, "unit": self.unit, "incoming_layer": self.incoming_layer,
                "through": self.through, "exemplars": len(self.exemplars), "mean_activation": self.base,
                f"top{self.k}_drop": self.top_drop, f"random{self.k}_drop": float(self.random_drops.mean()),
                f"largest_kernels{self.k}_drop": self.weight_drop,
                "random_drop_ci95": [float(v) for v in np.percentile(self.random_drops, [2.5, 97.5])],
                "incoming": self.incoming()}


@dataclass(frozen=True)
class Dissection:
    """Each unit of a layer scored against every concept (cnnviz.dissect): IoU, its interval and two baselines."""

    layer: str
    concepts: list[str]
    iou: np.ndarray  # (units, concepts)
    iou_ci95: np.ndarray  # (units, concepts, 2) bootstrap over images
    rotation: np.ndarray  # (concepts,) 95th percentile of the IoU over the units of randomly rotated bases
    shuffled: np.ndarray  # (units, concepts) the IoU with the images' concepts shuffled among the images
    images: int
    seconds: float
    stopped: bool = False
    # layers of maps: per unit, the test images where its region is largest, the region and its best concept there
    example_indices: np.ndarray | None = None  # (units, k)
    example_images: np.ndarray | None = None  # (units, k, H, W[, C]) uint8
    example_regions: np.ndarray | None = None  # (units, k, H, W) bool
    example_concepts: np.ndarray | None = None  # (units, k, H, W) bool

    @property
    def best(self) -> np.ndarray:
        """(units,) each unit's concept with the highest IoU among those that score higher than with the images'
        concepts shuffled (a position, the same on every image, never does); the plain highest where none does."""
        specific = np.where(self.iou > self.shuffled, self.iou, -1.0)
        return np.where(specific.max(1) >= 0, specific.argmax(1), self.iou.argmax(1))

    @property
    def labelled(self) -> np.ndarray:
        """(units,) whether the best concept clearly beats both baselines: the lower end of its interval lies above
        the rotated bases' 95th percentile and the shuffled score."""
        u, b = np.arange(len(self.iou)), self.best
        return (self.iou_ci95[u, b, 0] > self.rotation[b]) & (self.iou_ci95[u, b, 0] > self.shuffled[u, b])

    def rows(self) -> list[dict[str, Any]]:
        labelled = self.labelled
        return [{"layer": self.layer, "unit": u, "concept": self.concepts[c], "iou": float(self.iou[u, c]),
                 "iou_ci95": [float(v) for v in self.iou_ci95[u, c]], "rotation_baseline": float(self.rotation[c]),
                 "shuffled_baseline": float(self.shuffled[u, c]), "labelled": bool(labelled[u])}
                for u, c in enumerate(self.best)]

    @property
    def label_counts(self) -> dict[str, int]:
        """How many units carry each label, the most frequent first."""
        counts: dict[str, int] = {}
        for u, c in enumerate(self.best):
            if self.labelled[u]:
                counts[self.concepts[c]] = counts.get(self.concepts[c], 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: -kv[1]))

    def summary(self) -> dict[str, Any]:
        return {"layer": self.layer, "units": len(self.iou), "images": self.images, "seconds": round(self.seconds, 1),
                "labelled": int(self.labelled.sum()), "labels": self.label_counts, "per_unit": self.rows()}


@dataclass(frozen=True)
class Timeline:
    """Maps of a layer at every snapshot of a training, from the same noises (cnnviz.timeline)."""

    layer: str
    maps: list[int]
    epochs: list[float]  # per snapshot (0: untrained; ints, or points in the first epoch: 0.25)
    checkpoints: list[str]  # the snapshot files (weights: load the model, then these)
    accuracy: list[float]  # test accuracy per snapshot
    images: np.ndarray  # (snapshots, maps, searches, *image shape) OIPs
    activation: np.ndarray  # (snapshots, maps, searches) objective reached
    start: np.ndarray  # (snapshots, maps, searches) objective on the start noise
    correlation: np.ndarray  # (snapshots, maps, searches) with the same search's OIP at the last snapshot
    dead_share: np.ndarray  # (snapshots,) the layer's searches dead at the start (every map, a few noises)
    top_indices: np.ndarray  # (snapshots, maps, k) test images with the highest map means
    seconds: float
    stopped: bool = False

    @classmethod
    def empty(cls, layer: str, maps: list[int], seconds: float) -> Timeline:
        z = np.zeros((0, len(maps), 0))
        return cls(layer, maps, [], [], [], np.zeros((0, len(maps), 0, 28, 28)), z, z, z, np.zeros(0),
                   np.zeros((0, len(maps), 0), np.int64), seconds, True)

    @property
    def mean_correlation(self) -> np.ndarray:
        """(snapshots,) correlation with the final OIPs, the mean over maps and searches."""
        return self.correlation.mean(axis=(1, 2))

    @property
    def formed_at(self) -> list[float | None]:
        """Per map, the first epoch whose OIPs correlate with the final ones at 0.8 or more (mean over searches)."""
        per_map = self.correlation.mean(2)  # (snapshots, maps)
        return [next((self.epochs[k] for k in range(len(self.epochs)) if per_map[k, i] >= 0.8), None)
                for i in range(len(self.maps))]

    def rows(self) -> list[dict[str, Any]]:
        return [{"layer": self.layer, "epoch": e, "map": mp, "activation": float(self.activation[k, i].mean()),
                 "correlation_with_final": float(self.correlation[k, i].mean()),
                 "dead_at_start": float((self.start[k, i] <= DEAD).mean())}
                for k, e in enumerate(self.epochs) for i, mp in enumerate(self.maps)]

    def summary(self) -> dict[str, Any]:
        formed = self.formed_at
        return {"layer": self.layer, "seconds": round(self.seconds, 1), "stopped": self.stopped,
                "formed_at": {str(mp): f for mp, f in zip(self.maps, formed)},
                "epochs": [{"epoch": e, "checkpoint": self.checkpoints[k], "accuracy": self.accuracy[k],
                            "dead_share": float(self.dead_share[k]),
                            "mean_correlation_with_final": float(self.mean_correlation[k]),
                            "maps": [{"map": mp, "activation": float(self.activation[k, i].mean()),
                                      "correlation_with_final": float(self.correlation[k, i].mean()),
                                      "dead_at_start": float((self.start[k, i] <= DEAD).mean()),
                                      "top_test_images": self.top_indices[k, i].tolist()}
                                     for i, mp in enumerate(self.maps)]}
                           for k, e in enumerate(self.epochs)]}


@dataclass(frozen=True)
class TrainProgress:
    """One report from a running training (batch-level, and at each epoch's end)."""

    epoch: int  # 1-based
    epochs: int
    batch: int  # 1-based within the epoch; == batches at the epoch's end
    batches: int
    loss: float
    accuracy: float
    learning_rate: float
    val_loss: float | None = None  # set only at an epoch's end
    val_accuracy: float | None = None
    epoch_end: bool = False


@dataclass(frozen=True)
class TrainResult:
    """What a training run left behind."""

    path: Path | None  # the saved model, None if stopped before the end
    metadata: dict[str, Any]
    stopped: bool
    epochs_completed: int
    history: list[dict[str, float]] = field(default_factory=list)


@dataclass(frozen=True)
class Concept:
    """A unit's best concept in the dissection of its layer (cnnviz.dissect), with its interval and whether it
    clearly beats both null baselines."""

    name: str
    iou: float
    ci95: tuple[float, float]
    labelled: bool

    def __str__(self) -> str:
        verdict = "clears both baselines" if self.labelled else "does not clear its baselines: no label"
        return f"{self.name}: IoU {self.iou:.3f} {interval_text(*self.ci95, '.3f')}, {verdict}"


@dataclass(frozen=True)
class Dossier:
    """Everything cnnviz measures about one unit (cnnviz.dossier): its OIPs in every setting with their
    reproducibility, its exemplars, its class selectivity, its dead-at-start rates, where it is active; and,
    where they exist, its concept, its incoming circuit and its training timeline. ``facts()`` is the one text
    of its numbers, shown alike by the unit page and the card."""

    model: str
    layer: str
    role: str  # "map", "dense" or "output"
    index: int
    units: int  # of the layer
    name: str  # "map 13", "unit 5", "class seven"
    settings: list[str]  # per setting of the OIPs: "pixel noise λ=1", "lowpass λ=4"…
    wavelengths: list[float]  # of the dead-at-start rates
    oips: np.ndarray  # (settings, seeds, *image shape) float16
    ends: np.ndarray  # (settings, seeds) objective reached
    setting_scores: np.ndarray  # (settings,) reproducibility within each setting (NaN with one seed)
    score: float  # over every OIP of the unit
    score_ci95: tuple[float, float]
    frames: np.ndarray  # (frames, *image shape) float16: the evolution of the strongest OIP
    best: tuple[int, int]  # its (setting, seed)
    dead: list[Rate] | None  # per wavelength, low-pass noise; None for classes (scores before the softmax)
    top_indices: np.ndarray  # (k,) the test images that drive it hardest
    top_values: np.ndarray
    top_images: np.ndarray  # (k, *image shape) uint8
    bottom_indices: np.ndarray  # (k,) the least activating, weakest first
    bottom_values: np.ndarray
    bottom_images: np.ndarray
    labels: np.ndarray  # (k top + k bottom,) their classes
    class_names: list[str]
    class_mean: np.ndarray  # (classes,) mean activation per true class
    class_ci95: np.ndarray  # (classes, 2) normal 95 % interval of each mean
    top_share: np.ndarray  # (classes,) share of its ``top`` strongest test images per class
    top: int
    location: np.ndarray  # maps: (h, w) the mean map over the test images; else (*image shape) mean of the top images
    hottest: tuple[int, int] | None  # maps: the node (x, y) most active on average
    receptive: tuple[int, int] | None  # maps: field side and jump in pixels
    box: tuple[int, int, int, int] | None  # the hottest node's field (y0, y1, x0, x1), inclusive
    patches: np.ndarray | None  # maps: (k, side, side[, C]) uint8 the strongest nodes' fields
    patch_values: np.ndarray | None
    test_images: int
    test_mean: float  # mean activation over all of them
    seconds: float
    concept: Concept | None = None
    circuit: Circuit | None = None
    timeline: Timeline | None = None
    stopped: bool = False
    silent: float | None = None  # share of the test images on which it is exactly zero (None for a class)

    def title(self) -> str:
        return f"{self.model} · {self.layer} {self.name}"

    def facts(self) -> list[tuple[str, str]]:
        """(what, value) of every number the dossier shows, as text: the page and the card show these lines."""
        s, k = self.best
        share = int(np.argmax(self.top_share))
        sel = int(np.argmax(self.class_mean))
        lo, hi = (float(v) for v in self.class_ci95[sel])
        searches = self.oips.shape[0] * self.oips.shape[1]
        out = [("Reproducibility", f"{self.score:.2f} {interval_text(*self.score_ci95)} over {searches} "
                                   "OIPs (mean shift-aligned correlation, 95 % bootstrap interval over searches)"),
               ("Strongest OIP", f"{float(self.ends[s, k]):.3g} ({self.settings[s]}, seed {k})"),
               ("Strongest test image", f"{float(self.top_values[0]):.3g} (test image {int(self.top_indices[0])}, "
                                        f"class {self.class_names[int(self.labels[0])]})"),
               ("Mean on the test set", f"{self.test_mean:.3g} over {self.test_images} images"),
               *([("Silent on the test set", f"{100 * self.silent:.1f} % of the images leave it at exactly 0 (the "
                                             "least activating are then any of those)")] if self.silent else []),
               ("Most selective class", f"{self.class_names[sel]}: mean {float(self.class_mean[sel]):.3g} "
                                        f"{interval_text(lo, hi, '.3g')}"),
               (f"Top {self.top} test images", f"{100 * float(self.top_share[share]):.0f} % class "
                                               f"{self.class_names[share]}")]
        if self.dead is None:
            out.append(("Dead at start", "never: a class is scored before the softmax, which no noise closes"))
        else:
            out += [(f"Dead at start, λ={w:g}", str(r)) for w, r in zip(self.wavelengths, self.dead)]
        if self.receptive is not None and self.hottest is not None and self.box is not None:
            y0, y1, x0, x1 = self.box
            out += [("Receptive field", f"{self.receptive[0]}×{self.receptive[0]} pixels, nodes {self.receptive[1]} "
                                        f"pixel{'s' * (self.receptive[1] != 1)} apart"),
                    ("Most active on average", f"node ({self.hottest[0]}, {self.hottest[1]}): pixels x {x0}–{x1}, "
                                               f"y {y0}–{y1}")]
        else:
            out.append(("Receptive field", "the whole image"))
        if self.concept is not None:
            out.append(("Concept", str(self.concept)))
        if self.circuit is not None:
            strongest = ", ".join(f"{r['layer']} {r['map']} ({100 * r['contribution']:+.0f} %)"
                                  for r in self.circuit.incoming(3))
            out.append(("Incoming circuit", f"{strongest}; zeroing the top {self.circuit.k}: "
                                            f"{-100 * self.circuit.top_drop:+.0f} %, {self.circuit.k} random: "
                                            f"{-100 * float(self.circuit.random_drops.mean()):+.0f} %"))
        if self.timeline is not None and len(self.timeline.epochs):
            formed = self.timeline.formed_at[0]
            out.append(("Training timeline", ("formed at epoch " + f"{formed:g}" if formed is not None else
                                              "not formed before the last snapshot") +
                        " (its OIP correlates ≥ 0.8 with the final one); correlation by epoch " +
                        ", ".join(f"{e:g}: {float(c):.2f}" for e, c in
                                  zip(self.timeline.epochs, self.timeline.correlation[:, 0].mean(-1)))))
        return out

    def rows(self) -> list[dict[str, Any]]:
        return [{"model": self.model, "layer": self.layer, "unit": self.index, "what": a, "value": b}
                for a, b in self.facts()]

    def summary(self) -> dict[str, Any]:
        return {"model": self.model, "layer": self.layer, "role": self.role, "index": self.index, "name": self.name,
                "seconds": round(self.seconds, 1), "stopped": self.stopped,
                "reproducibility": {"score": _finite(self.score),
                                    "ci95": [_finite(v) for v in self.score_ci95],
                                    "per_setting": {n: _finite(float(v))
                                                    for n, v in zip(self.settings, self.setting_scores)}},
                "oip_activation": {n: [float(v) for v in e] for n, e in zip(self.settings, self.ends)},
                "dead_at_start": None if self.dead is None else
                {f"{w:g}": {"rate": r.value, "ci95": list(r.interval), "n": r.n}
                 for w, r in zip(self.wavelengths, self.dead)},
                "top": [{"test_index": int(i), "activation": float(v), "class": self.class_names[int(c)]}
                        for i, v, c in zip(self.top_indices, self.top_values, self.labels[:len(self.top_indices)])],
                "bottom": [{"test_index": int(i), "activation": float(v), "class": self.class_names[int(c)]}
                           for i, v, c in zip(self.bottom_indices, self.bottom_values,
                                              self.labels[len(self.top_indices):])],
                "class_mean": {n: {"mean": float(v), "ci95": [float(a), float(b)]}
                               for n, v, (a, b) in zip(self.class_names, self.class_mean, self.class_ci95)},
                f"top{self.top}_share": {n: float(v) for n, v in zip(self.class_names, self.top_share)},
                "facts": dict(self.facts())}


@dataclass(frozen=True)
class AtlasReport:
    """What ``cnnviz atlas`` wrote (cnnviz.atlas): the folder, its unit pages per layer, and where the time went."""

    folder: Path
    model: str
    layers: dict[str, int]  # layer -> units written
    pages: int  # unit pages (the index not counted)
    bytes: int  # the whole folder
    searches_seconds: float
    exemplars_seconds: float  # passes over the test images and noises, the scores
    writing_seconds: float
    image_steps: int  # of the searches
    stopped: bool = False

    @property
    def seconds(self) -> float:
        return self.searches_seconds + self.exemplars_seconds + self.writing_seconds

    def summary(self) -> dict[str, Any]:
        return {"folder": str(self.folder), "model": self.model, "layers": self.layers, "pages": self.pages,
                "bytes": self.bytes, "seconds": round(self.seconds, 1),
                "searches_seconds": round(self.searches_seconds, 1),
                "exemplars_seconds": round(self.exemplars_seconds, 1),
                "writing_seconds": round(self.writing_seconds, 1), "image_steps": self.image_steps,
                "search_image_steps_per_s": round(self.image_steps / max(self.searches_seconds, 1e-9)),
                "stopped": self.stopped}

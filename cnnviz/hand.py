"""The "Hand of MNIST": the map whose OIP is best defined, chosen so that it holds across settings.

One setting's most reproducible map depends on the noise, the wavelength and the method, and the
top scores lie close together. So every map is ranked by its reproducibility score in each
setting (noise family × wavelength × the seed's method or the redirected ReLU), and the candidate
is the map with the best worst-case rank (ties: the best mean rank).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .model import LoadedModel
from .oip import BatchProgress, OIPConfig
from .reproducibility import reproducibility


@dataclass(frozen=True)
class HandOfMnist:
    layer: str
    maps: list[int]
    settings: list[str]  # "lowpass λ=4 seed's method", …
    scores: np.ndarray  # (settings, maps)
    score_ci95: np.ndarray  # (settings, maps, 2)
    images: np.ndarray  # (settings, maps, *image shape) each map's best OIP in each setting
    seconds: float
    stopped: bool = False

    @property
    def ranks(self) -> np.ndarray:
        """(settings, maps) rank of each map's score in each setting, 1 = most reproducible."""
        order = np.argsort(-self.scores, axis=1, kind="stable")
        ranks = np.empty_like(order)
        rows = np.arange(len(self.settings))[:, None]
        ranks[rows, order] = np.arange(1, len(self.maps) + 1)[None, :]
        return ranks

    @property
    def candidate(self) -> int:
        """Position in ``maps`` of the map with the best worst-case rank (then the best mean rank)."""
        r = self.ranks
        return int(np.lexsort((r.mean(0), r.max(0)))[0])

    def rows(self) -> list[dict[str, Any]]:
        r = self.ranks
        return [{"layer": self.layer, "map": m, "worst_rank": int(r[:, i].max()), "mean_rank": float(r[:, i].mean()),
                 "times_first": int((r[:, i] == 1).sum()), "mean_score": float(self.scores[:, i].mean())}
                for i, m in enumerate(self.maps)]

    def summary(self) -> dict[str, Any]:
        if not len(self.maps):
            return {"layer": self.layer, "stopped": self.stopped}
        c, r = self.candidate, self.ranks
        by_worst = np.lexsort((r.mean(0), r.max(0)))
        return {"layer": self.layer, "settings": self.settings, "seconds": round(self.seconds, 1),
                "candidate": self.maps[c], "candidate_worst_rank": int(r[:, c].max()),
                "candidate_mean_rank": float(r[:, c].mean()), "candidate_first_in": int((r[:, c] == 1).sum()),
                "candidate_per_setting": [{"setting": s, "rank": int(r[k, c]), "score": float(self.scores[k, c]),
                                           "score_ci95": [float(v) for v in self.score_ci95[k, c]],
                                           "first": self.maps[int(np.argmin(r[k]))]}
                                          for k, s in enumerate(self.settings)],
                "runners_up": [{"map": self.maps[i], "worst_rank": int(r[:, i].max()), "mean_rank": float(r[:, i].mean())}
                               for i in by_worst[1:4]],
                "first_per_setting": sorted({self.maps[int(np.argmin(row))] for row in r})}


def hand_of_mnist(m: LoadedModel, layer: str | None = None, *, noises: Sequence[str] = ("lowpass", "bandpass", "mix"),
                  wavelengths: Sequence[float] = (1, 4, 14), redirect: Sequence[int] = (0, 20), seeds: int = 4,
                  config: OIPConfig = OIPConfig(), on_progress: Callable[[BatchProgress], None] | None = None,
                  should_stop: Callable[[], bool] | None = None) -> HandOfMnist:
    """Reproducibility of every map of ``layer`` in every setting, and the map that ranks well in all."""
    layer = layer or m.spatial_layers[-1]
    # λ = 1 is pixel noise in every family: one setting, not one per family
    settings = [(n, float(w), int(r)) for n in noises for w in wavelengths for r in redirect
                if float(w) > 1 or n == noises[0]]
    labels = [f"{n} λ={w:g} {'redirected' if r else 'seed method'}" for n, w, r in settings]
    t0 = time.perf_counter()
    scores, cis, images, maps = [], [], [], []
    for k, (noise, w, r) in enumerate(settings):
        def progress(p, k=k) -> None:
            if on_progress is not None:
                on_progress(BatchProgress((k + p.fraction) / len(settings), f"{labels[k]}: {p.stage}"))

        rep = reproducibility(m, layer, seeds=seeds, wavelengths=(w,), config=replace(config, redirect_steps=r),
                              noise=noise, on_progress=progress, should_stop=should_stop)
        if rep.stopped:
            return HandOfMnist(layer, [], labels, np.zeros((0, 0)), np.zeros((0, 0, 2)), np.zeros((0, 0, *m.image_shape)),
                               time.perf_counter() - t0, True)
        maps = rep.maps
        scores.append(rep.score)
        cis.append(rep.score_ci95)
        images.append(rep.best_images)
    return HandOfMnist(layer, maps, labels, np.stack(scores), np.stack(cis), np.stack(images),
                       time.perf_counter() - t0)

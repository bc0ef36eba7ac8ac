"""The "Hand of MNIST": the map whose OIP is best defined, chosen so that it holds across settings.

One setting's most reproducible map depends on the noise, the wavelength and the method, and the
top scores lie close together. So every map is ranked by its reproducibility score in each
setting (noise family × wavelength × the seed's method or the redirected ReLU), and the candidate
is the map with the best worst-case rank (ties: the best mean rank).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from .model import LoadedModel
from .noise import FAMILIES
from .reproducibility import reproducibility
from .results import HandOfMnist
from .search import Searches, Watch


def hand_of_mnist(m: LoadedModel, layer: str | None = None, searches: Searches = Searches((1, 4, 14), seeds=4), *,
                  noises: Sequence[str] = FAMILIES, redirect: Sequence[int] = (0, 20),
                  watch: Watch = Watch()) -> HandOfMnist:
    """Reproducibility of every map of ``layer`` in every setting (each noise family of ``noises`` × each of
    ``searches.wavelengths`` × the seed's method and the redirected ReLU), and the map that ranks well in all."""
    layer = layer or m.spatial_layers[-1]
    # λ = 1 is pixel noise in every family: one setting, not one per family
    settings = [(n, float(w), int(r)) for n in noises for w in searches.wavelengths for r in redirect
                if float(w) > 1 or n == noises[0]]
    labels = [f"{n} λ={w:g} {'redirected' if r else 'seed method'}" for n, w, r in settings]
    t0 = time.perf_counter()
    scores, cis, images, maps = [], [], [], []
    for k, (noise, w, r) in enumerate(settings):
        plan = replace(searches, wavelengths=(w,), noise=noise, config=replace(searches.config, redirect_steps=r))
        rep = reproducibility(m, layer, plan, watch=watch.part(k / len(settings), (k + 1) / len(settings),
                                                               f"{labels[k]}: "))
        if rep.stopped:
            return HandOfMnist(layer, [], labels, np.zeros((0, 0)), np.zeros((0, 0, 2)), np.zeros((0, 0, *m.image_shape)),
                               time.perf_counter() - t0, True)
        maps = rep.maps
        scores.append(rep.score)
        cis.append(rep.score_ci95)
        images.append(rep.best_images)
    return HandOfMnist(layer, maps, labels, np.stack(scores), np.stack(cis), np.stack(images),
                       time.perf_counter() - t0)

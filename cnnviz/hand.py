"""The "Hand of MNIST": the map whose OIP is best defined, chosen on one set of searches and scored on another.

One setting's most reproducible map depends on the noise and the wavelength, and the top scores lie
closer together than a score from a few searches can tell apart. So the searches of every setting
(noise family × wavelength; λ = 1 is pixel noise in every family, so it is one setting) are split
into disjoint blocks of seeds:

- in each *selection* block every map is scored in every setting, and the block picks the map with
  the best mean score over the settings (the earlier criterion, the best worst-case rank, rests on an
  extreme over settings and picked different maps on fresh noises; it is still reported, not used);
- the *pick frequency* of a map is the share of selection blocks that pick it; the candidate is the
  most frequent pick, and it is *stable* when more than half of the blocks pick it;
- the candidate's score is reported from the *held-out* block, which took no part in choosing it,
  with a bootstrap interval over that block's searches.

One ascent method runs for every setting (by default the redirected ReLU, which equals the seed's
method for maps that noise never leaves dead, so running both would repeat most settings).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from .activations import layer_output
from .model import LoadedModel
from .noise import FAMILIES
from .reproducibility import reproducibility
from .results import MIN_SEARCHES_FOR_INTERVAL, HandOfMnist
from .search import SELECTION_BLOCKS, Searches, Watch, hand_settings, setting_label
from .stats import bootstrap_scores

TOP_IMAGES = 9  # test images shown per map, so that a "7 detector" is visible as one


def hand_of_mnist(m: LoadedModel, layer: str | None = None,
                  searches: Searches = Searches((1, 4, 14), seeds=16), *,
                  noises: Sequence[str] = FAMILIES, blocks: int = SELECTION_BLOCKS,
                  test: tuple[np.ndarray, np.ndarray] | None = None, maps: str | Sequence[int] | None = None,
                  watch: Watch = Watch()) -> HandOfMnist:
    """The Hand of MNIST of ``layer`` (see the module's text).

    Args:
        searches: ``seeds`` searches per map, setting and block, from ``first_seed`` on: block b uses seeds
            first_seed + b·seeds …; ``wavelengths``, the ascent ``config``; its ``noise`` is ignored (``noises``).
        blocks: selection blocks; one held-out block more is run.
        test: (uint8 images, labels) of the test set, for each map's top images; None: none.
        maps: only these maps (tests); default every map.
    """
    layer = layer or m.spatial_layers[-1]
    if not 1 <= int(blocks) <= 16:
        raise ValueError(f"blocks must be in 1..16. Received: blocks={blocks}")
    if searches.seeds < MIN_SEARCHES_FOR_INTERVAL:
        raise ValueError(f"The Hand of MNIST needs at least {MIN_SEARCHES_FOR_INTERVAL} searches per map, setting "
                         f"and block (16 or more for picks that replicate). Received: seeds={searches.seeds}")
    if not noises or any(n not in FAMILIES for n in noises):
        raise ValueError(f"noises must be some of {list(FAMILIES)}. Received: noises={list(noises)}")
    settings = hand_settings(noises, searches.wavelengths)
    labels = [setting_label(n, w) for n, w in settings]
    runs = len(settings) * (blocks + 1)
    t0 = time.perf_counter()
    scores: list[np.ndarray] = []
    heldout_corr, images, map_ids = [], [], []
    for k, (noise, w) in enumerate(settings):
        for b in range(blocks + 1):
            plan = replace(searches, wavelengths=(w,), noise=noise,
                           first_seed=searches.first_seed + b * searches.seeds)
            part = k * (blocks + 1) + b
            block = "held-out block" if b == blocks else f"block {b + 1}/{blocks}"
            rep = reproducibility(m, layer, plan, maps=maps, watch=watch.part(0.95 * part / runs,
                                  0.95 * (part + 1) / runs, f"{labels[k]}, {block}: "))
            if rep.stopped:
                return HandOfMnist.empty(layer, labels, time.perf_counter() - t0)
            map_ids = rep.maps
            scores.append(rep.score)
            if b == blocks:
                assert rep.correlations is not None  # reproducibility() always sets them
                heldout_corr.append(rep.correlations)
                images.append(rep.best_images)
    block_scores = np.stack(scores).reshape(len(settings), blocks + 1, len(map_ids)).transpose(1, 0, 2)
    reps = bootstrap_scores(np.stack(heldout_corr))  # (settings, maps, rounds)
    with np.errstate(invalid="ignore"):
        setting_ci = np.stack(np.nanpercentile(reps, [2.5, 97.5], axis=-1), -1)
        overall_ci = np.stack(np.nanpercentile(reps.mean(0), [2.5, 97.5], axis=-1), -1)
    top_idx, top_lab, top_img = _top_images(m, layer, map_ids, test, watch)
    return HandOfMnist(layer, list(map_ids), labels, searches.config.method, searches.seeds, searches.first_seed,
                       block_scores, overall_ci, setting_ci, np.stack(images), top_idx, top_lab, top_img,
                       time.perf_counter() - t0)


def _top_images(m: LoadedModel, layer: str, map_ids: list[int], test: tuple[np.ndarray, np.ndarray] | None,
                watch: Watch) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(maps, k) test indices and labels of the images with the highest map means, and the images."""
    if test is None:
        return np.zeros((len(map_ids), 0), np.int64), np.zeros((len(map_ids), 0), np.int64), \
            np.zeros((len(map_ids), 0, *m.image_shape), np.uint8)
    images, labels = np.asarray(test[0]), np.asarray(test[1])
    means = np.zeros((len(images), len(map_ids)), np.float32)
    for start, acts in layer_output(m, layer, m.standardization.apply(images)):
        means[start:start + len(acts)] = acts[..., map_ids].mean(axis=(1, 2))
        watch.report(0.95 + 0.05 * (start + len(acts)) / len(images), "each map's top test images")
    top = np.argsort(-means, axis=0, kind="stable")[:TOP_IMAGES].T  # (maps, k)
    return top, labels[top].astype(np.int64), images[top].astype(np.uint8)


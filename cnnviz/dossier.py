"""A unit's dossier: its OIPs in every setting with their reproducibility, its exemplars, its class selectivity,
its dead-at-start rates and where it is active, measured together; for all the units of a layer at once (the
atlas) in a few large batched searches and one pass over the test images.

The searches of a layer run as equal batches (the last one padded with repeats), so one compiled ascent serves
them all; each search's result depends only on itself, as in :func:`cnnviz.oip.run_oip`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from .model import LoadedModel
from .oip import initial_images, keeps_in_range, layer_values, run_oip, valid_range
from .results import DEAD, Dossier, Rate
from .search import DossierSettings, OIPItem, OIPProgress, Unit, Watch, setting_label
from .stats import score_interval, shift_correlations

BATCH = 128  # searches per compiled call at most: on the 2-core CPU the default atlas searches in 66 s (77 s at 512)
PASS = 500  # test images per forward pass


def batches(n: int, most: int = BATCH) -> list[tuple[int, int]]:
    """(start, end) of equal batches covering ``n`` (the last may reach past ``n``: padded)."""
    parts = -(-n // most)
    size = -(-n // parts)
    return [(i * size, (i + 1) * size) for i in range(parts)]


def _searches(m: LoadedModel, layer: str, units: Sequence[int], settings: DossierSettings,
              watch: Watch) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """OIPs (U, S, K, *image), ends (U, S, K) and the best search's frames (U, F, *image) of each unit."""
    combos = settings.settings
    items = [OIPItem(layer, u, s, (w,), None, noise) for u in units for noise, w in combos
             for s in range(settings.seeds)]
    per_unit = len(combos) * settings.seeds
    images, ends, frames = [], [], []
    for start, end in batches(len(items)):
        part = items[start:end]
        part = part + [part[-1]] * (end - start - len(part))  # equal batches: one trace serves them all
        sub = watch.part(start / len(items), min(end, len(items)) / len(items), "OIP searches: ")

        def progress(p: OIPProgress, sub: Watch = sub) -> None:
            sub.report(p.step / p.steps, f"step {p.step}/{p.steps}")

        r = run_oip(m, part, settings.config, should_stop=watch.should_stop,
                    on_progress=progress if watch.on_progress else None)
        if r.stopped:
            return np.zeros(0), np.zeros(0), np.zeros(0), True
        images.append(r.images)
        ends.append(r.end_activation)
        frames.append(np.moveaxis(r.frames, 0, 1))  # (B, F, *image)
    n = len(items)
    imgs = np.concatenate(images)[:n].reshape(len(units), len(combos), settings.seeds, *m.image_shape)
    e = np.concatenate(ends)[:n].reshape(len(units), per_unit)
    all_frames = np.concatenate(frames)[:n].reshape(len(units), per_unit, -1, *m.image_shape)
    best = all_frames[np.arange(len(units)), e.argmax(1)]
    return imgs, e.reshape(len(units), len(combos), settings.seeds), best, False


def _dead(m: LoadedModel, layer: str, units: Sequence[int], settings: DossierSettings) -> list[list[Rate]] | None:
    """Per unit and wavelength, the share of low-pass noises on which it is exactly zero (every ReLU closed)."""
    if m.search_layer(layer).role == "output":
        return None
    out = []
    for w in settings.wavelengths:
        noise = initial_images([OIPItem(layer, 0, s, (w,)) for s in range(settings.dead_noises)], m.image_shape)
        if keeps_in_range(m, layer, settings.config):  # as the searches start
            noise = np.clip(noise, *valid_range(m))
        v = layer_values(m, layer, noise)[..., list(units)]
        v = v.reshape(len(v), -1, len(units)).mean(1)  # a map's mean, or the unit's value
        out.append((v <= DEAD).sum(0))
    return [[Rate(int(d[j]), settings.dead_noises) for d in out] for j in range(len(units))]


def _test_pass(m: LoadedModel, layer: str, units: Sequence[int], x: np.ndarray, watch: Watch):
    """Per test image and unit: its objective (N, U), its strongest node's value (N, U) and where (N, U, 2) (maps
    only), and the mean map (h, w, U) (maps only)."""
    spatial = m.search_layer(layer).spatial
    objective, strongest, where, total = [], [], [], None
    for i in range(0, len(x), PASS):
        a = layer_values(m, layer, x[i:i + PASS])[..., list(units)]
        if spatial:
            n, h, w, u = a.shape
            flat = a.reshape(n, h * w, u)
            arg = flat.argmax(1)
            objective.append(flat.mean(1))
            strongest.append(flat.max(1))
            where.append(np.stack([arg % w, arg // w], -1))
            total = a.sum(0) if total is None else total + a.sum(0)
        else:
            objective.append(a)
        watch.report(min(i + PASS, len(x)) / len(x), f"test images: {min(i + PASS, len(x))}/{len(x)}")
    if not spatial or total is None:
        return np.concatenate(objective), None, None, None
    return np.concatenate(objective), np.concatenate(strongest), np.concatenate(where), total / len(x)


def _class_stats(values: np.ndarray, labels: np.ndarray, classes: int, top: int):
    """Per class: mean, its normal 95 % interval, and the share of the ``top`` strongest images."""
    mean, ci = np.full(classes, np.nan), np.full((classes, 2), np.nan)
    for c in range(classes):
        v = values[labels == c]
        if len(v):
            half = 1.959964 * v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else np.nan
            mean[c], ci[c] = v.mean(), (v.mean() - half, v.mean() + half)
    best = np.argsort(-values, kind="stable")[:top]
    return mean, ci, np.bincount(labels[best], minlength=classes)[:classes] / len(best)


def _reproducibility(oips: np.ndarray, shift: int, rgb: bool) -> tuple[np.ndarray, float, tuple[float, float]]:
    """Per setting and over all of a unit's OIPs (S, K, *image): the mean pairwise shift-aligned correlation."""
    s, k = oips.shape[:2]
    corr = shift_correlations(oips.reshape(s * k, *oips.shape[2:]).astype(np.float32), shift, rgb)
    blocks = [corr[i * k:(i + 1) * k, i * k:(i + 1) * k][np.triu_indices(k, 1)] for i in range(s)]
    per = np.array([b.mean() if len(b) else np.nan for b in blocks])
    lo, hi = score_interval(corr, rounds=500)
    return per, float(corr[np.triu_indices(s * k, 1)].mean()), (float(lo), float(hi))


def layer_dossiers(m: LoadedModel, layer: str, units: Sequence[int], images: np.ndarray, labels: np.ndarray,
                   settings: DossierSettings = DossierSettings(), *, watch: Watch = Watch(),
                   timings: dict[str, float] | None = None) -> list[Dossier]:
    """The dossiers of ``units`` of ``layer`` (maps, dense units or classes), on the test ``images`` (uint8) and
    their ``labels``; an empty list if stopped. ``timings`` (if given) adds up the seconds of the searches and of
    the rest (passes over the test images and noises, the scores) and the searches' image-steps.

    Raises:
        ValueError: a layer no search can drive, a unit out of range, or images of the wrong shape.
    """
    info = m.search_layer(layer)
    units = [int(u) for u in units]
    if not units or not all(0 <= u < info.maps for u in units):
        raise ValueError(f"units must be in 0..{info.maps - 1} for {layer}. Received: {units[:8]}")
    images, labels = np.asarray(images), np.asarray(labels).astype(np.int64)
    if images.shape[1:] != m.image_shape or len(images) != len(labels) or len(images) < settings.top:
        raise ValueError(f"images must be at least {settings.top} of shape {m.image_shape}, one label each. "
                         f"Received: shape={images.shape}, labels={len(labels)}")
    t0 = time.perf_counter()
    oips, ends, frames, stopped = _searches(m, layer, units, settings, watch.part(0, 0.8))
    if stopped:
        return []
    t1 = time.perf_counter()
    x = m.standardization.apply(images)
    objective, strongest, where, mean_map = _test_pass(m, layer, units, x, watch.part(0.8, 0.97))
    dead = _dead(m, layer, units, settings)
    rec, rgb = info.receptive if info.spatial else None, m.input_shape[2] == 3
    names = [setting_label(n, w) for n, w in settings.settings]
    classes = len(m.class_names)
    out = []
    for j, u in enumerate(units):
        per, score, ci = _reproducibility(oips[j], int(info.jump or 1) if info.spatial else 1, rgb)
        v = objective[:, j]
        order = np.argsort(-v, kind="stable")
        top, bottom = order[:settings.k], order[::-1][:settings.k]
        mean, cis, share = _class_stats(v, labels, classes, settings.top)
        best = np.unravel_index(int(ends[j].argmax()), ends[j].shape)
        extra: dict = {"location": images[order[:settings.top]].astype(np.float32).mean(0), "hottest": None,
                       "receptive": None, "box": None, "patches": None, "patch_values": None}
        if rec is not None and mean_map is not None and strongest is not None and where is not None:
            hy, hx = np.unravel_index(int(mean_map[..., j].argmax()), mean_map.shape[:2])
            ptop = np.argsort(-strongest[:, j], kind="stable")[:settings.k]
            patches = np.zeros((settings.k, rec.size, rec.size, *images.shape[3:]), np.uint8)
            for p, i in enumerate(ptop):
                y0, y1, x0, x1 = rec.box(int(where[i, j, 1]), int(where[i, j, 0]), m.input_shape[:2])
                patches[p, :y1 - y0 + 1, :x1 - x0 + 1] = images[i, y0:y1 + 1, x0:x1 + 1]
            extra = {"location": mean_map[..., j], "hottest": (int(hx), int(hy)), "receptive": (rec.size, rec.jump),
                     "box": rec.box(int(hy), int(hx), m.input_shape[:2]), "patches": patches,
                     "patch_values": strongest[ptop, j]}
        unit_name = f"class {m.class_names[u]}" if info.role == "output" else \
            f"{'map' if info.spatial else 'unit'} {u}"
        out.append(Dossier(
            m.name, layer, info.role, u, info.maps, unit_name, names, list(settings.wavelengths),
            oips[j].astype(np.float16), ends[j], per, score, ci, frames[j].astype(np.float16),
            (int(best[0]), int(best[1])), None if dead is None else dead[j], top, v[top], images[top],
            bottom, v[bottom], images[bottom], np.concatenate([labels[top], labels[bottom]]), list(m.class_names),
            mean, cis, share, settings.top, test_images=len(images), test_mean=float(v.mean()),
            silent=None if info.role == "output" else float((v <= DEAD).mean()),
            seconds=time.perf_counter() - t0, **extra))
    if timings is not None:
        for name, value in (("searches", t1 - t0), ("exemplars", time.perf_counter() - t1),
                            ("image_steps", float(np.prod(oips.shape[:3]) * settings.steps))):
            timings[name] = timings.get(name, 0.0) + value
    return out


def dossier(m: LoadedModel, unit: Unit, images: np.ndarray, labels: np.ndarray,
            settings: DossierSettings = DossierSettings(), *, watch: Watch = Watch()) -> Dossier | None:
    """One unit's dossier with what exists about it beyond the layer's batch: its incoming circuit (a unit with
    units below it) and its training timeline (a map of a model trained with a history). None if stopped."""
    found = layer_dossiers(m, unit.layer, [unit.index], images, labels, settings, watch=watch.part(0, 0.7))
    if not found:
        return None
    d = found[0]
    extra: dict = {}
    try:
        from .circuits import circuit, circuit_oips

        extra["circuit"] = circuit_oips(m, circuit(m, unit.layer, unit.index, images))
    except ValueError:  # the first layer reads the image: no units below it
        pass
    watch.report(0.8, "circuit")
    from .history import snapshots

    if m.search_layer(unit.layer).spatial and snapshots(m.path) and not watch.stopped():
        from .search import Searches
        from .timeline import timeline

        t = timeline(m, unit.layer, [unit.index], Searches((4.0,), seeds=2, config=settings.config),
                     images=images, watch=watch.part(0.8, 1.0))
        if not t.stopped:
            extra["timeline"] = replace(t, images=t.images.astype(np.float16))
    return replace(d, seconds=d.seconds, **extra) if extra else d

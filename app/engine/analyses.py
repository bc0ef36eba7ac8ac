"""The Insight analyses as engine jobs: run in an engine process, return an :class:`InsightRun`.

Each analysis takes the checked parameters of the Insight page; the page shows, caches and
exports the result: ``summary`` and ``rows`` (JSON and CSV), plus the analysis's arrays.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .ops import throttled
from .results import InsightRun, StageProgress

ANALYSES = ("sweep", "reproducibility", "exemplars", "compare", "hand")


def _throttled(report: Callable[[StageProgress], None]):
    due = throttled(lambda p: p.fraction >= 1)

    def progress(p) -> None:
        if due(p):
            report(StageProgress(float(p.fraction), p.stage))

    return progress


def _config(p: dict):
    from cnnviz.oip import OIPConfig

    return OIPConfig(steps=int(p["steps"]), redirect_steps=int(p.get("redirect_steps", 20)), frame_every=10)


def run(ops, model: str, analysis: str, params: dict, *, report, should_stop) -> InsightRun:
    """Runs one analysis on a model of the worker; ``ops`` gives models and data sets."""
    if analysis not in ANALYSES:
        raise ValueError(f"analysis must be one of {list(ANALYSES)}. Received: analysis={analysis!r}")
    m = ops.models.get(model)
    progress = _throttled(report)
    cfg = _config(params)
    waves = tuple(float(w) for w in params["wavelengths"])
    noise = str(params.get("noise", "lowpass"))
    f16 = lambda a: np.asarray(a, np.float16)
    if analysis == "sweep":
        from cnnviz.sweep import wavelength_sweep

        r = wavelength_sweep(m, params["layer"], waves, int(params["seeds"]), cfg, noise=noise, on_progress=progress,
                             should_stop=should_stop)
        return _run(analysis, r, {"maps": r.maps,
                "wavelengths": list(r.wavelengths), "mean_activation": r.mean_activation,
                "dead": r.dead.mean(axis=2), "dead_fraction": r.dead_fraction, "images": f16(r.images),
                "best_wavelength": r.best_wavelength})
    if analysis == "reproducibility":
        from cnnviz.reproducibility import reproducibility

        r = reproducibility(m, params["layer"], seeds=int(params["seeds"]), wavelengths=waves, config=cfg, noise=noise,
                            on_progress=progress, should_stop=should_stop)
        return _run(analysis, r, {"maps": r.maps, "labels": r.labels,
                "score": r.score, "activation": r.activation, "spread": r.spread, "images": f16(r.images),
                "order": r.order, "max_shift": r.max_shift})
    if analysis == "hand":
        from cnnviz.hand import hand_of_mnist

        h = hand_of_mnist(m, params["layer"], wavelengths=waves, redirect=(0, cfg.redirect_steps or 20),
                          seeds=int(params["seeds"]), config=cfg, on_progress=progress, should_stop=should_stop)
        return _run(analysis, h, {"maps": h.maps, "settings": h.settings, "scores": h.scores,
                                  "score_ci95": h.score_ci95, "ranks": h.ranks if len(h.maps) else np.zeros((0, 0)),
                                  "candidate": h.candidate if len(h.maps) else None,
                                  "images": f16(h.images[:, h.candidate]) if len(h.maps) else np.zeros((0, *m.image_shape))})
    data = ops.dataset(m.metadata.get("dataset", "mnist"))
    if analysis == "exemplars":
        from cnnviz.exemplars import exemplars

        node = tuple(params["node"]) if params.get("node") else None
        e = exemplars(m, data.x_test, data.y_test, params["layer"], int(params["map"]), node, k=int(params["k"]),
                      seeds=int(params["seeds"]), wavelengths=waves, config=cfg, noise=noise, on_progress=progress,
                      should_stop=should_stop)
        return _run(analysis, e, {"oip": e.oip_image,
                "images": e.images, "indices": e.indices, "labels": e.labels, "activation": e.activation,
                "patches": e.patches, "patch_indices": e.patch_indices, "patch_nodes": e.patch_nodes,
                "patch_activation": e.patch_activation, "class_names": list(m.class_names)})
    return _compare(ops, m, params, data, cfg, waves, noise, progress, should_stop)


def _run(analysis: str, r, data: dict[str, Any]) -> InsightRun:
    return InsightRun(analysis, bool(r.stopped), r.summary(), r.rows(), data)


def _compare(ops, ma, params: dict, data, cfg, waves, noise, progress, should_stop) -> InsightRun:
    """Matching over the test set (first 40 %), then one best OIP per map of each model."""
    from cnnviz.matching import match_maps
    from cnnviz.oip import BatchProgress, items_for, run_many

    mb = ops.models.get(params["model_b"])
    layer = params["layer"]

    def part(lo: float, hi: float):
        return lambda p: progress(BatchProgress(lo + (hi - lo) * p.fraction, p.stage))

    r = match_maps(ma, mb, layer, data.x_test[:int(params["images"])], on_progress=part(0, 0.4),
                   should_stop=should_stop)
    out: dict[str, Any] = {"correlation": r.correlation, "a": r.a, "b": r.b, "matched": r.matched}
    if r.stopped:
        return _run("compare", r, out)
    for name, m, span in (("oip_a", ma, (0.4, 0.7)), ("oip_b", mb, (0.7, 1.0))):
        n = m.spatial_layer(layer).maps
        items = items_for(m, layer, f"0-{n - 1}", seeds=range(int(params["seeds"])), wavelengths=[(w,) for w in waves],
                          noise=noise)
        images, ends, stopped = run_many(m, items, cfg, on_progress=progress, should_stop=should_stop,
                                         stage=f"OIPs of model {name[-1].upper()}", span=span)
        if stopped:
            return InsightRun("compare", True, r.summary(), r.rows(), out)
        per = len(items) // n
        best = ends.reshape(n, per).argmax(1)
        out[name] = np.asarray(images.reshape(n, per, *m.image_shape)[np.arange(n), best], np.float16)
        out[name + "_activation"] = ends.reshape(n, per).max(1)
    return _run("compare", r, out)

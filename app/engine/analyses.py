"""The Insight analyses as engine jobs: an :class:`~app.requests.InsightRequest` in, the engine library's own
result out (:mod:`cnnviz.results`), with arrays in half precision where that halves the cache and the transfer.

Runs only inside an engine process.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from cnnviz.search import BatchProgress, Watch

from ..requests import InsightRequest
from .progress import throttled


def _f16(a: Any) -> np.ndarray:
    return np.asarray(a, np.float16)


def _watch(report: Callable[[BatchProgress], None], should_stop: Callable[[], bool]) -> Watch:
    due = throttled(lambda p: p.fraction >= 1)
    return Watch(lambda p: report(p) if due(p) else None, should_stop)


def run(ops, model: str, request: InsightRequest, *, report, should_stop):
    """Runs one analysis on a model of the engine; ``ops`` gives models and data sets."""
    m = ops.models.get(model)
    watch = _watch(report, should_stop)
    if request.analysis == "sweep":
        from cnnviz.sweep import wavelength_sweep

        r = wavelength_sweep(m, request.layer, request.searches, watch=watch)
        return replace(r, images=_f16(r.images))
    if request.analysis == "reproducibility":
        from cnnviz.reproducibility import reproducibility

        r = reproducibility(m, request.layer, request.searches, watch=watch)
        return replace(r, images=_f16(r.images))
    data = ops.dataset(m.metadata.get("dataset", "mnist"))
    if request.analysis == "hand":
        from cnnviz.hand import hand_of_mnist

        h = hand_of_mnist(m, request.layer, request.searches, test=(data.x_test, data.y_test), watch=watch)
        return replace(h, images=_f16(h.images))
    if request.analysis == "timeline":
        from cnnviz.timeline import timeline

        n = m.spatial_layer(request.layer).maps
        t = timeline(m, request.layer, list(range(n)), request.searches, images=data.x_test, watch=watch)
        return replace(t, images=_f16(t.images))
    if request.analysis == "dissect":
        from cnnviz.dissect import dissect

        return dissect(m, request.layer, data.x_test[:request.images], data.y_test[:request.images], watch=watch)
    if request.analysis == "circuit":
        from cnnviz.circuits import circuit, circuit_oips

        if request.target is None:
            raise ValueError("The circuit needs a map. Received: no target")
        return circuit_oips(m, circuit(m, request.layer, request.target.index, data.x_test, watch=watch))
    if request.analysis == "exemplars":
        from cnnviz.exemplars import exemplars

        if request.target is None:
            raise ValueError("The exemplars need a map. Received: no target")
        return exemplars(m, data.x_test, data.y_test, request.target, k=request.k, searches=request.searches,
                         watch=watch)
    from cnnviz.matching import compare_models

    c = compare_models(m, ops.models.get(request.model_b), request.layer, data.x_test[:request.images],
                       request.searches, layer_b=request.layer_b, watch=watch)
    return replace(c, oip_a=_f16(c.oip_a), oip_b=_f16(c.oip_b))

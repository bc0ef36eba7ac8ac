"""The operations an engine process serves: TensorFlow work on the models of the model folder.

Runs only inside an engine process (``app.engine.server``). Results are the engine library's own types
(``cnnviz.search``, ``cnnviz.results``) or the dashboard's (``app.engine.results``), numpy only, so the web side
reads them without TensorFlow; arrays that only need to be shown travel in half precision.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from cnnviz.config import TrainConfig
from cnnviz.results import Attribution, DensePatterns, Dossier, SanityCheck, TrainResult
from cnnviz.search import Objective, ObjectiveRun, OIPConfig, OIPItem, OIPResult, Watch

from ..requests import InsightRequest, UnitRequest
from .progress import LIVE_ITEMS, throttled
from .results import Activations, AtlasZip, ModelInfo, Stopped

SANITY_IMAGES = 32  # test images of the Maps page's randomisation test


class Models:
    """Loaded models by name, reloaded when the file's content changes."""

    def __init__(self, folder: Path):
        self.folder = folder
        self._lock = threading.Lock()
        self._models: dict[str, Any] = {}

    def get(self, name: str):
        from cnnviz.catalog import model_path
        from cnnviz.model import load_model
        from cnnviz.store import file_sha256

        path = model_path(self.folder, name)
        sha = file_sha256(path)
        with self._lock:  # one build of each model and its sub-models, whatever the threads
            m = self._models.get(name)
            if m is None or m.sha256 != sha:
                m = self._models[name] = load_model(path)
            return m


class Ops:
    def __init__(self, folder: Path, lane: str):
        from cnnviz.device import quiet_tensorflow, setup_device

        quiet_tensorflow()
        self.lane = lane
        self.device = setup_device()
        self.models = Models(folder)
        self._data: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._memo: dict[tuple, Any] = {}

    def dataset(self, name: str):
        from cnnviz.data import load_dataset

        with self._lock:
            if name not in self._data:
                self._data[name] = load_dataset(name)
            return self._data[name]

    def _memoized(self, key: tuple, fn: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._memo:
                return self._memo[key]
        value = fn()
        with self._lock:
            self._memo[key] = value
        return value

    # ---- quick operations

    def health(self) -> dict[str, Any]:
        return {"device": self.device, "gpu": self.device.startswith("GPU"), "lane": self.lane}

    def info(self, model: str) -> ModelInfo:
        m = self.models.get(model)
        convs = [r.name for r in m.layers if r.type == "Conv2D"]
        kernels = (np.asarray(m.keras_model.get_layer(convs[0]).get_weights()[0]) if convs
                   else np.zeros((0, 0, 1, 0), np.float32))
        return ModelInfo(m.name, m.sha256, tuple(m.layers), m.metadata, kernels, self.device, m.input_shape,
                         m.class_names, convs[0] if convs else "")

    def activations(self, model: str, image: np.ndarray) -> Activations:
        from cnnviz.activations import probe
        from cnnviz.images import fit_to

        m = self.models.get(model)
        acts = probe(m).run(m.standardization.apply(fit_to(image, m.image_shape)[None]))
        return Activations({k: v[0] for k, v in acts.items()}, m.output_layer)

    def attribution(self, model: str, image: np.ndarray, method: str, layer: str | None = None,
                    cls: int | None = None) -> Attribution:
        from cnnviz.attribution import attribution
        from cnnviz.images import fit_to

        m = self.models.get(model)
        return attribution(m, fit_to(image, m.image_shape), method, layer=layer, cls=cls)

    def sanity(self, model: str, method: str, layer: str | None = None, images: int = SANITY_IMAGES) -> SanityCheck:
        """The randomisation test of ``method`` on the first test images (memoized per model file)."""
        from cnnviz.sanity import sanity_check

        m = self.models.get(model)
        data = self.dataset(m.metadata.get("dataset", "mnist"))
        n = min(int(images), len(data.x_test))
        return self._memoized(("sanity", m.sha256, method, layer, n),
                              lambda: sanity_check(m, data.x_test[:n], method, layer=layer))

    def class_means(self, model: str, layer: str) -> np.ndarray:
        from cnnviz.activations import class_means

        m = self.models.get(model)
        m.spatial_layer(layer)
        data = self.dataset(m.metadata.get("dataset", "mnist"))
        means = self._memoized(("class_means", m.sha256),
                               lambda: class_means(m, data.x_test, data.y_test.astype(np.int64)))
        return means[layer]

    def dense_stats(self, model: str, layer: str | None = None) -> DensePatterns:
        from cnnviz.activations import dense_patterns

        m = self.models.get(model)
        data = self.dataset(m.metadata.get("dataset", "mnist"))
        dp = self._memoized(("dense", m.sha256, layer), lambda: dense_patterns(m, data, layer))
        # half precision for what is only shown: a tenth of the bytes of the test set's float32 activations
        return replace(dp, dense=dp.dense.astype(np.float16), conv_class_means=dp.conv_class_means.astype(np.float16),
                       probabilities=dp.probabilities.astype(np.float32))

    # ---- long jobs: ``report`` takes progress, ``should_stop`` is polled

    def oip(self, model: str, items: list[OIPItem], config: OIPConfig, *, report, should_stop,
            objective: Objective | None = None) -> OIPResult | ObjectiveRun:
        """The searches of ``items``; with an ``objective``, that objective from the items' seeds and noise."""
        from cnnviz.oip import Watched, run_oip

        m = self.models.get(model)
        due = throttled(lambda p: p.frames == 2 or p.step == p.steps)

        def progress(p) -> None:
            if due(p):
                report(replace(p, images=p.images[:LIVE_ITEMS].astype(np.float32),
                               activation=np.asarray(p.activation[:LIVE_ITEMS])))

        if objective is not None:
            from cnnviz.objectives import run_objective

            run = run_objective(m, objective, config, images=self.dataset(m.metadata.get("dataset", "mnist")).x_test,
                                seeds=[it.seed for it in items], wavelengths=items[0].wavelengths, noise=items[0].noise,
                                watched=Watched(progress, should_stop))
            return replace(run, result=replace(run.result, frames=run.result.frames.astype(np.float16)))
        r = run_oip(m, items, config, on_progress=progress, should_stop=should_stop)
        return replace(r, frames=r.frames.astype(np.float16))  # half the cache and transfer, plenty to show

    def insight(self, model: str, request: InsightRequest, *, report, should_stop):
        from .analyses import run

        return run(self, model, request, report=report, should_stop=should_stop)

    def unit(self, model: str, request: UnitRequest, *, report, should_stop) -> Dossier | Stopped:
        """The unit page's dossier, with its circuit and timeline where they exist."""
        from cnnviz.dossier import dossier

        m = self.models.get(model)
        data = self.dataset(m.metadata.get("dataset", "mnist"))
        due = throttled(lambda p: p.fraction >= 1)
        d = dossier(m, request.unit, data.x_test, data.y_test, request.settings,
                    watch=Watch(lambda p: report(p) if due(p) else None, should_stop))
        return Stopped() if d is None else d

    def atlas(self, model: str, layers: list[str] | None = None, *, report, should_stop) -> AtlasZip | Stopped:
        """The model's atlas, built in a temporary folder and returned as a zip."""
        import io
        import tempfile
        import zipfile

        from cnnviz.atlas import build_atlas

        m = self.models.get(model)
        data = self.dataset(m.metadata.get("dataset", "mnist"))
        due = throttled(lambda p: p.fraction >= 1)
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / f"atlas-{m.name}"
            r = build_atlas(m, folder, data.x_test, data.y_test, layers,
                            watch=Watch(lambda p: report(p) if due(p) else None, should_stop))
            if r.stopped:
                return Stopped()
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
                for f in sorted(folder.rglob("*")):
                    if f.is_file():
                        z.write(f, f.relative_to(folder.parent).as_posix())
        return AtlasZip(m.name, f"atlas-{m.name}.zip", buf.getvalue(), r.pages, r.seconds, r.summary())

    def train(self, config: TrainConfig, out: str, *, report, should_stop) -> TrainResult:
        from cnnviz.training import train

        due = throttled(lambda p: p.epoch_end)
        return train(config, Path(out), data=self.dataset(config.dataset),
                     on_progress=lambda p: report(p) if due(p) else None, should_stop=should_stop)

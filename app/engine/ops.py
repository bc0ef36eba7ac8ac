"""The operations an engine process serves: TensorFlow work on the models of the model folder.

Runs only inside an engine process (``app.engine.server``); every result is a typed value of
``app.engine.results``, numpy only, so that the web side never needs TensorFlow to read it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .results import Activations, AttributionMap, DenseStats, ModelInfo, OIPProgress, OIPRun, TrainProgress, TrainRun

PROGRESS_EVERY_S = 0.4  # Dash polls about twice a second; faster progress would be dropped
LIVE_ITEMS = 8  # progress carries the first few searches' images only: the page shows no more


def throttled(final: Callable[[Any], bool]) -> Callable[[Any], bool]:
    """A gate for progress: True at most every PROGRESS_EVERY_S, and always for ``final`` reports."""
    last = [0.0]

    def due(p: Any) -> bool:
        now = time.monotonic()
        if final(p) or now - last[0] >= PROGRESS_EVERY_S:
            last[0] = now
            return True
        return False

    return due


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
        from cnnviz.device import setup_device

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
                    cls: int | None = None) -> AttributionMap:
        from cnnviz.attribution import attribution
        from cnnviz.images import fit_to

        m = self.models.get(model)
        a = attribution(m, fit_to(image, m.image_shape), method, layer=layer, cls=cls)
        return AttributionMap(a.method, a.layer, a.cls, a.predicted, a.probabilities, a.map)

    def class_means(self, model: str, layer: str) -> np.ndarray:
        from cnnviz.activations import class_means

        m = self.models.get(model)
        m.spatial_layer(layer)
        data = self.dataset(m.metadata.get("dataset", "mnist"))
        means = self._memoized(("class_means", m.sha256),
                               lambda: class_means(m, data.x_test, data.y_test.astype(np.int64)))
        return means[layer]

    def dense_stats(self, model: str, layer: str | None = None) -> DenseStats:
        from cnnviz.activations import dense_patterns

        m = self.models.get(model)
        data = self.dataset(m.metadata.get("dataset", "mnist"))
        dp = self._memoized(("dense", m.sha256, layer), lambda: dense_patterns(m, data, layer))
        return DenseStats(dp.dense_layer, dp.class_means, dp.similarity, dp.confusion, dp.predicted,
                          dp.probabilities.astype(np.float32), dp.labels)

    # ---- long jobs: ``report`` takes progress, ``should_stop`` is polled

    def oip(self, model: str, items: list[dict], config: dict, *, report, should_stop) -> OIPRun:
        from cnnviz.oip import OIPConfig, OIPItem, run_oip

        m = self.models.get(model)
        due = throttled(lambda p: p.frames == 2 or p.step == p.steps)

        def progress(p) -> None:
            if due(p):
                report(OIPProgress(p.step, p.steps, p.images[:LIVE_ITEMS].astype(np.float32),
                                   np.asarray(p.activation[:LIVE_ITEMS])))

        r = run_oip(m, [OIPItem(**it) for it in items], OIPConfig(**config), on_progress=progress,
                    should_stop=should_stop)
        # float16 frames: half the cache and transfer, plenty for display
        return OIPRun(r.images, r.frames.astype(np.float16), np.asarray(r.frame_steps), r.activation,
                      int(r.steps_done), bool(r.stopped), float(r.loop_seconds))

    def insight(self, model: str, analysis: str, params: dict, *, report, should_stop):
        from .analyses import run

        return run(self, model, analysis, params, report=report, should_stop=should_stop)

    def train(self, config: dict, out: str, *, report, should_stop) -> TrainRun:
        from cnnviz.config import TrainConfig
        from cnnviz.training import train

        cfg = TrainConfig(**config)
        data = self.dataset(cfg.dataset)
        due = throttled(lambda p: p.epoch_end)

        def progress(p) -> None:
            if due(p):
                report(TrainProgress(p.epoch, p.epochs, p.batch, p.batches, float(p.loss), float(p.accuracy),
                                     p.val_loss, p.val_accuracy))

        r = train(cfg, Path(out), data=data, on_progress=progress, should_stop=should_stop)
        return TrainRun(bool(r.stopped), str(r.path) if r.path else None, r.metadata, int(r.epochs_completed),
                        list(r.history))

"""Operations for an engine process without TensorFlow: the real engine machinery (processes, sockets, job
registry, watchers, the result cache) around stand-in work that takes a known time. The fault tests start the
dashboard with ``CNNVIZ_ENGINE_OPS=harness.fake_ops:FakeOps``: kills, cancels, many users at once and hostile
clients need the machinery, not the arithmetic, and a fake engine starts in a second instead of ten.

Every model in the folder is served as the articles' CNN (its real layer table, from the receptive-field code);
an OIP run takes ``FAKE_STEP_S`` seconds per step and returns noise of the right shapes.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from app.engine.progress import throttled
from app.engine.results import Activations, ModelInfo
from cnnviz.catalog import metadata_path, model_path
from cnnviz.receptive import LayerInfo, SpatialOp, propagate
from cnnviz.results import TrainProgress, TrainResult
from cnnviz.search import OIPConfig, OIPItem, OIPProgress, OIPResult

STEP_S = float(os.environ.get("FAKE_STEP_S", "0.01"))
_SHAPES = [("Conv2D_1", "Conv2D", (26, 26, 32), 320), ("MaxPool_1", "MaxPooling2D", (13, 13, 32), 0),
           ("Conv2D_2", "Conv2D", (11, 11, 64), 18496), ("MaxPool_2", "MaxPooling2D", (5, 5, 64), 0),
           ("Conv2D_3", "Conv2D", (3, 3, 64), 36928)]


def articles_layers() -> tuple[LayerInfo, ...]:
    """The articles' CNN's layer table, as ``cnnviz.graph.layer_table`` gives it for the default model."""
    fields = propagate([SpatialOp(3), SpatialOp(2, 2), SpatialOp(3), SpatialOp(2, 2), SpatialOp(3)])
    maps = tuple(LayerInfo(n, t, s, p, r.size, r.jump, r, "map") for (n, t, s, p), r in zip(_SHAPES, fields))
    return maps + (LayerInfo("Flatten", "Flatten", (576,), 0, 28, None, None, "other"),
                   LayerInfo("Dense_1", "Dense", (70,), 40390, 28, None, None, "dense"),
                   LayerInfo("Dense_2", "Dense", (10,), 710, 28, None, None, "output"))


class FakeOps:
    def __init__(self, folder: Path, lane: str):
        self.folder, self.lane = Path(folder), lane

    def health(self) -> dict[str, Any]:
        return {"device": "fake", "gpu": False, "lane": self.lane}

    def info(self, model: str) -> ModelInfo:
        path = model_path(self.folder, model)
        meta = json.loads(metadata_path(path).read_text())
        return ModelInfo(model, "0" * 64, articles_layers(), meta, np.zeros((3, 3, 1, 32), np.float32), "fake")

    def activations(self, model: str, image: np.ndarray) -> Activations:
        self.info(model)
        layers = {r.name: np.full(r.output_shape, float(np.asarray(image).mean()) / 255, np.float32)
                  for r in articles_layers()}
        layers["Dense_2"] = np.full(10, 0.1, np.float32)
        return Activations(layers, "Dense_2")

    def oip(self, model: str, items: list[OIPItem], config: OIPConfig, *, report, should_stop) -> OIPResult:
        """``config.steps`` steps of STEP_S seconds each, a frame every ``config.frame_every``; the activation of
        item b at step s is (b + 1) * s / steps, so each result says which request made it."""
        self.info(model)
        due = throttled(lambda p: p.frames == 2 or p.step == p.steps)  # as the real operations report
        rng = np.random.default_rng(len(items))
        n = len(items)
        frames, frame_steps, step, stopped = [rng.standard_normal((n, 28, 28)).astype(np.float32)], [0], 0, False
        while step < config.steps:
            k = min(config.frame_every, config.steps - step)
            time.sleep(STEP_S * k)
            step += k
            frames.append(rng.standard_normal((n, 28, 28)).astype(np.float32))
            frame_steps.append(step)
            progress = OIPProgress(step, config.steps, len(frames), frames[-1][:8], np.arange(1, min(n, 8) + 1) * step)
            if due(progress):
                report(progress)
            if should_stop() and step < config.steps:
                stopped = True
                break
        act = np.outer(np.arange(1, n + 1), np.arange(step + 1) / config.steps).astype(np.float32)
        return OIPResult(items, frames[-1], np.stack(frames).astype(np.float16), np.array(frame_steps), act, step,
                         stopped, STEP_S * step)

    def train(self, config, out: str, *, report, should_stop) -> TrainResult:
        """One second an epoch, in ten batches; the model file is the default model's, copied."""
        history = []
        for epoch in range(1, config.epochs + 1):
            for batch in range(1, 11):
                time.sleep(0.1)
                report(TrainProgress(epoch, config.epochs, batch, 10, 1.0 / epoch, 0.5, 0.02))
                if should_stop():
                    return TrainResult(None, {}, True, epoch - 1, history)
            history.append({"loss": 1.0 / epoch, "accuracy": 0.5})
        return TrainResult(Path(out), {"test_accuracy": 0.5}, False, config.epochs, history)

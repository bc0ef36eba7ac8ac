"""The engine worker: the one process that runs TensorFlow for the dashboard.

The web process never imports TensorFlow. Dash's DiskcacheManager forks the web process
for every background job, and a process forked after TensorFlow has run hangs (TF 2.21);
so all model work happens here, in a process started with the *spawn* method, kept warm
with its models and compiled functions, and reached over a local socket by the web
process and by its forked job processes alike. Each connection is served by a thread, so
a quick activation request is answered while an OIP search or a training runs.
"""

from __future__ import annotations

import os
import threading
import time
import traceback
from multiprocessing.connection import Connection, Listener
from pathlib import Path
from typing import Any

import numpy as np

PROGRESS_EVERY_S = 0.4  # Dash polls about once a second; faster progress would be dropped


class _Models:
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


class _Ops:
    def __init__(self, folder: Path):
        from cnnviz.device import setup_device

        self.device = setup_device()
        self.models = _Models(folder)
        self._data: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._memo: dict[tuple, Any] = {}

    def _dataset(self, name: str):
        from cnnviz.data import load_dataset

        with self._lock:
            if name not in self._data:
                self._data[name] = load_dataset(name)
            return self._data[name]

    def health(self) -> dict[str, Any]:
        return {"device": self.device, "gpu": self.device.startswith("GPU")}

    def info(self, model: str) -> dict[str, Any]:
        m = self.models.get(model)
        kernels = m.keras_model.get_layer(m.layers[0].name).get_weights()[0]
        layers = [{**r.to_dict(), "receptive": (r.receptive.size, r.receptive.jump, r.receptive.start)
                   if r.receptive else None} for r in m.layers]
        return {"name": m.name, "sha256": m.sha256, "layers": layers,
                "metadata": m.metadata, "kernels": kernels[:, :, 0, :], "device": self.device}

    def activations(self, model: str, image: np.ndarray) -> dict[str, Any]:
        from cnnviz.activations import probe

        m = self.models.get(model)
        acts = probe(m).run(m.standardization.apply(np.asarray(image, np.uint8)[None]))
        return {k: v[0] for k, v in acts.items()}

    def _memoized(self, key: tuple, fn):
        with self._lock:
            if key in self._memo:
                return self._memo[key]
        value = fn()
        with self._lock:
            self._memo[key] = value
        return value

    def class_means(self, model: str, layer: str) -> np.ndarray:
        from cnnviz.activations import class_means

        m = self.models.get(model)
        m.spatial_layer(layer)
        data = self._dataset(m.metadata.get("dataset", "mnist"))
        means = self._memoized(("class_means", m.sha256),
                               lambda: class_means(m, data.x_test, data.y_test.astype(np.int64)))
        return means[layer]

    def dense_patterns(self, model: str) -> dict[str, Any]:
        from cnnviz.activations import dense_patterns

        m = self.models.get(model)
        data = self._dataset(m.metadata.get("dataset", "mnist"))
        dp = self._memoized(("dense", m.sha256), lambda: dense_patterns(m, data))
        return {k: getattr(dp, k) for k in ("class_means", "similarity", "confusion", "dense", "predicted",
                                            "probabilities", "labels")}

    def oip(self, model: str, items: list[dict], config: dict, *, report, should_stop) -> dict[str, Any]:
        from cnnviz.oip import OIPConfig, OIPItem, run_oip

        m = self.models.get(model)
        oip_items = [OIPItem(**it) for it in items]
        cfg = OIPConfig(**config)
        last = [0.0]

        def progress(p) -> None:
            now = time.monotonic()
            if p.frames == 2 or p.step == p.steps or now - last[0] >= PROGRESS_EVERY_S:
                last[0] = now
                report({"step": p.step, "steps": p.steps, "images": p.images.astype(np.float32),
                         "activation": p.activation})

        r = run_oip(m, oip_items, cfg, on_progress=progress, should_stop=should_stop)
        return {"images": r.images, "frames": r.frames, "frame_steps": r.frame_steps, "activation": r.activation,
                "steps_done": r.steps_done, "stopped": r.stopped, "loop_seconds": r.loop_seconds}

    def train(self, config: dict, out: str, *, report, should_stop) -> dict[str, Any]:
        from cnnviz.config import TrainConfig
        from cnnviz.training import train

        cfg = TrainConfig(**config)
        data = self._dataset(cfg.dataset)
        last = [0.0]

        def progress(p) -> None:
            now = time.monotonic()
            if p.epoch_end or now - last[0] >= PROGRESS_EVERY_S:
                last[0] = now
                report(dict(p.__dict__))

        r = train(cfg, Path(out), data=data, on_progress=progress, should_stop=should_stop)
        return {"stopped": r.stopped, "path": str(r.path) if r.path else None, "metadata": r.metadata,
                "epochs_completed": r.epochs_completed, "history": r.history}


STREAMING = {"oip", "train"}


def _handle(conn: Connection, ops: _Ops) -> None:
    try:
        while True:
            try:
                op, kwargs = conn.recv()
            except (EOFError, OSError):
                return
            cancelled = threading.Event()

            def should_stop() -> bool:
                # The client sends "cancel", or dies (Dash kills a cancelled job's process):
                # either way the job stops at its next check.
                if cancelled.is_set():
                    return True
                try:
                    if conn.poll():
                        conn.recv()
                        cancelled.set()
                except (EOFError, OSError):
                    cancelled.set()
                return cancelled.is_set()

            def report(payload: dict) -> None:
                try:
                    conn.send(("progress", payload))
                except (OSError, ValueError):
                    cancelled.set()

            try:
                fn = getattr(ops, op) if op in {"health", "info", "activations", "class_means", "dense_patterns",
                                                "oip", "train"} else None
                if fn is None:
                    raise ValueError(f"Unknown engine operation. Received: op={op!r}")
                if op in STREAMING:
                    result = fn(**kwargs, report=report, should_stop=should_stop)
                else:
                    result = fn(**kwargs)
                conn.send(("ok", result))
            except (BrokenPipeError, ConnectionResetError, EOFError):
                return  # the client went away (a cancelled job's process is killed): nothing to answer
            except (ValueError, FileNotFoundError, KeyError, TypeError) as e:
                conn.send(("error", str(e) or type(e).__name__))
            except Exception as e:  # noqa: BLE001 - the worker must survive any one request
                traceback.print_exc()
                conn.send(("error", f"Internal error in the engine ({type(e).__name__}); see the server log."))
    except (OSError, EOFError, BrokenPipeError):
        return
    finally:
        conn.close()


def serve(address: str, authkey: bytes, model_folder: str, ready) -> None:
    """Entry point of the spawned worker process."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    ops = _Ops(Path(model_folder))
    with Listener(address, family="AF_UNIX", authkey=authkey) as listener:
        ready.set()
        while True:
            try:
                conn = listener.accept()
            except (OSError, EOFError):
                continue  # a client that failed the handshake
            threading.Thread(target=_handle, args=(conn, ops), daemon=True).start()

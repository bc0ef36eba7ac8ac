"""The engine worker: the one process that runs TensorFlow for the dashboard.

The web process never imports TensorFlow. Dash's DiskcacheManager forks the web process
for every background job, and a process forked after TensorFlow has run hangs (TF 2.21);
so all model work happens here, in a process started with the *spawn* method, kept warm
with its models and compiled functions, and reached over a local socket by the web
process, its job threads (app/threaded_jobs.py) and Celery workers' processes alike. Each
connection is served by a thread, so a quick activation request is answered while an OIP
search or a training runs.
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
        self.jobs = _Jobs()

    def _dataset(self, name: str):
        from cnnviz.data import load_dataset

        with self._lock:
            if name not in self._data:
                self._data[name] = load_dataset(name)
            return self._data[name]

    def health(self) -> dict[str, Any]:
        running = [j for j in self.jobs.list() if not j["done"]]
        return {"device": self.device, "gpu": self.device.startswith("GPU"), "running_jobs": len(running)}

    def list_jobs(self) -> list[dict[str, Any]]:
        return self.jobs.list()

    def cancel(self, key: str) -> bool:
        return self.jobs.cancel(str(key))

    def _store(self, cache_dir: str | None, key: str, value: Any) -> None:
        if cache_dir:
            import diskcache

            with diskcache.Cache(cache_dir) as cache:
                cache.set(key, value)

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
        # float16 frames: half the cache and transfer, plenty for display
        return {"images": r.images, "frames": r.frames.astype(np.float16), "frame_steps": r.frame_steps,
                "activation": r.activation, "steps_done": r.steps_done, "stopped": r.stopped,
                "loop_seconds": r.loop_seconds}

    def insight(self, model: str, analysis: str, params: dict, *, report, should_stop) -> dict[str, Any]:
        from .insight_jobs import run

        return run(self, model, analysis, params, report=report, should_stop=should_stop)

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


JOB_KINDS = {"oip", "train", "insight"}
FINISHED_KEPT_S = 60.0  # a finished job stays attachable this long (a page that comes back)


class _Job:
    """A long job running in the worker, detached from whoever asked for it.

    A Dash job process that streams it may die (Dash kills it when the page asks again or
    goes away); the job goes on, stores its result, and can be attached to again by key.
    Only an explicit cancel stops it.
    """

    def __init__(self, key: str, kind: str):
        self.key, self.kind = key, kind
        self.cond = threading.Condition()
        self.seq, self.latest = 0, None
        self.done, self.result, self.error = False, None, None
        self.cancel = threading.Event()
        self.started, self.finished = time.time(), None

    def report(self, payload: dict) -> None:
        with self.cond:
            self.seq += 1
            self.latest = payload
            self.cond.notify_all()

    def finish(self, result=None, error: str | None = None) -> None:
        with self.cond:
            self.result, self.error, self.done, self.finished = result, error, True, time.time()
            self.cond.notify_all()

    def summary(self) -> dict[str, Any]:
        p = self.latest or {}
        return {"key": self.key, "kind": self.kind, "started": self.started, "done": self.done,
                "progress": {k: v for k, v in p.items() if isinstance(v, (int, float, str, bool)) or v is None}}


class _Jobs:
    def __init__(self):
        self._lock = threading.Lock()
        self._jobs: dict[str, _Job] = {}

    def submit(self, key: str, kind: str, run) -> _Job:
        """The running (or just finished) job of ``key``, else a new one started in a thread."""
        with self._lock:
            now = time.time()
            for k in [k for k, j in self._jobs.items() if j.done and now - j.finished > FINISHED_KEPT_S]:
                del self._jobs[k]
            job = self._jobs.get(key)
            if job is not None and not (job.done and (job.error or (job.result or {}).get("stopped"))):
                return job
            job = self._jobs[key] = _Job(key, kind)

        def target() -> None:
            try:
                job.finish(run(job))
            except (ValueError, FileNotFoundError, KeyError, TypeError) as e:
                job.finish(error=str(e) or type(e).__name__)
            except Exception as e:  # noqa: BLE001 - the worker must survive any one job
                traceback.print_exc()
                job.finish(error=f"Internal error in the engine ({type(e).__name__}); see the server log.")

        threading.Thread(target=target, name=f"job-{kind}", daemon=True).start()
        return job

    def cancel(self, key: str) -> bool:
        with self._lock:
            job = self._jobs.get(key)
        if job is None or job.done:
            return False
        job.cancel.set()
        return True

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [j.summary() for j in self._jobs.values()]


def cancel_flag(key: str) -> str:
    """The result-cache entry that asks a job to stop, from any process or machine sharing the cache."""
    return f"cancel:{key}"


def _stop_flag(job: _Job, cache_dir: str | None, key: str):
    """should_stop for a job: an explicit cancel here, or the cancel flag in the shared result cache.

    With Celery, Cancel kills the task process on a worker; the job itself runs in that
    worker's engine, which only learns of the cancel through the shared cache.
    """
    if not cache_dir:
        return job.cancel.is_set
    import diskcache

    cache = diskcache.Cache(cache_dir)
    cache.delete(cancel_flag(key))  # a new run of the same key starts uncancelled
    last = [0.0]

    def should_stop() -> bool:
        if job.cancel.is_set():
            return True
        now = time.monotonic()
        if now - last[0] >= 0.3:  # a cheap SQLite read, at most ~3 times a second
            last[0] = now
            if cache.get(cancel_flag(key)):
                job.cancel.set()
        return job.cancel.is_set()

    return should_stop


def _stream_job(conn: Connection, job: _Job) -> None:
    """Sends a job's progress and result to one client; a client that leaves detaches."""
    seen = 0
    while True:
        with job.cond:
            job.cond.wait_for(lambda: job.seq != seen or job.done, timeout=0.5)
            seq, latest, done = job.seq, job.latest, job.done
        if seq != seen and latest is not None:
            conn.send(("progress", latest))
            seen = seq
        if done:
            conn.send(("error", job.error) if job.error else ("ok", job.result))
            return
        if conn.poll():
            if conn.recv() == "cancel":
                job.cancel.set()


def _handle(conn: Connection, ops: _Ops) -> None:
    try:
        while True:
            try:
                op, kwargs = conn.recv()
            except (EOFError, OSError):
                return
            try:
                if op in JOB_KINDS:
                    key = str(kwargs.pop("key", None) or f"anonymous-{id(conn)}-{time.time()}")
                    cache_dir = kwargs.pop("cache", None)
                    fn = getattr(ops, op)

                    def run(job: _Job, fn=fn, kwargs=kwargs, key=key, cache_dir=cache_dir):
                        stop = _stop_flag(job, cache_dir, key)
                        result = fn(**kwargs, report=job.report, should_stop=stop)
                        if not result.get("stopped"):
                            ops._store(cache_dir, key, result)
                        return result

                    _stream_job(conn, ops.jobs.submit(key, op, run))
                    continue
                if op not in {"health", "info", "activations", "class_means", "dense_patterns", "list_jobs", "cancel"}:
                    raise ValueError(f"Unknown engine operation. Received: op={op!r}")
                conn.send(("ok", getattr(ops, op)(**kwargs)))
            except (BrokenPipeError, ConnectionResetError, EOFError):
                return  # the client went away; a job it streamed goes on
            except (ValueError, FileNotFoundError, KeyError, TypeError) as e:
                conn.send(("error", str(e) or type(e).__name__))
            except Exception as e:  # noqa: BLE001 - the worker must survive any one request
                traceback.print_exc()
                conn.send(("error", f"Internal error in the engine ({type(e).__name__}); see the server log."))
    except (OSError, EOFError):
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

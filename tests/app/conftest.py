"""App fixtures: the app built in this process on the real operations (fast), the real app started as
``python -m app`` (the system tier), and the app on a TensorFlow-free fake engine (the fault tests)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import time
import urllib.request

import pytest

from harness.processes import free_port, start_process, stop_process

from ..conftest import ROOT


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    """A copy of models/ (the training tests add models to it, never to the repository)."""
    d = tmp_path_factory.mktemp("models")
    for name in ("default.keras", "default.json"):
        shutil.copy(ROOT / "models" / name, d / name)
    return d


@pytest.fixture(scope="session")
def services(foreign, tmp_path_factory):
    """The app built in this process (pages registered) on the real operations, served in this process
    (``harness.local_engine``): the pages' callbacks as plain functions, without engine processes. Its model
    folder holds the default model and the foreign ones of tests/foreign.py (one of them a colour model)."""
    model_dir = foreign["dir"]
    from app.engine.ops import Ops
    from app.services import services as current
    from app.settings import Settings
    from app.shell import create_app
    from harness.local_engine import LocalEngine

    engine = LocalEngine(Ops(model_dir, "jobs"))
    create_app(Settings(model_dir=model_dir, cache_dir=tmp_path_factory.mktemp("cache")), engine)
    yield current()
    engine.stop()


def get_json(url: str, timeout: float = 5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read())


def _wait_healthy(url, proc, log, timeout=120):
    deadline = time.time() + timeout
    while True:
        try:
            if get_json(url + "/health")["status"] == "ok":
                return
        except OSError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            log.seek(0)
            pytest.fail("the app did not start:\n" + log.read()[-3000:])
        time.sleep(0.5)


FAKE_OPS = "harness.fake_ops:FakeOps"


def _app(env, tmp_path_factory):
    port = free_port()
    env = {**env, "CNNVIZ_PORT": str(port), "CNNVIZ_DEBUG": "0"}
    proc, log = start_process([sys.executable, "-m", "app"], env, tmp_path_factory.mktemp("log") / "app.log")
    url = f"http://127.0.0.1:{port}"
    _wait_healthy(url, proc, log)
    return url, proc, log


def _no_tracebacks(log) -> None:
    log.seek(0)
    text = log.read()
    assert "Traceback" not in text, text[-3000:]


@pytest.fixture(scope="session")
def server(model_dir, tmp_path_factory):
    """The dashboard as a user starts it (``python -m app``), on a free port, in its own process group."""
    env = {**os.environ, "CNNVIZ_MODEL_DIR": str(model_dir), "CNNVIZ_CACHE_DIR": str(tmp_path_factory.mktemp("appcache"))}
    url, proc, log = _app(env, tmp_path_factory)
    yield url
    stop_process(proc)
    _no_tracebacks(log)


class CeleryStack:
    """The scale-out set-up for real: redis-server on loopback, a Celery worker, the app on CeleryManager; each part
    can be stopped and started again (the fault tests kill the worker and stop Redis)."""

    def __init__(self, tmp_path_factory):
        self.redis_bin = shutil.which("redis-server")
        if self.redis_bin is None:
            pytest.fail("redis-server is not installed (Debian package redis-server; .ci/run installs it).")
        models = tmp_path_factory.mktemp("celery-models")
        for name in ("default.keras", "default.json"):
            shutil.copy(ROOT / "models" / name, models / name)
        self.port = free_port()
        self.logs = tmp_path_factory.mktemp("celery-logs")
        self.env = {**os.environ, "CNNVIZ_JOBS": "celery", "REDIS_URL": f"redis://127.0.0.1:{self.port}/0",
                    "CNNVIZ_MODEL_DIR": str(models), "CNNVIZ_CACHE_DIR": str(tmp_path_factory.mktemp("celery-cache"))}
        self.start_redis()
        self.start_worker()
        self.url, self.app, self.app_log = _app(self.env, tmp_path_factory)
        assert get_json(self.url + "/health")["jobs"] == "celery"

    def start_redis(self) -> None:
        self.redis, _ = start_process([self.redis_bin, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                       "--appendonly", "no"], dict(os.environ), self.logs / "redis.log")

    def start_worker(self) -> None:
        self.worker, self.worker_log = start_process(
            [sys.executable, "-m", "celery", "-A", "app.celery_worker", "worker", "--loglevel=INFO",
             "--concurrency=2", "--pool=prefork", "-n", f"cnnviz-test-{free_port()}@%h"], self.env,
            self.logs / f"worker-{time.time():.0f}.log")
        deadline = time.time() + 180
        while True:
            self.worker_log.seek(0)
            if " ready." in self.worker_log.read():
                return
            if self.worker.poll() is not None or time.time() > deadline:
                self.worker_log.seek(0)
                pytest.fail("the Celery worker did not start:\n" + self.worker_log.read()[-3000:])
            time.sleep(0.5)

    def stop(self) -> None:
        for proc in (self.app, self.worker, self.redis):
            stop_process(proc)
        _no_tracebacks(self.app_log)


@pytest.fixture(scope="session")
def celery_server(tmp_path_factory):
    """A :class:`CeleryStack` for the browser tests: (url, the worker's log)."""
    stack = CeleryStack(tmp_path_factory)
    yield stack.url, stack.worker_log
    stack.stop()


@pytest.fixture(scope="session")
def foreign_server(foreign, tmp_path_factory):
    """The dashboard on a model folder holding the default model, the three foreign models (tests/foreign.py)
    and one ``.keras`` file without metadata, as a user starts it."""
    shutil.copy(foreign["byo"].path, foreign["dir"] / "mine.keras")  # not imported: listed greyed out
    env = {**os.environ, "CNNVIZ_MODEL_DIR": str(foreign["dir"]),
           "CNNVIZ_CACHE_DIR": str(tmp_path_factory.mktemp("foreign-cache"))}
    url, proc, log = _app(env, tmp_path_factory)
    yield url
    stop_process(proc)
    _no_tracebacks(log)


@pytest.fixture(scope="module")
def fake_app(model_dir, tmp_path_factory):
    """The dashboard as a user starts it, on engines that serve :mod:`harness.fake_ops` (no TensorFlow):
    (url, process, log, cache folder)."""
    cache = tmp_path_factory.mktemp("fake-cache")
    env = {**os.environ, "CNNVIZ_MODEL_DIR": str(model_dir), "CNNVIZ_CACHE_DIR": str(cache),
           "CNNVIZ_ENGINE_OPS": FAKE_OPS}
    url, proc, log = _app(env, tmp_path_factory)
    yield url, proc, log, cache
    stop_process(proc)
    _no_tracebacks(log)


@contextlib.contextmanager
def triggered(prop_id: str | None = None, value=None):
    """Calls to a callback as plain functions within, as if ``prop_id`` ("id.property") had triggered them."""
    from dash._callback_context import context_value
    from dash._utils import AttributeDict

    token = context_value.set(AttributeDict(triggered_inputs=[{"prop_id": prop_id, "value": value}] if prop_id else []))
    try:
        yield
    finally:
        context_value.reset(token)

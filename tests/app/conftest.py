"""App fixtures: a real engine worker, and the real app started as ``python -m app``."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from ..conftest import ROOT


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    """A copy of models/ (the training tests add models to it, never to the repository)."""
    d = tmp_path_factory.mktemp("models")
    for name in ("default.keras", "default.json"):
        shutil.copy(ROOT / "models" / name, d / name)
    return d


@pytest.fixture(scope="session")
def services(model_dir, tmp_path_factory):
    """The app built in this process (pages registered) on a real, spawned engine worker."""
    from app import create_app
    from app.engine import Engine
    from app.services import services as current
    from app.settings import Settings

    engine = Engine.start(model_dir)
    create_app(Settings(model_dir=model_dir, cache_dir=tmp_path_factory.mktemp("cache")), engine)
    svc = current()
    yield svc
    engine.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str, timeout: float = 5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read())


@pytest.fixture(scope="session")
def server(model_dir, tmp_path_factory):
    """The dashboard as a user starts it (``python -m app``), on a free port, in its own process group."""
    port = _free_port()
    env = {**os.environ, "CNNVIZ_PORT": str(port), "CNNVIZ_MODEL_DIR": str(model_dir),
           "CNNVIZ_CACHE_DIR": str(tmp_path_factory.mktemp("appcache")), "CNNVIZ_DEBUG": "0"}
    log = open(tmp_path_factory.mktemp("log") / "app.log", "w+")
    proc = subprocess.Popen([sys.executable, "-m", "app"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while True:
        try:
            if get_json(url + "/health")["status"] == "ok":
                break
        except OSError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            log.seek(0)
            pytest.fail("the app did not start:\n" + log.read()[-3000:])
        time.sleep(0.5)
    yield url
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
    log.seek(0)
    text = log.read()
    assert "Traceback" not in text, text[-3000:]

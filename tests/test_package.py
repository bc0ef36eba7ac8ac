"""The package as a user installs it: ``pip install <checkout>`` into a fresh virtual environment, then
``cnnviz`` and the dashboard from another directory, with no top-level ``app`` in site-packages."""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from .conftest import ROOT

pytestmark = pytest.mark.system  # a package build and install into a fresh virtual environment


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """A fresh virtual environment with cnnviz installed from a copy of the checkout's tracked files.
    The dependencies come from this interpreter's site-packages (no download: CI installed them), the
    package itself is built and installed for real."""
    tmp = tmp_path_factory.mktemp("pkg")
    src = tmp / "src"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.split()
    for f in files:
        if (ROOT / f).is_file():
            (src / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / f, src / f)
    # The wheel is built by this interpreter (its setuptools, pinned in requirements-dev.txt: a venv's own
    # setuptools 65 on Python 3.11 cannot build wheels without isolation), then installed into the new venv.
    p = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
                        "-w", str(tmp / "dist"), str(src)], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    env_dir = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(env_dir)], check=True, timeout=120)
    py = env_dir / "bin" / "python"
    # The dependencies: this environment's site-packages, seen from the new one (no download; CI installed them).
    inner = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                           capture_output=True, text=True, check=True).stdout.strip()
    (Path(inner) / "outer-env.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    wheel = next((tmp / "dist").glob("cnnviz-*.whl"))
    p = subprocess.run([str(py), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    return env_dir, tmp


def _env(tmp):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "CNNVIZ_MODEL_DIR")}
    return {**env, "CNNVIZ_CACHE_DIR": str(tmp / "cache")}


def test_cnnviz_info_works_from_any_directory(venv):
    env_dir, tmp = venv
    elsewhere = tmp / "elsewhere"
    elsewhere.mkdir(exist_ok=True)
    p = subprocess.run([str(env_dir / "bin" / "cnnviz"), "info", "--json"], cwd=elsewhere, env=_env(tmp),
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    info = json.loads(p.stdout)
    assert "site-packages" in info["model"] and info["layers"][4]["name"] == "Conv2D_3"
    assert p.stderr == ""  # a quiet start: no TensorFlow chatter
    site = subprocess.run([str(env_dir / "bin" / "python"), "-c", "import cnnviz, sysconfig; "
                           "print(cnnviz.__file__); print(sysconfig.get_paths()['purelib'])"],
                          cwd=elsewhere, env=_env(tmp), capture_output=True, text=True, check=True).stdout.split()
    assert site[0].startswith(site[1])  # the installed copy, not the checkout
    purelib = os.path.realpath(site[1])
    names = set(os.listdir(purelib))
    assert "cnnviz" in names and "cnnviz_dashboard" in names and "app" not in names


def test_the_installed_dashboard_starts_and_is_healthy(venv):
    env_dir, tmp = venv
    from harness.processes import free_port, start_process, stop_process

    port = free_port()
    env = {**_env(tmp), "CNNVIZ_PORT": str(port)}
    proc, log = start_process([str(env_dir / "bin" / "cnnviz-dashboard")], env, tmp / "dashboard.log")
    try:
        deadline = time.time() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
                    body = json.loads(r.read())
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    log.seek(0)
                    pytest.fail("the installed dashboard did not start:\n" + log.read()[-3000:])
                time.sleep(0.5)
        assert body["status"] == "ok" and body["models"] == ["default"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/assets/cnnviz.css", timeout=5) as r:
            assert r.status == 200
    finally:
        stop_process(proc)
    log.seek(0)
    assert "Traceback" not in log.read()

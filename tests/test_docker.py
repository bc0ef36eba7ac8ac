"""The Docker image, built from the project's Dockerfile and run: health, a page, one OIP, the HEALTHCHECK command,
a seeded model volume, and a clean stop on SIGTERM.

Built with buildah on a stand-in for TensorFlow's base image (CI cannot pull from Docker Hub; see
:mod:`harness.image`), and run with ``buildah run`` in a chroot on the host's network (this CI machine's kernel
refuses the resource limits an OCI runtime sets, so ``podman run`` cannot start containers here). What is not
checked here: the CUDA libraries of the real base and the GPU passthrough of docker-compose.yml, which need a
GPU host (see the README's Deployment section).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import urllib.request
from pathlib import Path

import psutil
import pytest

from harness.http_client import DashClient
from harness.image import IMAGE
from harness.processes import free_port, start_process

from .app.test_browser import wait_until
from .app.test_faults import OIP_RUN, oip_values
from .conftest import ROOT

pytestmark = pytest.mark.system
BUILD_TIMEOUT_S = 1200


def _image_config() -> dict:
    out = subprocess.run(["buildah", "inspect", "--type", "image", IMAGE], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)["OCIv1"]["config"]


@pytest.fixture(scope="module")
def image(request):
    """The built image's tag; the build started in the background when the session began (tests/conftest.py)."""
    build = request.config.image_build
    assert build is not None, "the image build did not start (buildah, podman or debootstrap missing?)"
    proc, log_path = build
    try:
        proc.wait(BUILD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
    tail = "".join(Path(log_path).read_text().splitlines(True)[-30:])
    assert proc.returncode == 0, f"the image did not build:\n{tail}"
    return IMAGE


@pytest.fixture
def container(image, tmp_path):
    """A working container of the image, with an empty model volume and the real datasets mounted; removed after."""
    name = f"cnnviz-ci-{secrets.token_hex(4)}"
    subprocess.run(["buildah", "from", "--name", name, image], check=True, capture_output=True)
    # Not under tmp_path: its parents are private to root, and the image's user could not reach a mount from there.
    models = Path(tempfile.mkdtemp(prefix="cnnviz-ci-models-", dir="/tmp"))
    os.chown(models, 10001, 10001)  # the image's user; a named Docker volume starts empty and writable like this
    yield name, models
    subprocess.run(["buildah", "rm", name], capture_output=True)
    shutil.rmtree(models, ignore_errors=True)


def _run_in(name: str, cmd: list[str], volumes: list[str]) -> list[str]:
    mounts = [a for v in volumes for a in ("-v", v)]
    return ["buildah", "run", "--isolation", "chroot", "--network", "host", *mounts, name, "--", *cmd]


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.status, r.read().decode()


def _health(url: str) -> str | None:
    try:
        return json.loads(_get(url + "/health")[1])["status"]
    except OSError:
        return None


def test_the_image_serves_health_a_page_and_an_oip_and_stops_cleanly_on_sigterm(container, tmp_path):
    name, models = container
    config = _image_config()
    assert config["User"] == "cnnviz"
    cmd = config["Entrypoint"] + config["Cmd"]
    port = free_port()
    cmd[cmd.index("--bind") + 1] = f"127.0.0.1:{port}"
    # One volume only: with two or more, buildah 1.28's chroot isolation shadows the first bind with the image's
    # anonymous /data/models volume. The OIP, /health and the pages' HTML do not need the datasets.
    volumes = [f"{models}:/data/models"]
    proc, log = start_process(_run_in(name, cmd, volumes), dict(os.environ), tmp_path / "container.log", cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _health(url) == "ok" or proc.poll() is not None, 240, "the container's /health")
        assert proc.poll() is None, (tmp_path / "container.log").read_text()[-3000:]
        assert (models / "default.keras").is_file()  # the entrypoint seeded the empty volume
        status, page = _get(url + "/maps")
        assert status == 200 and "cnnviz" in page
        check = subprocess.run(_run_in(name, _healthcheck(config, port), []), capture_output=True, text=True)
        assert check.returncode == 0, check.stderr  # the image's HEALTHCHECK command agrees
        out = DashClient(url, "/oip").background(OIP_RUN, oip_values(secrets.token_hex(16), map_=3, steps=30),
                                                 "oip-run.n_clicks", timeout=240)
        assert "Conv2D_3" in json.dumps(out), str(out)[:500]
        gunicorn = _gunicorn_master(proc.pid)
        tree = [gunicorn, *gunicorn.children(recursive=True)]
        assert any("app.engine.server" in " ".join(p.cmdline()) for p in tree), "no engine process in the container"
        gunicorn.send_signal(signal.SIGTERM)  # what `docker stop` sends to the container's first process
        gone, alive = psutil.wait_procs(tree, timeout=60)
        assert not alive, f"left running after SIGTERM: {[p.cmdline()[:3] for p in alive]}"
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    text = (tmp_path / "container.log").read_text()
    assert "Traceback" not in text, text[-3000:]


def _healthcheck(config: dict, port: int) -> list[str]:
    """The image's HEALTHCHECK command (CMD form), pointed at ``port``."""
    test = config.get("Healthcheck", {}).get("Test") or _dockerfile_healthcheck()
    assert test[0] == "CMD", test
    return [a.replace(":8050/", f":{port}/") for a in test[1:]]


def _dockerfile_healthcheck() -> list[str]:
    """buildah writes HEALTHCHECK only into Docker-format images; read it from the Dockerfile then."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    line = next(ln for ln in text.splitlines() if ln.startswith("HEALTHCHECK"))
    return ["CMD", *json.loads(line.split(" CMD ", 1)[1])]


def _gunicorn_master(root_pid: int) -> psutil.Process:
    """The container's first process (gunicorn's master) under the ``buildah run`` process."""
    for p in psutil.Process(root_pid).children(recursive=True):
        cmd = p.cmdline()
        if cmd and "gunicorn" in " ".join(cmd[:2]) and (p.parent() is None or "gunicorn" not in " ".join(
                p.parent().cmdline()[:2])):
            return p
    raise AssertionError("no gunicorn in the container")

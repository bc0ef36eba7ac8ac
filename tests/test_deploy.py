"""What CI can check of the deployment without a Docker engine: the files, and the server command."""

from __future__ import annotations

import base64
import json
import os
import re
import shlex
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
import yaml

from harness.processes import free_port, start_process, stop_process

from .app.conftest import _wait_healthy
from .conftest import ROOT


def dockerfile() -> dict[str, list[str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.setdefault(word.upper(), []).append(rest.strip())
    return out


def test_dockerfile_is_the_pinned_tensorflow_gpu_image_run_as_non_root():
    d = dockerfile()
    pin = re.search(r"^tensorflow==([\d.]+)", (ROOT / "requirements.txt").read_text(), re.M).group(1)
    assert d["ARG"] == [f"BASE=tensorflow/tensorflow:{pin}-gpu"] and d["FROM"] == ["${BASE}"]
    assert d["USER"] and d["USER"][-1] not in ("root", "0")
    assert "/health" in d["HEALTHCHECK"][0]
    assert any("/data/models" in v for v in d["VOLUME"]) and any("/data/cache" in v for v in d["VOLUME"])
    cmd = json.loads(d["CMD"][-1])
    assert cmd[0] == "gunicorn" and cmd[-1] == "app.wsgi:server"
    for src in re.findall(r"^COPY (\S+)", (ROOT / "Dockerfile").read_text(), re.M):
        assert (ROOT / src).exists(), src


def test_compose_file_has_gpu_passthrough_and_a_scale_out_profile():
    c = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    web, worker, redis = (c["services"][k] for k in ("web", "worker", "redis"))
    for svc in (web, worker):
        dev = svc["deploy"]["resources"]["reservations"]["devices"][0]
        assert dev["driver"] == "nvidia" and dev["capabilities"] == ["gpu"]
    assert "profiles" not in web and worker["profiles"] == ["scale"] and redis["profiles"] == ["scale"]
    assert worker["environment"]["CNNVIZ_JOBS"] == "celery"
    assert worker["command"][:3] == ["celery", "-A", "app.celery_worker"]
    assert all(p.startswith("127.0.0.1:") for p in web["ports"])  # published on loopback only
    assert (ROOT / "app" / "celery_worker.py").is_file()


def _get(url, auth=None):
    req = urllib.request.Request(url)
    if auth:
        req.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, ""


@pytest.mark.system
def test_the_dockerfile_command_serves_the_app_with_auth(tmp_path):
    """Runs the image's ENTRYPOINT + CMD here (gunicorn on app.wsgi), on loopback, with basic auth on."""
    d = dockerfile()
    cmd = json.loads(d["CMD"][-1])
    port = free_port()
    cmd[cmd.index("--bind") + 1] = f"127.0.0.1:{port}"
    gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
    models = tmp_path / "models"  # empty: the entrypoint seeds it with the default model
    env = {**os.environ, "CNNVIZ_HOME": str(ROOT), "CNNVIZ_MODEL_DIR": str(models),
           "CNNVIZ_CACHE_DIR": str(tmp_path / "cache"),
           "CNNVIZ_AUTH_USER": "ada", "CNNVIZ_AUTH_PASSWORD": "s3cret"}
    proc, log = start_process(["sh", str(ROOT / "docker" / "entrypoint.sh"), gunicorn, *cmd[1:]], env,
                              tmp_path / "gunicorn.log")
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc, log)
        assert (models / "default.keras").is_file()
        health = json.loads(_get(url + "/health")[1])  # open without credentials, for HEALTHCHECK
        assert health == {"status": "ok"}  # with auth on, nothing but the status
        assert _get(url + "/")[0] == 401
        status, page = _get(url + "/", auth="ada:s3cret")
        assert status == 200 and "cnnviz" in page
        assert _get(url + "/", auth="ada:wrong")[0] == 401
    finally:
        stop_process(proc)
    log.seek(0)
    assert "Traceback" not in log.read()


@pytest.mark.parametrize("env,match", [
    ({"CNNVIZ_JOBS": "rq"}, "CNNVIZ_JOBS must be"),
    ({"CNNVIZ_PORT": "http"}, "CNNVIZ_PORT must be"),
    ({"CNNVIZ_AUTH_USER": "ada"}, "Set both CNNVIZ_AUTH_USER"),
    ({"CNNVIZ_HOST": "0.0.0.0"}, "without a password"),
    ({"CNNVIZ_HOST": "0.0.0.0", "CNNVIZ_ALLOW_OPEN": "1", "CNNVIZ_DEBUG": "1"}, "CNNVIZ_DEBUG=1 serves a debugger"),
    ({"CNNVIZ_HOST": "::", "CNNVIZ_DEBUG": "1", "CNNVIZ_AUTH_USER": "a", "CNNVIZ_AUTH_PASSWORD": "b"}, "refused"),
], ids=["jobs", "port", "half-auth", "open-host", "debug-open", "debug-ipv6"])
def test_bad_settings_stop_with_one_line(env, match, tmp_path):
    p = subprocess.run([sys.executable, "-m", "app"], cwd=ROOT, capture_output=True, text=True, timeout=60,
                       env={**os.environ, "CNNVIZ_CACHE_DIR": str(tmp_path / "cache"), **env})
    assert p.returncode == 2 and match in p.stderr and "Traceback" not in p.stderr, shlex.quote(p.stderr)
    assert len(p.stderr.strip().splitlines()) == 1


@pytest.mark.system
def test_gunicorn_bound_beyond_loopback_without_auth_is_refused(tmp_path):
    """CNNVIZ_HOST says loopback, but gunicorn was told --bind 0.0.0.0: the real bind is what counts."""
    gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CNNVIZ_AUTH") and k != "CNNVIZ_ALLOW_OPEN"}
    p = subprocess.run([gunicorn, "--workers", "1", "--bind", f"0.0.0.0:{free_port()}", "app.wsgi:server"], cwd=ROOT,
                       capture_output=True, text=True, timeout=120,
                       env={**env, "CNNVIZ_HOST": "127.0.0.1", "CNNVIZ_CACHE_DIR": str(tmp_path / "cache")})
    assert p.returncode != 0 and "listens on 0.0.0.0, beyond this machine, without a password" in p.stderr, p.stderr

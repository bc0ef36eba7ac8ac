"""The engine boundary under faults, on the real app (``python -m app``) and its real engine processes: a killed
engine, many users at once, a cancel by another user, hostile socket clients, a hostile or corrupt cache, and the
web process stopped or killed.

The engine machinery is what these test, not the arithmetic: most run against engines that serve the
TensorFlow-free :mod:`harness.fake_ops` (fast), and the kills mid-run against the real engine (``system``)."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Client
from pathlib import Path

import psutil
import pytest

from harness.http_client import DashClient
from harness.processes import stop_process

from ..conftest import ROOT
from .conftest import FAKE_OPS, _app, get_json
from .test_browser import graph_title, js_click, no_console_errors, open_page, set_input, start_run, wait_until


def engines(app_pid: int) -> dict[str, psutil.Process]:
    """The app's engine processes by lane."""
    out = {}
    for p in psutil.Process(app_pid).children(recursive=True):
        cmd = p.cmdline()
        if "app.engine.server" in cmd:
            out[cmd[cmd.index("--lane") + 1]] = p
    return out


def socket_path(proc: psutil.Process) -> str:
    cmd = proc.cmdline()
    return cmd[cmd.index("--socket") + 1]


def wait_healthy(url: str, timeout: float = 60) -> float:
    t0 = time.time()
    wait_until(lambda: _status(url) == "ok", timeout, "/health to say ok again")
    return time.time() - t0


def _status(url: str) -> str | None:
    try:
        return get_json(url + "/health")["status"]
    except OSError as e:  # 503 while degraded
        return json.loads(e.read()).get("status") if hasattr(e, "read") else None


@pytest.fixture(scope="module")
def app_proc(fake_app):
    """An app of its own, on the fake engine: these tests kill its engines."""
    return fake_app


@pytest.fixture(scope="module")
def real_app(model_dir, tmp_path_factory):
    """An app of its own on the real engine: these tests kill its engines mid-run."""
    cache = tmp_path_factory.mktemp("fault-cache")
    env = {**os.environ, "CNNVIZ_MODEL_DIR": str(model_dir), "CNNVIZ_CACHE_DIR": str(cache)}
    url, proc, log = _app(env, tmp_path_factory)
    yield url, proc, log, cache
    stop_process(proc)


OIP_RUN = "oip-done.data"


def oip_values(session: str, map_: int, steps: int, seeds: int = 1, whole: bool = False) -> dict:
    return {"oip-run.n_clicks": 1, "shell-model.value": "default", "oip-layer.value": "Conv2D_3", "oip-map.value": map_,
            "oip-whole.value": whole, "oip-node-on.value": False, "oip-node-x.value": 1, "oip-node-y.value": 1,
            "oip-waves.value": [2, 2], "oip-mix.value": False, "oip-seeds.value": seeds, "oip-steps.value": steps,
            "oip-step-size.value": 0.1, "oip-blur.value": 4, "oip-sigma.value": 0.5, "oip-jitter.value": 0,
            "oip-noise.value": "lowpass", "shell-session.data": session}


def shown(client: DashClient, values: dict, done: dict) -> str:
    """What the lab shows (its result's text) for the controls ``values`` once the run ``done`` has ended."""
    out = client.call("oip-shown.data", {**values, "oip-done.data": done}, "oip-done.data")
    return json.dumps(out.get("oip-result", {}).get("children"))


@pytest.mark.system
def test_kill_the_engine_mid_oip_then_the_next_run_works(dash_duo, real_app):
    url, proc, _, _ = real_app
    start_run(dash_duo, url, "/oip", "oip", {"#oip-steps input": 500, "#oip-seeds input": 4}, ["#oip-whole"])
    wait_until(lambda: graph_title(dash_duo, "oip-live").startswith("step"), 90, "a live frame", dash_duo)
    engines(proc.pid)["jobs"].kill()
    dash_duo.wait_for_contains_text("#oip-message", "engine stopped while running this", timeout=30)
    assert _status(url) in ("degraded", "ok")
    t0 = time.time()
    js_click(dash_duo, "#oip-whole")  # one map now
    set_input(dash_duo, "#oip-steps input", 20)
    set_input(dash_duo, "#oip-seeds input", 1)
    time.sleep(0.5)
    js_click(dash_duo, "#oip-run")
    dash_duo.wait_for_contains_text("#oip-message", "Done", timeout=60)
    assert time.time() - t0 < 20 + 20  # restart (< 20 s) and a 20-step run
    wait_healthy(url)
    no_console_errors(dash_duo)


@pytest.mark.system
def test_kill_the_engine_mid_training_keeps_the_checkpoint(dash_duo, real_app, model_dir):
    url, proc, _, _ = real_app
    wait_healthy(url)
    open_page(dash_duo, url, "/training")
    dash_duo.wait_for_element("#train-start", timeout=30)
    for sel, value in (("#train-epochs", 3), ("#train-subset", 3000), ("#train-name", "killed-run")):
        set_input(dash_duo, sel, value)
    js_click(dash_duo, "#train-start")
    ckpt = model_dir / ".checkpoints" / "killed-run.keras"
    wait_until(lambda: "epoch 2/3" in dash_duo.find_element("#train-progress").text, 180, "epoch 2", dash_duo)
    assert ckpt.is_file()
    engines(proc.pid)["jobs"].kill()
    dash_duo.wait_for_contains_text("#train-message", "engine stopped while running this", timeout=30)
    import zipfile

    with zipfile.ZipFile(ckpt) as z:  # the checkpoint written after epoch 1 is whole
        assert z.testzip() is None and "model.weights.h5" in z.namelist()
    wait_healthy(url, 30)
    js_click(dash_duo, "#train-start")  # the same name and settings resume from the checkpoint
    dash_duo.wait_for_contains_text("#train-message", "saved", timeout=240)
    first_x = dash_duo.driver.execute_script(
        "const g = document.querySelector('#train-curves .js-plotly-plot'); return g.data[0].x[0]")
    assert first_x == 1.0  # the resumed curves show the whole history, from the checkpoint's first epoch
    meta = json.loads((model_dir / "killed-run.json").read_text())
    assert meta["epochs_completed"] == 3


def test_eight_users_press_run_at_the_same_instant(app_proc):
    """8 clients at a barrier, 5 rounds: every run gets its own result (pairs ask for the same search)."""
    url = app_proc[0]
    wait_healthy(url)
    clients = [DashClient(url, "/oip") for _ in range(8)]
    sessions = [secrets.token_hex(16) for _ in clients]
    for rnd in range(5):
        barrier = threading.Barrier(len(clients))
        out: dict[int, object] = {}

        def user(i: int, rnd: int = rnd, barrier: threading.Barrier = barrier, out: dict = out) -> None:
            values = oip_values(sessions[i], map_=i % 4 + 4 * rnd, steps=20 + rnd)
            body_client = clients[i]
            barrier.wait()
            try:
                out[i] = body_client.background(OIP_RUN, values, "oip-run.n_clicks", timeout=180)
            except Exception as e:  # noqa: BLE001
                out[i] = e

        threads = [threading.Thread(target=user, args=(i,)) for i in range(len(clients))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(240)
        for i in range(len(clients)):
            res = out.get(i)
            assert isinstance(res, dict), f"round {rnd}, user {i}: {res!r}"
            message = json.dumps(res["oip-message"]["children"])
            assert "Done: " + str(20 + rnd) + " steps" in message, message
            values = oip_values(sessions[i], map_=i % 4 + 4 * rnd, steps=20 + rnd)
            text = shown(clients[i], values, res["oip-done"]["data"])
            assert f"Conv2D_3 map {i % 4 + 4 * rnd}," in text, f"round {rnd}, user {i} got another run: {text[:300]}"


def test_a_cancel_by_one_user_leaves_the_other_users_run(app_proc):
    url = app_proc[0]
    wait_healthy(url)
    a, b = DashClient(url, "/oip"), DashClient(url, "/oip")
    sa, sb = secrets.token_hex(16), secrets.token_hex(16)
    values = oip_values(sa, map_=0, steps=400, seeds=2, whole=True)  # 128 searches: runs for a while
    out: dict[str, object] = {}

    def run(name, client, session):
        try:
            out[name] = client.background(OIP_RUN, {**values, "shell-session.data": session}, "oip-run.n_clicks")
        except Exception as e:  # noqa: BLE001
            out[name] = e

    threads = [threading.Thread(target=run, args=args) for args in (("a", a, sa), ("b", b, sb))]
    for t in threads:
        t.start()
        time.sleep(0.5)
    remembered = a.call("shell-oip-last.data", values, "oip-run.n_clicks")["shell-oip-last"]["data"]
    wait_until(lambda: get_json(url + "/health")["running_jobs"] == 1, 60, "the shared job to run")
    time.sleep(1)
    a.call("oip-cancel.title", {"oip-cancel.n_clicks": 1, "shell-oip-last.data": remembered,
                                "shell-session.data": sa}, "oip-cancel.n_clicks")
    for t in threads:
        t.join(240)
    assert "Cancelled" in json.dumps(out["a"]["oip-message"]["children"]), str(out["a"])[:500]
    assert "Done: 400 steps" in json.dumps(out["b"]["oip-message"]["children"]), str(out["b"])[:500]


def test_wrong_key_and_silent_socket_clients_do_not_hurt_the_engine(app_proc):
    url, proc, _, _ = app_proc
    wait_healthy(url)
    before = {lane: p.pid for lane, p in engines(proc.pid).items()}
    path = socket_path(engines(proc.pid)["interactive"])
    from app.engine.protocol import client_handshake

    with pytest.raises((PermissionError, EOFError, OSError)):
        conn = Client(path, family="AF_UNIX")
        client_handshake(conn, b"not the key")
        conn.recv()
    silent = [socket.socket(socket.AF_UNIX) for _ in range(3)]
    for s in silent:
        s.connect(path)  # and say nothing
    t0 = time.time()
    assert get_json(url + "/health")["status"] == "ok"  # others are served meanwhile
    maps = DashClient(url, "/maps").call("maps-grid.figure", {"shell-image.data": {"source": "test", "index": 3},
                                                              "maps-layer.value": "Conv2D_2", "maps-scale.value": "map",
                                                              "maps-mode.value": "image", "shell-model.value": "default"},
                                         "maps-layer.value")
    assert "Conv2D_2: 64 maps" in json.dumps(maps["maps-grid"]["figure"]["layout"]["title"])
    assert time.time() - t0 < 5
    for s in silent:  # the engine hangs up on them after its handshake deadline
        s.settimeout(15)
        assert s.recv(4096)  # the challenge
        assert s.recv(4096) == b""
        s.close()
    assert {lane: p.pid for lane, p in engines(proc.pid).items()} == before  # no engine died


def _run_app(env: dict, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "app"], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **env})


@pytest.mark.parametrize("prepare,match", [
    (lambda d: d.chmod(0o777), "writable by others"),
    (lambda d: d.chmod(0o770), "writable by others"),
    (lambda d: os.chown(d, 65534, 65534) if os.getuid() == 0 else pytest.skip("chown needs root"),
     "belongs to another user"),
    (lambda d: (d.rmdir(), d.write_text("not a folder")), "Cannot create the cache folder"),
], ids=["world-writable", "group-writable", "other-owner", "not-a-folder"])
def test_a_hostile_cache_folder_is_refused_with_one_line(tmp_path, prepare, match):
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    prepare(cache)
    p = _run_app({"CNNVIZ_CACHE_DIR": str(cache)})
    assert p.returncode == 2 and match in p.stderr, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr


def test_the_default_cache_is_private_and_per_user(tmp_path):
    from app.settings import check_cache_dir, default_cache_dir

    os.environ_backup = dict(os.environ)  # type: ignore[attr-defined]
    try:
        os.environ["XDG_CACHE_HOME"] = str(tmp_path / "xdg")
        d = default_cache_dir()
        assert d == tmp_path / "xdg" / "cnnviz"
        check_cache_dir(d)
        assert d.stat().st_mode & 0o777 == 0o700
    finally:
        os.environ.clear()
        os.environ.update(os.environ_backup)  # type: ignore[attr-defined]


def test_a_corrupt_cache_entry_is_logged_dropped_and_recomputed(app_proc, model_dir):
    url, proc, log, cache = app_proc
    import diskcache

    from app.services import CACHE_FORMAT
    from cnnviz.store import file_sha256

    blob = json.dumps([CACHE_FORMAT, "info", file_sha256(model_dir / "default.keras"), {}], sort_keys=True, default=str)
    key = hashlib.sha256(blob.encode()).hexdigest()
    results = diskcache.Cache(str(cache / "results"))
    results.set(key, "placeholder")
    results._sql("UPDATE Cache SET value = ?, mode = 4 WHERE key = ?", (b"\x80\x05not a pickle", key))
    with pytest.raises(Exception):  # noqa: B017 - corrupt indeed
        results.get(key)
    out = DashClient(url, "/").call("model-table.children", {"shell-model.value": "default"}, "shell-model.value")
    assert "Conv2D_3" in json.dumps(out["model-table"]["children"])
    assert results.get(key).name == "default"  # recomputed and cached again
    log.seek(0)
    assert "dropped a corrupt cache entry" in log.read()


def test_malformed_callback_requests_get_400_and_no_traceback(app_proc):
    url, _, log, _ = app_proc
    client = DashClient(url, "/")
    for body in (b"not json", {"output": 5}, {"output": "nope.children", "outputs": {"id": "nope", "property": "x"},
                                                "inputs": [], "state": [], "changedPropIds": []},
                 {"output": "model-table.children", "inputs": [{"bogus": 1}], "state": []}):
        status, _ = client.post(body)
        assert status == 400, body
    log.seek(0)
    assert "Traceback" not in log.read()


def test_cancel_keys_that_the_server_did_not_make_are_ignored(app_proc):
    url, _, _, cache = app_proc
    import diskcache

    client = DashClient(url, "/oip")
    size = diskcache.Cache(str(cache / "results")).volume()
    for last in ({"key": "x" * 5_000_000}, {"key": "0" * 64 + "." + "0" * 32}, {"key": ["a"]}, "junk"):
        client.call("oip-cancel.title", {"oip-cancel.n_clicks": 1, "shell-oip-last.data": last,
                                         "shell-session.data": "0" * 32}, "oip-cancel.n_clicks")
    assert diskcache.Cache(str(cache / "results")).volume() < size + 100_000


def _stopped_without_orphans(proc, lanes: dict[str, psutil.Process], how) -> None:
    folders = [Path(socket_path(p)).parent for p in lanes.values()]
    how(proc)
    proc.wait(30)
    gone, alive = psutil.wait_procs(list(lanes.values()), timeout=20)
    assert not alive, f"engines left behind: {[p.pid for p in alive]}"
    wait_until(lambda: not any(f.exists() for f in folders), 10, "the engines' temp folders to go")


@pytest.mark.parametrize("how", [lambda p: p.send_signal(signal.SIGTERM), lambda p: p.send_signal(signal.SIGINT),
                                 lambda p: p.kill()], ids=["sigterm", "sigint", "kill-9"])
def test_stopping_the_web_process_leaves_no_engine_behind(model_dir, tmp_path_factory, how):
    env = {**os.environ, "CNNVIZ_MODEL_DIR": str(model_dir), "CNNVIZ_ENGINE_OPS": FAKE_OPS,
           "CNNVIZ_CACHE_DIR": str(tmp_path_factory.mktemp("stop-cache"))}
    url, proc, log = _app(env, tmp_path_factory)
    lanes = engines(proc.pid)
    assert set(lanes) == {"interactive", "jobs"}
    try:
        _stopped_without_orphans(proc, lanes, how)
    finally:
        stop_process(proc)
        for p in lanes.values():
            if p.is_running():
                p.kill()


def test_health_is_terse_with_auth_and_says_degraded_while_the_engine_restarts(model_dir, tmp_path_factory):
    env = {**os.environ, "CNNVIZ_MODEL_DIR": str(model_dir), "CNNVIZ_AUTH_USER": "ada", "CNNVIZ_AUTH_PASSWORD": "pw",
           "CNNVIZ_CACHE_DIR": str(tmp_path_factory.mktemp("auth-cache")), "CNNVIZ_ENGINE_OPS": FAKE_OPS}
    url, proc, log = _app(env, tmp_path_factory)
    try:
        assert get_json(url + "/health") == {"status": "ok"}
        engines(proc.pid)["interactive"].kill()
        wait_until(lambda: _status(url) == "degraded", 10, "/health to say degraded")
        wait_healthy(url, 30)
    finally:
        stop_process(proc)

"""The engine boundary under faults, on the real app (``python -m app``) and its real engine processes: a killed
engine, many users at once, a cancel by another user, hostile socket clients, a hostile or corrupt cache, and the
web process stopped or killed.

The engine machinery is what these test, not the arithmetic: most run against engines that serve the
TensorFlow-free :mod:`harness.fake_ops` (fast), and the kills mid-run against the real engine (``system``)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
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
        try:
            cmd = p.cmdline()
        except (psutil.ZombieProcess, psutil.NoSuchProcess):
            continue  # a killed engine not reaped yet, or gone between the listing and the look
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
            "oip-noise.value": "lowpass", "oip-method.value": "redirected", "oip-in-range.value": "auto",
            "oip-mode.value": "unit", "oip-expr.value": "",
            "oip-diversity.value": 1, "oip-to-map.value": 1, "oip-frames.value": 8,
            "shell-session.data": session}


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
    """8 clients at a barrier, 3 rounds: every run gets its own result (pairs ask for the same search)."""
    url = app_proc[0]
    wait_healthy(url)
    clients = [DashClient(url, "/oip") for _ in range(8)]
    sessions = [secrets.token_hex(16) for _ in clients]
    for rnd in range(3):
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


def _refused_start(tmp_path, prepare) -> str:
    """Starts the app on a cache folder that ``prepare`` made hostile; it must refuse in one line, exit 2, and
    print no traceback. Returns that line."""
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    prepare(cache)
    p = _run_app({"CNNVIZ_CACHE_DIR": str(cache)})
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr, p.stderr
    return p.stderr


@pytest.mark.parametrize("prepare,match", [
    (lambda d: d.chmod(0o777), "writable by others"),
    (lambda d: d.chmod(0o770), "writable by others"),
    (lambda d: os.chown(d, 65534, 65534) if os.getuid() == 0 else pytest.skip("chown needs root"),
     "belongs to another user"),
    (lambda d: (d.rmdir(), d.write_text("not a folder")), "Cannot create the cache folder"),
], ids=["world-writable", "group-writable", "other-owner", "not-a-folder"])
def test_a_hostile_cache_folder_is_refused_with_one_line(tmp_path, prepare, match):
    assert match in _refused_start(tmp_path, prepare)


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


class _Planted:
    """A pickle that runs code when loaded: what someone who can write into a cache would plant."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("entry", ["untrusted pickle", "corrupt bytes", "tag of another key"])
def test_a_planted_or_corrupt_cache_entry_is_never_loaded_and_is_recomputed(app_proc, model_dir, tmp_path, entry):
    import pickle

    import diskcache

    from app.cache import open_signed, read_key
    from app.services import CACHE_FORMAT
    from cnnviz.store import file_sha256

    url, proc, log, cache = app_proc
    blob = json.dumps([CACHE_FORMAT, "info", file_sha256(model_dir / "default.keras"), {}], sort_keys=True, default=str)
    key = hashlib.sha256(blob.encode()).hexdigest()
    marker = tmp_path / "the planted pickle ran"
    raw = diskcache.Cache(str(cache / "results"))  # as an intruder: no key
    if entry == "tag of another key":
        open_signed(cache / "results", b"k" * 32).set(key, _Planted(marker))
    else:
        raw.set(key, b"placeholder")
        payload = pickle.dumps(_Planted(marker)) if entry == "untrusted pickle" else b"\x80\x05not a pickle"
        raw._sql("UPDATE Cache SET value = ?, mode = 4 WHERE key = ?", (payload, key))
    out = DashClient(url, "/").call("model-table.children", {"shell-model.value": "default"}, "shell-model.value")
    assert "Conv2D_3" in json.dumps(out["model-table"]["children"])
    assert not marker.exists(), "a planted pickle was loaded"
    assert open_signed(cache / "results", read_key(cache)).get(key).name == "default"  # recomputed, signed again
    log.seek(0)
    assert "dropped a corrupt or untrusted cache entry" in log.read()


def _plant_foreign(d: Path) -> None:
    (d / "results").mkdir(mode=0o700)
    f = d / "results" / "cache.db"
    f.write_bytes(b"")
    os.chown(f, 65534, 65534)


@pytest.mark.parametrize("prepare,match", [
    (lambda d: ((d / "results").mkdir(mode=0o700), (d / "results" / "cache.db").write_bytes(b""),
                (d / "results" / "cache.db").chmod(0o666)), "writable by others"),
    (lambda d: ((d / "signing.key").write_text("00" * 32), (d / "signing.key").chmod(0o644)), "readable by others"),
    (lambda d: (d / "results").symlink_to("/tmp"), "symbolic link"),
    (lambda d: _plant_foreign(d) if os.getuid() == 0 else pytest.skip("chown needs root"), "belongs to another user"),
], ids=["writable-file", "readable-key", "symlink", "foreign-file"])
def test_a_cache_folder_with_planted_files_is_refused_with_one_line(tmp_path, prepare, match):
    line = _refused_start(tmp_path, prepare)
    assert "cannot be trusted" in line and match in line, line


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


@pytest.fixture(scope="module")
def capped_app(model_dir, tmp_path_factory):
    """A fake-engine app with one long run at a time, and runs cancelled after 4 s without a poll."""
    env = {**os.environ, "CNNVIZ_MODEL_DIR": str(model_dir), "CNNVIZ_CACHE_DIR": str(tmp_path_factory.mktemp("cap")),
           "CNNVIZ_ENGINE_OPS": FAKE_OPS, "CNNVIZ_MAX_RUNNING_JOBS": "1", "CNNVIZ_MAX_USER_JOBS": "2",
           "CNNVIZ_UNPOLLED_S": "4", "FAKE_STEP_S": "0.05"}
    url, proc, log = _app(env, tmp_path_factory)
    yield url
    stop_process(proc)


def _running(url: str) -> int:
    return get_json(url + "/health")["running_jobs"]


@pytest.mark.system  # waits out the server's own deadline (seconds by design): the full suite only
def test_runs_beyond_the_cap_wait_and_their_page_says_how_many_are_ahead(capped_app):
    url = capped_app
    wait_until(lambda: _running(url) == 0, 60, "the other tests' runs to end")
    first = DashClient(url, "/oip")
    body, query = first.start(OIP_RUN, oip_values(secrets.token_hex(16), map_=1, steps=160), "oip-run.n_clicks")
    labels: list[str] = []

    def first_running():
        first.post(body, query)  # an open page keeps polling
        return _running(url) == 1

    wait_until(first_running, 20, "the first run to reach the engine")

    def seen(res):
        labels.append(json.dumps((res or {}).get("progress") if isinstance(res, dict) else None))

    second = threading.Thread(target=lambda: DashClient(url, "/oip").background(
        OIP_RUN, oip_values(secrets.token_hex(16), map_=2, steps=10), "oip-run.n_clicks", timeout=60, on_poll=seen))
    second.start()
    while second.is_alive():  # the first page keeps polling, as an open page does
        first.post(body, query)
        time.sleep(0.3)
    assert any("1 run ahead of yours" in t for t in labels), labels[:5]


def test_one_user_cannot_queue_more_than_the_per_user_cap(capped_app):
    url, session = capped_app, secrets.token_hex(16)
    wait_until(lambda: _running(url) == 0, 60, "the other tests' runs to end")
    client = DashClient(url, "/oip")
    handles = [client.start(OIP_RUN, oip_values(session, map_=m, steps=400), "oip-run.n_clicks") for m in (3, 4)]
    wait_until(lambda: _running(url) == 2, 10, "both runs to reach the engine")
    out = client.background(OIP_RUN, oip_values(session, map_=5, steps=10), "oip-run.n_clicks", timeout=30)
    assert "already have 2 runs going or waiting" in json.dumps(out)
    assert len(handles) == 2  # never polled: they are cancelled after CNNVIZ_UNPOLLED_S


@pytest.mark.system  # waits out the server's own deadline (seconds by design): the full suite only
def test_a_run_nobody_polls_is_cancelled(capped_app):
    url = capped_app
    wait_until(lambda: _running(url) == 0, 60, "the other tests' runs to end")
    DashClient(url, "/oip").start(OIP_RUN, oip_values(secrets.token_hex(16), map_=6, steps=500), "oip-run.n_clicks")
    wait_until(lambda: _running(url) >= 1, 10, "the run to start")
    t0 = time.time()
    wait_until(lambda: _running(url) == 0, 30, "the unpolled run to be cancelled")  # 4 s + a progress tick
    assert time.time() - t0 < 500 * 0.05 - 5  # long before it would have ended


def _present_values(values: dict, done=None, shown=None, last=None) -> dict:
    """The inputs of the OIP page's result-follows-the-controls callback."""
    form = {k.replace("oip-run.n_clicks", "_"): v for k, v in values.items() if k.startswith("oip-")}
    return {**form, "shell-model.value": "default", "oip-done.data": done, "oip-poll.n_intervals": 0,
            "oip-shown.data": shown, "shell-oip-last.data": last}


def test_run_records_changed_in_the_browser_are_ignored_and_form_values_are_checked(app_proc):
    url = app_proc[0]
    client, session = DashClient(url, "/oip"), secrets.token_hex(16)
    values = oip_values(session, map_=7, steps=10, seeds=2)
    record = client.background(OIP_RUN, values, "oip-run.n_clicks")["oip-done"]["data"]
    shown = client.call("oip-shown.data", _present_values(values, done=record), "oip-done.data")
    assert shown["oip-shown"]["data"]["form"]["seeds"] == 2  # the genuine record: its result is shown
    forged = {**record, "form": {**record["form"], "seeds": 100_000}}
    t0 = time.time()
    out = client.call("oip-shown.data", _present_values({**values, "oip-seeds.value": 100_000}, done=forged,
                                                        last=forged), "oip-done.data")
    assert time.time() - t0 < 5 and out["oip-shown"]["data"] is None  # nothing is shown for it, nothing computed
    assert "seeds must be in" in json.dumps(out)  # the form itself is checked with a new run's limits


def test_a_pathological_drawing_is_parsed_fast_and_health_answers_meanwhile(app_proc):
    """100 strokes of 20,000 digits without a comma: 14-17 minutes of regex backtracking before the fix."""
    url, _, log, _ = app_proc
    from app.inputs import MAX_PATH_CHARS, MAX_STROKES

    shapes = [{"path": "M" + "1" * (MAX_PATH_CHARS - 1)} for _ in range(MAX_STROKES)]
    values = {"maps-draw-use.n_clicks": 1, "maps-draw-shapes.data": shapes, "shell-model.value": "default",
              "shell-image.data": {"source": "test", "index": 0}, "maps-mode.value": "image"}
    answer: dict = {}
    worker = threading.Thread(target=lambda: answer.update(DashClient(url, "/maps").call(
        "shell-image.data", values, "maps-draw-use.n_clicks")))
    t0 = time.time()
    worker.start()
    health = []
    while worker.is_alive() and time.time() - t0 < 60:
        h0 = time.time()
        get_json(url + "/health")
        health.append(time.time() - h0)
    worker.join(60)
    assert not worker.is_alive() and time.time() - t0 < 10, "the drawing took too long"
    assert max(health, default=0) < 3, health
    assert "maps-message" in answer and "Traceback" not in json.dumps(answer)


def test_deeply_nested_json_gets_400_and_no_traceback(app_proc):
    url, _, log, _ = app_proc
    status, _ = DashClient(url, "/").post(b"[" * 100_000 + b"]" * 100_000)
    assert status == 400
    log.seek(0)
    assert "Traceback" not in log.read()


@pytest.mark.system  # waits out the server's own deadline (seconds by design): the full suite only
def test_socket_clients_that_send_half_a_frame_are_dropped(app_proc):
    url, proc, _, _ = app_proc
    path = socket_path(engines(proc.pid)["interactive"])
    clients = []
    for _ in range(20):
        s = socket.socket(socket.AF_UNIX)
        s.connect(path)
        s.settimeout(30)
        assert s.recv(4096)  # the challenge
        s.sendall(b"\x00\x00")  # half of a length header, then nothing
        clients.append(s)
    assert get_json(url + "/health")["status"] == "ok"
    for s in clients:  # the engine's read deadline hangs up on each
        assert s.recv(4096) == b""
        s.close()


@pytest.mark.system
def test_a_hung_engine_is_killed_and_restarted(app_proc):
    url, proc, log, _ = app_proc
    wait_healthy(url)
    hung = engines(proc.pid)["jobs"]
    hung.suspend()  # SIGSTOP: alive, and answering nobody
    try:
        wait_until(lambda: engines(proc.pid).get("jobs") and engines(proc.pid)["jobs"].pid != hung.pid, 120,
                   "a new jobs engine")
    finally:
        if hung.is_running():
            hung.kill()
    wait_healthy(url, 60)
    log.seek(0)
    assert "has not answered" in log.read()
    assert DashClient(url, "/oip").background(OIP_RUN, oip_values(secrets.token_hex(16), 9, 10), "oip-run.n_clicks")


def _peak_rss_mb(code: str, timeout: float = 120) -> tuple[float, subprocess.CompletedProcess]:
    """Runs ``code`` in a fresh interpreter and samples its resident memory: (peak MiB, the finished process)."""
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    ps, peak, deadline = psutil.Process(proc.pid), 0, time.time() + timeout
    while proc.poll() is None and time.time() < deadline:
        try:
            peak = max(peak, ps.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.02)
    out, err = proc.communicate(timeout=30)
    return peak / 2**20, subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _deflated(path: Path, members: dict[str, tuple[bytes, int]]) -> Path:
    """A zip whose members are ``header`` then ``n`` zero bytes, deflated: gigabytes that take a few MB."""
    import zipfile

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        for name, (header, n) in members.items():
            with z.open(name, "w", force_zip64=True) as f:
                f.write(header)
                chunk = bytes(16 << 20)
                for _ in range(n // len(chunk)):
                    f.write(chunk)
    return path


@pytest.mark.system
def test_bombs_are_refused_within_bounded_memory(tmp_path):
    """A compressed .npz of 2 M images (1.5 GB inflated) and a .keras zip bomb (1.5 GB inflated) are refused
    from their headers: the process never holds more than a fraction of what they would inflate to."""
    import numpy as np

    images = 2_000_000
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False, "shape": (images, 28, 28)})
    npz = _deflated(tmp_path / "bomb.npz", {"x_train.npy": (header.getvalue(), images * 784)})
    peak, p = _peak_rss_mb(f"from cnnviz.data import load_npz; load_npz({str(npz)!r})")
    assert p.returncode != 0 and re.search("at most 200,000 per split|over 1024 MiB of arrays", p.stderr), p.stderr
    assert peak < 400, f"{peak:.0f} MiB"
    keras_bomb = _deflated(tmp_path / "bomb.keras", {"model.weights.h5": (b"", 1536 << 20)})
    peak, p = _peak_rss_mb(f"from cnnviz.model import read_keras; read_keras({str(keras_bomb)!r})")
    assert p.returncode != 0 and "cnnviz loads models of at most" in p.stderr, p.stderr[-2000:]
    assert peak < 1200, f"{peak:.0f} MiB"  # TensorFlow's import alone is most of it

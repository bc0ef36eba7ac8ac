"""The background-job manager: Dash's DiskcacheManager with jobs in threads (no fork)."""

from __future__ import annotations

import os
import threading
import time

import diskcache
import psutil

from app.threaded_jobs import ThreadedDiskcacheManager


def _manager(tmp_path, fn, progress=True):
    m = ThreadedDiskcacheManager(diskcache.Cache(str(tmp_path / "jobs")))
    return m, m.make_job_fn(fn, progress)


def test_a_job_runs_in_a_thread_reports_progress_and_its_result(tmp_path):
    release = threading.Event()

    def fn(set_progress, x):
        set_progress((50, "half"))
        release.wait(10)
        return x * 2

    m, job_fn = _manager(tmp_path, fn)
    children = len(psutil.Process(os.getpid()).children())
    job = m.call_job_fn("k1", job_fn, [21], {})
    assert len(psutil.Process(os.getpid()).children()) == children  # no process forked
    assert m.job_running(job)
    deadline = time.time() + 5
    while m.handle.get(m._make_progress_key("k1")) is None and time.time() < deadline:
        time.sleep(0.02)
    assert list(m.get_progress("k1")) == [50, "half"]
    assert m.get_result("k1", job) is m.UNDEFINED
    release.set()
    deadline = time.time() + 5
    while m.job_running(job) and time.time() < deadline:
        time.sleep(0.02)
    assert not m.job_running(job) and m.get_result("k1", job) == 42


def test_cancelled_job_stops_being_watched_and_its_leftovers_never_reach_a_rerun(tmp_path):
    stop = threading.Event()

    def fn(set_progress, x):
        stop.wait(10)  # the relay of an engine job that is being cancelled
        return f"stale {x}"

    m, job_fn = _manager(tmp_path, fn)
    job = m.call_job_fn("same", job_fn, [1], {})
    m.terminate_job(job)  # Dash's cancel
    assert not m.job_running(job)
    threading.Timer(0.3, stop.set).start()  # the engine job ends shortly after

    def fresh(set_progress, x):
        return f"fresh {x}"

    job2 = m.call_job_fn("same", m.make_job_fn(fresh, True), [2], {})
    deadline = time.time() + 5
    while m.job_running(job2) and time.time() < deadline:
        time.sleep(0.02)
    assert m.get_result("same", job2) == "fresh 2"


def test_unknown_job_is_not_running(tmp_path):
    m, _ = _manager(tmp_path, lambda set_progress: None)
    assert not m.job_running(12345) and m.terminate_unhealthy_job(12345) is False
    m.terminate_job(None)

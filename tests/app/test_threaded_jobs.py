"""The background-job manager: Dash's DiskcacheManager with jobs in threads (no fork), one key per request."""

from __future__ import annotations

import os
import threading
import time

import psutil

from app.threaded_jobs import ThreadedDiskcacheManager


def _manager(tmp_path, fn, progress=True):
    m = ThreadedDiskcacheManager()  # its progress and results in memory
    return m, m.make_job_fn(fn, progress)


def _wait(cond, timeout=5):
    deadline = time.time() + timeout
    while not cond() and time.time() < deadline:
        time.sleep(0.02)


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
    _wait(lambda: m.handle.get(m._make_progress_key("k1")) is not None)
    assert list(m.get_progress("k1")) == [50, "half"]
    assert m.get_result("k1", job) is m.UNDEFINED
    release.set()
    _wait(lambda: m._running[job][0].is_set())
    assert m.job_running(job)  # ended, result unread: still running for Dash
    assert m.get_result("k1", job) == 42 and not m.job_running(job)


def test_identical_requests_get_their_own_keys_and_each_its_result(tmp_path):
    """Two users pressing Run with the same inputs: Dash deletes a result once read, so a shared key loses one."""
    def fn(set_progress, x):
        return x + 1

    m, job_fn = _manager(tmp_path, fn)
    keys = [m.build_cache_key(fn, [1], [], None) for _ in range(2)]
    assert keys[0] != keys[1]
    jobs = [m.call_job_fn(k, job_fn, [1], {}) for k in keys]
    _wait(lambda: all(m._running[j][0].is_set() for j in jobs))
    assert [m.get_result(k, j) for k, j in zip(keys, jobs)] == [2, 2]


def test_a_job_registered_but_not_started_is_running(tmp_path):
    """Jobs registered by many requests at the same instant: none is forgotten before its thread starts."""
    gate = threading.Event()

    def fn(set_progress, x):
        gate.wait(10)
        return x

    m, job_fn = _manager(tmp_path, fn)
    start = threading.Barrier(8)
    jobs: list[int] = []

    def press(i):
        start.wait()
        jobs.append(m.call_job_fn(f"key{i}", job_fn, [i], {}))

    threads = [threading.Thread(target=press, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(m.job_running(j) for j in jobs)
    gate.set()
    _wait(lambda: all(m._running[j][0].is_set() for j in jobs))
    assert all(m.job_running(j) for j in jobs)  # ended, but their results are unread: still running for Dash
    results = {j: m.get_result(m._running[j][1], j) for j in jobs}
    assert sorted(results.values()) == list(range(8)) and not any(m.job_running(j) for j in jobs)


def test_cancelled_job_stops_being_watched(tmp_path):
    stop = threading.Event()
    m, job_fn = _manager(tmp_path, lambda set_progress, x: stop.wait(10))
    job = m.call_job_fn("same", job_fn, [1], {})
    m.terminate_job(job)  # Dash's cancel
    assert not m.job_running(job)
    stop.set()


def test_unknown_job_is_not_running(tmp_path):
    m, _ = _manager(tmp_path, lambda set_progress: None)
    assert not m.job_running(12345) and m.terminate_unhealthy_job(12345) is False
    m.terminate_job(None)


def test_a_job_that_ends_between_dashs_two_questions_is_not_lost(tmp_path):
    """Dash reads the result, then asks whether the job runs; a job ending in between must not look cancelled."""
    m, job_fn = _manager(tmp_path, lambda set_progress, x: x + 1)
    gate = threading.Event()
    original = m.get_result

    def slow_get_result(key, job):
        value = original(key, job)  # read before the thread ends…
        gate.set()
        _wait(lambda: job not in m._running or m._running[job][0].is_set())  # …and the thread ends right after
        return value

    m.get_result = slow_get_result
    key = m.build_cache_key(lambda: None, [1], [], None)
    job = m.call_job_fn(key, job_fn, [1], {})
    first = m.get_result(key, job)
    if first is m.UNDEFINED:  # the race happened: the job must still count as running, its result unread
        assert m.job_running(job)
        assert original(key, job) == 2
    else:
        assert first == 2
    assert not m.job_running(job)

"""The engine's job registry on its own: one job per key shared by its watchers, Cancel by watcher, errors
sorted into the user's and faults."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from app.engine.registry import Registry, UserError


def _wait(job, timeout=5):
    with job.cond:
        assert job.cond.wait_for(lambda: job.done, timeout)


def test_identical_requests_share_one_job_and_its_result():
    reg, gate, runs = Registry(), threading.Event(), []

    def run(job):
        runs.append(1)
        gate.wait(5)
        return 42

    a = reg.submit("k", "oip", None, "w1", run)
    b = reg.submit("k", "oip", None, "w2", run)
    assert a is b and a.watchers == {"w1", "w2"}
    gate.set()
    _wait(a)
    assert a.result == 42 and runs == [1]
    assert reg.submit("k", "oip", None, "w3", run) is a  # finished well: a later request joins its result


def test_a_cancel_detaches_one_watcher_and_stops_the_job_with_the_last():
    reg = Registry()

    def run(job):
        while not job.stop.wait(0.01):
            pass
        return "stopped"

    job = reg.submit("k", "oip", None, "w1", run)
    reg.submit("k", "oip", None, "w2", run)
    assert reg.detach("k", "w1") is False and not job.stop.is_set()
    assert reg.detach("k", "w2") is True
    _wait(job)
    assert job.result == "stopped" and job.detached == {"w1", "w2"}


def test_a_stopped_or_failed_job_is_not_reused():
    reg = Registry()

    class Stopped:
        stopped = True

    job = reg.submit("k", "oip", None, "w", lambda j: Stopped())
    _wait(job)
    again = reg.submit("k", "oip", None, "w", lambda j: 1)
    assert again is not job
    _wait(again)
    assert again.result == 1


def test_the_same_key_with_another_signature_is_refused_while_it_runs():
    reg, gate = Registry(), threading.Event()
    job = reg.submit("train:x", "train", "settings A", "w1", lambda j: gate.wait(5))
    with pytest.raises(UserError, match="taken by a train job that is running with other settings"):
        reg.submit("train:x", "train", "settings B", "w2", lambda j: None)
    gate.set()
    _wait(job)


def test_user_errors_are_messages_and_faults_are_logged_with_a_reference(caplog):
    reg = Registry()
    bad = reg.submit("a", "oip", None, "w", lambda j: (_ for _ in ()).throw(ValueError("map must be in 0..63")))
    _wait(bad)
    assert bad.error == "map must be in 0..63" and bad.user_error
    with caplog.at_level(logging.ERROR, logger="cnnviz.engine"):
        fault = reg.submit("b", "oip", None, "w", lambda j: {}["images"])
        _wait(fault)
    assert not fault.user_error and "Internal error in the engine's oip job (KeyError, reference" in fault.error
    ref = fault.error.split("reference ")[1].split(")")[0]
    assert any(ref in r.getMessage() and r.exc_info for r in caplog.records)


def test_finished_jobs_are_forgotten_after_a_while(monkeypatch):
    import app.engine.registry as registry

    reg = Registry()
    job = reg.submit("old", "oip", None, "w", lambda j: 1)
    _wait(job)
    monkeypatch.setattr(registry, "FINISHED_KEPT_S", 0.0)
    time.sleep(0.01)
    reg.submit("new", "oip", None, "w", lambda j: 2)
    assert reg.get("old") is None and [j.key for j in reg.list()] == ["new"]


def _blocking(gate: threading.Event, started: list):
    def run(job):
        started.append(job.key)
        while not gate.wait(0.01):
            if job.stop.is_set():
                return "stopped"
        return job.key

    return run


def test_jobs_beyond_the_global_cap_wait_in_order_and_say_how_many_runs_are_ahead():
    reg, gate, started = Registry(max_running=1, max_per_user=5), threading.Event(), []
    run = _blocking(gate, started)
    a, b, c = (reg.submit(k, "oip", None, f"w{k}", run) for k in "abc")
    time.sleep(0.3)
    assert started == ["a"] and reg.ahead(a) is None and reg.ahead(b) == 1 and reg.ahead(c) == 2
    assert [s.queued for s in sorted(reg.list(), key=lambda s: s.key)] == [0, 2, 3]
    gate.set()
    for job in (a, b, c):
        _wait(job)
    assert started == ["a", "b", "c"] and [j.result for j in (a, b, c)] == ["a", "b", "c"]


def test_one_user_may_have_a_few_runs_going_and_joining_a_running_one_is_free():
    reg, gate = Registry(max_running=4, max_per_user=2), threading.Event()
    run = _blocking(gate, [])
    reg.submit("a", "oip", None, "me", run)
    reg.submit("b", "oip", None, "me", run)
    with pytest.raises(UserError, match="already have 2 runs going or waiting"):
        reg.submit("c", "oip", None, "me", run)
    assert reg.submit("x", "oip", None, "you", run).owner == "you"  # another user is not held back
    assert "me" in reg.submit("x", "oip", None, "me", run).watchers  # joining costs nothing
    gate.set()
    _wait(reg.get("a"))
    _wait(reg.get("b"))
    reg.submit("c", "oip", None, "me", run)  # room again once one ended


def test_a_waiting_job_cancelled_by_its_only_watcher_never_runs():
    reg, gate, started = Registry(max_running=1), threading.Event(), []
    run = _blocking(gate, started)
    a = reg.submit("a", "oip", None, "w1", run)
    b = reg.submit("b", "oip", None, "w2", run)
    assert reg.detach("b", "w2") is True
    _wait(b)
    assert "Cancelled while waiting" in b.error and started == ["a"] and reg.ahead(b) is None
    gate.set()
    _wait(a)
    assert started == ["a"]

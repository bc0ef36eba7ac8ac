"""The engine's long jobs: one job per key, shared by everyone who asks for the same thing.

A job runs detached from whoever asked for it: the relay that streams it may go away (a page
switch) and the job goes on, stores its result and can be attached to again by key. Each job
keeps the set of its watchers (browser sessions). Cancel detaches one watcher; the job stops
when the last watcher has detached, so one user's Cancel never stops another user's run.

Capacity: at most ``max_running`` jobs run at once; later ones wait in a first-come queue and their streams say
how many runs are ahead (:class:`~app.engine.protocol.Queued`). One watcher may have at most ``max_per_user``
jobs of its own running or waiting; joining a job that runs already costs nothing and is always allowed.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

from cnnviz.errors import CnnvizError, is_user_error

from .results import JobSummary

log = logging.getLogger("cnnviz.engine")

FINISHED_KEPT_S = 60.0  # a finished job stays attachable this long (a page that comes back)


class UserError(CnnvizError):
    """Bad input to a job: the message is for the user."""


def fault_message(e: BaseException, where: str = "the engine") -> str:
    """Logs a fault (not the user's doing) with its traceback under a short reference, and returns the
    message for the user, which names that reference."""
    ref = secrets.token_hex(4)
    log.exception("%s failed [ref %s]", where, ref)
    return f"Internal error in {where} ({type(e).__name__}, reference {ref}); see the server log."


class Job:
    def __init__(self, key: str, kind: str, signature: Any):
        self.key, self.kind, self.signature = key, kind, signature
        self.cond = threading.Condition()
        self.seq, self.latest = 0, None
        self.done, self.result, self.error, self.user_error = False, None, None, True
        self.stop = threading.Event()
        self.watchers: set[str] = set()
        self.detached: set[str] = set()
        self.started, self.finished = time.time(), 0.0
        self.owner = ""  # the watcher that started it (counted against its per-user cap)

    def report(self, payload: Any) -> None:
        with self.cond:
            self.seq += 1
            self.latest = payload
            self.cond.notify_all()

    def finish(self, result: Any = None, error: str | None = None, user_error: bool = True) -> None:
        with self.cond:
            self.result, self.error, self.user_error = result, error, user_error
            self.done, self.finished = True, time.time()
            self.cond.notify_all()

    def watch(self, watcher: str) -> None:
        with self.cond:
            self.watchers.add(watcher)
            self.detached.discard(watcher)

    def detach(self, watcher: str) -> bool:
        """One watcher cancels; True when that left nobody watching (the job is then told to stop)."""
        with self.cond:
            self.detached.add(watcher)
            self.watchers.discard(watcher)
            if not self.watchers and not self.done:
                self.stop.set()
                self.cond.notify_all()
                return True
            return False

    @property
    def reusable(self) -> bool:
        """A later request may join it: running, or finished well (not failed, not stopped)."""
        return not self.done or (self.error is None and not getattr(self.result, "stopped", False))

    def summary(self) -> JobSummary:
        with self.cond:
            return JobSummary(self.key, self.kind, self.started, self.done, len(self.watchers), self.latest)


class Registry:
    def __init__(self, max_running: int = 2, max_per_user: int = 3) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self.max_running, self.max_per_user = max_running, max_per_user
        self._slots = threading.Condition(self._lock)
        self._queue: list[Job] = []  # waiting for a slot, first come first
        self._running = 0

    def submit(self, key: str, kind: str, signature: Any, watcher: str, run: Callable[[Job], Any]) -> Job:
        """The running (or just finished) job of ``key``, joined by ``watcher``; else a new one.

        ``signature`` says what the job makes; a running job of the same key that makes
        something else (a training of the same name with other settings) is refused.
        """
        with self._lock:
            now = time.time()
            for k in [k for k, j in self._jobs.items() if j.done and now - j.finished > FINISHED_KEPT_S]:
                del self._jobs[k]
            job = self._jobs.get(key)
            if job is not None and job.reusable:
                if job.signature != signature:
                    raise UserError(f"The name {key.split(':', 1)[-1]!r} is taken by a {job.kind} job that "
                                    f"{'is running' if not job.done else 'just finished'} with other settings: "
                                    "choose another name.")
                job.watch(watcher)
                return job
            mine = sum(1 for j in self._jobs.values() if not j.done and j.owner == watcher)
            if mine >= self.max_per_user:
                raise UserError(f"You already have {mine} runs going or waiting (at most {self.max_per_user}): wait "
                                "for one to end, or cancel one.")
            job = self._jobs[key] = Job(key, kind, signature)
            job.owner = watcher
            job.watch(watcher)
            self._queue.append(job)

        def target() -> None:
            try:
                if not self._take_slot(job):
                    job.finish(error="Cancelled while waiting for its turn: nothing was computed.")
                    return
                try:
                    job.finish(run(job))
                finally:
                    self._free_slot()
            except Exception as e:  # noqa: BLE001 - the engine survives any one job; a fault is logged
                if is_user_error(e):
                    job.finish(error=str(e) or type(e).__name__)
                else:
                    job.finish(error=fault_message(e, f"the engine's {kind} job"), user_error=False)

        threading.Thread(target=target, name=f"job-{kind}", daemon=True).start()
        return job

    def _take_slot(self, job: Job) -> bool:
        """Waits until ``job`` is first in the queue and a slot is free (True), or until it is stopped (False)."""
        with self._slots:
            while not job.stop.is_set() and (self._queue[0] is not job or self._running >= self.max_running):
                self._slots.wait(0.5)
            self._queue.remove(job)
            self._slots.notify_all()
            if job.stop.is_set():
                return False
            self._running += 1
            return True

    def _free_slot(self) -> None:
        with self._slots:
            self._running -= 1
            self._slots.notify_all()

    def ahead(self, job: Job) -> int | None:
        """How many runs are ahead of waiting ``job`` (running ones and those before it in the queue), or None
        when it is not waiting."""
        with self._lock:
            return self._queue.index(job) + self._running if job in self._queue else None

    def get(self, key: str) -> Job | None:
        with self._lock:
            return self._jobs.get(key)

    def detach(self, key: str, watcher: str) -> bool:
        """``watcher`` cancels its interest in ``key``; True when the job was told to stop."""
        job = self.get(key)
        return False if job is None or job.done else job.detach(watcher)

    def list(self) -> list[JobSummary]:
        with self._lock:
            jobs = list(self._jobs.values())
            ahead = {id(j): i + 1 + self._running for i, j in enumerate(self._queue)}
        return [dataclasses.replace(j.summary(), queued=ahead.get(id(j), 0)) for j in jobs]

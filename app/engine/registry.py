"""The engine's long jobs: one job per key, shared by everyone who asks for the same thing.

A job runs detached from whoever asked for it: the relay that streams it may go away (a page
switch) and the job goes on, stores its result and can be attached to again by key. Each job
keeps the set of its watchers (browser sessions). Cancel detaches one watcher; the job stops
when the last watcher has detached, so one user's Cancel never stops another user's run.
"""

from __future__ import annotations

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
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}

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
            job = self._jobs[key] = Job(key, kind, signature)
            job.watch(watcher)

        def target() -> None:
            try:
                job.finish(run(job))
            except Exception as e:  # noqa: BLE001 - the engine survives any one job; a fault is logged
                if is_user_error(e):
                    job.finish(error=str(e) or type(e).__name__)
                else:
                    job.finish(error=fault_message(e, f"the engine's {kind} job"), user_error=False)

        threading.Thread(target=target, name=f"job-{kind}", daemon=True).start()
        return job

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
        return [j.summary() for j in jobs]

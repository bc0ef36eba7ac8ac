"""Background-callback managers for cnnviz: one key per request, and (embedded) jobs in threads.

Dash keys a background job by its inputs and deletes the result once one poll has read it. Two
users who press Run with the same settings at the same instant would share that key, and the
first to poll would take the other's result away: a lost run. :class:`UniqueKeys` gives every
request its own key; identical requests still share the work, one level down, where the engine
runs one job per result key for all who ask (``app.engine.registry``).

``ThreadedDiskcacheManager``: Dash's DiskcacheManager forks the web process for every job.
Forking a threaded server is unsafe: the child gets every lock as it is at that instant, and
one held by another request thread (SQLite's, under diskcache, for one) stays locked in the
child forever; after TensorFlow the child hangs outright. In cnnviz a job only relays an engine
job (the work runs in an engine process), so a thread is all a job needs: no fork at all.
Progress and results still go through the diskcache, exactly as with DiskcacheManager.

Cancel: Dash's cancel cannot kill a thread; the pages' cancel callbacks detach the user from
the engine job, whose stream then ends for that user, and so does the thread.

Jobs live in the web process that started them, so this serves one web process (with any
number of threads: ``gunicorn --workers 1 --threads 8``, as the Dockerfile runs it). More web
processes need ``CNNVIZ_JOBS=celery``.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import secrets
import threading
import time
from typing import Any

import diskcache
from dash import DiskcacheManager

from .engine.client import Abandoned

log = logging.getLogger("cnnviz")


class UniqueKeys:
    """Mixin for a Dash background callback manager: a fresh cache key for every request."""

    def build_cache_key(self, fn, args, cache_args_to_ignore, triggered):
        return super().build_cache_key(fn, args, cache_args_to_ignore, triggered) + secrets.token_hex(8)


class MemoryCache(diskcache.Cache):
    """What DiskcacheManager asks of its cache, in this process's memory.

    The jobs are threads of this process, so their progress and results never need to leave it; in SQLite, eight
    users polling twice a second while their jobs write progress queued behind each other's locks (seconds per
    poll). An entry nobody reads expires after an hour.
    """

    def __init__(self, expire_s: float = 3600.0, unpolled_s: float = 150.0):  # no disk: no Cache.__init__
        self._data: dict[str, tuple[Any, float]] = {}
        self._mutex = threading.Lock()
        self._expire_s = expire_s
        self._unpolled_s = unpolled_s
        self._polled: dict[str, float] = {}  # a job's progress key -> when a poll last read it (or it first wrote)

    def _check_polled(self, key: str) -> None:
        """A job writes progress; nobody has polled it for ``unpolled_s`` (the tab was closed): it is abandoned.
        A hidden tab still polls, at least once a minute (Chrome's strongest timer throttling)."""
        if not key.endswith("-progress"):
            return
        now = time.monotonic()
        since = self._polled.setdefault(key, now)
        if now - since > self._unpolled_s:
            del self._polled[key]
            raise Abandoned(f"Nobody has looked at this run for {self._unpolled_s:.0f} s: it was cancelled.")

    def _purge(self) -> None:
        now = time.monotonic()
        for k in [k for k, (_, t) in self._data.items() if t < now]:
            del self._data[k]
        for k in [k for k, t in self._polled.items() if now - t > self._expire_s]:
            del self._polled[k]

    def get(self, key, default=None, *args, **kwargs):
        with self._mutex:
            if key in self._polled:
                self._polled[key] = time.monotonic()
            entry = self._data.get(key)
            return default if entry is None or entry[1] < time.monotonic() else entry[0]

    def set(self, key, value, expire=None, *args, **kwargs):
        with self._mutex:
            self._check_polled(key)
            self._purge()
            self._data[key] = (value, time.monotonic() + (expire or self._expire_s))
        return True

    def add(self, key, value, expire=None, *args, **kwargs):
        with self._mutex:
            if key in self._data:
                return False
            self._data[key] = (value, time.monotonic() + (expire or self._expire_s))
        return True

    def delete(self, key, *args, **kwargs):
        with self._mutex:
            return self._data.pop(key, None) is not None

    def touch(self, key, expire=None, *args, **kwargs):
        with self._mutex:
            if key not in self._data:
                return False
            self._data[key] = (self._data[key][0], time.monotonic() + (expire or self._expire_s))
        return True

    def __contains__(self, key):
        return self.get(key, self) is not self

    @contextlib.contextmanager
    def transact(self, *args, **kwargs):
        yield

    def close(self):
        pass


class ThreadedDiskcacheManager(UniqueKeys, DiskcacheManager):
    """A DiskcacheManager whose jobs are threads and whose cache is this process's memory (:class:`MemoryCache`);
    job ids are counters, not process ids."""

    _ids = itertools.count(1)

    def __init__(self, cache: diskcache.Cache | None = None, unpolled_s: float = 150.0, **kwargs):
        super().__init__(cache if cache is not None else MemoryCache(unpolled_s=unpolled_s), **kwargs)
        self._running: dict[int, tuple[threading.Event, str]] = {}  # job -> (set when its thread ended, cache key)
        self._lock = threading.Lock()

    def call_job_fn(self, key, job_fn, args, context):
        job, finished = next(self._ids), threading.Event()

        def target() -> None:
            try:
                job_fn(key, self._make_progress_key(key), args, context)
            except Exception:  # e.g. a cache that cannot take the result: logged, not silent
                log.exception("cnnviz: background job %s failed", job)
            finally:
                finished.set()

        with self._lock:
            # Forget finished jobs only: a job registered but not started yet is running for Dash.
            self._running = {j: (f, k) for j, (f, k) in self._running.items() if not f.is_set() or self._pending(k)}
            self._running[job] = (finished, key)
        threading.Thread(target=target, name=f"dash-job-{job}", daemon=True).start()
        return job

    def _pending(self, key: str) -> bool:
        """A result written and not read yet."""
        return self.handle.get(key, self.UNDEFINED) is not self.UNDEFINED

    def job_running(self, job):
        """True until Dash has read the job's result. Dash asks for the result first and then whether
        the job runs: a thread that ends between the two would otherwise look like a cancelled job
        (HTTP 204) and its result would be lost, so a finished job with an unread result still runs."""
        with self._lock:
            entry = self._running.get(int(job))
        if entry is None:
            return False
        finished, key = entry
        return not finished.is_set() or self._pending(key)

    def terminate_job(self, job):
        """A thread cannot be killed: it ends when the engine job it relays ends (see the module doc)."""
        if job is None:
            return
        with self._lock:
            self._running.pop(int(job), None)

    def terminate_unhealthy_job(self, job):
        return False

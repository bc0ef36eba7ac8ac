"""Dash's DiskcacheManager with its jobs run in threads of the web process instead of forked processes.

DiskcacheManager forks the web process for every job. Forking a threaded server is unsafe:
the child gets every lock as it is at that instant, and one held by another request thread
(SQLite's, under diskcache, for one) stays locked in the child forever. Twice here a job never
started (no progress, Run stuck: once by hand, once in CI) while the app stayed up, which fits
that; a 24-run stress test of single jobs on a quiet server did not reproduce it. In cnnviz a
job only relays an engine job (the engine worker does the work, in its own spawned process), so
a thread is all a job needs: no fork at all, no inherited locks, no TensorFlow hazard either.
Progress and results still go through the diskcache, exactly as with DiskcacheManager.

Cancel: Dash's cancel cannot kill a thread; the pages' cancel callbacks stop the engine job,
whose stream then ends, and so does the thread. A new job with the same inputs (the same
Dash cache key) first waits for such a thread and clears what it left in the cache.

Jobs live in the web process that started them, so this serves one web process (with any
number of threads: ``gunicorn --workers 1 --threads 8``, as the Dockerfile runs it). More web
processes need ``CNNVIZ_JOBS=celery``.
"""

from __future__ import annotations

import itertools
import threading

from dash import DiskcacheManager


class ThreadedDiskcacheManager(DiskcacheManager):
    """A DiskcacheManager whose jobs are threads; job ids are counters, not process ids."""

    _ids = itertools.count(1)

    STALE_WAIT_S = 15.0  # a cancelled relay ends within one engine chunk; never wait longer than this

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._threads: dict[int, threading.Thread] = {}  # running jobs Dash still watches
        self._by_key: dict[str, threading.Thread] = {}  # the last thread of each cache key
        self._lock = threading.Lock()

    def call_job_fn(self, key, job_fn, args, context):
        with self._lock:
            old = self._by_key.get(key)
        if old is not None and old.is_alive():  # a cancelled (or abandoned) run of the same inputs
            old.join(self.STALE_WAIT_S)
            for k in (key, self._make_progress_key(key), self._make_set_props_key(key)):
                self.clear_cache_entry(k)
        job = next(self._ids)
        thread = threading.Thread(target=job_fn, args=(key, self._make_progress_key(key), args, context),
                                  name=f"dash-job-{job}", daemon=True)
        with self._lock:
            self._threads = {j: t for j, t in self._threads.items() if t.is_alive()}
            self._by_key = {k: t for k, t in self._by_key.items() if t.is_alive()}
            self._threads[job] = thread
            self._by_key[key] = thread
        thread.start()
        return job

    def job_running(self, job):
        with self._lock:
            thread = self._threads.get(int(job))
        return thread is not None and thread.is_alive()

    def terminate_job(self, job):
        """A thread cannot be killed: it ends when the engine job it relays ends (see the module doc)."""
        if job is None:
            return
        with self._lock:
            self._threads.pop(int(job), None)

    def terminate_unhealthy_job(self, job):
        return False

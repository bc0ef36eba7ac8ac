"""Background jobs on Celery and Redis (``CNNVIZ_JOBS=celery``), and what the page says when either fails.

Dash's CeleryManager learns of a job only through Redis: a worker killed mid-run leaves the job "STARTED" for ever
(the page spins), and Redis down turns every poll into an error. Here:

- **Heartbeat.** While a task runs, its worker process writes ``cnnviz-beat-<task id>`` every :data:`BEAT_S`
  seconds with a :data:`BEAT_TTL_S` expiry (:func:`connect_heartbeat`, called by ``app.celery_worker``). A job
  that has started and has neither a result nor a heartbeat is lost: the poll answers with :data:`JOB_LOST`, which
  the page shows in its message slot (``app.ui.handled``'s ``on_error``), within ``BEAT_TTL_S`` plus a poll.
- **Redis down.** A poll that cannot reach Redis answers "no result yet, still running", so the page waits
  instead of failing; ``/health`` says degraded and every page's banner says why (:meth:`broker_problem`). Short
  socket timeouts and unlimited reconnects let the web process and the workers pick up as soon as Redis is back.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from dash import CeleryManager

from .threaded_jobs import UniqueKeys

log = logging.getLogger("cnnviz")
BEAT_S = 3.0
BEAT_TTL_S = 12
JOB_LOST = ("The worker running this job stopped (killed, crashed or restarted) before it finished, so there is no "
            "result. Press Run to start it again.")
_STARTED = ("STARTED", "PROGRESS", "RETRY", "FAILURE")  # states in which a job without a result needs a heartbeat


def beat_key(task_id: str) -> str:
    return f"cnnviz-beat-{task_id}"


def make_celery(redis_url: str):
    """The Celery app of the web process and of the workers, configured to fail fast and reconnect for ever."""
    from celery import Celery

    app = Celery("cnnviz", broker=redis_url, backend=redis_url)
    timeouts = {"socket_timeout": 5, "socket_connect_timeout": 5, "retry_on_timeout": True}
    app.conf.update(
        worker_prefetch_multiplier=1, result_expires=24 * 3600,  # one job at a time per process: jobs are long
        task_track_started=True,  # "STARTED" tells a running job from a queued one
        broker_connection_retry_on_startup=True, broker_connection_retry=True, broker_connection_max_retries=None,
        broker_transport_options={**timeouts, "health_check_interval": 5},
        redis_socket_timeout=5, redis_socket_connect_timeout=5, redis_retry_on_timeout=True,
        redis_backend_health_check_interval=5, result_backend_transport_options={"retry_policy": {"timeout": 5.0}},
        broker_pool_limit=None,  # a fresh connection per publish after an outage, not a pooled dead one
    )
    return app


class UniqueKeyCeleryManager(UniqueKeys, CeleryManager):
    """Dash's CeleryManager with one key per request, lost jobs reported and Redis outages survived."""

    def __init__(self, celery_app, **kwargs):
        super().__init__(celery_app, **kwargs)
        self._probed: tuple[float, str | None] = (0.0, None)
        self._lock = threading.Lock()
        self._started: dict[str, float] = {}  # jobs seen running (a Redis restarted empty forgets them)

    @property
    def _redis(self):
        return self.handle.backend.client

    def broker_problem(self) -> str | None:
        """None when Redis answers, else what is wrong (for ``/health`` and the banner); looked at every 2 s."""
        with self._lock:
            when, found = self._probed
            if time.monotonic() - when < 2.0:
                return found
        try:
            self._redis.ping()
            found = None
        except Exception as e:  # noqa: BLE001 - redis-py's connection errors
            found = f"Redis at {self.handle.conf.broker_url} does not answer ({type(e).__name__})"
        with self._lock:
            self._probed = (time.monotonic(), found)
        return found

    def get_progress(self, key):
        try:
            return super().get_progress(key)
        except Exception:  # noqa: BLE001 - Redis down: no progress this poll
            return None

    def get_updated_props(self, key):
        try:
            return super().get_updated_props(key)
        except Exception:  # noqa: BLE001 - Redis down
            return {}

    def get_result(self, key, job):
        try:
            result = super().get_result(key, job)
            if result is self.UNDEFINED and self._lost(job):
                return {"background_callback_error": {"msg": JOB_LOST, "tb": ""}}
            return result
        except Exception as e:  # noqa: BLE001 - Redis down: nothing yet, poll again (the banner says why)
            log.warning("cnnviz: a job's poll could not reach Redis (%s): the page waits", type(e).__name__)
            return self.UNDEFINED

    def job_running(self, job):
        try:
            return super().job_running(job)
        except Exception:  # noqa: BLE001 - Redis down: the job may well be running; keep polling
            return True

    def _lost(self, job) -> bool:
        """Started (or failed) without a result, and without a heartbeat: its worker is gone. A job seen running
        that Redis no longer knows (restarted empty) and that no worker beats for is gone too."""
        if not job:
            return False
        if self._redis.exists(beat_key(job)):
            with self._lock:
                now = time.monotonic()
                self._started = {j: t for j, t in self._started.items() if now - t < 24 * 3600}
                self._started[job] = now
            return False
        status = self.get_task(job).status
        with self._lock:
            seen = job in self._started
        return status in _STARTED or (status == "PENDING" and seen)


def connect_heartbeat() -> None:
    """In a worker: every task writes its heartbeat while it runs (see the module doc)."""
    from celery.signals import task_postrun, task_prerun

    beats: dict[str, threading.Event] = {}

    @task_prerun.connect(weak=False)
    def _start(task_id=None, task=None, **_kw: Any) -> None:
        client = task.backend.client
        stop = beats[task_id] = threading.Event()

        def beat() -> None:
            while True:
                try:
                    client.set(beat_key(task_id), "1", ex=BEAT_TTL_S)
                except Exception as e:  # noqa: BLE001 - Redis down: try again next beat
                    log.warning("cnnviz: heartbeat of %s not written (%s)", task_id, type(e).__name__)
                if stop.wait(BEAT_S):
                    return

        try:
            client.set(beat_key(task_id), "1", ex=BEAT_TTL_S)  # before the task is marked STARTED
        except Exception:  # noqa: BLE001 - Redis down: the task cannot report either; the thread retries
            pass
        threading.Thread(target=beat, name=f"beat-{task_id}", daemon=True).start()

    @task_postrun.connect(weak=False)
    def _stop(task_id=None, task=None, **_kw: Any) -> None:
        stop = beats.pop(task_id, None)
        if stop is not None:
            stop.set()
        try:
            task.backend.client.delete(beat_key(task_id))
        except Exception:  # noqa: BLE001 - it expires anyway
            pass

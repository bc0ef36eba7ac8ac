"""The web side of the engine: start and supervise the engine processes, and call them.

Safe in the web process and in Dash's job threads and Celery's pool processes: nothing here
imports TensorFlow, and every call opens its own connection with deadlines on each step.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Client
from pathlib import Path
from typing import Any

from cnnviz.errors import CnnvizError

from .protocol import (
    HEARTBEAT_S,
    INTERACTIVE,
    JOBS,
    LANES,
    Done,
    Failed,
    Heartbeat,
    Progress,
    Queued,
    Request,
    client_handshake,
    lane_of,
)

log = logging.getLogger("cnnviz.engine")

ROOT = Path(__file__).resolve().parents[2]
START_S = 180.0  # loading TensorFlow on a busy 2-core machine
CALL_S = 30.0  # a quick call's deadline
SLOW_CALL_S = {"class_means": 600.0, "dense_stats": 600.0,  # one pass over the whole test set
               "sanity": 300.0}  # an attribution per image and randomised layer
STALL_S = 10 * HEARTBEAT_S  # a stream that says nothing this long is stalled
BACKOFF_S = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)  # between restarts of an engine that keeps dying
STABLE_S = 60.0  # an engine up this long has its restart count forgiven
PING_S = 5.0  # the watchdog's handshake with each engine, this often
HUNG_PINGS = 4  # this many unanswered handshakes in a row (about 40 s) and a hung engine is killed and restarted


class EngineError(CnnvizError):
    """A request the engine refused (bad input) or could not serve; the message is for the user. ``user`` is
    False when the engine failed by a fault of its own (logged there with a reference the message names)."""

    def __init__(self, message: str, user: bool = True):
        super().__init__(message)
        self.user = user


class EngineStopped(EngineError):
    """The engine process died during the request; it is being restarted."""


class EngineCancelled(EngineError):
    """This watcher cancelled a job that goes on for other watchers."""


class Abandoned(EngineCancelled):
    """Raised by a progress callable when nobody polls the run's page any more: the stream detaches its watcher
    (the job stops when nobody else watches it) and ends (``app.threaded_jobs.MemoryCache``)."""


class _Lane:
    """One supervised engine process."""

    def __init__(self, name: str, model_folder: str, ops: str | None = None):
        self.name, self.model_folder, self.ops = name, model_folder, ops
        self.proc: subprocess.Popen | None = None
        self.address, self.authkey, self.folder = "", b"", ""
        self.state = "starting"  # starting | ok | restarting | stopped
        self.restarts, self.started_at = 0, 0.0
        self.ready = threading.Event()
        self.lock = threading.Lock()

    def spawn(self) -> None:
        """Starts the process and waits until it listens (raises if it does not)."""
        folder = tempfile.mkdtemp(prefix=f"cnnviz-engine-{self.name}-")  # mode 0700: nobody else reaches the socket
        address, authkey = os.path.join(folder, "engine.sock"), secrets.token_bytes(32)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
               "TMPDIR": folder}  # TensorFlow's temporary files go into the engine's folder, and away with it
        ops = ["--ops", self.ops] if self.ops else []
        proc = subprocess.Popen([sys.executable, "-m", f"{__package__}.server", "--lane", self.name, "--models",
                                 self.model_folder, "--socket", address, *ops], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, env=env, cwd=str(ROOT))
        if proc.stdin is None or proc.stdout is None:  # both are pipes: only a broken Popen gets here
            raise RuntimeError(f"Could not open pipes to the {self.name} engine.")
        proc.stdin.write(authkey.hex().encode() + b"\n")
        proc.stdin.flush()  # stdin stays open: the engine ends when this process does
        line: list[bytes] = []
        reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(START_S)
        if not line or line[0].strip() != b"ready":
            proc.kill()
            proc.wait()
            shutil.rmtree(folder, ignore_errors=True)
            raise RuntimeError(f"The {self.name} engine did not start within {START_S:.0f} s "
                               f"(exit status {proc.poll()}); see the log above.")
        with self.lock:
            if self.state == "stopped":  # the app shut down while this engine started: it must not outlive it
                late = True
            else:
                late = False
                self.proc, self.address, self.authkey, self.folder = proc, address, authkey, folder
                self.state, self.started_at = "ok", time.monotonic()
        if late:
            _end(proc, folder)
            return
        self.ready.set()

    def stop(self) -> None:
        with self.lock:
            self.state = "stopped"
            proc, folder = self.proc, self.folder
        self.ready.set()
        _end(proc, folder)


def _end(proc: subprocess.Popen | None, folder: str) -> None:
    """Stops an engine process (SIGTERM, then SIGKILL) and removes its folder."""
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    if proc is not None and proc.stdin:
        proc.stdin.close()
    if folder:
        shutil.rmtree(folder, ignore_errors=True)


class Engine:
    """Supervises the engine processes (one per lane) and calls them.

    A watcher thread restarts a lane whose process died, with backoff; calls made meanwhile
    fail with a clear message, and the next call after the restart works.
    """

    def __init__(self, lanes: dict[str, _Lane]):
        self.lanes = lanes
        self._closed = threading.Event()

    @classmethod
    def start(cls, model_folder: str | os.PathLike[str], ops: str | None = None) -> Engine:
        """Starts every lane (in parallel) and their supervisor; ``ops`` (module:class) replaces the operations
        the engine serves (tests run a TensorFlow-free fake)."""
        engine = cls({name: _Lane(name, str(model_folder), ops) for name in LANES})
        errors: list[Exception] = []

        def spawn(lane: _Lane) -> None:
            try:
                lane.spawn()
            except Exception as e:  # noqa: BLE001 - reported below, after both tried
                errors.append(e)

        threads = [threading.Thread(target=spawn, args=(lane,)) for lane in engine.lanes.values()]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            engine.stop()
            raise errors[0]
        for lane in engine.lanes.values():
            threading.Thread(target=engine._supervise, args=(lane,), name=f"supervise-{lane.name}", daemon=True).start()
            threading.Thread(target=engine._watchdog, args=(lane,), name=f"watchdog-{lane.name}", daemon=True).start()
        return engine

    def _watchdog(self, lane: _Lane) -> None:
        """Kills an engine that stopped answering (stopped by a signal, deadlocked): the supervisor then restarts
        it as if it had died. An engine busy computing still answers: each connection has its own thread."""
        missed = 0
        while not self._closed.wait(PING_S):
            with lane.lock:
                proc, address, authkey, state = lane.proc, lane.address, lane.authkey, lane.state
            if state != "ok" or proc is None:
                missed = 0
                continue
            try:
                with Client(address, family="AF_UNIX") as conn:
                    client_handshake(conn, authkey)
                missed = 0
            except Exception:  # noqa: BLE001 - no answer, in whichever way
                missed += 1
            if missed >= HUNG_PINGS and proc.poll() is None and not self._closed.is_set():
                log.warning("cnnviz: the %s engine has not answered for %.0f s; killing it to restart it", lane.name,
                            missed * PING_S)
                proc.kill()
                missed = 0

    def _supervise(self, lane: _Lane) -> None:
        while not self._closed.is_set():
            proc = lane.proc
            if proc is None:
                return
            code = proc.wait()
            if self._closed.is_set() or lane.state == "stopped":
                return
            with lane.lock:
                lane.state = "restarting"
                lane.ready.clear()
                if time.monotonic() - lane.started_at > STABLE_S:
                    lane.restarts = 0
                delay = BACKOFF_S[min(lane.restarts, len(BACKOFF_S) - 1)]
                lane.restarts += 1
                if proc.stdin:
                    proc.stdin.close()
                shutil.rmtree(lane.folder, ignore_errors=True)
            log.warning("cnnviz: the %s engine stopped (exit status %s); restarting in %.1f s", lane.name, code, delay)
            while not self._closed.wait(delay):
                try:
                    lane.spawn()
                    log.warning("cnnviz: the %s engine is back", lane.name)
                    break
                except Exception as e:  # noqa: BLE001 - keep trying, slower
                    log.warning("cnnviz: restarting the %s engine failed: %s", lane.name, e)
                    delay = min(2 * delay, BACKOFF_S[-1])

    def stop(self) -> None:
        """Stops every engine process and removes their temp folders."""
        self._closed.set()
        for lane in self.lanes.values():
            lane.stop()

    def status(self) -> dict[str, str]:
        """Each lane's state: ok, starting, restarting or stopped."""
        return {name: lane.state for name, lane in self.lanes.items()}

    @property
    def ok(self) -> bool:
        return all(s == "ok" for s in self.status().values())

    # ---- calls

    def _connect(self, lane: _Lane, deadline: float):
        if lane.state != "ok" and not lane.ready.wait(min(5.0, max(0.0, deadline - time.monotonic()))):
            raise EngineError("The engine is restarting after it stopped; try again in a few seconds.")
        if lane.state == "stopped":
            raise EngineError("The engine is shut down.")
        try:
            conn = Client(lane.address, family="AF_UNIX")
            client_handshake(conn, lane.authkey)
            return conn
        except (OSError, EOFError, TimeoutError, PermissionError) as e:
            raise EngineError(f"The engine is not reachable ({type(e).__name__}); it is restarted "
                              "automatically: try again in a few seconds.") from None

    def call(self, op: str, timeout: float | None = None, **args: Any) -> Any:
        """Runs one quick operation and returns its result."""
        lane = self.lanes[lane_of(op)]
        limit = timeout or SLOW_CALL_S.get(op, CALL_S)
        deadline = time.monotonic() + limit
        conn = self._connect(lane, deadline)
        with conn:
            conn.send(Request(op, args))
            msg = self._recv(conn, deadline, f"The engine did not answer within {limit:.0f} s ({op}).")
            return self.unpack(msg)

    def stream(self, op: str, on_progress: Callable[[Any], None] | None, *, key: str, watcher: str,
               cache: str | None = None, on_queued: Callable[[str], None] | None = None, **args: Any) -> Any:
        """Runs (or joins) the long job ``key`` as ``watcher``, passing progress to ``on_progress`` and, while the
        job waits for its turn, a sentence saying how many runs are ahead to ``on_queued``."""
        lane = self.lanes[lane_of(op)]
        conn = self._connect(lane, time.monotonic() + CALL_S)
        with conn:
            conn.send(Request(op, args, key=key, watcher=watcher, cache=cache))
            while True:
                msg = self._recv(conn, time.monotonic() + STALL_S,
                                 f"The engine stopped answering during this {op} run; press Run to retry.")
                try:
                    if isinstance(msg, Progress) and on_progress is not None:
                        on_progress(msg.payload)
                    elif isinstance(msg, Queued) and on_queued is not None:
                        on_queued(queued_text(msg.ahead))
                    elif not isinstance(msg, (Progress, Queued, Heartbeat)):
                        return self.unpack(msg)
                except Abandoned:
                    self.detach(key, watcher)
                    raise

    def detach(self, key: str, watcher: str) -> bool:
        """``watcher`` cancels job ``key``: the job stops when nobody else watches it."""
        return bool(self.call("detach", key=key, watcher=watcher))

    @staticmethod
    def _recv(conn, deadline: float, late: str) -> Any:
        try:
            if not conn.poll(max(0.0, deadline - time.monotonic())):
                raise EngineError(late)
            return conn.recv()
        except (EOFError, OSError):
            raise EngineStopped("The engine stopped while running this (it is restarting); press Run to "
                                "retry.") from None

    @staticmethod
    def unpack(msg: Any) -> Any:
        """The value of an engine's final message, or the error it reports."""
        if isinstance(msg, Done):
            return msg.value
        if isinstance(msg, Failed):
            raise (EngineCancelled if msg.cancelled else EngineError)(msg.message, msg.user)
        raise EngineError(f"The engine sent something unexpected ({type(msg).__name__}).")


def queued_text(ahead: int) -> str:
    return f"waiting for its turn: {ahead} run{'s' if ahead != 1 else ''} ahead of yours"


__all__ = ["Abandoned", "Engine", "EngineCancelled", "EngineError", "EngineStopped", "INTERACTIVE", "JOBS"]

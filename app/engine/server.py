"""An engine process: the only kind of process that runs TensorFlow for the dashboard.

Started by :class:`app.engine.client.Engine` as ``python -m app.engine.server`` (a fresh
interpreter: it inherits no lock, thread or TensorFlow state of the web process). It reads its
key from stdin and keeps stdin open: when the web process goes away, even by ``kill -9``,
stdin ends and so does the engine, with its socket and temp folder. It listens on a Unix
socket in a folder only its user can enter; each client must answer a challenge with the key
within a few seconds, so a wrong-key or silent client costs one thread for that long and
nothing else. Each connection is served by its own thread; long jobs run detached in the
job registry, and the "jobs" lane runs at a lower CPU priority than the "interactive" one.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import socket
import struct
import sys
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from cnnviz.errors import is_user_error

from .protocol import (
    HEARTBEAT_S,
    JOB_OPS,
    JOBS,
    LANES,
    QUICK_OPS,
    Done,
    Failed,
    Heartbeat,
    Progress,
    Queued,
    Request,
    cancel_flag,
    server_handshake,
)
from .registry import Job, Registry, fault_message

log = logging.getLogger("cnnviz.engine")

REQUEST_S = 10.0  # a client that connected must send its request within this


class Server:
    def __init__(self, ops: Any, authkey: bytes):
        self.ops, self.authkey = ops, authkey
        from ..settings import job_limits

        running, per_user, _ = job_limits()
        self.jobs = Registry(running, per_user)

    # ---- quick operations that belong to the server, not to the models

    def list_jobs(self) -> list:
        return self.jobs.list()

    def detach(self, key: str, watcher: str) -> bool:
        return self.jobs.detach(str(key), str(watcher))

    def health(self) -> dict[str, Any]:
        return {**self.ops.health(), "running_jobs": sum(not j.done for j in self.jobs.list())}

    # ---- connections

    def handle(self, conn: Connection) -> None:
        try:
            server_handshake(conn, self.authkey)
        except Exception as e:  # noqa: BLE001 - wrong key, junk, silence: drop this client, serve the rest
            log.warning("engine: refused a client (%s)", type(e).__name__)
            conn.close()
            return
        try:
            if not conn.poll(REQUEST_S):
                return
            req = conn.recv()
            if not isinstance(req, Request):
                conn.send(Failed(f"Not an engine request. Received: {type(req).__name__}"))
            elif req.op in JOB_OPS:
                self.stream(conn, req)
            elif req.op in QUICK_OPS:
                fn = getattr(self, req.op, None) or getattr(self.ops, req.op)
                conn.send(Done(fn(**req.args)))
            else:
                conn.send(Failed(f"Unknown engine operation. Received: op={req.op!r}"))
        except (BrokenPipeError, ConnectionResetError, EOFError):
            pass  # the client went away; a job it streamed goes on
        except Exception as e:  # noqa: BLE001 - the engine survives any one request; a fault is logged
            if is_user_error(e):
                _send(conn, Failed(str(e) or type(e).__name__))
            else:
                _send(conn, Failed(fault_message(e), user=False))
        finally:
            conn.close()

    def stream(self, conn: Connection, req: Request) -> None:
        """Runs (or joins) the job of ``req`` and streams its progress and end to ``conn`` (anything with ``send``)."""
        if not req.key or not req.watcher:
            raise ValueError("A job needs a key and a watcher.")
        fn = getattr(self.ops, req.op)
        # A training's key is its model name: another request for that name must ask for the same.
        signature = repr(sorted(req.args.items())) if req.op == "train" else None

        def run(job: Job) -> Any:
            result = fn(**req.args, report=job.report, should_stop=_stop_flag(job, req.cache))
            if not getattr(result, "stopped", False) and req.cache:
                _store(req.cache, job.key, result)
            return result

        job = self.jobs.submit(req.key, req.op, signature, req.watcher, run)
        seen = 0
        while True:
            with job.cond:
                job.cond.wait_for(lambda seen=seen: job.seq != seen or job.done, timeout=HEARTBEAT_S)
                seq, latest, done = job.seq, job.latest, job.done
                left = req.watcher in job.detached and not job.stop.is_set()
            if done:
                conn.send(Done(job.result) if job.error is None else Failed(job.error, job.user_error))
                return
            if left:  # this watcher cancelled; others still watch, so the job goes on for them
                conn.send(Failed("Cancelled. The same run goes on for another user who asked for it.", cancelled=True))
                return
            ahead = self.jobs.ahead(job)
            if seq != seen and latest is not None:
                conn.send(Progress(latest))
                seen = seq
            else:
                conn.send(Heartbeat() if ahead is None else Queued(ahead))


def _send(conn: Connection, msg: Any) -> None:
    try:
        conn.send(msg)
    except OSError:
        pass


def _open(cache_dir: str):
    """The shared result cache (a folder ``results`` of the app's cache folder), signed with the app's key."""
    from ..cache import open_signed, read_key

    return open_signed(cache_dir, read_key(Path(cache_dir).parent))


def _store(cache_dir: str, key: str, value: Any) -> None:
    """Caches a finished job's result; a cache that cannot take it is logged (the web side reports it)."""
    try:
        with _open(cache_dir) as cache:
            cache.set(key, value)
    except Exception as e:  # noqa: BLE001 - an unwritable or full cache must not fail the job
        log.warning("engine: could not cache the result of %s: %s", key[:16], e)


def _stop_flag(job: Job, cache_dir: str | None):
    """should_stop for a job: every watcher detached, here or through the shared result cache.

    With Celery the job runs in a worker's engine, which learns of a Cancel pressed in the web
    process only through the cache they share.
    """
    if not cache_dir:
        return job.stop.is_set
    try:
        cache = _open(cache_dir)
    except Exception as e:  # noqa: BLE001 - no shared cache: Cancel reaches this engine directly only
        log.warning("engine: no cancel flags for %s (%s)", job.key[:16], e)
        return job.stop.is_set
    last = [0.0]

    def should_stop() -> bool:
        now = time.monotonic()
        if not job.stop.is_set() and now - last[0] >= 0.3:  # a cheap SQLite read, ~3 times a second
            last[0] = now
            with job.cond:
                watchers = list(job.watchers)
            for w in watchers:
                try:
                    if cache.get(cancel_flag(job.key, w)):
                        job.detach(w)
                except Exception:  # noqa: BLE001 - an unreadable flag is no cancel
                    pass
        return job.stop.is_set()

    return should_stop


def _watch_parent(folder: Path) -> None:
    """Ends this process when the web process that started it is gone (stdin closes)."""
    try:
        while sys.stdin.buffer.read(4096):
            pass
    except OSError:
        pass
    shutil.rmtree(folder, ignore_errors=True)
    os._exit(0)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m app.engine.server")
    ap.add_argument("--lane", choices=LANES, required=True)
    ap.add_argument("--models", required=True)
    ap.add_argument("--socket", required=True)
    ap.add_argument("--ops", default=f"{__package__}.ops:Ops", help="module:class of the operations served (tests use "
                    "a TensorFlow-free fake)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s cnnviz-engine[{args.lane}] %(levelname)s %(message)s")
    authkey = bytes.fromhex(sys.stdin.buffer.readline().decode().strip())
    folder = Path(args.socket).parent

    def stop(_signum, _frame) -> None:  # SIGTERM from the web process: leave no folder behind
        shutil.rmtree(folder, ignore_errors=True)
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    threading.Thread(target=_watch_parent, args=(folder,), name="parent-watch", daemon=True).start()
    if args.lane == JOBS:
        os.nice(10)  # long jobs yield the CPU to interactive calls and to the web process
    import importlib

    module, _, name = args.ops.partition(":")
    ops_class = getattr(importlib.import_module(module), name)
    server = Server(ops_class(Path(args.models), args.lane), authkey)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(args.socket)
    os.chmod(args.socket, 0o600)
    sock.listen(64)
    print("ready", flush=True)
    os.dup2(2, 1)  # nobody reads the pipe after "ready": anything printed later goes to the log
    while True:
        client, _ = sock.accept()
        # A read that waits longer than this fails: a client that sends half a frame header, or half a request,
        # is dropped instead of holding a thread for ever (streams only send after the request).
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", int(REQUEST_S), 0))
        conn = Connection(client.detach())
        threading.Thread(target=server.handle, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()

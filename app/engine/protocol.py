"""What crosses the socket between the web side and an engine process: typed messages, the
handshake, and which lane serves which operation.

Importable without TensorFlow (and without Dash): both sides use it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

# Two lanes, two engine processes: interactive calls (one image, one model's info) never queue
# behind long jobs, which run in the "jobs" lane at a lower CPU priority.
INTERACTIVE = "interactive"
JOBS = "jobs"
LANES = (INTERACTIVE, JOBS)

QUICK_OPS = {  # answered at once; op -> lane
    "health": INTERACTIVE, "info": INTERACTIVE, "activations": INTERACTIVE, "attribution": INTERACTIVE,
    "class_means": JOBS, "dense_stats": JOBS, "sanity": JOBS, "list_jobs": JOBS, "detach": JOBS,
}
JOB_OPS = {"oip", "train", "insight", "unit", "atlas"}  # long: detached jobs with progress, in the jobs lane


def lane_of(op: str) -> str:
    if op in JOB_OPS:
        return JOBS
    if op in QUICK_OPS:
        return QUICK_OPS[op]
    raise ValueError(f"Unknown engine operation. Valid operations: {sorted(QUICK_OPS) + sorted(JOB_OPS)}. "
                     f"Received: op={op!r}")


def cancel_flag(key: str, watcher: str) -> str:
    """The result-cache entry by which ``watcher`` cancels job ``key`` from any process or machine."""
    return f"cancel:{key}:{watcher}"


HANDSHAKE_S = 5.0  # a client that does not answer the challenge within this is dropped
HEARTBEAT_S = 2.0  # a streaming job sends at least this often, so a client can tell a stall from a slow job
MAX_HANDSHAKE_BYTES = 256


@dataclass(frozen=True)
class Request:
    """One call: ``op`` with keyword ``args``; long jobs also carry the job's ``key`` (the result
    cache's key), the ``watcher`` (who asks: a browser session) and the result ``cache`` folder."""

    op: str
    args: dict[str, Any] = field(default_factory=dict)
    key: str | None = None
    watcher: str | None = None
    cache: str | None = None


@dataclass(frozen=True)
class Progress:
    payload: Any


@dataclass(frozen=True)
class Heartbeat:
    """Sent by a streaming job while nothing else happens (compiling, loading data)."""


@dataclass(frozen=True)
class Queued:
    """Sent instead of a heartbeat while a job waits for a free slot: ``ahead`` runs go before it."""

    ahead: int


@dataclass(frozen=True)
class Done:
    value: Any


@dataclass(frozen=True)
class Failed:
    """The request failed. ``user``: bad input, the message is for the user; otherwise an engine fault."""

    message: str
    user: bool = True
    cancelled: bool = False  # this watcher cancelled; the job goes on for others


@dataclass(frozen=True)
class Detach:
    """Client to server during a stream: this watcher pressed Cancel."""


def _digest(authkey: bytes, nonce: bytes) -> bytes:
    return hmac.new(authkey, b"cnnviz-engine-v1" + nonce, hashlib.sha256).digest()


def _recv_bytes(conn: Connection, timeout: float) -> bytes:
    if not conn.poll(timeout):
        raise TimeoutError(f"no answer within {timeout:.0f} s")
    return conn.recv_bytes(MAX_HANDSHAKE_BYTES)


def server_handshake(conn: Connection, authkey: bytes, timeout: float = HANDSHAKE_S) -> None:
    """Challenges a new client; raises (and the caller drops it) on a wrong key, junk or silence."""
    nonce = os.urandom(32)
    conn.send_bytes(nonce)
    if not hmac.compare_digest(_recv_bytes(conn, timeout), _digest(authkey, nonce)):
        raise PermissionError("wrong key")
    conn.send_bytes(b"welcome")


def client_handshake(conn: Connection, authkey: bytes, timeout: float = HANDSHAKE_S) -> None:
    conn.send_bytes(_digest(authkey, _recv_bytes(conn, timeout)))
    if _recv_bytes(conn, timeout) != b"welcome":
        raise PermissionError("the engine refused the key")

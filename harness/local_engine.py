"""The engine's client interface served in this process: the real operations and the real job registry, without
engine processes or sockets. For the fast tests of the pages' callbacks (TensorFlow then runs in the test
process, which the dashboard's own web process never does)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.engine import EngineError
from app.engine.client import Engine, queued_text
from app.engine.protocol import JOB_OPS, Heartbeat, Progress, Queued, Request
from app.engine.registry import fault_message
from app.engine.server import Server
from cnnviz.errors import is_user_error


class _Relay:
    """Stands in for the socket of one streamed job: progress to the caller, and the final message kept."""

    def __init__(self, on_progress: Callable[[Any], None] | None, on_queued: Callable[[str], None] | None):
        self.on_progress, self.on_queued, self.final = on_progress, on_queued, None

    def send(self, msg: Any) -> None:
        if isinstance(msg, Progress):
            if self.on_progress is not None:
                self.on_progress(msg.payload)
        elif isinstance(msg, Queued):
            if self.on_queued is not None:
                self.on_queued(queued_text(msg.ahead))
        elif not isinstance(msg, Heartbeat):
            self.final = msg


class LocalEngine:
    """What :class:`app.engine.Engine` offers (``call``, ``stream``, ``detach``, ``status``, ``ok``, ``stop``), served
    by a :class:`~app.engine.server.Server` in this process."""

    def __init__(self, ops: Any):
        self.server = Server(ops, b"")
        self.ok = True

    def status(self) -> dict[str, str]:
        return {"interactive": "ok", "jobs": "ok"}

    def stop(self) -> None:
        self.ok = False

    def call(self, op: str, timeout: float | None = None, **args: Any) -> Any:
        if op in JOB_OPS:
            raise ValueError(f"{op} is a long job: stream it. Received: op={op!r}")
        fn = getattr(self.server, op, None) or getattr(self.server.ops, op, None)
        if fn is None:
            raise ValueError(f"Unknown engine operation. Received: op={op!r}")
        try:
            return fn(**args)
        except Exception as e:  # noqa: BLE001 - as the engine process answers: a user error, or a logged fault
            if is_user_error(e):
                raise EngineError(str(e) or type(e).__name__) from None
            raise EngineError(fault_message(e), user=False) from None

    def stream(self, op: str, on_progress: Callable[[Any], None] | None, *, key: str, watcher: str,
               cache: str | None = None, on_queued: Callable[[str], None] | None = None, **args: Any) -> Any:
        relay = _Relay(on_progress, on_queued)
        self.server.stream(relay, Request(op, args, key=key, watcher=watcher, cache=str(cache) if cache else None))
        return Engine.unpack(relay.final)

    def detach(self, key: str, watcher: str) -> bool:
        return self.server.detach(key, watcher)

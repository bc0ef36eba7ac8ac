"""Client side of the engine worker (see app/worker.py): start it, call it, stream jobs.

Safe to use in the web process and in processes forked from it: nothing here imports
TensorFlow, and every call opens its own connection (no socket is shared across a fork).
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import secrets
import tempfile
from collections.abc import Callable
from multiprocessing.connection import Client
from pathlib import Path
from typing import Any


class EngineError(Exception):
    """A request the engine refused (bad input) or could not serve; the message is for the user."""


class Engine:
    """Handle on the engine worker process."""

    def __init__(self, address: str, authkey: bytes):
        self.address, self.authkey = address, authkey
        self.process: multiprocessing.process.BaseProcess | None = None

    @classmethod
    def start(cls, model_folder: str | os.PathLike[str], timeout: float = 120.0) -> Engine:
        """Spawns the worker (spawn, not fork: it must not inherit this process's state)."""
        folder = tempfile.mkdtemp(prefix="cnnviz-engine-")
        engine = cls(os.path.join(folder, "engine.sock"), secrets.token_bytes(16))
        ctx = multiprocessing.get_context("spawn")
        ready = ctx.Event()
        from .worker import serve

        engine.process = ctx.Process(target=serve, args=(engine.address, engine.authkey, str(model_folder), ready),
                                     name="cnnviz-engine", daemon=True)
        engine.process.start()
        if not ready.wait(timeout):
            engine.stop()
            raise RuntimeError("The engine worker did not start within %.0f s." % timeout)
        atexit.register(engine.stop)
        return engine

    def stop(self) -> None:
        if self.process is not None and self.process.is_alive():
            self.process.terminate()
            self.process.join(5)
        if Path(self.address).exists():
            Path(self.address).unlink(missing_ok=True)

    @property
    def alive(self) -> bool:
        return self.process is None or self.process.is_alive()

    def _connect(self):
        try:
            return Client(self.address, family="AF_UNIX", authkey=self.authkey)
        except (OSError, EOFError) as e:
            raise EngineError(f"The engine worker is not reachable ({type(e).__name__}); restart the app.") from None

    def call(self, op: str, **kwargs: Any) -> Any:
        """Runs one quick operation and returns its result."""
        return self.stream(op, None, None, **kwargs)

    def stream(self, op: str, on_progress: Callable[[dict], None] | None,
               should_cancel: Callable[[], bool] | None, **kwargs: Any) -> Any:
        """Runs a job, passing each progress report to ``on_progress``; cancels when asked."""
        with self._connect() as conn:
            conn.send((op, kwargs))
            sent_cancel = False
            while True:
                try:
                    kind, payload = conn.recv()
                except (EOFError, OSError):
                    raise EngineError("The engine worker stopped during the request; try again.") from None
                if kind == "progress":
                    if on_progress is not None:
                        on_progress(payload)
                    if should_cancel is not None and not sent_cancel and should_cancel():
                        conn.send("cancel")
                        sent_cancel = True
                elif kind == "ok":
                    return payload
                else:
                    raise EngineError(payload)

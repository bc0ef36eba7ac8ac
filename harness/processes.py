"""Running the app and its servers as real processes: the tests and the benchmarks share these."""

from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
_LOGS: list[IO[str]] = []  # every log handed out, closed when this process exits


@atexit.register
def _close_logs() -> None:
    for log in _LOGS:
        log.close()


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_process(cmd: list[str], env: dict[str, str], log_path: str | os.PathLike[str],
                  cwd: Path = ROOT) -> tuple[subprocess.Popen, IO[str]]:
    """Starts ``cmd`` in its own process group, stdout and stderr to ``log_path`` (returned open, for reading
    while the caller runs; closed when this process exits)."""
    log = open(log_path, "w+")  # noqa: SIM115 - handed to the caller; closed at exit
    _LOGS.append(log)
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    return proc, log


def stop_process(proc: subprocess.Popen, timeout: float = 15) -> None:
    """Stops a process started by :func:`start_process` and its children: SIGTERM, then SIGKILL."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)

"""Settings from the environment, with safe defaults (loopback only, debug off, a private cache)."""

from __future__ import annotations

import ipaddress
import os
import stat
from dataclasses import dataclass
from pathlib import Path


class SetupError(Exception):
    """A setting the app refuses to start with: one line for the operator, exit status 2."""


def _bool(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _count(name: str, default: int, most: int) -> int:
    raw = os.environ.get(name, str(default)).strip()
    if not raw.isdigit() or not 1 <= int(raw) <= most:
        raise SetupError(f"{name} must be a whole number 1..{most}. Received: {name}={raw!r}")
    return int(raw)


def job_limits() -> tuple[int, int, int]:
    """(long runs at once per engine, runs one user may have going or waiting, seconds after which a run whose
    page stopped polling is cancelled): CNNVIZ_MAX_RUNNING_JOBS, CNNVIZ_MAX_USER_JOBS, CNNVIZ_UNPOLLED_S."""
    return (_count("CNNVIZ_MAX_RUNNING_JOBS", 2, 64), _count("CNNVIZ_MAX_USER_JOBS", 3, 64),
            _count("CNNVIZ_UNPOLLED_S", 150, 86400))


def _auth() -> dict[str, str]:
    user, password = os.environ.get("CNNVIZ_AUTH_USER", ""), os.environ.get("CNNVIZ_AUTH_PASSWORD", "")
    if bool(user) != bool(password):
        raise SetupError("Set both CNNVIZ_AUTH_USER and CNNVIZ_AUTH_PASSWORD for basic auth, or neither.")
    return {"auth_user": user, "auth_password": password}


def default_cache_dir() -> Path:
    """Per user: ``$XDG_CACHE_HOME/cnnviz``, else ``~/.cache/cnnviz`` (never a shared temp folder)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "cnnviz"


def is_loopback(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_cache_dir(path: Path) -> Path:
    """Creates the cache folder (mode 0700) or checks an existing one; refuses one others can write.

    The cache holds pickles that the app loads: a folder that another user owns, or that group
    or others may write to, would let them plant one, so the app will not use it.
    """
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = path.stat()
    except OSError as e:
        raise SetupError(f"Cannot create the cache folder {path}: {e.strerror}. Set CNNVIZ_CACHE_DIR to a folder "
                         "you can write.") from None
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        raise SetupError(f"The cache folder {path} belongs to another user (uid {st.st_uid}). Fix: set "
                         "CNNVIZ_CACHE_DIR to a folder of your own.")
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise SetupError(f"The cache folder {path} is writable by others (mode {stat.S_IMODE(st.st_mode):o}). "
                         f"Fix: chmod 700 {path}, or set CNNVIZ_CACHE_DIR to a private folder.")
    if not os.access(path, os.W_OK | os.X_OK):
        raise SetupError(f"The cache folder {path} is read-only. Fix: make it writable, or set CNNVIZ_CACHE_DIR "
                         "to a folder you can write.")
    return path


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8050
    model_dir: Path = Path("models")
    cache_dir: Path = default_cache_dir()
    debug: bool = False
    jobs: str = "diskcache"  # background job manager: "diskcache" (embedded) or "celery" (Redis + workers)
    redis_url: str = "redis://127.0.0.1:6379/0"
    auth_user: str = ""  # HTTP basic auth is on when both are set
    auth_password: str = ""
    allow_open: bool = False  # serve a non-loopback host without auth (CNNVIZ_ALLOW_OPEN=1)
    engine_ops: str | None = None  # module:class the engines serve instead of the real ones (tests: a TF-free fake)

    def __post_init__(self) -> None:
        if not is_loopback(self.host):
            if self.debug:
                raise SetupError(f"CNNVIZ_DEBUG=1 serves a debugger that runs code: it is refused on a host other "
                                 f"than loopback. Received: CNNVIZ_HOST={self.host!r}")
            if not self.auth_user and not self.allow_open:
                raise SetupError(f"CNNVIZ_HOST={self.host!r} exposes the dashboard beyond this machine without "
                                 "a password. Set CNNVIZ_AUTH_USER and CNNVIZ_AUTH_PASSWORD, or CNNVIZ_ALLOW_OPEN=1 "
                                 "if something in front of it restricts access.")

    @property
    def auth(self) -> bool:
        return bool(self.auth_user)

    @classmethod
    def from_env(cls) -> Settings:
        from cnnviz.catalog import model_dir

        port = os.environ.get("CNNVIZ_PORT", "8050")
        if not port.isdigit() or not 1 <= int(port) <= 65535:
            raise SetupError(f"CNNVIZ_PORT must be a port number 1..65535. Received: CNNVIZ_PORT={port!r}")
        cache = os.environ.get("CNNVIZ_CACHE_DIR") or str(default_cache_dir())
        job_limits()  # checked here, at start, with one line; the engines read them too
        jobs = os.environ.get("CNNVIZ_JOBS", "diskcache").strip().lower()
        if jobs not in ("diskcache", "celery"):
            raise SetupError(f"CNNVIZ_JOBS must be 'diskcache' or 'celery'. Received: CNNVIZ_JOBS={jobs!r}")
        return cls(host=os.environ.get("CNNVIZ_HOST", "127.0.0.1"), port=int(port),
                   model_dir=model_dir().resolve(), cache_dir=Path(cache).resolve(), debug=_bool("CNNVIZ_DEBUG"),
                   jobs=jobs, redis_url=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
                   allow_open=_bool("CNNVIZ_ALLOW_OPEN"), engine_ops=os.environ.get("CNNVIZ_ENGINE_OPS") or None,
                   **_auth())


def listening_hosts() -> list[str]:
    """The local addresses this process listens on (TCP): a gunicorn worker inherits its arbiter's sockets."""
    import psutil

    return sorted({c.laddr.ip for c in psutil.Process().net_connections(kind="tcp") if c.status == psutil.CONN_LISTEN})


def check_listening(settings: Settings) -> None:
    """Refuses (SetupError) to serve on an address beyond this machine without auth, unless allowed, whatever
    address the server was told to bind; ``Settings`` checks CNNVIZ_HOST the same way."""
    for host in listening_hosts():
        if not is_loopback(host) and not settings.auth and not settings.allow_open:
            raise SetupError(f"The server listens on {host}, beyond this machine, without a password. Set "
                             "CNNVIZ_AUTH_USER and CNNVIZ_AUTH_PASSWORD, or CNNVIZ_ALLOW_OPEN=1 if something in front "
                             "of it restricts access.")

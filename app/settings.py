"""Settings from the environment, with safe defaults (loopback only, debug off)."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path


def _bool(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _auth() -> dict[str, str]:
    user, password = os.environ.get("CNNVIZ_AUTH_USER", ""), os.environ.get("CNNVIZ_AUTH_PASSWORD", "")
    if bool(user) != bool(password):
        raise SystemExit("Set both CNNVIZ_AUTH_USER and CNNVIZ_AUTH_PASSWORD for basic auth, or neither.")
    return {"auth_user": user, "auth_password": password}


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8050
    model_dir: Path = Path("models")
    cache_dir: Path = Path(tempfile.gettempdir()) / "cnnviz-cache"
    debug: bool = False
    jobs: str = "diskcache"  # background job manager: "diskcache" (embedded) or "celery" (Redis + workers)
    redis_url: str = "redis://127.0.0.1:6379/0"
    auth_user: str = ""  # HTTP basic auth is on when both are set
    auth_password: str = ""

    @classmethod
    def from_env(cls) -> Settings:
        from cnnviz.catalog import model_dir

        port = os.environ.get("CNNVIZ_PORT", "8050")
        if not port.isdigit() or not 1 <= int(port) <= 65535:
            raise SystemExit(f"CNNVIZ_PORT must be a port number 1..65535. Received: CNNVIZ_PORT={port!r}")
        cache = os.environ.get("CNNVIZ_CACHE_DIR") or str(Path(tempfile.gettempdir()) / "cnnviz-cache")
        jobs = os.environ.get("CNNVIZ_JOBS", "diskcache").strip().lower()
        if jobs not in ("diskcache", "celery"):
            raise SystemExit(f"CNNVIZ_JOBS must be 'diskcache' or 'celery'. Received: CNNVIZ_JOBS={jobs!r}")
        return cls(host=os.environ.get("CNNVIZ_HOST", "127.0.0.1"), port=int(port),
                   model_dir=model_dir().resolve(), cache_dir=Path(cache).resolve(), debug=_bool("CNNVIZ_DEBUG"),
                   jobs=jobs, redis_url=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"), **_auth())

"""Settings from the environment, with safe defaults (loopback only, debug off)."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path


def _bool(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8050
    model_dir: Path = Path("models")
    cache_dir: Path = Path(tempfile.gettempdir()) / "cnnviz-cache"
    debug: bool = False

    @classmethod
    def from_env(cls) -> Settings:
        from cnnviz.catalog import model_dir

        port = os.environ.get("CNNVIZ_PORT", "8050")
        if not port.isdigit() or not 1 <= int(port) <= 65535:
            raise SystemExit(f"CNNVIZ_PORT must be a port number 1..65535. Received: CNNVIZ_PORT={port!r}")
        cache = os.environ.get("CNNVIZ_CACHE_DIR") or str(Path(tempfile.gettempdir()) / "cnnviz-cache")
        return cls(host=os.environ.get("CNNVIZ_HOST", "127.0.0.1"), port=int(port),
                   model_dir=model_dir().resolve(), cache_dir=Path(cache).resolve(), debug=_bool("CNNVIZ_DEBUG"))

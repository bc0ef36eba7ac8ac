"""What the callbacks share: settings, the engine worker, the result cache, the data sets.

Set once by :func:`app.create_app`; callbacks read it, never reassign it. Background jobs
(threads here, Celery worker processes when scaled out) use it too; the engine client opens a
fresh socket per call.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import diskcache

from cnnviz.catalog import list_models, model_path
from cnnviz.store import file_sha256

from .engine import Engine
from .settings import Settings


# Bump when a cached result's shape changes, so that an upgraded app never reads old entries.
CACHE_FORMAT = 1


@dataclass
class Services:
    settings: Settings
    engine: Engine
    results: diskcache.Cache
    manager: Any = None  # the Dash background callback manager (Celery workers take its celery app)

    def models(self) -> list[str]:
        return list_models(self.settings.model_dir)

    def model_file(self, name: str) -> Path:
        """The file of a model by name; raises ValueError for names outside the model folder."""
        return model_path(self.settings.model_dir, name)

    def model_hash(self, name: str) -> str:
        p = self.model_file(name)
        st = p.stat()
        return _hash(str(p), st.st_mtime_ns, st.st_size)

    def key(self, op: str, model: str, params: Any) -> str:
        """Cache key: result format version, operation, the model file's content hash, the parameters."""
        blob = json.dumps([CACHE_FORMAT, op, self.model_hash(model), params], sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()

    def cached(self, op: str, model: str, params: Any, compute: Callable[[], Any]) -> Any:
        k = self.key(op, model, params)
        value = self.results.get(k)
        if value is None:
            value = compute()
            self.results.set(k, value)
        return value


@functools.lru_cache(maxsize=64)
def _hash(path: str, mtime_ns: int, size: int) -> str:
    return file_sha256(path)


@functools.lru_cache(maxsize=2)
def dataset(name: str):
    """Test images for the pages (numpy only; the web process never needs TensorFlow)."""
    from cnnviz.data import load_dataset

    return load_dataset(name)


SERVICES: Services | None = None


def services() -> Services:
    if SERVICES is None:
        raise RuntimeError("The app is not set up: call app.create_app() first.")
    return SERVICES


def init(settings: Settings, engine: Engine) -> Services:
    global SERVICES
    os.makedirs(settings.cache_dir, exist_ok=True)
    SERVICES = Services(settings, engine, diskcache.Cache(str(settings.cache_dir / "results"), size_limit=2**30))
    return SERVICES

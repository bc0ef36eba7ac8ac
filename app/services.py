"""What the callbacks share: settings, the engine, the result cache, the data sets, key signing.

Set once by :func:`app.shell.create_app`; callbacks read it, never reassign it. Background jobs
(threads here, Celery worker processes when scaled out) use it too; the engine client opens a
fresh socket per call.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnnviz.catalog import list_models, model_path
from cnnviz.store import file_sha256

from .cache import CacheError, ResultCache, make_key, tree_problem
from .engine import Engine
from .engine.protocol import cancel_flag
from .settings import Settings, SetupError, check_cache_dir

log = logging.getLogger("cnnviz")

# Bump when a cached result's shape changes, so that an upgraded app never reads old entries.
CACHE_FORMAT = 6
_TOKEN = re.compile(r"^([0-9a-f]{64})\.([0-9a-f]{32})$")
_WATCHER = re.compile(r"^[0-9a-f]{32}$")
RECENT_RESULTS = 4


@dataclass
class Services:
    settings: Settings
    engine: Engine
    results: ResultCache
    secret: bytes = field(repr=False, default=b"")
    manager: Any = None  # the Dash background callback manager (Celery workers take its celery app)
    _recent: dict[str, Any] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def models(self) -> list[str]:
        return list_models(self.settings.model_dir)

    def datasets(self) -> list[str]:
        """Data sets one may train on: MNIST, Fashion-MNIST, and the ``.npz`` data sets of one's own that
        the model folder holds or its imported models name (only paths the server knows, never typed)."""
        import json

        from cnnviz.catalog import metadata_path
        from cnnviz.data import DATASETS

        folder = self.settings.model_dir
        found = {str(p.resolve()) for p in folder.glob("*.npz")} if folder.is_dir() else set()
        for name in self.models():
            try:
                spec = json.loads(metadata_path(folder / f"{name}.keras").read_text()).get("dataset")
            except (OSError, ValueError):
                continue
            if isinstance(spec, str) and spec.endswith(".npz") and Path(spec).is_file():
                found.add(spec)
        return list(DATASETS) + sorted(found)

    def jobs_problem(self) -> str | None:
        """What stops background jobs right now (Redis down, in Celery mode), or None."""
        probe = getattr(self.manager, "broker_problem", None)
        return probe() if probe else None

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

    # Keys go to browsers (to find a result again, to cancel a run) signed, and come back checked:
    # a request can only name keys this server made, and nothing else reaches the cache.

    def sign(self, key: str) -> str:
        return f"{key}.{hmac.new(self.secret, key.encode(), hashlib.sha256).hexdigest()[:32]}"

    def unsign(self, token: Any) -> str | None:
        """The key inside a token this server made, else None."""
        m = _TOKEN.match(token) if isinstance(token, str) and len(token) == 97 else None
        if m is None or not hmac.compare_digest(self.sign(m.group(1)), token):
            return None
        return m.group(1)

    def seal(self, record: dict[str, Any]) -> dict[str, Any]:
        """``record`` (JSON) with a signature over all of it, for a browser to keep and hand back."""
        body = json.dumps(record, sort_keys=True, separators=(",", ":"), default=str)
        return {**record, "sig": hmac.new(self.secret, body.encode(), hashlib.sha256).hexdigest()[:32]}

    def unseal(self, record: Any) -> dict[str, Any] | None:
        """A record this server sealed, unchanged (without its signature); None for anything else."""
        if not isinstance(record, dict) or not isinstance(record.get("sig"), str):
            return None
        body = {k: v for k, v in record.items() if k != "sig"}
        try:
            sealed = self.seal(body)["sig"]
        except (TypeError, ValueError, RecursionError):
            return None
        return body if hmac.compare_digest(sealed, record["sig"]) else None

    def result(self, token: Any) -> Any:
        """The cached result that a browser's token names, or None.

        The last few are kept in memory too: a result never changes under its key (the key hashes
        the model file and the parameters), and scrubbing through one asks for it many times a second.
        """
        key = self.unsign(token)
        if not key:
            return None
        with self._lock:
            if key in self._recent:
                return self._recent[key]
        value = self.results.get(key)
        if value is not None:
            self.remember(key, value)
        return value

    def has(self, key: str) -> bool:
        """Whether the result of ``key`` is at hand (here, or in the cache), without reading it."""
        with self._lock:
            if key in self._recent:
                return True
        return key in self.results

    def remember(self, key: str, value: Any) -> None:
        """Keeps a result this process just received, also when the cache could not take it (or it was a
        stopped run's, which the cache never takes)."""
        with self._lock:
            self._recent[key] = value
            while len(self._recent) > RECENT_RESULTS:
                self._recent.pop(next(iter(self._recent)))

    def cached(self, op: str, model: str, params: Any, compute: Callable[[], Any]) -> Any:
        k = self.key(op, model, params)
        value = self.results.get(k)
        if value is None:
            value = compute()
            try:
                self.results.set(k, value)
            except CacheError:
                pass  # the value is still good for this request; /health and the pages report the cache
        return value

    def info(self, model: str):
        """The model's :class:`~app.engine.results.ModelInfo` (cached)."""
        return self.cached("info", model, {}, lambda: self.engine.call("info", model=model))

    def cancel(self, token: Any, watcher: Any) -> None:
        """``watcher`` cancels the run that ``token`` names: here, and through the cache for engines
        on other machines (Celery workers); the run stops once nobody else watches it."""
        key = self.unsign(token)
        if key is not None:
            self.cancel_key(key, watcher)

    def cancel_key(self, key: str, watcher: Any) -> None:
        """:meth:`cancel` for a key the server made itself (a training's ``train:<name>``)."""
        if not (isinstance(watcher, str) and _WATCHER.match(watcher)):
            return
        try:
            self.results.set(cancel_flag(key, watcher), True, expire=3600)
        except CacheError:
            pass
        try:
            self.engine.detach(key, watcher)
        except Exception:  # noqa: BLE001 - nothing running here: nothing to stop
            pass

    def watch(self, key: str, watcher: Any) -> str:
        """The watcher id of a new run of ``key`` (a key the server made), with any old cancel cleared."""
        if not (isinstance(watcher, str) and _WATCHER.match(watcher)):
            raise ValueError("This page has no session id; reload the page.")
        self.results.delete(cancel_flag(key, watcher))
        return watcher


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


def open_cache(settings: Settings) -> tuple[ResultCache, bytes]:
    """Checks the cache folder (see :func:`check_cache_dir`) and everything in it (:func:`app.cache.tree_problem`),
    then opens the signed result cache with the app's key.

    Raises:
        SetupError: one line for the operator.
    """
    check_cache_dir(settings.cache_dir)
    problem = tree_problem(settings.cache_dir)
    if problem:
        raise SetupError(f"The cache folder {settings.cache_dir} cannot be trusted: {problem}. Fix: remove it (it only "
                         "holds results that are computed again), or set CNNVIZ_CACHE_DIR to a private folder.")
    try:
        key = make_key(settings.cache_dir)
        results = ResultCache(settings.cache_dir / "results", key)
    except Exception as e:  # noqa: BLE001 - sqlite's and the file system's many ways of saying "cannot open"
        raise SetupError(f"Cannot open the result cache in {settings.cache_dir}: {e}. Set CNNVIZ_CACHE_DIR to a "
                         "writable folder of your own.") from None
    return results, key


def init(settings: Settings, engine: Engine, results: ResultCache, secret: bytes) -> Services:
    global SERVICES
    SERVICES = Services(settings, engine, results, secret)
    return SERVICES

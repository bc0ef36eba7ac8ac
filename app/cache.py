"""The result cache, which trusts nothing it did not write.

Its values are pickles, and unpickling runs code. So every value is stored with an HMAC-SHA256 tag made with the
app's key (``signing.key`` in the cache folder, mode 0600, shared by the web process, its engines and Celery
workers), and a value is unpickled only when its tag checks: an entry planted by anyone without the key is
dropped, never loaded. At start the whole folder is checked too: every file and folder must be the app user's
and writable by nobody else, and the key file private (``check_cache_tree``).

No TensorFlow and no Dash here: the engine processes open the same cache.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import pickle
import secrets
import shutil
import stat
import threading
import time
from pathlib import Path
from typing import Any

import diskcache

from cnnviz.errors import CnnvizError
from cnnviz.store import atomic_path

log = logging.getLogger("cnnviz")
KEY_FILE = "signing.key"
TAG = 32  # bytes of the HMAC-SHA256 tag in front of each value
FREE_BYTES = 256 << 20  # /health says the cache is full below this much free space: a result is tens of MB
PROBE_S = 5.0  # how long one look at the cache's health holds


class CacheError(CnnvizError):
    """The result cache cannot be written (read-only, full, broken): the message is for the user."""


class UntrustedEntry(ValueError):
    """A cache value without a valid tag: not written by this app (planted, or from another key)."""


class SignedDisk(diskcache.Disk):
    """diskcache's storage with every value pickled here and tagged with the app's key; see the module doc."""

    key: bytes = b""

    def _tag(self, blob: bytes) -> bytes:
        if not self.key:
            raise UntrustedEntry("The result cache has no key: nothing is stored or loaded.")
        return hmac.new(self.key, blob, hashlib.sha256).digest()

    def store(self, value, read, key=diskcache.UNKNOWN):
        if read:
            raise ValueError("The result cache stores values, not open files.")
        blob = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        return super().store(self._tag(blob) + blob, False, key)

    def get(self, key, raw):
        if not raw:  # a pickled key: this cache writes only str keys
            raise UntrustedEntry("a pickled cache key (not written by this app)")
        return super().get(key, raw)

    def fetch(self, mode, filename, value, read):
        if mode not in (diskcache.core.MODE_RAW, diskcache.core.MODE_BINARY):  # diskcache would unpickle MODE_PICKLE
            raise UntrustedEntry(f"a cache value of mode {mode} (this app writes only tagged bytes)")
        data = super().fetch(mode, filename, value, read)
        if not isinstance(data, bytes) or len(data) < TAG or not hmac.compare_digest(data[:TAG], self._tag(data[TAG:])):
            raise UntrustedEntry("a cache value without a valid tag (not written by this app)")
        return pickle.loads(data[TAG:])  # authenticated above: written by this app, with its key


def open_signed(directory: str | Path, key: bytes, **settings: Any) -> diskcache.Cache:
    """A diskcache at ``directory`` whose values are tagged with ``key`` (the key is never written into the cache)."""
    cache = diskcache.Cache(str(directory), disk=SignedDisk, **settings)
    cache.disk.key = key
    return cache


def read_key(cache_dir: Path) -> bytes:
    """The app's key, from ``cache_dir/signing.key`` (CacheError if it is missing or not one)."""
    try:
        return bytes.fromhex((Path(cache_dir) / KEY_FILE).read_text().strip())
    except (OSError, ValueError) as e:
        raise CacheError(f"The cache's key {Path(cache_dir) / KEY_FILE} cannot be read ({type(e).__name__}).") from None


def make_key(cache_dir: Path) -> bytes:
    """The app's key: read, or made (mode 0600) when the cache folder has none yet."""
    path = Path(cache_dir) / KEY_FILE
    if path.exists():
        return read_key(cache_dir)
    key = secrets.token_hex(32)
    with atomic_path(path) as tmp:
        Path(tmp).write_text(key)
        os.chmod(tmp, 0o600)
    return read_key(cache_dir)


def tree_problem(cache_dir: Path) -> str | None:
    """What makes the cache folder untrustworthy, in one sentence, or None: a file or folder under it that belongs
    to another user or that group or others may write, or a key file that others may read."""
    uid = os.getuid() if hasattr(os, "getuid") else None
    for root, dirs, files in os.walk(cache_dir):
        for name in [*dirs, *files]:
            path = Path(root) / name
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                return f"{path} is a symbolic link"
            if uid is not None and st.st_uid != uid:
                return f"{path} belongs to another user (uid {st.st_uid})"
            if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
                return f"{path} is writable by others (mode {stat.S_IMODE(st.st_mode):o})"
            if name == KEY_FILE and st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
                return f"the key {path} is readable by others (mode {stat.S_IMODE(st.st_mode):o})"
    return None


class ResultCache:
    """The on-disk result cache, signed, with its failures made visible instead of silent.

    An unreadable or untrusted entry is logged, dropped and read as missing (so it is computed again); a failed
    write is remembered for ``/health`` and raised as :class:`CacheError` for the page.
    """

    def __init__(self, directory: Path, key: bytes, size_limit: int = 2**30):
        self.cache = open_signed(directory, key, size_limit=size_limit)
        self.directory = self.cache.directory
        self.error: str | None = None
        self._lock = threading.Lock()
        self._probed = (0.0, None)  # (when, what writable() found): every page's banner asks every 10 s

    def get(self, key: str) -> Any:
        try:
            return self.cache.get(key)
        except Exception as e:  # noqa: BLE001 - any unreadable or untrusted entry is dropped and recomputed
            log.warning("cnnviz: dropped a corrupt or untrusted cache entry %s… (%s: %s)", key[:16],
                        type(e).__name__, e)
            self.delete(key)
            return None

    def __contains__(self, key: str) -> bool:
        try:
            return key in self.cache
        except Exception:  # noqa: BLE001 - an unreadable cache has nothing
            return False

    def set(self, key: str, value: Any, expire: float | None = None) -> None:
        try:
            self.cache.set(key, value, expire=expire)
        except Exception as e:  # noqa: BLE001 - sqlite and the file system fail in many ways
            self.error = f"{type(e).__name__}: {e}"
            log.warning("cnnviz: the result cache at %s cannot be written: %s", self.directory, self.error)
            raise CacheError(f"The result cache at {self.directory} cannot be written ({self.error}): results "
                             "are not kept. Free some space or fix its permissions.") from None
        self.error = None

    def delete(self, key: str) -> None:
        try:
            self.cache.delete(key)
        except Exception:  # noqa: BLE001 - nothing to delete is fine; a broken cache shows in set()
            pass

    def recheck(self) -> None:
        """Forgets the last look at the cache's health: the next :meth:`writable` looks again."""
        with self._lock:
            self._probed = (0.0, None)

    def writable(self) -> str | None:
        """None when the cache can take a result, else what is wrong (for /health and the pages): a write of a
        realistic size must go through, and the disk must have room for a few more."""
        with self._lock:
            when, found = self._probed
            if time.monotonic() - when < PROBE_S:
                return found
        free = shutil.disk_usage(self.directory).free
        if free < FREE_BYTES:
            self.error = found = f"only {free >> 20} MiB free on its disk"
        else:
            try:
                self.set("health-probe", os.urandom(256 << 10))  # as big as a small result: a full disk shows
                found = None
            except CacheError:
                found = self.error
        with self._lock:
            self._probed = (time.monotonic(), found)
        return found

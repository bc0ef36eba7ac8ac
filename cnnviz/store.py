"""Atomic file writes and content hashes, so that no reader ever sees half a file."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yields a temporary path beside ``path``; renames it onto ``path`` on success.

    The temporary name keeps the suffix of ``path`` (Keras insists on ``.keras`` and ``.weights.h5``).
    On any exception the temporary file is removed and ``path`` is left untouched.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    keep = ".weights.h5" if target.name.endswith(".weights.h5") else target.suffix  # Keras's weights files too
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name[:len(target.name) - len(keep)]}.", suffix=f".tmp{keep}",
                               dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp makes 0600; a saved model is an ordinary file
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def save_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Writes ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def save_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Writes ``obj`` as indented JSON to ``path`` atomically."""
    save_bytes(path, json.dumps(obj, indent=1, sort_keys=False).encode() + b"\n")


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Returns the hex SHA-256 of a file's content."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def csv_text(rows: list[dict[str, Any]]) -> str:
    """Rows of one shape (dicts with the same keys) as CSV text with a header line."""
    import csv
    import io

    if not rows:
        return ""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def save_csv(path: str | os.PathLike[str], rows: list[dict[str, Any]]) -> None:
    """Writes ``rows`` as CSV to ``path`` atomically."""
    save_bytes(path, csv_text(rows).encode())

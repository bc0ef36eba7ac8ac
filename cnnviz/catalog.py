"""Model files on disk: where they are, which exist, and names that are safe to open.

No TensorFlow here: the dashboard's web process lists and hashes models without it.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def metadata_path(model_path: str | os.PathLike[str]) -> Path:
    """``<name>.json`` beside ``<name>.keras``."""
    return Path(model_path).with_suffix(".json")


def list_models(folder: str | os.PathLike[str]) -> list[str]:
    """Names (stems) of the ``.keras`` files with metadata in ``folder``, sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.keras")
                  if not p.name.startswith(".") and metadata_path(p).is_file())


def unimported_models(folder: str | os.PathLike[str]) -> list[str]:
    """Names of the ``.keras`` files in ``folder`` without metadata: to import before use."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.keras")
                  if not p.name.startswith(".") and not metadata_path(p).is_file())


def import_command(folder: str | os.PathLike[str], name: str) -> str:
    """The command that imports model ``name`` of ``folder`` (its data set still to be named)."""
    return f"python -m cnnviz import {Path(folder) / (name + '.keras')} --dataset mnist|fashion-mnist|DATA.npz"


def model_dir() -> Path:
    """``$CNNVIZ_MODEL_DIR``, else the checkout's ``models/`` folder, else (an installed copy) the
    package's own ``cnnviz/models`` with the default model."""
    if os.environ.get("CNNVIZ_MODEL_DIR"):
        return Path(os.environ["CNNVIZ_MODEL_DIR"])
    here = Path(__file__).resolve().parent
    packaged = here / "models"
    return packaged if (packaged / "default.keras").is_file() else here.parent / "models"


def default_model_path() -> Path:
    """``default.keras`` in :func:`model_dir`."""
    return model_dir() / "default.keras"


def model_path(folder: str | os.PathLike[str], name: str) -> Path:
    """The file of model ``name`` in ``folder``; names never reach outside the folder.

    Raises:
        ValueError: the name has characters other than letters, digits, ``_ . -`` (so no
            path separators), or no such model exists in the folder.
    """
    if not isinstance(name, str) or not NAME_RE.match(name) or name.startswith("."):
        raise ValueError("A model name has 1-64 letters, digits, '_', '.' or '-' and no path. "
                         f"Received: name={str(name)[:80]!r}")
    names = list_models(folder)
    if name not in names:
        raise ValueError(f"No such model. Existing models are: {names}. Received: name={name!r}")
    return Path(folder) / f"{name}.keras"


def checkpoint_path(out: str | os.PathLike[str]) -> Path:
    """Where the per-epoch checkpoint of a model saved at ``out`` lives."""
    out = Path(out)
    return out.parent / ".checkpoints" / out.name


def checkpoint_state(out: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The state of the checkpoint of a model to be saved at ``out`` (its config, epochs completed and history),
    or None when there is none or it is unreadable (then training starts afresh)."""
    from .config import TrainConfig

    try:
        state = json.loads(checkpoint_path(out).with_suffix(".json").read_text())
        TrainConfig.from_dict(state["config"])
        int(state["epochs_completed"]), list(state["history"])
        return state if checkpoint_path(out).is_file() else None
    except (OSError, ValueError, KeyError, TypeError):
        return None

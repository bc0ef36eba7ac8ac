"""A training's history of weights: the untrained network (epoch 0) and the network after every epoch.

Snapshots are weights only (``keras.Model.save_weights``, a ``.weights.h5`` file of about 0.5 MB for the
articles' CNN), in a folder beside the model: ``models/NAME.history/epoch-003.weights.h5``, listed with the
test accuracy and loss of each in ``models/NAME.history/snapshots.json``. To use one, load the model and
then its weights: ``m = keras.models.load_model("NAME.keras", compile=False)`` (without its optimizer, whose
state differs between epochs), then ``m.load_weights(".../epoch-003.weights.h5")``.

While a training runs, its snapshots are kept beside its checkpoint (``.checkpoints/NAME.history``), so a
resumed run keeps those of the epochs it already did; the finished history replaces any earlier one of the same
name when the model is saved. An imported model has none.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from .catalog import checkpoint_path
from .store import atomic_path, save_json

INDEX = "snapshots.json"


def history_dir(model_path: str | os.PathLike[str]) -> Path:
    """The folder of a saved model's snapshots."""
    p = Path(model_path)
    return p.parent / f"{p.stem}.history"


def partial_dir(out: str | os.PathLike[str]) -> Path:
    """The folder of a running training's snapshots (beside its checkpoint)."""
    return history_dir(checkpoint_path(out))


def snapshots(model_path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The snapshots of a saved model, oldest first: {epoch, path, test_accuracy, test_loss}; [] for a model
    without a history (an imported one) or an unreadable index."""
    folder = history_dir(model_path)
    try:
        entries = json.loads((folder / INDEX).read_text())
        out = [{**e, "path": str(folder / Path(str(e["file"])).name)} for e in entries]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    return [e for e in out if Path(e["path"]).is_file()]


def epoch_value(epoch: float) -> int | float:
    """An epoch as listed: a whole epoch as an int, a point within the first epoch (k batches of n) as a float."""
    return int(epoch) if float(epoch).is_integer() else round(float(epoch), 4)


def write_snapshot(model, out: str | os.PathLike[str], epoch: float, accuracy: float, loss: float,
                   fresh: bool = False) -> None:
    """Saves ``model``'s weights as the snapshot after ``epoch`` (0: untrained; 0.25: a quarter of the first
    epoch's batches) of the training saving ``out``; ``fresh`` starts a new history (a training that does not
    resume)."""
    folder = partial_dir(out)
    if fresh and folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    epoch = epoch_value(epoch)
    name = f"epoch-{epoch:03d}.weights.h5" if isinstance(epoch, int) else f"epoch-{epoch:08.4f}.weights.h5"
    with atomic_path(folder / name) as tmp:
        model.save_weights(tmp)
    try:
        entries = [e for e in json.loads((folder / INDEX).read_text()) if float(e["epoch"]) != epoch]
    except (OSError, ValueError, KeyError, TypeError):
        entries = []
    entries.append({"epoch": epoch, "file": name, "test_accuracy": float(accuracy), "test_loss": float(loss)})
    save_json(folder / INDEX, sorted(entries, key=lambda e: float(e["epoch"])))


def publish(out: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Moves a finished training's snapshots beside the saved model ``out`` (replacing an earlier history of that
    name) and returns them as listed for the metadata."""
    src, dst = partial_dir(out), history_dir(out)
    if not src.is_dir():
        return []
    old = dst.with_name(dst.name + ".old")
    if dst.exists():
        shutil.rmtree(old, ignore_errors=True)
        dst.rename(old)
    src.rename(dst)
    shutil.rmtree(old, ignore_errors=True)
    return [{k: v for k, v in e.items() if k != "path"} | {"file": f"{dst.name}/{Path(e['path']).name}"}
            for e in snapshots(out)]

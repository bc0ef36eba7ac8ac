"""Bringing one's own model: check a Keras image classifier against its data set, measure it, and
write it with its metadata into the model folder."""

from __future__ import annotations

import datetime
import os
import shutil
from pathlib import Path
from typing import Any

from .catalog import NAME_RE, metadata_path, model_dir
from .data import DATASETS, Standardization, load_dataset
from .model import ModelFileError, check_classifier, predict_classes, read_keras
from .store import atomic_path, save_json


def _dataset_spec(dataset: str) -> str:
    """What the metadata records: a known name, or the absolute path of an ``.npz``."""
    if dataset in DATASETS:
        return dataset
    if not str(dataset).endswith(".npz"):
        raise ValueError(f"--dataset must be one of {list(DATASETS)} or a path to an .npz file. "
                         f"Received: --dataset={dataset}")
    return str(Path(dataset).resolve())


def import_model(src: str | os.PathLike[str], dataset: str, *, mean: float | None = None, std: float | None = None,
                 name: str | None = None, folder: str | os.PathLike[str] | None = None,
                 force: bool = False) -> dict[str, Any]:
    """Checks ``src`` (safe mode; one image input whose shape matches the data set's images; one
    output per class), takes ``mean``/``std`` or computes them from the training images, measures
    the test accuracy, and writes ``<name>.keras`` and ``<name>.json`` into ``folder`` atomically.

    Returns the metadata written, with ``"path"``.

    Raises:
        ModelFileError, ValueError, FileNotFoundError: what does not fit, in one line.
    """
    src = Path(src)
    if src.suffix != ".keras" or not src.is_file():
        raise ModelFileError(f"Expected an existing .keras file. Received: {src}")
    name = name or src.stem
    if not NAME_RE.match(name) or name.startswith("."):
        raise ValueError(f"A model name has 1-64 letters, digits, '_', '.' or '-'. Received: name={name!r}")
    if (mean is None) != (std is None):
        raise ValueError("Give both --mean and --std, or neither (then they are computed from the training images).")
    spec = _dataset_spec(dataset)
    model = read_keras(src)
    check_classifier(model, src.name)
    data = load_dataset(spec)
    h, w, c = (int(d) for d in model.inputs[0].shape[1:])
    want = (h, w) if c == 1 else (h, w, c)
    if data.x_test.shape[1:] != want:
        raise ModelFileError(f"{src.name} takes images of shape {(h, w, c)} but {data.name}'s images are "
                             f"{data.x_test.shape[1:]}.")
    classes = int(model.outputs[0].shape[-1])
    labels = int(max(data.y_train.max(), data.y_test.max())) + 1
    if labels > classes:
        raise ModelFileError(f"{src.name} has {classes} outputs but the data set has labels up to {labels - 1}: "
                             "cnnviz needs one output per class.")
    standardization = (Standardization(float(mean), float(std)) if mean is not None and std is not None
                       else Standardization.from_images(data.x_train))
    probs = predict_classes(model, standardization.apply(data.x_test))
    accuracy = float((probs.argmax(1) == data.y_test).mean())
    names = list(data.class_names) + [str(i) for i in range(len(data.class_names), classes)]
    folder = Path(folder) if folder is not None else model_dir()
    dest = folder / f"{name}.keras"
    if dest.exists() and not force and dest.resolve() != src.resolve():
        raise ValueError(f"{dest} exists; choose another --name or pass --force to replace it.")
    metadata = {
        "dataset": spec,
        "standardization": standardization.as_dict(),
        "test_accuracy": accuracy,
        "class_names": names[:classes],
        "input_shape": [h, w, c],
        "imported_from": str(src.resolve()),
        "imported_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    if dest.resolve() != src.resolve():
        with atomic_path(dest) as tmp:
            shutil.copyfile(src, tmp)
    save_json(metadata_path(dest), metadata)
    chance = 1.0 / max(labels, 1)
    return {**metadata, "path": str(dest),
            "warning": (f"Test accuracy {accuracy:.1%} is near chance ({chance:.0%}): check --mean/--std "
                        "and that the model was trained on this data set." if accuracy < 2 * chance else None)}


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


CHOICE_IMAGES = 2000  # test images that choose an imported model's input scaling


def _best_standardization(model, data) -> tuple[Standardization, str, dict[str, float]]:
    """The input scaling a model was most likely trained with, by accuracy on the first :data:`CHOICE_IMAGES` test
    images (the candidates differ by tens of percent): the data set's own standardization, plain 0..1 pixels
    (mean 0, std 1) or -1..1 pixels (mean 0.5, std 0.5)."""
    x, y = data.x_test[:CHOICE_IMAGES], data.y_test[:CHOICE_IMAGES]
    candidates = {"the data set's mean and std": Standardization.from_images(data.x_train),
                  "0..1 pixels (mean 0, std 1)": Standardization(0.0, 1.0),
                  "-1..1 pixels (mean 0.5, std 0.5)": Standardization(0.5, 0.5)}
    accuracy = {k: float((predict_classes(model, s.apply(x)).argmax(1) == y).mean()) for k, s in candidates.items()}
    best = max(accuracy, key=accuracy.__getitem__)
    return candidates[best], best, accuracy


def import_model(src: str | os.PathLike[str], dataset: str, *, mean: float | None = None, std: float | None = None,
                 name: str | None = None, folder: str | os.PathLike[str] | None = None, force: bool = False,
                 accuracy: float | None = None) -> dict[str, Any]:
    """Checks ``src`` (safe mode; one image input whose shape matches the data set's images; one
    output per class), takes ``mean``/``std`` or tries the likely ones (see :func:`_best_standardization`),
    measures the test accuracy, and writes ``<name>.keras`` and ``<name>.json`` into ``folder`` atomically.
    ``accuracy``: the model's own test accuracy, if known; a measured one far below it is a warning.

    Returns the metadata written, with ``"path"`` and ``"warning"`` (None or a sentence).

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
    if mean is not None and std is not None:
        tried: dict[str, float] = {}
        standardization, chosen = Standardization(float(mean), float(std)), "given (--mean/--std)"
    else:
        standardization, chosen, tried = _best_standardization(model, data)
    measured = float((predict_classes(model, standardization.apply(data.x_test)).argmax(1) == data.y_test).mean())
    names = list(data.class_names) + [str(i) for i in range(len(data.class_names), classes)]
    folder = Path(folder) if folder is not None else model_dir()
    dest = folder / f"{name}.keras"
    if dest.exists() and not force and dest.resolve() != src.resolve():
        raise ValueError(f"{dest} exists; choose another --name or pass --force to replace it.")
    metadata = {
        "dataset": spec,
        "standardization": standardization.as_dict(),
        "standardization_source": chosen,
        "standardization_tried": tried,  # accuracy on the first CHOICE_IMAGES test images with each candidate
        "test_accuracy": measured,
        "class_names": names[:classes],
        "input_shape": [h, w, c],
        "imported_from": str(src.resolve()),
        "imported_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    if dest.resolve() != src.resolve():
        with atomic_path(dest) as tmp:
            shutil.copyfile(src, tmp)
    save_json(metadata_path(dest), metadata)
    return {**metadata, "path": str(dest), "warning": _warning(measured, labels, accuracy)}


def _warning(measured: float, labels: int, expected: float | None) -> str | None:
    """A sentence when the measured accuracy suggests the wrong scaling or data set."""
    chance = 1.0 / max(labels, 1)
    if measured < 2 * chance:
        return (f"Test accuracy {measured:.1%} is near chance ({chance:.0%}): check --mean/--std and that the model "
                "was trained on this data set.")
    if expected is not None and measured < expected - 0.05:
        return (f"Test accuracy {measured:.1%} is far below the model's own {expected:.1%}: its input scaling is "
                "probably none of those tried; give --mean and --std.")
    return None

"""The seed's CNN built, any model saved atomically with its metadata and loaded safely, and the loaded model
with its layers by role."""

from __future__ import annotations

import functools
import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np

from .catalog import metadata_path
from .config import TrainConfig
from .data import CLASS_NAMES, Standardization
from .device import setup_device
from .errors import CnnvizError
from .graph import layer_table
from .receptive import LayerInfo, LayerRoles
from .store import atomic_path, file_sha256, save_json


class ModelFileError(CnnvizError, ValueError):
    """A model file (or its metadata) that cannot be opened safely."""


def build_model(config: TrainConfig, input_shape: tuple[int, int, int] = (28, 28, 1), classes: int = 10) -> keras.Model:
    """Conv2D_1 -> MaxPool_1 -> Conv2D_2 -> MaxPool_2 -> Conv2D_3 -> Flatten -> Dense_1 -> Dense_2, for
    images of ``input_shape`` (MNIST's by default) and ``classes`` outputs."""
    setup_device()
    keras.utils.set_random_seed(config.seed)
    reg = keras.regularizers.L2(config.l2) if config.l2 > 0 else None
    f, k = config.filters, config.kernel_sizes
    layers = [
        keras.Input(tuple(input_shape), name="Input"),
        keras.layers.Conv2D(f[0], k[0], activation="relu", kernel_regularizer=reg, name="Conv2D_1"),
        keras.layers.MaxPooling2D(2, name="MaxPool_1"),
        keras.layers.Conv2D(f[1], k[1], activation="relu", kernel_regularizer=reg, name="Conv2D_2"),
        keras.layers.MaxPooling2D(2, name="MaxPool_2"),
        keras.layers.Conv2D(f[2], k[2], activation="relu", kernel_regularizer=reg, name="Conv2D_3"),
        keras.layers.Flatten(name="Flatten"),
        keras.layers.Dense(config.dense_units, activation="relu", kernel_regularizer=reg, name="Dense_1"),
        keras.layers.Dense(classes, activation="softmax", name="Dense_2"),
    ]
    return keras.Sequential(layers, name="cnnviz")


@dataclass
class LoadedModel(LayerRoles):
    """A trained model, its metadata and standardization, and the file's content hash."""

    path: Path
    keras_model: keras.Model
    metadata: dict[str, Any]
    standardization: Standardization
    sha256: str
    cache: dict[Any, Any] = field(default_factory=dict, repr=False)  # sub-models, built once

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def class_names(self) -> tuple[str, ...]:
        """The metadata's class names, else the data set's, else "0", "1", ..."""
        names = self.metadata.get("class_names")
        if isinstance(names, list) and len(names) == self.num_classes:
            return tuple(str(n) for n in names)
        known = CLASS_NAMES.get(str(self.metadata.get("dataset", "mnist")))
        return known if known and len(known) == self.num_classes else tuple(str(i) for i in range(self.num_classes))

    @property
    def input_shape(self) -> tuple[int, int, int]:  # type: ignore[override]
        """(height, width, channels) of one input image."""
        return tuple(int(d) for d in self.keras_model.inputs[0].shape[1:])  # type: ignore[return-value]

    @property
    def num_classes(self) -> int:
        return int(self.keras_model.outputs[0].shape[-1])

    @functools.cached_property
    def layers(self) -> list[LayerInfo]:  # type: ignore[override]
        return layer_table(self.keras_model)

    def spatial_layer(self, name: str) -> LayerInfo:
        """Like :meth:`layer` but only layers of maps (a grid with a receptive field) are accepted."""
        valid = self.spatial_layers
        if name not in valid:
            raise ValueError(f"Layer must be a layer of maps (a convolution, pooling or activation on the image "
                             f"grid): {valid}. Received: layer={name!r}")
        return self.layer(name)

    def search_layer(self, name: str) -> LayerInfo:
        """Like :meth:`layer` but only layers an OIP search can drive: maps, dense units, classes."""
        valid = [r.name for r in self.layers if r.searchable]
        if name not in valid:
            raise ValueError(f"Layer must be a layer of maps, a dense layer or the output layer: {valid}. "
                             f"Received: layer={name!r}")
        return self.layer(name)


def save_model(model: keras.Model, path: str | os.PathLike[str], metadata: dict[str, Any]) -> None:
    """Saves ``<name>.keras`` and ``<name>.json``, each atomically (metadata last)."""
    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"A model path must end in .keras. Received: path={str(path)!r}")
    with atomic_path(path) as tmp:
        model.save(tmp)
    save_json(metadata_path(path), metadata)


def load_model(path: str | os.PathLike[str]) -> LoadedModel:
    """Loads a ``.keras`` file in Keras safe mode with its ``.json`` metadata.

    Raises:
        ModelFileError: missing file, not a Keras archive, unsafe content (e.g. Lambda
            layers), missing or invalid metadata, or not an image classifier (see
            :func:`check_classifier`).
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"Model file not found: {path}")
    if path.suffix != ".keras" or not zipfile.is_zipfile(path):
        raise ModelFileError(f"{path} is not a Keras model file (expected a .keras zip archive).")
    meta_file = metadata_path(path)
    try:
        metadata = json.loads(meta_file.read_text())
        std = Standardization(**{k: float(metadata["standardization"][k]) for k in ("mean", "std")})
    except FileNotFoundError:
        raise ModelFileError(f"Metadata file missing for {path.name}: expected {meta_file}.") from None
    except (ValueError, KeyError, TypeError) as e:
        raise ModelFileError(f"Metadata file {meta_file} is invalid: it needs a 'standardization' "
                             f"with 'mean' and 'std' ({type(e).__name__}: {e}).") from None
    model = read_keras(path)
    check_classifier(model, path.name)
    return LoadedModel(path, model, metadata, std, file_sha256(path))


def _check_archive(path: Path) -> None:
    """A ``.keras`` zip whose content, decompressed, fits :data:`MAX_MODEL_BYTES` (read from its index alone)."""
    try:
        with zipfile.ZipFile(path) as z:
            total = sum(i.file_size for i in z.infolist())
    except (OSError, zipfile.BadZipFile) as e:
        raise ModelFileError(f"{path.name} is not a readable Keras archive ({type(e).__name__}).") from None
    if total > MAX_MODEL_BYTES:
        raise ModelFileError(f"{path.name} decompresses to {total >> 20:,} MiB; cnnviz loads models of at most "
                             f"{MAX_MODEL_BYTES >> 20:,} MiB.")


def read_keras(path: Path) -> keras.Model:
    """The Keras model in ``path``, loaded in safe mode; ModelFileError with one clear line if not."""
    _check_archive(path)
    setup_device()
    try:
        model = keras.models.load_model(path, compile=False, safe_mode=True)
    except Exception as e:  # noqa: BLE001 - Keras raises ValueError, TypeError, KeyError, OSError...
        msg = str(e)
        if "unsafe" in msg.lower() or "lambda" in msg.lower():
            raise ModelFileError(f"{path.name} needs unsafe deserialization (e.g. a Lambda layer) "
                                 "and is refused: only plain Keras layers can be loaded.") from None
        first = msg.strip().splitlines()[0] if msg.strip() else type(e).__name__
        raise ModelFileError(f"{path.name} could not be loaded as a Keras model: {first[:300]}") from None
    if not isinstance(model, keras.Model):
        raise ModelFileError(f"{path.name} holds a {type(model).__name__}, not a Keras model.")
    return model


MIN_SIDE, MAX_SIDE = 8, 512
MAX_CLASSES = 1000  # what the dashboard can show: a confusion matrix, class means, an OIP per class
MAX_MODEL_BYTES = 1 << 30  # a .keras archive's content, uncompressed: a small zip bomb is refused before loading


def check_classifier(model: keras.Model, what: str) -> None:
    """An image classifier cnnviz can show: one input of (H, W, C) images with C = 1 or 3 and
    sides in 8..512, one output of (classes,) with at least two classes, and a layer table.

    Raises:
        ModelFileError: what is wrong, in one line.
    """
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ModelFileError(f"{what} has {len(model.inputs)} inputs and {len(model.outputs)} outputs; "
                             "cnnviz needs one image input and one class output.")
    shape = tuple(model.inputs[0].shape[1:])
    if len(shape) != 3 or shape[2] not in (1, 3) or any(d is None or not MIN_SIDE <= d <= MAX_SIDE for d in shape[:2]):
        raise ModelFileError(f"{what} takes inputs of shape {shape}; cnnviz needs images (H, W, C) with C = 1 or 3 "
                             f"and H, W in {MIN_SIDE}..{MAX_SIDE}.")
    out = tuple(model.outputs[0].shape[1:])
    if len(out) != 1 or out[0] is None or out[0] < 2:
        raise ModelFileError(f"{what} has output shape {out}; cnnviz needs one output per class, (classes,).")
    if out[0] > MAX_CLASSES:
        raise ModelFileError(f"{what} has {out[0]:,} classes; cnnviz shows models of at most {MAX_CLASSES:,}.")


def predict_classes(model: keras.Model, x: np.ndarray, batch: int = 1000) -> np.ndarray:
    """Probabilities for standardized images in batches (direct calls, no predict overhead)."""
    out = [np.asarray(model(x[i:i + batch], training=False)) for i in range(0, len(x), batch)]
    return np.concatenate(out) if out else np.zeros((0, int(model.outputs[0].shape[-1])), np.float32)

"""The seed's CNN: building it, saving it atomically with metadata, loading it safely."""

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

from .catalog import default_model_path, list_models, metadata_path  # noqa: F401 (re-exported)
from .config import TrainConfig
from .data import CLASS_NAMES, Standardization
from .device import setup_device
from .receptive import SPATIAL_TYPES, LayerInfo, Receptive, SpatialOp, find_layer, propagate  # noqa: F401 (re-exported)
from .store import atomic_path, file_sha256, save_json


class ModelFileError(ValueError):
    """A model file (or its metadata) that cannot be opened safely."""


def build_model(config: TrainConfig) -> keras.Model:
    """Conv2D_1 -> MaxPool_1 -> Conv2D_2 -> MaxPool_2 -> Conv2D_3 -> Flatten -> Dense_1 -> Dense_2."""
    setup_device()
    keras.utils.set_random_seed(config.seed)
    reg = keras.regularizers.L2(config.l2) if config.l2 > 0 else None
    f, k = config.filters, config.kernel_sizes
    layers = [
        keras.Input((28, 28, 1), name="Input"),
        keras.layers.Conv2D(f[0], k[0], activation="relu", kernel_regularizer=reg, name="Conv2D_1"),
        keras.layers.MaxPooling2D(2, name="MaxPool_1"),
        keras.layers.Conv2D(f[1], k[1], activation="relu", kernel_regularizer=reg, name="Conv2D_2"),
        keras.layers.MaxPooling2D(2, name="MaxPool_2"),
        keras.layers.Conv2D(f[2], k[2], activation="relu", kernel_regularizer=reg, name="Conv2D_3"),
        keras.layers.Flatten(name="Flatten"),
        keras.layers.Dense(config.dense_units, activation="relu", kernel_regularizer=reg, name="Dense_1"),
        keras.layers.Dense(10, activation="softmax", name="Dense_2"),
    ]
    return keras.Sequential(layers, name="cnnviz")


def _spatial_op(layer: keras.layers.Layer) -> SpatialOp | None:
    cfg = layer.get_config()
    if isinstance(layer, keras.layers.Conv2D):
        return SpatialOp(cfg["kernel_size"][0], cfg["strides"][0], cfg["padding"], cfg["dilation_rate"][0])
    if isinstance(layer, (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)):
        return SpatialOp(cfg["pool_size"][0], cfg["strides"][0], cfg["padding"])
    return None


def layer_table(model: keras.Model) -> list[LayerInfo]:
    """Layer name, type, output shape, parameters, receptive field and jump, from the model."""
    ops, rows = [], []
    size = int(model.inputs[0].shape[1])
    spatial_done = False
    for layer in model.layers:
        op = _spatial_op(layer)
        rec = None
        if op is not None and not spatial_done:
            ops.append(op)
            rec = propagate(ops, size)[-1]
        else:
            spatial_done = True  # after Flatten every node sees the whole image
        shape = tuple(int(d) for d in layer.output.shape[1:])
        rows.append(LayerInfo(layer.name, type(layer).__name__, shape, int(layer.count_params()),
                              rec.size if rec else size, rec.jump if rec else None, rec))
    return rows


@dataclass
class LoadedModel:
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
        return CLASS_NAMES.get(self.metadata.get("dataset", "mnist"), CLASS_NAMES["mnist"])

    @functools.cached_property
    def layers(self) -> list[LayerInfo]:
        return layer_table(self.keras_model)

    def layer(self, name: str) -> LayerInfo:
        """The row of layer ``name``; a clear error lists the valid names."""
        return find_layer(self.layers, name)

    def spatial_layer(self, name: str) -> LayerInfo:
        """Like :meth:`layer` but only Conv2D and pooling layers are accepted."""
        valid = [r.name for r in self.layers if r.spatial]
        if name not in valid:
            raise ValueError(f"Layer must be a convolution or pooling layer: {valid}. Received: layer={name!r}")
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
            layers), missing or invalid metadata, or an input shape other than 28x28x1.
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
    setup_device()
    try:
        model = keras.models.load_model(path, compile=False, safe_mode=True)
    except Exception as e:  # Keras raises ValueError, TypeError, KeyError, OSError...
        msg = str(e)
        if "unsafe" in msg.lower() or "lambda" in msg.lower():
            raise ModelFileError(f"{path.name} needs unsafe deserialization (e.g. a Lambda layer) "
                                 "and is refused: only plain Keras layers can be loaded.") from None
        first = msg.strip().splitlines()[0] if msg.strip() else type(e).__name__
        raise ModelFileError(f"{path.name} could not be loaded as a Keras model: {first[:300]}") from None
    if tuple(model.inputs[0].shape[1:]) != (28, 28, 1):
        raise ModelFileError(f"{path.name} takes inputs of shape {tuple(model.inputs[0].shape[1:])}; "
                             "cnnviz needs (28, 28, 1).")
    return LoadedModel(path, model, metadata, std, file_sha256(path))


def predict_classes(model: keras.Model, x: np.ndarray, batch: int = 1000) -> np.ndarray:
    """Probabilities for standardized images in batches (direct calls, no predict overhead)."""
    out = [np.asarray(model(x[i:i + batch], training=False)) for i in range(0, len(x), batch)]
    return np.concatenate(out) if out else np.zeros((0, 10), np.float32)

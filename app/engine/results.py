"""The dashboard's own results from the engine: a model's description, one image's activations, a job's state.

Everything else the engine returns is a type of ``cnnviz.search`` or ``cnnviz.results``, as the engine library
makes it. Plain, typed, numpy only, importable without TensorFlow. Changing a field changes what the cache holds:
bump ``app.services.CACHE_FORMAT``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cnnviz.receptive import LayerInfo, LayerRoles  # TF-free, like everything here


@dataclass(frozen=True)
class ModelInfo(LayerRoles):
    name: str
    sha256: str
    layers: tuple[LayerInfo, ...]
    metadata: dict[str, Any]
    kernels: np.ndarray  # the first convolution's kernels (kh, kw, in channels, maps); empty if none
    device: str
    input_shape: tuple[int, int, int] = (28, 28, 1)
    class_names: tuple[str, ...] = tuple(str(d) for d in range(10))
    kernels_layer: str = ""

    @property
    def dataset(self) -> str:
        return str(self.metadata.get("dataset", "mnist"))

    # The metadata (the model's JSON file) read once, typed, for the pages.

    @property
    def accuracy(self) -> float | None:
        acc = self.metadata.get("test_accuracy")
        return float(acc) if isinstance(acc, (int, float)) else None

    @property
    def standardization(self) -> tuple[float, float]:
        std = self.metadata.get("standardization") or {}
        return float(std.get("mean", 0.0)), float(std.get("std", 1.0))

    @property
    def history(self) -> list[dict[str, float]]:
        """Per-epoch training history (empty for an imported model)."""
        h = self.metadata.get("history")
        return [dict(e) for e in h if isinstance(e, dict)] if isinstance(h, list) else []

    @property
    def confusion(self) -> np.ndarray | None:
        c = self.metadata.get("confusion_matrix")
        return np.asarray(c, np.int64) if isinstance(c, list) and c else None

    @property
    def training(self) -> dict[str, Any]:
        """How it was trained (the TrainConfig's fields), empty for an imported model."""
        cfg = self.metadata.get("config")
        return dict(cfg) if isinstance(cfg, dict) else {}

    @property
    def imported(self) -> tuple[str, str] | None:
        """(where from, when) for an imported model, else None."""
        if "imported_from" not in self.metadata:
            return None
        return str(self.metadata["imported_from"]), str(self.metadata.get("imported_at", "?"))


@dataclass(frozen=True)
class Activations:
    """Every layer's activations for one image (batch axis dropped)."""

    layers: dict[str, np.ndarray]
    output: str  # name of the output (probabilities) layer

    @property
    def probabilities(self) -> np.ndarray:
        return self.layers[self.output]

    def of(self, layer: str) -> np.ndarray:
        """One layer's activations; a clear error for a layer the model has not."""
        if layer not in self.layers:
            raise ValueError(f"No such layer. Existing layers are: {list(self.layers)}. Received: layer={layer!r}")
        return self.layers[layer]


@dataclass(frozen=True)
class JobSummary:
    key: str
    kind: str
    started: float
    done: bool
    watchers: int
    progress: Any  # the latest progress report (OIPProgress, TrainProgress, BatchProgress) or None
    queued: int = 0  # waiting: 1 + the runs ahead of it (running, or before it in the queue); 0: not waiting


@dataclass(frozen=True)
class Stopped:
    """A job cancelled before its result existed (nothing to show, nothing cached)."""

    stopped: bool = True


@dataclass(frozen=True)
class AtlasZip:
    """The model atlas (cnnviz.atlas) as one zip file, for the dashboard's download, with what it holds."""

    model: str
    name: str  # the zip's file name
    data: bytes
    pages: int
    seconds: float
    summary: dict[str, Any]
    stopped: bool = False

"""Results that cross the process boundary and go into the result cache: plain, typed, numpy only.

The engine builds them; the pages use them as they are. Importable without TensorFlow.
Changing a field changes what the cache holds: bump ``app.services.CACHE_FORMAT``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class AttributionMap:
    """Which pixels of one image the class score depends on (``cnnviz.attribution``)."""

    method: str
    layer: str | None
    cls: int
    predicted: int
    probabilities: np.ndarray
    map: np.ndarray  # (H, W) >= 0


@dataclass(frozen=True)
class Activations:
    """Every layer's activations for one image (batch axis dropped)."""

    layers: dict[str, np.ndarray]
    output: str  # name of the output (probabilities) layer

    @property
    def probabilities(self) -> np.ndarray:
        return self.layers[self.output]


@dataclass(frozen=True)
class DenseStats:
    """How a hidden dense layer responds to each class of the test set."""

    dense_layer: str
    class_means: np.ndarray  # (classes, units)
    similarity: np.ndarray  # (classes, classes) cosine similarity of the class means
    confusion: np.ndarray  # (classes, classes), rows = true class
    predicted: np.ndarray  # (N,)
    probabilities: np.ndarray  # (N, classes)
    labels: np.ndarray  # (N,)

    def confused(self, true: int, predicted: int) -> np.ndarray:
        """Indices of the test images of class ``true`` predicted as ``predicted``."""
        return np.flatnonzero((self.labels == true) & (self.predicted == predicted))


@dataclass(frozen=True)
class OIPRun:
    images: np.ndarray  # (N, 28, 28) final images, standardized units
    frames: np.ndarray  # (F, N, 28, 28) float16
    frame_steps: np.ndarray  # (F,)
    activation: np.ndarray  # (N, F) objective at each frame
    steps_done: int
    stopped: bool
    loop_seconds: float

    def best_per_map(self, per_map: int) -> tuple[np.ndarray, np.ndarray]:
        """For runs of ``per_map`` consecutive searches per map: each map's best final image and activation."""
        end = np.asarray(self.activation)[:, -1].reshape(-1, per_map)
        best = end.argmax(1)
        rows = np.arange(len(end)) * per_map + best
        return np.asarray(self.images)[rows], end[np.arange(len(end)), best]


@dataclass(frozen=True)
class OIPProgress:
    step: int
    steps: int
    images: np.ndarray  # the first few searches' current images
    activation: np.ndarray  # their objectives


@dataclass(frozen=True)
class TrainProgress:
    epoch: int
    epochs: int
    batch: int
    batches: int
    loss: float
    accuracy: float
    val_loss: float | None = None
    val_accuracy: float | None = None


@dataclass(frozen=True)
class TrainRun:
    stopped: bool
    path: str | None
    metadata: dict[str, Any]
    epochs_completed: int
    history: list[dict[str, Any]]


@dataclass(frozen=True)
class StageProgress:
    fraction: float
    stage: str


@dataclass(frozen=True)
class InsightRun:
    """One Insight analysis: what every analysis has, plus its own arrays in ``data``.

    ``data`` holds the analysis's named arrays and lists (see ``app.engine.analyses``), looked
    up with :meth:`get`; ``summary`` and ``rows`` are the JSON/CSV face.
    """

    analysis: str
    stopped: bool
    summary: dict[str, Any] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Any:
        if name in ("summary", "rows", "stopped", "analysis"):
            return getattr(self, name)
        return self.data[name]

    def get(self, name: str, default: Any = None) -> Any:
        try:
            return self[name]
        except KeyError:
            return default


@dataclass(frozen=True)
class JobSummary:
    key: str
    kind: str
    started: float
    done: bool
    watchers: int
    progress: Any  # the latest progress report (OIPProgress, TrainProgress, StageProgress) or None

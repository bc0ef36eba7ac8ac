"""Frozen, validated configurations of the network, its training, and the OIP search."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from .data import DATASETS

OPTIMIZERS = ("sgd", "rmsprop")
SCHEDULES = ("constant", "exponential", "step")


def _check(ok: bool, what: str, name: str, value: Any) -> None:
    if not ok:
        raise ValueError(f"{what}. Received: {name}={value!r}")


@dataclass(frozen=True)
class TrainConfig:
    """Architecture and training of the seed's CNN; defaults reach >= 99 % on MNIST."""

    dataset: str = "mnist"
    filters: tuple[int, int, int] = (32, 64, 64)  # Conv2D_1..3 maps
    kernel_sizes: tuple[int, int, int] = (3, 3, 3)  # square kernels of Conv2D_1..3
    dense_units: int = 70  # Dense_1 nodes (the seed's 70, shown as a 7x10 tile)
    l2: float = 1e-4  # L2 factor on every kernel; keeps weights and OIPs tame
    optimizer: str = "sgd"  # "sgd" or "rmsprop", both with momentum
    learning_rate: float = 0.02
    momentum: float = 0.9
    schedule: str = "exponential"  # "constant", "exponential" or "step"
    decay_rate: float = 0.7  # factor per epoch (exponential) or per decay_epochs (step)
    decay_epochs: int = 1  # epochs between steps of a "step" schedule
    batch_size: int = 64
    epochs: int = 6
    subset: int | None = None  # use the first K training images (None: all but validation)
    validation: int = 5000  # held-out tail of the training set
    seed: int = 42
    snapshot_every: int = 0  # also keep the weights every k batches of the first epoch (0: epochs only; cnnviz.history)

    def __post_init__(self) -> None:
        _check(self.dataset in DATASETS or str(self.dataset).endswith(".npz"),
               f"dataset must be one of {list(DATASETS)} or a path to an .npz file", "dataset", self.dataset)
        _check(len(self.filters) == 3 and all(1 <= int(f) <= 512 for f in self.filters),
               "filters needs three counts in 1..512", "filters", self.filters)
        _check(len(self.kernel_sizes) == 3 and all(k in (1, 2, 3, 4, 5) for k in self.kernel_sizes),
               "kernel_sizes needs three sizes in 1..5", "kernel_sizes", self.kernel_sizes)
        _check(1 <= self.dense_units <= 4096, "dense_units must be in 1..4096", "dense_units", self.dense_units)
        _check(0 <= self.l2 < 1, "l2 must be in [0, 1)", "l2", self.l2)
        _check(self.optimizer in OPTIMIZERS, f"optimizer must be one of {list(OPTIMIZERS)}", "optimizer", self.optimizer)
        _check(0 < self.learning_rate <= 1, "learning_rate must be in (0, 1]", "learning_rate", self.learning_rate)
        _check(0 <= self.momentum < 1, "momentum must be in [0, 1)", "momentum", self.momentum)
        _check(self.schedule in SCHEDULES, f"schedule must be one of {list(SCHEDULES)}", "schedule", self.schedule)
        _check(0 < self.decay_rate <= 1, "decay_rate must be in (0, 1]", "decay_rate", self.decay_rate)
        _check(self.decay_epochs >= 1, "decay_epochs must be >= 1", "decay_epochs", self.decay_epochs)
        _check(1 <= self.batch_size <= 4096, "batch_size must be in 1..4096", "batch_size", self.batch_size)
        _check(1 <= self.epochs <= 200, "epochs must be in 1..200", "epochs", self.epochs)
        _check(self.subset is None or 10 <= self.subset <= 60000, "subset must be None or in 10..60000",
               "subset", self.subset)
        _check(0 <= self.validation <= 10000, "validation must be in 0..10000", "validation", self.validation)
        _check(0 <= self.snapshot_every <= 100_000, "snapshot_every must be in 0..100000 batches", "snapshot_every",
               self.snapshot_every)
        # Normalise list inputs (JSON round trips) to tuples so configs stay hashable.
        object.__setattr__(self, "filters", tuple(int(f) for f in self.filters))
        object.__setattr__(self, "kernel_sizes", tuple(int(k) for k in self.kernel_sizes))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

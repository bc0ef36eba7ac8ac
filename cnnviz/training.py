"""Training with progress through a plain callable, a stop flag, checkpoints and resume."""

from __future__ import annotations

import contextlib
import functools
import math
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np

from .catalog import checkpoint_path, checkpoint_state
from .config import TrainConfig
from .data import Dataset, Standardization, load_dataset
from .device import setup_device
from .history import publish, write_snapshot
from .model import build_model, predict_classes, save_model
from .results import TrainProgress, TrainResult
from .store import atomic_path, save_json


def _schedule(config: TrainConfig, steps_per_epoch: int) -> float | keras.optimizers.schedules.LearningRateSchedule:
    if config.schedule == "constant":
        return config.learning_rate
    staircase = config.schedule == "step"
    every = steps_per_epoch * (config.decay_epochs if staircase else 1)
    return keras.optimizers.schedules.ExponentialDecay(
        config.learning_rate, decay_steps=every, decay_rate=config.decay_rate, staircase=staircase)


def _optimizer(config: TrainConfig, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    lr = _schedule(config, steps_per_epoch)
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(lr, momentum=config.momentum)
    return keras.optimizers.RMSprop(lr, momentum=config.momentum)


class _Hooks(keras.callbacks.Callback):
    """Adapts Keras callbacks to the plain ``on_progress`` callable and ``should_stop`` flag.

    ``async_safe``: Keras then runs the batch hooks on a helper thread instead of syncing
    the training loop on every batch to turn the logs into floats; that sync cost ~13 %
    of an epoch on a 2-core CPU. The hooks only read logs and set ``stop_training``.
    """

    async_safe = True

    def __init__(self, epochs, batches, on_progress, should_stop, on_epoch_saved, every):
        super().__init__()
        self.epochs, self.batches, self.every = epochs, batches, every
        self.on_progress, self.should_stop, self.on_epoch_saved = on_progress, should_stop, on_epoch_saved
        self.epoch = 0
        self.stopped = False

    def _lr(self) -> float:
        return float(np.asarray(self.model.optimizer.learning_rate))

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch + 1

    def on_train_batch_end(self, batch, logs=None):
        if self.should_stop is not None and self.should_stop():
            self.stopped = True
            self.model.stop_training = True
        if self.on_progress is not None and ((batch + 1) % self.every == 0 or batch + 1 == self.batches):
            logs = logs or {}
            self.on_progress(TrainProgress(self.epoch, self.epochs, batch + 1, self.batches,
                                           float(logs.get("loss", math.nan)),
                                           float(logs.get("accuracy", math.nan)), self._lr()))

    def on_epoch_end(self, epoch, logs=None):
        if self.stopped:
            return  # a half epoch is not an epoch: keep the last full checkpoint
        logs = dict(logs or {})
        logs["learning_rate"] = self._lr()
        self.on_epoch_saved(epoch + 1, logs)
        if self.on_progress is not None:
            self.on_progress(TrainProgress(
                epoch + 1, self.epochs, self.batches, self.batches, float(logs.get("loss", math.nan)),
                float(logs.get("accuracy", math.nan)), logs["learning_rate"],
                logs.get("val_loss"), logs.get("val_accuracy"), epoch_end=True))


class _EarlySnapshots(keras.callbacks.Callback):
    """Keeps the weights every ``every`` batches of the first epoch (epoch k/n after batch k of n), where most of
    the change happens. Not async-safe on purpose: the weights are saved between two batches, not while one runs
    (it costs the sync of every batch that ``_Hooks`` avoids, so only a training that asks for it has it)."""

    def __init__(self, every: int, batches: int, snapshot: Callable[[float], None]):
        super().__init__()
        self.every, self.batches, self.snapshot, self.first = every, batches, snapshot, True

    def on_epoch_end(self, epoch, logs=None):
        self.first = False

    def on_train_batch_end(self, batch, logs=None):
        if self.first and (batch + 1) % self.every == 0 and batch + 1 < self.batches:
            self.snapshot((batch + 1) / self.batches)


def _split(data: Dataset, config: TrainConfig) -> tuple[np.ndarray, ...]:
    n = len(data.x_train)
    val = min(config.validation, n // 5)
    x_tr, y_tr = data.x_train[: n - val], data.y_train[: n - val]
    x_val, y_val = data.x_train[n - val:], data.y_train[n - val:]
    if config.subset is not None:
        x_tr, y_tr = x_tr[: config.subset], y_tr[: config.subset]
    return x_tr, y_tr, x_val, y_val


def evaluate(model: keras.Model, x: np.ndarray, y: np.ndarray) -> tuple[float, float, np.ndarray]:
    """Accuracy, mean cross-entropy and the classes×classes confusion matrix (rows: true class)."""
    probs = predict_classes(model, x)
    pred = probs.argmax(1)
    loss = float(-np.mean(np.log(np.clip(probs[np.arange(len(y)), y], 1e-7, 1.0))))
    k = probs.shape[1]
    confusion = np.zeros((k, k), np.int64)
    np.add.at(confusion, (y.astype(np.int64), pred), 1)
    return float((pred == y).mean()), loss, confusion


def train(
    config: TrainConfig,
    out: str | Path,
    *,
    data: Dataset | None = None,
    on_progress: Callable[[TrainProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    resume: bool = True,
    progress_every: int = 20,
) -> TrainResult:
    """Trains the CNN of ``config`` and saves ``out`` (.keras) plus ``out`` .json.

    A checkpoint is written after every epoch (model with optimizer state, history); with
    ``resume`` a run whose checkpoint has the same config continues after its last epoch. Snapshots: cnnviz.history.
    ``should_stop`` is polled after every batch; a stopped run keeps its last checkpoint
    and saves no final model.
    """
    out = Path(out)
    if out.suffix != ".keras":
        raise ValueError(f"The output path must end in .keras. Received: out={str(out)!r}")
    device = setup_device()
    data = data or load_dataset(config.dataset)
    if data.name != config.dataset:
        raise ValueError(f"Data set {data.name!r} does not match config.dataset={config.dataset!r}")
    std = Standardization.from_images(data.x_train)
    x_tr, y_tr, x_val, y_val = _split(data, config)
    batches = math.ceil(len(x_tr) / config.batch_size)
    ckpt, ckpt_meta = checkpoint_path(out), checkpoint_path(out).with_suffix(".json")

    model, history, start_epoch, elapsed_before = _start(config, out, data, batches, resume)
    keras.utils.set_random_seed(config.seed + start_epoch)

    t0 = time.perf_counter()
    xs_test = std.apply(data.x_test)

    snapshot = functools.partial(_snapshot, model, out, xs_test, data.y_test)
    if start_epoch == 0:
        snapshot(0)  # the untrained network

    def save_checkpoint(epoch: int, logs: dict[str, Any]) -> None:
        history.append({k: float(v) for k, v in logs.items()})
        snapshot(epoch)
        with_time = elapsed_before + time.perf_counter() - t0
        with atomic_path(ckpt) as tmp:
            model.save(tmp)
        save_json(ckpt_meta, {"config": config.to_dict(), "epochs_completed": epoch,
                              "history": history, "wall_time_s": with_time})

    hooks = _Hooks(config.epochs, batches, on_progress, should_stop, save_checkpoint, max(1, progress_every))
    early = [_EarlySnapshots(config.snapshot_every, batches, snapshot)] if config.snapshot_every and start_epoch == 0 else []
    xs_tr, xs_val = std.apply(x_tr), std.apply(x_val)
    fit_t0 = time.perf_counter()
    if start_epoch < config.epochs:
        model.fit(xs_tr, y_tr, batch_size=config.batch_size, epochs=config.epochs,
                  initial_epoch=start_epoch, validation_data=(xs_val, y_val) if len(x_val) else None,
                  shuffle=True, verbose=0, callbacks=[hooks, *early])
    fit_seconds = time.perf_counter() - fit_t0

    done = len(history)
    if hooks.stopped and done < config.epochs:
        return TrainResult(None, {}, True, done, history)

    acc, loss, confusion = evaluate(model, xs_test, data.y_test)
    metadata = {
        "dataset": config.dataset, "class_names": list(data.class_names), "standardization": std.as_dict(),
        "test_accuracy": acc, "test_loss": loss, "config": config.to_dict(),
        "history": history,
        "confusion_matrix": confusion.tolist(),
        "n_train": int(len(x_tr)), "n_validation": int(len(x_val)),
        "epochs_completed": done,
        "wall_time_s": elapsed_before + time.perf_counter() - t0,
        "fit_seconds": fit_seconds,  # this session's model.fit, hooks included
        "device": device,
        "versions": _versions(),
        "trained_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    _finish(model, out, metadata)
    return TrainResult(out, metadata, False, done, history)


def _snapshot(model: keras.Model, out: Path, x: np.ndarray, y: np.ndarray, epoch: float) -> None:
    """Keeps the weights after ``epoch`` (0: untrained) with the test accuracy and loss (cnnviz.history)."""
    acc, loss, _ = evaluate(model, x, y)
    write_snapshot(model, out, epoch, acc, loss, fresh=epoch == 0)


def _finish(model: keras.Model, out: Path, metadata: dict[str, Any]) -> None:
    """Saves the model with its snapshots listed (moved beside it, cnnviz.history) and removes its checkpoint."""
    metadata["snapshots"] = publish(out)
    save_model(model, out, metadata)
    ckpt = checkpoint_path(out)
    ckpt.unlink(missing_ok=True)
    ckpt.with_suffix(".json").unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        ckpt.parent.rmdir()  # only if empty: other runs' checkpoints stay


def _start(config: TrainConfig, out: Path, data: Dataset, batches: int,
           resume: bool) -> tuple[keras.Model, list[dict[str, float]], int, float]:
    """(model, history, epochs done, seconds spent): from the checkpoint of a run with the same config, if
    ``resume`` and there is one, else a new compiled model."""
    state = checkpoint_state(out) if resume else None
    if state is not None and TrainConfig.from_dict(state["config"]) == config:
        model = keras.models.load_model(checkpoint_path(out), safe_mode=True)
        return model, list(state["history"]), int(state["epochs_completed"]), float(state.get("wall_time_s", 0.0))
    shape = data.x_train.shape[1:]
    classes = max(int(data.y_train.max()) + 1, len(data.class_names))
    model = build_model(config, input_shape=shape if len(shape) == 3 else (*shape, 1), classes=classes)
    model.compile(optimizer=_optimizer(config, batches), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model, [], 0, 0.0


def _versions() -> dict[str, str]:
    import tensorflow as tf

    from . import __version__

    return {"cnnviz": __version__, "tensorflow": tf.__version__, "keras": keras.__version__,
            "numpy": np.__version__, "python": platform.python_version()}

"""Shared fixtures: the real data sets, the committed default model, tiny named models."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
_SHARED = ROOT.parent / "shared" / "data"
if not os.environ.get("CNNVIZ_DATA_DIR") and _SHARED.is_dir():
    os.environ["CNNVIZ_DATA_DIR"] = str(_SHARED)  # the real MNIST beside the checkout
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def mnist():
    from cnnviz.data import load_dataset

    return load_dataset("mnist", allow_download=False)


@pytest.fixture(scope="session")
def default_model():
    from cnnviz.model import load_model

    return load_model(ROOT / "models" / "default.keras")


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """An untrained small model (4/8/8 maps, 16 dense units) saved with metadata."""
    from cnnviz.config import TrainConfig
    from cnnviz.model import build_model, load_model, save_model

    path = tmp_path_factory.mktemp("tiny") / "tiny.keras"
    cfg = TrainConfig(filters=(4, 8, 8), dense_units=16, seed=3)
    save_model(build_model(cfg), path, {"dataset": "mnist", "standardization": {"mean": 0.1307, "std": 0.3081},
                                        "test_accuracy": None, "config": cfg.to_dict()})
    return load_model(path)


@pytest.fixture()
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def foreign(tmp_path_factory, mnist):
    """The three foreign models of ``tests.foreign``, imported (``cnnviz.importer``) into a model folder
    beside a copy of the default model: {"dir": folder, "data": the colour .npz, name: LoadedModel}."""
    import shutil

    from cnnviz.importer import import_model
    from cnnviz.model import load_model

    from .foreign import build_all

    raw = build_all(tmp_path_factory.mktemp("foreign-raw"), mnist.x_train[:4000], mnist.y_train[:4000])
    folder = tmp_path_factory.mktemp("foreign-models")
    for name in ("default.keras", "default.json"):
        shutil.copy(ROOT / "models" / name, folder / name)
    out = {"dir": folder, "data": raw["rgb_data"]}
    for name, dataset in (("byo", "mnist"), ("residual", "mnist"), ("rgb", str(raw["rgb_data"]))):
        meta = import_model(raw[name], dataset, folder=folder)
        out[name] = load_model(meta["path"])
    return out


def pytest_collection_finish(session):
    """Starts building the Docker image (minutes) in the background as soon as the image test is selected, so that
    the build overlaps the rest of the suite; ``tests/test_docker.py`` waits for it."""
    session.config.image_build = None
    if not any(item.nodeid.startswith("tests/test_docker.py") for item in session.items):
        return
    from harness.image import tools_missing
    from harness.processes import start_process

    if tools_missing():
        return
    log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"cnnviz-image-build-{os.getpid()}.log"
    proc, _ = start_process([sys.executable, "-m", "harness.image"], dict(os.environ), log_path)
    session.config.image_build = (proc, log_path)

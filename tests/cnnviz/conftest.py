"""Engine fixtures: hand-built models with known behaviour."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="session")
def dead_unit_model(tmp_path_factory):
    """One conv layer: map 0 an edge detector, map 1 a 3×3 box sum with bias -16 (closed on pixel noise:
    the sum's std is 3, so -16 is over 5σ)."""
    import keras

    from cnnviz.model import load_model, save_model

    inp = keras.Input((28, 28, 1), name="Input")
    conv = keras.layers.Conv2D(2, 3, activation="relu", name="Conv2D_1")
    model = keras.Sequential([inp, conv, keras.layers.Flatten(name="Flatten"), keras.layers.Dense(10, name="Dense_2")])
    kernel = np.zeros((3, 3, 1, 2), np.float32)
    kernel[:, 0, 0, 0], kernel[:, 2, 0, 0] = 1, -1
    kernel[:, :, 0, 1] = 1
    conv.set_weights([kernel, np.array([0.0, -16.0], np.float32)])
    path = tmp_path_factory.mktemp("dead") / "dead.keras"
    save_model(model, path, {"dataset": "mnist", "standardization": {"mean": 0.1307, "std": 0.3081}})
    return load_model(path)


@pytest.fixture(scope="session")
def long_range_unit_model(tmp_path_factory):
    """One conv unit: a 13×13 box sum with bias -80, which pixel noise (sum std 13) never opens."""
    import keras

    from cnnviz.model import load_model, save_model

    inp = keras.Input((28, 28, 1), name="Input")
    conv = keras.layers.Conv2D(1, 13, activation="relu", name="Conv2D_1")
    model = keras.Sequential([inp, conv, keras.layers.Flatten(name="Flatten"), keras.layers.Dense(10, name="Dense_2")])
    conv.set_weights([np.ones((13, 13, 1, 1), np.float32), np.array([-80.0], np.float32)])
    path = tmp_path_factory.mktemp("long-range") / "long.keras"
    save_model(model, path, {"dataset": "mnist", "standardization": {"mean": 0.1307, "std": 0.3081}})
    return load_model(path)

"""Foreign models: Keras CNNs that are not the articles', with other names and layer types.

Built here, trained for a moment and brought in with ``cnnviz import`` by the fixtures; the
engine, CLI and browser tests run every view on each.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

RGB_CLASSES = ("red", "green", "blue", "white")


def byo_model(seed: int = 0):
    """The issue's model: 5×5 ``same`` conv → BatchNormalization → ReLU → AveragePooling → conv →
    MaxPool → Dropout → conv → GlobalAveragePooling → Dense → Dense (Sequential, other names)."""
    import keras

    L = keras.layers
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((28, 28, 1)), L.Conv2D(8, 5, padding="same", name="c1"), L.BatchNormalization(name="bn1"),
        L.ReLU(name="relu1"), L.AveragePooling2D(2, name="avg1"), L.Conv2D(16, 3, activation="relu", name="c2"),
        L.MaxPooling2D(2, name="max2"), L.Dropout(0.25, name="drop"), L.Conv2D(16, 3, activation="relu", name="c3"),
        L.GlobalAveragePooling2D(name="gap"), L.Dense(32, activation="relu", name="fc"),
        L.Dense(10, activation="softmax", name="probs")], name="byo")


def residual_model(seed: int = 0):
    """Functional, with a residual Add, a dilated and a strided conv, no hidden dense layer, and the
    softmax as a layer of its own."""
    import keras

    L = keras.layers
    keras.utils.set_random_seed(seed)
    inp = keras.Input((28, 28, 1), name="pixels")
    x = L.Conv2D(8, 3, padding="same", activation="relu", name="stem")(inp)
    y = L.Conv2D(8, 3, padding="same", name="branch")(x)
    y = L.BatchNormalization(name="branch_bn")(y)
    x = L.Activation("relu", name="merge_relu")(L.Add(name="add")([x, y]))
    x = L.MaxPooling2D(2, name="pool")(x)
    x = L.Conv2D(12, 3, dilation_rate=2, activation="relu", name="dilated")(x)
    x = L.Conv2D(12, 3, strides=2, padding="same", activation="relu", name="strided")(x)
    x = L.Dense(10, name="logits")(L.Flatten(name="flat")(x))
    return keras.Model(inp, L.Activation("softmax", name="softmax")(x), name="residual")


def rgb_model(seed: int = 0):
    """Colour 32×32 inputs, four classes."""
    import keras

    L = keras.layers
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((32, 32, 3)), L.Conv2D(8, 3, activation="relu", name="conv_a"), L.MaxPooling2D(2, name="pool_a"),
        L.Conv2D(16, 3, strides=2, padding="same", activation="relu", name="conv_b"), L.Flatten(name="flat"),
        L.Dense(16, activation="relu", name="hidden"), L.Dense(4, activation="softmax", name="classes")], name="rgb")


def rgb_dataset(path: Path, n_train: int = 800, n_test: int = 200, seed: int = 0) -> Path:
    """A small colour data set as an .npz: a coloured blob (red, green, blue or white) at a random
    place on a noisy dark background; the class is its colour."""
    rng = np.random.default_rng(seed)
    colours = np.array([[230, 40, 40], [40, 210, 60], [50, 70, 240], [235, 235, 235]], np.float32)

    def make(n):
        y = rng.integers(0, 4, n)
        x = rng.normal(40, 12, (n, 32, 32, 3))
        yy, xx = np.mgrid[:32, :32]
        for i in range(n):
            cy, cx, r = rng.uniform(8, 24), rng.uniform(8, 24), rng.uniform(4, 8)
            blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r ** 2))[..., None]
            x[i] = x[i] * (1 - blob) + colours[y[i]] * blob
        return np.clip(x, 0, 255).astype(np.uint8), y.astype(np.uint8)

    x_train, y_train = make(n_train)
    x_test, y_test = make(n_test)
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test, class_names=np.array(RGB_CLASSES))
    return path


def train_briefly(model, x: np.ndarray, y: np.ndarray, epochs: int = 1) -> None:
    """A few hundred steps of Adam on standardized images: enough for the views to show something."""
    import keras

    from cnnviz.data import Standardization

    std = Standardization.from_images(x)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
    model.fit(std.apply(x), y, batch_size=64, epochs=epochs, verbose=0)


def build_all(folder: Path, mnist_x: np.ndarray, mnist_y: np.ndarray) -> dict[str, Path]:
    """The three foreign models, trained briefly and saved as plain ``.keras`` files (no metadata)
    in ``folder``, and the colour data set; returns {name: path}, with "rgb_data"."""
    folder.mkdir(parents=True, exist_ok=True)
    data = rgb_dataset(folder / "blobs.npz")
    out = {"rgb_data": data}
    for name, build in (("byo", byo_model), ("residual", residual_model)):
        m = build()
        train_briefly(m, mnist_x, mnist_y)
        m.save(folder / f"{name}.keras")
        out[name] = folder / f"{name}.keras"
    with np.load(data) as f:
        m = rgb_model()
        train_briefly(m, f["x_train"], f["y_train"], epochs=4)
    m.save(folder / "rgb.keras")
    out["rgb"] = folder / "rgb.keras"
    return out

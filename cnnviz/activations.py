"""Activations of every layer from one forward pass, and dense-layer patterns per class."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from .data import Dataset
from .graph import outputs_of
from .model import LoadedModel
from .results import DensePatterns


class ActivationProbe:
    """A multi-output sub-model (every layer of maps, every dense layer and the output), built once per model.

    Interactive paths call :meth:`run`, a compiled call of the sub-model: for one image it
    costs about a tenth of ``model.predict``, whose per-call set-up dominates tiny batches.
    """

    def __init__(self, m: LoadedModel):
        self.layer_names = [r.name for r in m.layers if r.spatial or r.role in ("dense", "output")]
        km = m.keras_model
        sub = keras.Model(inputs=km.inputs, outputs=outputs_of(km, self.layer_names))
        self.shape = m.input_shape
        self._fn = tf.function(lambda x: sub(x, training=False), reduce_retracing=True,
                               input_signature=[tf.TensorSpec([None, *self.shape], tf.float32)])

    def run(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Standardized images (N, H, W[, C]) -> {layer name: activations (N, ...)}."""
        x = np.asarray(x, np.float32)
        if x.ndim == 3 and self.shape[2] == 1:
            x = x[..., None]
        if x.ndim != 4 or x.shape[1:] != self.shape:
            raise ValueError(f"Images must have shape (N, {', '.join(map(str, self.shape))}) for this model. "
                             f"Received: shape={x.shape}")
        outs = self._fn(tf.constant(x))
        return {n: o.numpy() for n, o in zip(self.layer_names, outs)}

    def run_batched(self, x: np.ndarray, batch: int = 1000) -> dict[str, np.ndarray]:
        """Like :meth:`run` for large arrays, in batches."""
        parts = [self.run(x[i:i + batch]) for i in range(0, len(x), batch)]
        return {n: np.concatenate([p[n] for p in parts]) for n in self.layer_names}


def probe(m: LoadedModel) -> ActivationProbe:
    """The model's :class:`ActivationProbe`, built on first use and kept with the model."""
    if "probe" not in m.cache:
        m.cache["probe"] = ActivationProbe(m)
    return m.cache["probe"]


def layers_output(m: LoadedModel, layers: tuple[str, ...], x: np.ndarray, batch: int = 500):
    """Yields (start, [activations of each of ``layers``]) for standardized images ``x`` in batches.

    One compiled sub-model per set of layers, kept with the model: passes over the whole test set never
    build (or keep) the other layers' outputs.
    """
    key = ("layers_output", tuple(layers))
    if key not in m.cache:
        km = m.keras_model
        sub = keras.Model(inputs=km.inputs, outputs=outputs_of(km, [m.layer(n).name for n in layers]))
        m.cache[key] = tf.function(lambda v: sub(v, training=False), reduce_retracing=True,
                                   input_signature=[tf.TensorSpec([None, *m.input_shape], tf.float32)])
    fn = m.cache[key]
    x = np.asarray(x, np.float32).reshape(-1, *m.input_shape)
    for i in range(0, len(x), batch):
        out = fn(tf.constant(x[i:i + batch]))
        yield i, [o.numpy() for o in (out if isinstance(out, (list, tuple)) else [out])]


def layer_output(m: LoadedModel, layer: str, x: np.ndarray, batch: int = 500):
    """Yields (start, activations of ``layer``) for standardized images ``x`` in batches (see :func:`layers_output`)."""
    for i, (acts,) in layers_output(m, (layer,), x, batch):
        yield i, acts


def class_means(m: LoadedModel, images: np.ndarray, labels: np.ndarray, batch: int = 500) -> dict[str, np.ndarray]:
    """Mean activation of every layer per class: {layer: (classes, ...)} over ``images``.

    Sums are accumulated batch by batch so that the first layer over 10,000 images never sits
    in memory at once.
    """
    k = m.num_classes
    p, counts = probe(m), np.bincount(labels, minlength=k).astype(np.float64)
    sums: dict[str, np.ndarray] = {}
    onehot_all = np.eye(k, dtype=np.float64)[labels]
    for i in range(0, len(images), batch):
        acts = p.run(m.standardization.apply(images[i:i + batch]))
        onehot = onehot_all[i:i + batch]
        for n, a in acts.items():
            s = np.tensordot(onehot, a.astype(np.float64), axes=(0, 0))
            sums[n] = sums[n] + s if n in sums else s
    shape = lambda n: (k,) + (1,) * (sums[n].ndim - 1)
    return {n: (s / np.maximum(counts, 1).reshape(shape(n))).astype(np.float32) for n, s in sums.items()}


def dense_patterns(m: LoadedModel, data: Dataset, dense_layer: str | None = None) -> DensePatterns:
    """Class means of a hidden dense layer (default: the last) and of the last layer of maps over the
    test set, with the confusion matrix.

    Raises:
        ValueError: the model has no hidden dense layer (or no layer of maps), or ``dense_layer`` is not one.
    """
    if not m.dense_layers:
        raise ValueError(f"{m.name} has no hidden dense layer: its last layer of maps feeds the output directly, "
                         "so there are no dense-layer patterns to show.")
    dense_layer = dense_layer or m.dense_layers[-1]
    if dense_layer not in m.dense_layers:
        raise ValueError(f"dense_layer must be one of {m.dense_layers}. Received: dense_layer={dense_layer!r}")
    maps = m.spatial_layers
    if not maps:
        raise ValueError(f"{m.name} has no layer of maps.")
    conv = maps[-1]
    y = data.y_test.astype(np.int64)
    k = m.num_classes
    onehot = np.eye(k)[y]
    dense_parts, prob_parts = [], []
    conv_sum: np.ndarray | float = 0.0
    # only the three layers needed, batch by batch: the last maps are summed per class, never kept whole
    for start, (d, c, p) in layers_output(m, (dense_layer, conv, m.output_layer), m.standardization.apply(data.x_test)):
        dense_parts.append(d)
        prob_parts.append(p)
        conv_sum = conv_sum + np.tensordot(onehot[start:start + len(d)], c.astype(np.float64), axes=(0, 0))
    dense, probs = np.concatenate(dense_parts), np.concatenate(prob_parts)
    pred = probs.argmax(1)
    counts = np.maximum(np.bincount(y, minlength=k), 1)
    means = (onehot.T @ dense) / counts[:, None]
    conv_means = conv_sum / counts[:, None, None, None]
    norm = means / np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)
    confusion = np.zeros((k, k), np.int64)
    np.add.at(confusion, (y, pred), 1)
    return DensePatterns(dense_layer, conv, means.astype(np.float32), conv_means.astype(np.float32),
                         (norm @ norm.T).astype(np.float32), confusion, dense, pred, probs, y)

"""Can an attribution map be trusted? The cascading model-parameter randomisation test (Adebayo et al. 2018).

The weights of the model are re-initialised from the top layer down, one more layer at each step, and each
image's attribution map is computed again. A method that explains *this* model must change as its weights are
destroyed; one that only reflects the image (an edge detector) does not.

How alike two maps are is measured twice, per image:

- **raw**: the Spearman rank correlation of the original map and the randomised one. On MNIST it stays high
  even for a model with random weights, because every map of every model shares the same layout (bright where
  digits are drawn, dark at the border): the raw number measures that layout, not the explanation.
- **image-specific**: the Spearman correlation after subtracting, at each step, the mean map over the images:
  what the map says about *this* image. This is the number the test is about; it falls to near zero when the
  method depends on the weights.
"""

from __future__ import annotations

import time
from dataclasses import replace

import keras
import numpy as np
from scipy.stats import rankdata

from .attribution import METHODS, attribution
from .model import LoadedModel
from .results import SanityCheck
from .search import Watch


def weighted_layers(m: LoadedModel) -> list[str]:
    """The layers with weights, from the output down: the order of the cascade."""
    return [layer.name for layer in reversed(m.keras_model.layers) if layer.weights]


def _randomise(layer: keras.layers.Layer, rng: np.random.Generator) -> None:
    """Re-initialises ``layer``'s weights: kernels Glorot-uniform (Keras's default), biases and shifts 0, scales
    and variances 1."""
    for v in layer.weights:
        shape = tuple(int(d) for d in v.shape)
        name = v.path.rsplit("/", 1)[-1]
        if len(shape) >= 2:
            fan_in = int(np.prod(shape[:-1]))
            fan_out = int(np.prod(shape[:-2])) * shape[-1] if len(shape) > 2 else shape[-1]
            limit = np.sqrt(6 / (fan_in + fan_out))
            value = rng.uniform(-limit, limit, shape)
        elif name in ("gamma", "moving_variance"):
            value = np.ones(shape)
        else:
            value = np.zeros(shape)
        v.assign(value.astype(v.dtype))


def _spearman(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise Spearman correlation of (N, P) arrays (average ranks for ties); 0 where a row is constant."""
    ra, rb = rankdata(a, axis=1), rankdata(b, axis=1)
    ra -= ra.mean(1, keepdims=True)
    rb -= rb.mean(1, keepdims=True)
    den = np.sqrt((ra * ra).sum(1) * (rb * rb).sum(1))
    return np.where(den > 0, (ra * rb).sum(1) / np.maximum(den, 1e-12), 0.0)


def sanity_check(m: LoadedModel, images: np.ndarray, method: str = "saliency", *, layer: str | None = None,
                 seed: int = 0, watch: Watch = Watch()) -> SanityCheck:
    """The cascading randomisation test of ``method`` on ``images`` (uint8, the model's image shape, N ≥ 2).

    Each image's map explains the class the original model predicts for it, at every step. ``layer`` is
    Grad-CAM's layer (default: the last layer of maps). The model ``m`` is not changed: a copy is randomised.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {list(METHODS)}. Received: method={method!r}")
    images = np.asarray(images)
    if images.ndim < 3 or images.shape[1:] != m.image_shape or not 2 <= len(images) <= 256:
        raise ValueError(f"images must be 2..256 images of shape {m.image_shape}. Received: shape={images.shape}")
    t0 = time.perf_counter()
    cascade = weighted_layers(m)
    clone = keras.models.clone_model(m.keras_model)
    clone.set_weights(m.keras_model.get_weights())
    copy = replace(m, keras_model=clone, cache={})
    first = [attribution(m, x, method, layer=layer) for x in images]
    classes = [a.cls for a in first]
    maps = [np.stack([a.map.ravel() for a in first])]
    rng = np.random.default_rng(seed)
    for k, name in enumerate(cascade):
        _randomise(clone.get_layer(name), rng)
        maps.append(np.stack([attribution(copy, x, method, layer=layer, cls=c).map.ravel()
                              for x, c in zip(images, classes)]))
        watch.report((k + 1) / len(cascade), f"{method}: randomised down to {name}")
        if watch.stopped():
            break
    maps_arr = np.stack(maps)  # (steps, N, pixels)
    raw = np.stack([_spearman(maps_arr[0], s) for s in maps_arr])
    residual = maps_arr - maps_arr.mean(1, keepdims=True)
    specific = np.stack([_spearman(residual[0], r) for r in residual])
    return SanityCheck(method, first[0].layer, ["original"] + cascade[:len(maps) - 1], raw, specific,
                       time.perf_counter() - t0, len(maps) - 1 < len(cascade))

"""Attribution maps for one image: which input pixels the class score depends on.

- ``saliency``: |d score / d pixel| (Simonyan et al. 2013), the largest over colour channels.
- ``smoothgrad``: the saliency averaged over noisy copies of the image (Smilkov et al. 2017).
- ``gradcam``: a layer of maps weighted by the score's mean gradient over each map, ReLU'd and
  resized to the image (Selvaraju et al. 2017).

The score is the class's value before the softmax, like the OIP of an output class. One
compiled sub-model per model and layer, kept with the model: a warm call costs a few ms.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from .graph import outputs_of, pre_softmax, score_of
from .model import LoadedModel
from .results import Attribution

METHODS = ("saliency", "smoothgrad", "gradcam")
SMOOTHGRAD_SAMPLES = 25
SMOOTHGRAD_NOISE = 0.15  # noise std as a fraction of the image's range (standardized units)


class _Attributor:
    """Logits (and a layer's maps) of a batch and their gradients, in one compiled call."""

    def __init__(self, m: LoadedModel, layer: str | None):
        km = m.keras_model
        score, self.head = score_of(km, m.output_layer)
        outputs = [score] + (outputs_of(km, [layer]) if layer else [])
        self.sub = keras.Model(km.inputs, outputs)
        spec = [tf.TensorSpec([None, *m.input_shape], tf.float32), tf.TensorSpec([], tf.int32)]
        self.call = tf.function(self._cam if layer else self._saliency, input_signature=spec)

    def _logits(self, outs):
        return pre_softmax(outs[0] if isinstance(outs, (list, tuple)) else outs, self.head)

    @staticmethod
    def _score(logits, cls):
        """The class's score of every image: ``cls``, or (cls < 0) the class predicted for image 0."""
        c = tf.where(cls < 0, tf.cast(tf.argmax(logits[0]), tf.int32), cls)
        return tf.reduce_sum(logits[:, c]), c

    def _saliency(self, x, cls):
        with tf.GradientTape() as tape:
            tape.watch(x)
            logits = self._logits(self.sub(x, training=False))
            score, c = self._score(logits, cls)
        return logits, c, tape.gradient(score, x)

    def _cam(self, x, cls):
        with tf.GradientTape() as tape:
            outs = self.sub(x, training=False)
            maps = outs[1]
            logits = self._logits(outs)
            score, c = self._score(logits, cls)
        g = tape.gradient(score, maps)
        weights = tf.reduce_mean(g, axis=[1, 2], keepdims=True)  # one weight per map
        return logits, c, tf.nn.relu(tf.reduce_sum(weights * maps, axis=-1))


def _attributor(m: LoadedModel, layer: str | None) -> _Attributor:
    key = ("attribution", layer)
    if key not in m.cache:
        m.cache[key] = _Attributor(m, layer)
    return m.cache[key]


def attribution(m: LoadedModel, image: np.ndarray, method: str = "saliency", *, layer: str | None = None,
                cls: int | None = None, samples: int = SMOOTHGRAD_SAMPLES, noise: float = SMOOTHGRAD_NOISE,
                seed: int = 0) -> Attribution:
    """The attribution map of one image (uint8 or 0..1 pixels, the model's image shape) for class ``cls``
    (default: the predicted class).

    Args:
        method: ``saliency``, ``smoothgrad`` or ``gradcam``.
        layer: Grad-CAM's layer of maps (default: the last one); not used by the others.
        samples, noise, seed: SmoothGrad's noisy copies, their std (a fraction of the image's
            range) and the seed that fixes them.

    Raises:
        ValueError: unknown method, a class or layer out of range, or an image of the wrong shape.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {list(METHODS)}. Received: method={method!r}")
    k = m.num_classes
    if cls is not None and not 0 <= int(cls) < k:
        raise ValueError(f"class must be in 0..{k - 1}. Received: class={cls}")
    if not 1 <= samples <= 256:
        raise ValueError(f"samples must be in 1..256. Received: samples={samples}")
    x = np.asarray(image)
    if x.shape != m.image_shape:
        raise ValueError(f"The image must have shape {m.image_shape} for {m.name}. Received: shape={x.shape}")
    x = m.standardization.apply(x[None]).reshape(1, *m.input_shape)
    if method == "gradcam":
        maps = m.spatial_layers
        layer = layer or (maps[-1] if maps else None)
        if layer not in maps:
            raise ValueError(f"Grad-CAM needs a layer of maps: {maps}. Received: layer={layer!r}")
    else:
        layer = None
    if method == "smoothgrad":
        rng = np.random.default_rng(seed)
        sigma = noise * float(x.max() - x.min())
        batch = np.concatenate([x, x + rng.normal(0, sigma, (samples, *x.shape[1:])).astype(np.float32)])
    else:
        batch = x
    logits, c, out = _attributor(m, layer).call(tf.constant(batch), tf.constant(-1 if cls is None else int(cls)))
    logits = logits.numpy()[0]
    probs = np.exp(logits - logits.max())
    probs = (probs / probs.sum()).astype(np.float32)
    out = out.numpy()
    h, w = m.input_shape[:2]
    if method == "gradcam":
        grid = out[0].astype(np.float32)
        amap = tf.image.resize(grid[None, :, :, None], (h, w), method="bilinear").numpy()[0, :, :, 0]
    else:
        grads = np.abs(out[1:] if method == "smoothgrad" else out).max(axis=-1)  # over channels
        amap = grads.mean(0).astype(np.float32)
        grid = amap
    return Attribution(method, layer, int(c), int(logits.argmax()), probs, np.maximum(amap, 0), grid)

"""Objectives beyond one unit: negative, diversity, sums and differences of units, interpolation (Lucid's
objective algebra, ``channel_interpolate`` and diversity, for the user's own model).

Every mode runs the plain search's ascent (:func:`cnnviz.oip.ascend`: RMS-normalised gradient, blur, the
standardization kept, one compiled call for all images); only the objective differs:

- **unit terms**: each term is a unit's map mean, node, dense value or class score, divided by the unit's
  typical size (the RMS of its value over 2,000 test images), so that no layer dominates by scale;
- **negative**: one term with weight −1 on the unit *before* its ReLU (after it, a closed unit has zero
  gradient, and "below zero" does not exist);
- **diversity**: N images of one unit searched together, each penalised by ``weight`` × 10 × its mean cosine
  similarity to the others on the maps of a lower layer (the first layer of maps): at weight 1 a pair that is
  alike costs ten typical activations. Lucid's penalty compares Gram matrices (which features, wherever they
  lie); on the default model's Conv2D_3 maps 13 and 25, Dense_1 unit 5 and Conv2D_2 map 7 (4 facets, λ = 4, 60
  steps) it lowered the images' mean pairwise correlation by 0.05–0.32 only while the activation fell to
  39–85 % of the plain search's, where the maps' cosine (2×2-pooled) lowers it by 0.25–0.71 keeping 80–88 %;
- **interpolation**: K images, image k maximises (1 − t)·A + t·B with t = k/(K − 1), all from the same
  noise, each penalised by ``weight`` × (1 − cosine) to its neighbours on the lower layer's maps, so that
  neighbours stay alike;
- **expression**: images of Σ wᵢ·unitᵢ; each unit's own plain search runs in the same batch, so that the result
  can say whether the sum reaches each unit's own level or the units conflict.

These modes use the true gradient (as ``--method skip-dead``): a search that noise leaves dead stays dead, so
start from long-range noise (λ = 4 by default) for deep maps.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf

from .graph import graph_tensors, is_softmax, pre_softmax
from .model import LoadedModel
from .noise import make_noise
from .oip import Ascent, Watched, ascend, jitter_shifts, linear_part, plain_relu, valid_range
from .search import MAX_ITEMS, Objective, ObjectiveRun, OIPConfig, OIPItem, OIPResult, Term, Unit

DIVERSITY = 10.0  # the diversity penalty at weight 1: a pair alike costs ten typical activations
SCALE_IMAGES = 2000  # test images that set each unit's typical size
LINEAR = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D, keras.layers.Dense)


def _unit_value(m: LoadedModel, unit: Unit, pre: bool) -> tuple[object, Callable[[tf.Tensor], tf.Tensor]]:
    """The graph tensor a unit is read from and the function from its value to the unit's (B,) values;
    ``pre``: before the unit's ReLU where it has one."""
    info = m.search_layer(unit.layer)
    if not 0 <= unit.index < info.maps:
        raise ValueError(f"{unit.layer} has units 0..{info.maps - 1}. Received: {unit.layer}:{unit.index}")
    if unit.node is not None:
        h, w = info.output_shape[:2] if info.spatial else (0, 0)
        if not (0 <= unit.node[0] < w and 0 <= unit.node[1] < h):
            raise ValueError(f"a node is (x, y) on {unit.layer}'s {w}x{h} grid (maps only). Received: {unit.node}")
    km = m.keras_model
    layer = km.get_layer(unit.layer)
    ins, out = graph_tensors(km)[unit.layer]
    through: Callable[[tf.Tensor], tf.Tensor] = tf.identity
    if is_softmax(layer):
        tensor, through = ins[0], (lambda v: pre_softmax(v, layer)) if isinstance(layer, keras.layers.Dense) \
            else tf.identity
    elif pre and getattr(layer, "activation", None) is keras.activations.relu and isinstance(layer, LINEAR):
        tensor, through = ins[0], (lambda v: linear_part(layer, v))
    elif pre and plain_relu(layer):
        tensor = ins[0]
    else:
        tensor = out
    i, node = unit.index, unit.node

    def value(v: tf.Tensor) -> tf.Tensor:
        z = through(v)
        if len(z.shape) == 2:
            return z[:, i]
        return tf.reduce_mean(z[..., i], axis=[1, 2]) if node is None else z[:, node[1], node[0], i]

    return tensor, value


class _Composite(Ascent):
    """The compiled ascent of an :class:`Objective`: per image, Σₜ mask[b, t]·termₜ − the mode's penalty."""

    def __init__(self, m: LoadedModel, objective: Objective):
        km = m.keras_model
        self.head, self.layers, self.shape = None, None, m.input_shape  # true gradient only (no redirected ReLU)
        self.mode, self.weight = objective.mode, float(objective.weight)
        pairs = [_unit_value(m, t.unit, objective.pre_activation) for t in objective.terms]
        self.values = [v for _, v in pairs]
        tensors: list = []  # each graph tensor once; self.reads[t]: where term t reads from
        for t, _ in pairs:
            if not any(t is u for u in tensors):
                tensors.append(t)
        self.reads = [next(k for k, u in enumerate(tensors) if u is t) for t, _ in pairs]
        if self.mode in ("diversity", "interpolation"):
            tensors.append(graph_tensors(km)[m.spatial_layers[0]][1])  # the lower layer
        self.sub = keras.Model(inputs=km.inputs, outputs=tensors)
        self.chunk = tf.function(self._chunk, reduce_retracing=True)
        self.forward = tf.function(lambda x, mask: self.objective(self._out(x), mask), reduce_retracing=True)
        self.term_values = tf.function(lambda x: self.terms(self._out(x)), reduce_retracing=True)

    def _out(self, x: tf.Tensor) -> list[tf.Tensor]:
        out = self.sub(x, training=False)
        return list(out) if isinstance(out, (list, tuple)) else [out]

    def terms(self, outs: list[tf.Tensor]) -> tf.Tensor:
        """(B, T) each term's unit value (unscaled, unweighted)."""
        return tf.stack([value(outs[k]) for value, k in zip(self.values, self.reads)], axis=1)

    def objective(self, outs: list[tf.Tensor], mask: tf.Tensor) -> tf.Tensor:  # type: ignore[override]
        v = tf.reduce_sum(self.terms(outs) * mask, axis=1)
        if self.mode == "diversity":
            v -= DIVERSITY * self.weight * _similarity(outs[-1])
        elif self.mode == "interpolation":
            v -= self.weight * _misalignment(outs[-1])
        return v


def _unit_rows(a: tf.Tensor) -> tf.Tensor:
    """Each image's lower-layer maps, 2×2-pooled (a quarter of the work; the layout at twice the pixel scale),
    as a unit vector."""
    a = tf.nn.avg_pool2d(a, 2, 2, "VALID") if a.shape[1] and a.shape[1] >= 4 else a
    a = tf.reshape(a, [tf.shape(a)[0], -1])
    return a / (tf.norm(a, axis=1, keepdims=True) + 1e-8)


def _similarity(lower: tf.Tensor) -> tf.Tensor:
    """(B,) each image's mean cosine similarity to the other images on ``lower``'s maps (where the lower layer's
    features lie, not only which: Lucid's Gram-matrix form kept the facets' layouts alike, see the module)."""
    rows = _unit_rows(lower)
    cos = tf.matmul(rows, rows, transpose_b=True)
    n = tf.cast(tf.shape(cos)[0], cos.dtype)
    return (tf.reduce_sum(cos, axis=1) - tf.linalg.diag_part(cos)) / tf.maximum(n - 1, 1)


def _misalignment(lower: tf.Tensor) -> tf.Tensor:
    """(B,) 1 − cosine of each image's ``lower`` maps to its neighbours' in the batch order, summed."""
    rows = _unit_rows(lower)
    apart = 1 - tf.reduce_sum(rows[1:] * rows[:-1], axis=1)  # (B-1,) between image k and k+1
    zero = tf.zeros([1], apart.dtype)
    return tf.concat([apart, zero], 0) + tf.concat([zero, apart], 0)


def _composite(m: LoadedModel, objective: Objective) -> _Composite:
    key = ("objective", objective.mode, objective.weight, tuple(t.unit for t in objective.terms))
    if key not in m.cache:
        m.cache[key] = _Composite(m, objective)
    return m.cache[key]


def unit_values(m: LoadedModel, objective: Objective, images: np.ndarray, count: int = SCALE_IMAGES) -> np.ndarray:
    """(N, T) each term's value on the first ``count`` of ``images`` (uint8 test images), as the objective reads
    it (before the ReLU for a negative one)."""
    key = ("unit values", objective.pre_activation, tuple(t.unit for t in objective.terms), len(images), count)
    if key not in m.cache:
        plain = Objective("expression", tuple(Term(t.unit) for t in objective.terms))
        asc = _composite(m, objective if objective.pre_activation else plain)
        x = m.standardization.apply(np.asarray(images[:count])).reshape(-1, *m.input_shape)
        m.cache[key] = np.concatenate([asc.term_values(tf.constant(x[i:i + 500])).numpy()
                                       for i in range(0, len(x), 500)])
    return m.cache[key]


def unit_scales(m: LoadedModel, objective: Objective, images: np.ndarray) -> np.ndarray:
    """(T,) each term's typical size: the RMS of its value over the test images (see :func:`unit_values`)."""
    return np.maximum(np.sqrt((unit_values(m, objective, images) ** 2).mean(0)), 1e-6).astype(np.float32)


def run_objective(m: LoadedModel, objective: Objective, config: OIPConfig = OIPConfig(), *, images: np.ndarray,
                  seeds: Sequence[int] = range(4), wavelengths: Sequence[float] = (4.0,), noise: str = "lowpass",
                  watched: Watched = Watched()) -> ObjectiveRun:
    """Runs ``objective`` as one batch: an image per seed (negative, expression, diversity: its facets), or
    ``objective.frames`` images from the first seed's noise (interpolation). ``images``: the test images that
    set each unit's scale. An expression's batch also holds each unit's own plain search from the same seeds.

    Raises:
        ValueError: a unit out of range, a bad node, too many images.
    """
    seeds = list(seeds)
    terms = len(objective.terms)
    scales = unit_scales(m, objective, images)
    w = np.array([t.weight for t in objective.terms], np.float32)
    if objective.mode == "interpolation":
        t = np.linspace(0.0, 1.0, objective.frames, dtype=np.float32)[:, None]
        weights = np.concatenate([1 - t, t], axis=1)
        seeds = [seeds[0]] * objective.frames
    else:
        weights = np.tile(w, (len(seeds), 1))
    plain_rows = objective.mode == "expression" and terms > 1
    if plain_rows:  # each unit alone, same seeds: its own level, to tell a sum from a conflict
        weights = np.concatenate([weights, *[np.tile(np.eye(terms, dtype=np.float32)[k], (len(seeds), 1))
                                             for k in range(terms)]])
        seeds = seeds * (terms + 1)
    if not 1 <= len(seeds) <= MAX_ITEMS:
        raise ValueError(f"Between 1 and {MAX_ITEMS} images per objective. Received: {len(seeds)}")
    waves = tuple(float(w) for w in wavelengths)
    x0 = np.stack([make_noise(s, waves, tuple(m.image_shape), family=noise) for s in seeds])
    clip = config.in_range if config.in_range is not None else \
        not all(m.search_layer(t.unit.layer).spatial for t in objective.terms)
    bounds = valid_range(m) if clip else None
    if bounds is not None:
        x0 = np.clip(x0, *bounds)
    asc = _composite(m, objective)
    mask = tf.constant(weights / scales)
    r = ascend(asc, x0.reshape(len(seeds), *m.input_shape), mask, config.with_method("skip-dead"), bounds,
               jitter_shifts(seeds, config), watched)
    start = asc.term_values(tf.constant(x0.reshape(len(seeds), *m.input_shape))).numpy()
    end = asc.term_values(tf.constant(r.frames[-1].reshape(len(seeds), *m.input_shape))).numpy()
    n = len(seeds) // (terms + 1) if plain_rows else len(seeds)
    plain = np.array([end[n * (k + 1):n * (k + 2), k].mean() for k in range(terms)]) if plain_rows else None
    items = [OIPItem(objective.terms[0].unit.layer, objective.terms[0].unit.index, s, waves,
                     objective.terms[0].unit.node, noise) for s in seeds[:n]]
    result = OIPResult(items, r.frames[-1][:n], r.frames[:, :n], r.frame_steps, r.activation[:n], r.steps_done,
                       r.stopped, r.loop_seconds, rgb=m.input_shape[2] == 3, compile_seconds=r.compile_seconds,
                       valid_range=valid_range(m))
    return ObjectiveRun(objective, result, scales, start[:n], end[:n], weights[:n], plain)


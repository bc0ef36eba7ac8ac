"""Circuits: which units of the layer below build a unit, measured by ablation on the unit's own exemplars.

For a unit (a map of a conv layer, a dense unit or a class), its *incoming units* are the channels of the
layer below it, found by walking down through layers that keep the channels (pooling, activations,
normalisation, dropout, flatten) to the layer that makes them: Conv2D_2's maps for Conv2D_3 (through
MaxPool_2), Conv2D_3's maps for Dense_1 (through the flatten), Dense_1's units for the classes.

An incoming unit's *contribution* is the drop of the unit's mean activation on its ``top`` strongest test
images when that one incoming unit is set to zero, as a fraction of the mean (positive: excitatory, zeroing
it lowers the unit; negative: inhibitory). Kernel weights are shown beside it, but not used to rank: a
large weight on an input that is rarely active does little, and the measured drop says what matters.

The check: zeroing the top ``k`` incoming units by contribution must cut the unit far more than zeroing
``k`` random ones (the mean over :data:`RANDOM_SETS` draws).
"""

from __future__ import annotations

import keras
import numpy as np

from .activations import layer_output
from .graph import graph_tensors, pre_softmax, score_of
from .model import LoadedModel
from .results import Circuit
from .search import Searches, Watch

# Layers that keep the channels (unit i below is unit i above) and are walked through to the incoming layer.
_PASS = (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D, keras.layers.Activation, keras.layers.ReLU,
         keras.layers.BatchNormalization, keras.layers.Dropout, keras.layers.SpatialDropout2D, keras.layers.Flatten,
         keras.layers.GaussianNoise, keras.layers.GaussianDropout)


def _incoming(m: LoadedModel, layer: str) -> tuple[str, list[str], object]:
    """(the layer whose units feed ``layer``, the pass-through layers between, that layer's output tensor)."""
    tensors = graph_tensors(m.keras_model)
    if layer not in tensors:
        raise ValueError(f"layer must be a layer of {m.name}. Received: layer={layer!r}")
    ins, _ = tensors[layer]
    through: list[str] = []
    while True:
        if len(ins) != 1:
            raise ValueError(f"Circuits need one input per layer; {through[-1] if through else layer} of {m.name} "
                             f"takes {len(ins)} (a residual or merged graph).")
        below = ins[0]._keras_history.operation
        if below.name not in tensors or isinstance(below, keras.layers.InputLayer):
            raise ValueError(f"{layer} of {m.name} has no layer of units below it (it reads the input image).")
        if isinstance(below, _PASS):
            through.append(below.name)
            ins = tensors[below.name][0]
            continue
        return below.name, through[::-1], tensors[below.name][1]


def _objective(acts: np.ndarray, unit: int) -> np.ndarray:
    """The unit's objective per image: a map's mean, or a dense unit's value."""
    a = acts[..., unit]
    return a.reshape(len(a), -1).mean(1)


def _kernels(m: LoadedModel, layer: str, unit: int, channels: int, shape: tuple[int, ...]) -> np.ndarray | None:
    """(channels, kh, kw) weights from each incoming unit to ``unit``: a conv layer's kernel slice, or a dense
    layer's weights over the flattened grid of each map; None for other layers."""
    lay = m.keras_model.get_layer(layer)
    if isinstance(lay, keras.layers.Conv2D) and not isinstance(lay, (keras.layers.SeparableConv2D,)):
        k = np.asarray(lay.kernel)
        if k.shape[2] == channels:
            return np.moveaxis(k[:, :, :, unit], 2, 0)
    if isinstance(lay, keras.layers.Dense):
        w = np.asarray(lay.kernel)[:, unit]
        if len(shape) == 3 and w.size == int(np.prod(shape)):
            return np.moveaxis(w.reshape(shape), 2, 0)
        if w.size == channels:
            return w.reshape(channels, 1, 1)
    return None


RANDOM_SETS = 20  # draws of k random incoming units for the check


def circuit(m: LoadedModel, layer: str, unit: int, images: np.ndarray, *, top: int = 100, k: int = 3, seed: int = 0,
            watch: Watch = Watch()) -> Circuit:
    """The incoming units of ``unit`` of ``layer``, ranked by their measured contribution on its ``top`` strongest
    test images (uint8 ``images``), and the ablation check (see the module's text)."""
    below, through, tensor = _incoming(m, layer)
    n_units = int(m.keras_model.get_layer(layer).output.shape[-1])
    if not 0 <= int(unit) < n_units:
        raise ValueError(f"unit must be in 0..{n_units - 1} for {layer}. Received: unit={unit}")
    if not 1 <= int(top) <= len(images):
        raise ValueError(f"top must be in 1..{len(images)}. Received: top={top}")
    x = m.standardization.apply(np.asarray(images))
    objective = np.concatenate([_objective(a, int(unit)) for _, a in layer_output(m, layer, x)])
    best = np.argsort(-objective, kind="stable")[:top]
    km = m.keras_model
    front = keras.Model(km.inputs[0], tensor)
    score, head = score_of(km, layer)  # a class's score before the softmax, like its OIP
    model_tail = None if score is tensor else keras.Model(tensor, score)  # None: the softmax's Dense reads it

    def tail(v: np.ndarray, training: bool = False) -> np.ndarray:
        z = v if model_tail is None else model_tail(v, training=training)
        return np.asarray(pre_softmax(z, head))

    a = np.asarray(front(x[best].reshape(len(best), *m.input_shape), training=False))
    channels = a.shape[-1]
    if not 1 <= int(k) < channels:
        raise ValueError(f"k must be in 1..{channels - 1}. Received: k={k}")
    rng = np.random.default_rng(seed)
    sets = [[c] for c in range(channels)] + [list(rng.choice(channels, int(k), replace=False))
                                             for _ in range(RANDOM_SETS)]

    def ablated(groups: list[list[int]]) -> np.ndarray:
        out = []
        for g in groups:
            kept = a.copy()
            kept[..., g] = 0
            out.append(_objective(np.asarray(tail(kept, training=False)), int(unit)).mean())
        return np.array(out)

    base = float(_objective(np.asarray(tail(a, training=False)), int(unit)).mean())
    values = ablated(sets)
    watch.report(0.9, f"{layer} unit {unit}: ablations")
    scale = max(abs(base), 1e-12)
    contribution = (base - values[:channels]) / scale
    order = np.argsort(-contribution, kind="stable")
    top_drop = float((base - ablated([list(order[:int(k)])])[0]) / scale)
    random_drops = (base - values[channels:]) / scale
    kernels = _kernels(m, layer, int(unit), channels, tuple(a.shape[1:]))
    weight_drop = None
    if kernels is not None:  # the weight-based view, for comparison: the k incoming units with the largest kernels
        norms = np.linalg.norm(kernels.reshape(channels, -1), axis=1)
        weight_drop = float((base - ablated([list(np.argsort(-norms, kind="stable")[:int(k)])])[0]) / scale)
    return Circuit(layer, int(unit), below, through, contribution, base, int(k), top_drop, random_drops, kernels,
                   best, weight_drop)


def circuit_oips(m: LoadedModel, c: Circuit, n: int = 5, searches: Searches = Searches((4.0,), seeds=2)) -> Circuit:
    """``c`` with the OIPs of its unit and of its ``n`` strongest incoming units (each the best of ``searches``),
    so that the circuit can be shown as pictures."""
    from dataclasses import replace

    from .oip import planned_items, run_many

    def best(layer: str, units: list[int]) -> np.ndarray:
        images, ends, _ = run_many(m, planned_items(m, layer, units, searches), searches.config)
        k = searches.per_map
        pick = ends.reshape(len(units), k).argmax(1) + np.arange(len(units)) * k
        return np.asarray(images)[pick]

    incoming = [int(i) for i in c.order[:n]]
    return replace(c, oip_unit=best(c.layer, [c.unit])[0], oip_incoming=best(c.incoming_layer, incoming))

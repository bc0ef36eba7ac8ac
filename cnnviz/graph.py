"""The Keras graph, read: which tensor is which layer's, what an OIP search or attribution scores, and each
layer's receptive field and role. Keras 3, Sequential or functional."""

from __future__ import annotations

from typing import Any

import keras

from .receptive import LayerInfo, Receptive, SpatialOp, step

# Layers that keep the grid and mix nothing across it: a node sees what the node below it saw.
_IDENTITY_AT_INFERENCE = ("Dropout", "SpatialDropout2D", "GaussianNoise", "GaussianDropout", "AlphaDropout")


def spatial_op(layer: keras.layers.Layer) -> SpatialOp | None:
    """Kernel, stride, padding and dilation of a convolution or pooling layer with square ones;
    None for other layers. Raises NotImplementedError for non-square ones."""
    cfg = layer.get_config()
    if isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D)):
        k, s, d = cfg["kernel_size"], cfg["strides"], cfg.get("dilation_rate", (1, 1))
    elif isinstance(layer, (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)):
        k, s, d = cfg["pool_size"], cfg["strides"] or cfg["pool_size"], (1, 1)
    else:
        return None
    if k[0] != k[1] or s[0] != s[1] or d[0] != d[1]:
        raise NotImplementedError(f"non-square {type(layer).__name__}")
    return SpatialOp(int(k[0]), int(s[0]), cfg["padding"], int(d[0]))


def is_softmax(layer: keras.layers.Layer) -> bool:
    """A layer whose output is a softmax: the class probabilities (its input, or its pre-activation, is the score)."""
    return isinstance(layer, keras.layers.Softmax) or getattr(layer, "activation", None) is keras.activations.softmax


def graph_tensors(model: keras.Model) -> dict[str, tuple[list[Any], Any]]:
    """{layer name: (its input tensors, its output tensor)} in the one graph that leads from
    ``model.inputs`` to ``model.outputs``.

    A layer keeps a node for every graph it was called in (a loaded Sequential holds several), and
    ``layer.input`` / ``layer.output`` are its first node's: a sub-model made of tensors from
    different graphs computes them separately, twice, and a gradient between them is None.
    """
    out: dict[str, tuple[list[Any], Any]] = {}
    stack = list(model.outputs)
    while stack:
        t = stack.pop()
        op, node_index, _ = t._keras_history
        if op is None or op.name in out:
            continue
        node = op._inbound_nodes[node_index]
        ins = list(node.input_tensors)
        outs = node.output_tensors
        out[op.name] = (ins, outs[0] if len(outs) == 1 else outs)
        stack.extend(ins)
    return out


def score_of(model: keras.Model, name: str) -> tuple[Any, keras.layers.Dense | None]:
    """What an OIP search or an attribution scores on layer ``name``: its output tensor, or for a
    softmax layer the value before the softmax: its input, and the Dense layer whose pre-activation
    that is (None where the softmax is a layer of its own). Maximising a probability would only
    push the other classes down."""
    layer = model.get_layer(name)
    ins, out = graph_tensors(model)[name]
    if is_softmax(layer):
        return ins[0], layer if isinstance(layer, keras.layers.Dense) else None
    return out, None


def outputs_of(model: keras.Model, names: list[str]) -> list[Any]:
    """The output tensors of layers ``names`` in the model's graph (see :func:`graph_tensors`)."""
    tensors = graph_tensors(model)
    return [tensors[n][1] for n in names]


def pre_softmax(t: Any, head: keras.layers.Dense | None) -> Any:
    """The scores from :func:`score_of`'s tensor value ``t``."""
    if head is None:
        return t
    z = keras.ops.matmul(t, head.kernel)
    return z + head.bias if head.use_bias else z


def parents(layer: keras.layers.Layer) -> list[str]:
    """Names of the layers whose outputs ``layer`` takes (a functional graph, or a Sequential chain)."""
    try:
        ins = layer.input
        ins = ins if isinstance(ins, (list, tuple)) else [ins]
        return [t._keras_history.operation.name for t in ins]
    except (AttributeError, ValueError):  # a layer used twice, or a nested model: no single parent
        return []


def _field(layer: keras.layers.Layer, fields: list, shape: tuple[int, ...]) -> Receptive | None:
    """The receptive field of ``layer``'s nodes from its parents' ``fields`` (field, rows, columns), or None."""
    try:
        op = spatial_op(layer)
    except NotImplementedError:
        return None
    if op is not None:
        if len(fields) != 1:
            return None
        r, ph, pw = fields[0]
        grown, nh = step(r, op, ph)
        return grown if (nh, step(r, op, pw)[1]) == shape[:2] else None
    if any(p[1:] != shape[:2] for p in fields):
        return None  # the grid changed without a known op (padding, resizing...)
    merged: Receptive | None = fields[0][0]
    for p in fields[1:]:
        merged = merged.union(p[0]) if merged is not None else None
    return merged


def layer_table(model: keras.Model) -> list[LayerInfo]:
    """Layer name, type, output shape, parameters, receptive field, jump and role, from the model.

    Receptive fields follow the graph: convolution and pooling layers (any square kernel, stride,
    dilation, ``valid``/``same``) grow them, layers that keep the grid (BatchNormalization,
    Dropout, Activation, ReLU, LayerNormalization, ...) pass them on, a merge (Add, Concatenate)
    takes the union of its inputs', and anything that leaves the grid (Flatten, GlobalPooling,
    Dense) or changes it otherwise (padding, resizing, non-square kernels) ends them.
    """
    h, w = (int(d) for d in model.inputs[0].shape[1:3])
    grid: dict[str, tuple[Receptive, int, int] | None] = {}  # layer name -> (field, rows, columns) of its output
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    inputs = {t._keras_history.operation.name for t in model.inputs}
    # a Dense layer whose only use is a softmax layer of its own holds the output's scores, not hidden units
    last = layers[-1] if layers else None
    scores = parents(last)[0] if last is not None and not isinstance(last, keras.layers.Dense) and is_softmax(last) \
        and len(parents(last)) == 1 else None
    rows = []
    for i, layer in enumerate(layers):
        shape = tuple(int(d) for d in layer.output.shape[1:])
        fields = [grid.get(p) if p not in inputs else (Receptive(1, 1, 0), h, w) for p in parents(layer)]
        rec = _field(layer, fields, shape) if len(shape) == 3 and fields and all(fields) else None
        grid[layer.name] = (rec, shape[0], shape[1]) if rec is not None else None
        if rec is not None and type(layer).__name__ not in _IDENTITY_AT_INFERENCE:
            role = "map"
        elif i == len(layers) - 1:
            role = "output"
        elif layer.name == scores:
            role = "scores"
        elif isinstance(layer, keras.layers.Dense) and len(shape) == 1:
            role = "dense"
        else:
            role = "other"
        rows.append(LayerInfo(layer.name, type(layer).__name__, shape, int(layer.count_params()),
                              rec.size if rec else max(h, w), rec.jump if rec else None, rec, role))
    return rows

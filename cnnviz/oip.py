"""OIP search: batched gradient ascent from noise to the input that drives a map (or node) hardest.

The types (items, configs, results) live in :mod:`cnnviz.search`, free of TensorFlow.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf

from .graph import parents, pre_softmax, score_of
from .model import LoadedModel
from .noise import make_noise
from .search import MAX_ITEMS, OIPConfig, OIPItem, OIPProgress, OIPResult, Searches, Watch, parse_maps


def items_for(m: LoadedModel, layer: str, maps: str | Sequence[int], *, node: tuple[int, int] | None = None,
              seeds: Iterable[int] = (0,), wavelengths: Iterable[Sequence[float] | float] = ((1.0,),),
              noise: str = "lowpass", independent: bool = False) -> list[OIPItem]:
    """All (map, wavelength set, seed) combinations for one layer, maps outermost.

    ``independent``: every search gets its own noise image (the seed is mixed with the map and
    the wavelength set), so that statistics over maps count independent trials; otherwise seed
    ``s`` is the same image for every map, which is what comparing maps on one noise wants.
    """
    info = m.search_layer(layer)
    if node is not None and not info.spatial:
        raise ValueError(f"A node can be chosen on a layer of maps only; {info.name} is a {info.role} layer "
                         f"whose units have no grid. Received: node={node}")
    idx = parse_maps(maps, info.maps) if isinstance(maps, str) else parse_maps(",".join(map(str, maps)), info.maps)
    waves = [(float(w),) if isinstance(w, (int, float, np.number)) else tuple(float(v) for v in w)
             for w in wavelengths]
    seeds = list(seeds)

    def seed(s: int, i: int, j: int) -> int:
        return int(np.random.SeedSequence([s, i, j]).generate_state(1)[0]) if independent else s

    items = [OIPItem(layer, i, seed(s, i, j), w, node, noise) for i in idx for j, w in enumerate(waves) for s in seeds]
    if items:
        masks(m, items[:1])  # checks the node against the layer's size now, not mid-run
        for w in waves:
            make_noise(0, w, m.image_shape[:2])  # checks the wavelengths
    return items


def planned_items(m: LoadedModel, layer: str, maps: str | Sequence[int], searches: Searches, *,
                  node: tuple[int, int] | None = None, independent: bool = False) -> list[OIPItem]:
    """The items of ``searches`` for ``maps`` of ``layer`` (see :func:`items_for`): per map, every
    wavelength × seed, in the order of :meth:`Searches.labels`."""
    return items_for(m, layer, maps, node=node, seeds=searches.seed_range, wavelengths=[(w,) for w in searches.wavelengths],
                     noise=searches.noise, independent=independent)


def _redirected_relu(z: tf.Tensor, on: tf.Tensor) -> tf.Tensor:
    """ReLU whose gradient, for an image where nothing gets through, also reaches closed units.

    The true gradient of a closed ReLU is zero, so a map that noise leaves at zero everywhere
    never moves. Where an image's true gradient is all zero (and ``on``, one bool per image,
    allows it), this passes the positive part of the incoming gradient to closed units too:
    the ascent then pushes them open. Elsewhere it is the true gradient.
    """
    on = tf.reshape(on, [-1] + [1] * (len(z.shape) - 1))

    @tf.custom_gradient
    def relu(z: tf.Tensor):
        def grad(dy: tf.Tensor) -> tf.Tensor:
            through = dy * tf.cast(z > 0, dy.dtype)
            opening = tf.where(z > 0, dy, tf.nn.relu(dy))
            axes = tf.range(1, tf.rank(dy))
            blocked = tf.reduce_sum(tf.abs(through), axis=axes, keepdims=True) == 0
            return tf.where(tf.logical_and(blocked, on), opening, through)

        return tf.nn.relu(z), grad

    return relu(z)


def plain_relu(layer: keras.layers.Layer) -> bool:
    """A ReLU layer (or Activation("relu")) that is exactly max(0, x)."""
    if isinstance(layer, keras.layers.ReLU):
        return layer.max_value is None and not layer.negative_slope and not layer.threshold
    return isinstance(layer, keras.layers.Activation) and layer.activation is keras.activations.relu


def _parent(layer: keras.layers.Layer) -> str | None:
    """The one layer feeding ``layer``, or None (an input, a merge, or a layer used twice)."""
    names = parents(layer)
    return names[0] if len(names) == 1 else None


class _Steps(NamedTuple):
    """One compiled call's work: the targets, the steps, and the ascent's settings. Tensors, except the two
    flags, which pick the traced graph."""

    mask: tf.Tensor  # (B, *layer output) each search's objective
    shifts: tf.Tensor  # (n, B, 2) per step and search: the jitter's (dy, dx)
    first: tf.Tensor  # the first step's number
    n: tf.Tensor  # steps in this call
    frame_every: tf.Tensor
    step_size: tf.Tensor
    blur_every: tf.Tensor
    sigma: tf.Tensor
    redirect_steps: tf.Tensor
    blur_dead: tf.Tensor
    bounds: tf.Tensor  # (2,) the data's range in standardized units; used when ``clip``
    jitter: bool
    redirect: bool
    clip: bool

    @classmethod
    def of(cls, mask: tf.Tensor, shifts: np.ndarray, first: int, n: int, config: OIPConfig,
           bounds: tuple[float, float] | None) -> _Steps:
        return cls(mask, tf.constant(shifts[first:first + n]), tf.constant(first), tf.constant(n),
                   tf.constant(config.frame_every), tf.constant(config.step_size, tf.float32),
                   tf.constant(config.blur_every), tf.constant(config.blur_sigma, tf.float32),
                   tf.constant(config.redirect_steps), tf.constant(config.blur_dead),
                   tf.constant(bounds or (0.0, 0.0), tf.float32), bool(config.jitter), config.redirect_steps > 0,
                   bounds is not None)


def linear_part(layer: keras.layers.Layer, x: tf.Tensor) -> tf.Tensor | None:
    """A convolution's (plain, depthwise or separable) or a dense layer's output before its activation; None
    for any other layer."""
    strides = [1, *layer.strides, 1] if hasattr(layer, "strides") else None
    if isinstance(layer, keras.layers.Conv2D):  # SeparableConv2D and DepthwiseConv2D are not Conv2D in Keras 3
        z = tf.nn.conv2d(x, layer.kernel, strides=list(layer.strides), padding=layer.padding.upper(),
                         dilations=list(layer.dilation_rate))
    elif isinstance(layer, keras.layers.DepthwiseConv2D):
        z = tf.nn.depthwise_conv2d(x, layer.kernel, strides, layer.padding.upper(), dilations=list(layer.dilation_rate))
    elif isinstance(layer, keras.layers.SeparableConv2D):
        z = tf.nn.separable_conv2d(x, layer.depthwise_kernel, layer.pointwise_kernel, strides, layer.padding.upper(),
                                   dilations=list(layer.dilation_rate))
    elif isinstance(layer, keras.layers.Dense) and len(x.shape) == 2:
        z = tf.matmul(x, layer.kernel)
    else:
        return None
    return z + layer.bias if layer.use_bias else z


class Ascent:
    """The compiled ascent for one layer of one model: a chunk of steps per call.

    The objective is the layer's output; for a softmax layer (the classes) it is the value before
    the softmax, as maximising a probability would only push the other classes down.
    """

    def __init__(self, m: LoadedModel, layer: str):
        km = m.keras_model
        tensor, self.head = score_of(km, layer)
        self.sub = keras.Model(inputs=km.inputs, outputs=tensor)
        self.shape = m.input_shape
        # The chain of layers up to the target's tensor, for the hand-built forward pass that
        # redirects ReLU gradients; None for a graph with branches (then the true gradient only).
        chain, name = [], tensor._keras_history.operation.name
        inputs = {t._keras_history.operation.name for t in km.inputs}
        while name is not None and name not in inputs:
            lay = km.get_layer(name)
            chain.append(lay)
            name = _parent(lay)
        self.layers = chain[::-1] if name is not None else None
        self.chunk = tf.function(self._chunk, reduce_retracing=True)
        self.forward = tf.function(lambda x, mask: self.objective(self._out(x), mask), reduce_retracing=True)
        self.values = tf.function(self._out, reduce_retracing=True)  # the layer as searched, on standardized images

    def _out(self, x: tf.Tensor) -> tf.Tensor:
        return pre_softmax(self.sub(x, training=False), self.head)

    @staticmethod
    def objective(acts: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
        """Per image: the masked sum of the target's output (a map's mean, a node, a unit)."""
        return tf.reduce_sum(tf.reshape(acts * mask, [tf.shape(acts)[0], -1]), 1)

    @staticmethod
    def _blur(x: tf.Tensor, sigma: tf.Tensor) -> tf.Tensor:
        r = tf.range(-2.0, 3.0)
        k1 = tf.exp(-0.5 * (r / sigma) ** 2)
        k1 = k1 / tf.reduce_sum(k1)
        kernel = tf.reshape(k1[:, None] * k1[None, :], [5, 5, 1, 1])
        padded = tf.pad(x, [[0, 0], [2, 2], [2, 2], [0, 0]], mode="REFLECT")
        channels = x.shape[-1]
        if channels == 1:
            return tf.nn.conv2d(padded, kernel, 1, "VALID")
        return tf.nn.depthwise_conv2d(padded, tf.tile(kernel, [1, 1, channels, 1]), [1, 1, 1, 1], "VALID")

    @staticmethod
    def _shift(x: tf.Tensor, shift: tf.Tensor) -> tf.Tensor:
        """Rolls each image by its own (dy, dx): per-item jitter, independent of the batch."""
        h, w = tf.shape(x)[1], tf.shape(x)[2]
        rows = tf.math.floormod(tf.range(h)[None, :] - shift[:, 0:1], h)
        cols = tf.math.floormod(tf.range(w)[None, :] - shift[:, 1:2], w)
        x = tf.gather(x, rows, axis=1, batch_dims=1)
        return tf.gather(x, cols, axis=2, batch_dims=1)

    def _forward(self, x: tf.Tensor, on: tf.Tensor) -> tf.Tensor:
        """The layers up to the target, by hand, so that ReLU's gradient can be redirected (per image: ``on``)."""
        for layer in self.layers or []:
            z = linear_part(layer, x)
            if z is not None:  # a convolution or dense layer: its activation on its pre-activation
                x = _redirected_relu(z, on) if layer.activation is keras.activations.relu else layer.activation(z)
            elif isinstance(layer, keras.layers.MaxPooling2D):
                x = tf.nn.max_pool2d(x, list(layer.pool_size), list(layer.strides), layer.padding.upper())
            elif isinstance(layer, keras.layers.AveragePooling2D):
                x = tf.nn.avg_pool2d(x, list(layer.pool_size), list(layer.strides), layer.padding.upper())
            elif plain_relu(layer):
                x = _redirected_relu(x, on)
            else:
                x = layer(x, training=False)
        return pre_softmax(x, self.head)

    def _redirected(self, x, stuck, g, s: _Steps, i) -> tf.Tensor:
        """``g`` with the rows of the ``stuck`` searches replaced by their redirected-ReLU gradient."""
        idx = tf.where(stuck)[:, 0]
        sub = tf.gather(x, idx)
        with tf.GradientTape() as tape:
            tape.watch(sub)
            xs = self._shift(sub, tf.gather(s.shifts[i], idx)) if s.jitter else sub
            obj = self.objective(self._forward(xs, tf.ones_like(idx, tf.bool)), tf.gather(s.mask, idx))
        return tf.tensor_scatter_nd_update(g, idx[:, None], tape.gradient(obj, sub))

    def _step(self, x, prev, s: _Steps, i):
        """Step ``s.first + i``: the new images and the objective at the step's start.

        With ``s.redirect``, closed ReLUs pass gradient during the first ``s.redirect_steps`` steps,
        and after that for the images whose objective was still zero at the previous step (``prev``).
        """
        with tf.GradientTape() as tape:
            tape.watch(x)
            xs = self._shift(x, s.shifts[i]) if s.jitter else x
            obj = self.objective(self._out(xs), s.mask)
        g = tape.gradient(obj, x)  # d(sum of objectives)/dx: per item, as items do not interact
        zero = tf.reduce_max(tf.abs(g), [1, 2, 3]) == 0  # per search: no gradient at all
        if s.redirect and self.layers is not None:
            # The redirected gradient differs from the true one only where the true one is exactly
            # zero (some layer passes nothing back): only those searches take the hand-built pass.
            stuck = tf.logical_and(zero, tf.logical_or(s.first + i < s.redirect_steps, prev <= 0))
            g = tf.cond(tf.reduce_any(stuck), lambda: self._redirected(x, stuck, g, s, i), lambda: g)
            zero = tf.logical_and(zero, tf.logical_not(stuck))
        # RMS normalisation: the step is measured in units of the gradient's typical size,
        # so tiny gradients still move the image and huge ones do not blow it up.
        g = g / (tf.sqrt(tf.reduce_mean(tf.square(g), [1, 2, 3], keepdims=True)) + 1e-8)
        x = x + s.step_size * g
        if s.blur_every > 0 and (s.first + i + 1) % s.blur_every == 0:
            # Damp high frequencies that lead to side maxima. Not on a search whose gradient is
            # all zero (dead, or redirected and still closed): repeated blurring is a growing
            # low-pass filter that would wake it by itself and confound the dead count, and it
            # would undo the small push of a redirected step.
            # The seed's literal loop (``blur_dead``) blurs them all the same.
            still = tf.logical_and(tf.logical_or(zero, tf.logical_and(s.redirect, obj <= 0)),
                                   tf.logical_not(s.blur_dead))
            x = tf.where(tf.reshape(still, [-1, 1, 1, 1]), x, self._blur(x, s.sigma))
        # Re-standardize each image: the network only knows inputs with the statistics of
        # standardized training images (mean 0, std 1); without this the ascent drifts away.
        mean, var = tf.nn.moments(x, [1, 2, 3], keepdims=True)
        x = (x - mean) / (tf.sqrt(var) + 1e-8)
        if s.clip:  # a possible input: pixels within 0..1 once de-standardized
            x = tf.clip_by_value(x, s.bounds[0], s.bounds[1])
        return x, obj

    def _chunk(self, x, prev, s: _Steps):
        """``s.n`` ascent steps in one compiled call; returns the new images, the objective at each step's
        start, and the images after every ``s.frame_every`` steps (and after the last). ``prev`` is the
        objective at the start of the step before the chunk's first."""
        trajectory = tf.TensorArray(tf.float32, size=s.n)
        n_frames = (s.n + s.frame_every - 1) // s.frame_every
        frames = tf.TensorArray(tf.float32, size=n_frames)
        for f in tf.range(n_frames):
            for j in tf.range(tf.minimum(s.frame_every, s.n - f * s.frame_every)):
                i = f * s.frame_every + j
                x, obj = self._step(x, prev, s, i)
                prev = obj
                trajectory = trajectory.write(i, obj)
            frames = frames.write(f, x)
        return x, trajectory.stack(), frames.stack()


def _ascent(m: LoadedModel, layer: str) -> Ascent:
    key = ("oip", layer)
    if key not in m.cache:
        m.cache[key] = Ascent(m, layer)
    return m.cache[key]


def layer_values(m: LoadedModel, layer: str, x: np.ndarray, batch: int = 500) -> np.ndarray:
    """``layer``'s values on standardized images ``x`` as its searches see them (a class's score before the
    softmax), through the searches' own compiled sub-model, in passes of ``batch``."""
    asc = _ascent(m, layer)
    x = np.asarray(x, np.float32).reshape(len(x), *m.input_shape)
    return np.concatenate([asc.values(tf.constant(x[i:i + batch])).numpy() for i in range(0, len(x), batch)])


def masks(m: LoadedModel, items: Sequence[OIPItem]) -> np.ndarray:
    """Each item's objective as a mask over its layer's output (a map's mean, one node, one unit); checks the
    maps, nodes and layer of every item."""
    info = m.search_layer(items[0].layer)
    c = info.maps
    mask = np.zeros((len(items), *info.output_shape), np.float32)
    h, w = info.output_shape[:2] if info.spatial else (1, 1)
    for b, it in enumerate(items):
        if it.layer != info.name:
            raise ValueError("All items of one call must share a layer. "
                             f"Received: layers={sorted({i.layer for i in items})}")
        if not 0 <= it.map < c:
            raise ValueError(f"map must be in 0..{c - 1} for {info.name}. Received: map={it.map}")
        if not info.spatial:
            if it.node is not None:
                raise ValueError(f"{info.name} has units, not maps of nodes: no node to choose. Received: node={it.node}")
            mask[b, it.map] = 1.0
        elif it.node is None:
            mask[b, :, :, it.map] = 1.0 / (h * w)
        else:
            x, y = it.node
            if not (0 <= x < w and 0 <= y < h):
                raise ValueError(f"node must be (x, y) with x in 0..{w - 1} and y in 0..{h - 1} for "
                                 f"{info.name}. Received: node={it.node}")
            mask[b, y, x, it.map] = 1.0
    return mask


def initial_images(items: Sequence[OIPItem], shape: Sequence[int] = (28, 28)) -> np.ndarray:
    """The starting noise of each item, (B, *shape) in standardized units; ``shape`` is a model's
    image shape, (H, W) or (H, W, C) (each channel its own noise)."""
    return np.stack([make_noise(it.seed, it.wavelengths, tuple(shape), family=it.noise) for it in items])


def run_oip(
    m: LoadedModel,
    items: Sequence[OIPItem],
    config: OIPConfig = OIPConfig(),
    *,
    on_progress: Callable[[OIPProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    start: np.ndarray | None = None,
) -> OIPResult:
    """Runs all ``items`` (one layer) as one batch through a compiled ascent.

    Each item's result depends only on itself (its seed, wavelengths, map or node), not on
    the other items in the batch. ``should_stop`` is polled after each frame; a stopped run
    returns what it reached.

    Raises:
        ValueError: no items, too many, mixed layers, or a map/node/wavelength out of range.
    """
    items = list(items)
    if not 1 <= len(items) <= MAX_ITEMS:
        raise ValueError(f"Between 1 and {MAX_ITEMS} items per call. Received: {len(items)} items")
    mask = tf.constant(masks(m, items))
    shape = (len(items), *m.image_shape)
    x0 = initial_images(items, m.image_shape) if start is None else np.asarray(start, np.float32).reshape(shape)
    asc = _ascent(m, items[0].layer)
    bounds = valid_range(m) if keeps_in_range(m, items[0].layer, config) else None
    if bounds is not None:
        x0 = np.clip(x0, *bounds)
    shifts = jitter_shifts([it.seed for it in items], config)
    r = ascend(asc, x0.reshape(len(items), *m.input_shape), tf.constant(mask), config, bounds, shifts,
               Watched(on_progress, should_stop))
    return OIPResult(items, r.frames[-1], r.frames, r.frame_steps, r.activation, r.steps_done, r.stopped,
                     r.loop_seconds, rgb=m.input_shape[2] == 3, compile_seconds=r.compile_seconds,
                     valid_range=valid_range(m))


class Watched(NamedTuple):
    """Who watches one ascent: live frames (``on_progress``) and Cancel (``should_stop``, polled per frame)."""

    on_progress: Callable[[OIPProgress], None] | None = None
    should_stop: Callable[[], bool] | None = None


class Ascended(NamedTuple):
    frames: np.ndarray  # (F, B, H, W[, C]) frame 0 the start
    frame_steps: np.ndarray
    activation: np.ndarray  # (B, steps_done + 1)
    steps_done: int
    stopped: bool
    loop_seconds: float
    compile_seconds: float


def ascend(asc: Ascent, x0: np.ndarray, mask: tf.Tensor, config: OIPConfig, bounds: tuple[float, float] | None,
           shifts: np.ndarray, watched: Watched = Watched()) -> Ascended:
    """The ascent of start images ``x0`` (B, *input shape) by ``asc`` (any objective: ``mask`` is its per-image
    target), in compiled chunks of steps; frames every ``config.frame_every`` steps."""
    shape = (len(x0), *x0.shape[1:-1]) if x0.shape[-1] == 1 else x0.shape
    x = tf.constant(x0)
    frames, frame_steps = [x0.reshape(shape)], [0]
    # One compiled call per frame while someone watches (live frames, Cancel); else all steps in one.
    per_call = config.frame_every if watched.on_progress is not None or watched.should_stop is not None \
        else config.steps
    # Tracing happens here, once per model, layer and batch shape, and is timed apart from the loop.
    tc = time.perf_counter()
    first = asc.forward(x, mask)
    asc.chunk.get_concrete_function(x, first, _Steps.of(mask, shifts, 0, min(per_call, config.steps), config, bounds))
    compile_seconds = time.perf_counter() - tc
    acts: list[np.ndarray] = [first.numpy()[:, None]]
    prev = first
    step, stopped = 0, False
    t0 = time.perf_counter()
    while step < config.steps:
        n = min(per_call, config.steps - step)
        x, a, shots = asc.chunk(x, prev, _Steps.of(mask, shifts, step, n, config, bounds))
        prev = a[-1]
        a = a.numpy().T  # (B, n): objective at the start of steps step..step+n-1
        acts.append(a[:, 1:] if step == 0 else a)  # the start value was measured exactly above
        for k, shot in enumerate(shots.numpy()):
            frames.append(shot.reshape(shape))
            frame_steps.append(step + min((k + 1) * config.frame_every, n))
        step += n
        if watched.on_progress is not None:
            watched.on_progress(OIPProgress(step, config.steps, len(frames), frames[-1], a[:, -1]))
        if watched.should_stop is not None and watched.should_stop() and step < config.steps:
            stopped = True
            break
    acts.append(asc.forward(x, mask).numpy()[:, None])
    return Ascended(np.stack(frames), np.array(frame_steps), np.concatenate(acts, axis=1), step, stopped,
                    time.perf_counter() - t0, compile_seconds)


def jitter_shifts(seeds: Sequence[int], config: OIPConfig) -> np.ndarray:
    """(steps, B, 2) each search's jitter per step, from its own seed (independent of the batch)."""
    shifts = np.zeros((config.steps, len(seeds), 2), np.int32)
    if config.jitter:
        for b, seed in enumerate(seeds):
            rng = np.random.default_rng([seed, 7919])
            shifts[:, b] = rng.integers(-config.jitter, config.jitter + 1, (config.steps, 2))
    return shifts


def valid_range(m: LoadedModel) -> tuple[float, float]:
    """Pixels 0..1 in the model's standardized units."""
    st = m.standardization
    return (0.0 - st.mean) / st.std, (1.0 - st.mean) / st.std


def keeps_in_range(m: LoadedModel, layer: str, config: OIPConfig) -> bool:
    """Whether the ascent clips to the data's range: as ``config.in_range`` says, or by default for dense units
    and classes (whose OIPs stay classified as their class when clipped; tests/cnnviz/test_oip.py) and not for
    maps (the articles' OIPs, comparable with the earlier results)."""
    if config.in_range is not None:
        return bool(config.in_range)
    return not m.search_layer(layer).spatial


def start_objective(m: LoadedModel, items: Sequence[OIPItem], batch: int = 512) -> np.ndarray:
    """Each item's objective on its start noise (one forward pass): 0 exactly is a dead start, as the
    articles define it: every ReLU of the map closed, so the gradient is zero too."""
    items = list(items)
    asc = _ascent(m, items[0].layer)
    out = [asc.forward(tf.constant(initial_images(part, m.input_shape)), tf.constant(masks(m, part))).numpy()
           for part in (items[i:i + batch] for i in range(0, len(items), batch))]
    return np.concatenate(out)


def objective_and_gradient(m: LoadedModel, items: Sequence[OIPItem], x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Objective of each item at images ``x`` (B, *image shape) and its gradient with respect to ``x``."""
    items = list(items)
    mask = tf.constant(masks(m, items))
    asc = _ascent(m, items[0].layer)
    xt = tf.constant(np.asarray(x, np.float32).reshape(len(items), *m.input_shape))
    with tf.GradientTape() as tape:
        tape.watch(xt)
        obj = asc.objective(asc._out(xt), mask)
    return obj.numpy(), tape.gradient(obj, xt).numpy().reshape(len(items), *m.image_shape)


def run_many(m: LoadedModel, items: Sequence[OIPItem], config: OIPConfig = OIPConfig(), *, watch: Watch = Watch(),
             stage: str = "OIP searches", batch: int = 256) -> tuple[np.ndarray, np.ndarray, bool]:
    """Runs any number of items (one layer) in batches; returns final images, end activations, stopped.

    Results equal one :func:`run_oip` call over all items, as items do not interact. Progress goes to
    ``watch`` as a fraction of all items (an analysis with several stages gives each a part of its watch).
    A stopped run returns only the items finished so far.
    """
    items = list(items)
    if not items:
        raise ValueError("No OIP searches to run. Received: 0 items")
    images, ends = [], []
    stopped = False
    for start in range(0, len(items), batch):
        part = items[start:start + batch]

        def progress(p: OIPProgress, start: int = start, n: int = len(part)) -> None:
            watch.report((start + n * p.step / p.steps) / len(items), f"{stage}: {start + n * p.step // p.steps}"
                                                                      f"/{len(items)}")

        r = run_oip(m, part, config, on_progress=progress if watch.on_progress else None,
                    should_stop=watch.should_stop)
        if r.stopped:
            stopped = True
            break
        images.append(r.images)
        ends.append(r.end_activation)
    if not images:
        return np.zeros((0, *m.image_shape), np.float32), np.zeros(0, np.float32), True
    return np.concatenate(images), np.concatenate(ends), stopped

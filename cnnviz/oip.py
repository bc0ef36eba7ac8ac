"""OIP search: batched gradient ascent from noise to the input that drives a map (or node) hardest."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import keras
import numpy as np
import tensorflow as tf

from .model import LoadedModel, pre_softmax, score_of
from .noise import FAMILIES, make_noise

MAX_STEPS = 2000
MAX_ITEMS = 1024


@dataclass(frozen=True)
class OIPItem:
    """One search: which map (or node) of which layer, from which noise. On a dense layer the
    "maps" are its units; on the output layer its classes (their pre-softmax values)."""

    layer: str
    map: int
    seed: int = 0
    wavelengths: tuple[float, ...] = (1.0,)  # one wavelength in pixels, or several to mix
    node: tuple[int, int] | None = None  # (x, y) = (column, row) of one node; None: map mean
    noise: str = "lowpass"  # the start noise's family: lowpass, bandpass or mix (cnnviz.noise)

    def __post_init__(self) -> None:
        if self.noise not in FAMILIES:
            raise ValueError(f"noise must be one of {list(FAMILIES)}. Received: noise={self.noise!r}")
        w = self.wavelengths
        waves = (float(w),) if isinstance(w, (int, float, np.number)) else tuple(float(v) for v in w)
        object.__setattr__(self, "wavelengths", waves)
        if self.node is not None:
            object.__setattr__(self, "node", (int(self.node[0]), int(self.node[1])))


@dataclass(frozen=True)
class OIPConfig:
    """How the ascent runs. Defaults are the seed's method, with its regularisation on."""

    steps: int = 60  # gradient-ascent steps
    step_size: float = 0.1  # per step, in standardized units per RMS of the gradient
    blur_every: int = 4  # damp high frequencies with a Gaussian blur every k steps (0: never)
    blur_sigma: float = 0.5  # pixels
    jitter: int = 0  # random shift of up to this many pixels before each step (0: none)
    frame_every: int = 5  # record the image every k steps (frames for the animation)
    # Redirected ReLU for the first k steps (0: off, the seed's method): gradient also reaches
    # closed ReLUs in the direction that opens them, so maps that noise leaves at zero (no
    # gradient at all) can wake up. After k steps, only searches still at zero keep it.
    redirect_steps: int = 20

    def __post_init__(self) -> None:
        checks = [
            (1 <= self.steps <= MAX_STEPS, f"steps must be in 1..{MAX_STEPS}", "steps", self.steps),
            (0 < self.step_size <= 10, "step_size must be in (0, 10]", "step_size", self.step_size),
            (0 <= self.blur_every <= MAX_STEPS, "blur_every must be >= 0", "blur_every", self.blur_every),
            (0 < self.blur_sigma <= 3, "blur_sigma must be in (0, 3]", "blur_sigma", self.blur_sigma),
            (0 <= self.jitter <= 4, "jitter must be in 0..4 pixels", "jitter", self.jitter),
            (1 <= self.frame_every <= MAX_STEPS, "frame_every must be >= 1", "frame_every", self.frame_every),
            (0 <= self.redirect_steps <= MAX_STEPS, "redirect_steps must be >= 0", "redirect_steps",
             self.redirect_steps),
        ]
        for ok, what, name, value in checks:
            if not ok:
                raise ValueError(f"{what}. Received: {name}={value!r}")


@dataclass(frozen=True)
class OIPProgress:
    """Reported after every recorded frame."""

    step: int
    steps: int
    frames: int  # frames recorded so far
    images: np.ndarray  # (B, H, W[, C]) current images, standardized units
    activation: np.ndarray  # (B,) current objective


@dataclass
class OIPResult:
    """Final images, evolution frames and activation trajectories of a batch of searches."""

    items: list[OIPItem]
    images: np.ndarray  # (B, H, W) final images in standardized input units; (B, H, W, C) for colour
    frames: np.ndarray  # (F, B, H, W[, C]) standardized; frame 0 is the initial noise
    frame_steps: np.ndarray  # (F,) step after which each frame was taken
    activation: np.ndarray  # (B, steps_done + 1); [:, 0] start, [:, -1] end
    steps_done: int
    stopped: bool
    loop_seconds: float  # the ascent itself, without tracing
    extra: dict = field(default_factory=dict)
    rgb: bool = False  # colour images: (..., H, W, 3)
    compile_seconds: float = 0.0  # tracing the compiled steps (0 when this model and layer ran before)

    @property
    def display(self) -> np.ndarray:
        """Final images scaled to 0..1 per image (min-max), for showing."""
        return to_display(self.images, self.rgb)

    @property
    def start_activation(self) -> np.ndarray:
        return self.activation[:, 0]

    @property
    def end_activation(self) -> np.ndarray:
        return self.activation[:, -1]

    @property
    def image_steps_per_second(self) -> float:
        return len(self.items) * self.steps_done / max(self.loop_seconds, 1e-9)


def to_display(images: np.ndarray, rgb: bool = False) -> np.ndarray:
    """Min-max scales each image (..., H, W), or (..., H, W, 3) with ``rgb``, to 0..1 (a flat image becomes 0.5)."""
    x = np.asarray(images, np.float32)
    axes = (-3, -2, -1) if rgb else (-2, -1)
    lo = x.min(axis=axes, keepdims=True)
    span = x.max(axis=axes, keepdims=True) - lo
    return np.where(span > 1e-12, (x - lo) / np.maximum(span, 1e-12), 0.5).astype(np.float32)


def parse_maps(spec: str, n_maps: int) -> list[int]:
    """'0-63', '5,7' or '1,4-6' -> map indices, each checked against ``n_maps``."""
    out: list[int] = []
    try:
        for part in str(spec).replace(" ", "").split(","):
            lo, _, hi = part.partition("-")
            out.extend(range(int(lo), int(hi) + 1) if hi else [int(lo)])
    except ValueError:
        raise ValueError(f"maps must look like 0-63 or 5,7. Received: maps={spec!r}") from None
    bad = [i for i in out if not 0 <= i < n_maps]
    if not out or bad:
        raise ValueError(f"maps must be in 0..{n_maps - 1}. Received: maps={spec!r}")
    return list(dict.fromkeys(out))


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
        _masks(m, items[:1])  # checks the node against the layer's size now, not mid-run
        for w in waves:
            make_noise(0, w, m.image_shape[:2])  # checks the wavelengths
    return items


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


def dead_fraction(result: OIPResult, threshold: float = 1e-6) -> dict[tuple[str, tuple[float, ...]], float]:
    """Fraction of searches whose objective ends at (or below) ``threshold``, per layer and wavelength set."""
    groups: dict[tuple[str, tuple[float, ...]], list[bool]] = {}
    for it, end in zip(result.items, result.end_activation):
        groups.setdefault((it.layer, it.wavelengths), []).append(bool(end <= threshold))
    return {k: float(np.mean(v)) for k, v in groups.items()}


def _plain_relu(layer: keras.layers.Layer) -> bool:
    """A ReLU layer (or Activation("relu")) that is exactly max(0, x)."""
    if isinstance(layer, keras.layers.ReLU):
        return layer.max_value is None and not layer.negative_slope and not layer.threshold
    return isinstance(layer, keras.layers.Activation) and layer.activation is keras.activations.relu


def _parent(layer: keras.layers.Layer) -> str | None:
    """The one layer feeding ``layer``, or None (an input, a merge, or a layer used twice)."""
    from .model import _parents

    names = _parents(layer)
    return names[0] if len(names) == 1 else None


class _Ascent:
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
            if isinstance(layer, keras.layers.Conv2D):
                z = tf.nn.conv2d(x, layer.kernel, strides=list(layer.strides), padding=layer.padding.upper(),
                                 dilations=list(layer.dilation_rate))
                z = z + layer.bias if layer.use_bias else z
                x = _redirected_relu(z, on) if layer.activation is keras.activations.relu else layer.activation(z)
            elif isinstance(layer, keras.layers.MaxPooling2D):
                x = tf.nn.max_pool2d(x, list(layer.pool_size), list(layer.strides), layer.padding.upper())
            elif isinstance(layer, keras.layers.AveragePooling2D):
                x = tf.nn.avg_pool2d(x, list(layer.pool_size), list(layer.strides), layer.padding.upper())
            elif isinstance(layer, keras.layers.Dense) and layer.activation is keras.activations.relu:
                z = tf.matmul(x, layer.kernel)
                x = _redirected_relu(z + layer.bias if layer.use_bias else z, on)
            elif _plain_relu(layer):
                x = _redirected_relu(x, on)
            else:
                x = layer(x, training=False)
        return pre_softmax(x, self.head)

    def _redirected(self, x, mask, shift, stuck, g, use_jitter: bool) -> tf.Tensor:
        """``g`` with the rows of the ``stuck`` searches replaced by their redirected-ReLU gradient."""
        idx = tf.where(stuck)[:, 0]
        sub = tf.gather(x, idx)
        with tf.GradientTape() as tape:
            tape.watch(sub)
            xs = self._shift(sub, tf.gather(shift, idx)) if use_jitter else sub
            obj = self.objective(self._forward(xs, tf.ones_like(idx, tf.bool)), tf.gather(mask, idx))
        return tf.tensor_scatter_nd_update(g, idx[:, None], tape.gradient(obj, sub))

    def _chunk(self, x, mask, shifts, first_step, n, frame_every, step_size, blur_every, sigma, use_jitter: bool,
               redirect: bool, redirect_steps, prev):
        """``n`` ascent steps in one compiled call; returns the new images, the objective at each step's
        start, and the images after every ``frame_every`` steps (and after the last).

        With ``redirect``, closed ReLUs pass gradient during the first ``redirect_steps`` steps,
        and after that for the images whose objective was still zero at the previous step
        (``prev``: the objective at the start of the step before the chunk's first).
        """
        trajectory = tf.TensorArray(tf.float32, size=n)
        n_frames = (n + frame_every - 1) // frame_every
        frames = tf.TensorArray(tf.float32, size=n_frames)
        for f in tf.range(n_frames):
            for j in tf.range(tf.minimum(frame_every, n - f * frame_every)):
                i = f * frame_every + j
                with tf.GradientTape() as tape:
                    tape.watch(x)
                    xs = self._shift(x, shifts[i]) if use_jitter else x
                    obj = self.objective(self._out(xs), mask)
                g = tape.gradient(obj, x)  # d(sum of objectives)/dx: per item, as items do not interact
                zero = tf.reduce_max(tf.abs(g), [1, 2, 3]) == 0  # per search: no gradient at all
                if redirect and self.layers is not None:
                    # The redirected gradient differs from the true one only where the true one is exactly
                    # zero (some layer passes nothing back): only those searches take the hand-built pass.
                    stuck = tf.logical_and(zero, tf.logical_or(first_step + i < redirect_steps, prev <= 0))
                    g = tf.cond(tf.reduce_any(stuck),
                                lambda: self._redirected(x, mask, shifts[i], stuck, g, use_jitter),  # noqa: B023
                                lambda: g)  # noqa: B023
                    zero = tf.logical_and(zero, tf.logical_not(stuck))
                prev = obj
                # RMS normalisation: the step is measured in units of the gradient's typical size,
                # so tiny gradients still move the image and huge ones do not blow it up.
                g = g / (tf.sqrt(tf.reduce_mean(tf.square(g), [1, 2, 3], keepdims=True)) + 1e-8)
                x = x + step_size * g
                if blur_every > 0 and (first_step + i + 1) % blur_every == 0:
                    # Damp high frequencies that lead to side maxima. Not on a search whose gradient is
                    # all zero (dead, or redirected and still closed): repeated blurring is a growing
                    # low-pass filter that would wake it by itself and confound the dead count, and it
                    # would undo the small push of a redirected step.
                    still = tf.logical_or(zero, tf.logical_and(redirect, obj <= 0))
                    x = tf.where(tf.reshape(still, [-1, 1, 1, 1]), x, self._blur(x, sigma))
                # Re-standardize each image: the network only knows inputs with the statistics of
                # standardized training images (mean 0, std 1); without this the ascent drifts away.
                mean, var = tf.nn.moments(x, [1, 2, 3], keepdims=True)
                x = (x - mean) / (tf.sqrt(var) + 1e-8)
                trajectory = trajectory.write(i, obj)
            frames = frames.write(f, x)
        return x, trajectory.stack(), frames.stack()


def _ascent(m: LoadedModel, layer: str) -> _Ascent:
    key = ("oip", layer)
    if key not in m.cache:
        m.cache[key] = _Ascent(m, layer)
    return m.cache[key]


def _masks(m: LoadedModel, items: Sequence[OIPItem]) -> np.ndarray:
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
    mask = tf.constant(_masks(m, items))
    shape = (len(items), *m.image_shape)
    x0 = initial_images(items, m.image_shape) if start is None else np.asarray(start, np.float32).reshape(shape)
    asc = _ascent(m, items[0].layer)
    shifts = np.zeros((config.steps, len(items), 2), np.int32)
    if config.jitter:
        for b, it in enumerate(items):
            rng = np.random.default_rng([it.seed, 7919])  # per item: jitter independent of the batch
            shifts[:, b] = rng.integers(-config.jitter, config.jitter + 1, (config.steps, 2))
    x = tf.constant(x0.reshape(len(items), *m.input_shape))
    frames, frame_steps = [x0], [0]
    # One compiled call per frame while someone watches (live frames, Cancel); else all steps in one.
    per_call = config.frame_every if on_progress is not None or should_stop is not None else config.steps
    n0 = min(per_call, config.steps)
    every = tf.constant(config.frame_every)
    args = (tf.constant(config.step_size, tf.float32), tf.constant(config.blur_every),
            tf.constant(config.blur_sigma, tf.float32), bool(config.jitter), config.redirect_steps > 0,
            tf.constant(config.redirect_steps))
    # Tracing happens here, once per model, layer and batch shape, and is timed apart from the loop.
    tc = time.perf_counter()
    first = asc.forward(x, mask)
    asc.chunk.get_concrete_function(x, mask, tf.constant(shifts[:n0]), tf.constant(0), tf.constant(n0), every, *args,
                                    first)
    compile_seconds = time.perf_counter() - tc
    acts: list[np.ndarray] = [first.numpy()[:, None]]
    prev = first
    step, stopped = 0, False
    t0 = time.perf_counter()
    while step < config.steps:
        n = min(per_call, config.steps - step)
        x, a, shots = asc.chunk(x, mask, tf.constant(shifts[step:step + n]), tf.constant(step), tf.constant(n),
                                every, *args, prev)
        prev = a[-1]
        a = a.numpy().T  # (B, n): objective at the start of steps step..step+n-1
        acts.append(a[:, 1:] if step == 0 else a)  # the start value was measured exactly above
        for k, shot in enumerate(shots.numpy()):
            frames.append(shot.reshape(shape))
            frame_steps.append(step + min((k + 1) * config.frame_every, n))
        step += n
        if on_progress is not None:
            on_progress(OIPProgress(step, config.steps, len(frames), frames[-1], a[:, -1]))
        if should_stop is not None and should_stop() and step < config.steps:
            stopped = True
            break
    acts.append(asc.forward(x, mask).numpy()[:, None])
    loop = time.perf_counter() - t0
    return OIPResult(items, frames[-1], np.stack(frames), np.array(frame_steps), np.concatenate(acts, axis=1),
                     step, stopped, loop, rgb=m.input_shape[2] == 3, compile_seconds=compile_seconds)


def start_objective(m: LoadedModel, items: Sequence[OIPItem], batch: int = 512) -> np.ndarray:
    """Each item's objective on its start noise (one forward pass): 0 exactly is a dead start, as the
    articles define it: every ReLU of the map closed, so the gradient is zero too."""
    items = list(items)
    asc = _ascent(m, items[0].layer)
    out = [asc.forward(tf.constant(initial_images(part, m.input_shape)), tf.constant(_masks(m, part))).numpy()
           for part in (items[i:i + batch] for i in range(0, len(items), batch))]
    return np.concatenate(out)


def objective_and_gradient(m: LoadedModel, items: Sequence[OIPItem], x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Objective of each item at images ``x`` (B, *image shape) and its gradient with respect to ``x``."""
    items = list(items)
    mask = tf.constant(_masks(m, items))
    asc = _ascent(m, items[0].layer)
    xt = tf.constant(np.asarray(x, np.float32).reshape(len(items), *m.input_shape))
    with tf.GradientTape() as tape:
        tape.watch(xt)
        obj = asc.objective(asc._out(xt), mask)
    return obj.numpy(), tape.gradient(obj, xt).numpy().reshape(len(items), *m.image_shape)


@dataclass(frozen=True)
class BatchProgress:
    """Progress of a long analysis made of many searches (or passes over the test set)."""

    fraction: float  # 0..1 of the whole analysis
    stage: str  # what runs now, for people


def run_many(m: LoadedModel, items: Sequence[OIPItem], config: OIPConfig = OIPConfig(), *, batch: int = 256,
             on_progress: Callable[[BatchProgress], None] | None = None, should_stop: Callable[[], bool] | None = None,
             stage: str = "OIP searches", span: tuple[float, float] = (0.0, 1.0)) -> tuple[np.ndarray, np.ndarray, bool]:
    """Runs any number of items (one layer) in batches; returns final images, end activations, stopped.

    Results equal one :func:`run_oip` call over all items, as items do not interact. Progress
    is reported as a fraction of ``span`` (an analysis with several stages maps its own range).
    A stopped run returns only the items finished so far.
    """
    items = list(items)
    if not items:
        raise ValueError("No OIP searches to run. Received: 0 items")
    images, ends, lo, hi = [], [], span[0], span[1]
    stopped = False
    for start in range(0, len(items), batch):
        part = items[start:start + batch]

        def progress(p: OIPProgress, start: int = start, n: int = len(part)) -> None:
            if on_progress is not None:
                done = (start + n * p.step / p.steps) / len(items)
                on_progress(BatchProgress(lo + (hi - lo) * done, f"{stage}: {start + n * p.step // p.steps}"
                                                                   f"/{len(items)}"))

        r = run_oip(m, part, config, on_progress=progress, should_stop=should_stop)
        if r.stopped:
            stopped = True
            break
        images.append(r.images)
        ends.append(r.end_activation)
    if not images:
        return np.zeros((0, *m.image_shape), np.float32), np.zeros(0, np.float32), True
    return np.concatenate(images), np.concatenate(ends), stopped

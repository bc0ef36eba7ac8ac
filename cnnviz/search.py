"""What an OIP search is, how it runs and what it returns: typed, numpy only, no TensorFlow.

The engine (``cnnviz.oip``) runs these; the dashboard's web process, the result cache and the CLI
read them as they are, so this module must stay importable without TensorFlow.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .noise import FAMILIES

MAX_STEPS = 2000  # steps of one ascent
MAX_ITEMS = 1024  # searches in one compiled batch
MAX_SEEDS = 64  # noises per map and wavelength in one analysis


def _check(ok: bool, what: str, name: str, value: object) -> None:
    if not ok:
        raise ValueError(f"{what}. Received: {name}={value!r}")


def _waves(w: Any) -> tuple[float, ...]:
    """One wavelength or several, as a tuple of floats."""
    if isinstance(w, (int, float, np.number)):
        return (float(w),)
    return tuple(float(v) for v in w)


@dataclass(frozen=True)
class Unit:
    """One unit of a model: a map of a layer of maps (or one ``node`` of it, (x, y)), a dense unit, or a class."""

    layer: str
    index: int
    node: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "index", int(self.index))
        if self.node is not None:
            object.__setattr__(self, "node", (int(self.node[0]), int(self.node[1])))


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
        _check(self.noise in FAMILIES, f"noise must be one of {list(FAMILIES)}", "noise", self.noise)
        object.__setattr__(self, "map", int(self.map))
        object.__setattr__(self, "seed", int(self.seed))
        object.__setattr__(self, "wavelengths", _waves(self.wavelengths))
        if self.node is not None:
            object.__setattr__(self, "node", (int(self.node[0]), int(self.node[1])))

    @property
    def unit(self) -> Unit:
        return Unit(self.layer, self.map, self.node)


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
    # The seed's outline blurs every image every ``blur_every`` steps, dead ones (zero gradient) too; cnnviz by
    # default blurs only searches that move, so that a blur alone never wakes a dead search (see METHODS).
    blur_dead: bool = False
    # Clip the image to the data's range (pixels 0..1, in standardized units) after each step, so that the OIP
    # stays a possible input; None: on for dense units and classes, off for maps (see cnnviz.oip).
    in_range: bool | None = None

    def __post_init__(self) -> None:
        _check(1 <= self.steps <= MAX_STEPS, f"steps must be in 1..{MAX_STEPS}", "steps", self.steps)
        _check(0 < self.step_size <= 10, "step_size must be in (0, 10]", "step_size", self.step_size)
        _check(0 <= self.blur_every <= MAX_STEPS, "blur_every must be >= 0", "blur_every", self.blur_every)
        _check(0 < self.blur_sigma <= 3, "blur_sigma must be in (0, 3]", "blur_sigma", self.blur_sigma)
        _check(0 <= self.jitter <= 4, "jitter must be in 0..4 pixels", "jitter", self.jitter)
        _check(1 <= self.frame_every <= MAX_STEPS, "frame_every must be >= 1", "frame_every", self.frame_every)
        _check(0 <= self.redirect_steps <= MAX_STEPS, "redirect_steps must be >= 0", "redirect_steps",
               self.redirect_steps)
        _check(not (self.blur_dead and self.redirect_steps), "blur_dead is the seed's literal loop, without the "
               "redirected ReLU: set redirect_steps=0", "blur_dead", self.blur_dead)

    @property
    def method(self) -> str:
        """Which of :data:`METHODS` this config runs."""
        return "redirected" if self.redirect_steps else ("blur-all" if self.blur_dead else "skip-dead")

    def with_method(self, method: str, redirect_steps: int = 20) -> OIPConfig:
        """This config run by ``method`` (one of :data:`METHODS`)."""
        _check(method in METHODS, f"method must be one of {list(METHODS)}", "method", method)
        return replace(self, redirect_steps=redirect_steps if method == "redirected" else 0,
                       blur_dead=method == "blur-all")


# The three ways an ascent can treat a search that noise leaves dead (zero gradient everywhere):
METHODS = {
    "blur-all": "the seed's loop: every image blurred every k steps, dead ones too (a blur alone can wake a search)",
    "skip-dead": "no blur on dead searches: a dead search stays exactly as it started",
    "redirected": "the redirected ReLU: closed units get gradient that opens them for the first steps",
}

SELECTION_BLOCKS = 4  # the Hand of MNIST: disjoint blocks of seeds that each pick a map; one more scores the pick


def hand_settings(noises: Sequence[str], wavelengths: Sequence[float]) -> list[tuple[str, float]]:
    """The Hand of MNIST's settings: (noise family, wavelength); λ = 1 once (pixel noise is the same in every
    family)."""
    return [(n, float(w)) for n in noises for w in wavelengths if float(w) > 1 or n == noises[0]]


def setting_label(noise: str, wavelength: float) -> str:
    return "pixel noise λ=1" if wavelength <= 1 else f"{noise} λ={wavelength:g}"


@dataclass(frozen=True)
class Searches:
    """The searches an analysis runs for each map: ``seeds`` noises of family ``noise`` at each of
    ``wavelengths``, seeds counted from ``first_seed``, each ascent run by ``config``."""

    wavelengths: tuple[float, ...] = (4.0,)
    seeds: int = 2
    noise: str = "lowpass"
    config: OIPConfig = OIPConfig(frame_every=10)
    first_seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "wavelengths", _waves(self.wavelengths))
        _check(1 <= int(self.seeds) <= MAX_SEEDS, f"seeds must be in 1..{MAX_SEEDS}", "seeds", self.seeds)
        _check(bool(self.wavelengths) and len(set(self.wavelengths)) == len(self.wavelengths),
               "wavelengths must be distinct and at least one", "wavelengths", list(self.wavelengths))
        _check(self.noise in FAMILIES, f"noise must be one of {list(FAMILIES)}", "noise", self.noise)
        _check(0 <= int(self.first_seed) < 2**31, "first_seed must be in 0..2**31-1", "first_seed", self.first_seed)
        object.__setattr__(self, "seeds", int(self.seeds))
        object.__setattr__(self, "first_seed", int(self.first_seed))

    @property
    def seed_range(self) -> range:
        return range(self.first_seed, self.first_seed + self.seeds)

    @property
    def per_map(self) -> int:
        """Searches per map: seeds × wavelengths."""
        return self.seeds * len(self.wavelengths)

    def labels(self) -> list[str]:
        """Per search of a map, in the order the searches run: "λ=4 · seed 1"."""
        return [f"λ={w:g} · seed {s}" for w in self.wavelengths for s in self.seed_range]


@dataclass(frozen=True)
class BatchProgress:
    """Progress of a long analysis made of many searches (or passes over the test set)."""

    fraction: float  # 0..1 of the whole analysis
    stage: str  # what runs now, for people


@dataclass(frozen=True)
class Watch:
    """Who watches a long computation: where its progress goes, and the flag that stops it."""

    on_progress: Callable[[BatchProgress], None] | None = None
    should_stop: Callable[[], bool] | None = None

    def report(self, fraction: float, stage: str) -> None:
        if self.on_progress is not None:
            self.on_progress(BatchProgress(float(fraction), stage))

    def stopped(self) -> bool:
        return self.should_stop is not None and bool(self.should_stop())

    def part(self, lo: float, hi: float, prefix: str = "") -> Watch:
        """The same watch for a stage that covers ``lo``..``hi`` of the whole (its own fractions 0..1)."""
        if self.on_progress is None:
            return self
        outer = self.on_progress

        def progress(p: BatchProgress) -> None:
            outer(BatchProgress(lo + (hi - lo) * p.fraction, f"{prefix}{p.stage}"))

        return Watch(progress, self.should_stop)


@dataclass(frozen=True)
class OIPProgress:
    """Reported after every recorded frame."""

    step: int
    steps: int
    frames: int  # frames recorded so far
    images: np.ndarray  # (B, H, W[, C]) current images, standardized units (the first few, across processes)
    activation: np.ndarray  # (B,) current objective


@dataclass(frozen=True)
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
    rgb: bool = False  # colour images: (..., H, W, 3)
    compile_seconds: float = 0.0  # tracing the compiled steps (0 when this model and layer ran before)
    valid_range: tuple[float, float] | None = None  # pixels 0..1 in standardized units; None: unknown

    @property
    def out_of_range(self) -> np.ndarray:
        """(B,) fraction of each final image's pixels outside the data's range (0..1 once de-standardized): how
        far the OIP is from a possible input. NaN when the range is unknown."""
        if self.valid_range is None:
            return np.full(len(self.items), np.nan)
        lo, hi = self.valid_range
        x = np.asarray(self.images, np.float32).reshape(len(self.items), -1)
        return ((x < lo - 1e-4) | (x > hi + 1e-4)).mean(1)

    @property
    def display(self) -> np.ndarray:
        """Final images scaled to 0..1 per image (min-max), for showing."""
        return to_display(self.images, self.rgb)

    @property
    def start_activation(self) -> np.ndarray:
        return np.asarray(self.activation)[:, 0]

    @property
    def end_activation(self) -> np.ndarray:
        return np.asarray(self.activation)[:, -1]

    @property
    def image_steps_per_second(self) -> float:
        return len(self.items) * self.steps_done / max(self.loop_seconds, 1e-9)

    def frame_activation(self) -> np.ndarray:
        """(B, F) the objective at each recorded frame."""
        act = np.asarray(self.activation)
        return act[:, np.minimum(np.asarray(self.frame_steps, int), act.shape[1] - 1)]

    def best_per_map(self, per_map: int) -> tuple[np.ndarray, np.ndarray]:
        """For runs of ``per_map`` consecutive searches per map: each map's best final image and activation."""
        end = self.end_activation.reshape(-1, per_map)
        best = end.argmax(1)
        rows = np.arange(len(end)) * per_map + best
        return np.asarray(self.images)[rows], end[np.arange(len(end)), best]


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
            if hi and int(hi) - int(lo) > 100_000:
                raise ValueError
            out.extend(range(int(lo), int(hi) + 1) if hi else [int(lo)])
    except ValueError:
        raise ValueError(f"maps must look like 0-63 or 5,7. Received: maps={spec!r}") from None
    bad = [i for i in out if not 0 <= i < n_maps]
    if not out or bad:
        raise ValueError(f"maps must be in 0..{n_maps - 1}. Received: maps={spec!r}")
    return list(dict.fromkeys(out))


def dead_fraction(result: OIPResult, threshold: float = 1e-6) -> dict[tuple[str, tuple[float, ...]], float]:
    """Fraction of searches whose objective ends at (or below) ``threshold``, per layer and wavelength set."""
    groups: dict[tuple[str, tuple[float, ...]], list[bool]] = {}
    for it, end in zip(result.items, result.end_activation):
        groups.setdefault((it.layer, it.wavelengths), []).append(bool(end <= threshold))
    return {k: float(np.mean(v)) for k, v in groups.items()}


# Objectives beyond one unit (cnnviz.objectives): what the ascent maximises when it is not one map, node or unit.
MODES = {
    "unit": "one unit: its map mean, node, dense unit or class score (the plain search)",
    "negative": "minimise one unit: for a ReLU unit its pre-activation, so that the search has a gradient",
    "diversity": "N images of one unit searched jointly, pushed apart by a penalty on their similarity (facets)",
    "expression": "a weighted sum of units, each scaled by its typical activation on the test set",
    "interpolation": "K images from unit A to unit B, searched jointly, neighbours kept alike",
}
MAX_FRAMES = 32  # images of one interpolation
MAX_TERMS = 8  # units in one expression


@dataclass(frozen=True)
class Term:
    """One unit of an objective with its weight (before the unit's scale is divided out)."""

    unit: Unit
    weight: float = 1.0

    def __str__(self) -> str:
        node = f"@{self.unit.node[0]},{self.unit.node[1]}" if self.unit.node else ""
        return f"{self.weight:+g}*{self.unit.layer}:{self.unit.index}{node}"


_TERM = r"\s*([+-])?\s*(?:(\d+(?:\.\d*)?|\.\d+)\s*\*\s*)?([A-Za-z_][\w.\-/]*?):(\d+)(?:@(\d+),(\d+))?\s*"


def parse_expression(text: str) -> tuple[Term, ...]:
    """``"Conv2D_3:13 - 0.5*Conv2D_3:25"`` -> terms; a unit is LAYER:INDEX, a node LAYER:INDEX@X,Y."""
    import re

    text = str(text).strip()
    terms: list[Term] = []
    pos = 0
    while pos < len(text):
        m = re.compile(_TERM).match(text, pos)
        if m is None or m.end() == pos or (terms and m.group(1) is None):
            raise ValueError("an expression is units joined by + and -, each LAYER:INDEX with an optional "
                             f"factor, e.g. 'Conv2D_3:13 - 0.5*Conv2D_3:25'. Received: {text[:200]!r}")
        sign = -1.0 if m.group(1) == "-" else 1.0
        node = (int(m.group(5)), int(m.group(6))) if m.group(5) else None
        terms.append(Term(Unit(m.group(3), int(m.group(4)), node), sign * float(m.group(2) or 1.0)))
        pos = m.end()
    _check(1 <= len(terms) <= MAX_TERMS, f"an expression has 1..{MAX_TERMS} units", "expression", text[:200])
    _check(len({t.unit for t in terms}) == len(terms), "each unit once in an expression", "expression", text[:200])
    return tuple(terms)


@dataclass(frozen=True)
class Objective:
    """What a search maximises: ``mode`` (one of :data:`MODES`) over ``terms``. ``weight`` is the diversity
    penalty's weight (diversity) or the alignment's (interpolation); ``frames`` the images of an interpolation."""

    mode: str
    terms: tuple[Term, ...]
    weight: float = 1.0
    frames: int = 8

    def __post_init__(self) -> None:
        _check(self.mode in MODES, f"mode must be one of {list(MODES)}", "mode", self.mode)
        object.__setattr__(self, "terms", tuple(self.terms))
        n = {"expression": (1, MAX_TERMS), "interpolation": (2, 2)}.get(self.mode, (1, 1))
        _check(n[0] <= len(self.terms) <= n[1], f"the {self.mode} mode takes {n[0]}..{n[1]} units", "units",
               [str(t) for t in self.terms])
        _check(0 <= self.weight <= 100, "weight must be in 0..100", "weight", self.weight)
        _check(2 <= self.frames <= MAX_FRAMES, f"frames must be in 2..{MAX_FRAMES}", "frames", self.frames)

    @classmethod
    def of(cls, mode: str, units: Sequence[Unit], *, weight: float = 1.0, frames: int = 8) -> Objective:
        """A mode over plain units (weight 1; negative flips it)."""
        sign = -1.0 if mode == "negative" else 1.0
        return cls(mode, tuple(Term(u, sign) for u in units), weight, frames)

    @property
    def pre_activation(self) -> bool:
        """Negative searches score a ReLU unit before its ReLU (after it, a closed unit has no gradient)."""
        return self.mode == "negative"

    def describe(self) -> str:
        """For people: "Conv2D_3:13 - 0.5·Conv2D_3:25", "minimise Conv2D_3:13", …"""
        names = [f"{t.unit.layer}:{t.unit.index}" + (f"@{t.unit.node[0]},{t.unit.node[1]}" if t.unit.node else "")
                 for t in self.terms]
        if self.mode == "expression":
            parts = [("- " if t.weight < 0 else "+ ") + (f"{abs(t.weight):g}·" if abs(t.weight) != 1 else "") + n
                     for t, n in zip(self.terms, names)]
            return " ".join(parts).removeprefix("+ ")
        if self.mode == "negative":
            return f"minimise {names[0]}"
        if self.mode == "diversity":
            return f"{names[0]} facets (diversity {self.weight:g})"
        if self.mode == "interpolation":
            return f"{names[0]} → {names[1]} ({self.frames} frames, alignment {self.weight:g})"
        return names[0]


@dataclass(frozen=True)
class ObjectiveRun:
    """An objective's search: the images (as an :class:`OIPResult`, whose activation is the whole objective)
    and each term's value on each image at the start and the end."""

    objective: Objective
    result: OIPResult
    scales: np.ndarray  # (T,)
    start_terms: np.ndarray  # (B, T) each unit's value (unscaled) on the start images
    end_terms: np.ndarray  # (B, T) ... on the final images
    weights: np.ndarray  # (B, T) each image's weight of each term (before the scale)
    plain: np.ndarray | None = None  # expression: (T,) each unit's own plain search's mean value (same seeds)

    def __getattr__(self, name: str) -> Any:
        """Reads as its :class:`OIPResult` (images, frames, activation, …), so that a page shows either."""
        if name.startswith("__") or name == "result":
            raise AttributeError(name)
        return getattr(self.result, name)

    @property
    def conflicts(self) -> list[Unit]:
        """Expression: the positive units whose value on the sum's images stays under half their own plain
        search's (the units pull apart); [] otherwise."""
        if self.plain is None:
            return []
        got = self.end_terms.mean(0)
        return [t.unit for k, t in enumerate(self.objective.terms)
                if t.weight > 0 and got[k] < 0.5 * self.plain[k]]

    def labels(self) -> list[str]:
        """Each image's label: its seed, facet or place between A and B."""
        mode, items = self.objective.mode, self.result.items
        if mode == "interpolation":
            return [f"t={k / max(len(items) - 1, 1):.2f}" for k in range(len(items))]
        if mode == "diversity":
            return [f"facet {k + 1} · seed {it.seed}" for k, it in enumerate(items)]
        return [f"{self.objective.describe()} · seed {it.seed}" for it in items]

    @property
    def share_a(self) -> np.ndarray:
        """Interpolation: per image, unit A's share a_A / (a_A + a_B) of the scaled (non-negative) values."""
        v = np.maximum(self.end_terms / self.scales, 0)
        return v[:, 0] / np.maximum(v.sum(1), 1e-12)


@dataclass(frozen=True)
class DossierSettings:
    """What a unit's dossier (cnnviz.dossier) measures: ``seeds`` OIPs per setting (each noise family at each of
    ``wavelengths``, λ = 1 once), ``dead_noises`` low-pass noises per wavelength for the dead-at-start rate, the
    ``k`` most and least activating test images, and the class shares of its ``top`` strongest."""

    wavelengths: tuple[float, ...] = (1.0, 4.0, 14.0)
    families: tuple[str, ...] = FAMILIES
    seeds: int = 3
    steps: int = 60
    k: int = 9
    top: int = 100
    dead_noises: int = 100

    def __post_init__(self) -> None:
        object.__setattr__(self, "wavelengths", _waves(self.wavelengths))
        _check(bool(self.families) and set(self.families) <= set(FAMILIES), f"families must be among {list(FAMILIES)}",
               "families", list(self.families))
        _check(1 <= self.seeds <= MAX_SEEDS, f"seeds must be in 1..{MAX_SEEDS}", "seeds", self.seeds)
        _check(1 <= self.k <= 64, "k must be in 1..64", "k", self.k)
        _check(1 <= self.top <= 10000, "top must be in 1..10000", "top", self.top)
        _check(1 <= self.dead_noises <= 2000, "dead_noises must be in 1..2000", "dead_noises", self.dead_noises)

    @property
    def settings(self) -> list[tuple[str, float]]:
        """(noise family, wavelength) of each setting, λ = 1 once (pixel noise is the same in every family)."""
        return hand_settings(self.families, self.wavelengths)

    @property
    def config(self) -> OIPConfig:
        return OIPConfig(steps=self.steps, frame_every=max(1, self.steps // 12))

    def params(self) -> dict[str, Any]:
        return {"wavelengths": list(self.wavelengths), "families": list(self.families), "seeds": self.seeds,
                "steps": self.steps, "k": self.k, "top": self.top, "dead_noises": self.dead_noises}

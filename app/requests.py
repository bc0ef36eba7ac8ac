"""What a page asks the engine for: frozen, typed requests built once from the page's controls, and the limits.

A request checks every control it is built from (a crafted browser request can send anything) and knows its
own cache-key parameters, its searches and its labels, so the pages never pass loose positional values around.
No Dash and no TensorFlow here: the engine reads these requests as they are.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from cnnviz.config import TrainConfig
from cnnviz.noise import FAMILIES
from cnnviz.search import (
    MAX_FRAMES as MAX_STRIP,
)
from cnnviz.search import (
    METHODS,
    MODES,
    SELECTION_BLOCKS,
    DossierSettings,
    Objective,
    OIPConfig,
    OIPItem,
    Searches,
    Unit,
    hand_settings,
    parse_expression,
)

from .engine.results import ModelInfo

# ---- the limits, once: what one request may ask for
WAVELENGTHS = (1, 2, 4, 7, 14, 28)  # the noise wavelengths offered, in pixels
MAX_SEEDS = 8  # noises per map and wavelength
MAX_STEPS = 500  # ascent steps
MAX_ITEMS = 1024  # searches of one OIP run (maps × wavelength sets × seeds)
MAX_FRAMES = 40  # frames kept for the animation
MAX_SEARCHES = 4096  # searches of one Insight analysis
MAX_K = 32  # top images of the exemplars
MAX_EPOCHS = 50
# An OIP run returns the frames of every search: as many values as 1024 searches of 28×28 images, whatever the
# model's input size (a 512×512 colour model gets one search per run, not 56 MB per search).
MAX_FRAME_VALUES = MAX_ITEMS * (MAX_FRAMES + 1) * 28 * 28
REDIRECT_STEPS = 20  # the redirected ReLU's steps, when on
METHOD_CHOICES = tuple(METHODS)  # the ascent's ways with dead searches
IN_RANGE = {"auto": None, "on": True, "off": False}  # keep the image in the data's pixel range
HAND_BLOCK = 16  # the Hand's searches per map, setting and block (cnnviz hand's default)
MAX_HAND_SEARCHES = 64 * 7 * HAND_BLOCK * (SELECTION_BLOCKS + 1)  # the seed's last layer, three wavelengths
ANALYSES = ("sweep", "reproducibility", "exemplars", "compare", "hand", "dissect", "circuit", "timeline")
DISSECT_IMAGES = 2000  # test images of the Insight dissection (cnnviz dissect's default)
UNIT = {"map": "map", "dense": "unit", "output": "class"}  # what one search drives, by the layer's role
TRAIN_CHOICES = {"schedule": ("constant", "exponential", "step")}


def as_int(value: Any, name: str, lo: int, hi: int) -> int:
    """A form value as an int within [lo, hi]; a clear error otherwise."""
    try:
        f = float(value)
        if not math.isfinite(f) or f != int(f):
            raise ValueError
        v = int(f)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{name} must be a whole number in {lo}..{hi}. Received: {name}={str(value)[:40]!r}") from None
    if not lo <= v <= hi:
        raise ValueError(f"{name} must be in {lo}..{hi}. Received: {name}={v}")
    return v


def as_float(value: Any, name: str, lo: float, hi: float) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{name} must be a number in {lo:g}..{hi:g}. Received: {name}={str(value)[:40]!r}") from None
    if not (math.isfinite(v) and lo <= v <= hi):
        raise ValueError(f"{name} must be in {lo:g}..{hi:g}. Received: {name}={v:g}")
    return v


def as_choice(value: Any, name: str, choices) -> Any:
    choices = list(choices)
    if not isinstance(value, (str, int, float, type(None))) or value not in choices:
        raise ValueError(f"{name} must be one of {choices[:12]}{'…' if len(choices) > 12 else ''}. "
                         f"Received: {name}={str(value)[:40]!r}")
    return value


def layer_choice(value: Any, choices: list[str], name: str = "layer") -> str:
    """A layer slider's position (its marks are the layers) or a layer's name, as a name from ``choices``."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and float(value).is_integer() \
            and 0 <= int(value) < len(choices):
        value = choices[int(value)]
    return as_choice(value, name, choices)


def _form(form: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """The controls a request is built from: exactly ``names`` (missing ones are None), nothing else."""
    extra = sorted(set(form) - set(names))
    if extra:
        raise TypeError(f"Unknown controls {extra}; a form has {list(names)}")
    return {n: form.get(n) for n in names}


def wavelength_range(value: Any) -> list[int]:
    """The wavelength range slider's [from, to] positions as the wavelengths in that range."""
    try:
        lo, hi = (int(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"The wavelength range must be two positions in 0..{len(WAVELENGTHS) - 1}. "
                         f"Received: {str(value)[:40]!r}") from None
    if not 0 <= lo <= hi < len(WAVELENGTHS):
        raise ValueError(f"The wavelength range must be two positions in 0..{len(WAVELENGTHS) - 1}, from ≤ to. "
                         f"Received: {[lo, hi]}")
    return list(WAVELENGTHS[lo:hi + 1])


@dataclass(frozen=True)
class OIPRequest:
    """One run of the OIP lab: a map (or node, unit, class), or every one of a layer, from noises."""

    layer: str
    unit: str  # "map", "unit" or "class": what one search drives
    maps: tuple[int, ...]
    node: tuple[int, int] | None
    wavelength_sets: tuple[tuple[float, ...], ...]
    seeds: int
    whole: bool
    noise: str
    config: OIPConfig
    objective: Objective | None = None  # beyond one unit (negative, diversity, expression, interpolation)

    FORM = ("layer", "map", "whole", "node_on", "node_x", "node_y", "waves", "mix", "seeds", "steps", "step_size",
            "blur", "sigma", "jitter", "noise", "method", "in_range", "mode", "expr", "diversity", "to_map", "frames")

    @classmethod
    def from_form(cls, info: ModelInfo, **form: Any) -> OIPRequest:
        """Checks every control of the lab's form (:attr:`FORM`) against the model and the limits."""
        f = _form(form, cls.FORM)
        layer = layer_choice(f["layer"], info.search_layers)
        row = info.layer(layer)
        unit = UNIT[row.role]
        if f["node_on"] and not row.spatial:
            raise ValueError(f"{layer} has {unit}s, not maps of nodes: untick “one node”.")
        h, w = row.output_shape[:2] if row.spatial else (1, 1)
        waves = wavelength_range(f["waves"])
        seeds = as_int(f["seeds"], "seeds", 1, MAX_SEEDS)
        steps = as_int(f["steps"], "steps", 1, MAX_STEPS)
        maps = tuple(range(row.maps)) if f["whole"] else (as_int(f["map"], unit, 0, row.maps - 1),)
        sets = (tuple(float(v) for v in waves),) if f["mix"] else tuple((float(v),) for v in waves)
        n = len(maps) * len(sets) * seeds
        h_in, w_in, c_in = info.input_shape
        cap = max(1, min(MAX_ITEMS, MAX_FRAME_VALUES // ((MAX_FRAMES + 1) * h_in * w_in * c_in)))
        if n > cap:
            raise ValueError(f"At most {cap} searches per run for this model's {h_in}×{w_in} inputs (maps × "
                             f"wavelengths × seeds). Received: {n}")
        config = OIPConfig(steps=steps, step_size=as_float(f["step_size"], "step size", 0.01, 10),
                           blur_every=as_int(f["blur"], "blur every", 0, 20),
                           blur_sigma=as_float(f["sigma"], "blur sigma", 0.1, 3),
                           jitter=as_int(f["jitter"], "jitter", 0, 4), frame_every=max(1, -(-steps // MAX_FRAMES)),
                           in_range=IN_RANGE[as_choice(f["in_range"] or "auto", "pixel range", tuple(IN_RANGE))]
                           ).with_method(as_choice(f["method"] or "redirected", "method", METHOD_CHOICES), REDIRECT_STEPS)
        node = (as_int(f["node_x"], "node x", 0, w - 1), as_int(f["node_y"], "node y", 0, h - 1)) if f["node_on"] else None
        objective = _objective(f, info, Unit(layer, maps[0], node), unit)
        if objective is not None:  # the true gradient (cnnviz.objectives), from one noise: the range's longest λ (or mix)
            sets, config = sets[-1:], config.with_method("skip-dead")
            t = len(objective.terms)
            n = objective.frames if objective.mode == "interpolation" else seeds * (t + 1 if t > 1 else 1)
            if n > cap:
                raise ValueError(f"At most {cap} images per run for this model's {h_in}×{w_in} inputs. Received: {n}")
        return cls(layer, unit, maps, node, sets, seeds, bool(f["whole"]), as_choice(f["noise"], "noise", FAMILIES),
                   config, objective)

    @property
    def per_map(self) -> int:
        """Searches per map: wavelength sets × seeds."""
        return len(self.wavelength_sets) * self.seeds

    def items(self) -> list[OIPItem]:
        """The searches, maps outermost, then wavelength sets, then seeds; for an objective, its noises (one for an
        interpolation, whose images all start from it)."""
        if self.objective is not None:
            seeds = 1 if self.objective.mode == "interpolation" else self.seeds
            return [OIPItem(self.layer, self.maps[0], s, self.wavelength_sets[0], self.node, self.noise)
                    for s in range(seeds)]
        return [OIPItem(self.layer, m, s, ws, self.node, self.noise)
                for m in self.maps for ws in self.wavelength_sets for s in range(self.seeds)]

    def unit_name(self, index: int, class_names: tuple[str, ...] = ()) -> str:
        """"map 13", "unit 5", "class seven" (a class by its name)."""
        if self.unit == "class" and index < len(class_names):
            return f"class {class_names[index]}"
        return f"{self.unit} {index}"

    def labels(self, class_names: tuple[str, ...] = ()) -> list[str]:
        """Per search: "map 13 · λ=4 · seed 1" (and its node); the noise family is the run's (see :meth:`describe`).
        For an objective: "t=0.43" along an interpolation, "facet 2 · seed 1", or the seed."""
        if self.objective is not None:
            o, n = self.objective, len(self.items())
            if o.mode == "interpolation":
                return [f"t={k / (o.frames - 1):.2f}" for k in range(o.frames)]
            return [f"facet {s + 1} · seed {s}" if o.mode == "diversity" else f"seed {s}" for s in range(n)]
        node = f" ({self.node[0]},{self.node[1]})" if self.node else ""
        return [f"{self.unit_name(m, class_names)}{node} · λ={'+'.join(f'{v:g}' for v in ws)} · seed {s}"
                for m in self.maps for ws in self.wavelength_sets for s in range(self.seeds)]

    def describe(self, class_names: tuple[str, ...] = ()) -> str:
        """The request in words, for people: what a shown result is of."""
        one = self.unit_name(self.maps[0], class_names)
        what = f"every {self.unit} of {self.layer}" if self.whole else f"{self.layer} {one}"
        node = f", node ({self.node[0]}, {self.node[1]})" if self.node else ""
        waves = " + ".join("+".join(f"{v:g}" for v in ws) for ws in self.wavelength_sets)
        in_range = {None: "", True: ", kept in the pixel range", False: ", not kept in the pixel range"}
        seeds = f"{self.seeds} seed{'s' * (self.seeds > 1)}"
        if self.objective is not None:
            what, node = self.objective.describe(), ""
            seeds = "one noise (seed 0)" if self.objective.mode == "interpolation" else seeds
        return (f"{what}{node}, λ = {waves}, {self.noise} noise, {seeds}, "
                f"{self.config.steps} steps, {self.config.method}{in_range[self.config.in_range]}")

    def params(self) -> dict[str, Any]:
        """The parameters that make the result: the cache key's."""
        c = self.config
        return {"layer": self.layer, "maps": list(self.maps), "node": list(self.node) if self.node else None,
                "wavelength_sets": [list(ws) for ws in self.wavelength_sets], "seeds": self.seeds, "noise": self.noise,
                "steps": c.steps, "step_size": c.step_size, "blur_every": c.blur_every, "blur_sigma": c.blur_sigma,
                "jitter": c.jitter, "frame_every": c.frame_every, "redirect_steps": c.redirect_steps,
                "method": c.method, "in_range": c.in_range,
                "objective": None if self.objective is None else
                [self.objective.mode, [[t.unit.layer, t.unit.index, t.unit.node, t.weight] for t in self.objective.terms],
                 self.objective.weight, self.objective.frames]}


def _objective(f: dict[str, Any], info: ModelInfo, unit: Unit, name: str) -> Objective | None:
    """The lab's objective beyond one unit from its mode controls; None for one unit (the plain search)."""
    mode = as_choice(f["mode"] or "unit", "objective", tuple(MODES))
    if mode == "unit":
        return None
    if f["whole"]:
        raise ValueError(f"The {mode} objective is about one {name}: untick “whole layer”.")
    if mode == "expression":
        terms = parse_expression(f["expr"] or "")
        for t in terms:
            row = info.layer(layer_choice(t.unit.layer, info.search_layers, "expression layer"))
            as_int(t.unit.index, f"{t.unit.layer} unit", 0, row.maps - 1)
        return Objective("expression", terms)
    if mode == "interpolation":
        row = info.layer(unit.layer)
        to = as_int(f["to_map"], f"{name} B", 0, row.maps - 1)
        if to == unit.index:
            raise ValueError(f"An interpolation goes from one {name} to another: choose a {name} B other than "
                             f"{unit.index}.")
        return Objective.of("interpolation", [unit, Unit(unit.layer, to, unit.node)],
                            frames=as_int(f["frames"], "frames", 2, MAX_STRIP))
    return Objective.of(mode, [unit], weight=as_float(f["diversity"] if mode == "diversity" else 1, "diversity", 0, 100))


@dataclass(frozen=True)
class InsightRequest:
    """One Insight analysis of a layer of maps; only what the analysis uses is set."""

    analysis: str
    layer: str
    searches: Searches
    target: Unit | None = None  # exemplars: the map or node
    k: int = 9  # exemplars: top images
    model_b: str | None = None  # compare: the second model, its layer, and its file's content hash
    layer_b: str | None = None
    model_b_hash: str | None = None
    images: int = 10000  # compare: test images to correlate over

    FORM = ("analysis", "layer", "map", "node_on", "node_x", "node_y", "model_b", "waves", "seeds", "steps", "k",
            "method", "noise")

    @classmethod
    def from_form(cls, info: ModelInfo, other: ModelInfo | None = None, **form: Any) -> InsightRequest:
        """Checks every control of the Insight form (:attr:`FORM`); ``other`` is the second model's info
        (compare), with its name in ``form["model_b"]``."""
        f = _form(form, cls.FORM)
        analysis = as_choice(f["analysis"], "analysis", ANALYSES)
        layer = as_choice(f["layer"], "layer", info.spatial_layers)
        h, w, c = info.layer(layer).output_shape
        waves = sorted({float(as_choice(v, "wavelength", WAVELENGTHS)) for v in (f["waves"] or [])}) \
            if isinstance(f["waves"], list) else []
        if not waves:
            raise ValueError("Choose at least one noise wavelength.")
        # the Hand runs blocks of HAND_BLOCK seeds (its choice is made on some and scored on others)
        seeds = HAND_BLOCK if analysis == "hand" else as_int(f["seeds"], "seeds", 1, MAX_SEEDS)
        method = as_choice(f["method"] or "redirected", "method", METHOD_CHOICES)
        config = OIPConfig(steps=as_int(f["steps"], "steps", 1, MAX_STEPS), frame_every=10).with_method(method,
                                                                                                        REDIRECT_STEPS)
        noise = "lowpass" if analysis == "hand" else as_choice(f["noise"], "noise", FAMILIES)  # the Hand runs every family
        searches = Searches(tuple(waves), seeds, noise, config)
        per_map, n = searches.per_map, c * searches.per_map
        if analysis in ("reproducibility", "hand") and per_map < 2:
            raise ValueError(f"The {'Hand of MNIST' if analysis == 'hand' else 'reproducibility score'} compares at "
                             "least 2 searches per map: choose 2 seeds or more, or several wavelengths.")
        extra: dict[str, Any] = {}
        if analysis == "exemplars":
            node = (as_int(f["node_x"], "node x", 0, w - 1), as_int(f["node_y"], "node y", 0, h - 1)) \
                if f["node_on"] else None
            extra = {"target": Unit(layer, as_int(f["map"], "map", 0, c - 1), node), "k": as_int(f["k"], "k", 1, MAX_K)}
            n = per_map
        elif analysis == "timeline":  # every map, at the first chosen wavelength, at every snapshot of the training
            searches = replace(searches, wavelengths=(float(waves[0]),))
            n = c * seeds
        elif analysis in ("dissect", "circuit"):  # no OIP searches: passes over test images
            extra = {"target": Unit(layer, as_int(f["map"], "map", 0, c - 1))} if analysis == "circuit" else \
                {"images": DISSECT_IMAGES}
            n = 0
        elif analysis == "hand":
            n = c * len(hand_settings(FAMILIES, waves)) * seeds * (SELECTION_BLOCKS + 1)
        elif analysis == "compare":
            if other is None or f["model_b"] != other.name:
                raise ValueError(f"Choose a second model. Received: second model={str(f['model_b'])[:40]!r}")
            layer_b = layer if layer in other.spatial_layers else (other.spatial_layers or [None])[-1]
            if layer_b is None:
                raise ValueError(f"{other.name} has no layer of maps to compare with.")
            extra = {"model_b": other.name, "layer_b": layer_b, "model_b_hash": other.sha256}
            n = (c + other.layer(layer_b).maps) * per_map
        if analysis == "hand" and n > MAX_HAND_SEARCHES:
            raise ValueError(f"At most {MAX_HAND_SEARCHES} OIP searches per Hand of MNIST (maps × settings × "
                             f"{SELECTION_BLOCKS + 1} blocks × {HAND_BLOCK} seeds). Received: {n}")
        if analysis != "hand" and n > MAX_SEARCHES:
            raise ValueError(f"At most {MAX_SEARCHES} OIP searches per analysis (maps × wavelengths × seeds). "
                             f"Received: {n}")
        return cls(analysis, layer, searches, **extra)

    def describe(self) -> str:
        s = self.searches
        what = {"sweep": "wavelength sweep", "reproducibility": "reproducibility analysis", "compare": "comparison",
                "exemplars": "search for exemplars", "hand": "Hand of MNIST analysis", "dissect": "dissection",
                "circuit": "circuit", "timeline": "training timeline"}[self.analysis]
        if self.analysis == "dissect":
            return f"dissection of {self.layer} on {self.images} test images"
        if self.analysis == "circuit" and self.target is not None:
            return f"circuit of {self.layer} map {self.target.index} (by ablation on its 100 strongest test images)"
        target = ""
        if self.target is not None:
            target = f" map {self.target.index}" + (f" node ({self.target.node[0]}, {self.target.node[1]})"
                                                    if self.target.node else "")
        other = f" with {self.model_b} {self.layer_b}" if self.model_b else ""
        method = {"redirected": "redirected ReLU", "skip-dead": "no blur on dead searches",
                  "blur-all": "the seed's loop (every image blurred)"}[s.config.method]
        return (f"{what} of {self.layer}{target}{other}: λ = {', '.join(f'{w:g}' for w in s.wavelengths)}, {s.seeds} "
                f"seed{'s' * (s.seeds > 1)}, {s.config.steps} steps, {s.noise} noise, {method}")

    def params(self) -> dict[str, Any]:
        s = self.searches
        out: dict[str, Any] = {"analysis": self.analysis, "layer": self.layer, "wavelengths": list(s.wavelengths),
                               "seeds": s.seeds, "steps": s.config.steps, "redirect_steps": s.config.redirect_steps,
                               "method": s.config.method,
                               "noise": s.noise}
        if self.target is not None:
            out.update(map=self.target.index, node=list(self.target.node) if self.target.node else None, k=self.k)
        if self.model_b is not None:
            out.update(model_b=self.model_b, layer_b=self.layer_b, model_b_hash=self.model_b_hash, images=self.images)
        if self.analysis in ("dissect", "circuit"):  # the searches play no part
            out = {"analysis": self.analysis, "layer": self.layer, "images": self.images,
                   **({"map": self.target.index} if self.target is not None else {})}
        return out


@dataclass(frozen=True)
class TrainRequest:
    """A training of the articles' CNN from the Training page's form."""

    name: str
    config: TrainConfig

    FORM = ("dataset", "epochs", "batch", "lr", "schedule", "momentum", "l2", "subset", "name")

    @classmethod
    def from_form(cls, models: list[str], datasets: list[str], **form: Any) -> TrainRequest:
        """Checks the form (:attr:`FORM`): a new model name, a data set the server knows, and the limits."""
        from cnnviz.catalog import NAME_RE

        f = _form(form, cls.FORM)
        name = f["name"].strip() if isinstance(f["name"], str) else ""
        if not NAME_RE.match(name) or name.startswith("."):
            raise ValueError("Model name: 1–64 letters, digits, '_', '.' or '-', starting with a letter or digit.")
        if name in models:
            raise ValueError(f"A model named {name!r} exists already: choose another name.")
        subset = as_int(f["subset"] if f["subset"] not in (None, "") else 0, "training images", 0, 55000)
        if 0 < subset < 100:
            raise ValueError("Training images must be 0 (all) or at least 100.")
        config = TrainConfig(dataset=as_choice(f["dataset"], "dataset", datasets),
                             epochs=as_int(f["epochs"], "epochs", 1, MAX_EPOCHS),
                             batch_size=as_int(f["batch"], "batch size", 8, 1024),
                             learning_rate=as_float(f["lr"], "learning rate", 1e-4, 1.0),
                             schedule=as_choice(f["schedule"], "schedule", TRAIN_CHOICES["schedule"]),
                             momentum=as_float(f["momentum"], "momentum", 0, 0.99),
                             l2=as_float(f["l2"], "L2 factor", 0, 0.1), subset=subset or None)
        return cls(name, config)

    @property
    def key(self) -> str:
        """A training's job key is its model name: one training per name at a time."""
        return f"train:{self.name}"


@dataclass(frozen=True)
class UnitRequest:
    """The unit page: one map, dense unit or class of a layer, and what its dossier measures (fixed settings, so
    that a unit's page is the same result whoever opens it)."""

    layer: str
    index: int
    settings: DossierSettings = DossierSettings()

    FORM = ("layer", "index")

    @classmethod
    def from_form(cls, info: ModelInfo, **form: Any) -> UnitRequest:
        f = _form(form, cls.FORM)
        layer = layer_choice(f["layer"], info.search_layers)
        row = info.layer(layer)
        return cls(layer, as_int(f["index"], UNIT[row.role], 0, row.maps - 1))

    @property
    def unit(self) -> Unit:
        return Unit(self.layer, self.index)

    def describe(self, class_names: tuple[str, ...] = ()) -> str:
        s = self.settings
        return (f"the dossier of {self.layer} unit {self.index}: {len(s.settings) * s.seeds} OIP searches "
                f"({len(s.settings)} settings × {s.seeds} seeds, {s.steps} steps), exemplars and class selectivity on "
                f"the test set, dead-at-start rates on {s.dead_noises} noises per wavelength")

    def params(self) -> dict[str, Any]:
        return {"layer": self.layer, "index": self.index, **self.settings.params()}

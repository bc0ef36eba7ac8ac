"""What several pages' controls share: the model's description, layer sliders whose marks stay readable for any
number of layers, and the controls that follow the model (a test-image index kept in range)."""

from __future__ import annotations

import math
from typing import Any

from dash import dcc

from .engine.results import ModelInfo
from .services import dataset, services

# A dropdown's open menu: tall enough for a model's layers or classes, so it opens with the first one in view
# (a short menu opens scrolled to the chosen value and hides those above it).
MENU_PX = 420
READABLE_MARKS = 12  # beyond this many layers, only every k-th mark is labelled (the tooltip names every one)


def dropdown(component_id: str, **kw: Any) -> dcc.Dropdown:
    """A dropdown whose menu opens with its first options in view (see :data:`MENU_PX`)."""
    return dcc.Dropdown(id=component_id, maxHeight=MENU_PX, **kw)


def method_control(component_id: str):
    """How the ascent treats searches that noise leaves dead (cnnviz.search.METHODS), the default first."""
    import dash_bootstrap_components as dbc

    from .requests import REDIRECT_STEPS
    from .ui import labelled

    names = {"redirected": f"redirected ReLU for the first {REDIRECT_STEPS} steps (wakes them)",
             "skip-dead": "no blur on dead searches (they stay as they started)",
             "blur-all": "the seed's loop: blur every image, dead ones too"}
    return labelled("Dead searches (the ascent method)", dbc.RadioItems(
        id=component_id, value="redirected", className="small", options=[{"label": v, "value": k}
                                                                         for k, v in names.items()]))


def info(model: Any) -> ModelInfo:
    """The selected model's description (cached); a clear error for a name that is not a model."""
    if not isinstance(model, str):
        raise ValueError("No model is selected: choose one in the model selector.")
    return services().info(model)


def layer_marks(names: list[str]) -> dict[int, dict[str, Any]]:
    """A layer slider's marks: the layers' names, slanted so that long names never overlap, and thinned to every
    k-th beyond :data:`READABLE_MARKS` layers (the last always shown)."""
    every = max(1, math.ceil(len(names) / READABLE_MARKS))
    style = {"fontSize": "0.7rem", "whiteSpace": "nowrap", "transform": "translateX(-50%) rotate(-25deg)",
             "transformOrigin": "top center"}
    return {i: {"label": n.replace("_", " ") if i % every == 0 or i == len(names) - 1 else "", "style": style}
            for i, n in enumerate(names)}


def layer_position(name: Any, names: list[str], default: int) -> int:
    """The slider position of layer ``name`` (a name, or already a position), else ``default``."""
    if isinstance(name, str) and name in names:
        return names.index(name)
    if isinstance(name, int) and 0 <= name < len(names):
        return name
    return default


def test_count(model: str) -> int:
    """How many test images the model's data set has."""
    return len(dataset(info(model).dataset).x_test)


def clamped(value: Any, hi: int, what: str) -> tuple[int, str | None]:
    """``value`` kept in 0..hi, with a note for people when it had to move (a model with fewer maps or images)."""
    try:
        v = int(value)
    except (TypeError, ValueError):
        return 0, None
    if 0 <= v <= hi:
        return v, None
    kept = min(max(v, 0), hi)
    return kept, f"{what} {v} does not exist in this model (0..{hi}): {kept} is shown instead."

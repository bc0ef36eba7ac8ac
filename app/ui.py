"""Small layout helpers and the uniform way callbacks turn bad input into a message."""

from __future__ import annotations

import logging
import math
from typing import Any

import dash_bootstrap_components as dbc
from dash import html, no_update

from .engine import EngineCancelled, EngineError
from .services import CacheError

log = logging.getLogger("cnnviz")
USER_ERRORS = (ValueError, EngineError, CacheError, KeyError, TypeError)


def alert(message: str, color: str = "danger") -> dbc.Alert:
    return dbc.Alert(message, color=color, className="py-2 my-2", dismissable=True)


def failure(e: Exception, n_outputs: int, message_index: int = -1) -> tuple:
    """Outputs for a callback that failed on bad input: a message in one slot, no update elsewhere."""
    out: list[Any] = [no_update] * n_outputs
    text = str(e) if isinstance(e, USER_ERRORS) else "Something went wrong; see the server log."
    if not isinstance(e, USER_ERRORS):
        log.exception("cnnviz: a callback failed")
    out[message_index] = alert(text, "warning" if isinstance(e, EngineCancelled) else "danger")
    return tuple(out)


def card(title: str, *children, **kw) -> dbc.Card:
    return dbc.Card([dbc.CardHeader(title), dbc.CardBody(list(children))], className="mb-3", **kw)


def labelled(label: str, control) -> html.Div:
    return html.Div([dbc.Label(label, className="mb-0 small"), control], className="mb-2")


def as_int(value: Any, name: str, lo: int, hi: int) -> int:
    """A form value as an int within [lo, hi]; a clear error otherwise (requests can send anything)."""
    try:
        f = float(value)
        if not math.isfinite(f) or f != int(f):
            raise ValueError
        v = int(f)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a whole number in {lo}..{hi}. Received: {name}={value!r}") from None
    if not lo <= v <= hi:
        raise ValueError(f"{name} must be in {lo}..{hi}. Received: {name}={v}")
    return v


def as_float(value: Any, name: str, lo: float, hi: float) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number in {lo:g}..{hi:g}. Received: {name}={value!r}") from None
    if not (math.isfinite(v) and lo <= v <= hi):
        raise ValueError(f"{name} must be in {lo:g}..{hi:g}. Received: {name}={v:g}")
    return v


def slider_choice(value: Any, choices: list[str]) -> Any:
    """A slider whose marks are names (layers): its position as the name; a name passes through."""
    if isinstance(value, str):
        return value
    try:
        i = int(value)
    except (TypeError, ValueError):
        return value
    return choices[i] if 0 <= i < len(choices) else value


def as_choice(value: Any, name: str, choices) -> Any:
    if value not in list(choices):
        raise ValueError(f"{name} must be one of {list(choices)}. Received: {name}={value!r}")
    return value

"""Small layout helpers, and the one way a callback turns an error into what the page shows.

A user error (bad input, a refused request: :data:`cnnviz.errors.USER_ERRORS`) becomes a message in the
callback's message slot; anything else is a fault of cnnviz: logged with its traceback under a short reference,
and shown as an internal error that names the reference. No callback counts its outputs by hand.
"""

from __future__ import annotations

import functools
import logging
import secrets
from collections.abc import Callable
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, html, no_update
from dash.exceptions import PreventUpdate

from cnnviz.errors import is_user_error

from .engine import EngineCancelled

log = logging.getLogger("cnnviz")


def alert(message: Any, color: str = "danger", dismissable: bool = True) -> dbc.Alert:
    return dbc.Alert(message, color=color, className="py-2 my-2", dismissable=dismissable)


def error_text(e: BaseException, where: str) -> tuple[str, str]:
    """(what to show, its colour) for an error in ``where``: the message of a user error; for a fault, a
    reference to the log line that holds its traceback."""
    if isinstance(e, EngineCancelled):
        return str(e), "info"
    if is_user_error(e):
        return str(e) or type(e).__name__, "warning"
    ref = secrets.token_hex(4)
    log.error("cnnviz: %s failed [ref %s]", where, ref, exc_info=e)
    return f"Internal error ({type(e).__name__}, reference {ref}): see the server log. Nothing was changed.", "danger"


def handled(*deps: Any, message: str | None = None, show: Callable[[str, str], Any] | None = None,
            **kwargs: Any) -> Callable:
    """``dash.callback`` that turns errors into a message (see the module doc).

    Args:
        deps: the callback's Outputs, Inputs and States, as for ``dash.callback``.
        message: the component id of the Output that shows errors (default: the first Output).
        show: ``(text, colour) -> value`` for that Output (default: an alert).
        kwargs: ``dash.callback``'s own keywords (``background``, ``progress``, ``prevent_initial_call``...).
    """
    outputs = [d for d in deps if isinstance(d, Output)]
    single = len(outputs) == 1
    slot = next((i for i, o in enumerate(outputs) if o.component_id == message), 0)
    render = show or (lambda text, color: alert(text, color))

    def shown(text: str, color: str) -> Any:
        out: list[Any] = [no_update] * len(outputs)
        out[slot] = render(text, color)
        return out[0] if single else tuple(out)

    def wrap(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def inner(*args: Any, **kw: Any) -> Any:
            try:
                return fn(*args, **kw)
            except PreventUpdate:
                raise
            except Exception as e:  # noqa: BLE001 - the one place where a callback's errors are sorted
                return shown(*error_text(e, f"the callback {fn.__name__}"))

        def lost(e: Exception) -> Any:
            """A background job that ended without a result (its Celery worker died: app.celery_jobs)."""
            from .celery_jobs import JOB_LOST

            if JOB_LOST in str(e):
                return shown(JOB_LOST, "warning")
            return shown(*error_text(e, f"the background job of {fn.__name__}"))

        if kwargs.get("background"):
            kwargs.setdefault("on_error", lost)
        return dash.callback(*deps, **kwargs)(inner)

    return wrap


def unit_href(model: str | None, layer: str, index: int, role: str = "map") -> str:
    """The unit page of one unit: ``/unit?model=…&layer=…&map=13`` (``unit=`` for a dense unit, ``class=``)."""
    from urllib.parse import urlencode

    q = {"model": model} if model else {}
    key = {"map": "map", "dense": "unit", "output": "class"}.get(role, "map")
    return f"/unit?{urlencode({**q, 'layer': layer, key: index})}"


def card(title: str, *children, **kw) -> dbc.Card:
    return dbc.Card([dbc.CardHeader(title), dbc.CardBody(list(children))], className="mb-3", **kw)


def labelled(label: Any, control, **kw: Any) -> html.Div:
    return html.Div([dbc.Label(label, className="mb-0 small", **kw), control], className="mb-2")


def scroll_into_view(target: str, trigger: Input, out: str) -> None:
    """When ``trigger`` changes (a click's result arrives), the browser brings component ``target`` into view:
    a detail that appears below a long result would otherwise stay off screen. ``out`` is a store of the page."""
    dash.clientside_callback(
        "function(v) { const el = document.getElementById(" + repr(target) + ");"
        " if (v && el) { setTimeout(() => el.scrollIntoView({behavior: 'smooth', block: 'start'}), 80); }"
        " return window.dash_clientside.no_update; }",
        Output(out, "data"), trigger, prevent_initial_call=True)

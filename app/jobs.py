"""The one mechanism of the pages whose results come from long engine jobs (the OIP lab, Insight): a result is
shown only while the page's controls ask for exactly it.

A page's controls make a typed request (``app.requests``), and a request names its result (its cache key, from
the model file's content and the request's parameters). Whenever the controls or the model change, the page
looks for the result of what they now ask for: it shows it (from the cache), or shows nothing and says so, with a
button that brings back the last result of this browser session by setting the controls to what it was. A run
and the last run of the session are remembered as records (the model and the form) sealed by the server, so a
record that comes back from the browser is one the server made, and it is checked again like a new request.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dash_bootstrap_components as dbc
from dash import Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from .cache import CacheError
from .ids import Shell
from .services import services
from .ui import alert, error_text, handled

log = logging.getLogger("cnnviz")


@dataclass(frozen=True)
class JobPage:
    """What the mechanism needs to know of a page.

    Attributes:
        ids: the page's id class (``RUN``, ``AUTORUN``, ``CANCEL``, ``MESSAGE``, ``PROGRESS``, ``SHOWN``,
            ``DONE``, ``POLL``, ``SHOW_LAST``).
        op: the cache's name for the page's results ("oip", "insight").
        last: the shell store that remembers the session's last run.
        what: how the page calls a run, for messages ("search", "analysis").
        controls: form name -> (component id, property) of every control the request is built from.
        request: ``(model, form) -> request`` (raises a user error for bad controls).
        view: the Outputs that show a result.
        render: ``(result, request, model) -> values of view``.
        empty: the values of ``view`` when nothing is shown.
    """

    ids: type
    op: str
    last: str
    what: str
    controls: dict[str, tuple[str, str]]
    request: Callable[[str, dict], Any]
    view: list[Output]
    render: Callable[[Any, Any, str], tuple]
    empty: tuple

    def form_states(self) -> dict[str, State]:
        return {name: State(cid, prop) for name, (cid, prop) in self.controls.items()}

    def form_inputs(self) -> dict[str, Input]:
        return {name: Input(cid, prop) for name, (cid, prop) in self.controls.items()}

    def key(self, model: str, request: Any) -> str:
        return services().key(self.op, model, request.params())

    def record(self, model: str, form: dict, request: Any) -> dict:
        """A sealed record of a run: the model and the form it was asked with (the layer by name, so that it
        means the same whatever the layer slider's positions)."""
        return services().seal({"op": self.op, "model": model, "form": {**form, "layer": request.layer}})

    def read(self, record: Any) -> tuple[str, dict, Any] | None:
        """(model, form, request) of a record this server sealed for this page, checked again; else None."""
        body = services().unseal(record)
        if not body or body.get("op") != self.op or not isinstance(body.get("form"), dict):
            return None
        try:
            model = str(body["model"])
            return model, body["form"], self.request(model, body["form"])
        except Exception:  # noqa: BLE001 - a record that no longer makes a valid request (the model is gone)
            return None


def _int(text: Any) -> int | None:
    try:
        return max(0, int(str(text)))
    except ValueError:
        return None


def link_preset(layer: Any, map_: Any, node: Any) -> dict[str, Any]:
    """The controls a link names (``?layer=Conv2D_3&map=13&node=1,1``), checked later like any form."""
    preset: dict[str, Any] = {}
    if layer:
        preset["layer"] = str(layer)[:64]
    if _int(map_) is not None:
        preset["map"] = _int(map_)
    xy = [_int(v) for v in str(node).split(",")[:2]] if node else []
    if len(xy) == 2 and None not in xy:
        preset.update(node_on=True, node_x=xy[0], node_y=xy[1])
    return preset


def page_layout(page: JobPage, preset: dict[str, Any], run: Any, controls: Any, results: Any) -> html.Div:
    """A job page: its stores (a link's preset is pending until the model's layers are known; ``run`` = "1"
    runs it then), the controls' column and the results' column."""
    ids = page.ids
    pending = {"model": None, "form": preset, "run": run == "1"} if preset else None
    return html.Div([
        dcc.Interval(id=ids.POLL, interval=2000, disabled=True),
        dcc.Store(id=ids.PENDING, data=pending), dcc.Store(id=ids.INIT), dcc.Store(id=ids.SHOWN),
        dcc.Store(id=ids.DONE), dcc.Store(id=ids.AUTORUN), dcc.Store(id=ids.SCROLLED), dcc.Download(id=ids.DOWNLOAD),
        dbc.Row([dbc.Col(controls, lg=4, xxl=3, className="controls"), dbc.Col(results, lg=8, xxl=9)]),
    ])


def action_bar(ids: type) -> html.Div:
    """Run and Cancel, the progress bar and the one status line: at the top of the controls, always in view."""
    return html.Div([dbc.ButtonGroup([dbc.Button("Run", id=ids.RUN, color="primary"),
                                      dbc.Button("Cancel", id=ids.CANCEL, color="secondary", disabled=True)]),
                     dbc.Progress(id=ids.PROGRESS, value=0, label="", className="mt-2", style={"height": "1.2rem"}),
                     html.Div(id=ids.MESSAGE)], className="action-bar")


def cache_problem() -> Any:
    """A message when the result cache cannot take results (checked as a run starts), else None."""
    svc = services()
    problem = svc.results.writable()
    if not problem:
        return None
    return alert(str(CacheError(f"The result cache at {svc.results.directory} cannot be written ({problem}): this "
                                "run's result is shown but not kept. Free some space or fix its permissions.")),
                 "warning")


@dataclass(frozen=True)
class Callbacks:
    """The callbacks :func:`register` made for a page, callable as plain functions (tests)."""

    cancel: Callable
    present: Callable
    show_last: Callable


def register(page: JobPage) -> Callbacks:
    """Registers the page's Cancel, the result that follows the controls, and "show the last result"."""
    ids = page.ids
    form = page.form_inputs()

    @handled(Output(ids.CANCEL, "title"), Input(ids.CANCEL, "n_clicks"), State(page.last, "data"),
             State(Shell.SESSION, "data"), prevent_initial_call=True)
    def cancel(n_clicks, last, session):
        """This user stops watching the run; the engine stops it when nobody else watches it."""
        found = page.read(last)
        if n_clicks and found:
            svc = services()
            svc.cancel_key(page.key(found[0], found[2]), session)
        return f"stop the running {page.what}"

    @handled(*page.view, Output(ids.SHOWN, "data"), Output(ids.MESSAGE, "children", allow_duplicate=True),
             Output(ids.POLL, "disabled"),
             inputs=dict(model=Input(Shell.MODEL, "value"), form=form, done=Input(ids.DONE, "data"),
                         _poll=Input(ids.POLL, "n_intervals")),
             state=dict(shown=State(ids.SHOWN, "data"), last=State(page.last, "data")),
             message=ids.MESSAGE, prevent_initial_call="initial_duplicate")
    def present(model, form, done, _poll, shown, last):
        """Shows the result of what the controls ask for, if there is one; otherwise nothing, and why."""
        return _present(page, model, form, shown, last)

    @handled(Output(ids.PENDING, "data", allow_duplicate=True), Output(Shell.MODEL, "value", allow_duplicate=True),
             Input(ids.SHOW_LAST, "n_clicks"), State(page.last, "data"), State(Shell.MODEL, "value"),
             prevent_initial_call=True)
    def show_last(n_clicks, last, model):
        """Sets the controls (and the model) to the last run's: the page then shows its result."""
        found = page.read(last)
        if not n_clicks or not found:
            raise PreventUpdate
        return {"model": found[0], "form": found[1], "run": False}, (found[0] if found[0] != model else no_update)

    return Callbacks(cancel, present, show_last)


def pending_form(page: JobPage, model: str, pending: Any, last: Any) -> tuple[dict, bool] | None:
    """(form, run at once) to put into the controls now that ``model``'s layers are known: a link's preset or a
    "show the last result" (``pending``), else the session's last run on this model (``last``, given only when
    the page has just been opened); None when there is nothing to apply."""
    if isinstance(pending, dict) and isinstance(pending.get("form"), dict) and pending.get("model") in (None, model):
        return dict(pending["form"]), bool(pending.get("run"))
    found = page.read(last)
    if found is not None and found[0] == model:
        return dict(found[1]), False
    return None


def _present(page: JobPage, model: str, form: dict, shown: Any, last: Any) -> tuple:
    """The values of ``page.view``, SHOWN, MESSAGE and POLL's disabled for the current controls. The status line
    (MESSAGE) keeps a run's own message; a change of the controls clears it."""
    from_run = ctx.triggered_id in (page.ids.DONE, page.ids.POLL)
    status = no_update if from_run else None
    if model is None or form.get("layer") is None:  # the page is still loading its model's controls
        return (*page.empty, None, no_update, True)
    try:
        request = page.request(model, form)
    except Exception as e:  # noqa: BLE001 - the controls do not make a request: nothing to show, and why
        text, color = error_text(e, f"the {page.op} form")
        return (*page.empty, None, alert(text, color), True)
    svc = services()
    key = page.key(model, request)
    current = page.read(shown)
    if current is not None and current[0] == model and current[2] == request and svc.has(key):
        return (*[no_update] * len(page.view), no_update, no_update, True)
    result = svc.result(_token(key))
    if result is not None:
        return (*page.render(result, request, model), page.record(model, form, request), status, True)
    previous = page.read(last)
    if previous is not None and previous[0] == model and previous[2] == request:
        # this very request is running: wait for it (polling), unless its run has already ended (cancelled)
        ended = ctx.triggered_id == page.ids.DONE
        waiting = alert(f"Your {page.what} of this is running; its result appears here when it is done.", "info",
                        dismissable=False)
        return (None if ended else waiting, *page.empty[1:], None, no_update, ended)
    return (_prompt(page, request, previous), *page.empty[1:], None, status, True)


def _prompt(page: JobPage, request: Any, previous: tuple[str, dict, Any] | None) -> Any:
    """Nothing is shown for these controls yet: "press Run", and the last result of the session, one click away."""
    note: list[Any] = [f"Nothing computed for these settings yet: press Run to compute {request.describe()}."]
    if previous is not None and services().has(page.key(previous[0], previous[2])):
        note += [html.Br(), f"Your last {page.what}: {previous[0]} · {previous[2].describe()}. ",
                 dbc.Button("Show it", id=page.ids.SHOW_LAST, color="link", size="sm", className="p-0 align-baseline"),
                 " (sets the controls back to it)."]
    return dbc.Alert(note, color="light", className="py-2 my-2")


def _token(key: str) -> str:
    return services().sign(key)


def shown_result(page: JobPage, shown: Any) -> tuple[Any, Any, str] | None:
    """(result, request, model) of what the page shows, for downloads, scrubbing and views of it; else None."""
    found = page.read(shown)
    if found is None:
        return None
    model, _, request = found
    result = services().result(_token(page.key(model, request)))
    return None if result is None else (result, request, model)


def start(page: JobPage, model: str, form: dict, session: Any) -> tuple[Any, str, str]:
    """(request, its key, the watcher id) of a new run, with any earlier cancel of this user's cleared."""
    request = page.request(model, form)
    key = page.key(model, request)
    return request, key, services().watch(key, session)


def finished(page: JobPage, model: str, form: dict, request: Any, result: Any) -> dict:
    """Keeps a run's result where the page finds it (also when the cache could not take it), and returns the
    record for DONE, which makes the page show it."""
    services().remember(page.key(model, request), result)
    return page.record(model, form, request)


def run_job(page: JobPage, op: str, set_progress: Callable[[tuple], Any], model: str, form: dict,
            session: Any) -> tuple[Any, Any, dict]:
    """A page's background run: (request, result, record for DONE). The result comes from the cache, or from the
    engine job ``op`` (joined if another user runs it), with its progress relayed to ``set_progress``."""
    svc = services()
    request, key, watcher = start(page, model, form, session)
    res = svc.results.get(key)
    if res is None:
        set_progress((0, "starting…"))
        res = svc.engine.stream(op, lambda r: set_progress((100 * r.fraction, r.stage)), key=key, watcher=watcher,
                                cache=svc.results.directory, model=model, request=request,
                                on_queued=lambda t: set_progress((0, t)))
    return request, res, finished(page, model, form, request, res)


def register_remember(page: JobPage, clears: list[Output], running: Callable[[Any], tuple] | None = None) -> Callable:
    """Registers the callback that notes a run (Run pressed, or an autorun) in the session: the sealed record in
    ``page.last``, the status line cleared (or the cache's problem), the progress bar reset, and the outputs
    ``clears`` set to ``running(request)`` (default: emptied)."""
    ids = page.ids

    @handled(Output(page.last, "data"), Output(ids.MESSAGE, "children", allow_duplicate=True),
             Output(ids.PROGRESS, "color", allow_duplicate=True), Output(ids.PROGRESS, "value", allow_duplicate=True),
             Output(ids.PROGRESS, "label", allow_duplicate=True), *clears,
             inputs=dict(n_clicks=Input(ids.RUN, "n_clicks"), auto=Input(ids.AUTORUN, "data")),
             state=dict(model=State(Shell.MODEL, "value"), form=page.form_states()), message=ids.MESSAGE,
             prevent_initial_call=True)
    def remember(n_clicks, auto, model, form):
        if not (n_clicks or auto):
            raise PreventUpdate
        request = page.request(model, form)
        shown = running(request) if running is not None else (None,) * len(clears)
        return (page.record(model, form, request), cache_problem(), "primary", 0, "", *shown)

    return remember

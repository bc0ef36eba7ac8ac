"""The unit page: everything cnnviz measures about one map, dense unit or class, on one page
(``/unit?model=…&layer=…&map=…``, ``unit=`` or ``class=``), its card as a file, and the model's atlas as a zip."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

import dash
import dash_bootstrap_components as dbc
import plotly.graph_objects as go
from dash import Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from cnnviz.card import card_html, pictures
from cnnviz.results import Concept, Dissection, Dossier

from .. import jobs
from ..controls import dropdown, info
from ..ids import Shell
from ..ids import UnitPage as U
from ..requests import DISSECT_IMAGES, UNIT, UnitRequest
from ..services import services
from ..ui import alert, card, handled, labelled, unit_href

dash.register_page(__name__, path="/unit", name="Unit", order=6)

CONTROLS = {"layer": (U.LAYER, "value"), "index": (U.INDEX, "value")}


def layout(model: str | None = None, layer: str | None = None, map: str | None = None, unit: str | None = None,
           **query: Any):
    index = next((v for v in (map, unit, query.get("class")) if v not in (None, "")), None)
    preset: dict[str, Any] = {}
    if layer:
        preset["layer"] = str(layer)[:64]
    if index is not None:
        preset["index"] = str(index)[:64]
    pending = {"model": str(model)[:64] if model else None, "form": preset, "run": False} if preset else None
    ids = U
    return html.Div([
        dcc.Interval(id=ids.POLL, interval=2000, disabled=True),
        dcc.Store(id=ids.PENDING, data=pending), dcc.Store(id=ids.INIT), dcc.Store(id=ids.SHOWN),
        dcc.Store(id=ids.DONE), dcc.Store(id=ids.AUTORUN), dcc.Store(id=ids.SCROLLED), dcc.Download(id=ids.DOWNLOAD),
        dcc.Download(id=ids.ATLAS_DOWNLOAD),
        dbc.Row([dbc.Col(_controls(), lg=4, xxl=3, className="controls"),
                 dbc.Col([dbc.Button("Download the unit card (HTML)", id=U.CARD, size="sm", disabled=True,
                                     className="mb-2"), html.Div(id=U.RESULT)], lg=8, xxl=9)]),
    ])


def _controls() -> dbc.Card:
    return card(
        "Unit",
        jobs.action_bar(U),
        html.P("Everything measured about one unit: its OIPs in every setting, its exemplars, its class "
               "selectivity, its dead-at-start rates, where it is active. Computed once per unit and cached.",
               className="small text-muted mt-2"),
        labelled("Layer", dropdown(U.LAYER, options=[], clearable=False)),
        labelled("Unit", dcc.Slider(id=U.INDEX, min=0, max=1, step=1, value=0, marks=None,
                                    tooltip={"placement": "bottom", "always_visible": True})),
        dbc.ButtonGroup([dbc.Button("← previous", id=U.PREV, size="sm", color="secondary"),
                         dbc.Button("next →", id=U.NEXT, size="sm", color="secondary")], className="mb-3"),
        html.Hr(),
        html.P("The model's atlas: every unit's page and an index of every layer, as a static site that opens "
               "offline (a zip). About 2–3 minutes for the default model on 2 CPU cores.", className="small"),
        dbc.Button("Build the atlas (zip)", id=U.ATLAS, size="sm", color="primary"),
        dbc.Progress(id=U.ATLAS_PROGRESS, value=0, label="", className="mt-2", style={"height": "1rem"}),
        html.Div(id=U.ATLAS_MESSAGE),
    )


def _request(model: str, form: dict) -> UnitRequest:
    return UnitRequest.from_form(info(model), **form)


def _concept(model: str, layer: str, index: int) -> Concept | None:
    """The unit's concept from the dissection of its layer, if one was run (Insight's "What each map detects")."""
    params = {"analysis": "dissect", "layer": layer, "images": DISSECT_IMAGES}
    res = services().results.get(services().key("insight", model, params))
    if not isinstance(res, Dissection) or index >= len(res.iou):
        return None
    c = int(res.best[index])
    return Concept(res.concepts[c], float(res.iou[index, c]), (float(res.iou_ci95[index, c, 0]),
                                                               float(res.iou_ci95[index, c, 1])),
                   bool(res.labelled[index]))


def with_extras(d: Dossier, model: str) -> Dossier:
    """The dossier with what other analyses of the cache say about its unit (its concept)."""
    from dataclasses import replace

    concept = _concept(model, d.layer, d.index) if d.role == "map" else None
    return replace(d, concept=concept) if concept is not None else d


def _selectivity(d: Dossier) -> go.Figure:
    fig = go.Figure()
    ci = d.class_ci95
    fig.add_bar(x=d.class_names, y=d.class_mean, name="mean activation",
                error_y={"type": "data", "symmetric": False, "array": ci[:, 1] - d.class_mean,
                         "arrayminus": d.class_mean - ci[:, 0]})
    fig.add_scatter(x=d.class_names, y=100 * d.top_share, yaxis="y2", mode="markers", name=f"% of top {d.top}",
                    marker={"size": 9})
    fig.update_layout(height=260, margin={"l": 50, "r": 50, "t": 30, "b": 30}, title="Class selectivity",
                      yaxis={"title": "mean activation"}, xaxis={"type": "category"},
                      yaxis2={"title": f"% of top {d.top}", "overlaying": "y", "side": "right", "range": [0, 100],
                              "dtick": 25, "showgrid": False},
                      legend={"orientation": "h", "y": -0.2})
    return fig


def _links(d: Dossier, model: str) -> html.Div:
    lab = dcc.Link("Search its OIPs in the lab", href=f"/oip?{urlencode({'layer': d.layer, 'map': d.index})}")
    more: list[Any] = [lab]
    if d.role == "map":
        q = lambda analysis: urlencode({"analysis": analysis, "layer": d.layer, "map": d.index})
        more += [" · ", dcc.Link("exemplars in Insight", href=f"/insight?{q('exemplars')}"),
                 " · ", dcc.Link("circuit in Insight", href=f"/insight?{q('circuit')}")]
        if d.concept is None:
            more += [" · ", dcc.Link("label the layer's maps (dissection)",
                                     href=f"/insight?{urlencode({'analysis': 'dissect', 'layer': d.layer})}&run=1")]
    return html.Div(more, id=U.LINKS, className="small mb-2")


def render_dossier(d: Dossier, model: str) -> html.Div:
    """The page's view of a dossier: the same lines (``facts``) and pictures as the card."""
    facts = dbc.Table([html.Tbody([html.Tr([html.Th(a, className="text-nowrap"), html.Td(b)]) for a, b in d.facts()])],
                      id=U.FACTS, size="sm", className="mb-2")
    pics = [dbc.Col(card(p.title, html.Img(src=p.uri, alt=p.title, style={"maxWidth": "100%"}),
                         html.P(p.caption, className="small text-muted mb-0")), md=6) for p in pictures(d)]
    return html.Div([html.H4(d.title(), id=U.TITLE), html.P(f"{d.layer}: unit {d.index} of {d.units} "
                                                            f"(0–{d.units - 1}) · computed in {d.seconds:.0f} s",
                                                            className="small text-muted"),
                     _links(d, model), facts,
                     dcc.Graph(id=U.SELECTIVITY, figure=_selectivity(d), config={"displayModeBar": False}),
                     dbc.Row(pics)])


def _render(res: Any, request: UnitRequest, model: str) -> tuple:
    if not isinstance(res, Dossier):  # a cancelled run: nothing to show, and how to get it
        return alert(f"The dossier of {request.layer} unit {request.index} was stopped before it was complete: "
                     "press Run to compute it.", "warning", dismissable=False), True
    return render_dossier(with_extras(res, model), model), False


PAGE = jobs.JobPage(U, "unit", Shell.UNIT_LAST, "dossier", CONTROLS, _request,
                    [Output(U.RESULT, "children", allow_duplicate=True), Output(U.CARD, "disabled", allow_duplicate=True)],
                    _render, (None, True))
CALLBACKS = jobs.register(PAGE)


def _index_of(value: Any, names: tuple[str, ...]) -> Any:
    """A class given by its name (``class=seven``) as its index; anything else as it is."""
    return names.index(value) if isinstance(value, str) and value in names else value


@handled(Output(U.LAYER, "options"), Output(U.LAYER, "value"), Output(U.INDEX, "max"), Output(U.INDEX, "value"),
         Output(U.INDEX, "marks"), Output(U.PENDING, "data", allow_duplicate=True), Output(U.INIT, "data"),
         Output(U.MESSAGE, "children", allow_duplicate=True),
         inputs=dict(model=Input(Shell.MODEL, "value"), pending=Input(U.PENDING, "data"), layer=Input(U.LAYER, "value")),
         state=dict(init=State(U.INIT, "data"), last=State(Shell.UNIT_LAST, "data"), index=State(U.INDEX, "value")),
         message=U.MESSAGE, prevent_initial_call="initial_duplicate")
def fill_controls(model, pending, layer, init, last, index):
    """The controls follow the model (its searchable layers) and the layer (the slider's range); a link's unit is
    applied once the model is the link's; coming back, the session's last unit on this model."""
    if model is None:
        raise PreventUpdate
    mi = info(model)
    names = mi.search_layers
    note = None
    if isinstance(pending, dict) and pending.get("model") and pending["model"] not in services().models():
        note = f"No model named {str(pending['model'])[:64]!r}: showing {model}'s unit."
        pending = {**pending, "model": None}
    apply = jobs.pending_form(PAGE, model, pending, None if init else last)
    if apply is None and isinstance(pending, dict) and pending.get("model") not in (None, model):
        raise PreventUpdate  # the link's model is on its way
    first = (mi.spatial_layers or names or [None])[-1]  # by default the last layer of maps
    if apply:
        layer, index = apply[0].get("layer", layer), apply[0].get("index", index)
        if layer not in names:
            note = f"{mi.name} has no searchable layer {str(layer)[:64]!r}: showing {first}." if layer else None
    layer = layer if layer in names else first
    n = mi.layer(layer).maps if layer else 1
    index = _index_of(index, mi.class_names) if layer == mi.output_layer else index
    try:
        value = int(index)
    except (TypeError, ValueError):
        value = 0
    if not 0 <= value < n:
        note = f"{layer} has units 0–{n - 1}: showing unit {min(max(value, 0), n - 1)}. Received: {index}"
        value = min(max(value, 0), n - 1)
    marks = {0: "0", n - 1: str(n - 1)}
    options = [{"label": f"{name} ({mi.layer(name).maps} {UNIT[mi.layer(name).role]}s)", "value": name} for name in names]
    return (options, layer, n - 1, value, marks, None if pending else no_update, True,
            alert(note, "info") if note else no_update)


@dash.callback(Output(Shell.MODEL, "value", allow_duplicate=True), Input(U.PENDING, "data"), State(Shell.MODEL, "value"),
               prevent_initial_call="initial_duplicate")
def link_model(pending, current):
    """A link's ``model=`` chooses that model (one the server has)."""
    want = pending.get("model") if isinstance(pending, dict) else None
    if not want or want == current or want not in services().models():
        raise PreventUpdate
    return want


@dash.callback(Output(U.INDEX, "value", allow_duplicate=True), Input(U.PREV, "n_clicks"), Input(U.NEXT, "n_clicks"),
               State(U.INDEX, "value"), State(U.INDEX, "max"), prevent_initial_call=True)
def step(_prev, _next, index, top):
    """Previous / next unit of the layer (stops at its ends)."""
    i = int(index or 0) + (1 if ctx.triggered_id == U.NEXT else -1)
    if not 0 <= i <= int(top or 0):
        raise PreventUpdate
    return i


@dash.callback(Output(U.AUTORUN, "data"), Input(U.LAYER, "value"), Input(U.INDEX, "value"),
               State(Shell.MODEL, "value"), State(Shell.UNIT_LAST, "data"), prevent_initial_call=True)
def autorun(layer, index, model, last):
    """A unit not computed yet is computed at once (a visit is a request): no Run to press."""
    try:
        request = _request(model, {"layer": layer, "index": index})
    except Exception:  # noqa: BLE001 - controls on their way (the layer changed, the slider not yet)
        raise PreventUpdate from None
    previous = PAGE.read(last)
    if services().has(PAGE.key(model, request)) or (previous is not None and previous[0] == model
                                                    and previous[2] == request):
        raise PreventUpdate
    return time.time()


# A run is noted in the session, and the page says that it runs.
remember = jobs.register_remember(
    PAGE, [Output(U.RESULT, "children", allow_duplicate=True)],
    lambda request: (alert(f"Computing {request.describe()}: about 5–30 s.", "info", dismissable=False),))


@handled(Output(U.DONE, "data"), Output(U.PROGRESS, "color"), Output(U.MESSAGE, "children"),
         inputs=dict(n_clicks=Input(U.RUN, "n_clicks"), auto=Input(U.AUTORUN, "data")),
         state=dict(model=State(Shell.MODEL, "value"), form=PAGE.form_states(), session=State(Shell.SESSION, "data")),
         message=U.MESSAGE, background=True, interval=500, prevent_initial_call=True,
         running=[(Output(U.RUN, "disabled"), True, False), (Output(U.CANCEL, "disabled"), False, True)],
         progress=[Output(U.PROGRESS, "value"), Output(U.PROGRESS, "label")])
def run(set_progress, n_clicks, auto, model, form, session):
    """The dossier as a background job in the engine, cached on disk by model hash and unit."""
    if not (n_clicks or auto):
        raise PreventUpdate
    _, res, record = jobs.run_job(PAGE, "unit", set_progress, model, form, session)
    if getattr(res, "stopped", False):
        set_progress((no_update, "stopped"))
        return record, "warning", alert("Stopped before the dossier was complete; nothing is shown. Press Run to "
                                        "compute it again.", "warning")
    set_progress((100, "done"))
    return record, "success", None


@handled(Output(U.DOWNLOAD, "data"), Input(U.CARD, "n_clicks"), State(U.SHOWN, "data"), message=U.RESULT,
         prevent_initial_call=True)
def download_card(_n, shown):
    """The shown unit's card: one HTML file, every image inline, linking back to this page."""
    from flask import request

    found = jobs.shown_result(PAGE, shown)
    if found is None or not isinstance(found[0], Dossier):
        raise PreventUpdate
    d, _, model = found
    d = with_extras(d, model)
    live = request.host_url.rstrip("/") + unit_href(model, d.layer, d.index, d.role)
    return dcc.send_string(card_html(d, live), f"cnnviz-{model}-{d.layer}-{d.index}.html")


@handled(Output(U.ATLAS_DOWNLOAD, "data"), Output(U.ATLAS_MESSAGE, "children"),
         inputs=dict(n_clicks=Input(U.ATLAS, "n_clicks")),
         state=dict(model=State(Shell.MODEL, "value"), session=State(Shell.SESSION, "data")), message=U.ATLAS_MESSAGE,
         background=True, interval=1000, prevent_initial_call=True,
         running=[(Output(U.ATLAS, "disabled"), True, False)],
         progress=[Output(U.ATLAS_PROGRESS, "value"), Output(U.ATLAS_PROGRESS, "label")])
def build_atlas(set_progress, n_clicks, model, session):
    """The model's atlas as a background job in the engine, cached like any result, offered as a zip."""
    if not n_clicks or model is None:
        raise PreventUpdate
    svc = services()
    info(model)  # a model that is gone gets its message
    key = svc.key("atlas", model, {"layers": "default"})
    res = svc.results.get(key)
    if res is None:
        set_progress((0, "starting…"))
        res = svc.engine.stream("atlas", lambda r: set_progress((100 * r.fraction, r.stage)), key=key,
                                watcher=svc.watch(key, session), cache=svc.results.directory, model=model,
                                on_queued=lambda t: set_progress((0, t)))
    if getattr(res, "stopped", False) or not hasattr(res, "data"):
        set_progress((no_update, "stopped"))
        return no_update, alert("The atlas was stopped before it was complete.", "warning")
    svc.remember(key, res)
    set_progress((100, "done"))
    return dcc.send_bytes(res.data, res.name), alert(
        f"Atlas of {model}: {res.pages} unit pages, {len(res.data) / 1e6:.1f} MB zipped, built in {res.seconds:.0f} s. "
        "Unzip it and open index.html.", "success")

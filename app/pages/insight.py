"""Insight: wavelength sweep, how well an OIP is defined, OIPs beside real digits, two models compared, the
Hand of MNIST across settings."""

from __future__ import annotations

import io
import time
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from cnnviz.images import labelled_grid, to_uint8
from cnnviz.results import Circuit, Comparison, Dissection, HandOfMnist, Reproducibility, SweepResult
from cnnviz.store import csv_text

from .. import insight_views as views
from .. import jobs
from ..clicks import click_point, custom_int
from ..controls import clamped, dropdown, info, method_control
from ..ids import Insight as I
from ..ids import Shell
from ..requests import ANALYSES, DISSECT_IMAGES, HAND_BLOCK, MAX_K, MAX_SEEDS, MAX_STEPS, WAVELENGTHS, InsightRequest
from ..services import services
from ..ui import alert, card, handled, labelled, scroll_into_view

dash.register_page(__name__, path="/insight", name="Insight", order=5)

NOISES = [{"label": "low-pass", "value": "lowpass"}, {"label": "band-pass", "value": "bandpass"},
          {"label": "mix", "value": "mix"}]
HELP = {
    "sweep": ("Wavelength sweep",
              "Every map of the layer, from noise at each wavelength and seed: which wavelength wakes which map, "
              "and the fraction of searches that end dead. Click a cell for that map's OIPs."),
    "reproducibility": ("How well is the maximum defined",
                        "Each map's OIPs from different noises (seeds × wavelengths), compared after the best shift "
                        "of up to the layer's jump: score 1 = always the same pattern. Click a row for its OIPs."),
    "exemplars": ("OIP beside real digits",
                  "The test images (and image patches, cropped to one node's receptive field) that drive the map or "
                  "node hardest, next to its OIP, with the activation each reaches."),
    "compare": ("Compare two models",
                "Matches the maps of a layer in the two models by the correlation of their activations over the "
                "test set (optimal one-to-one assignment), with the OIPs of each pair."),
    "hand": ("The Hand of MNIST across settings",
             "Each map's reproducibility in every setting (the three noise families × the chosen wavelengths; λ = 1 "
             f"once), on {HAND_BLOCK} seeds per block whatever the seeds control says: four selection blocks each "
             "pick the map with the best mean score over the settings, and a held-out block scores the picks. One "
             "map picked by most blocks is a stable candidate; otherwise the top set is shown."),
    "dissect": ("What each map detects",
                "Labels every unit of the layer with the concept of the digits it overlaps best (stroke orientation, "
                f"end points, junctions, loops, thick strokes; {DISSECT_IMAGES} test images), against two null "
                "baselines. No OIP searches: the noise controls play no part."),
    "circuit": ("Circuit of a map",
                "Which units of the layer below build the map: each incoming unit zeroed alone on the map's 100 "
                "strongest test images, ranked by the drop, with the check that zeroing the top 3 cuts far more than "
                "3 random ones. No OIP searches."),
    "timeline": ("Training timeline",
                 "How the maps formed during training: every map's OIP at every epoch's snapshot, from the same "
                 "noises (the first chosen wavelength), with its correlation with the final OIP, the accuracy and "
                 "the dead share by epoch. Models trained here or by `cnnviz train` keep their snapshots; an "
                 "imported model has none."),
}
CONTROLS = {"analysis": (I.ANALYSIS, "value"), "layer": (I.LAYER, "value"), "map": (I.MAP, "value"),
            "node_on": (I.NODE_ON, "value"), "node_x": (I.NODE_X, "value"), "node_y": (I.NODE_Y, "value"),
            "model_b": (I.MODEL_B, "value"), "waves": (I.WAVES, "value"), "seeds": (I.SEEDS, "value"),
            "steps": (I.STEPS, "value"), "k": (I.K, "value"), "method": (I.METHOD, "value"),
            "noise": (I.NOISE, "value")}


def layout(analysis: str | None = None, layer: str | None = None, map: str | None = None, node: str | None = None,
           b: str | None = None, run: str | None = None, **_query: Any):
    """The page; ``?analysis=exemplars&layer=Conv2D_3&map=5&node=1,2`` (links from the OIP lab) or
    ``?analysis=compare&b=<second model>`` presets it, and ``&run=1`` also runs it."""
    preset = jobs.link_preset(layer, map, node)
    if analysis in ANALYSES:
        preset["analysis"] = analysis
    if b:
        preset["model_b"] = str(b)[:64]
    return jobs.page_layout(PAGE, preset, run, _controls(), _results())


def _controls() -> dbc.Card:
    return card(
        "Analysis",
        jobs.action_bar(I),
        dbc.RadioItems(id=I.ANALYSIS, value="sweep", options=[{"label": name, "value": k} for k, (name, _) in HELP.items()]),
        html.P(id=I.HELP, className="small text-muted mt-2"),
        labelled("Layer", dropdown(I.LAYER, options=[], clearable=False)),
        html.Div(id=I.TARGET, children=[
            labelled("Map", dbc.Input(id=I.MAP, type="number", min=0, step=1, value=0)),
            dbc.Checkbox(id=I.NODE_ON, label="one node instead of the map mean", value=False),
            dbc.Row([dbc.Col(labelled("node x", dbc.Input(id=I.NODE_X, type="number", min=0, step=1, value=1))),
                     dbc.Col(labelled("node y", dbc.Input(id=I.NODE_Y, type="number", min=0, step=1, value=1)))]),
        ]),
        html.Div(id=I.TOPK, children=labelled("Top images (k)", dbc.Input(id=I.K, type="number", min=1, max=MAX_K,
                                                                          step=1, value=9))),
        html.Div(id=I.OTHER, children=labelled("Second model (B)", dropdown(I.MODEL_B, clearable=False))),
        labelled("Noise wavelengths (pixels)", dbc.Checklist(id=I.WAVES, inline=True, value=[1, 2, 4, 7, 14],
                                                             options=[{"label": str(w), "value": w} for w in WAVELENGTHS])),
        labelled("Seeds per wavelength", dcc.Slider(id=I.SEEDS, min=1, max=MAX_SEEDS, step=1, value=2,
                                                    marks={i: str(i) for i in range(1, MAX_SEEDS + 1)})),
        labelled("Steps per search", dcc.Slider(id=I.STEPS, min=10, max=MAX_STEPS, step=10, value=60,
                                                marks={10: "10", 60: "60", 200: "200", 500: "500"})),
        labelled("Start noise", dbc.RadioItems(id=I.NOISE, inline=True, value="lowpass", options=NOISES)),
        method_control(I.METHOD),
    )


def _results() -> list:
    return [html.Div([dbc.Button("Export numbers (CSV)", id=I.CSV, size="sm", className="me-2", disabled=True),
                      dbc.Button("Export gallery (PNG)", id=I.PNG, size="sm", disabled=True)], className="mb-2"),
            html.Div(id=I.RESULT), html.Div(id=I.DETAIL)]


def _request(model: str, form: dict) -> InsightRequest:
    other = info(form["model_b"]) if form.get("analysis") == "compare" and form.get("model_b") in services().models() \
        else None
    return InsightRequest.from_form(info(model), other, **form)


def _render(res: Any, request: InsightRequest, model: str) -> tuple:
    """RESULT, CSV and PNG disabled, DETAIL."""
    no_gallery = isinstance(res, Dissection) or (isinstance(res, Circuit) and res.kernels is None)
    return views.view(res, request, model, info(model).class_names), False, no_gallery, None


PAGE = jobs.JobPage(I, "insight", Shell.INSIGHT_LAST, "analysis", CONTROLS, _request,
                    [Output(I.RESULT, "children", allow_duplicate=True), Output(I.CSV, "disabled", allow_duplicate=True),
                     Output(I.PNG, "disabled", allow_duplicate=True), Output(I.DETAIL, "children", allow_duplicate=True)],
                    _render, (None, True, True, None))
CALLBACKS = jobs.register(PAGE)


@dash.callback(Output(I.HELP, "children"), Output(I.TARGET, "style"), Output(I.TOPK, "style"), Output(I.OTHER, "style"),
               Input(I.ANALYSIS, "value"))
def show_controls(analysis):
    show = lambda on: {} if on else {"display": "none"}
    return (HELP.get(analysis, ("", ""))[1], show(analysis in ("exemplars", "circuit")), show(analysis == "exemplars"),
            show(analysis == "compare"))


_FILLED = [Output(cid, prop, allow_duplicate=True) for cid, prop in CONTROLS.values() if cid not in (I.LAYER, I.MODEL_B)]


@handled(Output(I.LAYER, "options"), Output(I.LAYER, "value"), Output(I.MODEL_B, "options"), Output(I.MODEL_B, "value"),
         *_FILLED, Output(I.PENDING, "data", allow_duplicate=True), Output(I.INIT, "data"), Output(I.AUTORUN, "data"),
         Output(I.MESSAGE, "children", allow_duplicate=True),
         inputs=dict(model=Input(Shell.MODEL, "value"), pending=Input(I.PENDING, "data")),
         state=dict(init=State(I.INIT, "data"), last=State(Shell.INSIGHT_LAST, "data"), form=PAGE.form_states()),
         message=I.MESSAGE, prevent_initial_call="initial_duplicate")
def fill_controls(model, pending, init, last, form):
    """The controls follow the model: its layers of maps, the map kept in range (with a note when it moves), the
    second model another one. Then a link's preset or "show the last result" is applied (and run, if the link
    says so); on coming back to the page, the controls are those of the session's last analysis on this model."""
    if model is None:
        raise PreventUpdate
    names, models = info(model).spatial_layers, services().models()
    apply = jobs.pending_form(PAGE, model, pending, None if init else last)
    if apply is None and isinstance(pending, dict) and pending.get("model") not in (None, model):
        raise PreventUpdate  # a pending form for a model still on its way
    values = {**form, **(apply[0] if apply else {})}
    layer = values.get("layer") if values.get("layer") in names else (names[-1] if names else None)
    maps = info(model).layer(layer).maps if layer else 1
    values["map"], note = clamped(values.get("map"), maps - 1, "Map")
    other = values.get("model_b") if values.get("model_b") in models else \
        next((n for n in models if n != model), model)
    given = apply[0] if apply else {}  # a link sets only what it names; a record sets every control
    filled = [values.get(name, no_update) if name in given or name == "map" else no_update
              for name, (cid, _) in CONTROLS.items() if cid not in (I.LAYER, I.MODEL_B)]
    autorun = time.time() if apply and apply[1] else no_update
    return (names, layer, models, other, *filled, None if pending else no_update, True, autorun,
            alert(note, "info") if note else no_update)


# A run is noted in the session (coming back to the page finds it); the previous result and detail are cleared.
remember = jobs.register_remember(PAGE, [Output(I.RESULT, "children", allow_duplicate=True),
                                         Output(I.DETAIL, "children", allow_duplicate=True)])


@handled(Output(I.DONE, "data"), Output(I.PROGRESS, "color"), Output(I.MESSAGE, "children"),
         inputs=dict(n_clicks=Input(I.RUN, "n_clicks"), auto=Input(I.AUTORUN, "data")),
         state=dict(model=State(Shell.MODEL, "value"), form=PAGE.form_states(), session=State(Shell.SESSION, "data")),
         message=I.MESSAGE, background=True, interval=500, prevent_initial_call=True,
         # No Dash cancel: Cancel detaches this user from the engine job, and the run ends here saying so.
         running=[(Output(I.RUN, "disabled"), True, False), (Output(I.CANCEL, "disabled"), False, True)],
         progress=[Output(I.PROGRESS, "value"), Output(I.PROGRESS, "label")])
def run(set_progress, n_clicks, auto, model, form, session):
    """The analysis as a background job in the engine; the result cached on disk by model hash and parameters.
    The page shows it once it is done (``jobs.register``'s result that follows the controls)."""
    if not (n_clicks or auto):
        raise PreventUpdate
    request, res, record = jobs.run_job(PAGE, "insight", set_progress, model, form, session)
    if res.stopped:
        set_progress((no_update, "stopped"))
        return record, "warning", alert(f"Stopped: the {request.describe().split(' of ')[0]} was cancelled before "
                                        "it finished, and a partial analysis is not shown. Press Run to start it again.",
                                        "warning")
    set_progress((100, "done"))
    return record, "success", None


scroll_into_view(I.DETAIL, Input(I.DETAIL, "children"), I.SCROLLED)


def _shown(shown: Any) -> tuple[Any, InsightRequest, str]:
    found = jobs.shown_result(PAGE, shown)
    if found is None:
        raise PreventUpdate
    return found


@handled(Output(I.DETAIL, "children"), Input(I.TABLE, "cellClicked"), State(I.SHOWN, "data"), message=I.DETAIL,
         prevent_initial_call=True)
def table_detail(cell, shown):
    """A row of the reproducibility or the Hand table shows that map's OIPs; a row of the pairs table, that pair."""
    res, _, _ = _shown(shown)
    try:
        row = int(cell["rowId"])
    except (KeyError, TypeError, ValueError):
        raise PreventUpdate from None
    if isinstance(res, Reproducibility) and row in res.maps:
        return views.reproducibility_detail(res, row)
    if isinstance(res, Comparison) and res.matching.partner(row) is not None:
        return views.pair_detail(res, row, res.matching.partner(row))
    if isinstance(res, HandOfMnist) and row in res.maps:
        return views.hand_detail(res, row)
    if isinstance(res, Dissection) and res.example_images is not None and 0 <= row < len(res.iou):
        return views.dissect_detail(res, row)
    raise PreventUpdate


@handled(Output(I.DETAIL, "children", allow_duplicate=True), Input(I.CORRELATION, "clickData"), State(I.SHOWN, "data"),
         message=I.DETAIL, prevent_initial_call=True)
def pair_detail(click, shown):
    """A cell of the correlation heatmap shows that pair of maps."""
    res, _, _ = _shown(shown)
    a, b = custom_int(click, 0), custom_int(click, 1)
    if not isinstance(res, Comparison) or a is None or b is None or len(res.oip_a) <= a or len(res.oip_b) <= b:
        raise PreventUpdate
    return views.pair_detail(res, a, b)


@handled(Output(I.DETAIL, "children", allow_duplicate=True), Input(I.SWEEP, "clickData"), State(I.SHOWN, "data"),
         message=I.DETAIL, prevent_initial_call=True)
def sweep_detail(click, shown):
    """A cell of the sweep heatmap shows that map's best OIP at every wavelength."""
    from .. import insight_figures as fig

    res, request, _ = _shown(shown)
    point = click_point(click)
    if not isinstance(res, SweepResult) or point is None:
        raise PreventUpdate
    try:
        i = res.maps.index(int(point.x))
    except (TypeError, ValueError):
        raise PreventUpdate from None
    caps = [f"λ={w:g} · {a:.2f}" for w, a in zip(res.wavelengths, res.mean_activation[i])]
    return dcc.Graph(figure=fig.make_tiles_figure(res.images[i].astype("float32"), caps,
                                                  f"Map {res.maps[i]} of {request.layer}: best OIP at each wavelength"),
                     config={"displayModeBar": False})


def export_file(kind: str, res: Any, request: InsightRequest, model: str) -> dict:
    """The download of a shown result: ``csv`` (the numbers) or ``png`` (the labelled gallery)."""
    name = f"cnnviz-{request.analysis}-{model}-{request.layer}"
    if request.target is not None:
        name += f"-map{request.target.index}"
    if kind == "csv":
        return dcc.send_string(csv_text(res.rows()), f"{name}.csv")
    images, labels, cols = views.gallery(res)
    tiles = to_uint8(images, rgb=images.ndim == 4) if images.dtype != "uint8" else images
    grid = labelled_grid(tiles, labels, cols=cols, title=f"{model} · {request.describe()}")
    buf = io.BytesIO()
    grid.save(buf, format="PNG")
    return dcc.send_bytes(buf.getvalue(), f"{name}.png")


@handled(Output(I.DOWNLOAD, "data"), Input(I.CSV, "n_clicks"), Input(I.PNG, "n_clicks"), State(I.SHOWN, "data"),
         prevent_initial_call=True)
def export(_csv, _png, shown):
    res, request, model = _shown(shown)
    return export_file("csv" if ctx.triggered_id == I.CSV else "png", res, request, model)

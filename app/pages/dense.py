"""Dense page: Dense_1 patterns of an image and of each class, class similarity, confusions."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
import numpy as np
from dash import Input, Output, State, callback, dcc, html, no_update

from .. import figures
from ..clicks import click_point
from ..ids import Dense as I
from ..ids import Shell
from ..inputs import resolve
from ..engine.results import DenseStats
from ..services import services
from ..ui import as_int, card, failure
from .maps import _class_names, _dataset_name

dash.register_page(__name__, path="/dense", name="Dense", order=3)

MAX_LISTED = 200
WAIT = figures.empty_figure("computing the class statistics over the 10,000 test images…")
DENSE = "Dense_1"

layout = html.Div([
    dcc.Store(id=I.READY),
    html.Div(id=I.STATUS, className="small text-muted"),
    html.Div(id=I.MESSAGE),
    card("Dense_1 pattern of the chosen image (70 nodes as a 7×10 tile)",
         html.Div(id=I.CAPTION, className="small"),
         dcc.Loading(dcc.Graph(id=I.PATTERN, config={"displayModeBar": False}, figure=figures.empty_figure("loading…")))),
    dbc.Row([
        dbc.Col(card("Class means", dcc.Graph(id=I.MEANS, figure=WAIT)), lg=7),
        dbc.Col(card("Similarity of class means (cosine)", dcc.Graph(id=I.SIMILARITY, figure=WAIT)), lg=5),
    ]),
    dbc.Row([
        dbc.Col(card("Confusion matrix — click a cell", dcc.Graph(id=I.CONFUSION, figure=WAIT)), lg=7),
        dbc.Col(card("Test images in the clicked cell",
                     html.Div(id=I.CELL, className="small mb-2"),
                     dcc.Dropdown(id=I.PICK, placeholder="choose an image to show on Maps and here")), lg=5),
    ]),
])


def _patterns(model) -> DenseStats | None:
    svc = services()
    return svc.results.get(svc.key("dense_stats", model, {}))


@callback(Output(I.READY, "data"), Input(Shell.MODEL, "value"), background=True,
          running=[(Output(I.STATUS, "children"), "Computing the Dense_1 patterns of all 10,000 test images…", "")])
def compute(model):
    """Dense patterns over the test set: a background job, cached on disk by model hash."""
    if model is None:
        return no_update
    svc = services()
    svc.cached("dense_stats", model, {}, lambda: svc.engine.call("dense_stats", model=model))
    return {"model": model}


@callback(Output(I.MEANS, "figure"), Output(I.SIMILARITY, "figure"), Output(I.CONFUSION, "figure"),
          Output(I.MESSAGE, "children"), Input(I.READY, "data"), Input(Shell.MODEL, "value"))
def show_classes(_ready, model):
    try:
        dp = _patterns(model)
        if dp is None:
            return WAIT, WAIT, WAIT, None
        names = _class_names(model)
        return (figures.make_class_means_figure(dp.class_means, names),
                figures.make_matrix_figure(dp.similarity, names, "", "class", "class", "Viridis", ".2f"),
                figures.make_confusion_figure(dp.confusion, names), None)
    except Exception as e:  # noqa: BLE001 - shown in the page
        return failure(e, 4)


@callback(Output(I.PATTERN, "figure"), Output(I.CAPTION, "children"), Output(I.MESSAGE, "children", allow_duplicate=True),
          Input(Shell.IMAGE, "data"), Input(I.READY, "data"), Input(Shell.MODEL, "value"),
          prevent_initial_call="initial_duplicate")
def show_image(spec, _ready, model):
    try:
        svc = services()
        pixels, label, caption = resolve(spec, _dataset_name(model))
        acts = svc.engine.call("activations", model=model, image=pixels)
        names = _class_names(model)
        probs = acts.probabilities
        pred = int(np.argmax(probs))
        tiles = {f"image ({caption})": acts.layers[DENSE]}
        dp = _patterns(model)
        if dp is not None:
            if label is not None:
                tiles[f"mean of true class {names[label]}"] = dp.class_means[label]
            tiles[f"mean of predicted class {names[pred]}"] = dp.class_means[pred]
        text = f"{caption}: predicted {names[pred]} ({probs[pred]:.1%})" + \
            ("" if label is None else f", true class {names[label]}")
        return figures.make_dense_tiles_figure(tiles), text, None
    except Exception as e:  # noqa: BLE001 - shown in the page
        return failure(e, 3)


@callback(Output(I.CELL, "children"), Output(I.PICK, "options"), Output(I.PICK, "value"),
          Input(I.CONFUSION, "clickData"), State(Shell.MODEL, "value"), prevent_initial_call=True)
def list_cell(click, model):
    try:
        names = _class_names(model)
        point = click_point(click)
        true, pred = names.index(str(point.y)), names.index(str(point.x))
        dp = _patterns(model)
        idx = dp.confused(true, pred)
        text = f"{len(idx)} test images of class {names[true]} predicted as {names[pred]}" + \
            (f" (first {MAX_LISTED} listed)" if len(idx) > MAX_LISTED else "")
        opts = [{"label": f"#{i} (p={dp.probabilities[i][pred]:.2f})", "value": int(i)} for i in idx[:MAX_LISTED]]
        return text, opts, None
    except Exception:  # noqa: BLE001 - a click outside the cells
        return "Click a cell of the confusion matrix.", [], None


@callback(Output(Shell.IMAGE, "data", allow_duplicate=True), Output(I.MESSAGE, "children", allow_duplicate=True),
          Input(I.PICK, "value"), prevent_initial_call=True)
def pick(index):
    if index is None:
        return no_update, no_update
    try:
        return {"source": "test", "index": as_int(index, "index", 0, 9999)}, None
    except Exception as e:  # noqa: BLE001 - shown in the page
        return failure(e, 2)

"""Dense page: a hidden dense layer's patterns of an image and of each class, class similarity, confusions."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
import numpy as np
from dash import Input, Output, State, callback, dcc, html, no_update

from .. import figures
from ..clicks import click_point
from ..engine.results import DenseStats
from ..ids import Dense as I
from ..ids import Shell
from ..inputs import resolve
from ..services import dataset, services
from ..ui import alert, as_choice, as_int, card, failure, labelled
from .maps import _class_names, _dataset_name

dash.register_page(__name__, path="/dense", name="Dense", order=3)

MAX_LISTED = 200
WAIT = figures.empty_figure("computing the class statistics over the test images…")

layout = html.Div([
    dcc.Store(id=I.READY),
    html.Div(labelled("Dense layer", dcc.Dropdown(id=I.LAYER, options=[], clearable=False, style={"width": "16rem"})),
             className="controls"),
    html.Div(id=I.STATUS, className="small text-muted"),
    html.Div(id=I.MESSAGE),
    card("Pattern of the chosen image (the layer's nodes as a tile)",
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


def _layer(model, layer) -> str:
    """The chosen hidden dense layer; ValueError (shown) where the model has none."""
    info = services().info(model)
    if not info.dense_layers:
        raise ValueError(f"{info.name} has no hidden dense layer (its maps feed the output directly), so there are "
                         "no dense-layer patterns to show. The Maps page and the OIP lab's output classes apply.")
    return as_choice(layer or info.dense_layers[-1], "dense layer", info.dense_layers)


def _patterns(model, layer) -> DenseStats | None:
    svc = services()
    return svc.results.get(svc.key("dense_stats", model, {"layer": layer}))


@callback(Output(I.LAYER, "options"), Output(I.LAYER, "value"), Input(Shell.MODEL, "value"))
def layer_options(model):
    """The model's hidden dense layers; the last (nearest the output) first chosen."""
    try:
        names = services().info(model).dense_layers
    except Exception:  # noqa: BLE001 - no model: the views say why
        names = []
    return [{"label": n, "value": n} for n in names], (names[-1] if names else None)


@callback(Output(I.READY, "data"), Input(Shell.MODEL, "value"), Input(I.LAYER, "value"), background=True,
          running=[(Output(I.STATUS, "children"), "Computing the dense patterns of every test image…", "")])
def compute(model, layer):
    """Dense patterns over the test set: a background job, cached on disk by model hash."""
    if model is None:
        return no_update
    try:
        layer = _layer(model, layer)
    except ValueError:
        return no_update  # the views say why
    svc = services()
    svc.cached("dense_stats", model, {"layer": layer}, lambda: svc.engine.call("dense_stats", model=model, layer=layer))
    return {"model": model, "layer": layer}


@callback(Output(I.MEANS, "figure"), Output(I.SIMILARITY, "figure"), Output(I.CONFUSION, "figure"),
          Output(I.MESSAGE, "children"), Input(I.READY, "data"), Input(Shell.MODEL, "value"), Input(I.LAYER, "value"))
def show_classes(_ready, model, layer):
    try:
        layer = _layer(model, layer)
        dp = _patterns(model, layer)
        if dp is None:
            return WAIT, WAIT, WAIT, None
        names = _class_names(model)
        return (figures.make_class_means_figure(dp.class_means, names, layer),
                figures.make_matrix_figure(dp.similarity, names, "", "class", "class", "Viridis", ".2f"),
                figures.make_confusion_figure(dp.confusion, names), None)
    except ValueError as e:  # no hidden dense layer: a note, not an error
        empty = figures.empty_figure("not applicable to this model")
        return empty, empty, empty, alert(str(e), "info")
    except Exception as e:  # noqa: BLE001 - shown in the page
        return failure(e, 4)


@callback(Output(I.PATTERN, "figure"), Output(I.CAPTION, "children"), Output(I.MESSAGE, "children", allow_duplicate=True),
          Input(Shell.IMAGE, "data"), Input(I.READY, "data"), Input(Shell.MODEL, "value"), Input(I.LAYER, "value"),
          prevent_initial_call="initial_duplicate")
def show_image(spec, _ready, model, layer):
    try:
        try:
            layer = _layer(model, layer)
        except ValueError:
            return figures.empty_figure("not applicable to this model"), None, no_update
        svc = services()
        pixels, label, caption = resolve(spec, _dataset_name(model))
        acts = svc.engine.call("activations", model=model, image=pixels)
        names = _class_names(model)
        probs = acts.probabilities
        pred = int(np.argmax(probs))
        tiles = {f"image ({caption})": acts.layers[layer]}
        dp = _patterns(model, layer)
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
          Input(I.CONFUSION, "clickData"), State(Shell.MODEL, "value"), State(I.LAYER, "value"), prevent_initial_call=True)
def list_cell(click, model, layer):
    try:
        names = _class_names(model)
        point = click_point(click)
        true, pred = names.index(str(point.y)), names.index(str(point.x))
        dp = _patterns(model, _layer(model, layer))
        idx = dp.confused(true, pred)
        text = f"{len(idx)} test images of class {names[true]} predicted as {names[pred]}" + \
            (f" (first {MAX_LISTED} listed)" if len(idx) > MAX_LISTED else "")
        opts = [{"label": f"#{i} (p={dp.probabilities[i][pred]:.2f})", "value": int(i)} for i in idx[:MAX_LISTED]]
        return text, opts, None
    except Exception:  # noqa: BLE001 - a click outside the cells
        return "Click a cell of the confusion matrix.", [], None


@callback(Output(Shell.IMAGE, "data", allow_duplicate=True), Output(I.MESSAGE, "children", allow_duplicate=True),
          Input(I.PICK, "value"), State(Shell.MODEL, "value"), prevent_initial_call=True)
def pick(index, model):
    if index is None:
        return no_update, no_update
    try:
        n = len(dataset(_dataset_name(model)).x_test)
        return {"source": "test", "index": as_int(index, "index", 0, n - 1)}, None
    except Exception as e:  # noqa: BLE001 - shown in the page
        return failure(e, 2)

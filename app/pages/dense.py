"""Dense page: a hidden dense layer's patterns of an image and of each class, class similarity, confusions."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
import numpy as np
from dash import Input, Output, State, callback, dcc, html, no_update
from dash.exceptions import PreventUpdate

from cnnviz.results import DensePatterns

from .. import figures
from ..clicks import click_point, custom_int
from ..controls import dropdown, info, test_count
from ..ids import Dense as I
from ..ids import Shell
from ..inputs import resolve
from ..requests import as_choice, as_int
from ..services import services
from ..ui import alert, card, handled, labelled, unit_href

dash.register_page(__name__, path="/dense", name="Dense", order=3)

MAX_LISTED = 200
WAIT = figures.empty_figure("computing the class statistics over the test images…")

layout = html.Div([
    dcc.Store(id=I.READY),
    html.Div(labelled("Dense layer", dropdown(I.LAYER, options=[], clearable=False, style={"width": "16rem"})),
             className="controls"),
    html.Div(id=I.STATUS, className="small text-muted"),
    html.Div(id=I.MESSAGE),
    card("Pattern of the chosen image (the layer's nodes as a tile)",
         html.Div(id=I.CAPTION, className="small"),
         html.Div(dcc.Link("Click a node for its unit page", id=I.UNIT_LINK, href="/unit"), className="small"),
         dcc.Loading(dcc.Graph(id=I.PATTERN, config={"displayModeBar": False}, figure=figures.empty_figure("loading…")))),
    dbc.Row([
        dbc.Col(card("Class means", dcc.Graph(id=I.MEANS, figure=WAIT)), lg=7),
        dbc.Col(card("Similarity of class means (cosine)", dcc.Graph(id=I.SIMILARITY, figure=WAIT)), lg=5),
    ]),
    dbc.Row([
        dbc.Col(card("Confusion matrix — click a cell", dcc.Graph(id=I.CONFUSION, figure=WAIT)), lg=7),
        dbc.Col(card("Test images in the clicked cell",
                     html.Div(id=I.CELL, className="small mb-2"),
                     dropdown(I.PICK, placeholder="choose an image to show on Maps and here")), lg=5),
    ]),
])


class NoDenseLayer(ValueError):
    """The model has no hidden dense layer: a note for the page, not an error."""


def _layer(model, layer) -> str:
    """The chosen hidden dense layer; :class:`NoDenseLayer` where the model has none."""
    i = info(model)
    if not i.dense_layers:
        raise NoDenseLayer(f"{i.name} has no hidden dense layer (its maps feed the output directly), so there are "
                           "no dense-layer patterns to show. The Maps page and the OIP lab's output classes apply.")
    return as_choice(layer or i.dense_layers[-1], "dense layer", i.dense_layers)


def _class_names(model) -> list[str]:
    return list(info(model).class_names)


def _patterns(model, layer) -> DensePatterns | None:
    svc = services()
    return svc.results.get(svc.key("dense_stats", model, {"layer": layer}))


@handled(Output(I.LAYER, "options"), Output(I.LAYER, "value"), Output(I.MESSAGE, "children", allow_duplicate=True),
         Input(Shell.MODEL, "value"), message=I.MESSAGE, prevent_initial_call="initial_duplicate")
def layer_options(model):
    """The model's hidden dense layers; the last (nearest the output) first chosen."""
    names = info(model).dense_layers
    return [{"label": n, "value": n} for n in names], (names[-1] if names else None), no_update


@callback(Output(I.READY, "data"), Input(Shell.MODEL, "value"), Input(I.LAYER, "value"), background=True,
          running=[(Output(I.STATUS, "children"), "Computing the dense patterns of every test image…", "")])
def compute(model, layer):
    """Dense patterns over the test set: a background job, cached on disk by model hash."""
    if model is None:
        return no_update
    try:
        layer = _layer(model, layer)
    except NoDenseLayer:
        return no_update  # the views say why
    svc = services()
    svc.cached("dense_stats", model, {"layer": layer}, lambda: svc.engine.call("dense_stats", model=model, layer=layer))
    return {"model": model, "layer": layer}


@handled(Output(I.MEANS, "figure"), Output(I.SIMILARITY, "figure"), Output(I.CONFUSION, "figure"),
         Output(I.MESSAGE, "children"), Input(I.READY, "data"), Input(Shell.MODEL, "value"), Input(I.LAYER, "value"),
         message=I.MESSAGE)
def show_classes(_ready, model, layer):
    try:
        layer = _layer(model, layer)
    except NoDenseLayer as e:  # a note, not an error
        empty = figures.empty_figure("not applicable to this model")
        return empty, empty, empty, alert(str(e), "info")
    dp = _patterns(model, layer)
    if dp is None:
        return WAIT, WAIT, WAIT, None
    names = _class_names(model)
    return (figures.make_class_means_figure(dp.class_means, names, layer),
            figures.make_matrix_figure(dp.similarity, names, "", "class", "class", "Viridis", ".2f"),
            figures.make_confusion_figure(dp.confusion, names), None)


@handled(Output(I.PATTERN, "figure"), Output(I.CAPTION, "children"), Output(I.MESSAGE, "children", allow_duplicate=True),
         Input(Shell.IMAGE, "data"), Input(I.READY, "data"), Input(Shell.MODEL, "value"), Input(I.LAYER, "value"),
         message=I.MESSAGE, prevent_initial_call="initial_duplicate")
def show_image(spec, _ready, model, layer):
    try:
        layer = _layer(model, layer)
    except NoDenseLayer:
        return figures.empty_figure("not applicable to this model"), None, no_update
    svc = services()
    pixels, label, caption = resolve(spec, info(model).dataset)
    acts = svc.engine.call("activations", model=model, image=pixels)
    names = _class_names(model)
    probs = acts.probabilities
    pred = int(np.argmax(probs))
    tiles = {f"image ({caption})": acts.of(layer)}
    dp = _patterns(model, layer)
    if dp is not None:
        if label is not None:
            tiles[f"mean of true class {names[label]}"] = dp.class_means[label]
        tiles[f"mean of predicted class {names[pred]}"] = dp.class_means[pred]
    text = f"{caption}: predicted {names[pred]} ({probs[pred]:.1%})" + \
        ("" if label is None else f", true class {names[label]}")
    return figures.make_dense_tiles_figure(tiles), text, None


@handled(Output(I.CELL, "children"), Output(I.PICK, "options"), Output(I.PICK, "value"),
         Input(I.CONFUSION, "clickData"), State(Shell.MODEL, "value"), State(I.LAYER, "value"), prevent_initial_call=True)
def list_cell(click, model, layer):
    names = _class_names(model)
    point = click_point(click)
    if point is None or str(point.y) not in names or str(point.x) not in names:
        return "Click a cell of the confusion matrix.", [], None
    true, pred = names.index(str(point.y)), names.index(str(point.x))
    dp = _patterns(model, _layer(model, layer))
    if dp is None:
        return "The class statistics are still being computed.", [], None
    idx = dp.confused(true, pred)
    text = f"{len(idx)} test images of class {names[true]} predicted as {names[pred]}" + \
        (f" (first {MAX_LISTED} listed)" if len(idx) > MAX_LISTED else "")
    opts = [{"label": f"#{i} (p={dp.probabilities[i][pred]:.2f})", "value": int(i)} for i in idx[:MAX_LISTED]]
    return text, opts, None


@handled(Output(Shell.IMAGE, "data", allow_duplicate=True), Output(I.MESSAGE, "children", allow_duplicate=True),
         Input(I.PICK, "value"), State(Shell.MODEL, "value"), message=I.MESSAGE, prevent_initial_call=True)
def pick(index, model):
    if index is None:
        return no_update, no_update
    return {"source": "test", "index": as_int(index, "index", 0, test_count(model) - 1)}, None


@handled(Output(I.UNIT_LINK, "href"), Output(I.UNIT_LINK, "children"), Input(I.PATTERN, "clickData"),
         State(Shell.MODEL, "value"), State(I.LAYER, "value"), prevent_initial_call=True, show=lambda _t, _c: no_update)
def unit_link(click, model, layer):
    """A node clicked in the pattern: its unit page."""
    layer = _layer(model, layer)
    node = custom_int(click, 0)
    if node is None or not node < info(model).layer(layer).maps:
        raise PreventUpdate
    return unit_href(model, layer, node, "dense"), f"Open {layer} unit {node}'s unit page"

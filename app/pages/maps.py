"""Maps page: every map of a layer for a chosen, uploaded or drawn image, or a class average."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
import numpy as np
import plotly.graph_objects as go
from dash import Input, Output, State, callback, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from cnnviz.images import fit_to

from .. import figures
from ..clicks import click_point
from ..controls import clamped, dropdown, info, layer_marks, test_count
from ..ids import Maps as I
from ..ids import Shell
from ..inputs import MAX_PATH_CHARS, MAX_STROKES, checked_strokes, decode_upload, rasterize_drawing, resolve
from ..requests import as_choice, layer_choice
from ..services import dataset, services
from ..ui import alert, card, handled, labelled, unit_href

dash.register_page(__name__, path="/maps", name="Maps", order=2)

HIDDEN = {"display": "none"}
METHODS = [{"label": "saliency", "value": "saliency"}, {"label": "SmoothGrad", "value": "smoothgrad"},
           {"label": "Grad-CAM", "value": "gradcam"}]

TRUST_PROMPT = "the randomisation test of the chosen method appears here"

def _spatial(model) -> list[str]:
    """The model's layers of maps, input side first: the layer slider's marks."""
    return info(model).spatial_layers


def _draw_figure() -> go.Figure:
    """A black 28×28 canvas like MNIST's, drawn on in white; no modebar over it, so a stroke may start anywhere."""
    fig = go.Figure(go.Heatmap(z=np.zeros((28, 28)), colorscale="gray", zmin=0, zmax=1, showscale=False,
                               hoverinfo="skip"))
    fig.update_layout(dragmode="drawopenpath", newshape=dict(line=dict(color="white", width=14)),
                      margin=dict(l=0, r=0, t=0, b=0), height=220, width=220, plot_bgcolor="black")
    return figures.image_axes(fig)


layout = html.Div([
    dcc.Store(id=I.MEANS_READY),
    dcc.Store(id=I.DRAW_SHAPES, data=[]),
    dbc.Row([
        dbc.Col([
            card("Input",
                 dbc.RadioItems(id=I.SOURCE, inline=True, value="test",
                                options=[{"label": "test image", "value": "test"},
                                         {"label": "upload", "value": "upload"},
                                         {"label": "draw", "value": "draw"}]),
                 html.Div([
                     labelled("Test image index", dbc.Input(id=I.INDEX, type="number", min=0, max=9999,
                                                                      step=1, debounce=True)),
                     labelled("…or the next image of class", dropdown(I.CLASS, options=[], placeholder="class")),
                 ], id="maps-test-box"),
                 html.Div(dcc.Upload(id=I.UPLOAD, children=html.Div(["Drop a PNG/JPEG here or ", html.A("choose a file")]),
                                     accept="image/png,image/jpeg", max_size=5_000_000,
                                     style={"borderWidth": "1px", "borderStyle": "dashed", "borderRadius": "6px",
                                            "textAlign": "center", "padding": "1rem"}),
                          id="maps-upload-box", style={"display": "none"}),
                 html.Div([dcc.Graph(id=I.DRAW, figure=_draw_figure(),
                                     config={"displayModeBar": False, "scrollZoom": False}),
                           dbc.Button("Use drawing", id=I.DRAW_USE, size="sm", className="mt-1 me-1"),
                           dbc.Button("Clear", id=I.DRAW_CLEAR, size="sm", color="secondary", className="mt-1")],
                          id="maps-draw-box", style={"display": "none"}),
                 html.Div(id=I.MESSAGE), html.Div(id=I.MODEL_NOTE)),
            card("View",
                 labelled("Layer", dcc.Slider(id=I.LAYER, min=0, max=1, step=1, value=0, included=False,
                                              marks=None, allow_direct_input=False, className="layer-slider")),
                 labelled("Map (drag: shown large beside the input)",
                          dcc.Slider(id=I.MAP_SLIDER, min=0, max=31, step=1, value=0, updatemode="drag", marks=None,
                                     tooltip={"placement": "bottom"}, allow_direct_input=True)),
                 labelled("Colour scale", dbc.RadioItems(id=I.SCALE, inline=True, value="map",
                                                         options=[{"label": "per map", "value": "map"},
                                                                  {"label": "per layer", "value": "layer"}])),
                 labelled("Show", dbc.RadioItems(id=I.MODE, inline=True, value="image",
                                                 options=[{"label": "this image", "value": "image"},
                                                          {"label": "class average", "value": "average"}]))),
        ], lg=3),
        dbc.Col([
            dbc.Row([
                dbc.Col(dcc.Graph(id=I.INPUT, config={"displayModeBar": False}), md=4),
                dbc.Col(dcc.Graph(id=I.MAP_VIEW, config={"displayModeBar": False}), md=4),
                dbc.Col(dcc.Graph(id=I.PROBS, config={"displayModeBar": False}), md=4),
            ]),
            html.Div(id=I.VIEW_MESSAGE),
            html.Div(dcc.Link("Open this map's unit page", id=I.UNIT_LINK, href="/unit"), className="small"),
            html.Div(id=I.RF_NOTE, className="small text-muted"),
            dcc.Loading(dcc.Graph(id=I.GRID, clear_on_unhover=True, config={"displayModeBar": False}), delay_show=300),
            card("Why this prediction",
                 dbc.Row([
                     dbc.Col(dcc.Graph(id=I.WHY, config={"displayModeBar": False}), md=5),
                     dbc.Col([
                         labelled("Method", dbc.RadioItems(id=I.WHY_METHOD, inline=True, value="gradcam",
                                                           options=METHODS)),
                         labelled("Class to explain", dropdown(I.WHY_CLASS, options=[],
                                                                   placeholder="the predicted class")),
                         labelled("Grad-CAM layer", dropdown(I.WHY_LAYER, options=[], clearable=False)),
                         html.Div(id=I.WHY_NOTE, className="small text-muted"),
                     ], md=7),
                 ]),
                 html.Hr(),
                 dbc.Button("Can this method be trusted? Run the randomisation test", id=I.TRUST_RUN, size="sm",
                            color="secondary", outline=True, className="mb-2"),
                 dcc.Loading(html.Div([dcc.Graph(id=I.TRUST, config={"displayModeBar": False},
                                                 figure=figures.empty_figure(TRUST_PROMPT)),
                                       html.Div(id=I.TRUST_NOTE, className="small")]), delay_show=300)),
        ], lg=9),
    ]),
])


@callback(Output("maps-test-box", "style"), Output("maps-upload-box", "style"), Output("maps-draw-box", "style"),
          Input(I.SOURCE, "value"))
def show_source(source):
    hide, show = {"display": "none"}, {}
    return (show if source == "test" else hide, show if source == "upload" else hide,
            show if source == "draw" else hide)


@handled(Output(I.CLASS, "options"), Output(I.WHY_CLASS, "options"), Output(I.WHY_CLASS, "value"),
         Output(I.WHY_LAYER, "options"), Output(I.WHY_LAYER, "value"), Output(I.LAYER, "marks"), Output(I.LAYER, "max"),
         Output(I.LAYER, "value"), Output(I.INDEX, "max"), Output(I.INDEX, "value", allow_duplicate=True),
         Output(I.MODEL_NOTE, "children"), Input(Shell.MODEL, "value"), State(Shell.IMAGE, "data"),
         message=I.MODEL_NOTE, prevent_initial_call="initial_duplicate")
def model_controls(model, spec):
    """Every control whose choices come from the model: classes, layers, the test-image range. A test image
    beyond the new model's test set is replaced by its last one, with a note (the index box moves, and with it
    the chosen image)."""
    names, layers = _class_names(model), _spatial(model)
    n_test = test_count(model)
    classes = [{"label": n, "value": i} for i, n in enumerate(names)]
    index, note = no_update, None
    if isinstance(spec, dict) and spec.get("source") == "test":
        kept, note = clamped(spec.get("index"), n_test - 1, "Test image")
        index = kept if note else no_update
    return (classes, classes, None, [{"label": n, "value": n} for n in layers], layers[-1] if layers else None,
            layer_marks(layers), max(len(layers) - 1, 0), 0, n_test - 1, index, alert(note, "info") if note else None)


def _next_of_class(cls, index, model) -> int | None:
    labels = dataset(_dataset_name(model)).y_test
    start = int(index or 0) + 1 if 0 <= int(index or 0) < len(labels) else 0
    hits = np.flatnonzero(np.roll(labels, -start) == int(cls))
    return int((hits[0] + start) % len(labels)) if len(hits) else None


@handled(Output(Shell.IMAGE, "data"), Output(I.INDEX, "value"), Output(I.MESSAGE, "children"),
         inputs=dict(index=Input(I.INDEX, "value"), cls=Input(I.CLASS, "value"), upload=Input(I.UPLOAD, "contents"),
                     _events=dict(mounted=Input(I.DRAW_SHAPES, "id"), drawn=Input(I.DRAW_USE, "n_clicks"))),
         state=dict(spec=State(Shell.IMAGE, "data"),
                    context=dict(filename=State(I.UPLOAD, "filename"), shapes=State(I.DRAW_SHAPES, "data"),
                                 model=State(Shell.MODEL, "value"), mode=State(I.MODE, "value"))),
         message=I.MESSAGE)
def choose_image(index, cls, upload, _events, spec, context):
    """The shell's image and the index box kept in step both ways: the box shows the image chosen on
    any page (Dense's confusion list, say), and typing an index, picking a class (in "this image" mode: its
    next test image), uploading or drawing chooses a new one. In "class average" mode the class picks the
    average only, and the chosen image stays."""
    model = context["model"]
    test_index = spec.get("index") if isinstance(spec, dict) and spec.get("source") == "test" else None
    trigger = ctx.triggered_id
    if trigger in (None, I.DRAW_SHAPES) or (trigger == I.INDEX and index is None):
        # the page mounted (the empty box fires too): show the image chosen on any page (Dense's list, say)
        return no_update, (test_index if test_index is not None and test_index != index else no_update), no_update
    if trigger == I.INDEX:
        if test_index == int(index):
            return no_update, no_update, no_update
        kept, note = clamped(index, test_count(model) - 1, "Test image")
        return {"source": "test", "index": kept}, (kept if note else no_update), (alert(note, "info") if note else None)
    if trigger == I.CLASS:
        found = None if cls is None or context["mode"] == "average" else \
            _next_of_class(cls, test_index if test_index is not None else index, model)
        if found is None:
            raise PreventUpdate
        return {"source": "test", "index": found}, found, None
    if trigger == I.UPLOAD:
        shape = info(model).image_shape
        pixels = decode_upload(upload, shape)
        what = "a 28×28 digit" if pixels.ndim == 2 else f"a {shape[0]}×{shape[1]} colour picture"
        name = str(context["filename"])
        return ({"source": "pixels", "pixels": pixels.tolist(), "name": f"upload {name[:40]}"}, no_update,
                alert(f"Loaded {name[:60]} as {what}.", "success"))
    pixels = rasterize_drawing(context["shapes"])
    return {"source": "pixels", "pixels": pixels.tolist(), "name": "drawing"}, no_update, None


@callback(Output(I.DRAW, "figure"), Output(I.DRAW_SHAPES, "data", allow_duplicate=True),
          Input(I.DRAW_CLEAR, "n_clicks"), prevent_initial_call=True)
def clear_drawing(_n):
    return _draw_figure(), []


@callback(Output(I.DRAW_SHAPES, "data"), Input(I.DRAW, "relayoutData"), State(I.DRAW_SHAPES, "data"),
          prevent_initial_call=True)
def track_strokes(relayout, shapes):
    """Keeps the strokes: plotly reports the whole list after a draw or an erase, single paths after an edit."""
    if not isinstance(relayout, dict) or len(relayout) > MAX_STROKES:
        return no_update
    try:
        if isinstance(relayout.get("shapes"), list):
            return [{"path": p} for p in checked_strokes(relayout["shapes"])]
        shapes = [{"path": p} for p in checked_strokes(shapes)]
    except ValueError:
        return no_update  # "Use drawing" says why
    if any(isinstance(v, str) and len(v) > MAX_PATH_CHARS for v in relayout.values()):
        return no_update
    changed = False
    for k, v in relayout.items():
        if k.startswith("shapes[") and k.endswith("].path"):
            try:
                i = int(k[7:k.index("]")])
            except ValueError:
                continue
            if 0 <= i < len(shapes):
                shapes[i] = {"path": str(v)}
                changed = True
    return shapes if changed else no_update


def _dataset_name(model) -> str:
    return info(model).dataset


def _image(spec, model) -> tuple[np.ndarray, int | None, str]:
    """The chosen image for ``model``: a test index beyond its test set is read as its last test image (the
    index box is moved there, with a note, by :func:`model_controls`)."""
    if isinstance(spec, dict) and spec.get("source") == "test":
        spec = {**spec, "index": clamped(spec.get("index"), test_count(model) - 1, "")[0]}
    return resolve(spec, _dataset_name(model))


def _class_names(model) -> list[str]:
    return list(info(model).class_names)


@callback(Output(I.MEANS_READY, "data"), Input(I.MODE, "value"), Input(Shell.MODEL, "value"),
          background=True, running=[(Output(I.RF_NOTE, "children"), "Computing class averages over the test set…", "")],
          prevent_initial_call=True)
def compute_class_means(mode, model):
    """Class averages of every layer over the test set: a background job, cached by model hash."""
    if mode != "average" or model is None:
        return no_update
    svc = services()
    for layer in _spatial(model):
        svc.cached("class_means", model, {"layer": layer},
                   lambda layer=layer: svc.engine.call("class_means", model=model, layer=layer))
    return {"model": model}


@handled(Output(I.PROBS, "figure"), Output(I.GRID, "figure"), Output(I.VIEW_MESSAGE, "children"),
         Output(I.PROBS, "style"), Output(I.GRID, "style"),
         Input(Shell.IMAGE, "data"), Input(I.LAYER, "value"), Input(I.SCALE, "value"), Input(I.MODE, "value"),
         Input(I.CLASS, "value"), Input(Shell.MODEL, "value"), Input(I.MEANS_READY, "data"), message=I.VIEW_MESSAGE)
def render(spec, layer, scale, mode, cls, model, _ready):
    svc = services()
    layer = layer_choice(layer, _spatial(model))
    scale = as_choice(scale, "scale", ["map", "layer"])
    mode = as_choice(mode, "mode", ["image", "average"])
    names = _class_names(model)
    if mode == "average":
        c = int(cls) if cls is not None else _image(spec, model)[1]
        if c is None or not 0 <= c < len(names):
            return (no_update, figures.empty_figure("choose a class for the class average"),
                    alert("Choose a class for the class average.", "info"), HIDDEN, {})
        means = svc.results.get(svc.key("class_means", model, {"layer": layer}))
        if means is None:
            return no_update, figures.empty_figure("computing class averages…"), None, HIDDEN, {}
        return (no_update, figures.make_map_grid_figure(means[c], scale, f"{layer}: mean over class {names[c]}"),
                None, HIDDEN, figures.map_grid_style(means[c].shape))
    pixels, _, caption = _image(spec, model)
    acts = svc.engine.call("activations", model=model, image=pixels)
    grid = acts.of(layer)
    return (figures.make_probs_figure(acts.probabilities, names),
            figures.make_map_grid_figure(grid, scale, f"{layer}: {grid.shape[-1]} maps · {caption}"), None, {},
            figures.map_grid_style(grid.shape))


def _figure_message(text: str, _color: str):
    return figures.empty_figure(text[:120])


@handled(Output(I.INPUT, "figure"), Output(I.RF_NOTE, "children", allow_duplicate=True),
         Input(Shell.IMAGE, "data"), Input(I.GRID, "clickData"), Input(I.LAYER, "value"), Input(Shell.MODEL, "value"),
         Input(I.MODE, "value"), Input(I.CLASS, "value"), show=_figure_message, prevent_initial_call="initial_duplicate")
def show_input(spec, click, layer, model, mode, cls):
    if mode == "average":  # the class itself: the mean of its test images
        data = dataset(_dataset_name(model))
        c = int(cls) if cls is not None else _image(spec, model)[1]
        if c is None:
            return figures.empty_figure("choose a class"), None
        images = data.x_test[data.y_test == c]
        return (figures.make_image_figure(images.mean(0), f"class {_class_names(model)[c]}: mean of "
                                          f"{len(images):,} test images"), None)
    pixels, _, caption = _image(spec, model)
    box, note = None, "Click a node in the grid to outline its receptive field on the input."
    point = click_point(click) if ctx.triggered_id == I.GRID else None
    if point is not None and len(point.customdata) >= 3:
        m, x, y = (int(float(v)) for v in point.customdata[:3])
        i = info(model)
        row = i.layer(layer_choice(layer, i.spatial_layers))
        box = row.receptive.box(y, x, i.input_shape[:2]) if m >= 0 and row.receptive else None
        note = (f"{row.name} map {m}, node x={x} y={y}: receptive field {row.receptive_field}×"
                f"{row.receptive_field} input pixels (jump {row.jump})." if box else note)
    return figures.make_image_figure(pixels, caption, box), note


@handled(Output(I.MAP_SLIDER, "max"), Input(I.LAYER, "value"), Input(Shell.MODEL, "value"),
         show=lambda _t, _c: no_update)
def map_range(layer, model):
    """The map slider's range follows the layer."""
    return info(model).layer(layer_choice(layer, _spatial(model))).maps - 1


@callback(Output(I.UNIT_LINK, "href"), Output(I.UNIT_LINK, "children"), Input(I.MAP_SLIDER, "value"),
          Input(I.LAYER, "value"), Input(Shell.MODEL, "value"))
def unit_link(map_, layer, model):
    """The unit page of the map on the slider (a click on a tile of the grid moves the slider there)."""
    try:
        layer = layer_choice(layer, _spatial(model))
    except Exception:  # noqa: BLE001 - the controls are on their way
        return no_update, no_update
    m = max(int(map_ or 0), 0)
    return unit_href(model, layer, m), f"Open {layer} map {m}'s unit page (everything measured about it)"


@handled(Output(I.MAP_VIEW, "figure"), Input(I.MAP_SLIDER, "value"), Input(Shell.IMAGE, "data"),
         Input(I.LAYER, "value"), Input(I.MODE, "value"), Input(I.CLASS, "value"), Input(Shell.MODEL, "value"),
         Input(I.MEANS_READY, "data"), show=_figure_message)
def show_map(map_, spec, layer, mode, cls, model, _ready):
    """The slider's map, large: of this image, or of the class average."""
    svc = services()
    layer = layer_choice(layer, _spatial(model))
    if mode == "average":
        c = int(cls) if cls is not None else _image(spec, model)[1]
        acts = svc.results.get(svc.key("class_means", model, {"layer": layer}))
        if acts is None or c is None:
            return figures.empty_figure("class average: computing…" if c is not None else "choose a class")
        acts = acts[c]
    else:
        pixels, _, _ = _image(spec, model)
        acts = svc.engine.call("activations", model=model, image=pixels).of(layer)
    m = min(max(int(map_ or 0), 0), acts.shape[-1] - 1)
    return figures.make_map_figure(acts[..., m], f"{layer} map {m}")


@handled(Output(I.TRUST, "figure"), Output(I.TRUST_NOTE, "children"), Input(I.TRUST_RUN, "n_clicks"),
         Input(I.WHY_METHOD, "value"), Input(I.WHY_LAYER, "value"), Input(Shell.MODEL, "value"), show=_figure_message,
         prevent_initial_call=True)
def trust(_clicks, method, layer, model):
    """The cascading randomisation test (Adebayo et al. 2018) of the chosen method on this model; any other control
    that changes clears it, so a result never shows under a method or model it is not of."""
    if ctx.triggered_id != I.TRUST_RUN:
        return figures.empty_figure(TRUST_PROMPT), None
    i = info(model)
    method = as_choice(method, "method", [m["value"] for m in METHODS])
    layer = as_choice(layer, "Grad-CAM layer", i.spatial_layers) if method == "gradcam" else None
    r = services().engine.call("sanity", model=model, method=method, layer=layer)
    rows = r.rows()
    name = dict((m["value"], m["label"]) for m in METHODS)[method]
    final, raw = float(r.specific[-1].mean()), float(r.raw[-1].mean())
    verdict = (f"{name} passes on {model}: with every layer re-initialised, its maps keep an image-specific "
               f"similarity of {final:.2f} (below 0.2), so they depend on what the model learnt."
               if r.passes else
               f"{name} fails on {model}: with every layer re-initialised, its maps keep an image-specific similarity "
               f"of {final:.2f} (0.2 or more), so they show the image more than what the model learnt.")
    why_raw = (f" The raw rank correlation stays at {raw:.2f}: every map of every model is bright where digits are "
               "drawn and dark at the border, so the raw number measures that shared layout, not the explanation; "
               "the image-specific one subtracts the mean map over the images first." if raw > final + 0.1 else "")
    note = [html.B(verdict), why_raw, f" {r.raw.shape[1]} test images; {model}'s weights are untouched (a copy is "
            "randomised)."]
    return figures.make_sanity_figure(r.steps, rows), note


@handled(Output(I.WHY, "figure"), Output(I.WHY_NOTE, "children"), Input(Shell.IMAGE, "data"),
         Input(I.WHY_METHOD, "value"), Input(I.WHY_CLASS, "value"), Input(I.WHY_LAYER, "value"),
         Input(Shell.MODEL, "value"), show=_figure_message)
def explain(spec, method, cls, layer, model):
    """The chosen image with its attribution map for the predicted (or chosen) class laid over it."""
    i = info(model)
    method = as_choice(method, "method", [m["value"] for m in METHODS])
    pixels, _, caption = _image(spec, model)
    if cls is not None and not (isinstance(cls, int) and 0 <= cls < len(i.class_names)):
        raise ValueError(f"Class must be one of 0..{len(i.class_names) - 1}.")
    if method == "gradcam":
        layer = as_choice(layer, "Grad-CAM layer", i.spatial_layers)
    a = services().engine.call("attribution", model=model, image=pixels, method=method,
                               layer=layer if method == "gradcam" else None, cls=cls)
    names = i.class_names
    shown = fit_to(pixels, i.image_shape)  # what the model saw
    title = f"{dict((m['value'], m['label']) for m in METHODS)[method]} for class {names[a.cls]}"
    note = (f"{caption}: predicted {names[a.predicted]} ({a.probabilities[a.predicted]:.1%}). The overlay shows "
            f"how much each pixel drives the score of class {names[a.cls]} (its value before the softmax)"
            + (f", from the maps of {a.layer}." if a.layer else "."))
    if shown.shape != np.shape(pixels):
        note += f" The picture was fitted to the model's {'×'.join(map(str, i.input_shape))} input."
    return figures.make_image_figure(shown, title, overlay=a.map, height=320), note

"""OIP lab: grow the input that drives a map (or node, unit, class) hardest out of noise, and watch it emerge."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

import dash
import dash_bootstrap_components as dbc
import numpy as np
from dash import Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from cnnviz.images import contrast_enhanced, gif_bytes, labelled_grid, to_uint8
from cnnviz.noise import FAMILIES, make_noise, radial_spectrum
from cnnviz.receptive import change_inside_outside
from cnnviz.search import MAX_FRAMES as MAX_STRIP
from cnnviz.search import MODES, ObjectiveRun, OIPProgress, OIPResult

from .. import figures, jobs
from ..clicks import custom_int
from ..controls import clamped, info, layer_marks, layer_position, method_control
from ..ids import OIP as I
from ..ids import Shell
from ..requests import MAX_SEEDS, MAX_STEPS, WAVELENGTHS, OIPRequest, layer_choice, wavelength_range
from ..services import services
from ..ui import alert, card, handled, labelled, scroll_into_view, unit_href

dash.register_page(__name__, path="/oip", name="OIP lab", order=4)

LIVE = 8  # searches shown live
CONTROLS = {"layer": (I.LAYER, "value"), "map": (I.MAP, "value"), "whole": (I.WHOLE, "value"),
            "node_on": (I.NODE_ON, "value"), "node_x": (I.NODE_X, "value"), "node_y": (I.NODE_Y, "value"),
            "waves": (I.WAVES, "value"), "mix": (I.MIX, "value"), "seeds": (I.SEEDS, "value"),
            "steps": (I.STEPS, "value"), "step_size": (I.STEP_SIZE, "value"), "blur": (I.BLUR, "value"),
            "sigma": (I.SIGMA, "value"), "jitter": (I.JITTER, "value"), "noise": (I.NOISE, "value"),
            "method": (I.METHOD, "value"), "in_range": (I.IN_RANGE, "value"), "mode": (I.MODE, "value"),
            "expr": (I.EXPR, "value"), "diversity": (I.DIVERSITY, "value"), "to_map": (I.TO_MAP, "value"),
            "frames": (I.FRAMES, "value")}
MODE_OPTIONS = [{"label": "one unit", "value": "unit"}, {"label": "negative", "value": "negative"},
                {"label": "diversity (facets)", "value": "diversity"}, {"label": "expression", "value": "expression"},
                {"label": "interpolation", "value": "interpolation"}]
RANGES = [{"label": "auto (on for units and classes)", "value": "auto"}, {"label": "on", "value": "on"},
          {"label": "off", "value": "off"}]
NOISES = [{"label": "low-pass", "value": "lowpass"}, {"label": "band-pass", "value": "bandpass"},
          {"label": "mix", "value": "mix", "title": "equal-power low-pass layers at λ, λ/2, … down to single pixels"}]


def layout(layer: str | None = None, map: str | None = None, node: str | None = None, run: str | None = None,
           **_query: Any):
    """The lab; ``?layer=Conv2D_3&map=13&node=1,1`` presets it (links from Insight and the unit pages), and
    ``&run=1`` also runs it (at once from the cache when the result is there)."""
    preset = jobs.link_preset(layer, map, node)
    if "map" in preset:
        preset["whole"] = False
    return jobs.page_layout(PAGE, preset, run, _controls(), _results())


def _controls() -> dbc.Card:
    slider = {"allow_direct_input": True, "tooltip": {"placement": "bottom", "always_visible": False}}
    return card(
        "Search",
        jobs.action_bar(I),
        labelled("Layer", dcc.Slider(id=I.LAYER, min=0, max=1, step=1, value=None, marks=None, included=False,
                                     allow_direct_input=False, className="layer-slider")),
        labelled([html.Span("Map", id=I.MAP_LABEL), " (drag to scrub through a whole-layer result)"],
                 dbc.Row([dbc.Col(dcc.Slider(id=I.MAP_SLIDER, min=0, max=63, step=1, value=0, updatemode="drag",
                                             marks=None, tooltip={"placement": "bottom"}, allow_direct_input=False),
                                  width=9),
                          dbc.Col(dbc.Input(id=I.MAP, type="number", min=0, max=63, step=1, value=0, size="sm"),
                                  width=3)], className="g-1 align-items-center")),
        dbc.Checkbox(id=I.WHOLE, label="whole layer (every one, a gallery)", value=False),
        _objective_controls(),
        dbc.Checkbox(id=I.NODE_ON, label="one node instead of the map mean", value=False),
        dbc.Row([dbc.Col(labelled("node x", dbc.Input(id=I.NODE_X, type="number", min=0, step=1, value=1))),
                 dbc.Col(labelled("node y", dbc.Input(id=I.NODE_Y, type="number", min=0, step=1, value=1)))]),
        labelled("Noise wavelengths (pixels): from … to", dcc.RangeSlider(
            id=I.WAVES, min=0, max=len(WAVELENGTHS) - 1, step=1, value=[0, 2], allowCross=False,
            marks={i: str(w) for i, w in enumerate(WAVELENGTHS)}, allow_direct_input=False)),
        dbc.Checkbox(id=I.MIX, label="mix the wavelengths into one noise", value=False),
        labelled("Start noise", dbc.RadioItems(id=I.NOISE, inline=True, value="lowpass", options=NOISES)),
        labelled("Seeds", dcc.Slider(id=I.SEEDS, min=1, max=MAX_SEEDS, step=1, value=2,
                                     marks={i: str(i) for i in range(1, MAX_SEEDS + 1)}, **slider)),
        labelled("Steps", dcc.Slider(id=I.STEPS, min=10, max=MAX_STEPS, step=10, value=60,
                                     marks={10: "10", 100: "100", 200: "200", 300: "300", 400: "400", 500: "500"},
                                     **slider)),
        labelled("Step size", dbc.Input(id=I.STEP_SIZE, type="number", min=0.01, max=10, step=0.01, value=0.1)),
        labelled("High-frequency suppression: blur every k steps (0 = off)",
                 dcc.Slider(id=I.BLUR, min=0, max=20, step=1, value=4, marks={0: "off", 4: "4", 10: "10", 20: "20"},
                            **slider)),
        labelled("Blur sigma (pixels)", dbc.Input(id=I.SIGMA, type="number", min=0.1, max=3, step=0.1, value=0.5)),
        labelled("Jitter (pixels)", dcc.Slider(id=I.JITTER, min=0, max=4, step=1, value=0, **slider)),
        method_control(I.METHOD),
        labelled("Keep the image a possible input (clip to the data's pixel range after each step)",
                 dbc.RadioItems(id=I.IN_RANGE, inline=True, value="auto", options=RANGES, className="small")),
        html.Div(id=I.LINKS, className="small mt-2"),
    )


def _objective_controls() -> html.Div:
    """The objective: one unit (the plain search) or one of cnnviz.objectives' modes, each with its own controls."""
    return html.Div([
        labelled("Objective", dbc.RadioItems(id=I.MODE, inline=True, value="unit", className="small",
                                             options=[{**o, "title": MODES[o["value"]]} for o in MODE_OPTIONS])),
        html.Div(id=I.MODE_BOX, className="small text-muted"),
        html.Div(labelled("Expression (units scaled by their typical activation)",
                          dbc.Input(id=I.EXPR, type="text", debounce=True, size="sm",
                                    value="Conv2D_3:13 + Conv2D_3:25")), id=f"{I.EXPR}-row"),
        html.Div(labelled("Diversity weight (1: the default strength)",
                          dbc.Input(id=I.DIVERSITY, type="number", min=0, max=100, step=0.1, value=1, size="sm")),
                 id=f"{I.DIVERSITY}-row"),
        html.Div(dbc.Row([dbc.Col(labelled("to unit B", dbc.Input(id=I.TO_MAP, type="number", min=0, step=1, value=1,
                                                                    size="sm"))),
                          dbc.Col(labelled("frames", dbc.Input(id=I.FRAMES, type="number", min=2, max=MAX_STRIP,
                                                               step=1, value=8, size="sm")))]), id=f"{I.TO_MAP}-row"),
    ])


MODE_HELP = {
    "unit": "",
    "negative": "Minimises the unit: for a ReLU unit its value before the ReLU (after it, a closed unit has no "
                "gradient). One image per seed.",
    "diversity": "The seeds' images are searched together and pushed apart (cosine of the first layer's maps), so "
                 "that they show the unit's different facets.",
    "expression": "A sum of units, e.g. Conv2D_3:13 - 0.5*Conv2D_3:25 or Dense_2:7 - Dense_2:1 (a 7 that is not a 1); "
                  "each unit's own search runs beside it, to say whether the units conflict.",
    "interpolation": "Frames from the chosen unit (A) to unit B, from one noise, neighbours kept alike.",
}


@dash.callback(Output(I.MODE_BOX, "children"), Output(f"{I.EXPR}-row", "style"), Output(f"{I.DIVERSITY}-row", "style"),
               Output(f"{I.TO_MAP}-row", "style"), Input(I.MODE, "value"))
def mode_controls(mode):
    """Only the chosen mode's own controls are shown; the others keep their values."""
    show = {"display": "block"}
    hide = {"display": "none"}
    mode = mode if mode in MODE_HELP else "unit"
    return (MODE_HELP[mode] + (" These modes use the true gradient (skip-dead): start from long-range noise for deep "
                               "maps." if mode != "unit" else ""),
            show if mode == "expression" else hide, show if mode == "diversity" else hide,
            show if mode == "interpolation" else hide)


def _results() -> list:
    return [
        dbc.Row([dbc.Col(dcc.Graph(id=I.LIVE, figure=figures.empty_figure("live frames of a run appear here"),
                                   config={"displayModeBar": False}), md=5),
                 dbc.Col(dcc.Graph(id=I.CURVE, figure=figures.empty_figure(), config={"displayModeBar": False}), md=4),
                 dbc.Col(dcc.Graph(id=I.SPECTRUM, config={"displayModeBar": False}), md=3)]),
        dbc.Checkbox(id=I.CONTRAST, value=False,
                     label="contrast-enhanced view beside the plain one (the articles' second view)"),
        html.Div(id=I.CONTRAST_VIEW),
        html.Div(id=I.SCRUB, className="small text-muted"),
        html.Div(id=I.RESULT),
        html.Div([dbc.Button("Download evolution (GIF)", id=I.GIF, size="sm", className="me-2", disabled=True),
                  dbc.Button("Download final images (PNG)", id=I.PNG, size="sm", disabled=True)], className="my-2"),
        dcc.Graph(id=I.GALLERY, style={"display": "none"}, figure=figures.empty_figure(),
                  config={"displayModeBar": False}),
    ]


def _request(model: str, form: dict) -> OIPRequest:
    return OIPRequest.from_form(info(model), **form)


def _node_box(request: OIPRequest, model: str) -> tuple[int, int, int, int] | None:
    """The receptive field (y0, y1, x0, x1) of the run's node, or None for a map-mean run."""
    if not request.node:
        return None
    i = info(model)
    return i.layer(request.layer).receptive.box(request.node[1], request.node[0], i.input_shape[:2])


def _animation(res: OIPResult, request: OIPRequest, model: str, sel: slice = slice(None)) -> dcc.Graph:
    fig = figures.make_oip_animation_figure(res.frames[:, sel], res.frame_steps, res.frame_activation()[sel],
                                            request.labels(info(model).class_names)[sel], _node_box(request, model))
    return dcc.Graph(figure=fig, id="oip-animation", config={"displayModeBar": False})


def _range_text(res: OIPResult) -> str:
    """How far the run's images are from possible inputs: their pixels outside the data's range."""
    out = res.out_of_range
    if not np.isfinite(out).all():
        return "The data's pixel range is unknown for this model."
    if float(out.max()) == 0:
        return "Every pixel of every image lies in the data's range: each OIP is a possible input."
    return (f"{100 * float(out.mean()):.1f} % of the pixels lie outside the data's range (0..1 once de-standardized; "
            f"at most {100 * float(out.max()):.1f} % in one image): such an OIP is not a possible input.")


def _objective_view(res: ObjectiveRun, request: OIPRequest, model: str) -> list:
    """What an objective reached: each unit's value against its typical size, the mode's own verdict, and the
    images as a strip (the facets, the interpolation's frames)."""
    o = res.objective
    terms = [f"{t.unit.layer}:{t.unit.index} {res.end_terms[:, k].mean():.3f} (typical {res.scales[k]:.3f})"
             for k, t in enumerate(o.terms)]
    verdict = ""
    if o.mode == "interpolation":
        share = res.share_a
        falls = bool(np.all(np.diff(share) < 0))
        verdict = (f" A's share a_A/(a_A + a_B): {share[0]:.2f} → {share[-1]:.2f}, "
                   + ("falling at every frame." if falls else "not falling at every frame: try more steps or a "
                      "higher alignment weight."))
    elif o.mode == "expression" and res.plain is not None:
        verdict = (" The units conflict: the sum leaves " + ", ".join(f"{u.layer}:{u.index}" for u in res.conflicts)
                   + " under half of its own plain OIP's value." if res.conflicts else
                   " Every positive unit reaches at least half of its own plain OIP's value (" +
                   ", ".join(f"{v:.3f}" for v in res.plain) + ").")
    labels = request.labels(info(model).class_names)
    strip = figures.make_oip_strip_figure(np.asarray(res.images, np.float32), labels, o.describe())
    return [alert([html.B(o.describe() + ": "), "mean value on the final images: " + "; ".join(terms) + "." + verdict],
                  "info", dismissable=False),
            dcc.Graph(figure=strip, config={"displayModeBar": False}, id="oip-strip")]


def _result_view(res: OIPResult | ObjectiveRun, request: OIPRequest, model: str) -> list:
    n = len(res.items)
    dead = 0 if isinstance(res, ObjectiveRun) else int((res.end_activation <= 1e-6).sum())  # a minimum is no death
    head = f"Shown: {model} · {request.describe(info(model).class_names)} · {n} searches, {res.loop_seconds:.1f} s"
    notes = [html.Div(head, className="small text-muted mb-1"), html.Div(_range_text(res), className="small mb-1")]
    if dead:
        notes.append(alert(f"{dead} of {n} searches ended dead (no gradient reached the input: the activation stayed "
                           "0); their tiles are marked “dead”.", "warning", dismissable=False))
    if request.whole:
        return notes
    if isinstance(res, ObjectiveRun):
        notes += _objective_view(res, request, model)
    out = [*notes, _animation(res, request, model)]
    box = _node_box(request, model)
    if box is not None:
        frames = np.asarray(res.frames, np.float32)
        change = [change_inside_outside(frames[0, i], frames[-1, i], box) for i in range(frames.shape[1])]
        inside, outside = np.mean([c[0] for c in change]), np.mean([c[1] for c in change])
        y0, y1, x0, x1 = box
        blur = " (off in this run)" if not request.config.blur_every else ""
        out.append(alert(f"Node ({request.node[0]}, {request.node[1]}) sees rows {y0}–{y1}, columns {x0}–{x1} (red). "
                         f"Change beyond re-standardization's rescaling (RMS): {inside:.3f} inside the field, "
                         f"{outside:.3f} outside. The gradient outside is exactly zero; what changes there comes "
                         f"from the blur{blur}.", "info", dismissable=False))
    return out


def _render(res: OIPResult, request: OIPRequest, model: str) -> tuple:
    """RESULT, GALLERY figure and style, GIF and PNG disabled, SCRUB."""
    gallery = figures.empty_figure()
    if request.whole:
        images, acts = res.best_per_map(request.per_map)
        gallery = figures.make_gallery_figure(images, acts, request.layer, request.unit,
                                              names=[request.unit_name(m, info(model).class_names) for m in request.maps])
    return (_result_view(res, request, model), gallery, {"display": "block" if request.whole else "none"}, False, False,
            None)


PAGE = jobs.JobPage(I, "oip", Shell.OIP_LAST, "search", CONTROLS, _request,
                    [Output(I.RESULT, "children", allow_duplicate=True), Output(I.GALLERY, "figure", allow_duplicate=True),
                     Output(I.GALLERY, "style", allow_duplicate=True), Output(I.GIF, "disabled", allow_duplicate=True),
                     Output(I.PNG, "disabled", allow_duplicate=True), Output(I.SCRUB, "children", allow_duplicate=True)],
                    _render, (None, figures.empty_figure(), {"display": "none"}, True, True, None))
CALLBACKS = jobs.register(PAGE)

_FILLED = [Output(cid, prop, allow_duplicate=True) for cid, prop in CONTROLS.values() if cid != I.LAYER]


@handled(Output(I.LAYER, "marks"), Output(I.LAYER, "max"), Output(I.LAYER, "value"), *_FILLED,
         Output(I.PENDING, "data", allow_duplicate=True), Output(I.INIT, "data"), Output(I.AUTORUN, "data"),
         Output(I.MESSAGE, "children", allow_duplicate=True),
         inputs=dict(model=Input(Shell.MODEL, "value"), pending=Input(I.PENDING, "data")),
         state=dict(init=State(I.INIT, "data"), last=State(Shell.OIP_LAST, "data"), form=PAGE.form_states()),
         message=I.MESSAGE, prevent_initial_call="initial_duplicate")
def fill_controls(model, pending, init, last, form):
    """The controls follow the model: its layers on the slider, and the map kept in range (with a note when it
    moves). Once the layers are known, a link's preset or "show the last result" is applied (and run, if the
    link says so); on coming back to the page, the controls are those of the session's last run on this model."""
    if model is None:
        raise PreventUpdate
    names = info(model).search_layers
    apply = jobs.pending_form(PAGE, model, pending, None if init else last)
    if apply is None and isinstance(pending, dict) and pending.get("model") not in (None, model):
        raise PreventUpdate  # a pending form for a model still on its way
    values = {**form, **(apply[0] if apply else {})}
    switched = init and ctx.triggered_id == Shell.MODEL and not apply
    maps = info(model).spatial_layers
    layer = layer_position(None if switched else values.get("layer"), names,
                           names.index(maps[-1]) if maps else len(names) - 1)
    row = info(model).layer(names[layer])
    values["map"], note = clamped(values.get("map"), row.maps - 1, {"map": "Map", "dense": "Unit"}.get(row.role, "Class"))
    given = apply[0] if apply else {}  # a link sets only what it names; a record sets every control
    filled = [values.get(name, no_update) if name in given or name == "map" else no_update
              for name, (cid, _) in CONTROLS.items() if cid != I.LAYER]
    autorun = time.time() if apply and apply[1] else no_update
    message = alert(note, "info") if note else no_update
    return (layer_marks(names), max(len(names) - 1, 0), layer, *filled, None if pending else no_update, True, autorun,
            message)


@handled(Output(I.MAP, "max"), Output(I.MAP_SLIDER, "max"), Output(I.NODE_X, "max"), Output(I.NODE_Y, "max"),
         Output(I.NODE_ON, "disabled"), Output(I.MAP_LABEL, "children"), Input(I.LAYER, "value"),
         Input(Shell.MODEL, "value"))
def limits(layer, model):
    """The map slider's range (and the node boxes') follow the layer; a dense layer has units, the output classes."""
    i = info(model)
    row = i.layer(layer_choice(layer, i.search_layers))
    h, w = row.output_shape[:2] if row.spatial else (1, 1)
    return row.maps - 1, row.maps - 1, w - 1, h - 1, not row.spatial, {"map": "Map", "dense": "Unit"}.get(row.role,
                                                                                                       "Class")


@dash.callback(Output(I.MAP, "value"), Output(I.MAP_SLIDER, "value"), Input(I.MAP, "value"),
               Input(I.MAP_SLIDER, "value"), prevent_initial_call=True)
def sync_map(box, slider):
    """The map slider and the box for an exact number show the same map."""
    if ctx.triggered_id == I.MAP_SLIDER:
        return (slider if slider != box else no_update), no_update
    try:
        v = int(box)
    except (TypeError, ValueError):
        return no_update, no_update
    return no_update, (v if v != slider else no_update)


@handled(Output(I.RESULT, "children", allow_duplicate=True), Output(I.SCRUB, "children", allow_duplicate=True),
         Output(I.LIVE, "figure", allow_duplicate=True), Output(I.CURVE, "figure", allow_duplicate=True),
         Input(I.MAP_SLIDER, "value"), State(I.SHOWN, "data"), message=I.RESULT, prevent_initial_call=True)
def scrub(map_, shown):
    """With a whole-layer result on screen, the map slider shows each map's OIPs and their evolution straight
    from that result (no new run), so a layer's maps can be scrubbed like frames; the strip and the curves at
    the top follow the map too."""
    found = jobs.shown_result(PAGE, shown)
    if found is None or not found[1].whole or not isinstance(map_, int | float) or not 0 <= int(map_) < len(found[1].maps):
        raise PreventUpdate
    res, request, model = found
    m, per = int(map_), request.per_map
    sel = slice(m * per, (m + 1) * per)
    labels = request.labels(info(model).class_names)[sel]
    name = request.unit_name(m, info(model).class_names)
    return ([*_result_view(res, request, model), _animation(res, request, model, sel)],
            f"{name} of {request.layer}, from the whole-layer result above (no new run)",
            figures.make_oip_strip_figure(np.asarray(res.images[sel], np.float32), labels,
                                          f"{name}: step {res.steps_done}"),
            figures.make_activation_curve_figure(res.frame_activation()[sel], labels, list(res.frame_steps)))


@handled(Output(I.MAP_SLIDER, "value", allow_duplicate=True), Input(I.GALLERY, "clickData"), State(I.SHOWN, "data"),
         prevent_initial_call=True)
def open_from_gallery(click, shown):
    """A gallery tile opens that map: the map slider moves to it and shows its searches from the same result."""
    m = custom_int(click)
    found = jobs.shown_result(PAGE, shown)
    if m is None or found is None or m >= len(found[1].maps):
        raise PreventUpdate
    return m


scroll_into_view(I.RESULT, Input(I.GALLERY, "clickData"), I.SCROLLED)


@handled(Output(I.LINKS, "children"), inputs=dict(model=Input(Shell.MODEL, "value"), form=PAGE.form_inputs()))
def insight_links(model, form):
    """Links to the Insight page's analyses of the chosen layer, map or node (layers of maps only)."""
    i = info(model)
    layer = layer_choice(form["layer"], i.search_layers)
    index = form["map"] if form["map"] is not None else 0
    unit = [dcc.Link("Its unit page", href=unit_href(model, layer, index, i.layer(layer).role), id=I.UNIT_LINK), "."]
    if layer not in i.spatial_layers:
        return [*unit, " The Insight analyses study layers of maps; a dense layer's units and the classes are "
                       "searched here."]
    node = {"node": f"{form['node_x']},{form['node_y']}"} if form["node_on"] else {}
    query = urlencode({"layer": layer, "map": form["map"] if form["map"] is not None else 0, **node})
    layer_q = urlencode({"layer": layer})
    return ["Insight: ", dcc.Link("this map beside real digits", href=f"/insight?analysis=exemplars&{query}"), " · ",
            dcc.Link("how well its OIPs are defined", href=f"/insight?analysis=reproducibility&{layer_q}"), " · ",
            dcc.Link("wavelength sweep of the layer", href=f"/insight?analysis=sweep&{layer_q}"), ". ", *unit]


@handled(Output(Shell.OIP_LAST, "data"), Output(I.MESSAGE, "children", allow_duplicate=True),
         Output(I.PROGRESS, "color", allow_duplicate=True), Output(I.PROGRESS, "value", allow_duplicate=True),
         Output(I.LIVE, "figure", allow_duplicate=True), Output(I.CURVE, "figure", allow_duplicate=True),
         Output(I.RESULT, "children", allow_duplicate=True),
         inputs=dict(n_clicks=Input(I.RUN, "n_clicks"), auto=Input(I.AUTORUN, "data")),
         state=dict(model=State(Shell.MODEL, "value"), form=PAGE.form_states()), message=I.MESSAGE,
         prevent_initial_call=True)
def remember(n_clicks, auto, model, form):
    """Notes the run in the session (a page switch during the run finds it again), and clears the previous run's
    message and live figures at once."""
    if not (n_clicks or auto):  # a remounted page (coming back) is no click
        raise PreventUpdate
    request = _request(model, form)
    return (PAGE.record(model, form, request), jobs.cache_problem(), "primary", 0,
            figures.empty_figure("starting…"), figures.empty_figure(), None)


def _live(set_progress, request: OIPRequest, labels: list[str]):
    """The progress callable of a run: the first searches' current images and their activation curves."""
    trail: list[tuple[int, np.ndarray]] = []
    live = slice(0, LIVE)

    def progress(r: OIPProgress) -> None:
        trail.append((r.step, r.activation[live]))
        curve = np.array([a for _, a in trail]).T
        set_progress((100 * r.step / r.steps, f"step {r.step}/{r.steps}",
                      figures.make_oip_strip_figure(r.images[live], labels[live], f"step {r.step}"),
                      figures.make_activation_curve_figure(curve, labels[live], [s for s, _ in trail])))

    return progress


@handled(Output(I.DONE, "data"), Output(I.PROGRESS, "color"), Output(I.MESSAGE, "children"),
         inputs=dict(n_clicks=Input(I.RUN, "n_clicks"), auto=Input(I.AUTORUN, "data")),
         state=dict(model=State(Shell.MODEL, "value"), form=PAGE.form_states(), session=State(Shell.SESSION, "data")),
         message=I.MESSAGE, background=True, interval=500,  # poll twice a second for live frames
         prevent_initial_call=True,
         # No Dash cancel: Cancel detaches this user from the engine job (jobs.register), and the run then ends
         # here as usual, with what was reached, so the page always says what happened.
         running=[(Output(I.RUN, "disabled"), True, False), (Output(I.CANCEL, "disabled"), False, True)],
         progress=[Output(I.PROGRESS, "value"), Output(I.PROGRESS, "label"), Output(I.LIVE, "figure"),
                   Output(I.CURVE, "figure")])
def run(set_progress, n_clicks, auto, model, form, session):
    """The search, as a background job: live previews through progress, the result cached on disk; the page
    shows it once it is done (``jobs.register``'s result that follows the controls)."""
    if not (n_clicks or auto):
        raise PreventUpdate
    svc = services()
    request, key, watcher = jobs.start(PAGE, model, form, session)
    labels = request.labels(info(model).class_names)
    res = svc.results.get(key)
    if res is None:
        set_progress((0, "starting…", figures.empty_figure("starting…"), figures.empty_figure()))
        # The engine runs the search as a detached job under this key and caches its result: if this relay
        # goes away (the page went away and came back), the search goes on; users asking at once share it.
        res = svc.engine.stream("oip", _live(set_progress, request, labels), key=key, watcher=watcher,
                                cache=svc.results.directory, model=model, items=request.items(), config=request.config,
                                **({"objective": request.objective} if request.objective else {}),
                                on_queued=lambda t: set_progress((0, t, figures.empty_figure(t), figures.empty_figure())))
    # The last state on screen, also when the run was faster than Dash's polling (or cached).
    steps = request.config.steps
    set_progress((100 * res.steps_done / steps, f"step {res.steps_done}/{steps}",
                  figures.make_oip_strip_figure(res.images[:LIVE], labels[:LIVE], f"step {res.steps_done}"),
                  figures.make_activation_curve_figure(res.frame_activation()[:LIVE], labels[:LIVE],
                                                       list(res.frame_steps))))
    record = jobs.finished(PAGE, model, form, request, res)
    if res.stopped:
        return record, "warning", alert(f"Stopped at step {res.steps_done}/{steps}: showing what was reached.",
                                        "warning")
    return record, "success", alert(f"Done: {res.steps_done} steps, {len(res.images)} searches, "
                                    f"{res.loop_seconds:.1f} s.", "success")


def _file_stem(request: OIPRequest, model: str) -> str:
    """A file name that says what it holds: oip-default-Conv2D_3-map13-lam1-4-lowpass-2seeds-60steps."""
    what = "all" if request.whole else f"{request.unit}{request.maps[0]}"
    waves = "-".join("+".join(f"{v:g}" for v in ws) for ws in request.wavelength_sets)
    node = f"-node{request.node[0]}_{request.node[1]}" if request.node else ""
    return (f"oip-{model}-{request.layer}-{what}{node}-lam{waves}-{request.noise}-{request.seeds}seeds-"
            f"{request.config.steps}steps")


@handled(Output(I.DOWNLOAD, "data"), Input(I.GIF, "n_clicks"), Input(I.PNG, "n_clicks"), State(I.SHOWN, "data"),
         prevent_initial_call=True)
def download(_gif, _png, shown):
    """The shown result as a labelled GIF (the evolution; at most 64 searches) or PNG (the final images)."""
    found = jobs.shown_result(PAGE, shown)
    if found is None:
        raise PreventUpdate
    res, request, model = found
    rgb = res.images.ndim == 4
    labels = request.labels(info(model).class_names)
    stem = _file_stem(request, model)
    if ctx.triggered_id == I.GIF:
        keep = slice(0, 64)
        data = gif_bytes(np.asarray(res.frames[:, keep], np.float32), rgb=rgb, labels=labels[keep],
                         values=res.frame_activation()[keep], steps=res.frame_steps)
        return dcc.send_bytes(data, f"{stem}.gif")
    tiles = to_uint8(np.asarray(res.images, np.float32), rgb=rgb)
    text = [f"{lab} · {a:.2f}" for lab, a in zip(labels, res.end_activation)]
    grid = labelled_grid(tiles, text, cols=min(8, len(tiles)), title=f"{model} · {request.describe()}")
    import io

    buf = io.BytesIO()
    grid.save(buf, format="PNG")
    return dcc.send_bytes(buf.getvalue(), f"{stem}.png")


@handled(Output(I.SPECTRUM, "figure"), Input(I.NOISE, "value"), Input(I.WAVES, "value"), Input(I.MIX, "value"),
         Input(Shell.MODEL, "value"), show=lambda text, _c: figures.empty_figure(text[:60]))
def show_noise(noise, waves, mix, model):
    """The start noise of seed 0 and the radial power spectrum of each family, for the chosen wavelengths,
    at the model's image size."""
    shape = info(model).image_shape
    chosen = wavelength_range(waves)
    sets = [chosen] if mix else [[w] for w in chosen]
    noise = noise if noise in FAMILIES else "lowpass"
    spectra = {f: np.mean([radial_spectrum(make_noise(s, ws, shape[:2], family=f)) for s in range(12) for ws in sets],
                          axis=0) for f in FAMILIES}
    return figures.make_noise_figure(make_noise(0, sets[-1], shape, family=noise), spectra, noise,
                                     "+".join(f"{w:g}" for w in sets[-1]))


@handled(Output(I.CONTRAST_VIEW, "children"), Input(I.CONTRAST, "value"), Input(I.SHOWN, "data"))
def show_contrast(on, shown):
    """The shown result's final images again, contrast-enhanced as in the articles."""
    found = jobs.shown_result(PAGE, shown) if on else None
    if found is None:
        return None
    res, request, model = found
    names = info(model).class_names
    if request.whole:
        images, labels = res.best_per_map(request.per_map)[0], [request.unit_name(m, names) for m in request.maps]
    else:
        images, labels = res.images, request.labels(names)
    images = np.asarray(images, np.float32)
    images = images.mean(-1) if images.ndim == 4 else images  # colour: the contrast of its brightness
    return dcc.Graph(figure=figures.make_contrast_figure(contrast_enhanced(images), labels[:len(images)]),
                     config={"displayModeBar": False})


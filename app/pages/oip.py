"""OIP lab: grow the input that drives a map (or node) hardest out of noise, and watch it emerge."""

from __future__ import annotations

from urllib.parse import urlencode

import dash
import dash_bootstrap_components as dbc
import numpy as np
from dash import Input, Output, State, callback, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from cnnviz.images import contrast_enhanced, gif_bytes, png_bytes, tile, to_uint8
from cnnviz.noise import FAMILIES, make_noise, radial_spectrum
from cnnviz.receptive import change_inside_outside

from .. import figures, jobs
from ..clicks import custom_int
from ..engine.results import OIPProgress, OIPRun
from ..ids import OIP as I
from ..ids import Shell
from ..services import services
from ..ui import alert, as_choice, as_float, as_int, card, failure, labelled, slider_choice

dash.register_page(__name__, path="/oip", name="OIP lab", order=4)

WAVELENGTHS = [1, 2, 4, 7, 14, 28]
MAX_SEEDS, MAX_STEPS, MAX_ITEMS, MAX_FRAMES = 8, 500, 1024, 40
LIVE = 8  # searches shown live
UNIT = {"map": "map", "dense": "unit", "output": "class"}  # what one search drives, by the layer's role


def _layers(model) -> list[str]:
    """The layers the lab offers, input side first: every layer of maps, the hidden dense layers
    (their units) and the output (its classes)."""
    return services().info(model).search_layers

def _preset_int(text, default: int) -> int:
    try:
        return max(0, int(str(text)))
    except ValueError:
        return default


def layout(layer: str | None = None, map: str | None = None, node: str | None = None, **_query):
    """The lab; ``?layer=Conv2D_3&map=13&node=1,1`` (links from the Insight page) presets it."""
    m = _preset_int(map, 0)
    xy = [_preset_int(v, 1) for v in str(node).split(",")[:2]] if node else [1, 1]
    xy = xy if len(xy) == 2 else [1, 1]
    return html.Div([
    dcc.Interval(id=I.POLL, interval=2000, disabled=True),
    dcc.Store(id=I.PRESET, data=str(layer)[:64] if layer else None),
    dcc.Store(id=I.KEY),
    dcc.Store(id=I.FOUND),
    dcc.Download(id=I.DOWNLOAD),
    dbc.Row([
        dbc.Col(card("Search",
            html.Div([dbc.ButtonGroup([dbc.Button("Run", id=I.RUN, color="primary"),
                                       dbc.Button("Cancel", id=I.CANCEL, color="secondary", disabled=True)]),
                      dbc.Progress(id=I.PROGRESS, value=0, label="", className="mt-2", style={"height": "1.2rem"}),
                      html.Div(id=I.MESSAGE)], className="action-bar"),
            labelled("Layer", dcc.Slider(id=I.LAYER, min=0, max=1, step=1, value=None, marks=None, included=False,
                                         allow_direct_input=False)),
            labelled("Map (drag to scrub through a whole-layer result)",
                     dbc.Row([dbc.Col(dcc.Slider(id=I.MAP_SLIDER, min=0, max=63, step=1, value=m, updatemode="drag",
                                                 marks=None, tooltip={"placement": "bottom"},
                                                 allow_direct_input=False), width=9),
                              dbc.Col(dbc.Input(id=I.MAP, type="number", min=0, max=63, step=1, value=m, size="sm"),
                                      width=3)], className="g-1 align-items-center")),
            dbc.Checkbox(id=I.WHOLE, label="whole layer (every map, gallery)", value=False),
            dbc.Checkbox(id=I.NODE_ON, label="one node instead of the map mean", value=bool(node)),
            dbc.Row([dbc.Col(labelled("node x", dbc.Input(id=I.NODE_X, type="number", min=0, step=1, value=xy[0]))),
                     dbc.Col(labelled("node y", dbc.Input(id=I.NODE_Y, type="number", min=0, step=1, value=xy[1])))]),
            labelled("Noise wavelengths (pixels): from … to", dcc.RangeSlider(
                id=I.WAVES, min=0, max=len(WAVELENGTHS) - 1, step=1, value=[0, 2], allowCross=False,
                marks={i: str(w) for i, w in enumerate(WAVELENGTHS)}, allow_direct_input=False)),
            dbc.Checkbox(id=I.MIX, label="mix the wavelengths into one noise", value=False),
            labelled("Start noise", dbc.RadioItems(id=I.NOISE, inline=True, value="lowpass", options=[
                {"label": "low-pass", "value": "lowpass"}, {"label": "band-pass", "value": "bandpass"},
                {"label": "multi-scale", "value": "mix"}])),
            labelled("Seeds", dcc.Slider(id=I.SEEDS, min=1, max=MAX_SEEDS, step=1, value=2,
                                         marks={i: str(i) for i in range(1, MAX_SEEDS + 1)}, allow_direct_input=True,
                                         tooltip={"placement": "bottom", "always_visible": False})),
            labelled("Steps", dcc.Slider(id=I.STEPS, min=10, max=MAX_STEPS, step=10, value=60,
                                         marks={10: "10", 100: "100", 200: "200", 300: "300", 400: "400", 500: "500"},
                                         allow_direct_input=True,
                                         tooltip={"placement": "bottom", "always_visible": False})),
            labelled("Step size", dbc.Input(id=I.STEP_SIZE, type="number", min=0.01, max=10, step=0.01, value=0.1)),
            labelled("High-frequency suppression: blur every k steps (0 = off)",
                     dcc.Slider(id=I.BLUR, min=0, max=20, step=1, value=4,
                                marks={0: "off", 4: "4", 10: "10", 20: "20"}, allow_direct_input=True,
                                         tooltip={"placement": "bottom", "always_visible": False})),
            labelled("Blur sigma (pixels)", dbc.Input(id=I.SIGMA, type="number", min=0.1, max=3, step=0.1, value=0.5)),
            labelled("Jitter (pixels)", dcc.Slider(id=I.JITTER, min=0, max=4, step=1, value=0, allow_direct_input=True,
                                         tooltip={"placement": "bottom", "always_visible": False})),
            html.Div(id=I.LINKS, className="small mt-2"),
        ), lg=4, xxl=3, className="controls"),
        dbc.Col([
            dbc.Row([dbc.Col(dcc.Graph(id=I.LIVE, figure=figures.empty_figure("press Run")), md=5),
                     dbc.Col(dcc.Graph(id=I.CURVE, figure=figures.empty_figure()), md=4),
                     dbc.Col(dcc.Graph(id=I.SPECTRUM, config={"displayModeBar": False}), md=3)]),
            dbc.Checkbox(id=I.CONTRAST, value=False,
                         label="contrast-enhanced view beside the plain one (the articles' second view)"),
            html.Div(id=I.CONTRAST_VIEW),
            html.Div(id=I.SCRUB, className="small text-muted"),
            html.Div(id=I.RESULT),
            html.Div([dbc.Button("Download evolution (GIF)", id=I.GIF, size="sm", className="me-2", disabled=True),
                      dbc.Button("Download final images (PNG)", id=I.PNG, size="sm", disabled=True)], className="my-2"),
            dcc.Graph(id=I.GALLERY, style={"display": "none"}),
        ], lg=8, xxl=9),
    ]),
    ])


def _params(model, layer, map_, whole, node_on, nx, ny, waves, mix, seeds, steps, step_size, blur, sigma, jitter,
            noise="lowpass") -> dict:
    """Checks every control (a crafted request can send anything) and returns the run's parameters."""
    info = services().info(model)
    layer = as_choice(layer_name(layer, model), "layer", info.search_layers)
    row = info.layer(layer)
    c = row.maps
    unit = UNIT[row.role]
    if node_on and not row.spatial:
        raise ValueError(f"{layer} has {unit}s, not maps of nodes: untick “one node”.")
    h, w = row.output_shape[:2] if row.spatial else (1, 1)
    waves = wavelengths(waves)
    p = {
        "layer": layer, "unit": unit, "maps": list(range(c)) if whole else [as_int(map_, unit, 0, c - 1)],
        "node": [as_int(nx, "node x", 0, w - 1), as_int(ny, "node y", 0, h - 1)] if node_on else None,
        "wavelength_sets": [sorted(waves)] if mix else [[v] for v in sorted(waves)],
        "seeds": as_int(seeds, "seeds", 1, MAX_SEEDS), "whole": bool(whole),
        "noise": as_choice(noise, "noise", list(FAMILIES)),
        "config": {"steps": as_int(steps, "steps", 1, MAX_STEPS), "step_size": as_float(step_size, "step size", 0.01, 10),
                   "blur_every": as_int(blur, "blur every", 0, 20), "blur_sigma": as_float(sigma, "blur sigma", 0.1, 3),
                   "jitter": as_int(jitter, "jitter", 0, 4)},
    }
    n = len(p["maps"]) * len(p["wavelength_sets"]) * p["seeds"]
    if n > MAX_ITEMS:
        raise ValueError(f"At most {MAX_ITEMS} searches per run (maps × wavelengths × seeds). Received: {n}")
    p["config"]["frame_every"] = max(1, -(-p["config"]["steps"] // MAX_FRAMES))
    return p


def layer_name(value, model) -> str | None:
    """The layer slider's position as a layer name (a name passes through)."""
    return slider_choice(value, _layers(model))


def wavelengths(value) -> list[int]:
    """The wavelength range slider's [from, to] positions as the wavelengths in that range."""
    try:
        lo, hi = (int(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"The wavelength range must be two positions in 0..{len(WAVELENGTHS) - 1}. "
                         f"Received: {value!r}") from None
    if not 0 <= lo <= hi < len(WAVELENGTHS):
        raise ValueError(f"The wavelength range must be two positions in 0..{len(WAVELENGTHS) - 1}, from ≤ to. "
                         f"Received: {[lo, hi]}")
    return WAVELENGTHS[lo:hi + 1]


def _items(p: dict) -> list[dict]:
    return [{"layer": p["layer"], "map": m, "seed": s, "wavelengths": tuple(ws), "node": p["node"],
             "noise": p.get("noise", "lowpass")}
            for m in p["maps"] for ws in p["wavelength_sets"] for s in range(p["seeds"])]


def _labels(p: dict) -> list[str]:
    unit = p.get("unit", "map")
    return [f"{unit} {it['map']} · λ={'+'.join(str(v) for v in it['wavelengths'])} · seed {it['seed']}" for it in _items(p)]


STATE = [State(Shell.MODEL, "value"), State(I.LAYER, "value"), State(I.MAP, "value"), State(I.WHOLE, "value"),
         State(I.NODE_ON, "value"), State(I.NODE_X, "value"), State(I.NODE_Y, "value"), State(I.WAVES, "value"),
         State(I.MIX, "value"), State(I.SEEDS, "value"), State(I.STEPS, "value"), State(I.STEP_SIZE, "value"),
         State(I.BLUR, "value"), State(I.SIGMA, "value"), State(I.JITTER, "value"), State(I.NOISE, "value")]


@callback(Output(I.LAYER, "marks"), Output(I.LAYER, "max"), Output(I.LAYER, "value"), Input(Shell.MODEL, "value"),
          State(I.PRESET, "data"))
def layer_choices(model, preset):
    """The layer slider's marks are the model's layers; the layer a link named, or the last layer of
    maps, is chosen first."""
    from .maps import layer_marks

    try:
        info = services().info(model)
    except Exception:  # noqa: BLE001 - no model: the run says why
        return None, 0, 0
    names = info.search_layers
    if preset in names:
        value = names.index(preset)
    else:
        value = names.index(info.spatial_layers[-1]) if info.spatial_layers else len(names) - 1
    return layer_marks(names), max(len(names) - 1, 0), value


@callback(Output(I.MAP, "max"), Output(I.MAP_SLIDER, "max"), Output(I.NODE_X, "max"), Output(I.NODE_Y, "max"),
          Output(I.NODE_ON, "disabled"), Input(I.LAYER, "value"), Input(Shell.MODEL, "value"))
def limits(layer, model):
    """The map slider's range (and the node boxes') follow the layer; a dense layer has no nodes."""
    try:
        row = services().info(model).layer(layer_name(layer, model))
        h, w = row.output_shape[:2] if row.spatial else (1, 1)
        return row.maps - 1, row.maps - 1, w - 1, h - 1, not row.spatial
    except Exception:  # noqa: BLE001 - leave the limits; the run validates again
        return no_update, no_update, no_update, no_update, no_update


@callback(Output(I.MAP, "value"), Output(I.MAP_SLIDER, "value"), Input(I.MAP, "value"), Input(I.MAP_SLIDER, "value"),
          prevent_initial_call=True)
def sync_map(box, slider):
    """The map slider and the box for an exact number show the same map."""
    if ctx.triggered_id == I.MAP_SLIDER:
        return (slider if slider != box else no_update), no_update
    try:
        v = int(box)
    except (TypeError, ValueError):
        return no_update, no_update
    return no_update, (v if v != slider else no_update)


@callback(Output(I.RESULT, "children", allow_duplicate=True), Output(I.SCRUB, "children"),
          Input(I.MAP_SLIDER, "value"), State(I.LAYER, "value"), State(I.KEY, "data"), State(Shell.OIP_LAST, "data"),
          State(Shell.MODEL, "value"), prevent_initial_call=True)
def scrub(map_, layer, key, last, model):
    """With a whole-layer result on screen, the map slider shows each map's OIPs and their evolution
    straight from that result (no new run), so a layer's maps can be scrubbed like frames."""
    if not isinstance(last, dict) or last.get("key") != key or not isinstance(map_, int | float):
        raise PreventUpdate
    p = last["params"]
    if not p.get("whole") or p.get("layer") != layer_name(layer, model) or not 0 <= int(map_) < len(p["maps"]):
        raise PreventUpdate
    res = services().result(key)
    if res is None:
        raise PreventUpdate
    return _map_view(res, p, int(map_), last.get("model", "default")), f"{p.get('unit', 'map')} {int(map_)} of {p['layer']}"


def _map_view(res: OIPRun, p: dict, m: int, model: str) -> list:
    """The animation of map ``m``'s searches out of a whole-layer result."""
    per_map = _per_map(p)
    sel = slice(m * per_map, (m + 1) * per_map)
    fig = figures.make_oip_animation_figure(res.frames[:, sel], res.frame_steps, res.activation[sel],
                                            _labels(p)[sel], _node_box(p, model))
    return [dcc.Graph(figure=fig, id="oip-animation")]


@callback(Output(I.LINKS, "children"), Input(I.LAYER, "value"), Input(I.MAP, "value"), Input(I.NODE_ON, "value"),
          Input(I.NODE_X, "value"), Input(I.NODE_Y, "value"), Input(Shell.MODEL, "value"))
def insight_links(layer, map_, node_on, nx, ny, model):
    """Links to the Insight page's analyses of the chosen layer, map or node (layers of maps only)."""
    try:
        layer = layer_name(layer, model)
        if layer not in services().info(model).spatial_layers:
            return "The Insight analyses study layers of maps; a dense layer's units and the classes are searched here."
    except Exception:  # noqa: BLE001 - no model yet
        return None
    query = urlencode({"layer": layer, "map": map_ if map_ is not None else 0,
                       **({"node": f"{nx},{ny}"} if node_on and nx is not None and ny is not None else {})})
    layer_q = urlencode({"layer": layer})
    return ["Insight: ", dcc.Link("this map beside real digits", href=f"/insight?analysis=exemplars&{query}"), " · ",
            dcc.Link("how well its OIPs are defined", href=f"/insight?analysis=reproducibility&{layer_q}"), " · ",
            dcc.Link("wavelength sweep of the layer", href=f"/insight?analysis=sweep&{layer_q}")]


@callback(Output(Shell.OIP_LAST, "data"), Output(I.MESSAGE, "children", allow_duplicate=True),
          Output(I.RESULT, "children", allow_duplicate=True), Output(I.GALLERY, "style", allow_duplicate=True),
          Output(I.PROGRESS, "color", allow_duplicate=True),
          Input(I.RUN, "n_clicks"), *STATE, prevent_initial_call=True)
def remember(n_clicks, model, *controls):
    """Notes the run in the session (a page switch during the run can find its result later), and
    clears the previous run's message and result."""
    if not n_clicks:  # a remounted page (coming back) is no click
        return (no_update,) * 5
    try:
        record, message = jobs.remember_run("oip", model, _params(model, *controls))
    except Exception:  # noqa: BLE001 - the run callback reports the error
        return (no_update,) * 5
    return record, None if message is no_update else message, None, {"display": "none"}, "primary"


def _node_box(p: dict, model: str) -> tuple[int, int, int, int] | None:
    """The receptive field (y0, y1, x0, x1) of the run's node, or None for a map-mean run."""
    if not p.get("node"):
        return None
    info = services().info(model)
    return info.layer(p["layer"]).receptive.box(p["node"][1], p["node"][0], info.input_shape[:2])


def _result_view(res: OIPRun, p: dict, model: str) -> list:
    labels = _labels(p)
    if p["whole"]:
        return [alert(f"{len(labels)} OIPs of {p['layer']} in {res.loop_seconds:.1f} s.", "success")]
    box = _node_box(p, model)
    fig = figures.make_oip_animation_figure(res.frames, res.frame_steps, res.activation, labels, box)
    out = [dcc.Graph(figure=fig, id="oip-animation")]
    if box is not None:
        frames = np.asarray(res.frames, np.float32)
        change = [change_inside_outside(frames[0, i], frames[-1, i], box) for i in range(frames.shape[1])]
        inside, outside = np.mean([c[0] for c in change]), np.mean([c[1] for c in change])
        y0, y1, x0, x1 = box
        out.append(alert(f"Node ({p['node'][0]}, {p['node'][1]}) sees rows {y0}–{y1}, columns {x0}–{x1} (red). "
                         f"Change beyond re-standardization's rescaling (RMS): {inside:.3f} inside the field, "
                         f"{outside:.3f} outside. The gradient outside is exactly zero; what changes there comes "
                         f"from the blur{' (off in this run)' if not p['config']['blur_every'] else ''}.", "info"))
    return out


def _per_map(p: dict) -> int:
    return len(p["wavelength_sets"]) * p["seeds"]


def _outputs(res: OIPRun, p: dict, key: str, model: str):
    gallery = (figures.make_gallery_figure(*res.best_per_map(_per_map(p)), p["layer"], p.get("unit", "map"))
               if p["whole"] else no_update)
    steps = p["config"]["steps"]
    message = (alert(f"Stopped at step {res.steps_done}/{steps}: showing what was reached.", "warning") if res.stopped
               else alert(f"Done: {res.steps_done} steps, {len(res.images)} searches, {res.loop_seconds:.1f} s.",
                          "success"))
    return (_result_view(res, p, model), gallery, {"display": "block"} if p["whole"] else {"display": "none"}, key,
            False, False, "warning" if res.stopped else "success", message)


@callback(Output(I.RESULT, "children"), Output(I.GALLERY, "figure"), Output(I.GALLERY, "style"), Output(I.KEY, "data"),
          Output(I.GIF, "disabled"), Output(I.PNG, "disabled"), Output(I.PROGRESS, "color"),
          Output(I.MESSAGE, "children"), Input(I.RUN, "n_clicks"), *STATE, State(Shell.SESSION, "data"),
          background=True, interval=500,  # poll twice a second for live frames
          prevent_initial_call=True,
          # No Dash cancel: Cancel detaches this user from the engine job (jobs.add_job_callbacks), and the
          # run then ends here as usual, with what was reached, so the page always says what happened.
          running=[(Output(I.RUN, "disabled"), True, False), (Output(I.CANCEL, "disabled"), False, True)],
          progress=[Output(I.PROGRESS, "value"), Output(I.PROGRESS, "label"), Output(I.LIVE, "figure"),
                    Output(I.CURVE, "figure")])
def run(set_progress, n_clicks, *controls):
    """The search, as a background job: live previews through progress, the result cached on disk."""
    if not n_clicks:  # a remounted page (coming back) is no click
        raise PreventUpdate
    *controls, session = controls
    model = controls[0]
    try:
        svc = services()
        p = _params(*controls)
        key = svc.key("oip", model, p)
        token = svc.sign(key)
        res = svc.results.get(key)
        live_items = slice(0, LIVE)
        if res is None:
            labels, trail = _labels(p), []

            def progress(r: OIPProgress) -> None:
                trail.append((r.step, r.activation[live_items]))
                curve = np.array([a for _, a in trail]).T
                set_progress((100 * r.step / r.steps, f"step {r.step}/{r.steps}",
                              figures.make_oip_strip_figure(r.images[live_items], labels[live_items],
                                                            f"step {r.step}"),
                              figures.make_activation_curve_figure(curve, labels[live_items],
                                                                   [s for s, _ in trail])))

            set_progress((0, "starting…", figures.empty_figure("starting…"), figures.empty_figure()))
            # The engine runs the search as a detached job under this key and caches its result:
            # if this relay goes away (the page went away and came back), the search goes on; users
            # asking for the same search at once share it.
            res = svc.engine.stream("oip", progress, key=key, watcher=svc.watch(key, session),
                                    cache=svc.results.directory, model=model, items=_items(p), config=p["config"])
        # The last state on screen, also when the run was faster than Dash's polling (or cached).
        set_progress((100 * res.steps_done / p["config"]["steps"], f"step {res.steps_done}/{p['config']['steps']}",
                      figures.make_oip_strip_figure(res.images[live_items], _labels(p)[live_items],
                                                    f"step {res.steps_done}"),
                      figures.make_activation_curve_figure(res.activation[live_items], _labels(p)[live_items])))
        return _outputs(res, p, token, model)
    except Exception as e:  # noqa: BLE001 - shown in the page
        return failure(e, 8)


jobs.add_job_callbacks(
    I, Shell.OIP_LAST, "search",
    [Output(I.RESULT, "children", allow_duplicate=True), Output(I.GALLERY, "figure", allow_duplicate=True),
     Output(I.GALLERY, "style", allow_duplicate=True), Output(I.KEY, "data", allow_duplicate=True),
     Output(I.GIF, "disabled", allow_duplicate=True), Output(I.PNG, "disabled", allow_duplicate=True),
     Output(I.PROGRESS, "color", allow_duplicate=True), Output(I.MESSAGE, "children", allow_duplicate=True)],
    _outputs)


@callback(Output(I.RESULT, "children", allow_duplicate=True), Output(I.LAYER, "value"),
          Output(I.MAP_SLIDER, "value", allow_duplicate=True), Input(I.GALLERY, "clickData"), State(I.KEY, "data"),
          State(Shell.OIP_LAST, "data"), State(Shell.MODEL, "value"), prevent_initial_call=True)
def open_from_gallery(click, key, last, model):
    """A gallery tile opens that map: its evolution from the gallery run, and the sliders set to it
    (the map slider then scrubs on through the same result)."""
    m = custom_int(click)
    p = last.get("params") if isinstance(last, dict) else None
    res = services().result(key) if p and last.get("key") == key else None
    if res is None or m is None or m >= len(p["maps"]):
        raise PreventUpdate
    layers = _layers(model)
    return _map_view(res, p, m, last.get("model", "default")), (layers.index(p["layer"]) if p["layer"] in layers
                                                                else no_update), m


@callback(Output(I.DOWNLOAD, "data"), Input(I.GIF, "n_clicks"), Input(I.PNG, "n_clicks"), State(I.KEY, "data"),
          prevent_initial_call=True)
def download(_gif, _png, key):
    res = services().result(key)
    if res is None:
        return no_update
    rgb = res.images.ndim == 4
    if ctx.triggered_id == I.GIF:
        return dcc.send_bytes(gif_bytes(np.asarray(res.frames, np.float32), rgb=rgb), "oip-evolution.gif")
    grid = tile(to_uint8(res.images, rgb=rgb), cols=min(8, len(res.images)))
    return dcc.send_bytes(png_bytes(grid, scale=4), "oip-final.png")


@callback(Output(I.SPECTRUM, "figure"), Input(I.NOISE, "value"), Input(I.WAVES, "value"), Input(I.MIX, "value"),
          Input(Shell.MODEL, "value"))
def show_noise(noise, waves, mix, model):
    """The start noise of seed 0 and the radial power spectrum of each family, for the chosen wavelengths,
    at the model's image size."""
    try:
        shape = services().info(model).image_shape
        chosen = wavelengths(waves)
        sets = [chosen] if mix else [[w] for w in chosen]
        noise = noise if noise in FAMILIES else "lowpass"
        spectra = {f: np.mean([radial_spectrum(make_noise(s, ws, shape[:2], family=f)) for s in range(12)
                               for ws in sets], axis=0) for f in FAMILIES}
        return figures.make_noise_figure(make_noise(0, sets[-1], shape, family=noise), spectra, noise,
                                         "+".join(f"{w:g}" for w in sets[-1]))
    except (ValueError, KeyError) as e:
        return figures.empty_figure(str(e)[:60])


@callback(Output(I.CONTRAST_VIEW, "children"), Input(I.CONTRAST, "value"), Input(I.KEY, "data"),
          State(Shell.OIP_LAST, "data"))
def show_contrast(on, key, last):
    """The shown result's final images again, contrast-enhanced as in the articles."""
    res = services().result(key) if on and key else None
    if res is None or not isinstance(last, dict) or last.get("key") != key:
        return None
    p = last["params"]
    images, labels = (res.best_per_map(_per_map(p))[0], [f"{p.get('unit', 'map')} {m}" for m in p["maps"]]) \
        if p["whole"] else (res.images, _labels(p))
    images = np.asarray(images, np.float32)
    images = images.mean(-1) if images.ndim == 4 else images  # colour: the contrast of its brightness
    return dcc.Graph(figure=figures.make_contrast_figure(contrast_enhanced(images), labels[:len(images)]),
                     config={"displayModeBar": False})

"""Insight: wavelength sweep, how well an OIP is defined, OIPs beside real digits, two models compared."""

from __future__ import annotations

from urllib.parse import urlencode

import dash
import dash_ag_grid as dag
import dash_bootstrap_components as dbc
import numpy as np
from dash import Input, Output, State, callback, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from cnnviz.images import png_bytes, tile, to_uint8
from cnnviz.store import csv_text

from .. import insight_figures as fig
from .. import jobs
from ..clicks import click_point, custom_int
from ..engine.results import InsightRun
from ..ids import Insight as I
from ..ids import Shell
from ..services import services
from ..ui import alert, as_choice, as_int, card, failure, labelled

dash.register_page(__name__, path="/insight", name="Insight", order=5)

WAVELENGTHS = [1, 2, 4, 7, 14, 28]
MAX_SEEDS, MAX_STEPS, MAX_K, MAX_SEARCHES = 8, 500, 32, 4096
REDIRECT_STEPS = 20
NOISES = [{"label": "low-pass", "value": "lowpass"}, {"label": "band-pass", "value": "bandpass"},
          {"label": "multi-scale", "value": "mix"}]
ANALYSES = {
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
             "Each map's reproducibility in every setting (the three noise families × the chosen wavelengths × the "
             "seed's method and the redirected ReLU), ranked; the candidate is the map with the best worst-case rank, "
             "shown with its OIP from every setting."),
}


def _int(text, default: int) -> int:
    try:
        return int(str(text))
    except ValueError:
        return default


def layout(analysis: str | None = None, layer: str | None = None, map: str | None = None, node: str | None = None,
           b: str | None = None, **_query):
    """The page; ``?analysis=exemplars&layer=Conv2D_3&map=5&node=1,2`` (links from the OIP lab) or
    ``?analysis=compare&b=<second model>`` presets it."""
    preset = analysis if analysis in ANALYSES else None  # a link asked for this analysis
    models = services().models()
    b = b if b in models else None
    analysis = preset or "sweep"
    xy = [_int(v, 0) for v in str(node).split(",")[:2]] if node else [1, 1]
    xy = xy if len(xy) == 2 else [1, 1]
    return html.Div([
        dcc.Interval(id=I.POLL, interval=2000, disabled=True),
        dcc.Store(id=I.KEY),
        dcc.Store(id=I.FOUND),
        dcc.Store(id=I.PRESET, data=preset),
        dcc.Store(id=I.PRESET_LAYER, data=str(layer)[:64] if layer else None),
        dcc.Download(id=I.DOWNLOAD),
        dbc.Row([
            dbc.Col(card("Analysis",
                html.Div([dbc.ButtonGroup([dbc.Button("Run", id=I.RUN, color="primary"),
                                           dbc.Button("Cancel", id=I.CANCEL, color="secondary", disabled=True)]),
                          dbc.Progress(id=I.PROGRESS, value=0, label="", className="mt-2", style={"height": "1.2rem"}),
                          html.Div(id=I.MESSAGE)], className="action-bar"),
                dbc.RadioItems(id=I.ANALYSIS, value=analysis,
                               options=[{"label": name, "value": k} for k, (name, _) in ANALYSES.items()]),
                html.P(id=I.HELP, className="small text-muted mt-2"),
                labelled("Layer", dcc.Dropdown(id=I.LAYER, options=[], clearable=False)),
                html.Div(id=I.TARGET, children=[
                    labelled("Map", dbc.Input(id=I.MAP, type="number", min=0, step=1, value=max(0, _int(map, 0)))),
                    dbc.Checkbox(id=I.NODE_ON, label="one node instead of the map mean", value=bool(node)),
                    dbc.Row([dbc.Col(labelled("node x", dbc.Input(id=I.NODE_X, type="number", min=0, step=1, value=xy[0]))),
                             dbc.Col(labelled("node y", dbc.Input(id=I.NODE_Y, type="number", min=0, step=1,
                                                                  value=xy[1])))]),
                ]),
                html.Div(id=I.TOPK, children=labelled("Top images (k)", dbc.Input(id=I.K, type="number", min=1,
                                                                                  max=MAX_K, step=1, value=9))),
                html.Div(id=I.OTHER, children=labelled("Second model (B)", dcc.Dropdown(id=I.MODEL_B, clearable=False,
                                                                                options=models, value=b))),
                labelled("Noise wavelengths (pixels)", dbc.Checklist(
                    id=I.WAVES, inline=True, value=[1, 2, 4, 7, 14],
                    options=[{"label": str(w), "value": w} for w in WAVELENGTHS])),
                labelled("Seeds per wavelength", dcc.Slider(id=I.SEEDS, min=1, max=MAX_SEEDS, step=1, value=2,
                                                            marks={i: str(i) for i in range(1, MAX_SEEDS + 1)})),
                labelled("Steps per search", dcc.Slider(id=I.STEPS, min=10, max=MAX_STEPS, step=10, value=60,
                                                        marks={10: "10", 60: "60", 200: "200", 500: "500"})),
                labelled("Start noise", dbc.RadioItems(id=I.NOISE, inline=True, value="lowpass", options=NOISES)),
                dbc.Checkbox(id=I.REDIRECT, value=True,
                             label=f"wake dead maps: redirected ReLU for the first {REDIRECT_STEPS} steps, and "
                                   "after while a search is still at zero (off: the seed's method)"),
            ), lg=4, xxl=3, className="controls"),
            dbc.Col([
                html.Div([dbc.Button("Export numbers (CSV)", id=I.CSV, size="sm", className="me-2", disabled=True),
                          dbc.Button("Export gallery (PNG)", id=I.PNG, size="sm", disabled=True)], className="mb-2"),
                html.Div(id=I.RESULT, children=dbc.Alert("Choose an analysis and press Run. Results are cached: "
                                                         "the same request again is instant.", color="light")),
                html.Div(id=I.DETAIL),
            ], lg=8, xxl=9),
        ]),
    ])


@callback(Output(I.HELP, "children"), Output(I.TARGET, "style"), Output(I.TOPK, "style"), Output(I.OTHER, "style"),
          Input(I.ANALYSIS, "value"))
def show_controls(analysis):
    show = lambda on: {} if on else {"display": "none"}
    return (ANALYSES.get(analysis, ("", ""))[1], show(analysis == "exemplars"), show(analysis == "exemplars"),
            show(analysis == "compare"))


@callback(Output(I.LAYER, "options"), Output(I.LAYER, "value"), Input(Shell.MODEL, "value"), State(I.LAYER, "value"),
          State(I.PRESET_LAYER, "data"))
def layer_options(model, current, preset):
    """The model's layers of maps; the layer a link named, else the last one."""
    try:
        names = services().info(model).spatial_layers
    except Exception:  # noqa: BLE001 - no model: the run says why
        return [], None
    for choice in (current, preset):
        if choice in names:
            return names, choice
    return names, names[-1] if names else None


@callback(Output(I.MODEL_B, "options"), Output(I.MODEL_B, "value"), Input(Shell.MODEL, "value"),
          State(I.MODEL_B, "value"))
def second_model(model, current):
    names = services().models()
    if current in names:
        return names, no_update
    others = [n for n in names if n != model]
    return names, (others[0] if others else model)


def _params(model, analysis, layer, map_, node_on, nx, ny, model_b, waves, seeds, steps, k, redirect,
            noise="lowpass") -> dict:
    """Checks every control (a crafted request can send anything); only what the analysis uses is kept."""
    svc = services()
    analysis = as_choice(analysis, "analysis", list(ANALYSES))
    info = svc.info(model)
    layer = as_choice(layer, "layer", info.spatial_layers)
    h, w, c = info.layer(layer).output_shape
    waves = sorted(as_choice(v, "wavelength", WAVELENGTHS) for v in (waves or []))
    if not waves:
        raise ValueError("Choose at least one noise wavelength.")
    p = {"analysis": analysis, "layer": layer, "wavelengths": waves, "seeds": as_int(seeds, "seeds", 1, MAX_SEEDS),
         "steps": as_int(steps, "steps", 1, MAX_STEPS), "redirect_steps": REDIRECT_STEPS if redirect else 0,
         "noise": as_choice(noise, "noise", [o["value"] for o in NOISES])}
    searches = c * len(waves) * p["seeds"]
    if analysis == "reproducibility" and len(waves) * p["seeds"] < 2:
        raise ValueError("A reproducibility score compares at least 2 searches per map: choose 2 seeds or more, "
                         "or several wavelengths.")
    if analysis == "exemplars":
        p.update(map=as_int(map_, "map", 0, c - 1), k=as_int(k, "k", 1, MAX_K),
                 node=[as_int(nx, "node x", 0, w - 1), as_int(ny, "node y", 0, h - 1)] if node_on else None)
        searches = len(waves) * p["seeds"]
    if analysis == "hand":
        if p["seeds"] < 2:
            raise ValueError("The Hand of MNIST compares at least 2 searches per map and setting: choose 2 seeds or "
                             "more.")
        p.pop("noise")  # every family runs
        p["redirect_steps"] = REDIRECT_STEPS  # both methods run
        searches = c * len(waves) * p["seeds"] * 3 * 2
    if analysis == "compare":
        p.update(model_b=as_choice(model_b, "second model", svc.models()), images=10000)
        p["model_b_hash"] = svc.model_hash(p["model_b"])  # the cache key follows B's content too
        searches = 2 * c * len(waves) * p["seeds"]
    if searches > MAX_SEARCHES:
        raise ValueError(f"At most {MAX_SEARCHES} OIP searches per analysis (maps × wavelengths × seeds). "
                         f"Received: {searches}")
    return p


STATE = [State(Shell.MODEL, "value"), State(I.ANALYSIS, "value"), State(I.LAYER, "value"), State(I.MAP, "value"),
         State(I.NODE_ON, "value"), State(I.NODE_X, "value"), State(I.NODE_Y, "value"), State(I.MODEL_B, "value"),
         State(I.WAVES, "value"), State(I.SEEDS, "value"), State(I.STEPS, "value"), State(I.K, "value"),
         State(I.REDIRECT, "value"), State(I.NOISE, "value")]


@callback(Output(Shell.INSIGHT_LAST, "data"), Output(I.MESSAGE, "children", allow_duplicate=True),
          Output(I.RESULT, "children", allow_duplicate=True), Output(I.DETAIL, "children", allow_duplicate=True),
          Output(I.PROGRESS, "color", allow_duplicate=True),
          Input(I.RUN, "n_clicks"), *STATE, prevent_initial_call=True)
def remember(n_clicks, model, *controls):
    """Notes the run in the session (coming back to the page finds its result), and clears the
    previous analysis, its detail pane and its message."""
    if not n_clicks:
        return (no_update,) * 5
    try:
        record, message = jobs.remember_run("insight", model, _params(model, *controls))
    except Exception:  # noqa: BLE001 - the run callback reports the error
        return (no_update,) * 5
    return record, None if message is no_update else message, None, None, "primary"


def _pct(v: float) -> str:
    return f"{100 * v:.1f} %"


def _grid(rows: list[dict], columns: list[tuple[str, str, str | None]], sort: str, row_id: str,
          direction: str = "desc") -> dag.AgGrid:
    """A sortable table; ``columns`` are (field, header, number format or None)."""
    defs = [{"field": f, "headerName": h, **({"valueFormatter": {"function": f"d3.format('{fmt}')(params.value)"}}
                                              if fmt else {})} for f, h, fmt in columns]
    defs[[c[0] for c in columns].index(sort)]["sort"] = direction
    rows = [{**r, "row_id": str(r[row_id])} for r in rows]  # AG Grid wants string row ids
    return dag.AgGrid(id=I.TABLE, rowData=rows, columnDefs=defs, getRowId="params.data.row_id",
                      defaultColDef={"sortable": True, "resizable": True, "flex": 1, "sortingOrder": ["desc", "asc"]},
                      dashGridOptions={"rowSelection": {"mode": "singleRow", "checkboxes": False}, "animateRows": False},
                      style={"height": "300px"}, className="mb-3")


def _sweep_view(res: InsightRun, p: dict) -> list:
    s = res["summary"]
    dead = ", ".join(f"λ={w}: {_pct(s['dead_at_start'][w])} at the start, {_pct(v)} at the end"
                     + (f" ({_pct(s['dead_at_end_redirected'][w])} redirected)" if "dead_at_end_redirected" in s else "")
                     for w, v in s["dead_at_end"].items())
    only = s.get("awake_at_start_only_for", {})
    best = np.asarray(res["best_wavelength"])
    counts = ", ".join(f"λ={w:g}: {int((best == w).sum())}" for w in res["wavelengths"])
    images = np.asarray(res["images"], np.float32)
    best_img = images[np.arange(len(res["maps"])), np.asarray(res["mean_activation"]).argmax(1)]
    return [
        alert(f"{p['layer']}, {s['noise']} noise: {len(res['maps'])} maps × {len(res['wavelengths'])} wavelengths × "
              f"{p['seeds']} seeds, each search its own noise, in {s['seconds']:.1f} s. Dead searches per wavelength "
              f"(the seed's method): {dead}. Maps that only some wavelengths wake at the start: "
              f"{', '.join(f'{m} (λ={chr(44).join(ws)})' for m, ws in only.items()) or 'none'}. Best wavelength per "
              f"map: {counts}.", "info"),
        dcc.Graph(id=I.SWEEP, figure=fig.make_sweep_figure(res["mean_activation"], res["dead"], res["maps"],
                                                                   res["wavelengths"], p["layer"])),
        dcc.Graph(figure=fig.make_dead_fraction_figure(s, res["mean_activation"], res["wavelengths"])),
        dcc.Graph(figure=fig.make_tiles_figure(best_img, [f"map {m} · λ={w:g}" for m, w in zip(res["maps"], best)],
                                               "Each map's OIP at its best wavelength (best seed)", cols=16)),
    ]


def _repro_view(res: InsightRun, p: dict) -> list:
    s = res["summary"]
    order = np.asarray(res["order"])
    images = np.asarray(res["images"], np.float32)
    act = np.asarray(res["activation"])
    best = images[np.arange(len(images)), act.argmax(1)]
    rows = [{**r, "spread": r["spread"] if r["spread"] is not None else float("nan")} for r in res["rows"]]
    return [
        alert(f"Most reproducible map of {p['layer']} in this setting: map {s['most_reproducible_map']} (score "
              f"{s['most_reproducible_score']:.3f}; the top scores lie close, see their 95 % intervals, and the "
              f"Hand of MNIST analysis picks across settings). Mean score "
              f"{s['mean_score']:.3f} over {s['maps']} maps, {s['searches_per_map']} searches each, aligned by shifts "
              f"of up to {s['max_shift']} px (the layer's jump). Spread = std/mean of the activation reached.", "info"),
        _grid(rows, [("map", "map", None), ("score", "score", ".3f"), ("score_ci95_low", "95 % from", ".3f"),
                     ("score_ci95_high", "to", ".3f"), ("mean_activation", "mean activation", ".3f"),
                     ("spread", "spread", ".3f"), ("min_activation", "min", ".3f"), ("max_activation", "max", ".3f")],
              "score", "map"),
        dcc.Graph(figure=fig.make_tiles_figure(best[order], [f"map {res['maps'][i]} · {res['score'][i]:.2f}"
                                                             for i in order],
                                               "OIPs ordered by reproducibility score (best activation of each map)",
                                               cols=16 if len(order) > 32 else 8)),
    ]


def _lab_link(layer: str, map_: int, node=None) -> html.Div:
    """Hands the map (or node) over to the OIP lab, preset by its query string."""
    query = urlencode({"layer": layer, "map": map_, **({"node": f"{node[0]},{node[1]}"} if node else {})})
    return html.Div(dcc.Link(f"Open {layer} map {map_} in the OIP lab", href=f"/oip?{query}", id=I.LAB_LINK),
                    className="small mb-2")


def _exemplars_view(res: InsightRun, p: dict) -> list:
    s = res["summary"]
    names = res["class_names"]
    target = f"node ({p['node'][0]}, {p['node'][1]}) of map {p['map']}" if p.get("node") else f"map {p['map']}"
    ratio = "∞ (no test image drives it at all)" if s["ratio"] is None else f"{s['ratio']:.2f}"
    captions = [f"OIP · {s['oip_activation']:.2f}"] + [f"#{i} {names[lab]} · {a:.2f}" for i, lab, a in
                                                        zip(res["indices"], res["labels"], res["activation"])]
    images = np.concatenate([np.asarray(res["oip"], np.float32)[None], np.asarray(res["images"], np.float32)])
    patch_caps = [f"#{i} ({n[0]},{n[1]}) · {a:.2f}" for i, n, a in
                  zip(res["patch_indices"], res["patch_nodes"], res["patch_activation"])]
    return [
        alert(f"{p['layer']} {target}: the OIP reaches {s['oip_activation']:.3f}; the best test image (#"
              f"{s['best_image_index']}) reaches {s['best_image_activation']:.3f}: ratio {ratio}. Strongest single "
              f"node: {s['oip_node_activation']:.3f} on the OIP vs {s['best_patch_activation']:.3f} on a real patch.",
              "info"),
        _lab_link(p["layer"], p["map"], p.get("node")),
        dcc.Graph(figure=fig.make_tiles_figure(images, captions, "The OIP and the test images that drive it hardest",
                                               cols=min(len(images), 10))),
        dcc.Graph(figure=fig.make_tiles_figure(res["patches"], patch_caps,
                                               "The strongest patches: each a receptive field of one node "
                                               "(test image, node x,y, activation)", cols=min(len(patch_caps), 10),
                                               tile_px=80)),
    ]


def _compare_view(res: InsightRun, p: dict, model: str) -> list:
    s = res["summary"]
    silent = (f" Maps that never fire on the test set: A {s['silent_a'] or 'none'}, B {s['silent_b'] or 'none'}."
              if s["silent_a"] or s["silent_b"] else "")
    order = np.argsort(-np.asarray(res["matched"]), kind="stable")
    a, b = np.asarray(res["a"]), np.asarray(res["b"])
    pair_images = np.stack([np.asarray(res[k], np.float32)[idx] for i in order
                            for k, idx in (("oip_a", a[i]), ("oip_b", b[i]))])
    caps = [c for i in order for c in (f"A {a[i]}", f"B {b[i]} · r={res['matched'][i]:.2f}")]
    preserved = "preserved" if s["order_correlation"] > 0.9 else "not preserved"
    return [
        alert(f"{model} (A) vs {p['model_b']} (B), {p['layer']}: mean matched correlation "
              f"{s['mean_matched_correlation']:.3f} (median {s['median_matched_correlation']:.3f}); "
              f"{_pct(s['close_fraction'])} of A's maps have a close partner (r ≥ {s['close_threshold']}). "
              f"Order {preserved}: {_pct(s['same_index_fraction'])} matched to the same index, rank correlation "
              f"{s['order_correlation']:.2f}.{silent}", "info"),
        dcc.Graph(id=I.CORRELATION, figure=fig.make_correlation_figure(res["correlation"], a[order], b[order],
                                                                        p["layer"])),
        _grid(res["rows"], [("map_a", "A map", None), ("map_b", "B map", None), ("correlation", "r", ".3f")],
              "correlation", "map_a"),
        dcc.Graph(figure=fig.make_tiles_figure(pair_images, caps, "Matched pairs side by side (A's OIP, then B's), "
                                               "best match first", cols=16, show_captions=False)),
    ]


def _outputs(res: InsightRun, p: dict, key: str, model: str):
    views = {"sweep": _sweep_view, "reproducibility": _repro_view, "exemplars": _exemplars_view, "hand": _hand_view}
    if res.stopped:
        return (None, key, True, True, "warning",
                alert(f"Stopped: the {ANALYSES[p['analysis']][0].lower()} was cancelled before it finished, and a "
                      "partial analysis is not shown. Press Run to start it again.", "warning"))
    view = _compare_view(res, p, model) if p["analysis"] == "compare" else views[p["analysis"]](res, p)
    return view, key, False, False, "success", None


@callback(Output(I.RESULT, "children"), Output(I.KEY, "data"), Output(I.CSV, "disabled"), Output(I.PNG, "disabled"),
          Output(I.PROGRESS, "color"), Output(I.MESSAGE, "children"), Input(I.RUN, "n_clicks"), *STATE,
          State(Shell.SESSION, "data"),
          background=True, interval=500, prevent_initial_call=True,
          # No Dash cancel: Cancel detaches this user from the engine job, and the run ends here saying so.
          running=[(Output(I.RUN, "disabled"), True, False), (Output(I.CANCEL, "disabled"), False, True)],
          progress=[Output(I.PROGRESS, "value"), Output(I.PROGRESS, "label")])
def run(set_progress, n_clicks, *controls):
    """The analysis as a background job in the engine; the result cached on disk by model hash and parameters."""
    if not n_clicks:
        raise PreventUpdate
    *controls, session = controls
    model = controls[0]
    try:
        svc = services()
        p = _params(*controls)
        key = svc.key("insight", model, p)
        res = svc.results.get(key)
        if res is None:
            set_progress((0, "starting…"))
            params = {k: v for k, v in p.items() if k not in ("analysis", "model_b_hash")}
            res = svc.engine.stream("insight", lambda r: set_progress((100 * r.fraction, r.stage)), key=key,
                                    watcher=svc.watch(key, session), cache=svc.results.directory, model=model,
                                    analysis=p["analysis"], params=params)
        set_progress((100, "done") if not res.stopped else (no_update, "stopped"))
        return _outputs(res, p, svc.sign(key), model)
    except Exception as e:  # noqa: BLE001 - shown in the page
        return failure(e, 6)


jobs.add_job_callbacks(
    I, Shell.INSIGHT_LAST, "analysis",
    [Output(I.RESULT, "children", allow_duplicate=True), Output(I.KEY, "data", allow_duplicate=True),
     Output(I.CSV, "disabled", allow_duplicate=True), Output(I.PNG, "disabled", allow_duplicate=True),
     Output(I.PROGRESS, "color", allow_duplicate=True), Output(I.MESSAGE, "children", allow_duplicate=True),
     Output(I.ANALYSIS, "value")],
    lambda res, p, key, model: (*_outputs(res, p, key, model), p["analysis"]),
    # a link that asks for another analysis than the last run's opens that analysis instead
    accept=(I.PRESET, lambda last, preset: not preset or last.get("params", {}).get("analysis") == preset))


def _shown(key, last) -> tuple[InsightRun, dict] | None:
    res = services().result(key)
    if res is None or not isinstance(last, dict) or last.get("key") != key:
        return None
    return res, last["params"]


@callback(Output(I.DETAIL, "children"), Input(I.TABLE, "cellClicked"), State(I.KEY, "data"),
          State(Shell.INSIGHT_LAST, "data"), prevent_initial_call=True)
def table_detail(cell, key, last):
    """A row of the reproducibility table shows that map's OIPs; a row of the pairs table, that pair."""
    shown = _shown(key, last)
    if not cell or shown is None:
        raise PreventUpdate
    res, p = shown
    try:
        row = int(cell["rowId"])
    except (KeyError, TypeError, ValueError):
        raise PreventUpdate from None
    if p["analysis"] == "reproducibility" and row in res["maps"]:
        i = res["maps"].index(row)
        caps = [f"{lab} · {a:.2f}" for lab, a in zip(res["labels"], res["activation"][i])]
        return dcc.Graph(figure=fig.make_tiles_figure(np.asarray(res["images"][i], np.float32), caps,
                                                      f"Map {row}: every search (score {res['score'][i]:.3f})"))
    if p["analysis"] == "compare" and row in list(res["a"]):
        return _pair(res, row, int(res["b"][list(res["a"]).index(row)]))
    raise PreventUpdate


def _pair(res: InsightRun, i: int, j: int):
    """Map ``i`` of model A beside map ``j`` of model B: their OIPs and the correlation of their activations."""
    matched = "a matched pair" if int(res["b"][list(res["a"]).index(i)]) == j else "not a matched pair"
    images = np.stack([np.asarray(res["oip_a"][i], np.float32), np.asarray(res["oip_b"][j], np.float32)])
    return dcc.Graph(figure=fig.make_tiles_figure(images, [f"A map {i}", f"B map {j}"],
                                                  f"A {i} ↔ B {j}: r = {res['correlation'][i][j]:.3f} ({matched})",
                                                  tile_px=220))


@callback(Output(I.DETAIL, "children", allow_duplicate=True), Input(I.CORRELATION, "clickData"),
          State(I.KEY, "data"), State(Shell.INSIGHT_LAST, "data"), prevent_initial_call=True)
def pair_detail(click, key, last):
    """A cell of the correlation heatmap shows that pair of maps."""
    shown = _shown(key, last)
    if shown is None or shown[1]["analysis"] != "compare":
        raise PreventUpdate
    a, b = custom_int(click, 0), custom_int(click, 1)
    if a is None or b is None or "oip_a" not in shown[0].data:
        raise PreventUpdate
    return _pair(shown[0], a, b)


@callback(Output(I.DETAIL, "children", allow_duplicate=True), Input(I.SWEEP, "clickData"),
          State(I.KEY, "data"), State(Shell.INSIGHT_LAST, "data"), prevent_initial_call=True)
def sweep_detail(click, key, last):
    """A cell of the sweep heatmap shows that map's best OIP at every wavelength."""
    shown = _shown(key, last)
    if not click or shown is None or shown[1]["analysis"] != "sweep":
        raise PreventUpdate
    res, p = shown
    point = click_point(click)
    try:
        i = res["maps"].index(int(point.x))
    except (AttributeError, KeyError, IndexError, TypeError, ValueError):
        raise PreventUpdate from None
    caps = [f"λ={w:g} · {a:.2f}" for w, a in zip(res["wavelengths"], res["mean_activation"][i])]
    return dcc.Graph(figure=fig.make_tiles_figure(np.asarray(res["images"][i], np.float32), caps,
                                                  f"Map {res['maps'][i]} of {p['layer']}: best OIP at each wavelength"))


def _hand_view(res: InsightRun, p: dict) -> list:
    s = res["summary"]
    per = s["candidate_per_setting"]
    caps = [f"{c['setting']} · #{c['rank']} · {c['score']:.2f} [{c['score_ci95'][0]:.2f}, {c['score_ci95'][1]:.2f}]"
            for c in per]
    runners = ", ".join(f"map {r['map']} (worst rank {r['worst_rank']})" for r in s["runners_up"])
    return [
        alert(f"Hand of MNIST candidate of {p['layer']}: map {s['candidate']}, never worse than rank "
              f"{s['candidate_worst_rank']} of {len(res['maps'])} in {len(per)} settings (mean rank "
              f"{s['candidate_mean_rank']:.1f}, first in {s['candidate_first_in']}). Next: {runners}. The first map of "
              f"one setting alone was any of {s['first_per_setting']}: one setting is not enough to name it.", "info"),
        _lab_link(p["layer"], s["candidate"]),
        dcc.Graph(figure=fig.make_tiles_figure(np.asarray(res["images"], np.float32), caps,
                                               f"Map {s['candidate']} in every setting (rank · score [95 % interval])",
                                               cols=6, tile_px=150)),
        _grid(res["rows"], [("map", "map", None), ("worst_rank", "worst rank", None), ("mean_rank", "mean rank", ".1f"),
                            ("times_first", "first in", None), ("mean_score", "mean score", ".3f")], "worst_rank", "map",
              "asc"),
    ]


def _gallery(res: InsightRun, p: dict) -> np.ndarray:
    """The PNG export: the analysis's gallery as one uint8 grid."""
    if p["analysis"] == "hand":
        return tile(to_uint8(np.asarray(res["images"], np.float32)), cols=6)
    if p["analysis"] == "sweep":
        images = np.asarray(res["images"], np.float32)
        return tile(to_uint8(images[np.arange(len(images)), np.asarray(res["mean_activation"]).argmax(1)]), cols=8)
    if p["analysis"] == "reproducibility":
        images, act = np.asarray(res["images"], np.float32), np.asarray(res["activation"])
        return tile(to_uint8(images[np.arange(len(images)), act.argmax(1)][np.asarray(res["order"])]), cols=8)
    if p["analysis"] == "exemplars":
        return tile(np.concatenate([to_uint8(np.asarray(res["oip"], np.float32)[None]), res["images"]]),
                    cols=len(res["images"]) + 1)
    order = np.argsort(-np.asarray(res["matched"]), kind="stable")
    a, b = np.asarray(res["a"]), np.asarray(res["b"])
    pairs = [im for i in order for im in (res["oip_a"][a[i]], res["oip_b"][b[i]])]
    return tile(to_uint8(np.asarray(pairs, np.float32)), cols=16)


def export_file(kind: str, res: InsightRun, p: dict) -> dict:
    """The download of a shown result: ``csv`` (the numbers) or ``png`` (the gallery)."""
    name = f"cnnviz-{p['analysis']}-{p['layer']}"
    if kind == "csv":
        return dcc.send_string(csv_text(res["rows"]), f"{name}.csv")
    return dcc.send_bytes(png_bytes(_gallery(res, p), scale=4), f"{name}.png")


@callback(Output(I.DOWNLOAD, "data"), Input(I.CSV, "n_clicks"), Input(I.PNG, "n_clicks"), State(I.KEY, "data"),
          State(Shell.INSIGHT_LAST, "data"), prevent_initial_call=True)
def export(_csv, _png, key, last):
    shown = _shown(key, last)
    if shown is None:
        return no_update
    return export_file("csv" if ctx.triggered_id == I.CSV else "png", *shown)

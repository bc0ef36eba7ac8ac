"""Training page: a form, a background training job with live curves, cancel, and the new model."""

from __future__ import annotations

from pathlib import Path

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, dcc, html, no_update
from dash.exceptions import PreventUpdate

from cnnviz.catalog import NAME_RE, checkpoint_state
from cnnviz.config import TrainConfig
from cnnviz.results import TrainProgress

from .. import figures
from ..controls import dropdown, info
from ..ids import Shell
from ..ids import Train as I
from ..requests import MAX_EPOCHS, TrainRequest
from ..services import services
from ..ui import alert, card, handled, labelled

dash.register_page(__name__, path="/training", name="Training", order=1)

layout = dbc.Row([
    dbc.Col(card("New model",
        html.Div(dbc.ButtonGroup([dbc.Button("Start", id=I.START, color="primary"),
                                  dbc.Button("Cancel", id=I.CANCEL, color="secondary", disabled=True)]),
                 className="action-bar mb-2"),
        labelled("Dataset", dropdown(I.DATASET, value="mnist", clearable=False, options=[
            {"label": "MNIST digits", "value": "mnist"}, {"label": "Fashion-MNIST", "value": "fashion-mnist"}])),
        labelled(f"Epochs (1–{MAX_EPOCHS})", dbc.Input(id=I.EPOCHS, type="number", min=1, max=MAX_EPOCHS, step=1, value=2)),
        labelled("Batch size (8–1024)", dbc.Input(id=I.BATCH, type="number", min=8, max=1024, step=1, value=64)),
        labelled("Learning rate", dbc.Input(id=I.LR, type="number", min=0.0001, max=1, step=0.0001, value=0.02)),
        labelled("Schedule", dropdown(I.SCHEDULE, value="exponential", clearable=False,
                                          options=["constant", "exponential", "step"])),
        labelled("Momentum", dbc.Input(id=I.MOMENTUM, type="number", min=0, max=0.99, step=0.01, value=0.9)),
        labelled("L2 factor", dbc.Input(id=I.L2, type="number", min=0, max=0.1, step=0.0001, value=0.0001)),
        labelled("Training images (0 = all 55,000)", dbc.Input(id=I.SUBSET, type="number", min=0, max=55000, step=100,
                                                                value=0)),
        labelled("Model name", dbc.Input(id=I.NAME, type="text", placeholder="e.g. mnist-run2", maxLength=64)),
    ), lg=3, className="controls"),
    dbc.Col([
        dcc.Interval(id=I.POLL, interval=2000),
        html.Div(id=I.STATUS, className="small text-muted mb-1"),
        dbc.Progress(id=I.PROGRESS, value=0, label="", className="mb-2", style={"height": "1.4rem"}),
        html.Div(id=I.MESSAGE),
        dcc.Graph(id=I.CURVES, figure=figures.empty_figure("curves appear here during training")),
        html.Div(id=I.HISTORY, className="mt-2"),
    ], lg=9),
])


@callback(Output(I.DATASET, "options"), Input(I.DATASET, "id"))
def dataset_options(_mounted):
    """MNIST, Fashion-MNIST, and the .npz data sets of one's own that the server knows of."""
    labels = {"mnist": "MNIST digits", "fashion-mnist": "Fashion-MNIST"}
    return [{"label": labels.get(d, Path(d).name), "value": d, "title": d} for d in services().datasets()]


CONTROLS = {"dataset": (I.DATASET, "value"), "epochs": (I.EPOCHS, "value"), "batch": (I.BATCH, "value"),
            "lr": (I.LR, "value"), "schedule": (I.SCHEDULE, "value"), "momentum": (I.MOMENTUM, "value"),
            "l2": (I.L2, "value"), "subset": (I.SUBSET, "value"), "name": (I.NAME, "value")}


def _request(form: dict) -> TrainRequest:
    svc = services()
    return TrainRequest.from_form(svc.models(), svc.datasets(), **form)


def _history_points(request: TrainRequest) -> list[dict]:
    """The curves' points of the epochs a resumed training already has (its checkpoint's history)."""
    state = checkpoint_state(services().settings.model_dir / f"{request.name}.keras")
    if state is None or TrainConfig.from_dict(state["config"]) != request.config:
        return []
    return [{"x": i + 1.0, "loss": h.get("loss"), "accuracy": h.get("accuracy"), "val_loss": h.get("val_loss"),
             "val_accuracy": h.get("val_accuracy")} for i, h in enumerate(state["history"])]


@handled(Output(I.MESSAGE, "children"), Output(Shell.REFRESH, "data"), Output(Shell.MODEL, "value", allow_duplicate=True),
         Output(I.PROGRESS, "color"),
         inputs=dict(n_clicks=Input(I.START, "n_clicks")),
         state=dict(form={name: State(cid, prop) for name, (cid, prop) in CONTROLS.items()},
                    session=State(Shell.SESSION, "data")),
         message=I.MESSAGE, background=True, interval=500,  # poll twice a second for live curves
         prevent_initial_call=True,
         # No Dash cancel: Cancel detaches this user from the engine's training, which stops at the next
         # batch and keeps its checkpoint; this callback then says so.
         running=[(Output(I.START, "disabled"), True, False), (Output(I.CANCEL, "disabled"), False, True)],
         progress=[Output(I.PROGRESS, "value"), Output(I.PROGRESS, "label"), Output(I.CURVES, "figure")])
def start(set_progress, n_clicks, form, session):
    if not n_clicks:  # a remounted page (coming back) is no click
        raise PreventUpdate
    request = _request(form)
    cfg, name = request.config, request.name
    svc = services()
    points = _history_points(request)
    last: list[TrainProgress] = []

    def progress(p: TrainProgress) -> None:
        last[:] = [p]
        x = p.epoch - 1 + p.batch / p.batches
        points.append({"x": x, "loss": p.loss, "accuracy": p.accuracy, "val_loss": p.val_loss,
                       "val_accuracy": p.val_accuracy})
        set_progress((100 * x / p.epochs, f"epoch {p.epoch}/{p.epochs} · batch {p.batch}/{p.batches}",
                      figures.make_train_curves_figure(points)))

    set_progress((100 * len(points) / cfg.epochs, "loading data…",
                  figures.make_train_curves_figure(points) if points else figures.empty_figure("starting…")))
    # A detached engine job keyed by the model name: it goes on if this page goes away; a second request for
    # the same name joins it only with the same settings.
    res = svc.engine.stream("train", progress, key=request.key, watcher=svc.watch(request.key, session), config=cfg,
                            cache=svc.results.directory, out=str(svc.settings.model_dir / f"{name}.keras"),
                            on_queued=lambda t: set_progress((0, t, figures.empty_figure(t))))
    if res.stopped:
        done = res.epochs_completed
        where = ("after epoch" if last and done >= last[0].epoch else "in epoch") + \
            f" {last[0].epoch}/{cfg.epochs}" if last else "at the start"
        kept = (f"the checkpoint of epoch {done} is kept: press Start with the same name and settings to resume"
                if done else "no epoch was finished, so nothing is kept")
        return alert(f"Stopped {where}; {kept}.", "warning"), no_update, no_update, "warning"
    acc = res.metadata["test_accuracy"]
    snaps = len(res.metadata.get("snapshots", []))
    timeline = dcc.Link("See how its maps formed, epoch by epoch", href="/insight?analysis=timeline&run=1")
    return (alert([f"Model {name!r} saved: test accuracy {acc:.2%}. It is now selected. Its weights after each of "
                   f"{snaps} snapshots (the untrained network and every epoch) are kept: ", timeline, "."], "success"),
            name, name, "success")


@dash.callback(Output(I.MESSAGE, "children", allow_duplicate=True), Output(I.PROGRESS, "color", allow_duplicate=True),
               Input(I.START, "n_clicks"), prevent_initial_call=True)
def clear(n_clicks):
    """A new training clears the previous one's message."""
    return (None, "primary") if n_clicks else (no_update, no_update)


@handled(Output(I.CANCEL, "title"), Input(I.CANCEL, "n_clicks"), State(I.NAME, "value"),
         State(Shell.SESSION, "data"), prevent_initial_call=True)
def cancel(n_clicks, name, session):
    """Cancel stops this user's training job (it keeps its last epoch's checkpoint); one that
    another user started with the same name and settings goes on for them."""
    if n_clicks and isinstance(name, str) and NAME_RE.match(name.strip()):
        services().cancel_key(f"train:{name.strip()}", session)
    return "stop the training"


@handled(Output(I.STATUS, "children"), Output(Shell.REFRESH, "data", allow_duplicate=True),
         Input(I.POLL, "n_intervals"), show=lambda _t, _c: no_update, prevent_initial_call="initial_duplicate")
def status(_n):
    """Trainings in the engine, also ones started before this page was (re)opened."""
    jobs = [j for j in services().engine.call("list_jobs") if j.kind == "train"]
    running = [j for j in jobs if not j.done]
    text = "; ".join(f"training {j.key[6:]}: " + (f"epoch {j.progress.epoch}/{j.progress.epochs}, batch "
                                                  f"{j.progress.batch}/{j.progress.batches}" if j.progress else
                                                  "starting") for j in running)
    finished = ",".join(sorted(j.key for j in jobs if j.done))
    return (f"Running in the engine — {text}" if text else ""), finished or no_update


@handled(Output(I.HISTORY, "children"), Input(Shell.MODEL, "value"))
def history(model):
    """The selected model's training history: its test accuracy at every snapshot (read from its metadata, no
    run), and the way to its training timeline; or why it has none."""
    snaps = info(model).metadata.get("snapshots") or []
    if not snaps:
        return alert(f"{model} has no training history: only models trained by cnnviz keep their weights after every "
                     "epoch (an imported model, or one trained before snapshots existed, has its final state only). "
                     "Train a new one here to watch its maps form.", "secondary", dismissable=False)
    epochs = [float(s.get("epoch", 0)) for s in snaps]
    accuracy = [float(s.get("test_accuracy", float("nan"))) for s in snaps]
    figure = figures.make_snapshot_accuracy_figure(epochs, accuracy,
                                                   f"{model}: test accuracy at each of its {len(snaps)} snapshots")
    link = dcc.Link("Training timeline: how each map's OIP formed, epoch by epoch (runs once, then cached)",
                    href="/insight?analysis=timeline&run=1", id="train-timeline-link")
    return [html.Div(link, className="mb-1"), dcc.Graph(figure=figure, config={"displayModeBar": False})]

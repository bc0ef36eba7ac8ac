"""Training page: a form, a background training job with live curves, cancel, and the new model."""

from __future__ import annotations

from pathlib import Path

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, dcc, html, no_update
from dash.exceptions import PreventUpdate

from cnnviz.catalog import NAME_RE

from .. import figures
from ..engine.results import TrainProgress
from ..ids import Shell
from ..ids import Train as I
from ..services import services
from ..ui import alert, as_choice, as_float, as_int, card, failure, labelled

dash.register_page(__name__, path="/training", name="Training", order=1)

layout = dbc.Row([
    dbc.Col(card("New model",
        html.Div(dbc.ButtonGroup([dbc.Button("Start", id=I.START, color="primary"),
                                  dbc.Button("Cancel", id=I.CANCEL, color="secondary", disabled=True)]),
                 className="action-bar mb-2"),
        labelled("Dataset", dcc.Dropdown(id=I.DATASET, value="mnist", clearable=False, options=[
            {"label": "MNIST digits", "value": "mnist"}, {"label": "Fashion-MNIST", "value": "fashion-mnist"}])),
        labelled("Epochs (1–50)", dbc.Input(id=I.EPOCHS, type="number", min=1, max=50, step=1, value=2)),
        labelled("Batch size (8–1024)", dbc.Input(id=I.BATCH, type="number", min=8, max=1024, step=1, value=64)),
        labelled("Learning rate", dbc.Input(id=I.LR, type="number", min=0.0001, max=1, step=0.0001, value=0.02)),
        labelled("Schedule", dcc.Dropdown(id=I.SCHEDULE, value="exponential", clearable=False,
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
    ], lg=9),
])


@callback(Output(I.DATASET, "options"), Input(I.DATASET, "id"))
def dataset_options(_mounted):
    """MNIST, Fashion-MNIST, and the .npz data sets of one's own that the server knows of."""
    labels = {"mnist": "MNIST digits", "fashion-mnist": "Fashion-MNIST"}
    return [{"label": labels.get(d, Path(d).name), "value": d, "title": d} for d in services().datasets()]


def _config(dataset, epochs, batch, lr, schedule, momentum, l2, subset, name) -> tuple[dict, str]:
    if not isinstance(name, str) or not NAME_RE.match(name.strip()) or name.strip().startswith("."):
        raise ValueError("Model name: 1–64 letters, digits, '_', '.' or '-', starting with a letter or digit.")
    name = name.strip()
    if name in services().models():
        raise ValueError(f"A model named {name!r} exists already: choose another name.")
    subset = as_int(subset if subset not in (None, "") else 0, "training images", 0, 55000)
    if 0 < subset < 100:
        raise ValueError("Training images must be 0 (all) or at least 100.")
    cfg = {"dataset": as_choice(dataset, "dataset", services().datasets()),
           "epochs": as_int(epochs, "epochs", 1, 50), "batch_size": as_int(batch, "batch size", 8, 1024),
           "learning_rate": as_float(lr, "learning rate", 1e-4, 1.0),
           "schedule": as_choice(schedule, "schedule", ["constant", "exponential", "step"]),
           "momentum": as_float(momentum, "momentum", 0, 0.99), "l2": as_float(l2, "L2 factor", 0, 0.1),
           "subset": subset or None}
    from cnnviz.config import TrainConfig

    TrainConfig(**cfg)  # the engine's own checks too
    return cfg, name


@callback(Output(I.MESSAGE, "children"), Output(Shell.REFRESH, "data"), Output(Shell.MODEL, "value", allow_duplicate=True),
          Output(I.PROGRESS, "color"), Input(I.START, "n_clicks"),
          State(I.DATASET, "value"), State(I.EPOCHS, "value"), State(I.BATCH, "value"), State(I.LR, "value"),
          State(I.SCHEDULE, "value"), State(I.MOMENTUM, "value"), State(I.L2, "value"), State(I.SUBSET, "value"),
          State(I.NAME, "value"), State(Shell.SESSION, "data"),
          background=True, interval=500,  # poll twice a second for live frames
          prevent_initial_call=True,
          # No Dash cancel: Cancel detaches this user from the engine's training, which stops at the next
          # batch and keeps its checkpoint; this callback then says so.
          running=[(Output(I.START, "disabled"), True, False), (Output(I.CANCEL, "disabled"), False, True)],
          progress=[Output(I.PROGRESS, "value"), Output(I.PROGRESS, "label"), Output(I.CURVES, "figure")])
def start(set_progress, n_clicks, *form):
    if not n_clicks:  # a remounted page (coming back) is no click
        raise PreventUpdate
    *form, session = form
    try:
        cfg, name = _config(*form)
        svc = services()
        points: list[dict] = []
        last: list[TrainProgress] = []

        def progress(p: TrainProgress) -> None:
            last[:] = [p]
            x = p.epoch - 1 + p.batch / p.batches
            points.append({"x": x, "loss": p.loss, "accuracy": p.accuracy,
                           "val_loss": p.val_loss, "val_accuracy": p.val_accuracy})
            set_progress((100 * x / p.epochs, f"epoch {p.epoch}/{p.epochs} · batch {p.batch}/{p.batches}",
                          figures.make_train_curves_figure(points)))

        set_progress((0, "loading data…", figures.empty_figure("starting…")))
        # A detached engine job keyed by the model name: it goes on if this page goes away; a
        # second request for the same name joins it only with the same settings.
        key = train_key(name)
        res = svc.engine.stream("train", progress, key=key, watcher=svc.watch(key, session),
                                cache=svc.results.directory, config=cfg,
                                out=str(svc.settings.model_dir / f"{name}.keras"))
        if res.stopped:
            done = res.epochs_completed
            where = ("after epoch" if last and done >= last[0].epoch else "in epoch") + \
                f" {last[0].epoch}/{cfg['epochs']}" if last else "at the start"
            kept = (f"the checkpoint of epoch {done} is kept: press Start with the same name and settings to resume"
                    if done else "no epoch was finished, so nothing is kept")
            return alert(f"Stopped {where}; {kept}.", "warning"), no_update, no_update, "warning"
        acc = res.metadata["test_accuracy"]
        return (alert(f"Model {name!r} saved: test accuracy {acc:.2%}. It is now selected.", "success"), name, name,
                "success")
    except Exception as e:  # noqa: BLE001 - shown in the page
        return failure(e, 4, 0)


@callback(Output(I.MESSAGE, "children", allow_duplicate=True), Output(I.PROGRESS, "color", allow_duplicate=True),
          Input(I.START, "n_clicks"), prevent_initial_call=True)
def clear(n_clicks):
    """A new training clears the previous one's message."""
    return (None, "primary") if n_clicks else (no_update, no_update)


def train_key(name: str) -> str:
    return f"train:{name}"


@callback(Output(I.CANCEL, "title"), Input(I.CANCEL, "n_clicks"), State(I.NAME, "value"),
          State(Shell.SESSION, "data"), prevent_initial_call=True)
def cancel(n_clicks, name, session):
    """Cancel stops this user's training job (it keeps its last epoch's checkpoint); one that
    another user started with the same name and settings goes on for them."""
    if n_clicks and isinstance(name, str) and NAME_RE.match(name.strip()):
        services().cancel_key(train_key(name.strip()), session)
    return "stop the training"


@callback(Output(I.STATUS, "children"), Output(Shell.REFRESH, "data", allow_duplicate=True),
          Input(I.POLL, "n_intervals"), prevent_initial_call="initial_duplicate")
def status(_n):
    """Trainings in the engine, also ones started before this page was (re)opened."""
    try:
        jobs = [j for j in services().engine.call("list_jobs") if j.kind == "train"]
    except Exception:  # noqa: BLE001 - the status line is best effort
        return no_update, no_update
    running = [j for j in jobs if not j.done]
    text = "; ".join(f"training {j.key[6:]}: " + (f"epoch {j.progress.epoch}/{j.progress.epochs}, batch "
                                                  f"{j.progress.batch}/{j.progress.batches}" if j.progress else
                                                  "starting") for j in running)
    finished = ",".join(sorted(j.key for j in jobs if j.done))
    return (f"Running in the engine — {text}" if text else ""), finished or no_update

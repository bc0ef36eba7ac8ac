"""Model page: architecture table, first-layer kernels, training metadata."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, callback, dcc, html

from .. import figures
from ..ids import Model as I
from ..ids import Shell
from ..services import services
from ..ui import card, failure

dash.register_page(__name__, path="/", name="Model", order=0)

layout = html.Div([
    html.Div(id=I.ERROR),
    dbc.Row([
        dbc.Col(card("Architecture", html.Div(id=I.TABLE)), lg=7),
        dbc.Col(card("Training", html.Div(id=I.META)), lg=5),
    ]),
    card("First-layer kernels", dcc.Graph(id=I.KERNELS, config={"displayModeBar": False})),
    dbc.Row([
        dbc.Col(card("History", dcc.Graph(id=I.HISTORY)), lg=7),
        dbc.Col(card("Confusion", dcc.Graph(id=I.CONFUSION)), lg=5),
    ]),
])


def _table(layers) -> dbc.Table:
    head = html.Thead(html.Tr([html.Th(h) for h in ("layer", "type", "output shape", "parameters",
                                                    "receptive field", "jump", "shown as")]))
    roles = {"map": "maps", "dense": "dense units", "output": "classes", "scores": "class scores", "other": ""}
    rows = [html.Tr([html.Td(r.name), html.Td(r.type), html.Td(" × ".join(map(str, r.output_shape))),
                     html.Td(f"{r.params:,}"),
                     html.Td(f"{r.receptive_field}×{r.receptive_field}" if r.jump is not None else "whole image"),
                     html.Td("—" if r.jump is None else r.jump), html.Td(roles.get(r.role, ""))]) for r in layers]
    total = html.Tr([html.Th("total"), html.Td(), html.Td(), html.Th(f"{sum(r.params for r in layers):,}"),
                     html.Td(), html.Td(), html.Td()])
    return dbc.Table([head, html.Tbody(rows + [total])], size="sm", striped=True, className="mb-0")


def _meta(info) -> html.Div:
    meta = info.metadata
    cfg = meta.get("config", {})
    acc = meta.get("test_accuracy")
    items = [("model", info.name), ("dataset", meta.get("dataset", "?")),
             ("input", f"{' × '.join(map(str, info.input_shape))}, {len(info.class_names)} classes"),
             ("test accuracy", f"{acc:.2%}" if isinstance(acc, float) else "unknown"),
             ("standardization", "mean {mean:.4f}, std {std:.4f}".format(**meta["standardization"])),
             ("epochs", meta.get("epochs_completed", cfg.get("epochs", "?"))),
             ("optimizer", f"{cfg.get('optimizer', '?')} lr {cfg.get('learning_rate', '?')}, "
                           f"momentum {cfg.get('momentum', '?')}, {cfg.get('schedule', '?')} schedule"),
             ("L2", cfg.get("l2", "?")), ("batch size", cfg.get("batch_size", "?")),
             ("training time",
              f"{meta['wall_time_s']:.0f} s on {meta.get('device', '?')}" if "wall_time_s" in meta else "?"),
             ("sha256", info.sha256[:16] + "…"), ("served by", info.device)]
    if "imported_from" in meta:  # a model of one's own: how it was trained is not known here
        items = items[:4] + [("imported from", meta["imported_from"]), ("imported at", meta.get("imported_at", "?"))] \
            + items[-2:]
    return html.Dl(sum([[html.Dt(k, className="col-5"), html.Dd(str(v), className="col-7 mb-1")] for k, v in items], []),
                   className="row mb-0 small")


@callback(Output(I.TABLE, "children"), Output(I.META, "children"), Output(I.KERNELS, "figure"),
          Output(I.HISTORY, "figure"), Output(I.CONFUSION, "figure"), Output(I.ERROR, "children"),
          Input(Shell.MODEL, "value"))
def show_model(model):
    try:
        if model is None:
            raise ValueError("No model found in the model folder.")
        info = services().info(model)
        meta = info.metadata
        names = list(info.class_names)
        history = figures.make_history_figure(meta.get("history", [])) if meta.get("history") else \
            figures.empty_figure("no history recorded")
        conf = figures.make_confusion_figure(meta["confusion_matrix"], names) if "confusion_matrix" in meta else \
            figures.empty_figure("no confusion matrix recorded")
        kernels = (figures.make_kernels_figure(info.kernels, info.kernels_layer) if info.kernels.size
                   else figures.empty_figure("no convolution layer"))
        return _table(info.layers), _meta(info), kernels, history, conf, None
    except Exception as e:  # noqa: BLE001 - shown in the page
        return failure(e, 6)


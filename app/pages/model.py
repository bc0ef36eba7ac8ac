"""Model page: architecture table, first-layer kernels, training metadata."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, dcc, html

from .. import figures
from ..controls import info
from ..engine.results import ModelInfo
from ..ids import Model as I
from ..ids import Shell
from ..ui import card, handled, unit_href

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


def _table(layers, model: str | None = None) -> dbc.Table:
    head = html.Thead(html.Tr([html.Th(h) for h in ("layer", "type", "output shape", "parameters",
                                                    "receptive field", "jump", "shown as", "")]))
    roles = {"map": "maps", "dense": "dense units", "output": "classes", "scores": "class scores", "other": ""}
    rows = [html.Tr([html.Td(r.name), html.Td(r.type), html.Td(" × ".join(map(str, r.output_shape))),
                     html.Td(f"{r.params:,}"),
                     html.Td(f"{r.receptive_field}×{r.receptive_field}" if r.jump is not None else "whole image"),
                     html.Td("—" if r.jump is None else r.jump), html.Td(roles.get(r.role, "")),
                     html.Td(dcc.Link("unit pages", href=unit_href(model, r.name, 0, r.role)) if r.searchable else "")])
            for r in layers]
    total = html.Tr([html.Th("total"), html.Td(), html.Td(), html.Th(f"{sum(r.params for r in layers):,}"),
                     html.Td(), html.Td(), html.Td(), html.Td()])
    return dbc.Table([head, html.Tbody(rows + [total])], size="sm", striped=True, className="mb-0")


def _meta(info: ModelInfo) -> html.Div:
    cfg = info.training
    acc = info.accuracy
    mean, std = info.standardization
    items = [("model", info.name), ("dataset", info.dataset),
             ("input", f"{' × '.join(map(str, info.input_shape))}, {len(info.class_names)} classes"),
             ("test accuracy", f"{acc:.2%}" if acc is not None else "unknown"),
             ("standardization", f"mean {mean:.4f}, std {std:.4f}"),
             ("epochs", len(info.history) or cfg.get("epochs", "?")),
             ("optimizer", f"{cfg.get('optimizer', '?')} lr {cfg.get('learning_rate', '?')}, "
                           f"momentum {cfg.get('momentum', '?')}, {cfg.get('schedule', '?')} schedule"),
             ("L2", cfg.get("l2", "?")), ("batch size", cfg.get("batch_size", "?")),
             ("sha256", info.sha256[:16] + "…"), ("served by", info.device)]
    if info.imported:  # a model of one's own: how it was trained is not known here
        items = items[:5] + [("imported from", info.imported[0]), ("imported at", info.imported[1])] + items[-2:]
    return html.Dl(sum([[html.Dt(k, className="col-5"), html.Dd(str(v), className="col-7 mb-1")] for k, v in items], []),
                   className="row mb-0 small")


@handled(Output(I.TABLE, "children"), Output(I.META, "children"), Output(I.KERNELS, "figure"),
         Output(I.HISTORY, "figure"), Output(I.CONFUSION, "figure"), Output(I.ERROR, "children"),
         Input(Shell.MODEL, "value"), message=I.ERROR)
def show_model(model):
    i = info(model)
    names = list(i.class_names)
    history = figures.make_history_figure(i.history) if i.history else figures.empty_figure("no history recorded")
    conf = figures.make_confusion_figure(i.confusion, names) if i.confusion is not None else \
        figures.empty_figure("no confusion matrix recorded")
    kernels = (figures.make_kernels_figure(i.kernels, i.kernels_layer) if i.kernels.size
               else figures.empty_figure("no convolution layer"))
    return _table(i.layers, model), _meta(i), kernels, history, conf, None

"""What the Insight page shows of each analysis's result: the engine library's result types in, Dash components
out. Every number comes from the result's own properties and methods."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import dash_ag_grid as dag
import numpy as np
from dash import dcc, html

from cnnviz.results import (
    Circuit,
    Comparison,
    Dissection,
    Exemplars,
    HandOfMnist,
    Reproducibility,
    SweepResult,
    Timeline,
    interval_text,
)

from . import insight_figures as fig
from .ids import Insight as I
from .requests import InsightRequest
from .ui import alert, unit_href


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


def _tiles(figure) -> dcc.Graph:
    """A gallery of pictures: no modebar over its tiles (there is nothing to zoom; hover names each tile)."""
    return dcc.Graph(figure=figure, config={"displayModeBar": False})


def lab_link(layer: str, map_: int, node: tuple[int, int] | None = None) -> html.Div:
    """Hands the map (or node) over to the OIP lab, which opens preset to it and shows (or runs) its OIPs."""
    query = urlencode({"layer": layer, "map": map_, **({"node": f"{node[0]},{node[1]}"} if node else {}), "run": 1})
    return html.Div([dcc.Link(f"Open {layer} map {map_} in the OIP lab", href=f"/oip?{query}", id=I.LAB_LINK), " · ",
                     dcc.Link("its unit page", href=unit_href(None, layer, map_), id=I.UNIT_LINK)],
                    className="small mb-2")


def _head(request: InsightRequest, model: str, seconds: float) -> html.Div:
    return html.Div(f"Shown: {model} · {request.describe()} · {seconds:.1f} s", className="small text-muted mb-1")


def sweep_view(res: SweepResult, request: InsightRequest, model: str) -> list:
    series = res.dead_rates.series()
    per_wave = "; ".join(f"λ={w:g}: " + ", ".join(f"{label} {rs[j]}" for _, label, rs in series)
                         for j, w in enumerate(res.wavelengths))
    only = res.awake_only_at()
    best = res.best_wavelength
    counts = ", ".join(f"λ={w:g}: {int((best == w).sum())}" for w in res.wavelengths)
    awake = ", ".join(f"{m} (λ={', '.join(f'{w:g}' for w in ws)})" for m, ws in only.items()) or "none"
    return [
        _head(request, model, res.seconds),
        alert(f"{res.layer}, {res.noise} noise: {len(res.maps)} maps × {len(res.wavelengths)} wavelengths × "
              f"{res.seeds} seeds, each search its own noise, {res.steps} steps. Dead searches with 95 % intervals: "
              f"{per_wave}. Maps that none of these {res.seeds} noises opened at some wavelengths, and some did at "
              f"others: {awake} (with {res.seeds} noises, a map that opens 5 % of the time is missed with "
              f"probability {0.95 ** res.seeds:.0%}: see the table of opening probabilities). Best wavelength per "
              f"map: {counts}.", "info", dismissable=False),
        dcc.Graph(id=I.SWEEP, figure=fig.make_sweep_figure(res.mean_activation, res.dead.mean(axis=2), res.maps,
                                                           res.wavelengths, res.layer)),
        dcc.Graph(figure=fig.make_dead_fraction_figure(res.dead_rates, res.mean_activation, res.wavelengths)),
        html.Details([html.Summary("Per map: the probability that a noise opens it at the start (Wilson 95 %)",
                                   className="small"),
                      _open_table(res)], className="mb-2"),
        _tiles(fig.make_tiles_figure(res.best_images, [f"map {m} · λ={w:g}" for m, w in zip(res.maps, best)],
                                               "Each map's OIP at its best wavelength (best seed)", cols=16)),
    ]


def _open_table(res: SweepResult) -> Any:
    def cell(r):
        return f"{100 * r.value:.0f} % {interval_text(100 * r.interval[0], 100 * r.interval[1], '.0f')}"

    rows = [{"map": m, **{f"λ={w:g}": cell(r) for w, r in zip(res.wavelengths, row)}}
            for m, row in zip(res.maps, res.open_at_start)]
    cols = [{"field": "map", "width": 80}] + [{"field": f"λ={w:g}"} for w in res.wavelengths]
    return dag.AgGrid(rowData=rows, columnDefs=cols, defaultColDef={"sortable": True, "resizable": True},
                      style={"height": "300px"})


def reproducibility_view(res: Reproducibility, request: InsightRequest, model: str) -> list:
    top = int(res.order[0])
    ci = res.score_ci95
    return [
        _head(request, model, res.seconds),
        alert(f"Most reproducible map of {res.layer} in this setting: map {res.maps[top]} (score {res.score[top]:.3f} "
              f"{interval_text(ci[top, 0], ci[top, 1], '.3f')}; the top scores lie close, see their 95 % intervals, and "
              "the Hand "
              f"of MNIST analysis picks across settings). Mean score {res.score.mean():.3f} over {len(res.maps)} maps, "
              f"{res.activation.shape[1]} searches each, aligned by shifts of up to {res.max_shift} px (the layer's "
              "jump). Spread = std/mean of the activation reached. Click a row for the map's searches.", "info",
              dismissable=False),
        _grid(res.rows(), [("map", "map", None), ("score", "score", ".3f"), ("score_ci95_low", "95 % from", ".3f"),
                     ("score_ci95_high", "to", ".3f"), ("mean_activation", "mean activation", ".3f"),
                     ("spread", "spread", ".3f"), ("min_activation", "min", ".3f"), ("max_activation", "max", ".3f")],
              "score", "map"),
        _tiles(fig.make_tiles_figure(res.best_images[res.order],
                                               [f"map {res.maps[i]} · {res.score[i]:.2f}" for i in res.order],
                                               "OIPs ordered by reproducibility score (best activation of each map)",
                                               cols=16 if len(res.order) > 32 else 8)),
    ]


def reproducibility_detail(res: Reproducibility, map_: int) -> dcc.Graph:
    i = res.position(map_)
    caps = [f"{lab} · {a:.2f}" for lab, a in zip(res.labels, res.activation[i])]
    return _tiles(fig.make_tiles_figure(np.asarray(res.images[i], np.float32), caps,
                                                  f"Map {map_}: every search (score {res.score[i]:.3f})"))


def exemplars_view(res: Exemplars, request: InsightRequest, model: str, class_names: tuple[str, ...]) -> list:
    target = f"node ({res.node[0]}, {res.node[1]}) of map {res.map}" if res.node else f"map {res.map}"
    ratio = "∞ (no test image drives it at all)" if not np.isfinite(res.ratio) else f"{res.ratio:.2f}"
    captions = [f"OIP · {res.oip_activation:.2f}"] + [f"#{i} {class_names[lab]} · {a:.2f}" for i, lab, a in
                                                      zip(res.indices, res.labels, res.activation)]
    images = np.concatenate([np.asarray(res.oip_image, np.float32)[None], np.asarray(res.images, np.float32)])
    patch_caps = [f"#{i} ({n[0]},{n[1]}) · {a:.2f}" for i, n, a in
                  zip(res.patch_indices, res.patch_nodes, res.patch_activation)]
    return [
        html.Div(f"Shown: {model} · {request.describe()}", className="small text-muted mb-1"),
        alert(f"{res.layer} {target}: the OIP reaches {res.oip_activation:.3f}; the best test image (#{res.indices[0]}) "
              f"reaches {res.activation[0]:.3f}: ratio {ratio}. Strongest single node: {res.oip_node_activation:.3f} "
              f"on the OIP vs {res.patch_activation[0]:.3f} on a real patch.", "info", dismissable=False),
        lab_link(res.layer, res.map, res.node),
        _tiles(fig.make_tiles_figure(images, captions, "The OIP and the test images that drive it hardest",
                                               cols=min(len(images), 10))),
        _tiles(fig.make_tiles_figure(res.patches, patch_caps,
                                               "The strongest patches: each a receptive field of one node "
                                               "(test image, node x,y, activation)", cols=min(len(patch_caps), 10),
                                               tile_px=80)),
    ]


def compare_view(res: Comparison, request: InsightRequest, model: str) -> list:
    m = res.matching
    silent = (f" Maps that never fire on the test set: A {list(m.silent_a) or 'none'}, B {list(m.silent_b) or 'none'}."
              if len(m.silent_a) or len(m.silent_b) else "")
    order = m.order
    caps = [c for i in order for c in (f"A {m.a[i]}", f"B {m.b[i]} · r={m.matched[i]:.2f}")]
    preserved = "preserved" if m.order_correlation > 0.9 else "not preserved"
    return [
        html.Div(f"Shown: {model} (A) · {request.describe()}", className="small text-muted mb-1"),
        alert(f"{model} (A) {m.layer} vs {request.model_b} (B) {request.layer_b}: mean matched correlation "
              f"{m.matched.mean():.3f} (median {np.median(m.matched):.3f}); {100 * m.close_fraction:.1f} % of A's maps "
              f"have a close partner (r ≥ {m.close}). Order {preserved}: {100 * m.same_index_fraction:.1f} % matched "
              f"to the same index, rank correlation {m.order_correlation:.2f}.{silent}", "info", dismissable=False),
        dcc.Graph(id=I.CORRELATION, figure=fig.make_correlation_figure(m.correlation, m.a[order], m.b[order], m.layer)),
        _grid(m.rows(), [("map_a", "A map", None), ("map_b", "B map", None), ("correlation", "r", ".3f")],
              "correlation", "map_a"),
        _tiles(fig.make_tiles_figure(np.asarray(res.pair_images(), np.float32), caps,
                                               "Matched pairs side by side (A's OIP, then B's), best match first",
                                               cols=16, show_captions=len(caps) <= 32)),
    ]


def pair_detail(res: Comparison, i: int, j: int) -> dcc.Graph:
    """Map ``i`` of model A beside map ``j`` of model B: their OIPs and the correlation of their activations."""
    m = res.matching
    matched = "a matched pair" if m.partner(i) == j else "not a matched pair"
    images = np.stack([np.asarray(res.oip_a[i], np.float32), np.asarray(res.oip_b[j], np.float32)])
    return _tiles(fig.make_tiles_figure(images, [f"A map {i}", f"B map {j}"],
                                                  f"A {i} ↔ B {j}: r = {m.correlation[i][j]:.3f} ({matched})",
                                                  tile_px=220))


def hand_view(res: HandOfMnist, request: InsightRequest, model: str) -> list:
    c = res.candidate
    how = (f"Each of {res.blocks} selection blocks ({res.block} searches per map and setting, {res.method} method) "
           f"picks the map with the best mean score over {len(res.settings)} settings; the score comes from a "
           f"held-out block of {res.block} more searches that took no part in the choice.")
    f, score, ci = res.pick_frequency, res.block_scores[:-1].mean((0, 1)), res.heldout_ci95
    rows = [{"map": m, "pick_frequency": float(f[i]), "heldout_score": float(res.heldout_score[i]),
             "heldout_ci95_low": float(ci[i, 0]), "heldout_ci95_high": float(ci[i, 1]),
             "selection_score": float(score[i]), "top": res.top_text(i)}
            for i, m in sorted(enumerate(res.maps), key=lambda p: (-f[p[0]], -score[p[0]]))]
    return [
        _head(request, model, res.seconds),
        alert([html.B(f"Hand of MNIST of {res.layer}: {res.statement()}. "),
               f"Its top test images: {res.top_text(c)}. {how}"], "success" if res.stable else "warning",
              dismissable=False),
        lab_link(res.layer, res.maps[c]),
        *[_tiles(_hand_figure(res, res.maps[i])) for i in res.candidates[:3]],
        html.Div("Click a row for that map's OIPs and top test images.", className="small text-muted"),
        _grid(rows, [("map", "map", None), ("pick_frequency", "picked", ".0%"),
                     ("heldout_score", "held-out score", ".3f"), ("heldout_ci95_low", "95 % low", ".3f"),
                     ("heldout_ci95_high", "95 % high", ".3f"), ("selection_score", "selection score", ".3f"),
                     ("top", "top test images (class×count)", None)], "pick_frequency", "map"),
    ]


def _hand_figure(res: HandOfMnist, map_: int):
    tiles, labels, _ = res.montage([map_])
    captions = [label.split(" · ", 1)[1] for label in labels]
    return fig.make_tiles_figure(tiles.astype(np.float32), captions,
                                 f"Map {map_}: held-out OIP in every setting (score), then its top test images",
                                 cols=8, tile_px=110)


def hand_detail(res: HandOfMnist, map_: int) -> dcc.Graph:
    return _tiles(_hand_figure(res, map_))


def dissect_view(res: Dissection, request: InsightRequest, model: str) -> list:
    labels = ", ".join(f"{c} ×{n}" for c, n in res.label_counts.items()) or "none"
    labelled = res.labelled
    rows = [{"unit": u, "concept": res.concepts[c], "iou": float(res.iou[u, c]),
             "ci_low": float(res.iou_ci95[u, c, 0]), "ci_high": float(res.iou_ci95[u, c, 1]),
             "rotation": float(res.rotation[c]), "shuffled": float(res.shuffled[u, c]),
             "labelled": "yes" if labelled[u] else "no"} for u, c in enumerate(res.best)]
    return [
        _head(request, model, res.seconds),
        alert([html.B(f"{int(labelled.sum())} of {len(labelled)} units of {res.layer} carry a label: "), labels,
               ". A unit's label is the concept of the digits its top-activation region overlaps best (IoU over the "
               "test images); it counts only when the lower end of its 95 % interval beats both what 95 % of random "
               "directions of the layer score (rotation) and the unit's own score with the images' concepts shuffled."
               " Positions (top, left, …) are the same on every image and can never count."], "info",
              dismissable=False),
        html.Div("Click a row to see the unit's region and its concept on the test images where it is largest."
                 if res.example_images is not None else "", className="small text-muted"),
        _grid(rows, [("unit", "unit", None), ("concept", "best concept", None), ("iou", "IoU", ".3f"),
                     ("ci_low", "95 % low", ".3f"), ("ci_high", "95 % high", ".3f"), ("rotation", "rotation", ".3f"),
                     ("shuffled", "shuffled", ".3f"), ("labelled", "labelled", None)], "iou", "unit"),
    ]


def _circuit_pictures(res: Circuit) -> list:
    """The unit's OIP beside those of its strongest incoming units, each with its measured contribution."""
    if res.oip_unit is None or res.oip_incoming is None:
        return []
    order = res.order[:len(res.oip_incoming)]
    images = np.concatenate([np.asarray(res.oip_unit, np.float32)[None], np.asarray(res.oip_incoming, np.float32)])
    captions = [f"{res.layer} {res.unit} · the unit"] + [
        f"{res.incoming_layer} {int(i)} · {100 * res.contribution[i]:+.0f} %" for i in order]
    return [_tiles(fig.make_tiles_figure(images, captions, f"{res.layer} map {res.unit} (left) and the OIPs of its "
                                         "strongest incoming units, with the drop when each is zeroed",
                                         cols=len(images), tile_px=130))]


def dissect_detail(res: Dissection, unit: int) -> dcc.Graph:
    """Unit ``unit``'s example images with its region (red) and its best concept's mask (green; both: yellow)."""
    assert res.example_images is not None and res.example_regions is not None and res.example_concepts is not None
    images = np.asarray(res.example_images[unit], np.float32) / 255.0
    gray = images.mean(-1) if images.ndim == 4 else images
    tiles = np.repeat(0.6 * gray[..., None], 3, axis=-1)
    tiles[..., 0] += 0.5 * res.example_regions[unit]
    tiles[..., 1] += 0.5 * res.example_concepts[unit]
    concept = res.concepts[int(res.best[unit])]
    captions = [f"test #{int(i)}" for i in res.example_indices[unit]] if res.example_indices is not None else []
    return _tiles(fig.make_tiles_figure(np.clip(tiles, 0, 1), captions,
                                        f"{res.layer} unit {unit}: its region (red) and “{concept}” (green), "
                                        "overlap yellow", cols=len(tiles), tile_px=160))


def circuit_view(res: Circuit, request: InsightRequest, model: str) -> list:
    k = res.k
    top = res.order[:12]
    figure = fig.make_contribution_figure([f"{i}" for i in top], [float(res.contribution[i]) for i in top],
                                          f"{res.layer} map {res.unit}: drop when one {res.incoming_layer} unit is "
                                          "zeroed (fraction of its mean)")
    weights = "" if res.weight_drop is None else (f"; the {k} with the largest kernels (the weight-based view): "
                                                  f"{100 * res.weight_drop:.0f} %")
    links = [lab_link(res.incoming_layer, int(i)) for i in top[:3]]
    return [
        _head(request, model, 0.0),
        alert([html.B(f"Zeroing the top {k} incoming units cuts {res.layer} map {res.unit} by "
                      f"{100 * res.top_drop:.0f} % on its {len(res.exemplars)} strongest test images; "
                      f"{k} random ones: {100 * float(res.random_drops.mean()):.0f} %{weights}."),
               f" Incoming units from {res.incoming_layer}" +
               (f" (through {', '.join(res.through)})" if res.through else "") +
               ", ranked by the measured drop when each alone is zeroed: excitatory above zero, inhibitory below."],
              "info", dismissable=False),
        *_circuit_pictures(res),
        dcc.Graph(figure=figure, config={"displayModeBar": False}),
        *links,
        _grid(res.incoming(),
              [("map", f"{res.incoming_layer} unit", None), ("contribution", "drop when zeroed", ".1%"),
               ("sign", "sign", None), ("kernel_norm", "kernel norm", ".3f")], "contribution", "map"),
    ]


def timeline_view(res: Timeline, request: InsightRequest, model: str) -> list:
    from . import figures

    formed = res.formed_at
    per_epoch = ", ".join(f"epoch {e}: {c:.2f}" for e, c in zip(res.epochs, res.mean_correlation))
    counts = {e: sum(f == e for f in formed) for e in res.epochs}
    never = sum(f is None for f in formed)
    animation = figures.make_oip_animation_figure(
        np.asarray(res.images[:, :, 0], np.float32), res.epochs, res.correlation[:, :, 0].T,
        [f"map {mp}" for mp in res.maps], step_name="epoch",
        captions=[f"epoch {e:g}: test accuracy {a:.1%}, mean correlation with the final OIPs {c:.2f}"
                  for e, a, c in zip(res.epochs, res.accuracy, res.mean_correlation)])
    return [
        _head(request, model, res.seconds),
        alert([html.B(f"{res.layer}: mean correlation of each map's OIP with its final one (same noise), "),
               per_epoch, ". Formed (0.8 or more) at: " +
               ", ".join(f"epoch {e}: {n} maps" for e, n in counts.items() if n) + (f"; never: {never}" if never else "")
               + ". Drag the slider or press Play: the frames are computed, no new run."], "info", dismissable=False),
        dcc.Graph(figure=animation, config={"displayModeBar": False}, id="insight-timeline"),
        dcc.Graph(figure=fig.make_timeline_figure(res.epochs, res.accuracy, list(res.dead_share), formed),
                  config={"displayModeBar": False}),
    ]


def view(res: Any, request: InsightRequest, model: str, class_names: tuple[str, ...]) -> list:
    """The view of any analysis's result."""
    if isinstance(res, Timeline):
        return timeline_view(res, request, model)
    if isinstance(res, Dissection):
        return dissect_view(res, request, model)
    if isinstance(res, Circuit):
        return circuit_view(res, request, model)
    if isinstance(res, SweepResult):
        return sweep_view(res, request, model)
    if isinstance(res, Reproducibility):
        return reproducibility_view(res, request, model)
    if isinstance(res, Exemplars):
        return exemplars_view(res, request, model, class_names)
    if isinstance(res, Comparison):
        return compare_view(res, request, model)
    return hand_view(res, request, model)


def gallery(res: Any) -> tuple[np.ndarray, list[str], int]:
    """The PNG export of a result: its gallery's images, each one's label, and the columns."""
    if isinstance(res, Timeline):
        n, k = len(res.maps), len(res.epochs)
        return (np.asarray(res.images[:, :, 0], np.float32).reshape(k * n, *res.images.shape[3:]),
                [f"epoch {e} · map {mp}" for e in res.epochs for mp in res.maps], n)
    if isinstance(res, Dissection) or (isinstance(res, Circuit) and res.kernels is None):
        raise ValueError("This result has no gallery to export; export its numbers (CSV).")
    if isinstance(res, Circuit) and res.kernels is not None:
        order = res.order[:16]
        return (np.asarray(res.kernels[order], np.float32),
                [f"{res.incoming_layer} {i} · {100 * res.contribution[i]:+.0f} %" for i in order], 8)
    if isinstance(res, HandOfMnist):
        tiles, labels, cols = res.montage([res.maps[i] for i in res.candidates[:3]])
        return tiles, labels, cols
    images, labels = _gallery(res)
    return images, labels, min(8, len(images))


def _gallery(res: Any) -> tuple[np.ndarray, list[str]]:
    if isinstance(res, SweepResult):
        return np.asarray(res.best_images, np.float32), [f"map {m} · λ={w:g}" for m, w in
                                                          zip(res.maps, res.best_wavelength)]
    if isinstance(res, Reproducibility):
        return (np.asarray(res.best_images[res.order], np.float32),
                [f"map {res.maps[i]} · score {res.score[i]:.2f}" for i in res.order])
    if isinstance(res, Exemplars):
        images = np.concatenate([np.asarray(res.oip_image, np.float32)[None], res.images.astype(np.float32)])
        return images, [f"OIP · {res.oip_activation:.2f}"] + [f"#{i} · {a:.2f}" for i, a in
                                                                zip(res.indices, res.activation)]
    m = res.matching
    return (np.asarray(res.pair_images(), np.float32),
            [c for i in m.order for c in (f"A map {m.a[i]}", f"B map {m.b[i]} · r={m.matched[i]:.2f}")])

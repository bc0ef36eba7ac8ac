"""Plain figure builders: data in, ``go.Figure`` out. No callbacks, no engine calls."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
from plotly.subplots import make_subplots

# Colour scales as plotly.js knows them: an explicit scale, or a name plotly.js has (a plotly.py-only name such as
# "gray" reaches plotly.js unchanged in figures that skip validation, and plotly.js then draws its default scale).
GRAY = [[0.0, "rgb(0,0,0)"], [1.0, "rgb(255,255,255)"]]
MAPS = "Viridis"
MARGIN = dict(l=10, r=10, t=30, b=10)

# Every figure: the modebar stands upright at the right edge, so it never covers a title.
pio.templates["cnnviz"] = go.layout.Template(layout=dict(modebar=dict(orientation="v")))
pio.templates.default = "plotly+cnnviz"


def tile_labels(fig: go.Figure, labels: Sequence[str], cols: int, h: int, w: int, gap: int,
                 size: int = 10) -> None:
    """Writes each tile's label in its top-left corner (a grid of tiles made by :func:`tile_grid`).

    One layout update with plain dicts: ``add_annotation`` validates each call and costs about 5 ms,
    which for 64 tiles was most of a Maps callback."""
    notes = [dict(x=(i % cols) * (w + gap) - 0.5, y=(i // cols) * (h + gap) - 0.5, text=text, showarrow=False,
                  xanchor="left", yanchor="top", font=dict(size=size), bgcolor="rgba(255,255,255,0.75)", borderpad=1)
             for i, text in enumerate(labels)]
    fig.update_layout(annotations=list(fig.layout.annotations) + notes)


def tile_grid(images: np.ndarray, cols: int, gap: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(N, h, w) or (N, h, w, 3) floats -> grid with NaN gaps, plus the index of the tile under each cell (-1: gap)."""
    n, h, w = images.shape[:3]
    rows = math.ceil(n / cols)
    grid = np.full((rows * (h + gap) - gap, cols * (w + gap) - gap, *images.shape[3:]), np.nan, np.float32)
    owner = np.full(grid.shape[:2], -1, np.int32)
    for i, im in enumerate(images):
        r, c = divmod(i, cols)
        grid[r * (h + gap): r * (h + gap) + h, c * (w + gap): c * (w + gap) + w] = im
        owner[r * (h + gap): r * (h + gap) + h, c * (w + gap): c * (w + gap) + w] = i
    return grid, owner


def scaled(images: np.ndarray, rgb: bool) -> np.ndarray:
    """Each image (N, h, w[, 3]) min-max scaled to 0..1 on its own."""
    x = np.asarray(images, np.float32)
    axes = (1, 2, 3) if rgb else (1, 2)
    lo = x.min(axis=axes, keepdims=True)
    return (x - lo) / np.maximum(x.max(axis=axes, keepdims=True) - lo, 1e-12)


def picture(grid: np.ndarray, owner: np.ndarray | None = None, hover: str | None = None,
            custom: np.ndarray | None = None) -> list[dict]:
    """Traces (plain dicts) that show a grid of pictures: a grey heatmap, or for a colour grid (H, W, 3) in 0..1
    an image (white gaps) under an invisible heatmap over the tiles (``owner`` >= 0) that carries hover and
    clicks. ``custom`` (default: ``owner``) is each cell's customdata for ``hover``."""
    custom = owner if custom is None else custom
    if grid.ndim == 2:
        trace = dict(type="heatmap", z=grid, colorscale=GRAY, showscale=False, hoverongaps=False)
        return [trace | (dict(customdata=custom, hovertemplate=hover) if hover else dict(hoverinfo="skip"))]
    rgb = np.round(np.clip(np.nan_to_num(grid, nan=1.0), 0, 1) * 255).astype(np.uint8)
    traces = [dict(type="image", z=rgb, hoverinfo="skip")]
    if hover and owner is not None:
        traces.append(dict(type="heatmap", z=np.where(np.asarray(owner) >= 0, 0.0, np.nan), customdata=custom,
                           opacity=0, showscale=False, hoverongaps=False, hovertemplate=hover))
    return traces


def image_axes(fig: go.Figure, **kw) -> go.Figure:
    fig.update_xaxes(visible=False, constrain="domain", **kw)
    fig.update_yaxes(visible=False, autorange="reversed", scaleanchor="x", constrain="domain", **kw)
    return fig


def empty_figure(message: str = "") -> go.Figure:
    fig = go.Figure()
    fig.update_layout(margin=MARGIN, xaxis_visible=False, yaxis_visible=False, height=200,
                      annotations=[dict(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")])
    return fig


def make_image_figure(pixels: np.ndarray, title: str = "", box: tuple[int, int, int, int] | None = None,
                      height: int = 300, overlay: np.ndarray | None = None) -> go.Figure:
    """One image, grey (h, w) or colour (h, w, 3), 0..255 or standardized; ``box`` = (y0, y1, x0, x1)
    outlines a receptive field; ``overlay`` (h, w, >= 0) lays a heat map over it (an attribution)."""
    x = np.asarray(pixels, np.float32)
    if x.ndim == 3:
        fig = go.Figure(go.Image(z=np.round(scaled(x[None], True)[0] * 255).astype(np.uint8),
                                 hovertemplate="x=%{x} y=%{y}<extra></extra>"))
    else:
        fig = go.Figure(go.Heatmap(z=x, colorscale=GRAY, showscale=False,
                                   hovertemplate="x=%{x} y=%{y}<br>%{z:.3f}<extra></extra>"))
    if overlay is not None:
        a = np.asarray(overlay, np.float32)
        top = float(a.max()) or 1.0
        fig.add_trace(go.Heatmap(z=np.where(a > 0.05 * top, a / top, np.nan), colorscale="Hot", zmin=0, zmax=1,
                                 opacity=0.55, showscale=True, colorbar=dict(thickness=10, title="share"),
                                 hovertemplate="x=%{x} y=%{y}<br>%{z:.2f} of the peak<extra></extra>",
                                 hoverongaps=False))
    if box is not None:
        y0, y1, x0, x1 = box
        fig.add_shape(type="rect", x0=x0 - 0.5, x1=x1 + 0.5, y0=y0 - 0.5, y1=y1 + 0.5,
                      line=dict(color="red", width=2))
    fig.update_layout(title=title, margin=MARGIN, height=height)
    return image_axes(fig)


def make_probs_figure(probs: np.ndarray, class_names: Sequence[str]) -> go.Figure:
    top = int(np.argmax(probs))
    colors = ["#d62728" if i == top else "#1f77b4" for i in range(len(probs))]
    fig = go.Figure(go.Bar(x=list(class_names), y=np.asarray(probs, float), marker_color=colors,
                           hovertemplate="%{x}: %{y:.4f}<extra></extra>"))
    fig.update_layout(title=f"Prediction: {class_names[top]} ({probs[top]:.1%})", margin=MARGIN, height=300,
                      yaxis=dict(range=[0, 1], title="probability"), xaxis=dict(type="category"))
    return fig


def make_map_grid_figure(acts: np.ndarray, scale: str = "map", title: str = "") -> go.Figure:
    """All maps of a layer (h, w, c) as one tiled heatmap; hover names map, position and value.

    ``scale`` "map" stretches each map to its own range (values on the colour bar are then
    relative, 0..1); "layer" shares one colour scale, in activation units, across maps.
    """
    acts = np.asarray(acts, np.float32)
    h, w, c = acts.shape
    maps = np.moveaxis(acts, -1, 0)
    cols = grid_columns(acts.shape)
    if scale == "map":
        lo = maps.min(axis=(1, 2), keepdims=True)
        span = maps.max(axis=(1, 2), keepdims=True) - lo
        shown = np.where(span > 0, (maps - lo) / np.where(span > 0, span, 1), 0)
        bar = "relative"
    else:
        shown, bar = maps, "activation"
    grid, owner = tile_grid(shown, cols)
    raw, _ = tile_grid(maps, cols)
    gy, gx = np.indices(grid.shape)
    gap = 1
    node_y, node_x = gy % (h + gap), gx % (w + gap)
    custom = np.stack([owner, node_x, node_y, np.nan_to_num(raw)], axis=-1)
    fig = go.Figure(go.Heatmap(
        z=grid, customdata=custom, colorscale=MAPS, colorbar=dict(title=bar, thickness=12),
        hovertemplate="map %{customdata[0]} · x=%{customdata[1]} y=%{customdata[2]}<br>"
                      "value %{customdata[3]:.4f}<extra></extra>", hoverongaps=False))
    tile_labels(fig, [str(i) for i in range(c)], cols, h, w, gap, size=9)
    fig.update_layout(title=title, margin=dict(l=10, r=10, t=40, b=10),
                      autosize=True)  # the page sizes it (map_grid_style): as wide as its column
    return image_axes(fig)


def grid_columns(shape: tuple[int, ...]) -> int:
    """Columns of a layer's map grid: 8 for large maps, 16 for small ones."""
    h, _, c = shape
    return min(c, 8 if h > 6 else 16)


def map_grid_style(shape: tuple[int, ...]) -> dict:
    """The map grid's size on the page: its column's whole width, and the height that keeps the maps square
    (plus the title's and the colour bar's room), at most most of the screen."""
    h, w, c = shape
    cols = grid_columns(shape)
    rows = math.ceil(c / cols)
    return {"width": "100%", "aspectRatio": f"{cols * (w + 1) + 12} / {rows * (h + 1) + 6}", "maxHeight": "80vh",
            "minHeight": "260px"}


def make_map_figure(act: np.ndarray, title: str = "", height: int = 300) -> go.Figure:
    """One map (h, w) large, in activation units; hover gives node and value."""
    fig = go.Figure(go.Heatmap(z=np.asarray(act, np.float32), colorscale=MAPS, colorbar=dict(thickness=10),
                               hovertemplate="x=%{x} y=%{y}<br>%{z:.4f}<extra></extra>"))
    fig.update_layout(title=title, margin=dict(l=10, r=10, t=40, b=10), height=height)
    return image_axes(fig)


def make_kernels_figure(kernels: np.ndarray, layer: str = "first layer") -> go.Figure:
    """First-layer kernels (k, k, n) as small images, one shared colour scale around zero; colour
    kernels (k, k, 3, n) as colour images, each scaled on its own."""
    kernels = np.asarray(kernels, np.float32)
    if kernels.ndim == 4 and kernels.shape[2] == 3:
        grid, owner = tile_grid(scaled(np.moveaxis(kernels, -1, 0), True), cols=min(kernels.shape[-1], 16))
        fig = go.Figure(data=picture(grid, owner, "kernel %{customdata}<extra></extra>"), skip_invalid=True)
    else:
        k = np.moveaxis(kernels.reshape(*kernels.shape[:2], -1), -1, 0)
        grid, owner = tile_grid(k, cols=min(len(k), 16))
        lim = float(np.nanmax(np.abs(grid))) or 1.0
        fig = go.Figure(go.Heatmap(z=grid, customdata=owner, colorscale="RdBu", zmin=-lim, zmax=lim,
                                   hovertemplate="kernel %{customdata}<br>%{z:.3f}<extra></extra>", hoverongaps=False))
    fig.update_layout(title=f"{layer} kernels", margin=MARGIN, height=220)
    return image_axes(fig)


def make_history_figure(history: Sequence[dict]) -> go.Figure:
    """Per-epoch loss and accuracy (train and validation)."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("loss", "accuracy"))
    epochs = list(range(1, len(history) + 1))
    for col, key in ((1, "loss"), (2, "accuracy")):
        for prefix, dash in (("", "solid"), ("val_", "dot")):
            ys = [h.get(prefix + key) for h in history]
            if any(v is not None for v in ys):
                fig.add_scatter(x=epochs, y=ys, name=f"{prefix or 'train_'}{key}", line=dict(dash=dash),
                                mode="lines+markers", row=1, col=col)
    fig.update_xaxes(title="epoch")
    fig.update_layout(margin=MARGIN, height=280, legend=dict(orientation="h", y=-0.3))
    return fig


def make_snapshot_accuracy_figure(epochs: Sequence[float], accuracy: Sequence[float], title: str) -> go.Figure:
    """A training's test accuracy at each of its snapshots (epoch 0: untrained)."""
    fig = go.Figure(go.Scatter(x=list(epochs), y=list(accuracy), mode="lines+markers", name="test accuracy",
                               hovertemplate="epoch %{x:g}: %{y:.2%}<extra></extra>"))
    fig.update_layout(title=title, margin=MARGIN, height=240, xaxis_title="epoch", yaxis_tickformat=".0%",
                      yaxis_range=[0, 1.02])
    return fig


def make_train_curves_figure(points: Sequence[dict]) -> go.Figure:
    """Live curves during training: loss and accuracy against fractional epoch."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("loss", "accuracy"))
    xs = [p["x"] for p in points]
    for col, key in ((1, "loss"), (2, "accuracy")):
        fig.add_scatter(x=xs, y=[p[key] for p in points], name=f"train {key}", mode="lines", row=1, col=col)
        val = [(p["x"], p[f"val_{key}"]) for p in points if p.get(f"val_{key}") is not None]
        if val:
            fig.add_scatter(x=[v[0] for v in val], y=[v[1] for v in val], name=f"validation {key}",
                            mode="markers+lines", row=1, col=col)
    fig.update_xaxes(title="epoch")
    fig.update_layout(margin=MARGIN, height=280, legend=dict(orientation="h", y=-0.3))
    return fig


def make_matrix_figure(matrix: np.ndarray, labels: Sequence[str], title: str, x_title: str, y_title: str,
                       colorscale: str = "Blues", fmt: str = "d") -> go.Figure:
    m = np.asarray(matrix)
    fig = go.Figure(go.Heatmap(z=m, x=list(labels), y=list(labels), colorscale=colorscale,
                               text=m, texttemplate="%{text:" + fmt + "}",
                               hovertemplate=f"{y_title} %{{y}} · {x_title} %{{x}}<br>%{{z:{fmt}}}<extra></extra>"))
    fig.update_layout(title=title, margin=MARGIN, height=420,
                      xaxis=dict(title=x_title, type="category"),
                      yaxis=dict(title=y_title, type="category", autorange="reversed"))
    return fig


def make_confusion_figure(confusion: np.ndarray, class_names: Sequence[str]) -> go.Figure:
    """Confusion matrix, rows = true class; off-diagonal counts in a log-like colour scale."""
    c = np.asarray(confusion)
    fig = make_matrix_figure(np.log1p(c), class_names, "Confusion matrix (test set)", "predicted", "true")
    fig.data[0].text = c
    fig.data[0].hovertemplate = "true %{y} · predicted %{x}<br>%{text} images<extra></extra>"
    fig.data[0].showscale = False
    return fig


def tile_shape(units: int) -> tuple[int, int]:
    """Rows × columns of a tile for ``units`` dense nodes: 70 as the articles' 7×10, else near square."""
    if units == 70:
        return 7, 10
    cols = math.ceil(math.sqrt(units))
    return math.ceil(units / cols), cols


def make_dense_tiles_figure(patterns: dict[str, np.ndarray], shape: tuple[int, int] | None = None) -> go.Figure:
    """Dense-layer patterns (70 nodes as a 7x10 tile) side by side, one colour scale."""
    names = list(patterns)
    shape = shape or tile_shape(len(next(iter(patterns.values()))))
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=names, horizontal_spacing=0.04)
    zmax = max(float(np.max(v)) for v in patterns.values()) or 1.0
    for i, name in enumerate(names):
        v = np.asarray(patterns[name], np.float32)
        tile = np.full(shape[0] * shape[1], np.nan, np.float32)
        tile[: len(v)] = v[: tile.size]
        z = tile.reshape(shape)
        nodes = np.arange(tile.size).reshape(shape)
        fig.add_trace(go.Heatmap(z=z, customdata=nodes, zmin=0, zmax=zmax, colorscale=MAPS, showscale=i == len(names) - 1,
                                 hovertemplate="node %{customdata}<br>%{z:.3f}<extra></extra>"), row=1, col=i + 1)
    fig.update_layout(margin=MARGIN, height=260)
    return image_axes(fig)


def make_class_means_figure(means: np.ndarray, class_names: Sequence[str], layer: str) -> go.Figure:
    fig = go.Figure(go.Heatmap(z=means, y=list(class_names), colorscale=MAPS,
                               hovertemplate="class %{y} · node %{x}<br>%{z:.3f}<extra></extra>"))
    fig.update_layout(title=f"Mean {layer} activation per class (test set)", margin=MARGIN, height=320,
                      xaxis_title="node", yaxis=dict(type="category", autorange="reversed"))
    return fig


def make_activation_curve_figure(activation: np.ndarray, labels: Sequence[str],
                                 steps: Sequence[int] | None = None) -> go.Figure:
    """Objective against step, one line per item (``steps``: the step of each column)."""
    fig = go.Figure()
    for a, label in zip(np.asarray(activation), labels):
        fig.add_scatter(x=None if steps is None else list(steps), y=a, mode="lines", name=label)
    fig.update_layout(title="Activation reached", margin=dict(l=10, r=10, t=30, b=10), height=300, xaxis_title="step",
                      yaxis_title="objective", showlegend=len(labels) <= 8,
                      # below the plot, in two columns' worth of space: the curves keep the whole width
                      legend=dict(orientation="h", y=-0.3, x=0, font=dict(size=9), entrywidth=0.5,
                                  entrywidthmode="fraction"))
    return fig


def make_sanity_figure(steps: Sequence[str], rows: Sequence[dict]) -> go.Figure:
    """The randomisation test: mean similarity to the trained model's maps at each step (image-specific and raw,
    with 95 % intervals), ``rows`` as :meth:`cnnviz.results.SanityCheck.rows` gives them."""
    fig = go.Figure()
    for key, name, dash in (("specific", "image-specific", "solid"), ("raw", "raw", "dot")):
        y = [r[f"{key}_spearman"] for r in rows]
        lo = [r[f"{key}_spearman"] - r[f"{key}_ci95"][0] for r in rows]
        hi = [r[f"{key}_ci95"][1] - r[f"{key}_spearman"] for r in rows]
        fig.add_scatter(x=list(steps), y=y, mode="lines+markers", name=f"{name} Spearman", line=dict(dash=dash),
                        error_y=dict(type="data", array=hi, arrayminus=lo))
    fig.add_hline(y=0.2, line=dict(color="grey", width=1, dash="dash"))
    fig.update_layout(title="Similarity to the trained model's maps as weights are randomised", margin=MARGIN,
                      height=280, xaxis_title="re-initialised from the top down to", yaxis_title="Spearman",
                      yaxis_range=[-0.5, 1.05], legend=dict(orientation="h", y=-0.45, x=0, font=dict(size=10)))
    return fig


def make_oip_strip_figure(images: np.ndarray, labels: Sequence[str], title: str = "") -> go.Figure:
    """Images (B, h, w[, 3]) side by side, each scaled to its own range."""
    x = np.asarray(images, np.float32)
    grid, owner = tile_grid(scaled(x, x.ndim == 4), cols=min(len(x), 8), gap=2)
    fig = go.Figure(data=picture(grid, owner, "%{customdata}<extra></extra>"), skip_invalid=True)
    fig.update_layout(title=title, margin=MARGIN, height=260 if len(x) <= 8 else 420)
    return image_axes(fig)


def make_oip_animation_figure(frames: np.ndarray, frame_steps: Sequence[int], activation: np.ndarray,
                              labels: Sequence[str], box: tuple[int, int, int, int] | None = None,
                              step_name: str = "step", captions: Sequence[str] | None = None) -> go.Figure:
    """The evolution of each item side by side, as a plotly animation with play button and slider.

    ``activation`` is (items, frames): each item's objective at each frame, written under its label; an item
    whose objective ends at 0 is marked dead. ``box`` (y0, y1, x0, x1) outlines a node's receptive field on
    every tile. ``captions``: each frame's title (default: "step k").
    """
    frames = np.asarray(frames, np.float32)
    rgb = frames.ndim == 5

    def grid(f: np.ndarray) -> np.ndarray:
        return tile_grid(scaled(f, rgb), cols=min(len(f), 8), gap=2)[0]

    def caption(i: int) -> str:
        return captions[i] if captions is not None else f"{step_name} {float(frame_steps[i]):g}"

    def frame_labels(i: int) -> list[dict]:
        """Each tile's own label (map, λ, seed) and its activation at this frame, above it."""
        h, w = frames.shape[2:4]
        out = []
        for k, label in enumerate(labels[:n_shown]):
            r, c = divmod(k, 8)
            dead = " · dead" if activation[k, -1] <= 1e-6 else ""
            out.append(dict(x=c * (w + 2) + (w - 1) / 2, y=r * (h + 2) - 0.6, showarrow=False, yanchor="bottom",
                            text=f"{label.replace(' · ', ' ')}<br>{activation[k, i]:.2f}{dead}", font=dict(size=9),
                            bgcolor="rgba(255,255,255,0.7)"))
        return out

    n_shown = min(len(labels), frames.shape[1])
    # Plain dicts, built without plotly's per-object validation: 40 validated frames cost ~100 ms,
    # too slow for scrubbing through a layer's maps with the slider (the dicts are valid by construction).
    heat = lambda i: picture(grid(frames[i]))[0]
    fig = go.Figure(data=[heat(len(frames) - 1)],
                    frames=[dict(data=[heat(i)], name=str(i),
                                 layout=dict(title=dict(text=caption(i)), annotations=frame_labels(i)))
                            for i in range(len(frames))], _validate=False)
    steps = [dict(method="animate", label=f"{float(frame_steps[i]):g}",
                  args=[[str(i)], dict(mode="immediate", frame=dict(duration=0, redraw=True), transition=dict(duration=0))])
             for i in range(len(frames))]
    rows = math.ceil(n_shown / 8)
    fig.update_layout(
        # a dict, not a bare string: this figure skips validation, which would otherwise convert it
        title=dict(text=caption(len(frames) - 1)), annotations=frame_labels(len(frames) - 1),
        margin=dict(l=10, r=10, t=40, b=10),
        height=min(900, 150 + 230 * rows) if n_shown > 2 else 420,
        updatemenus=[dict(type="buttons", showactive=False, x=0, y=-0.05, xanchor="left", yanchor="top",
                          buttons=[dict(label="▶ Play", method="animate",
                                        args=[None, dict(frame=dict(duration=150, redraw=True), fromcurrent=False,
                                                         transition=dict(duration=0))]),
                                   dict(label="❚❚ Pause", method="animate",
                                        args=[[None], dict(mode="immediate", frame=dict(duration=0, redraw=False))])])],
        sliders=[dict(active=len(frames) - 1, steps=steps, x=0.15, len=0.85, y=-0.02,
                      currentvalue=dict(prefix=f"{step_name} "))])
    if box is not None:
        y0, y1, x0, x1 = box
        h, w = frames.shape[2:4]
        for i in range(min(frames.shape[1], 8 * math.ceil(frames.shape[1] / 8))):
            r, c = divmod(i, 8)
            oy, ox = r * (h + 2), c * (w + 2)  # the tiles' offsets in the grid (gap 2)
            fig.add_shape(type="rect", x0=ox + x0 - 0.5, x1=ox + x1 + 0.5, y0=oy + y0 - 0.5, y1=oy + y1 + 0.5,
                          line=dict(color="red", width=2))
    return image_axes(fig)


def make_gallery_figure(images: np.ndarray, activation: np.ndarray, layer: str, unit: str = "map",
                        names: Sequence[str] | None = None) -> go.Figure:
    """One OIP per map of a layer as one grid, each tile labelled (``names``, else "map i"; "dead" where the
    search never opened); clicking a tile names its map (customdata[0])."""
    x = np.asarray(images, np.float32)
    act = np.asarray(activation, np.float32)
    grid, owner = tile_grid(scaled(x, x.ndim == 4), cols=8, gap=2)
    names = list(names) if names is not None else [f"{unit} {i}" for i in range(len(x))]
    text = [f"{n} · dead" if a <= 1e-6 else n for n, a in zip(names, act)]
    tile_labels(fig := go.Figure(), text, 8, x.shape[1], x.shape[2], 2, size=9)
    acts = np.where(owner >= 0, act[np.clip(owner, 0, None)], np.nan)
    fig.add_traces(picture(grid, owner, unit + " %{customdata[0]}<br>activation %{customdata[1]:.3f}"
                                       "<extra>click to open</extra>", np.stack([owner, acts], -1)))
    dead = int((act <= 1e-6).sum())
    fig.update_layout(title=f"{layer}: each {unit}'s OIP (best seed) · click one to open it"
                            + (f" · {dead} dead" if dead else ""),
                      margin=dict(l=10, r=10, t=40, b=10), height=min(1100, 120 + 120 * math.ceil(len(x) / 8)))
    return image_axes(fig)


def make_noise_figure(noise: np.ndarray, spectra: dict[str, np.ndarray], chosen: str, waves: str) -> go.Figure:
    """The start noise (left) and the radial power spectrum of each noise family (right; chosen in bold)."""
    fig = make_subplots(rows=1, cols=2, column_widths=[0.45, 0.55], horizontal_spacing=0.12,
                        subplot_titles=(f"{chosen}, λ={waves}", "power by |k|"))
    noise = np.asarray(noise)
    fig.add_trace(go.Heatmap(z=noise.mean(-1) if noise.ndim == 3 else noise, colorscale=GRAY, showscale=False,
                             hoverinfo="skip"), row=1, col=1)
    for family, p in spectra.items():
        k = np.arange(1, len(p))
        fig.add_scatter(x=k, y=p[1:] / p[1:].sum(), mode="lines", name=family, row=1, col=2,
                        line=dict(width=3 if family == chosen else 1))
    fig.update_xaxes(visible=False, row=1, col=1)
    fig.update_yaxes(visible=False, autorange="reversed", scaleanchor="x", row=1, col=1)
    fig.update_xaxes(title=dict(text="cycles / image", font=dict(size=9)), row=1, col=2, tickfont=dict(size=8))
    fig.update_yaxes(type="log", showticklabels=False, row=1, col=2)
    fig.update_layout(margin=dict(l=5, r=5, t=30, b=30), height=200, showlegend=True,
                      legend=dict(orientation="h", y=-0.35, font=dict(size=8)))
    fig.update_annotations(font_size=10)
    return fig


def make_contrast_figure(images: np.ndarray, labels: Sequence[str]) -> go.Figure:
    """Contrast-enhanced OIPs (0..1) in a grid, each labelled."""
    x = np.asarray(images, np.float32)
    cols = min(len(x), 8)
    grid, _ = tile_grid(x, cols=cols, gap=2)
    fig = go.Figure(go.Heatmap(z=grid, colorscale=GRAY, zmin=0, zmax=1, showscale=False, hoverinfo="skip"))
    tile_labels(fig, list(labels), cols, x.shape[1], x.shape[2], 2, size=9)
    fig.update_layout(title="Contrast-enhanced", margin=dict(l=10, r=10, t=40, b=10),
                      height=min(1100, 100 + 120 * math.ceil(len(x) / cols)))
    return image_axes(fig)


def warm_up() -> None:
    """Builds one figure of each kind, once: plotly imports its validators on first use (about a second), and
    that second belongs to start-up, not to a user's first click."""
    x = np.zeros((2, 8, 8), np.float32)
    make_oip_strip_figure(x, ["a", "b"])
    make_activation_curve_figure(np.zeros((2, 3)), ["a", "b"], [0, 1, 2])
    make_map_grid_figure(np.zeros((4, 4, 2), np.float32))
    make_image_figure(np.zeros((8, 8)), "x", overlay=np.zeros((8, 8)))
    make_gallery_figure(x, np.ones(2), "layer")
    make_probs_figure(np.array([0.5, 0.5]), ["a", "b"])
    empty_figure("")

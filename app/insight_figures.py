"""Figure builders of the Insight page: data in, ``go.Figure`` out."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from cnnviz.results import DeadRates

from .figures import MARGIN, image_axes, picture, scaled, tile_grid, tile_labels


def make_tiles_figure(images: np.ndarray, captions: Sequence[str], title: str, cols: int = 8,
                      tile_px: int = 110, show_captions: bool | None = None) -> go.Figure:
    """Images as one grid, each scaled alone; hover shows its caption, ``customdata[0]`` its index.

    With few tiles the captions are written above them; with many, each tile's short name (its caption up to the
    first " · ": "map 13", "A 5") in its corner, so that a saved screenshot still says which is which.
    """
    images = np.asarray(images, np.float32)
    x = scaled(images, images.ndim == 4)
    cols = max(1, min(cols, len(x)))
    h = x.shape[1]
    gap = max(2, h // 7)
    grid, owner = tile_grid(x, cols=cols, gap=gap)
    text = np.asarray(list(captions) + [""], dtype=object)[np.where(owner >= 0, owner, len(captions))]
    fig = go.Figure(data=picture(grid, owner, "%{customdata[1]}<extra></extra>", np.stack([owner, text], -1)),
                    skip_invalid=True)
    rows = math.ceil(len(x) / cols)
    if show_captions if show_captions is not None else len(x) <= 24:
        for i, cap in enumerate(captions):
            r, c = divmod(i, cols)
            fig.add_annotation(x=c * (h + gap) + (h - 1) / 2, y=r * (h + gap) - 0.8, text=cap, showarrow=False,
                               yanchor="bottom", font=dict(size=10))
    else:
        tile_labels(fig, [str(cap).split(" · ")[0] for cap in captions], cols, h, x.shape[2], gap, size=8)
    px = min(tile_px, 950 / cols)  # the grid keeps its aspect: wide grids get smaller tiles
    fig.update_layout(title=title, margin=dict(l=10, r=10, t=50, b=10), height=min(1100, 90 + int(px * 1.15) * rows))
    return image_axes(fig)


def make_sweep_figure(mean_activation: np.ndarray, dead: np.ndarray, maps: Sequence[int],
                      wavelengths: Sequence[float], layer: str) -> go.Figure:
    """Maps × wavelengths heatmap of the activation reached (mean over seeds), relative to each map's best
    wavelength so that maps of any strength compare; hover gives the absolute value. Dead cells: ✕."""
    act = np.asarray(mean_activation, np.float32).T  # (wavelengths, maps): wide, not tall
    z = act / np.maximum(act.max(axis=0, keepdims=True), 1e-12)
    marks = np.where(np.asarray(dead).T > 0, "✕", "")
    fig = go.Figure(go.Heatmap(z=z, x=list(maps), y=[f"λ={w:g}" for w in wavelengths],
                               colorscale="Viridis", zmin=0, zmax=1, text=marks, texttemplate="%{text}",
                               customdata=act, colorbar=dict(title="of best", thickness=12),
                               hovertemplate="map %{x} · %{y}<br>activation %{customdata:.3f} "
                                             "(%{z:.0%} of its best)<extra></extra>"))
    fig.update_layout(title=f"{layer}: activation reached, relative to each map's best wavelength (✕ = dead)",
                      margin=dict(l=10, r=10, t=40, b=30), height=300,
                      xaxis=dict(title="map", dtick=1 if len(maps) <= 32 else 4, tickfont=dict(size=10)),
                      yaxis=dict(type="category"))
    return fig


def make_dead_fraction_figure(rates: DeadRates, mean_activation: np.ndarray, wavelengths: Sequence[float]) -> go.Figure:
    """Per wavelength, with Wilson 95 % error bars: dead at the start, and dead at the end by each method that
    ran (bars, named by :meth:`DeadRates.series`); the mean activation reached (line, right axis)."""
    labels = [f"λ={w:g}" for w in wavelengths]
    fig = go.Figure()
    top = 5.0
    for _, name, rs in rates.series():
        v = np.array([100 * r.value for r in rs])
        lo = np.array([100 * r.interval[0] for r in rs])
        hi = np.array([100 * r.interval[1] for r in rs])
        top = max(top, float(hi.max()) * 1.15)
        fig.add_bar(x=labels, y=v, name=name, error_y=dict(type="data", symmetric=False, array=hi - v,
                                                           arrayminus=v - lo),
                    hovertemplate="%{x}: %{y:.1f} %<extra>" + name + "</extra>")
    if len(mean_activation):  # a stopped sweep has no maps
        fig.add_scatter(x=labels, y=np.asarray(mean_activation).mean(0), name="mean activation", yaxis="y2",
                        mode="lines+markers")
    fig.update_layout(title=f"Dead searches per wavelength ({rates.start[0].n} searches each; bars: 95 % intervals)",
                      margin=dict(l=10, r=10, t=40, b=10), height=340, barmode="group",
                      yaxis=dict(title="dead (%)", range=[0, min(100.0, top)]),
                      yaxis2=dict(title="activation", overlaying="y", side="right", rangemode="tozero",
                                  tickmode="auto", nticks=6, tickformat=".3~g", showgrid=False),
                      legend=dict(orientation="h", y=-0.25, x=0))
    return fig


def make_correlation_figure(correlation: np.ndarray, a: Sequence[int], b: Sequence[int], layer: str) -> go.Figure:
    """A's maps × B's maps in the order of the pairs (a[k], b[k]): the diagonal holds the pairs.

    Positions are plain numbers with the map indices as tick labels (numeric-looking
    category labels are not reliably kept in the given order).
    """
    c = np.asarray(correlation, np.float32)
    rest = [j for j in range(c.shape[1]) if j not in set(b)]
    cols, rows = list(b) + rest, list(a)
    fig = go.Figure(go.Heatmap(z=c[rows][:, cols], colorscale="RdBu", zmid=0, zmin=-1, zmax=1,
                               customdata=np.array([[(i, j) for j in cols] for i in rows]),
                               colorbar=dict(title="r", thickness=12),
                               hovertemplate="A map %{customdata[0]} · B map %{customdata[1]}<br>r = %{z:.3f}"
                                             "<extra></extra>"))
    every = max(1, math.ceil(len(rows) / 16))  # readable: at most 16 labels a side (every 8th map of 64 and so on)

    def ticks(labels):
        return dict(tickmode="array", tickvals=list(range(0, len(labels), every)),
                    ticktext=[str(v) for v in labels[::every]], tickfont=dict(size=10))
    fig.update_layout(title=f"{layer}: correlation over the test set (diagonal: matched pairs, best first)",
                      margin=MARGIN,
                      height=520, xaxis=dict(title="model B map", **ticks(cols)),
                      yaxis=dict(title="model A map", autorange="reversed", **ticks(rows)))
    return fig


def make_contribution_figure(names: Sequence[str], values: Sequence[float], title: str) -> go.Figure:
    """A unit's strongest incoming units: the drop of its mean when each is zeroed (negative: inhibitory)."""
    fig = go.Figure(go.Bar(x=list(names), y=list(values), marker_color=["#2a7" if v >= 0 else "#c44" for v in values],
                           hovertemplate="unit %{x}: %{y:.1%}<extra></extra>"))
    fig.update_layout(title=title, margin=MARGIN, height=260, xaxis_title="incoming unit", yaxis_tickformat=".0%",
                      xaxis_type="category")
    return fig


def make_timeline_figure(epochs: Sequence[int], accuracy: Sequence[float], dead_share: Sequence[float],
                         formed: Sequence[int | None]) -> go.Figure:
    """Test accuracy and the layer's dead share per snapshot (left), and how many maps formed at each epoch."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=("test accuracy and dead searches by epoch",
                                                        "maps formed (correlation ≥ 0.8 with the final OIP) at"))
    fig.add_scatter(x=list(epochs), y=list(accuracy), mode="lines+markers", name="test accuracy", row=1, col=1)
    fig.add_scatter(x=list(epochs), y=list(dead_share), mode="lines+markers", name="dead at the start", row=1, col=1)
    labels = [str(e) for e in epochs] + ["never"]
    fig.add_bar(x=labels, y=[sum(f == e for f in formed) for e in epochs] + [sum(f is None for f in formed)],
                name="maps", row=1, col=2, showlegend=False)
    fig.update_layout(margin=MARGIN, height=300, legend=dict(orientation="h", y=-0.25))
    fig.update_xaxes(title_text="epoch", row=1, col=1)
    fig.update_xaxes(title_text="epoch", type="category", row=1, col=2)
    fig.update_yaxes(tickformat=".0%", range=[0, 1.02], row=1, col=1)
    return fig

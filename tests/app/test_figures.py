import numpy as np
import plotly.graph_objects as go
import pytest

from app import figures


def test_map_grid_tiles_every_map_with_hover_data(rng):
    acts = rng.random((11, 11, 64)).astype(np.float32)
    fig = figures.make_map_grid_figure(acts, "layer", "t")
    z = np.asarray(fig.data[0].z, dtype=float)
    custom = np.asarray(fig.data[0].customdata)
    assert z.shape == (8 * 12 - 1, 8 * 12 - 1)
    owners = set(np.unique(custom[..., 0]).astype(int)) - {-1}
    assert owners == set(range(64))
    # a cell of map 9 (row 1, col 1) at node (x=2, y=3) holds that value
    r, c = 12 + 3, 12 + 2
    assert custom[r, c, :3].tolist() == [9, 2, 3] and z[r, c] == pytest.approx(acts[3, 2, 9])


def test_per_map_scale_is_relative(rng):
    acts = rng.random((3, 3, 4)).astype(np.float32) * np.array([1, 10, 100, 1000], np.float32)
    z = np.asarray(figures.make_map_grid_figure(acts, "map").data[0].z, dtype=float)
    assert np.nanmin(z) == 0 and np.nanmax(z) == 1


def test_animation_has_one_frame_per_recorded_step(rng):
    frames = rng.standard_normal((7, 3, 28, 28)).astype(np.float32)
    fig = figures.make_oip_animation_figure(frames, list(range(0, 35, 5)), rng.random((3, 31)), ["a", "b", "c"])
    assert len(fig.frames) == 7 and len(fig.layout.sliders[0].steps) == 7
    assert fig.layout.updatemenus[0].buttons[0].label.endswith("Play")
    # built without validation for speed: what plotly.js reads must still be in its current form
    out = fig.to_plotly_json()
    assert out["layout"]["title"] == {"text": "step 30"} and out["frames"][2]["layout"]["title"] == {"text": "step 10"}
    assert out["layout"]["yaxis"]["autorange"] == "reversed" and len(out["layout"]["annotations"]) == 3


@pytest.mark.parametrize("build", [
    lambda r: figures.make_image_figure(r.random((28, 28)), "x", (0, 17, 4, 21)),
    lambda r: figures.make_probs_figure(r.dirichlet(np.ones(10)), [str(i) for i in range(10)]),
    lambda r: figures.make_kernels_figure(r.standard_normal((3, 3, 32))),
    lambda r: figures.make_history_figure([{"loss": 1.0, "accuracy": 0.5, "val_loss": 0.9, "val_accuracy": 0.6}] * 3),
    lambda r: figures.make_confusion_figure(r.integers(0, 50, (10, 10)), [str(i) for i in range(10)]),
    lambda r: figures.make_dense_tiles_figure({"a": r.random(70), "b": r.random(70)}),
    lambda r: figures.make_class_means_figure(r.random((10, 70)), [str(i) for i in range(10)], "Dense_1"),
    lambda r: figures.make_gallery_figure(r.standard_normal((64, 28, 28)), r.random(64), "Conv2D_3"),
    lambda r: figures.make_train_curves_figure([{"x": 0.5, "loss": 1, "accuracy": 0.5},
                                                {"x": 1, "loss": 0.5, "accuracy": 0.8, "val_loss": 0.4,
                                                 "val_accuracy": 0.9}]),
    lambda r: figures.make_activation_curve_figure(r.random((2, 10)), ["a", "b"]),
    lambda r: figures.make_oip_strip_figure(r.standard_normal((3, 28, 28)), ["a", "b", "c"]),
], ids=["image", "probs", "kernels", "history", "confusion", "dense", "means", "gallery", "curves", "activation", "strip"])
def test_builders_return_serialisable_figures(build, rng):
    fig = build(rng)
    assert isinstance(fig, go.Figure) and fig.data
    fig.to_json()


def test_receptive_box_is_outlined():
    fig = figures.make_image_figure(np.zeros((28, 28)), box=(4, 21, 8, 25))
    rect = fig.layout.shapes[0]
    assert (rect.x0, rect.x1, rect.y0, rect.y1) == (7.5, 25.5, 3.5, 21.5)


PLOTLY_JS_SCALES = {"Blackbody", "Bluered", "Blues", "Cividis", "Earth", "Electric", "Greens", "Greys", "Hot", "Jet",
                    "Picnic", "Portland", "Rainbow", "RdBu", "Reds", "Viridis", "YlGnBu", "YlOrRd"}


def _colorscales(obj):
    """Every colorscale in a figure's JSON, frames included."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == "colorscale" and isinstance(v, dict):  # the template's: sequential, diverging…
                yield from v.values()
            elif k == "colorscale":
                yield v
            else:
                yield from _colorscales(v)
    elif isinstance(obj, list | tuple):
        for v in obj:
            yield from _colorscales(v)


def test_every_colour_scale_is_one_plotly_js_knows(rng):
    """A plotly.py-only name ("gray") reaches the browser unchanged in a figure that skips validation, and
    plotly.js then draws its default blue-to-red scale: every builder's JSON, animation frames included."""
    import json

    from app import insight_figures
    from cnnviz.results import DeadRates, Rate

    figs = [figures.make_oip_animation_figure(rng.standard_normal((3, 2, 28, 28)), [0, 5, 10], rng.random((2, 3)),
                                              ["a", "b"]),
            figures.make_oip_strip_figure(rng.standard_normal((3, 28, 28)), ["a", "b", "c"]),
            figures.make_gallery_figure(rng.standard_normal((9, 28, 28)), rng.random(9), "Conv2D_3"),
            figures.make_image_figure(rng.random((28, 28)), "x", overlay=rng.random((28, 28))),
            figures.make_map_grid_figure(rng.random((3, 3, 8))), figures.make_map_figure(rng.random((3, 3))),
            figures.make_kernels_figure(rng.standard_normal((3, 3, 8))),
            figures.make_noise_figure(rng.standard_normal((28, 28)), {"lowpass": rng.random(20)}, "lowpass", "4"),
            figures.make_contrast_figure(rng.random((3, 28, 28)), ["a", "b", "c"]),
            figures.make_confusion_figure(rng.integers(0, 9, (3, 3)), ["a", "b", "c"]),
            figures.make_dense_tiles_figure({"a": rng.random(70)}),
            figures.make_class_means_figure(rng.random((3, 70)), ["a", "b", "c"], "Dense_1"),
            insight_figures.make_tiles_figure(rng.standard_normal((4, 28, 28)), list("abcd"), "t"),
            insight_figures.make_sweep_figure(rng.random((4, 2)), rng.random((4, 2)), [0, 1, 2, 3], [1, 4], "c"),
            insight_figures.make_correlation_figure(rng.random((4, 4)), [0, 1, 2, 3], [1, 0, 2, 3], "c"),
            insight_figures.make_dead_fraction_figure(DeadRates([Rate(1, 4)], [Rate(1, 4)], None), rng.random((4, 1)),
                                                      [1])]
    for fig in figs:
        for scale in _colorscales(json.loads(fig.to_json())):
            assert isinstance(scale, list) or scale in PLOTLY_JS_SCALES, (fig.layout.title.text, scale)

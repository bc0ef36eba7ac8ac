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

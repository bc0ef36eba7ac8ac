"""Objectives beyond one unit (cnnviz.objectives, ``cnnviz oip --negative/--diversity/--objective/--interpolate``):
the issue's four checks, measured on the files the CLI writes, and the objective against numpy."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cnnviz.cli import main
from cnnviz.search import Objective, OIPConfig, Term, Unit, parse_expression

CONFIG = OIPConfig(steps=60, frame_every=10)


def _oip(capsys, tmp_path, *argv):
    code = main(["oip", *argv, "--out", str(tmp_path), "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err[-2000:]
    with np.load(tmp_path / "oip.npz") as f:
        images = f["images"]
    assert (tmp_path / "oip.png").stat().st_size > 0 and (tmp_path / "oip.gif").stat().st_size > 0
    return json.loads(out), images


def _mean_correlation(images: np.ndarray) -> float:
    c = np.corrcoef(images.reshape(len(images), -1))
    return float((c.sum() - len(c)) / (len(c) * (len(c) - 1)))


def test_expressions_parse_and_bad_ones_say_how_to_write_them():
    assert parse_expression("Conv2D_3:13 - 0.5*Conv2D_3:25") == (Term(Unit("Conv2D_3", 13), 1.0),
                                                                  Term(Unit("Conv2D_3", 25), -0.5))
    assert parse_expression("Dense_2:7-Dense_2:1")[1] == Term(Unit("Dense_2", 1), -1.0)
    assert parse_expression("Conv2D_3:1@2,3")[0].unit.node == (2, 3)
    assert Objective("expression", parse_expression("Conv2D_3:13 - 0.5*Conv2D_3:25")).describe() == \
        "Conv2D_3:13 - 0.5·Conv2D_3:25"
    for bad in ("", "Conv2D_3", "Conv2D_3:1 Conv2D_3:2", "Conv2D_3:1 +", "Conv2D_3:1 + Conv2D_3:1"):
        with pytest.raises(ValueError, match="expression"):
            parse_expression(bad)
    with pytest.raises(ValueError, match="interpolation mode takes 2..2 units"):
        Objective.of("interpolation", [Unit("Conv2D_3", 1)])


def test_negative_goes_below_the_test_sets_first_percentile(capsys, tmp_path, default_model, mnist):
    from cnnviz.objectives import unit_values

    report, images = _oip(capsys, tmp_path, "--layer", "Conv2D_3", "--maps", "13", "--negative", "--seeds", "3")
    objective = Objective.of("negative", [Unit("Conv2D_3", 13)])
    p1 = np.percentile(unit_values(default_model, objective, mnist.x_test, count=10_000)[:, 0], 1)
    assert report["checks"]["test_percentile_1"] == pytest.approx(p1, rel=1e-4)
    # measured again on the written images (model input units): before the ReLU, below the 1st percentile
    from cnnviz.objectives import _composite

    values = _composite(default_model, objective).term_values(images[..., None].astype(np.float32)).numpy()[:, 0]
    assert (values < p1).all() and report["checks"]["below_percentile_1"]
    assert values == pytest.approx([im["terms"]["Conv2D_3:13"]["end"] for im in report["images"]], rel=1e-3)


def test_diversity_spreads_four_facets_and_keeps_the_activation(capsys, tmp_path, default_model):
    from cnnviz.oip import items_for, run_oip

    report, images = _oip(capsys, tmp_path, "--layer", "Conv2D_3", "--maps", "25", "--diversity", "1",
                          "--seeds", "4", "--wavelength", "4")
    plain = run_oip(default_model, items_for(default_model, "Conv2D_3", [25], seeds=range(4), wavelengths=[(4.0,)]),
                    CONFIG.with_method("skip-dead"))
    assert _mean_correlation(images) <= _mean_correlation(plain.images) - 0.2
    ours = np.mean([im["terms"]["Conv2D_3:25"]["end"] for im in report["images"]])
    assert ours >= 0.7 * plain.end_activation.mean()
    assert report["checks"]["correlation_drop"] >= 0.2 and report["checks"]["activation_kept"] >= 0.7


def test_interpolation_moves_from_a_to_b_frame_by_frame(capsys, tmp_path):
    report, images = _oip(capsys, tmp_path, "--layer", "Conv2D_3", "--interpolate", "13,25", "--frames", "8",
                          "--wavelength", "4")
    assert images.shape == (8, 28, 28)
    scales = [t["scale"] for t in report["terms"]]
    a = np.array([max(im["terms"]["Conv2D_3:13"]["end"], 0) / scales[0] for im in report["images"]])
    b = np.array([max(im["terms"]["Conv2D_3:25"]["end"], 0) / scales[1] for im in report["images"]])
    share = a / (a + b)
    assert np.all(np.diff(share) < 0) and share[0] > 0.8 and share[-1] < 0.2, share
    assert report["checks"]["share_a_falls"]


@pytest.mark.parametrize("expr", ["Conv2D_3:13 + Conv2D_3:25", "Conv2D_3:4 + Dense_1:5"])
def test_a_sum_reaches_half_of_each_units_own_level_or_says_they_conflict(capsys, tmp_path, expr):
    report, _ = _oip(capsys, tmp_path, "--objective", expr, "--wavelength", "4", "--seeds", "2")
    ends = [t["mean_end"] for t in report["terms"]]
    plain = report["checks"]["plain_mean"]
    short = [t["unit"] for t, e, p in zip(report["terms"], ends, plain) if e < 0.5 * p]
    assert report["checks"]["conflicts"] == short
    assert ("conflict" in report["checks"]["verdict"]) == bool(short)


def test_the_objective_is_the_scaled_weighted_sum_minus_the_penalty(default_model, mnist):
    """The reported objective against numpy: Σ w/scale · unit, and the diversity penalty on Conv2D_1's maps."""
    from cnnviz.activations import layer_output
    from cnnviz.objectives import DIVERSITY, run_objective

    run = run_objective(default_model, Objective("expression", parse_expression("Conv2D_3:13 - 0.5*Dense_2:1")),
                        OIPConfig(steps=5, frame_every=5), images=mnist.x_test, seeds=range(3))
    expect = (run.end_terms * np.array([1.0, -0.5]) / run.scales).sum(1)
    assert run.result.activation[:, -1] == pytest.approx(expect, rel=1e-4, abs=1e-5)
    run = run_objective(default_model, Objective.of("diversity", [Unit("Conv2D_3", 13)], weight=0.5),
                        OIPConfig(steps=5, frame_every=5), images=mnist.x_test, seeds=range(3))
    lower = np.concatenate([a for _, a in layer_output(default_model, "Conv2D_1", run.result.images[..., None], batch=8)])
    pooled = lower.reshape(3, 13, 2, 13, 2, -1).mean(axis=(2, 4)).reshape(3, -1)  # 2×2 average pooling of 26×26
    rows = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
    cos = rows @ rows.T
    penalty = DIVERSITY * 0.5 * (cos.sum(1) - 1) / 2
    assert run.result.activation[:, -1] == pytest.approx(run.end_terms[:, 0] / run.scales[0] - penalty, rel=1e-3,
                                                         abs=1e-4)


@pytest.mark.parametrize("name", ["byo", "rgb"])
def test_every_mode_on_an_imported_model(foreign, name):
    from cnnviz.objectives import run_objective

    m = foreign[name]
    layer = m.spatial_layers[-1]
    images = np.load(foreign["data"])["x_test"] if name == "rgb" else None
    if images is None:
        from cnnviz.data import load_dataset

        images = load_dataset("mnist").x_test
    dense = [info.name for info in m.layers if info.role == "output"][0]
    for objective in (Objective.of("negative", [Unit(layer, 0)]), Objective.of("diversity", [Unit(layer, 1)]),
                      Objective.of("interpolation", [Unit(layer, 0), Unit(layer, 1)], frames=4),
                      Objective("expression", (Term(Unit(layer, 0)), Term(Unit(dense, 1), -1.0)))):
        run = run_objective(m, objective, OIPConfig(steps=10, frame_every=5), images=images, seeds=range(2))
        assert np.isfinite(run.result.images).all() and run.result.images.shape[1:] == m.image_shape
        assert run.result.activation[:, -1].mean() > run.result.activation[:, 0].mean(), objective.describe()

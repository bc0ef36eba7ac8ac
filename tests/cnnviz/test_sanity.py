"""The cascading randomisation test of the attribution methods (Adebayo et al. 2018)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import spearmanr


def test_row_spearman_equals_scipys_with_ties(rng):
    from cnnviz.sanity import _spearman

    a = np.round(rng.normal(size=(5, 60)), 1)  # rounded: many ties
    b = a + rng.normal(size=(5, 60))
    b[2] = np.maximum(b[2], 0.5)  # a clipped row, like a Grad-CAM map after its ReLU
    mine = _spearman(a, b)
    for i in range(5):
        assert mine[i] == pytest.approx(spearmanr(a[i], b[i]).statistic, abs=1e-12)
    assert _spearman(np.zeros((1, 9)), a[:1, :9])[0] == 0  # a constant map correlates with nothing


@pytest.mark.parametrize("method", ["saliency", "gradcam"])
def test_maps_of_a_randomised_model_say_nothing_about_the_image(default_model, mnist, method):
    from cnnviz.sanity import sanity_check, weighted_layers

    before = [w.copy() for w in default_model.keras_model.get_weights()]
    r = sanity_check(default_model, mnist.x_test[:24], method)
    assert r.steps == ["original", "Dense_2", "Dense_1", "Conv2D_3", "Conv2D_2", "Conv2D_1"]
    assert r.steps[1:] == weighted_layers(default_model)
    np.testing.assert_allclose(r.specific[0], 1) and np.testing.assert_allclose(r.raw[0], 1)
    assert r.specific[-1].mean() < 0.2 and r.passes
    for a, b in zip(before, default_model.keras_model.get_weights()):
        np.testing.assert_array_equal(a, b)  # the loaded model is untouched: a copy was randomised
    if method == "saliency":
        # the trap the image-specific number avoids: raw rank correlation stays high for random weights
        assert r.raw[-1].mean() > 0.5


def test_the_check_runs_on_imported_models(foreign):
    from cnnviz.sanity import sanity_check, weighted_layers

    for name in ("residual", "rgb"):
        m = foreign[name]
        images = np.asarray(np.load(foreign["data"])["x_test"][:6]) if name == "rgb" else None
        if images is None:
            from cnnviz.data import load_dataset

            images = load_dataset("mnist").x_test[:6]
        r = sanity_check(m, images, "gradcam")
        assert len(r.steps) == len(weighted_layers(m)) + 1 and r.raw.shape == (len(r.steps), 6)
        assert np.isfinite(r.specific).all()


def test_bad_requests_are_refused(default_model, mnist):
    from cnnviz.sanity import sanity_check

    with pytest.raises(ValueError, match="method must be one of"):
        sanity_check(default_model, mnist.x_test[:4], "lime")
    with pytest.raises(ValueError, match="images must be 2..256 images"):
        sanity_check(default_model, mnist.x_test[:1], "saliency")


def test_sanity_command(capsys):
    from .test_cli import run

    code, out, _ = run(capsys, "sanity", "--method", "gradcam", "--images", "8", "--json")
    res = json.loads(out)
    assert code == 0 and res["method"] == "gradcam" and res["layer"] == "Conv2D_3" and res["images"] == 8
    assert res["steps"][0]["randomised_down_to"] == "original" and len(res["steps"]) == 6
    assert res["final_specific_spearman"] < 0.2 and res["passes"] is True
    lo, hi = res["steps"][-1]["specific_ci95"]
    assert lo <= res["final_specific_spearman"] <= hi

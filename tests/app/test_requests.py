"""The pages' typed requests, built from their forms: every control checked once, the limits in one place."""

from __future__ import annotations

import numpy as np
import pytest

from app.engine.results import ModelInfo
from app.requests import InsightRequest, OIPRequest, TrainRequest
from harness.fake_ops import articles_layers

OIP_FORM = dict(layer=4, map=5, whole=False, node_on=False, node_x=1, node_y=1, waves=[0, 2], mix=False, seeds=2,
                steps=60, step_size=0.1, blur=4, sigma=0.5, jitter=0, noise="lowpass", method="redirected", in_range="auto")
INSIGHT_FORM = dict(analysis="sweep", layer="Conv2D_3", map=5, node_on=False, node_x=1, node_y=1, model_b="default",
                    waves=[1, 4], seeds=2, steps=60, k=9, method="redirected", noise="lowpass")
TRAIN_FORM = dict(dataset="mnist", epochs=1, batch=64, lr=0.02, schedule="exponential", momentum=0.9, l2=1e-4,
                  subset=1000, name="fresh-name")


def info(name: str = "default", shape=(28, 28, 1)) -> ModelInfo:
    return ModelInfo(name, "0" * 64, articles_layers(), {}, np.zeros(0), "CPU", shape)


def test_an_oip_request_from_the_lab_form():
    r = OIPRequest.from_form(info(), **OIP_FORM)
    assert r.layer == "Conv2D_3" and r.maps == (5,) and r.wavelength_sets == ((1.0,), (2.0,), (4.0,))
    assert r.config.frame_every == 2 and len(r.items()) == 6 and r.items()[1].seed == 1
    assert r.labels()[0] == "map 5 · λ=1 · seed 0"
    whole = OIPRequest.from_form(info(), **{**OIP_FORM, "whole": True, "mix": True, "node_on": True})
    assert whole.maps == tuple(range(64)) and whole.wavelength_sets == ((1.0, 2.0, 4.0),) and whole.node == (1, 1)
    assert whole.params()["maps"] == list(range(64)) and whole.per_map == 2
    assert OIPRequest.from_form(info(), **{**OIP_FORM, "layer": "Dense_2"}).labels(tuple("abcdefghij"))[0] == \
        "class f · λ=1 · seed 0"


@pytest.mark.parametrize("change,match", [
    ({"layer": "Flatten"}, "layer must be one of"),
    ({"layer": "Dense_1", "node_on": True}, "untick"),
    ({"map": 64}, r"map must be in 0..63"),
    ({"map": "x"}, "whole number"),
    ({"node_on": True, "node_x": 3}, r"node x must be in 0..2"),
    ({"waves": [3, 9]}, "wavelength range must be two positions"),
    ({"waves": []}, "wavelength range must be two positions"),
    ({"seeds": 9}, r"seeds must be in 1..8"),
    ({"steps": 10_000}, r"steps must be in 1..500"),
    ({"step_size": float("nan")}, "step size"),
    ({"jitter": 5}, "jitter"),
    ({"noise": "pink"}, "noise must be one of"),
    ({"whole": True, "seeds": 8, "waves": [0, 5]}, "At most 1024 searches"),
], ids=["layer", "dense-node", "map", "map-type", "node", "wavelength", "no-wavelength", "seeds", "steps", "step-size",
        "jitter", "noise", "too-many"])
def test_an_oip_form_with_a_bad_control_is_refused(change, match):
    with pytest.raises(ValueError, match=match):
        OIPRequest.from_form(info(), **{**OIP_FORM, **change})


def test_a_form_with_controls_the_request_does_not_know_is_a_fault():
    with pytest.raises(TypeError, match="Unknown controls"):
        OIPRequest.from_form(info(), **{**OIP_FORM, "colour": "red"})


def test_big_inputs_get_fewer_searches_per_run():
    """A run returns every search's frames: a 512×512 colour model gets one search, not 56 MB per search."""
    big = info("big", (512, 512, 3))
    assert OIPRequest.from_form(big, **{**OIP_FORM, "seeds": 1, "waves": [0, 0]}).maps == (5,)
    with pytest.raises(ValueError, match="At most 1 searches per run for this model's 512×512 inputs"):
        OIPRequest.from_form(big, **{**OIP_FORM, "seeds": 2})


def test_insight_requests_keep_only_what_the_analysis_uses():
    sweep = InsightRequest.from_form(info(), **INSIGHT_FORM)
    assert sweep.params() == {"analysis": "sweep", "layer": "Conv2D_3", "wavelengths": [1.0, 4.0], "seeds": 2,
                              "steps": 60, "redirect_steps": 20, "method": "redirected", "noise": "lowpass"}
    assert InsightRequest.from_form(info(), **{**INSIGHT_FORM, "noise": "bandpass"}).searches.noise == "bandpass"
    ex = InsightRequest.from_form(info(), **{**INSIGHT_FORM, "analysis": "exemplars", "node_on": True, "node_x": 2,
                                            "node_y": 0})
    assert ex.target.index == 5 and ex.target.node == (2, 0) and ex.k == 9 and ex.params()["node"] == [2, 0]
    cmp = InsightRequest.from_form(info(), info(), **{**INSIGHT_FORM, "analysis": "compare", "method": "blur-all"})
    assert cmp.model_b == "default" and cmp.layer_b == "Conv2D_3" and cmp.searches.config.method == "blur-all"
    assert cmp.searches.config.redirect_steps == 0 and cmp.searches.config.blur_dead
    hand = InsightRequest.from_form(info(), **{**INSIGHT_FORM, "analysis": "hand", "seeds": 3, "waves": [1, 4, 14]})
    assert hand.searches.seeds == 16 and hand.searches.config.method == "redirected"  # blocks of 16, whatever the form


def test_the_method_and_the_range_reach_the_lab_request():
    r = OIPRequest.from_form(info(), **{**OIP_FORM, "method": "skip-dead", "in_range": "on"})
    assert r.config.method == "skip-dead" and r.config.in_range is True
    assert r.params()["method"] == "skip-dead" and "skip-dead, kept in the pixel range" in r.describe()
    assert OIPRequest.from_form(info(), **OIP_FORM).config.in_range is None
    with pytest.raises(ValueError, match="method must be one of"):
        OIPRequest.from_form(info(), **{**OIP_FORM, "method": "magic"})
    with pytest.raises(ValueError, match="pixel range must be one of"):
        OIPRequest.from_form(info(), **{**OIP_FORM, "in_range": "maybe"})


@pytest.mark.parametrize("change, match", [
    ({"analysis": "bogus"}, "analysis must be one of"),
    ({"layer": "Dense_1"}, "layer must be one of"),
    ({"waves": []}, "at least one noise wavelength"),
    ({"waves": [3]}, "wavelength must be one of"),
    ({"analysis": "reproducibility", "seeds": 1, "waves": [4]}, "at least 2 searches"),
    ({"analysis": "exemplars", "map": 64}, "map must be in 0..63"),
    ({"analysis": "exemplars", "node_on": True, "node_x": 3}, "node x must be in 0..2"),
    ({"analysis": "exemplars", "k": 500}, "k must be in 1..32"),
    ({"analysis": "compare", "model_b": "../etc/passwd"}, "Choose a second model"),
    ({"analysis": "hand", "waves": [1, 2, 4, 7, 14]}, "At most 35840 OIP searches per Hand"),
    ({"steps": "x"}, "steps must be a whole number"),
    ({"noise": "pink"}, "noise must be one of"),
], ids=["analysis", "layer", "no-wave", "wave", "one-search", "map", "node", "k", "model-b", "too-many", "steps",
        "noise"])
def test_an_insight_form_with_a_bad_control_is_refused(change, match):
    with pytest.raises(ValueError, match=match):
        InsightRequest.from_form(info(), **{**INSIGHT_FORM, **change})


@pytest.mark.parametrize("change,match", [
    ({"name": "default"}, "exists already"),
    ({"name": "../evil"}, "Model name"),
    ({"name": None}, "Model name"),
    ({"epochs": 0}, r"epochs must be in 1..50"),
    ({"batch": 5000}, "batch size"),
    ({"lr": -1}, "learning rate"),
    ({"schedule": "cosine"}, "schedule must be one of"),
    ({"subset": 50}, "at least 100"),
    ({"dataset": "cifar"}, "dataset must be one of"),
], ids=["collision", "path", "empty", "epochs", "batch", "lr", "schedule", "subset", "dataset"])
def test_a_training_form_with_a_bad_control_is_refused(change, match):
    with pytest.raises(ValueError, match=match):
        TrainRequest.from_form(["default"], ["mnist", "fashion-mnist"], **{**TRAIN_FORM, **change})


def test_a_training_request_from_a_good_form():
    r = TrainRequest.from_form(["default"], ["mnist", "fashion-mnist"], **TRAIN_FORM)
    assert r.name == "fresh-name" and r.config.subset == 1000 and r.config.epochs == 1 and r.key == "train:fresh-name"

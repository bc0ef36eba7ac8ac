import numpy as np
import pytest

from cnnviz.oip import OIPConfig, OIPItem, run_oip
from cnnviz.sweep import wavelength_sweep


def test_sweep_dead_fraction_is_exact(dead_unit_model):
    """Map 1 of the hand-built model is closed on all noise: without redirection it stays dead."""
    plain = wavelength_sweep(dead_unit_model, "Conv2D_1", (1, 4), seeds=3,
                             config=OIPConfig(steps=20, blur_every=0, redirect_steps=0))
    assert plain.activation.shape == (2, 2, 3)
    assert plain.dead[1].all() and not plain.dead[0].any()
    np.testing.assert_array_equal(plain.dead_fraction, [0.5, 0.5])
    assert plain.summary()["dead_at_every_wavelength"] == 1


def test_redirected_relu_wakes_every_conv3_map_at_short_and_long_wavelengths(default_model):
    plain = wavelength_sweep(default_model, "Conv2D_3", (1,), seeds=1, config=OIPConfig(redirect_steps=0))
    assert plain.dead_fraction[0] > 0.1, plain.dead_fraction  # the seed's method from pixel noise
    # default: 20 redirected steps of 60, then only for searches still at zero; λ=28 (seed 1)
    # holds the slowest to wake (maps 26 and 55)
    woken = wavelength_sweep(default_model, "Conv2D_3", (1, 28), seeds=2)
    np.testing.assert_array_equal(woken.dead_fraction, [0.0, 0.0])


def test_sweep_equals_single_searches(default_model):
    cfg = OIPConfig(steps=15)
    r = wavelength_sweep(default_model, "Conv2D_3", (2, 7), seeds=2, config=cfg, maps="5,9")
    assert r.maps == [5, 9] and r.wavelengths == (2.0, 7.0) and r.images.shape == (2, 2, 28, 28)
    alone = run_oip(default_model, [OIPItem("Conv2D_3", 9, seed=s, wavelengths=(7,)) for s in (0, 1)], cfg)
    np.testing.assert_allclose(r.activation[1, 1], alone.end_activation, rtol=2e-3)
    best = int(alone.end_activation.argmax())
    np.testing.assert_allclose(r.images[1, 1], alone.images[best], atol=2e-3)  # the best seed's OIP
    np.testing.assert_allclose(r.mean_activation, r.activation.mean(2))
    assert r.best_wavelength.shape == (2,) and len(r.rows()) == 8
    assert set(r.rows()[0]) == {"layer", "map", "wavelength", "seed", "activation", "dead"}


def test_sweep_reports_progress_and_stops(default_model):
    seen = []
    r = wavelength_sweep(default_model, "Conv2D_2", (1,), seeds=1, config=OIPConfig(steps=40),
                         on_progress=seen.append, should_stop=lambda: len(seen) >= 2)
    assert r.stopped and r.activation.shape[0] == 0
    assert 0 < seen[0].fraction < seen[1].fraction < 1 and "sweep" in seen[0].stage


@pytest.mark.parametrize("kw, match", [({"seeds": 0}, "seeds"), ({"wavelengths": ()}, "wavelengths"),
                                       ({"wavelengths": (1, 1)}, "distinct"), ({"wavelengths": (0.5,)}, "avelength"),
                                       ({"layer": "Dense_1"}, "convolution or pooling"), ({"maps": "70"}, "maps")],
                         ids=["seeds", "no-wave", "dup-wave", "short-wave", "dense", "map"])
def test_bad_sweeps(default_model, kw, match):
    args = {"layer": "Conv2D_3", "wavelengths": (1,), "seeds": 1, **kw}
    with pytest.raises(ValueError, match=match):
        wavelength_sweep(default_model, args.pop("layer"), **args)

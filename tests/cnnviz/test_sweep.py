import numpy as np
import pytest

from cnnviz.oip import items_for, run_oip
from cnnviz.search import OIPConfig, OIPItem, Searches, Watch
from cnnviz.sweep import wavelength_sweep


def test_sweep_dead_fraction_is_exact(dead_unit_model):
    """Map 1 of the hand-built model is closed on pixel noise: without redirection it stays dead."""
    plain = wavelength_sweep(dead_unit_model, "Conv2D_1",
                             Searches((1,), seeds=3, config=OIPConfig(steps=20, blur_every=0, redirect_steps=0)))
    assert plain.activation.shape == (2, 1, 3)
    assert plain.dead[1].all() and not plain.dead[0].any()
    np.testing.assert_array_equal(plain.dead_fraction, [0.5])
    assert plain.summary()["dead_at_every_wavelength"] == 1


def test_a_unit_that_only_long_range_noise_opens(long_range_unit_model):
    """A 13×13 box sum with a high bias: pixel noise never reaches it (6σ), smooth noise over many
    pixels does. Dead at the start is exactly 1 for pixel noise and 0 at long wavelengths, the
    articles' effect; band-pass noise, with no long-range content, does not open it."""
    r = wavelength_sweep(long_range_unit_model, "Conv2D_1",
                         Searches((1, 14, 28), seeds=20, config=OIPConfig(steps=5, redirect_steps=0)))
    stats = r.dead_statistics()
    assert stats["searches"] == {"1": 20, "14": 20, "28": 20}
    assert stats["dead_at_start"] == {"1": 1.0, "14": 0.0, "28": 0.0}
    assert stats["dead_at_end_skip_dead"]["1"] == 1.0  # no gradient, no blur on it: it stays dead
    lo, hi = stats["dead_at_start_ci95"]["1"]
    assert 0.8 < lo < 1.0 and hi == 1.0
    band = wavelength_sweep(long_range_unit_model, "Conv2D_1",
                            Searches((4,), seeds=20, noise="bandpass", config=OIPConfig(steps=5, redirect_steps=0)))
    assert band.dead_statistics()["dead_at_start"]["4"] == 1.0


def test_the_blur_never_wakes_a_dead_search(dead_unit_model):
    """With the blur on, a search whose gradient is all zero keeps its image but for re-standardization."""
    from cnnviz.oip import initial_images

    items = [OIPItem("Conv2D_1", 1, seed=s) for s in range(4)]
    r = run_oip(dead_unit_model, items, OIPConfig(steps=40, blur_every=2, redirect_steps=0))
    assert r.end_activation.max() == 0
    np.testing.assert_allclose(r.images, initial_images(items), atol=1e-4)


def test_both_methods_and_independent_noises(default_model):
    r = wavelength_sweep(default_model, "Conv2D_3", Searches((1, 7), seeds=2, config=OIPConfig(steps=10)), maps="0-7")
    assert r.seed_activation is not None and r.seed_activation.shape == r.activation.shape
    stats = r.summary()
    assert {"dead_at_end_skip_dead", "dead_at_end_blur_all", "dead_at_end_redirected"} <= set(stats)
    assert r.blur_activation is not None and r.blur_activation.shape == r.activation.shape
    items = items_for(default_model, "Conv2D_3", "0-7", seeds=range(2), wavelengths=[(1,), (7,)], independent=True)
    assert len({(it.seed, it.wavelengths) for it in items}) == 8 * 2 * 2  # every search its own noise
    assert len({it.seed for it in items_for(default_model, "Conv2D_3", "0-7", seeds=range(2))}) == 2


@pytest.mark.system  # end to end (a training, a whole command or analysis): the full suite only
def test_redirected_relu_wakes_every_conv3_map_at_short_and_long_wavelengths(default_model):
    plain = wavelength_sweep(default_model, "Conv2D_3", Searches((1,), seeds=1, config=OIPConfig(redirect_steps=0)))
    assert plain.dead_fraction[0] > 0.1, plain.dead_fraction  # the seed's method from pixel noise
    # default: 20 redirected steps of 60, then only for searches still at zero; λ=28 (seed 1)
    # holds the slowest to wake (maps 26 and 55)
    woken = wavelength_sweep(default_model, "Conv2D_3", Searches((1, 28), seeds=2, config=OIPConfig()))
    assert woken.dead_statistics()["dead_at_end_redirected"] == {"1": 0.0, "28": 0.0}


def test_sweep_equals_single_searches(default_model):
    cfg = OIPConfig(steps=15)
    r = wavelength_sweep(default_model, "Conv2D_3", Searches((2, 7), seeds=2, config=cfg), maps="5,9")
    assert r.maps == [5, 9] and r.wavelengths == (2.0, 7.0) and r.images.shape == (2, 2, 28, 28)
    same = [it for it in items_for(default_model, "Conv2D_3", "5,9", seeds=range(2), wavelengths=[(2,), (7,)],
                                   independent=True) if it.map == 9 and it.wavelengths == (7.0,)]
    alone = run_oip(default_model, same, cfg)
    np.testing.assert_allclose(r.activation[1, 1], alone.end_activation, rtol=2e-3)
    best = int(alone.end_activation.argmax())
    np.testing.assert_allclose(r.images[1, 1], alone.images[best], atol=2e-3)  # the best seed's OIP
    np.testing.assert_allclose(r.mean_activation, r.activation.mean(2))
    assert r.best_wavelength.shape == (2,) and len(r.rows()) == 8
    assert {"map", "wavelength", "activation", "dead_at_start", "dead_at_end_skip_dead", "dead_at_end_blur_all",
            "dead"} <= set(r.rows()[0])
    row = r.rows()[-1]  # map 9 at λ=7: its probability of opening over its 2 seeds, with the Wilson interval
    opened = int((r.start[1, 1] > 1e-6).sum())
    assert row["map_open_at_start"] == opened / 2 and row["map_open_at_start_ci95_low"] <= opened / 2


def test_sweep_reports_progress_and_stops(default_model):
    seen = []
    r = wavelength_sweep(default_model, "Conv2D_2", Searches((1,), seeds=1, config=OIPConfig(steps=40)),
                         watch=Watch(seen.append, lambda: len(seen) >= 2))
    assert r.stopped and r.activation.shape[0] == 0
    assert 0 < seen[0].fraction < seen[1].fraction < 1 and "sweep" in seen[0].stage


@pytest.mark.parametrize("kw, match", [({"seeds": 0}, "seeds"), ({"wavelengths": ()}, "wavelengths"),
                                       ({"wavelengths": (1, 1)}, "distinct"), ({"wavelengths": (0.5,)}, "avelength"),
                                       ({"layer": "Dense_1"}, "layer of maps"), ({"maps": "70"}, "maps")],
                         ids=["seeds", "no-wave", "dup-wave", "short-wave", "dense", "map"])
def test_bad_sweeps(default_model, kw, match):
    args = {"layer": "Conv2D_3", "wavelengths": (1,), "seeds": 1, "maps": None, **kw}
    with pytest.raises(ValueError, match=match):
        wavelength_sweep(default_model, args["layer"], Searches(args["wavelengths"], args["seeds"]), maps=args["maps"])


def test_the_seeds_loop_wakes_searches_by_blurring_alone_and_per_map_probabilities_have_intervals(
        long_range_unit_model):
    """Pixel noise never opens the box-sum unit; the seed's loop, blurring every image, makes the noise smooth
    enough to open it in some searches: the three methods differ, and the sweep says by how much."""
    r = wavelength_sweep(long_range_unit_model, "Conv2D_1",
                         Searches((1,), seeds=20, config=OIPConfig(steps=60, blur_every=2, blur_sigma=1.0,
                                                                    redirect_steps=0)))
    stats = r.dead_statistics()
    assert stats["dead_at_start"]["1"] == 1.0 and stats["dead_at_end_skip_dead"]["1"] == 1.0
    assert stats["dead_at_end_blur_all"]["1"] < 1.0  # woken by the blur alone
    assert [label for _, label, _ in r.dead_rates.series()] == [
        "dead at the start", "dead at the end, no blur on dead searches (cnnviz)",
        "dead at the end, blur every image (the seed's loop)", "dead at the end, redirected ReLU"]
    opened = r.open_statistics()
    assert opened[0]["open_at_start"] == 0.0 and opened[0]["noises"] == 20
    lo, hi = opened[0]["open_at_start_ci95"]
    assert lo == 0.0 and 0.1 < hi < 0.2  # 0 of 20: up to 16 % is still plausible


def test_open_rates_count_the_noises_that_open_each_map(default_model):
    from cnnviz.activations import layer_output
    from cnnviz.noise import make_noise
    from cnnviz.sweep import open_rates

    r = open_rates(default_model, "Conv2D_3", (1, 14), 40, first_seed=7)
    x = np.stack([make_noise(s, (14.0,), (28, 28, 1)) for s in range(7, 47)])
    (_, acts), = layer_output(default_model, "Conv2D_3", x)
    np.testing.assert_array_equal(r.opened[:, 1], (acts.mean(axis=(1, 2)) > 1e-6).sum(0))
    assert r.rate(5, 14).n == 40 and r.summary()["seeds"] == [7, 46] and len(r.rows()) == 64 * 2
    assert 0 < r.widest <= 0.5
    with pytest.raises(ValueError, match="noises must be in"):
        open_rates(default_model, "Conv2D_3", (1,), 0)


def test_open_rates_command(capsys):
    import json

    from .test_cli import run

    code, out, _ = run(capsys, "open-rates", "--noises", "50", "--wavelengths", "1,4", "--seed", "3", "--json")
    res = json.loads(out)
    assert code == 0 and res["noises_per_wavelength"] == 50 and res["seeds"] == [3, 52]
    assert len(res["per_map"]) == 128 and set(res["never_opened"]) == {"1", "4"}
    code, _, err = run(capsys, "open-rates", "--noises", "0")
    assert code == 2 and "noises must be in 1..100000" in err

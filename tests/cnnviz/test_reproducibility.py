import numpy as np
import pytest

from cnnviz.oip import run_oip
from cnnviz.reproducibility import reproducibility
from cnnviz.search import OIPConfig, OIPItem, Searches
from cnnviz.stats import reproducibility_score, shift_correlations


def _windows(rng, offsets, size=28, pad=6):
    """28x28 crops of one larger random image at the given (dy, dx) offsets: shifted copies."""
    big = rng.standard_normal((size + 2 * pad, size + 2 * pad))
    return np.stack([big[pad + dy:pad + dy + size, pad + dx:pad + dx + size] for dy, dx in offsets])


def test_identical_images_score_one(rng):
    x = rng.standard_normal((28, 28))
    assert reproducibility_score(np.stack([x, x, x]), 0) == pytest.approx(1.0)
    assert reproducibility_score(np.stack([x, 3 * x + 2]), 2) == pytest.approx(1.0)  # correlation ignores scale


@pytest.mark.parametrize("offsets, max_shift", [([(0, 0), (4, 0), (0, -4), (2, -2)], 4), ([(0, 0), (1, 1)], 1),
                                                 ([(0, 0), (-2, -2), (2, 2)], 4)],
                         ids=["jump-4", "one-pixel", "mixed"])
def test_score_is_invariant_to_allowed_shifts(rng, offsets, max_shift):
    assert reproducibility_score(_windows(rng, offsets), max_shift) == pytest.approx(1.0, abs=1e-9)


def test_shift_beyond_the_allowed_one_is_not_aligned(rng):
    x = _windows(rng, [(0, 0), (5, 0)])
    assert reproducibility_score(x, 4) < 0.5
    assert reproducibility_score(x, 5) == pytest.approx(1.0)


def test_unrelated_images_score_near_zero_and_groups_are_independent(rng):
    noise = rng.standard_normal((3, 4, 28, 28))
    x = np.concatenate([noise, np.repeat(noise[:, :1], 4, axis=1)])  # groups 3..5: identical copies
    s = reproducibility_score(x, 2)
    assert s.shape == (6,)
    assert np.all(np.abs(s[:3]) < 0.25) and np.allclose(s[3:], 1)
    c = shift_correlations(noise[0], 2)
    np.testing.assert_allclose(c, c.T, atol=1e-12)  # best over symmetric shifts: symmetric


def test_flat_image_correlates_zero(rng):
    x = np.stack([np.zeros((28, 28)), rng.standard_normal((28, 28))])
    assert reproducibility_score(x, 1) == pytest.approx(0.0)


@pytest.mark.parametrize("images, shift, match", [(np.zeros((1, 28, 28)), 1, "at least 2"),
                                                  (np.zeros((2, 28, 28)), 14, "max_shift"),
                                                  (np.zeros((28, 28)), 1, "shape")], ids=["one", "shift", "2d"])
def test_bad_input(images, shift, match):
    with pytest.raises(ValueError, match=match):
        reproducibility_score(images, shift)


def test_reproducibility_of_default_model_maps(default_model):
    cfg = OIPConfig(steps=20)
    r = reproducibility(default_model, "Conv2D_3", Searches((1, 4), seeds=2, config=cfg), maps="3,10")
    assert r.maps == [3, 10] and r.images.shape == (2, 4, 28, 28) and r.activation.shape == (2, 4)
    assert r.max_shift == 4  # the layer's jump
    assert r.labels == ["λ=1 · seed 0", "λ=1 · seed 1", "λ=4 · seed 0", "λ=4 · seed 1"]
    np.testing.assert_allclose(r.score, reproducibility_score(r.images, 4))
    # each search is the same as one run alone
    alone = run_oip(default_model, [OIPItem("Conv2D_3", 10, seed=1, wavelengths=(4,))], cfg)
    np.testing.assert_allclose(r.images[1, 3], alone.images[0], atol=2e-3)
    assert r.activation[1, 3] == pytest.approx(alone.end_activation[0], rel=2e-3)
    assert list(r.order) == list(np.argsort(-r.score)) and len(r.rows()) == 2
    assert r.summary()["most_reproducible_map"] == r.maps[int(np.argmax(r.score))]
    with pytest.raises(ValueError, match="at least 2 searches"):
        reproducibility(default_model, "Conv2D_3", Searches((4,), seeds=1), maps="0")


def test_score_interval_holds_the_score_and_shrinks_with_more_seeds():
    from cnnviz.stats import score_interval, shift_correlations

    rng = np.random.default_rng(3)
    pattern = rng.normal(size=(28, 28))
    widths = []
    for k in (4, 16, 48):
        images = pattern + 1.2 * rng.normal(size=(k, 28, 28))  # one pattern, independent noise per search
        c = shift_correlations(images[None], 0)
        lo, hi = score_interval(c, rounds=500)
        score = c[0][np.triu_indices(k, 1)].mean()
        assert lo[0] <= score <= hi[0]
        widths.append(hi[0] - lo[0])
    assert widths[0] > widths[1] > widths[2]


def test_the_hand_of_mnist_is_the_best_worst_case_rank():
    from cnnviz.results import HandOfMnist

    scores = np.array([[0.9, 0.8, 0.1], [0.2, 0.7, 0.6], [0.9, 0.75, 0.3]])  # 3 settings × maps 10, 11, 12
    h = HandOfMnist("Conv2D_3", [10, 11, 12], ["a", "b", "c"], scores, np.zeros((3, 3, 2)), np.zeros((3, 3, 28, 28)), 0)
    assert h.ranks.tolist() == [[1, 2, 3], [3, 1, 2], [1, 2, 3]]
    # map 10 is first twice but third once; map 11 is never worse than second: it holds up
    assert h.maps[h.candidate] == 11 and h.summary()["candidate_worst_rank"] == 2


def test_hand_command(capsys):
    from .test_cli import run

    code, out, _ = run(capsys, "hand", "--layer", "Conv2D_1", "--wavelengths", "4", "--noises", "lowpass",
                       "--seeds", "2", "--steps", "5", "--json")
    import json

    res = json.loads(out)
    assert code == 0 and len(res["settings"]) == 2 and 0 <= res["candidate"] < 32
    assert len(res["candidate_per_setting"]) == 2 and res["candidate_worst_rank"] >= 1
    code, _, err = run(capsys, "hand", "--layer", "Conv2D_1", "--noises", "pink", "--seeds", "2", "--steps", "5")
    assert code == 2 and "noise must be one of" in err

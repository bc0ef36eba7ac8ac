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


def _hand(block_scores: np.ndarray):
    from cnnviz.results import HandOfMnist

    b, k, n = block_scores.shape
    ci = np.stack([block_scores[-1].mean(0) - 0.1, block_scores[-1].mean(0) + 0.1], -1)
    return HandOfMnist("Conv2D_3", [10, 11, 12][:n], [f"s{i}" for i in range(k)], "redirected", 16, 0, block_scores,
                       ci, np.zeros((k, n, 2)), np.zeros((k, n, 28, 28)), np.zeros((n, 2), int),
                       np.array([[7, 7], [4, 9], [1, 1]])[:n], np.zeros((n, 2, 28, 28), np.uint8), 0)


def test_each_block_picks_the_best_mean_score_and_the_held_out_block_scores():
    from cnnviz.results import best_worst_rank

    scores = np.array([[0.9, 0.8, 0.1], [0.2, 0.7, 0.6], [0.9, 0.75, 0.3]])  # 3 settings × maps 10, 11, 12
    # map 10 is first twice but far behind once; map 11 has the best mean (and the best worst-case rank)
    assert best_worst_rank(scores)[0] == 1
    first = scores[:, [1, 0, 2]]  # map 10 holds up in this block
    held_out = np.array([[0.1, 0.5, 0.9]] * 3)  # the held-out block ranks map 12 first: it has no say in the pick
    h = _hand(np.stack([scores, scores, first, scores, held_out]))
    assert h.picks == [1, 1, 0, 1] and h.pick_frequency.tolist() == [0.25, 0.75, 0]
    assert h.worst_rank_picks == h.picks and len(h.summary()["block_scores"]) == 5
    assert h.maps[h.candidate] == 11 and h.stable and h.candidates == [1, 0]
    assert h.heldout_score[1] == pytest.approx(0.5)
    s = h.summary()
    assert s["candidate"] == 11 and s["stable"] and s["heldout_score"] == pytest.approx(0.5)
    assert s["statement"] == "map 11: picked by 3 of 4 selection blocks; held-out score 0.50 [0.40, 0.60]"
    assert [c["map"] for c in s["candidates"]] == [11, 10] and s["candidates"][0]["top_labels"] == [4, 9]
    assert s["seeds"] == [0, 79] and h.top_text(0) == "7×2"


def test_a_pick_made_by_half_the_blocks_or_fewer_is_not_named():
    scores = np.array([[0.9, 0.8, 0.1], [0.2, 0.7, 0.6], [0.9, 0.75, 0.3]])
    first = scores[:, [1, 0, 2]]
    h = _hand(np.stack([scores, first, scores, first, scores]))
    assert not h.stable and h.pick_frequency.tolist() == [0.5, 0.5, 0]
    assert h.statement() == "no stable candidate; the top set is map 10 (2/4), map 11 (2/4)"
    tiles, labels, cols = h.montage([10])
    assert tiles.shape == (3 + 2, 28, 28) and cols == 5 and labels[3] == "map 10 · test #0 · class 7"


@pytest.mark.system  # end to end (a training, a whole command or analysis): the full suite only
def test_hand_command(capsys):
    from .test_cli import run

    args = ["hand", "--layer", "Conv2D_1", "--wavelengths", "1,4", "--noises", "lowpass,mix", "--seeds", "4",
            "--blocks", "2", "--steps", "5", "--json"]
    code, out, _ = run(capsys, *args)
    import json

    res = json.loads(out)
    assert code == 0 and res["settings"] == ["pixel noise λ=1", "lowpass λ=4", "mix λ=4"]  # λ=1 once
    assert res["seeds"] == [0, 11] and res["selection_blocks"] == 2 and res["searches_per_block"] == 4
    assert res["method"] == "redirected" and isinstance(res["stable"], bool) and 0 <= res["candidate"] < 32
    assert res["candidates"][0]["map"] == res["candidate"] and len(res["candidates"][0]["top_labels"]) == 9
    assert sum(c["pick_frequency"] for c in res["candidates"]) == pytest.approx(1)
    lo, hi = res["heldout_ci95"]
    assert lo <= res["heldout_score"] <= hi and len(res["candidate_per_setting"]) == 3
    code, out, _ = run(capsys, *args, "--seed", "100", "--method", "skip-dead")
    later = json.loads(out)
    assert code == 0 and later["seeds"] == [100, 111] and later["method"] == "skip-dead"
    code, _, err = run(capsys, *args[:-1], "--seeds", "2")
    assert code == 2 and "at least 4 searches per map" in err


def test_the_hand_chooses_and_scores_on_disjoint_seeds(default_model):
    from cnnviz.hand import hand_of_mnist
    from cnnviz.reproducibility import reproducibility
    from cnnviz.search import OIPConfig, Searches

    plan = Searches((4,), seeds=4, first_seed=3, config=OIPConfig(steps=5, frame_every=5))
    h = hand_of_mnist(default_model, "Conv2D_1", plan, noises=("lowpass",), blocks=2, maps=[0, 1, 2])
    assert h.block_scores.shape == (3, 1, 3) and h.summary()["seeds"] == [3, 14]
    for b, first in enumerate((3, 7, 11)):  # blocks of seeds 3-6, 7-10 and the held-out 11-14
        alone = reproducibility(default_model, "Conv2D_1", Searches((4,), 4, "lowpass", plan.config, first), maps=[0, 1, 2])
        np.testing.assert_allclose(h.block_scores[b, 0], alone.score, atol=1e-6)
    assert h.top_indices.shape == (3, 0)  # no test set given: no top images

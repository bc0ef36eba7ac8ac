"""Concepts measured on the digits, the dissection of units against them, and circuits checked by ablation."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import ndimage


def _shapes() -> np.ndarray:
    plus = np.zeros((28, 28), np.uint8)
    plus[13:16, 5:23] = 255
    plus[5:23, 13:16] = 255
    yy, xx = np.mgrid[0:28, 0:28]
    ring = np.hypot((yy - 14) / 1.3, xx - 14)
    zero = np.where((ring > 5) & (ring < 8), 255, 0).astype(np.uint8)
    diag = np.zeros((28, 28), np.uint8)
    for t in range(4, 24):
        diag[t - 1:t + 2, t - 1:t + 2] = 255  # from the top left down to the bottom right
    return np.stack([plus, zero, diag])


def test_concept_masks_of_hand_made_digits():
    from cnnviz.concepts import PIXEL_CONCEPTS, image_concepts, pixel_concepts

    c = pixel_concepts(_shapes())
    at = {name: i for i, name in enumerate(PIXEL_CONCEPTS)}

    def blobs(mask):
        return ndimage.label(mask)[1]

    plus, zero, diag = c
    assert blobs(plus[at["junction"]]) == 1 and blobs(plus[at["end point"]]) == 4 and not plus[at["loop"]].any()
    assert blobs(zero[at["loop"]]) == 1 and not zero[at["end point"]].any() and not zero[at["junction"]].any()
    assert blobs(diag[at["end point"]]) == 2 and diag[at["orientation 135°"]].sum() > 0.9 * diag[at["stroke"]].sum()
    assert plus[at["orientation 0°"]].sum() > 30 and plus[at["orientation 90°"]].sum() > 30
    names, img = image_concepts(_shapes(), np.array([1, 0, 7]), 10)
    assert img[:, names.index("strokes = 1")].all() and img[:, names.index("has loop")].tolist() == [False, True, False]
    assert img[2, names.index("class 7")] and not img[2, names.index("class 1")]


def test_iou_counts_equal_a_hand_computation():
    from cnnviz.dissect import _pixel_counts

    region = np.zeros((2, 1, 4), bool)
    region[0, 0, :2] = True  # image 0: pixels 0, 1
    region[1, 0, 3] = True  # image 1: pixel 3
    concept = np.zeros((2, 1, 4), bool)
    concept[0, 0, 1:3] = True  # image 0: pixels 1, 2
    concept[1, 0, 3] = True
    inter, union = _pixel_counts(region, concept)
    assert inter[:, 0, 0].tolist() == [1, 1] and union[:, 0, 0].tolist() == [3, 1]
    assert inter.sum() / union.sum() == pytest.approx(2 / 4)


def test_the_class_units_are_labelled_with_their_own_classes(default_model, mnist):
    from cnnviz.dissect import dissect

    r = dissect(default_model, "Dense_2", mnist.x_test[:3000], mnist.y_test[:3000])
    assert [r.concepts[c] for c in r.best] == [f"class {k}" for k in range(10)] and r.labelled.all()


@pytest.mark.system  # end to end (a training, a whole command or analysis): the full suite only
def test_conv_units_beat_a_rotated_basis_and_shuffled_images(default_model, mnist):
    from cnnviz.dissect import dissect

    r = dissect(default_model, "Conv2D_3", mnist.x_test[:1000], mnist.y_test[:1000])
    assert r.iou.shape == (64, len(r.concepts)) and 0 < r.labelled.sum() < 64
    specific = [i for i, c in enumerate(r.concepts) if c in ("loop", "end point", "junction", "stroke")]
    # the real basis's best unit for a concept scores above what a random direction scores on average
    assert (r.iou[:, specific].max(0) > r.rotation[specific]).all()
    rows = r.summary()["per_unit"]
    assert all(row["iou_ci95"][0] > max(row["rotation_baseline"], row["shuffled_baseline"]) for row in rows
               if row["labelled"])
    assert not any(row["labelled"] and row["concept"] in ("top", "left", "centre") for row in rows)
    # each unit's examples: the images where its region is largest, with the region and its best concept there
    sizes = r.example_regions.reshape(64, 4, -1).sum(2)
    assert (np.diff(sizes, axis=1) <= 0).all() and r.example_indices.shape == (64, 4)


def test_circuits_found_by_ablation_beat_random_and_the_largest_kernels(default_model, mnist):
    from cnnviz.circuits import circuit

    for unit in (5, 13, 40):
        c = circuit(default_model, "Conv2D_3", unit, mnist.x_test[:3000])
        assert c.incoming_layer == "Conv2D_2" and c.through == ["MaxPool_2"] and c.kernels.shape == (64, 3, 3)
        assert c.top_drop > 0.3 and c.top_drop > 5 * max(c.random_drops.mean(), 0.01)
        assert c.top_drop > c.weight_drop
        top = c.incoming(1)[0]
        assert top["sign"] == ("excitatory" if c.contribution[top["map"]] >= 0 else "inhibitory")
    dense = circuit(default_model, "Dense_1", 3, mnist.x_test[:3000])
    assert dense.incoming_layer == "Conv2D_3" and dense.through == ["Flatten"] and dense.kernels.shape == (64, 3, 3)
    classes = circuit(default_model, "Dense_2", 7, mnist.x_test[:3000])  # scored before the softmax
    assert classes.incoming_layer == "Dense_1" and classes.top_drop > classes.random_drops.mean()
    with pytest.raises(ValueError, match="reads the input image"):
        circuit(default_model, "Conv2D_1", 0, mnist.x_test[:100])


def test_dissection_and_circuits_on_an_imported_model(foreign, mnist):
    from cnnviz.circuits import circuit
    from cnnviz.dissect import dissect

    m = foreign["byo"]
    layer = m.spatial_layers[-1]
    r = dissect(m, layer, mnist.x_test[:300], mnist.y_test[:300])
    assert len(r.rows()) == r.iou.shape[0] and np.isfinite(r.iou).all()
    c = circuit(m, layer, 0, mnist.x_test[:300], top=50)
    assert len(c.contribution) >= 2 and c.incoming(2)[0]["layer"] == c.incoming_layer
    with pytest.raises(ValueError, match="residual or merged"):
        circuit(foreign["residual"], [n for n in foreign["residual"].spatial_layers if "add" in n.lower()][0], 0,
                mnist.x_test[:100])


def test_dissect_and_circuit_commands(capsys):
    from .test_cli import run

    code, out, _ = run(capsys, "dissect", "--layer", "Dense_2", "--images", "500", "--json")
    res = json.loads(out)
    assert code == 0 and res["labelled"] == 10 and res["per_unit"][3]["concept"] == "class 3"
    code, out, _ = run(capsys, "circuit", "--layer", "Conv2D_3", "--map", "13", "--json")
    res = json.loads(out)
    assert code == 0 and res["incoming"][0]["layer"] == "Conv2D_2" and len(res["incoming"]) == 64
    assert res["top3_drop"] > res["random3_drop"] and {"map", "contribution", "sign"} <= set(res["incoming"][0])
    code, _, err = run(capsys, "circuit", "--layer", "Nope")
    assert code == 2 and "--layer must be one of" in err

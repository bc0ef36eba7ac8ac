import numpy as np
import pytest

from cnnviz.activations import probe
from cnnviz.exemplars import exemplars
from cnnviz.search import OIPConfig, Searches, Unit

CFG = OIPConfig(steps=20)


@pytest.fixture(scope="module")
def subset(mnist):
    return mnist.x_test[:600], mnist.y_test[:600]


def test_top_images_and_patches_are_the_strongest(default_model, subset):
    x, y = subset
    e = exemplars(default_model, x, y, Unit("Conv2D_3", 7), k=5, searches=Searches((4,), seeds=1, config=CFG))
    acts = probe(default_model).run(default_model.standardization.apply(x))["Conv2D_3"][..., 7]
    means = acts.mean(axis=(1, 2))
    np.testing.assert_array_equal(e.indices, np.argsort(-means, kind="stable")[:5])
    np.testing.assert_allclose(e.activation, means[e.indices], rtol=1e-5)
    np.testing.assert_array_equal(e.images, x[e.indices])
    np.testing.assert_array_equal(e.labels, y[e.indices])
    strongest = acts.max(axis=(1, 2))
    np.testing.assert_array_equal(e.patch_indices, np.argsort(-strongest, kind="stable")[:5])
    rec = default_model.layer("Conv2D_3").receptive
    for i, (nx, ny), box, patch, a in zip(e.patch_indices, e.patch_nodes, e.patch_boxes, e.patches, e.patch_activation):
        assert acts[i, ny, nx] == pytest.approx(a, rel=1e-5) and a == pytest.approx(strongest[i], rel=1e-5)
        y0, y1, x0, x1 = box
        assert (y0, y1, x0, x1) == rec.box(ny, nx) and y1 - y0 + 1 == rec.size == patch.shape[0]
        np.testing.assert_array_equal(patch, x[i, y0:y1 + 1, x0:x1 + 1])
    # the OIP's objective is measured on the model, and the ratio is against the best real image
    oip_acts = probe(default_model).run(e.oip_image[None])["Conv2D_3"][0, ..., 7]
    assert e.oip_activation == pytest.approx(oip_acts.mean(), rel=1e-3)
    assert e.oip_node_activation == pytest.approx(oip_acts.max(), rel=1e-3)
    assert e.ratio == pytest.approx(e.oip_activation / e.activation[0]) and e.ratio > 1
    kinds = [r["kind"] for r in e.rows()]
    assert kinds == ["oip"] + ["image"] * 5 + ["patch"] * 5


def test_node_exemplars_use_the_node(default_model, subset):
    x, y = subset
    e = exemplars(default_model, x, y, Unit("Conv2D_2", 3, (4, 6)), k=3, searches=Searches((2,), seeds=1, config=CFG))
    acts = probe(default_model).run(default_model.standardization.apply(x))["Conv2D_2"][:, 6, 4, 3]
    np.testing.assert_array_equal(e.indices, np.argsort(-acts, kind="stable")[:3])
    assert (e.patch_nodes == [4, 6]).all() and e.summary()["node"] == [4, 6]
    assert e.oip_activation == pytest.approx(e.oip_node_activation, rel=1e-3)


@pytest.mark.parametrize("kw, match", [({"map": 64}, "map must be"), ({"node": (3, 3)}, "node must be"),
                                       ({"k": 0}, "k must be"), ({"layer": "Dense_1"}, "layer of maps")],
                         ids=["map", "node", "k", "dense"])
def test_bad_requests(default_model, subset, kw, match):
    args = {"layer": "Conv2D_3", "map": 0, "node": None, "k": 9, **kw}
    with pytest.raises(ValueError, match=match):
        exemplars(default_model, *subset, Unit(args["layer"], args["map"], args["node"]), k=args["k"])

import keras
import numpy as np
import pytest

from cnnviz.matching import match_maps
from cnnviz.model import LoadedModel


def _permuted(m: LoadedModel, perm: np.ndarray) -> LoadedModel:
    """The same network with Conv2D_3's maps reordered: map j of the copy is map perm[j] of ``m``.

    Dense_1 sees Conv2D_3 through Flatten, whose index is (row, column, map): its input
    rows are permuted to match, so every output of the network stays the same.
    """
    km = keras.models.clone_model(m.keras_model)
    km.set_weights(m.keras_model.get_weights())
    kernel, bias = km.get_layer("Conv2D_3").get_weights()
    km.get_layer("Conv2D_3").set_weights([kernel[..., perm], bias[perm]])
    h, w, c = km.get_layer("Conv2D_3").output.shape[1:]
    dk, db = km.get_layer("Dense_1").get_weights()
    km.get_layer("Dense_1").set_weights([dk.reshape(h, w, c, -1)[:, :, perm].reshape(dk.shape), db])
    return LoadedModel(m.path, km, m.metadata, m.standardization, "permuted")


def test_matching_recovers_a_permutation_of_conv3(default_model, mnist):
    perm = np.random.default_rng(5).permutation(64)
    other = _permuted(default_model, perm)
    x = mnist.x_test[:1000]
    xs = default_model.standardization.apply(x)[..., None]
    np.testing.assert_allclose(other.keras_model(xs), default_model.keras_model(xs), atol=1e-5)  # same network
    r = match_maps(default_model, other, "Conv2D_3", x)
    np.testing.assert_array_equal(r.a, np.arange(64))
    np.testing.assert_array_equal(perm[r.b], r.a)  # A's map i is B's map j with perm[j] = i
    live = np.setdiff1d(np.arange(64), r.silent_a)
    np.testing.assert_allclose(r.matched[live], 1, atol=1e-5)
    assert r.close_fraction == pytest.approx(len(live) / 64)
    assert r.same_index_fraction < 0.2 and abs(r.order_correlation) < 0.5  # the order is not preserved
    np.testing.assert_array_equal(r.silent_a, np.sort(perm[r.silent_b]))


def test_a_model_matches_itself_in_order(default_model, mnist):
    r = match_maps(default_model, default_model, "Conv2D_2", mnist.x_test[:300])
    assert r.same_index_fraction == 1 and r.order_correlation == pytest.approx(1)
    np.testing.assert_allclose(np.diag(r.correlation), 1, atol=1e-5)
    assert r.summary()["pairs"] == 64 and len(r.rows()) == 64


def test_models_of_different_width_match_the_smaller(default_model, tiny_model, mnist):
    r = match_maps(tiny_model, default_model, "Conv2D_3", mnist.x_test[:200])
    assert r.correlation.shape == (8, 64) and len(r.a) == 8 and len(set(r.b)) == 8
    assert np.all(np.abs(r.correlation) <= 1 + 1e-6)


def test_bad_requests(default_model, mnist):
    with pytest.raises(ValueError, match="layer of maps"):
        match_maps(default_model, default_model, "Dense_1", mnist.x_test[:10])
    with pytest.raises(ValueError, match="close must be"):
        match_maps(default_model, default_model, "Conv2D_3", mnist.x_test[:10], close=2)

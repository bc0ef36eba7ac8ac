"""Attribution maps against references: finite differences, a hand-written Grad-CAM."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def tiny_cam_model(tmp_path_factory):
    """Conv (3 maps, 3×3, ReLU) → GlobalAveragePooling → Dense(4, softmax) on 8×8 grey images."""
    import keras

    from cnnviz.model import load_model, save_model

    keras.utils.set_random_seed(5)
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(3, 3, activation="relu", name="conv"),
                              keras.layers.GlobalAveragePooling2D(name="gap"),
                              keras.layers.Dense(4, activation="softmax", name="out")])
    path = tmp_path_factory.mktemp("cam") / "cam.keras"
    save_model(model, path, {"dataset": "x.npz", "standardization": {"mean": 0.5, "std": 0.25}})
    return load_model(path)


def _conv_valid(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """x (H, W), kernel (k, k, 1, C) -> (H-k+1, W-k+1, C), by loops."""
    k = kernel.shape[0]
    h, w = x.shape[0] - k + 1, x.shape[1] - k + 1
    out = np.zeros((h, w, kernel.shape[-1]))
    for i in range(h):
        for j in range(w):
            out[i, j] = np.tensordot(x[i:i + k, j:j + k], kernel[:, :, 0, :], axes=([0, 1], [0, 1])) + bias
    return out


def test_gradcam_equals_a_hand_written_reference(tiny_cam_model):
    """For conv → GAP → dense, d logit_c / d A_k(i, j) = W[k, c] / (h w) everywhere, so Grad-CAM is
    ReLU(Σ_k W[k, c] / (h w) · A_k): computed here with loops over numpy arrays."""
    from cnnviz.attribution import attribution

    m = tiny_cam_model
    image = np.random.default_rng(0).integers(0, 256, (8, 8)).astype(np.uint8)
    kernel, bias = m.keras_model.get_layer("conv").get_weights()
    wd, _ = m.keras_model.get_layer("out").get_weights()
    x = m.standardization.apply(image[None])[0, :, :, 0].astype(np.float64)
    maps = np.maximum(_conv_valid(x, kernel, bias), 0)
    for cls in range(4):
        a = attribution(m, image, "gradcam", cls=cls)
        ref = np.maximum((maps * (wd[:, cls] / 36.0)).sum(-1), 0)
        np.testing.assert_allclose(a.grid, ref, rtol=1e-4, atol=1e-6)
        assert a.layer == "conv" and a.cls == cls and a.map.shape == (8, 8)


def test_saliency_equals_finite_differences(tiny_cam_model):
    """|d logit / d pixel| of the uint8 image's standardized values, against central differences."""
    import keras

    from cnnviz.attribution import attribution

    m = tiny_cam_model
    image = np.random.default_rng(1).integers(0, 256, (8, 8)).astype(np.uint8)
    a = attribution(m, image, "saliency")
    x = m.standardization.apply(image[None]).astype(np.float64)
    feats = keras.Model(m.keras_model.inputs, m.keras_model.get_layer("out").input)
    wd, bd = m.keras_model.get_layer("out").get_weights()

    def logit(v):
        return float((feats(v.astype(np.float32)).numpy().astype(np.float64) @ wd + bd)[0, a.cls])

    eps = 1e-2
    fd = np.zeros((8, 8))
    for i in range(8):
        for j in range(8):
            d = np.zeros_like(x)
            d[0, i, j, 0] = eps
            fd[i, j] = abs(logit(x + d) - logit(x - d)) / (2 * eps)
    np.testing.assert_allclose(a.map, fd, rtol=2e-2, atol=2e-3)
    assert a.predicted == int(np.argmax(a.probabilities)) and a.cls == a.predicted


def test_smoothgrad_is_seeded_and_averages_the_saliency(tiny_cam_model):
    from cnnviz.attribution import attribution

    m = tiny_cam_model
    image = np.random.default_rng(2).integers(0, 256, (8, 8)).astype(np.uint8)
    a, b = attribution(m, image, "smoothgrad", seed=3), attribution(m, image, "smoothgrad", seed=3)
    np.testing.assert_array_equal(a.map, b.map)
    one = attribution(m, image, "smoothgrad", samples=1, noise=1e-9)
    np.testing.assert_allclose(one.map, attribution(m, image, "saliency").map, rtol=1e-3, atol=1e-6)


@pytest.mark.parametrize("name", ["byo", "residual", "rgb"])
def test_every_method_on_foreign_models(foreign, name):
    from cnnviz.attribution import attribution
    from cnnviz.data import load_dataset

    m = foreign[name]
    image = load_dataset(m.metadata["dataset"]).x_test[0]
    for method in ("saliency", "smoothgrad", "gradcam"):
        a = attribution(m, image, method, cls=1)
        assert a.map.shape == m.input_shape[:2] and np.isfinite(a.map).all() and a.map.min() >= 0 and a.cls == 1
    assert attribution(m, image, "gradcam").layer == [r.name for r in m.layers if r.spatial][-1]


@pytest.mark.parametrize("kwargs,match", [({"method": "lime"}, "method must be"), ({"cls": 10}, "class must be"),
                                          ({"method": "gradcam", "layer": "Dense_1"}, "layer of maps"),
                                          ({"samples": 0}, "samples")])
def test_bad_requests_are_refused(default_model, mnist, kwargs, match):
    from cnnviz.attribution import attribution

    with pytest.raises(ValueError, match=match):
        attribution(default_model, mnist.x_test[0], **kwargs)
    with pytest.raises(ValueError, match="shape"):
        attribution(default_model, np.zeros((32, 32), np.uint8))

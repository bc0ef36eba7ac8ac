import numpy as np

from cnnviz.activations import class_means, dense_patterns, probe


def _conv_relu(x, kernel, bias):
    """Hand-written valid 2-D convolution (cross-correlation, as Keras) + ReLU."""
    k = kernel.shape[0]
    h, w = x.shape[0] - k + 1, x.shape[1] - k + 1
    out = np.zeros((h, w, kernel.shape[-1]))
    for i in range(h):
        for j in range(w):
            patch = x[i:i + k, j:j + k, :]
            out[i, j] = np.tensordot(patch, kernel, axes=([0, 1, 2], [0, 1, 2])) + bias
    return np.maximum(out, 0)


def test_conv1_and_pool_against_numpy(default_model, mnist):
    x = default_model.standardization.apply(mnist.x_test[:3])
    acts = probe(default_model).run(x)
    kernel, bias = default_model.keras_model.get_layer("Conv2D_1").get_weights()
    for n in range(3):
        ref = _conv_relu(x[n].astype(np.float64), kernel, bias)
        np.testing.assert_allclose(acts["Conv2D_1"][n], ref, atol=1e-4)
        pooled = ref[:26, :26].reshape(13, 2, 13, 2, 32).max(axis=(1, 3))
        np.testing.assert_allclose(acts["MaxPool_1"][n], pooled, atol=1e-4)


def test_probe_is_built_once_and_matches_the_model(default_model, mnist):
    assert probe(default_model) is probe(default_model)
    x = default_model.standardization.apply(mnist.x_test[:4])
    acts = probe(default_model).run(x[..., 0])
    assert set(acts) == {"Conv2D_1", "MaxPool_1", "Conv2D_2", "MaxPool_2", "Conv2D_3", "Dense_1", "Dense_2"}
    np.testing.assert_allclose(acts["Dense_2"], default_model.keras_model(x), atol=1e-5)
    assert acts["Dense_2"].argmax(1).tolist() == mnist.y_test[:4].tolist()


def test_dense_patterns(default_model, mnist):
    dp = dense_patterns(default_model, mnist)
    assert dp.class_means.shape == (10, 70) and dp.conv_class_means.shape == (10, 3, 3, 64)
    assert dp.confusion.sum() == 10000 and np.trace(dp.confusion) / 10000 == dp.accuracy
    assert dp.accuracy == default_model.metadata["test_accuracy"]
    sevens = mnist.y_test == 7
    np.testing.assert_allclose(dp.class_means[7], dp.dense[sevens].mean(0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.diag(dp.similarity), 1, atol=1e-5)
    pair = dp.image_vs_class(0)
    assert pair["image"].shape == (70,) and np.array_equal(pair["true_mean"], dp.class_means[7])
    for i in dp.confused(4, 9):
        assert mnist.y_test[i] == 4 and dp.predicted[i] == 9
    assert len(dp.confused(4, 9)) == dp.confusion[4, 9]


def test_class_means_of_every_layer(default_model, mnist):
    x, y = mnist.x_test[:600], mnist.y_test[:600]
    means = class_means(default_model, x, y, batch=128)
    acts = probe(default_model).run(default_model.standardization.apply(x))
    np.testing.assert_allclose(means["Conv2D_2"][3], acts["Conv2D_2"][y == 3].mean(0), rtol=1e-4, atol=1e-5)
    assert means["Conv2D_1"].shape == (10, 26, 26, 32)

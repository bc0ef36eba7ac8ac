import numpy as np

from cnnviz.images import contrast_enhanced


def test_contrast_enhancement_keeps_order_and_spreads_mid_tones():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 28, 28)).astype(np.float32)
    y = contrast_enhanced(x)
    assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1
    for a, b in zip(x, y):  # monotone: the order of the pixels is kept
        order = np.argsort(a.ravel())
        assert np.all(np.diff(b.ravel()[order]) >= -1e-6)
    linear = (x - x.min(axis=(1, 2), keepdims=True)) / np.ptp(x, axis=(1, 2), keepdims=True)
    assert y.std() > 1.5 * linear.std()  # more contrast than the plain colour map

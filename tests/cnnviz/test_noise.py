import numpy as np
import pytest

from cnnviz.noise import make_noise, radial_spectrum


@pytest.mark.parametrize("wavelength", [2, 3, 4, 7, 14, 28])
def test_spectrum_peaks_at_the_wavelength(wavelength):
    spectrum = np.mean([radial_spectrum(make_noise(s, wavelength)) for s in range(40)], axis=0)
    peak = spectrum[1:].argmax() + 1  # cycles per image
    assert abs(peak - 28 / wavelength) <= max(1.0, 0.15 * 28 / wavelength)


def test_pixel_noise_is_white():
    spectrum = np.mean([radial_spectrum(make_noise(s, 1)) for s in range(40)], axis=0)[1:15]
    assert spectrum.max() / spectrum.min() < 1.5


def test_noise_is_standardized_and_reproducible():
    a, b = make_noise(5, (2, 14)), make_noise(5, (2, 14))
    assert a.dtype == np.float32 and a.shape == (28, 28)
    np.testing.assert_array_equal(a, b)
    assert abs(a.mean()) < 1e-5 and a.std() == pytest.approx(1, abs=1e-4)
    assert not np.array_equal(a, make_noise(6, (2, 14)))


def test_a_mix_has_both_bands():
    s = np.mean([radial_spectrum(make_noise(i, (2, 14))) for i in range(40)], axis=0)
    assert s[2] > 5 * s[7] and s[14] > 5 * s[7]


@pytest.mark.parametrize("w", [0.5, 29, float("nan")], ids=["short", "long", "nan"])
def test_bad_wavelength(w):
    with pytest.raises(ValueError, match="wavelength must be in 1..28"):
        make_noise(0, w)

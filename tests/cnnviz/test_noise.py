import numpy as np
import pytest

from cnnviz.noise import make_noise, radial_spectrum


def _power(family: str, wavelength, n: int = 60) -> np.ndarray:
    """Mean power per integer |k| (cycles per image), counted over all bins of that |k|."""
    from cnnviz.noise import _radius

    counts = np.bincount(np.rint(_radius(28)).astype(int).ravel())
    spectrum = np.mean([radial_spectrum(make_noise(s, wavelength, family=family)) for s in range(n)], axis=0)
    return spectrum * counts[:len(spectrum)]


@pytest.mark.parametrize("wavelength", [2, 4, 7, 14])
def test_lowpass_power_lies_below_the_wavelengths_frequency(wavelength):
    """The articles' long-range fluctuations: most power at |k| <= 28/λ, down to the longest scales."""
    p = _power("lowpass", wavelength)
    cut = int(28 / wavelength)
    assert p[1:cut + 1].sum() / p[1:].sum() > 0.85
    assert p[1:3].sum() / p[1:].sum() > {2: 0.08, 4: 0.3, 7: 0.6, 14: 0.7}[wavelength]  # long-range content


def test_bandpass_has_no_long_range_content_and_a_mix_has_every_scale():
    band, mix = _power("bandpass", 4), _power("mix", 14)
    assert band[1:3].sum() / band[1:].sum() < 0.01
    assert mix[1:3].sum() / mix[1:].sum() > 0.3 and mix[10:].sum() / mix[1:].sum() > 0.1


@pytest.mark.parametrize("wavelength", [2, 3, 4, 7, 14, 28])
def test_bandpass_spectrum_peaks_at_the_wavelength(wavelength):
    spectrum = np.mean([radial_spectrum(make_noise(s, wavelength, family="bandpass")) for s in range(40)], axis=0)
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


def test_two_wavelengths_give_both_bands():
    s = np.mean([radial_spectrum(make_noise(i, (2, 14), family="bandpass")) for i in range(40)], axis=0)
    assert s[2] > 5 * s[7] and s[14] > 5 * s[7]


@pytest.mark.parametrize("w", [0.5, 29, float("nan")], ids=["short", "long", "nan"])
def test_bad_wavelength(w):
    with pytest.raises(ValueError, match="wavelength must be in 1..28"):
        make_noise(0, w)


def test_unknown_family_is_refused():
    with pytest.raises(ValueError, match="noise must be one of"):
        make_noise(0, 4, family="pink")

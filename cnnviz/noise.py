"""Initial images for the OIP search: random fluctuations at a chosen spatial wavelength, in three families."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SIZE = 28
MIN_WAVELENGTH, MAX_WAVELENGTH = 1.0, 28.0


def _check_wavelength(w: float, longest: float = MAX_WAVELENGTH) -> float:
    w = float(w)
    if not (MIN_WAVELENGTH <= w <= longest) or not np.isfinite(w):
        raise ValueError(f"wavelength must be in {MIN_WAVELENGTH:g}..{longest:g} pixels (the image's larger "
                         f"side). Received: wavelength={w}")
    return w


def _radius(h: int, w: int | None = None) -> np.ndarray:
    """|k| of every FFT bin of an h×w image, in cycles per max(h, w) pixels (cycles per image when square)."""
    w = h if w is None else w
    n = max(h, w)
    ky, kx = np.fft.fftfreq(h) * n, np.fft.fftfreq(w) * n
    return np.hypot(*np.meshgrid(ky, kx, indexing="ij"))


def _band(rng: np.random.Generator, wavelength: float, shape: tuple[int, int]) -> np.ndarray:
    """Zero-mean, unit-variance noise whose power sits in a ring around size/wavelength."""
    white = rng.standard_normal(shape)
    if wavelength <= 1.0:
        return white  # wavelength 1: independent pixels, the seed's (and Chollet's) start
    r0 = max(shape) / wavelength  # cycles per image
    # A Gaussian ring in Fourier space: band-limited noise with its power at r0. Its width
    # grows with r0 so that long wavelengths (r0 ~ 1..2) keep a few modes to mix.
    sigma = max(0.5, 0.25 * r0)
    ring = np.exp(-0.5 * ((_radius(*shape) - r0) / sigma) ** 2)
    ring[0, 0] = 0.0
    x = np.fft.ifft2(np.fft.fft2(white) * ring).real
    return (x - x.mean()) / (x.std() + 1e-12)


def _lowpass(rng: np.random.Generator, wavelength: float, shape: tuple[int, int]) -> np.ndarray:
    """Long-range fluctuations: independent values on a grid with spacing ``wavelength`` pixels, smoothly
    (cubic spline) interpolated to the image, at a random phase of the grid. Its power lies below
    |k| = size/wavelength cycles per image, down to the longest scales; wavelength 1 is pixel noise."""
    from scipy.ndimage import map_coordinates

    if wavelength <= 1.0:
        return rng.standard_normal(shape)
    # grid points over the image, with a margin for the spline
    grid = rng.standard_normal(tuple(int(np.ceil(n / wavelength)) + 4 for n in shape))
    oy, ox = rng.uniform(0.0, 1.0, 2)
    # image pixel i lies at grid coordinate i/λ, past the margin
    yy, xx = np.meshgrid(np.arange(shape[0]) / wavelength + 1.5 + oy, np.arange(shape[1]) / wavelength + 1.5 + ox,
                         indexing="ij")
    x = map_coordinates(grid, [yy, xx], order=3, mode="nearest")
    return (x - x.mean()) / (x.std() + 1e-12)


FAMILIES = ("lowpass", "bandpass", "mix")


def _octaves(wavelength: float) -> list[float]:
    """λ, λ/2, λ/4, … down to pixel scale: the layers of a multi-scale mix."""
    out = [wavelength]
    while out[-1] / 2 >= 1.0:
        out.append(out[-1] / 2)
    return out + [1.0] if out[-1] > 1.0 else out


def make_noise(seed: int, wavelengths: float | Sequence[float] = 1.0, size: int | Sequence[int] = SIZE,
               family: str = "lowpass") -> np.ndarray:
    """One noise image in standardized input units (mean 0, std 1): (size, size), or ``size`` =
    (H, W) or (H, W, C), each of the C channels its own noise of the same family.

    In pixel units this is an image with the training set's pixel mean and std, i.e. it
    is already "standardized like the training data". Families:

    - ``lowpass`` (default): the articles' "statistical fluctuations at different wavelength": a
      random grid with spacing λ, smoothly interpolated, so the image varies over λ pixels and
      more; λ = 1 is independent pixels.
    - ``bandpass``: power in a narrow ring at |k| = size/λ only (no long-range content).
    - ``mix``: "different wavelength levels" at once: equal-power low-pass layers at λ, λ/2, λ/4, …
      down to single pixels.

    Several wavelengths give an equal-power sum of one image per wavelength. Whether long
    wavelengths wake deep maps that pixel noise leaves dead is measured (``cnnviz.sweep``), not
    assumed: see the README's table.

    Args:
        seed: fixes the image; the same seed, wavelengths and family give the same image.
        wavelengths: one wavelength in pixels (1 to the image's larger side) or several to mix.
        family: ``lowpass``, ``bandpass`` or ``mix``.
    """
    if family not in FAMILIES:
        raise ValueError(f"noise must be one of {list(FAMILIES)}. Received: noise={family!r}")
    waves = [wavelengths] if isinstance(wavelengths, (int, float, np.number)) else list(wavelengths)
    if not waves:
        raise ValueError("wavelengths must name at least one wavelength. Received: wavelengths=[]")
    shape = (int(size), int(size)) if isinstance(size, (int, np.integer)) else tuple(int(n) for n in size)
    plane = (shape[0], shape[1])
    checked = [_check_wavelength(float(w), max(plane)) for w in waves]
    rng = np.random.default_rng(seed)
    x = np.zeros(shape)
    for w in checked:
        for c in range(shape[2] if len(shape) == 3 else 1):
            if family == "bandpass":
                one = _band(rng, w, plane)
            elif family == "lowpass":
                one = _lowpass(rng, w, plane)
            else:
                layers = _octaves(w)
                one = np.sum([_lowpass(rng, v, plane) for v in layers], axis=0) / np.sqrt(len(layers))
            if len(shape) == 3:
                x[..., c] += one
            else:
                x += one
    x = x - x.mean()
    return (x / (x.std() + 1e-12)).astype(np.float32)


def radial_spectrum(image: np.ndarray) -> np.ndarray:
    """Mean power per integer |k| (cycles per image), index 0 = DC."""
    image = image if image.ndim == 2 else image.mean(-1)  # colour: the spectrum of the channels' mean
    power = np.abs(np.fft.fft2(image - image.mean())) ** 2
    r = np.rint(_radius(*image.shape)).astype(int)
    return np.bincount(r.ravel(), power.ravel()) / np.maximum(np.bincount(r.ravel()), 1)

"""CT image noise and blur: filtered-back-projection-like correlated noise, a Gaussian PSF, and the NPS to check them.

Noise in a filtered back-projection image is not white: the ramp filter makes its power grow
with spatial frequency and the reconstruction kernel's roll-off brings it down again, so the
noise power spectrum (NPS) peaks at mid frequencies. We shape white noise with the amplitude
``sqrt(f) * exp(-(f / fc)^2)`` in the 2-D Fourier domain of every slice, then scale it to the
wanted standard deviation.

Example:
    >>> import numpy as np
    >>> n = correlated_noise((4, 64, 64), pixel_mm=0.8, std_hu=12.0, rng=np.random.default_rng(0))
    >>> round(float(n.std()), 1)
    12.0
"""
from __future__ import annotations

import numpy as np
from scipy import fft as sfft
from scipy import ndimage


def correlated_noise(shape: tuple[int, int, int], pixel_mm: float, std_hu: float, rng: np.random.Generator, cutoff_per_mm: float = 0.42) -> np.ndarray:
    """Noise of standard deviation ``std_hu`` whose in-plane NPS peaks mid-band, independent between slices.

    ``cutoff_per_mm`` is the kernel's roll-off frequency; it is held below 90% of the Nyquist
    frequency so coarse (small-mode) pixels still see a peak below Nyquist.

    Example:
        >>> import numpy as np
        >>> n = correlated_noise((2, 32, 32), pixel_mm=3.0, std_hu=5.0, rng=np.random.default_rng(1))
        >>> n.dtype, n.shape
        (dtype('float32'), (2, 32, 32))
    """
    nz, ny, nx = shape
    white = rng.standard_normal(shape, dtype=np.float32)
    fy = np.fft.fftfreq(ny, d=pixel_mm)[:, None]
    fx = np.fft.rfftfreq(nx, d=pixel_mm)[None, :]
    f = np.sqrt(fx * fx + fy * fy)
    nyquist = 0.5 / pixel_mm
    fc = min(cutoff_per_mm, 0.9 * nyquist)
    amplitude = (np.sqrt(f + 0.02 * fc) * np.exp(-((f / fc) ** 2))).astype(np.float32)
    spectrum = sfft.rfft2(white, axes=(1, 2), workers=-1)
    spectrum *= amplitude
    shaped = sfft.irfft2(spectrum, s=(ny, nx), axes=(1, 2), workers=-1).astype(np.float32, copy=False)
    std = float(shaped.std()) or 1.0
    return shaped * np.float32(std_hu / std)


def apply_psf(volume: np.ndarray, pixel_mm: float, fwhm_mm: float) -> np.ndarray:
    """In-plane Gaussian blur with full width at half maximum ``fwhm_mm`` (the scanner's point-spread function).

    Example:
        >>> import numpy as np
        >>> v = np.zeros((1, 9, 9), np.float32); v[0, 4, 4] = 1.0
        >>> b = apply_psf(v, pixel_mm=1.0, fwhm_mm=2.0)
        >>> round(float(b.sum()), 3), bool(b[0, 4, 4] < 1.0)
        (1.0, True)
    """
    sigma = fwhm_mm / 2.3548 / pixel_mm
    return ndimage.gaussian_filter(volume, sigma=(0.0, sigma, sigma), mode="nearest")


def noise_power_spectrum(patches: np.ndarray, pixel_mm: float, bins: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Radially averaged NPS of noise-only square patches ``(n, m, m)`` (mean removed per patch).

    Returns ``(frequencies per mm, NPS in HU^2 mm^2)``; use it on a uniform region of a real or
    phantom slice to compare the noise texture.

    Example:
        >>> import numpy as np
        >>> n = correlated_noise((8, 64, 64), 0.8, 10.0, np.random.default_rng(0))
        >>> f, nps = noise_power_spectrum(n[:, :32, :32], 0.8)
        >>> 0 < int(np.argmax(nps)) < len(nps) - 1
        True
    """
    patches = np.asarray(patches, dtype=np.float64)
    n, m, _ = patches.shape
    detrended = patches - patches.mean(axis=(1, 2), keepdims=True)
    power = np.abs(np.fft.fft2(detrended)) ** 2 * (pixel_mm * pixel_mm) / (m * m)
    power = np.fft.fftshift(power.mean(axis=0))
    freq = np.fft.fftshift(np.fft.fftfreq(m, d=pixel_mm))
    fr = np.sqrt(freq[None, :] ** 2 + freq[:, None] ** 2)
    edges = np.linspace(0, 0.5 / pixel_mm, bins + 1)
    which = np.digitize(fr.ravel(), edges) - 1
    valid = (which >= 0) & (which < bins)
    sums = np.bincount(which[valid], power.ravel()[valid], minlength=bins)
    counts = np.bincount(which[valid], minlength=bins)
    centres = 0.5 * (edges[1:] + edges[:-1])
    return centres, sums / np.maximum(counts, 1)


# amplitude (HU) of the slowly varying heterogeneity of each tissue: fat strands, lung parenchyma, organ mottle
TEXTURE_HU = {"fat": 5.0, "fat_visceral": 9.0, "fat_mediastinal": 8.0, "lung": 22.0, "liver": 5.0, "spleen": 5.0, "muscle": 5.0, "kidney_cortex": 6.0, "bone_marrow": 35.0, "stool": 60.0}


def tissue_texture(labels: np.ndarray, pixel_mm: float, rng: np.random.Generator, scale_mm: float = 4.0) -> np.ndarray:
    """Smooth random heterogeneity (about ``scale_mm`` across) whose amplitude depends on each voxel's tissue label.

    Real tissue is not uniform: fat has strands and small vessels, lung parenchyma and marrow are
    mottled. The field is white noise low-passed by a Gaussian in the Fourier domain.

    Example:
        >>> import numpy as np
        >>> from lesionviewer.phantom.tissues import TISSUES
        >>> labels = np.full((2, 64, 64), TISSUES["lung"].label, np.uint8)
        >>> t = tissue_texture(labels, 0.8, np.random.default_rng(0))
        >>> 10 < float(t.std()) < 40, float(tissue_texture(labels * 0, 0.8, np.random.default_rng(0)).std())
        (True, 0.0)
    """
    from lesionviewer.phantom.tissues import TISSUES

    nz, ny, nx = labels.shape
    white = rng.standard_normal((nz, ny, nx), dtype=np.float32)
    fy = np.fft.fftfreq(ny, d=pixel_mm)[:, None]
    fx = np.fft.rfftfreq(nx, d=pixel_mm)[None, :]
    sigma_f = 1.0 / (2.0 * np.pi * scale_mm)
    low_pass = np.exp(-(fx * fx + fy * fy) / (2.0 * sigma_f * sigma_f)).astype(np.float32)
    spectrum = sfft.rfft2(white, axes=(1, 2), workers=-1)
    spectrum *= low_pass
    field = sfft.irfft2(spectrum, s=(ny, nx), axes=(1, 2), workers=-1).astype(np.float32, copy=False)
    field /= float(field.std()) or 1.0
    amplitude = np.zeros(256, np.float32)
    for name, amp in TEXTURE_HU.items():
        amplitude[TISSUES[name].label] = amp
    return field * amplitude[labels]

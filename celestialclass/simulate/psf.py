"""Point-spread functions of HST's 2.4 m obscured aperture, per instrument and filter.

Computed from the pupil with numpy FFTs, not GalSim (see the simulator page
for why): a 2.4 m primary with a 0.33 central obscuration, four spider vanes
and three primary-mirror pads, a small fixed wavefront error, averaged over
the filter's band (photon weighted), convolved with charge diffusion and
pointing jitter, then integrated over detector pixels. Cached per process.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

from ..io.instruments import get_layout
from .photometry import get_filter

__all__ = ["PSFModel", "psf_model", "OVERSAMPLE"]

#: Sub-pixel sampling of the computed PSF (and of star positions).
OVERSAMPLE = 5
_NFFT = 1024
_PRIMARY_DIAMETER_M = 2.4
_OBSCURATION = 0.33
_SPIDER_WIDTH = 0.011          # vane width / diameter
_PADS = ((0.80, 90.0), (0.80, 210.0), (0.80, 330.0))  # (radius / R, angle deg), pad radius 0.065 R
_WAVEFRONT_NM = {"defocus": 14.0, "astig": 10.0, "coma": 6.0}
# Spider orientation on the detector (degrees). The ACS detector edges lie
# roughly along HST's V2/V3 axes; the WFC3/UVIS detector is turned by about
# 45 degrees from them. The vanes are taken along V2/V3 (an assumption that
# puts ACS spikes near the detector axes and UVIS spikes on the diagonals).
_SPIDER_ANGLE = {"ACS/WFC": 2.0, "WFC3/UVIS": 45.0}
_KERNEL_HALF = 100             # kernel is (2*100+1)^2 detector pixels
_STAMP_HALF = 4                # sub-pixel correction stamps are 9 x 9


class PSFModel(NamedTuple):
    """A detector-sampled PSF with sub-pixel corrections.

    Attributes
    ----------
    kernel : ndarray
        The PSF of a source at a pixel centre, (201, 201) pixels, sum 1.
    corrections : ndarray
        (OVERSAMPLE, OVERSAMPLE, 9, 9): for a source offset by (dy, dx) =
        (i, j) / OVERSAMPLE pixels (wrapped to -0.4..+0.4), the core of its
        PSF minus the core of ``kernel``; adding it to a source deposited at
        the nearest pixel centre gives its exact pixel values.
    fwhm_pixels : float
        Full width at half maximum of the oversampled PSF, in detector pixels.
    """

    kernel: np.ndarray
    corrections: np.ndarray
    fwhm_pixels: float


def _pupil(npup: float, angle_deg: float) -> np.ndarray:
    n = _NFFT
    y, x = (np.indices((n, n)) - n // 2).astype(np.float64)
    radius = npup / 2.0
    r = np.hypot(x, y)
    pupil = (r <= radius) & (r >= _OBSCURATION * radius)
    half_vane = 0.5 * _SPIDER_WIDTH * 2 * radius
    for theta in np.deg2rad(angle_deg + np.array([0.0, 90.0])):
        distance = np.abs(-np.sin(theta) * x + np.cos(theta) * y)
        pupil &= distance > half_vane
    for rho, phi in _PADS:
        px, py = rho * radius * np.cos(np.deg2rad(phi + angle_deg)), rho * radius * np.sin(np.deg2rad(phi + angle_deg))
        pupil &= np.hypot(x - px, y - py) > 0.065 * radius
    return pupil, x / radius, y / radius


def _wavefront_nm(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    rho2 = u * u + v * v
    return (_WAVEFRONT_NM["defocus"] * np.sqrt(3) * (2 * rho2 - 1)
            + _WAVEFRONT_NM["astig"] * np.sqrt(6) * (u * u - v * v)
            + _WAVEFRONT_NM["coma"] * np.sqrt(8) * (3 * rho2 - 2) * u)


def _oversampled_psf(instrument: str, filter_name: str, defocus_nm: float) -> np.ndarray:
    layout = get_layout(instrument)
    flt = get_filter(instrument, filter_name)
    theta = np.deg2rad(layout.pixel_scale / OVERSAMPLE / 3600.0)
    half = min(flt.width, 0.8 * flt.pivot) / 2
    wavelengths = np.linspace(flt.pivot - 0.8 * half, flt.pivot + 0.8 * half, 5)
    weights = flt.throughput(wavelengths) * wavelengths
    total = np.zeros((_NFFT, _NFFT))
    for wavelength, weight in zip(wavelengths, weights):
        npup = _PRIMARY_DIAMETER_M * _NFFT * theta / (wavelength * 1e-9)
        pupil, u, v = _pupil(npup, _SPIDER_ANGLE[instrument])
        wavefront = _wavefront_nm(u, v) + defocus_nm * np.sqrt(3) * (2 * (u * u + v * v) - 1)
        field = np.where(pupil, np.exp(2j * np.pi * wavefront / wavelength), 0)
        image = np.abs(np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(field)))) ** 2
        total += weight * image / image.sum()
    return total / total.sum()


def _fwhm(image: np.ndarray) -> float:
    above = image >= image.max() / 2
    return 2 * np.sqrt(above.sum() / np.pi) / OVERSAMPLE


@functools.lru_cache(maxsize=32)
def psf_model(instrument: str, filter_name: str, blur: float = 0.0) -> PSFModel:
    """The PSF of ``instrument`` through ``filter_name``, optionally degraded.

    Parameters
    ----------
    instrument : {'ACS/WFC', 'WFC3/UVIS'}
    filter_name : str
        A filter of `celestialclass.simulate.photometry.FILTERS`.
    blur : float, optional
        Degradation for blurry exposures: extra Gaussian blur of this many
        detector pixels (sigma) plus ``40 * blur`` nm of defocus.

    Returns
    -------
    PSFModel
    """
    from scipy import ndimage

    flt = get_filter(instrument, filter_name)
    psf = _oversampled_psf(instrument, filter_name, defocus_nm=40.0 * blur)
    # Charge diffusion (stronger in the blue) and pointing jitter, in detector pixels.
    diffusion = 0.55 + 0.25 * np.clip((700.0 - flt.pivot) / 400.0, 0.0, 1.0)
    sigma = np.hypot(diffusion, blur) * OVERSAMPLE
    psf = ndimage.gaussian_filter(psf, sigma, mode="constant")
    fwhm = _fwhm(psf)

    centre = _NFFT // 2
    n = 2 * _KERNEL_HALF + 1
    phases = {}
    for i in range(OVERSAMPLE):
        for j in range(OVERSAMPLE):
            # A source offset by (+i/OS, +j/OS) pixels: shift the grid the other way.
            dy = (i + OVERSAMPLE // 2) % OVERSAMPLE - OVERSAMPLE // 2
            dx = (j + OVERSAMPLE // 2) % OVERSAMPLE - OVERSAMPLE // 2
            y0 = centre - dy - OVERSAMPLE // 2 - _KERNEL_HALF * OVERSAMPLE
            x0 = centre - dx - OVERSAMPLE // 2 - _KERNEL_HALF * OVERSAMPLE
            block = psf[y0:y0 + n * OVERSAMPLE, x0:x0 + n * OVERSAMPLE]
            phases[i, j] = block.reshape(n, OVERSAMPLE, n, OVERSAMPLE).sum(axis=(1, 3))
    # Taper the outer wings to zero so the kernel's edge never shows around bright stars.
    radius = np.hypot(*np.mgrid[-_KERNEL_HALF:_KERNEL_HALF + 1, -_KERNEL_HALF:_KERNEL_HALF + 1])
    taper = np.clip((_KERNEL_HALF - radius) / (0.4 * _KERNEL_HALF), 0, 1) ** 2
    phases = {key: image * taper for key, image in phases.items()}
    kernel = phases[0, 0]
    scale = 1.0 / kernel.sum()
    kernel = (kernel * scale).astype(np.float32)
    s = slice(_KERNEL_HALF - _STAMP_HALF, _KERNEL_HALF + _STAMP_HALF + 1)
    corrections = np.zeros((OVERSAMPLE, OVERSAMPLE, 2 * _STAMP_HALF + 1, 2 * _STAMP_HALF + 1), np.float32)
    for (i, j), image in phases.items():
        corrections[i, j] = image[s, s] * scale - kernel[s, s]
    return PSFModel(kernel, corrections, fwhm)

"""The detector between the sky and the ADC: photon noise, dark, hot pixels, cosmic rays, bleeding.

Everything here is in electrons; gain, bias, read noise and the 16-bit ADC
are `write_raw`'s.
"""

from __future__ import annotations

import functools
import zlib
from typing import NamedTuple

import numpy as np

from ..io.instruments import ChipLayout, DetectorLayout

__all__ = ["DetectorModel", "DETECTORS", "expose"]


class DetectorModel(NamedTuple):
    """Electron-side properties of a detector.

    Attributes
    ----------
    full_well : float
        Electrons a pixel holds before charge bleeds along its column.
    dark : float
        Dark current, e-/s/pixel.
    hot_fraction : float
        Fraction of pixels with a high dark current (log-normal, median
        ``hot_median`` e-/s); the same pixels in every exposure.
    hot_median : float
    cosmic_ray_rate : float
        Cosmic rays per cm^2 per second (15 micron pixels).
    """

    full_well: float
    dark: float
    hot_fraction: float
    hot_median: float
    cosmic_ray_rate: float


#: ACS/WFC: full well ~85,000 e- (ACS IHB), dark ~0.01 e-/s/px in recent cycles.
#: WFC3/UVIS: full well ~63,000 e-, dark ~0.003 e-/s/px (WFC3 IHB). Cosmic rays
#: ~1.2 /cm^2/s, which gives ~14,000 per ACS chip in 600 s.
DETECTORS = {
    "ACS/WFC": DetectorModel(85000.0, 0.010, 0.004, 0.06, 1.2),
    "WFC3/UVIS": DetectorModel(63000.0, 0.003, 0.003, 0.04, 1.2),
}
_PIXEL_CM = 15e-4


@functools.lru_cache(maxsize=8)
def _hot_pixels(instrument: str, ccdchip: int, shape: tuple[int, int]):
    """Fixed hot-pixel positions and dark rates of one chip."""
    model = DETECTORS[instrument]
    rng = np.random.default_rng(zlib.crc32(f"{instrument}/{ccdchip}".encode()))
    n = int(model.hot_fraction * shape[0] * shape[1])
    index = rng.choice(shape[0] * shape[1], n, replace=False)
    rates = model.hot_median * np.exp(rng.normal(0, 1.3, n))
    return index, rates.astype(np.float32)


def _poisson(mean: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Poisson deviates in one normal draw with a skewness correction (Cornish-Fisher)."""
    z = rng.standard_normal(mean.shape, dtype=np.float32)
    out = np.sqrt(mean) * z
    out += mean
    out += (z * z - 1) / 6
    np.maximum(out, 0, out=out)
    return out


def _cosmic_rays(image: np.ndarray, exptime: float, rate: float, rng: np.random.Generator) -> int:
    """Add cosmic-ray tracks; returns how many."""
    rows, cols = image.shape
    area = rows * cols * _PIXEL_CM ** 2
    n = int(rng.poisson(rate * area * exptime))
    if n == 0:
        return 0
    length = rng.exponential(2.5, n) + 0.5
    angle = rng.uniform(0, np.pi, n)
    energy = np.exp(rng.normal(np.log(900.0), 0.7, n))
    steps = np.ceil(2 * length).astype(np.int64) + 1
    which = np.repeat(np.arange(n), steps)
    t = np.arange(which.size) - np.repeat(np.cumsum(steps) - steps, steps)
    frac = t / np.maximum(steps[which] - 1, 1)
    y0, x0 = rng.uniform(0, rows, n), rng.uniform(0, cols, n)
    y = np.rint(y0[which] + frac * length[which] * np.sin(angle[which])).astype(np.int64)
    x = np.rint(x0[which] + frac * length[which] * np.cos(angle[which])).astype(np.int64)
    value = energy[which] / steps[which]
    inside = (y >= 0) & (y < rows) & (x >= 0) & (x < cols)
    image += np.bincount(y[inside] * cols + x[inside], weights=value[inside],
                         minlength=image.size).reshape(image.shape).astype(np.float32)
    return n


def _bleed(image: np.ndarray, full_well: float) -> int:
    """Spread charge above the full well up and down its column; returns the columns affected.

    Each saturated run of a column keeps the full well and hands its excess
    to the pixels beyond each end, half up and half down, filling them to the
    full well in turn (charge that runs off the chip is lost). Vectorised
    over all runs of all columns.
    """
    columns = np.flatnonzero((image > full_well).any(axis=0))
    if columns.size == 0:
        return 0
    rows = image.shape[0]
    sub = np.ascontiguousarray(image[:, columns].T).astype(np.float64)   # (columns, rows)
    over = sub > full_well
    padded = np.zeros((sub.shape[0], rows + 2), dtype=np.int8)
    padded[:, 1:-1] = over
    edges = np.diff(padded, axis=1)
    col_start, start = np.nonzero(edges == 1)
    _, stop = np.nonzero(edges == -1)
    cumulative = np.cumsum(np.where(over, sub - full_well, 0.0), axis=1)
    before = np.where(start > 0, cumulative[col_start, np.maximum(start - 1, 0)], 0.0)
    excess = cumulative[col_start, stop - 1] - before
    sub[over] = full_well
    spill = excess / 2 / full_well
    whole = np.floor(spill).astype(np.int64)
    part = (spill - whole) * full_well
    for direction, first in ((1, stop), (-1, start - 1)):
        offsets = np.arange(whole.sum()) - np.repeat(np.cumsum(whole) - whole, whole)
        r = np.repeat(first, whole) + direction * offsets
        c = np.repeat(col_start, whole)
        inside = (r >= 0) & (r < rows)
        sub[c[inside], r[inside]] = np.maximum(sub[c[inside], r[inside]], full_well)
        r_end = first + direction * whole
        inside = (r_end >= 0) & (r_end < rows)
        np.add.at(sub, (col_start[inside], r_end[inside]), part[inside])
    image[:, columns] = sub.T
    return int(columns.size)


def _satellite(image: np.ndarray, rng: np.random.Generator) -> None:
    rows, cols = image.shape
    angle = rng.uniform(0, np.pi)
    y0, x0 = rng.uniform(0, rows), rng.uniform(0, cols)
    width = rng.uniform(1.5, 4.0)
    level = float(np.exp(rng.uniform(np.log(100), np.log(5000))))
    # Distance of every pixel to the line, computed in bands to bound memory.
    for start in range(0, rows, 256):
        yy = np.arange(start, min(start + 256, rows))[:, None] - y0
        xx = np.arange(cols)[None, :] - x0
        distance = np.abs(-np.sin(angle) * xx + np.cos(angle) * yy)
        image[start:start + 256] += (level * np.exp(-0.5 * (distance / width) ** 2)).astype(np.float32)


def expose(rate: np.ndarray, exptime: float, sky: float, layout: DetectorLayout, chip: ChipLayout,
           rng: np.random.Generator, satellite: bool = False) -> tuple[np.ndarray, dict]:
    """Electrons collected by one chip in ``exptime`` seconds.

    Parameters
    ----------
    rate : ndarray
        Source electron rate (e-/s per pixel), science area.
    exptime : float
        Exposure time (s).
    sky : float
        Sky electron rate (e-/s per pixel).
    layout, chip
        The detector and chip (hot pixels are fixed per chip).
    rng : `numpy.random.Generator`
    satellite : bool, optional
        Add a satellite trail.

    Returns
    -------
    electrons : ndarray (float32)
    effects : dict
        ``cosmic_rays`` (count), ``bleeding_columns`` (count), ``satellite`` (bool).
    """
    model = DETECTORS[layout.name]
    mean = rate * np.float32(exptime)
    mean += np.float32((sky + model.dark) * exptime)
    index, hot = _hot_pixels(layout.name, chip.ccdchip, rate.shape)
    flat = mean.reshape(-1)
    flat[index] += hot * np.float32(exptime)
    electrons = _poisson(mean, rng)
    n_cr = _cosmic_rays(electrons, exptime, model.cosmic_ray_rate, rng)
    if satellite:
        _satellite(electrons, rng)
    columns = _bleed(electrons, model.full_well)
    return electrons, {"cosmic_rays": n_cr, "bleeding_columns": columns, "satellite": bool(satellite)}

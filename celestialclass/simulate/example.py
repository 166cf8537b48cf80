"""A small built-in exposure for examples and smoke tests (not the scene simulator)."""

from __future__ import annotations

import pathlib

import numpy as np

from ..io.instruments import get_layout
from .rawfile import write_raw

__all__ = ["write_example_raw", "write_calibration_raw", "CALIBRATION_KINDS"]

#: Calibration frames `write_calibration_raw` writes: IMAGETYP, EXPTIME (s), TARGNAME.
CALIBRATION_KINDS = {"bias": ("BIAS", 0.0, "BIAS"), "dark": ("DARK", 1000.0, "DARK"),
                     "flat": ("FLAT", 10.0, "TUNGSTEN")}


def _example_scene(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Sky, a smooth elliptical glow and a few hundred Gaussian stars, in electrons."""
    rows, cols = shape
    y, x = np.ogrid[0:rows, 0:cols]
    yc, xc = rng.uniform(0.3, 0.7) * rows, rng.uniform(0.3, 0.7) * cols
    r2 = ((x - xc) / 900.0) ** 2 + ((y - yc) / 500.0) ** 2
    scene = (60.0 + 400.0 * np.exp(-np.sqrt(r2) * 2.0)).astype(np.float32)
    n_stars = 300
    ys = rng.integers(6, rows - 6, n_stars)
    xs = rng.integers(6, cols - 6, n_stars)
    flux = rng.pareto(1.5, n_stars) * 2000.0 + 500.0
    dy, dx = np.mgrid[-5:6, -5:6]
    stamp = np.exp(-(dx ** 2 + dy ** 2) / (2 * 1.1 ** 2)).astype(np.float32)
    stamp /= stamp.sum()
    for yy, xx, f in zip(ys, xs, flux):
        scene[yy - 5:yy + 6, xx - 5:xx + 6] += np.float32(f) * stamp
    return rng.poisson(scene).astype(np.float32)


def write_example_raw(path, instrument: str = "ACS/WFC", *, seed: int = 0,
                      overwrite: bool = False) -> pathlib.Path:
    """Write a small, deterministic example raw exposure (both chips).

    The scene is deliberately plain: sky, a smooth glow and a few hundred
    stars with photon noise. It exists so that examples, the README and
    smoke tests have a raw file to read without the archive.

    Parameters
    ----------
    path : str or path-like
        Output ``*_raw.fits`` file.
    instrument : {'ACS/WFC', 'WFC3/UVIS'}, optional
        Detector layout.
    seed : int, optional
        Random seed; the same seed writes the same bytes.
    overwrite : bool, optional
        Replace an existing file.

    Returns
    -------
    path : `pathlib.Path`

    Examples
    --------
    >>> import os, tempfile
    >>> from celestialclass.io import read_raw
    >>> from celestialclass.simulate import write_example_raw
    >>> path = write_example_raw(os.path.join(tempfile.mkdtemp(), "jexampl0q_raw.fits"))
    >>> read_raw(path, chip=1).shape
    (2048, 4096)
    """
    layout = get_layout(instrument)
    rng = np.random.default_rng(seed)
    images = {chip.ccdchip: _example_scene(chip.trimmed_shape("science"), rng) for chip in layout.chips}
    header = {"TARGNAME": "EXAMPLE", "EXPTIME": 500.0}
    return write_raw(path, images, instrument, header=header, seed=rng, overwrite=overwrite)


def write_calibration_raw(path, kind: str, instrument: str = "ACS/WFC", *, seed: int = 0,
                          overwrite: bool = False) -> pathlib.Path:
    """Write a raw calibration frame: a bias, a dark or an internal flat field, headers as HST writes them.

    A bias is the amplifiers' bias and read noise alone (``EXPTIME = 0``); a
    dark adds dark current, hot pixels and cosmic rays over 1000 s; a flat
    is a lamp's smooth, bright illumination (about 20,000 e- per pixel).
    Their ``IMAGETYP`` (``BIAS``, ``DARK``, ``FLAT``) says what they are; a
    classifier refuses them (`celestialclass.io.screen`).

    Parameters
    ----------
    path : str or path-like
    kind : {'bias', 'dark', 'flat'}
    instrument : {'ACS/WFC', 'WFC3/UVIS'}, optional
    seed : int, optional
    overwrite : bool, optional

    Returns
    -------
    path : `pathlib.Path`

    Examples
    --------
    >>> import os, tempfile
    >>> from astropy.io import fits
    >>> from celestialclass.simulate import write_calibration_raw
    >>> path = write_calibration_raw(os.path.join(tempfile.mkdtemp(), "jbias001q_raw.fits"), "bias")
    >>> fits.getval(path, "IMAGETYP"), fits.getval(path, "EXPTIME")
    ('BIAS', 0.0)
    """
    from ..exceptions import CelestialClassError

    if kind not in CALIBRATION_KINDS:
        raise CelestialClassError(f"kind must be one of {', '.join(CALIBRATION_KINDS)}, got {kind!r}")
    imagetyp, exptime, target = CALIBRATION_KINDS[kind]
    layout = get_layout(instrument)
    rng = np.random.default_rng(seed)
    images = {}
    for chip in layout.chips:
        shape = chip.trimmed_shape("science")
        if kind == "bias":
            image = np.zeros(shape, np.float32)
        elif kind == "dark":
            image = rng.poisson(0.006 * exptime, shape).astype(np.float32)
            hot = rng.integers(0, image.size, image.size // 500)
            image.flat[hot] += rng.pareto(1.2, hot.size).astype(np.float32) * 50
            hits = rng.integers(0, image.size, 20000)
            image.flat[hits] += rng.uniform(200, 5000, hits.size).astype(np.float32)
        else:
            y, x = np.ogrid[0:shape[0], 0:shape[1]]
            falloff = ((x - shape[1] / 2) / shape[1]) ** 2 + ((y - shape[0] / 2) / shape[0]) ** 2
            illumination = 20000.0 * (1 - 0.08 * falloff)
            image = rng.poisson(illumination).astype(np.float32)
        images[chip.ccdchip] = image
    header = {"IMAGETYP": imagetyp, "EXPTIME": exptime, "TARGNAME": target}
    return write_raw(path, images, instrument, header=header, seed=rng, overwrite=overwrite)

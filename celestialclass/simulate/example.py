"""A small built-in exposure for examples and smoke tests (not the scene simulator)."""

from __future__ import annotations

import pathlib

import numpy as np

from ..io.instruments import get_layout
from .rawfile import write_raw

__all__ = ["write_example_raw"]


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

"""How clearly a chip shows its object: the object's own signal-to-noise ratio in pixel blocks.

LCID's chips were labelled by people who could see the object on them; a
simulated exposure can put a chip on empty sky next to a compact object, or
see a reflection nebula through a narrow H-alpha filter for a few seconds,
and then the chip shows nothing of its object at all. `chip_visibility`
measures that from the noiseless truth, before any pixel is drawn: the
object's electrons in each 32 x 32 pixel block against the noise of that
block (object, sky and dark current as Poisson noise, plus read noise).
"""

from __future__ import annotations

import numpy as np

from .render import COARSE_LEVEL, ChipGrid, compact_rates, point_rates, smooth_rate

__all__ = ["chip_visibility", "BLOCK"]

#: Side of the square pixel blocks over which the object's S/N is measured.
BLOCK = 32


def _block_sums(rows, cols, values, grid: ChipGrid) -> np.ndarray:
    """Sum ``values`` at chip pixel positions into blocks of `BLOCK` pixels (positions off the chip dropped)."""
    shape = (-(-grid.rows // BLOCK), -(-grid.cols // BLOCK))
    r = np.floor(np.asarray(rows) / BLOCK).astype(np.int64)
    c = np.floor(np.asarray(cols) / BLOCK).astype(np.int64)
    inside = (np.asarray(rows) >= 0) & (np.asarray(rows) < grid.rows) & (np.asarray(cols) >= 0) & (
        np.asarray(cols) < grid.cols)
    sums = np.bincount(r[inside] * shape[1] + c[inside], weights=np.asarray(values, dtype=np.float64)[inside],
                       minlength=shape[0] * shape[1])
    return sums.reshape(shape)


def object_block_rates(layers, grid: ChipGrid, filter_name: str) -> np.ndarray:
    """The object's electron rate (e-/s) in each `BLOCK` x `BLOCK` block of the chip, PSF ignored.

    Parameters
    ----------
    layers : `~celestialclass.simulate.render.Layers`
        The object's own layers (`celestialclass.simulate.scenes.object_layers`).
    grid : `~celestialclass.simulate.render.ChipGrid`
    filter_name : str

    Returns
    -------
    rates : ndarray
        Shape ``(ceil(rows / BLOCK), ceil(cols / BLOCK))``.
    """
    from .render import _MARGIN

    coarse, sharp, attenuation = smooth_rate(layers, grid, filter_name)
    step = 2 ** COARSE_LEVEL
    centre = (step - 1) / 2 - _MARGIN
    rows = np.arange(coarse.shape[0]) * step + centre
    cols = np.arange(coarse.shape[1]) * step + centre
    rr, cc = np.broadcast_arrays(rows[:, None], cols[None, :])
    total = _block_sums(rr.ravel(), cc.ravel(), coarse.ravel() * step ** 2, grid)
    if sharp is not None:
        if attenuation is not None:
            index = (np.arange(sharp.shape[0]) // 2 ** (COARSE_LEVEL - 1)).clip(max=attenuation.shape[0] - 1)
            cindex = (np.arange(sharp.shape[1]) // 2 ** (COARSE_LEVEL - 1)).clip(max=attenuation.shape[1] - 1)
            sharp = sharp * attenuation[index][:, cindex]
        centre = 0.5 - _MARGIN
        rows = np.arange(sharp.shape[0]) * 2 + centre
        cols = np.arange(sharp.shape[1]) * 2 + centre
        rr, cc = np.broadcast_arrays(rows[:, None], cols[None, :])
        total += _block_sums(rr.ravel(), cc.ravel(), sharp.ravel() * 4, grid)
    for row, col, flux in (point_rates(layers, grid, filter_name), compact_rates(layers, grid, filter_name)):
        if len(flux):
            total += _block_sums(row, col, flux, grid)
    return total


def chip_visibility(plan, chip, layers=None) -> float:
    """How clearly one chip of a planned exposure shows its object: a signal-to-noise ratio.

    The object's own light (no foreground stars or background galaxies) is
    summed in `BLOCK` x `BLOCK` pixel blocks and compared with each block's
    noise: Poisson noise of object, sky and dark current over the exposure,
    and read noise. The result is the 99th percentile over the chip's blocks:
    the S/N the object reaches over at least 1 % of the chip. Computed from
    the plan alone (no pixels are drawn; the PSF is ignored, which only moves
    light between neighbouring blocks).

    Parameters
    ----------
    plan : `~celestialclass.simulate.ExposurePlan`
    chip : `~celestialclass.io.instruments.ChipLayout`
        One chip of the plan's instrument.
    layers : `~celestialclass.simulate.render.Layers`, optional
        The object's own layers on this chip
        (`celestialclass.simulate.scenes.object_layers`), if already made.

    Returns
    -------
    snr : float

    Examples
    --------
    >>> from celestialclass.io.instruments import LAYOUTS
    >>> from celestialclass.simulate import chip_visibility, plan_exposure
    >>> plan = plan_exposure("nsc", "ACS/WFC", seed=3, subtype="globular_cluster", filter="F814W", exptime=500)
    >>> [chip_visibility(plan, chip) > 5 for chip in LAYOUTS["ACS/WFC"].chips]
    [True, True]
    """
    from ..io.instruments import get_layout
    from .detector import DETECTORS
    from .photometry import sky_rate
    from .exposure import plan_body
    from .scenes import object_layers

    layout = get_layout(plan.instrument)
    grid = ChipGrid(layout, chip, plan.pointing_u, plan.pointing_v, plan.roll)
    if layers is None:
        layers = object_layers(plan_body(plan), grid)
    signal = object_block_rates(layers, grid, plan.filter) * plan.exptime
    pixels = float(BLOCK * BLOCK)
    background = (sky_rate(layout.name, plan.filter, layout.pixel_scale, plan.sky_v)
                  + DETECTORS[layout.name].dark) * plan.exptime * pixels
    read_noise = float(np.mean([amp.read_noise for amp in chip.amplifiers]))
    snr = signal / np.sqrt(signal + background + pixels * read_noise ** 2)
    return float(np.percentile(snr, 99))

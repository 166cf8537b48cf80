"""A gallery of simulated chips: one PNG per sub-type, asinh-stretched (needs matplotlib)."""

from __future__ import annotations

import pathlib

import numpy as np

__all__ = ["asinh_preview", "make_gallery"]


def asinh_preview(data: np.ndarray, block: int = 4, softening: float = 3.0) -> np.ndarray:
    """A display image in 0..1: block-averaged, sky-subtracted, asinh-stretched.

    Parameters
    ----------
    data : ndarray
        A trimmed chip (bias subtracted).
    block : int, optional
        Side of the averaging block (4: 2048 x 4096 -> 512 x 1024).
    softening : float, optional
        The stretch turns from linear to logarithmic this many noise sigmas above the sky.
    """
    rows, cols = (s // block * block for s in data.shape)
    small = data[:rows, :cols].reshape(rows // block, block, cols // block, block).mean(axis=(1, 3))
    sky = np.median(small)
    noise = 1.4826 * np.median(np.abs(small - sky)) + 1e-3
    top = np.percentile(small, 99.8) - sky
    scaled = np.arcsinh((small - sky) / (softening * noise)) / np.arcsinh(max(top, noise) / (softening * noise))
    return np.clip(scaled, 0, 1)


def make_gallery(out_dir, instrument: str = "ACS/WFC", seed: int = 2024, hdu: int = 4) -> list[pathlib.Path]:
    """Simulate one exposure of every sub-type and save a PNG preview of one chip of each.

    Returns the PNG paths, named ``<kind>-<subtype>.png``.
    """
    import tempfile

    from ..utils.optional import pyplot

    plt = pyplot()

    from ..io import read_raw
    from .exposure import simulate_exposure
    from .scenes import SUBTYPES

    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind, subtypes in SUBTYPES.items():
            for number, subtype in enumerate(subtypes):
                raw = pathlib.Path(tmp) / f"{kind}-{subtype}_raw.fits"
                truth = simulate_exposure(raw, kind, instrument, seed=seed + number, subtype=subtype,
                                          filter="F606W", exptime=500.0)
                ccd = read_raw(raw, hdu=hdu, subtract_bias=True)
                image = asinh_preview(ccd.data)
                fig = plt.figure(figsize=(8, 4.3), dpi=100)
                ax = fig.add_axes([0, 0, 1, 0.93])
                ax.imshow(image, origin="lower", cmap="gray", interpolation="nearest")
                ax.set_axis_off()
                fig.suptitle(f"{kind}: {subtype}  ({instrument} {truth['filter']}, "
                             f"{truth['exptime']:g} s, HDU {hdu})", fontsize=10)
                png = out_dir / f"{kind}-{subtype}.png"
                fig.savefig(png)
                plt.close(fig)
                paths.append(png)
    return paths

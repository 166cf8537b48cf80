"""Maps of what drove a decision: input-times-gradient saliency on the full-resolution chip.

For each chip, the predicted class's log-probability is differentiated with
respect to the preprocessed input (the chip exactly as the network saw it),
and ``|input x gradient|`` is summed over blocks of `BLOCK` x `BLOCK` pixels
(Simonyan et al. 2014; Shrikumar et al. 2017). A block's value is its share
of the whole attribution (the map sums to 1): where the evidence the network
used lies, not whether it was right to use it. One forward and one backward
pass per chip, on a copy of the network kept for it.

The map is written (`Explanation.write`) as a FITS image carrying the chip's
WCS where the raw header has one (sliced to the trimmed chip and the
blocks; raw-file WCS is approximate, see :ref:`io`), and as a PNG: the map
over an asinh preview of the chip.
"""

from __future__ import annotations

import os
import pathlib
from dataclasses import dataclass, field

import numpy as np

from .exceptions import CelestialClassError

__all__ = ["BLOCK", "Explanation", "explain"]

#: Side of the square blocks the map sums over (pixels of the chip).
BLOCK = 16


@dataclass(frozen=True)
class Explanation:
    """What drove one chip's decision.

    Attributes
    ----------
    source : str
        The chip (file and HDU, or ``<CCDData>``/``<array>``).
    label : str
        The class explained (the predicted one).
    probabilities : dict
        Each class's probability, as `CelestialClassifier.predict` gives them.
    saliency : `~numpy.ndarray`
        Rows x columns of blocks (128 x 256 for a 2048 x 4096 chip), each
        its share of ``|input x gradient|``; sums to 1.
    preview : `~numpy.ndarray`
        The preprocessed chip averaged over the same blocks (asinh-scaled),
        for display.
    block : int
        Pixels per block side.
    wcs : `~astropy.wcs.WCS` or None
        World coordinates of the map's pixels, where the chip has them.
    hdu : int or None
    model : str
        The weights' name.
    """

    source: str
    label: str
    probabilities: dict
    saliency: np.ndarray = field(repr=False)
    preview: np.ndarray = field(repr=False)
    block: int = BLOCK
    wcs: object = None
    hdu: int | None = None
    model: str = ""

    def to_hdu(self):
        """The map as a `~astropy.io.fits.PrimaryHDU` with its WCS and what it explains in the header."""
        from astropy.io import fits

        header = self.wcs.to_header() if self.wcs is not None else fits.Header()
        header["CCLABEL"] = (self.label, "class explained (the predicted one)")
        header["CCMODEL"] = (self.model[:40], "celestialclass weights explained")
        for name, value in self.probabilities.items():
            header[f"CCP{name[:5].upper()}"] = (round(float(value), 6), f"probability of {name}")
        header["CCBLOCK"] = (self.block, "chip pixels per map pixel side")
        header["CCMETHOD"] = ("input x gradient", "|x dlogp/dx| summed per block")
        header["CCSOURCE"] = os.path.basename(self.source)[-68:]
        header["BUNIT"] = ("", "share of the total attribution")
        return fits.PrimaryHDU(self.saliency.astype(np.float32), header=header)

    def write(self, fits_path, png_path=None, *, overwrite: bool = False) -> list[pathlib.Path]:
        """Write the map as FITS and, given ``png_path``, the PNG overlay (both atomically).

        Returns
        -------
        paths : list of `pathlib.Path`
        """
        from .utils.files import atomic_path

        written = []
        for path in (fits_path, png_path):
            if path is not None and pathlib.Path(path).exists() and not overwrite:
                raise CelestialClassError("file exists; pass overwrite=True (--overwrite on the command line)",
                                          path=path)
        with atomic_path(fits_path) as tmp:
            self.to_hdu().writeto(tmp, overwrite=True)
        written.append(pathlib.Path(fits_path))
        if png_path is not None:
            with atomic_path(png_path) as tmp:
                self.plot(tmp)
            written.append(pathlib.Path(png_path))
        return written

    def plot(self, path) -> None:
        """The PNG: the saliency map over the chip's asinh preview, with the class and probability."""
        from .schema import CLASS_DISPLAY
        from .utils.optional import pyplot

        plt = pyplot()
        rows, cols = self.preview.shape
        fig, ax = plt.subplots(figsize=(8, 8 * rows / cols + 0.8), dpi=110)
        low, high = np.percentile(self.preview, [1, 99.5])
        ax.imshow(self.preview, cmap="gray", origin="lower", vmin=low, vmax=high)
        level = np.percentile(self.saliency, 99)
        shown = np.ma.masked_less(self.saliency, np.percentile(self.saliency, 90))
        ax.imshow(shown, cmap="inferno", origin="lower", alpha=0.55, vmin=0, vmax=level)
        p = self.probabilities[self.label]
        ax.set_title(f"{CLASS_DISPLAY.get(self.label, self.label)} (p = {p:.3f}): {os.path.basename(self.source)}\n"
                     f"brightest 10 % of |input x gradient|, {self.block} x {self.block} pixel blocks", fontsize=9)
        ax.set_xlabel(f"column / {self.block}")
        ax.set_ylabel(f"row / {self.block}")
        fig.tight_layout()
        fig.savefig(path, format="png")
        plt.close(fig)


def _blocks(image: np.ndarray, block: int, how: str) -> np.ndarray:
    rows, cols = (image.shape[0] // block) * block, (image.shape[1] // block) * block
    view = image[:rows, :cols].reshape(rows // block, block, cols // block, block)
    return view.sum(axis=(1, 3)) if how == "sum" else view.mean(axis=(1, 3))


def _file_wcs(path: str, hdu: int | None, trim: str, block: int):
    """The raw SCI header's WCS, cut to the trimmed chip and stepped by ``block``; None without one."""
    import warnings

    from astropy.wcs import WCS, FITSFixedWarning

    from .io import RawFile

    if hdu is None:
        return None
    try:
        with RawFile(path) as raw, warnings.catch_warnings():
            warnings.simplefilter("ignore", FITSFixedWarning)
            header = raw._hdul[hdu].header
            if "CTYPE1" not in header:
                return None
            chip = dict(raw.select(hdu))[hdu]
            first_row = chip.rows(trim)[0]
            first_col = chip.amplifiers[0].science_cols[0]
            wcs = WCS(header)
    except (CelestialClassError, ValueError, KeyError, TypeError, MemoryError):
        return None
    return _block_wcs(wcs, first_row, first_col, block)


def _block_wcs(wcs, first_row: int, first_col: int, block: int):
    """``wcs`` for a map whose pixel (0, 0) is the ``block``-pixel square at (first_row, first_col).

    (astropy's ``WCS.slice`` with a step leaves a CD matrix unscaled.)
    """
    out = wcs.deepcopy()
    crpix = out.wcs.crpix
    out.wcs.crpix = [(crpix[0] - first_col - 0.5) / block + 0.5, (crpix[1] - first_row - 0.5) / block + 0.5]
    if out.wcs.has_cd():
        out.wcs.cd = out.wcs.cd * block
    else:
        out.wcs.cdelt = out.wcs.cdelt * block
    out.sip = None  # a distortion in chip pixels does not carry over to blocks; raw WCS has none to speak of
    return out


def explain(classifier, x, hdu: int | None = None, chip: int | None = None, *, block: int = BLOCK):
    """Saliency maps of a classifier's decisions (`CelestialClassifier.explain`)."""
    import torch
    from astropy.nddata import CCDData

    from .schema import CLASS_NAMES

    if int(block) < 1:
        raise CelestialClassError(f"block must be at least 1, got {block}")
    single = isinstance(x, (CCDData, np.ndarray))
    network = classifier._explainer()
    out = []
    for item, tensor in classifier._chips(x, hdu, chip):
        if isinstance(tensor, CelestialClassError):
            raise tensor
        inputs = tensor[None].to(classifier.device).requires_grad_(True)
        with torch.enable_grad():
            logits = network(inputs).float()
            log_p = torch.log_softmax(logits / classifier.engine.temperature, dim=1)
            index = int(log_p.argmax(1))
            log_p[0, index].backward()
        attribution = (inputs.grad * inputs).abs()[0, 0].detach().cpu().numpy().astype(np.float64)
        saliency = _blocks(attribution, block, "sum")
        total = saliency.sum()
        saliency = saliency / total if total > 0 else saliency
        probs = torch.exp(log_p.detach())[0].cpu().numpy()
        names = classifier.class_names
        probabilities = {name: float(probs[names.index(name)]) for name in CLASS_NAMES if name in names}
        wcs = None
        if isinstance(x, CCDData) and x.wcs is not None:
            wcs = _block_wcs(x.wcs, 0, 0, block)
        elif item.hdu is not None and not single:
            wcs = _file_wcs(item.source, item.hdu, classifier.preprocess.trim, block)
        source = item.source if item.hdu is None else f"{item.source}[HDU {item.hdu}]"
        out.append(Explanation(source, names[index], probabilities, saliency.astype(np.float32),
                               _blocks(tensor[0].numpy().astype(np.float64), block, "mean").astype(np.float32),
                               int(block), wcs, item.hdu, classifier.name))
    return out[0] if single else out

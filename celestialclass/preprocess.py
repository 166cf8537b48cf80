"""Preprocessing: one raw chip (or a CCDData, or an array) -> the tensor a model takes.

The same `Preprocess` object serves training (`celestialclass.datasets.ChipDataset`)
and inference, and travels with the weights (``to_dict``/``from_dict``), so a
model always sees what it was trained on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .exceptions import CelestialClassError, ShapeError

__all__ = ["Preprocess", "LCID_RESIZE"]

#: (rows, columns) of the paper's LCID-Resize images: ``cv2.resize(chip, (448, 224))``.
LCID_RESIZE = (224, 448)
_SCALINGS = ("asinh", "none")


@dataclass(frozen=True)
class Preprocess:
    """How a trimmed chip becomes a model's input.

    Parameters
    ----------
    trim : {'lcid', 'science'}
        Trim mode of `celestialclass.io.read_raw` for raw files.
    subtract_bias : bool
        Subtract each amplifier's overscan level when reading raw files.
    scaling : {'asinh', 'none'}
        ``'asinh'``: subtract the sky (median) and compress with
        ``arcsinh((x - sky) / (softening * sigma))``, sigma the robust
        (MAD) noise; both statistics come from every 8th row and column.
        ``'none'``: the data as read.
    softening : float
        Where, in noise sigmas, the asinh stretch turns logarithmic.
    resize : tuple of int, optional
        (rows, columns) to resize to with ``cv2.resize`` (bilinear), as the
        paper made LCID-Resize; None keeps full resolution.

    Examples
    --------
    >>> import numpy as np
    >>> from celestialclass.preprocess import Preprocess
    >>> chip = np.random.default_rng(0).normal(100, 5, (2048, 4096)).astype(np.float32)
    >>> Preprocess().tensor(chip).shape
    torch.Size([1, 2048, 4096])
    >>> Preprocess(resize=(224, 448)).tensor(chip).shape
    torch.Size([1, 224, 448])
    """

    trim: str = "lcid"
    subtract_bias: bool = True
    scaling: str = "asinh"
    softening: float = 3.0
    resize: tuple | None = None

    def __post_init__(self):
        if self.trim not in ("lcid", "science"):
            raise CelestialClassError(f"trim must be 'lcid' or 'science', got {self.trim!r}")
        if self.scaling not in _SCALINGS:
            raise CelestialClassError(f"scaling must be one of {_SCALINGS}, got {self.scaling!r}")
        if self.resize is not None:
            object.__setattr__(self, "resize", tuple(int(n) for n in self.resize))

    @property
    def output_shape(self) -> tuple | None:
        """(rows, columns) of the output when fixed by ``resize`` or the trim, else None."""
        if self.resize is not None:
            return self.resize
        return (2048, 4096) if self.trim == "lcid" else None

    def read(self, path, hdu: int | None = None, chip: int | None = None):
        """Read one chip of a raw file as this preprocessing expects (a `~astropy.nddata.CCDData`)."""
        from .io import read_raw

        return read_raw(path, hdu=hdu, chip=chip, trim=self.trim, subtract_bias=self.subtract_bias)

    def image(self, data, source: str = "<array>") -> np.ndarray:
        """The preprocessed 2-D float32 image of a chip (CCDData or 2-D array)."""
        array = np.asarray(getattr(data, "data", data))
        if array.ndim != 2:
            raise ShapeError(f"{source}: expected a 2-D chip, got an array of shape {array.shape}")
        if array.size == 0:
            raise ShapeError(f"{source}: empty image")
        array = np.asarray(array, dtype=np.float32)
        if not np.isfinite(array.sum()):  # cheaper than a mask; NaN and inf (or overflow) make it non-finite
            finite = np.isfinite(array)
            if not finite.all():
                bad = int(array.size - finite.sum())
                raise CelestialClassError(f"{source}: {bad} NaN or infinite pixel(s); raw chips have none")
        owned = False  # whether ``array`` is ours to change in place (never the caller's data)
        if self.resize is not None:
            import cv2

            rows, cols = self.resize
            array, owned = cv2.resize(array, (cols, rows)), True
        if self.scaling == "asinh":
            sample = array[::8, ::8]
            sky = np.float32(np.median(sample))
            sigma = np.float32(1.4826 * np.median(np.abs(sample - sky)))
            if owned:
                array -= sky
            else:
                array, owned = np.subtract(array, sky), True
            array /= np.float32(self.softening) * max(sigma, np.float32(1.0))
            np.arcsinh(array, out=array)
        elif not owned:
            array = array.copy()
        return array

    def tensor(self, data, source: str = "<array>"):
        """The model input for one chip: a float32 tensor of shape (1, rows, columns)."""
        import torch

        return torch.from_numpy(self.image(data, source))[None]

    def to_dict(self) -> dict:
        """A JSON-safe description (stored with weights)."""
        out = asdict(self)
        out["resize"] = list(self.resize) if self.resize is not None else None
        return out

    @classmethod
    def from_dict(cls, values: dict) -> "Preprocess":
        """The inverse of `to_dict`; unknown keys are an error."""
        known = {"trim", "subtract_bias", "scaling", "softening", "resize"}
        unknown = set(values) - known
        if unknown:
            raise CelestialClassError(f"unknown preprocessing keys {sorted(unknown)}; known: {sorted(known)}")
        return cls(**values)

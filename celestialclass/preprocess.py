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


#: Rows per band of `_asinh_stretch`: 64 rows of a 4096-column float32 chip are 1 MiB.
_BAND_ROWS = 64


def _stretch_rows(source: np.ndarray, sky: np.float32, scale: np.float32, out: np.ndarray) -> None:
    """``out = arcsinh((source - sky) / scale)``, band by band so each band stays in cache."""
    for start in range(0, source.shape[0], _BAND_ROWS):
        band = out[start:start + _BAND_ROWS]
        np.subtract(source[start:start + _BAND_ROWS], sky, out=band)
        np.divide(band, scale, out=band)
        np.arcsinh(band, out=band)


def _asinh_stretch(source: np.ndarray, sky: np.float32, scale: np.float32, out: np.ndarray) -> None:
    """Write ``arcsinh((source - sky) / scale)`` into ``out`` (which may be ``source``).

    The same float32 operations as the three whole-array ufuncs, so the same
    bits on the same machine, but in cache-sized bands and with the rows
    shared among the available cores (numpy releases the GIL): numpy's
    float32 ``arcsinh`` is scalar on CPUs without AVX-512 and dominates
    the preprocessing of a full chip there.
    """
    from .utils.parallel import available_cores, run_parallel

    if source.ndim == 1:  # a table of values (see `Preprocess.read_image`): one row
        source, out = source.reshape(1, -1), out.reshape(1, -1)
    parts = max(1, min(available_cores(), 4, source.shape[0] // _BAND_ROWS))
    edges = np.linspace(0, source.shape[0], parts + 1).astype(int)
    run_parallel(_stretch_rows, [(source[a:b], sky, scale, out[a:b]) for a, b in zip(edges[:-1], edges[1:])])


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
            out = array if owned else np.empty_like(array)
            self._elementwise(array[::8, ::8])(array, out)
            array, owned = out, True
        elif not owned:
            array = array.copy()
        return array

    def read_image(self, path, hdu: int | None = None, chip: int | None = None) -> np.ndarray:
        """The preprocessed image of one chip of a raw file: ``image(read(path, hdu, chip))``.

        The same float32 values, faster: for stored 16-bit integers the
        asinh scaling is computed once per amplifier for each of the 65536
        possible values and the pixels are looked up, so no pixel is
        converted to float and scaled on its own.

        Examples
        --------
        >>> import os, tempfile
        >>> import numpy as np
        >>> from celestialclass.preprocess import Preprocess
        >>> from celestialclass.simulate import write_example_raw
        >>> path = write_example_raw(os.path.join(tempfile.mkdtemp(), "jexample1q_raw.fits"))
        >>> p = Preprocess()
        >>> image = p.read_image(path, hdu=4)
        >>> image.shape, bool(np.array_equal(image, p.image(p.read(path, hdu=4))))
        ((2048, 4096), True)
        """
        if hdu is None and chip is None:
            raise CelestialClassError(f"{path}: read_image reads one chip; give hdu= (1 or 4) or chip= (1 or 2)")
        if self.scaling != "asinh" or self.resize is not None:
            where = f"{path}[HDU {hdu}]" if hdu is not None else f"{path}[CCDCHIP {chip}]"
            return self.image(self.read(path, hdu=hdu, chip=chip), source=where)
        from .io.raw import _read_raw

        ccd = _read_raw(path, hdu, chip, self.trim, self.subtract_bias, preprocess=self)
        return ccd.data

    def _elementwise(self, sample: np.ndarray):
        """The asinh scaling as an elementwise ``f(values, out)``, sky and noise measured on ``sample``.

        ``sample`` holds (in any order) the chip's ``[::8, ::8]``.
        """
        sky = np.float32(np.median(sample))
        sigma = np.float32(1.4826 * np.median(np.abs(sample - sky)))
        scale = np.float32(self.softening) * max(sigma, np.float32(1.0))

        def stretch(values: np.ndarray, out: np.ndarray) -> None:
            _asinh_stretch(values, sky, scale, out)

        return stretch

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

"""Preprocessing: one raw chip (or a CCDData, or an array) -> the tensor a model takes.

The same `Preprocess` object serves training (`celestialclass.datasets.ChipDataset`)
and inference, and travels with the weights (``to_dict``/``from_dict``), so a
model always sees what it was trained on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

import contextlib
import re

from .exceptions import CelestialClassError, DataError, ProvenanceError, ShapeError
from .schema import LCID_SHAPE

__all__ = ["Preprocess"]

_SCALINGS = ("asinh", "none")
#: The read settings `celestialclass.io.read_raw` records in ``CCREAD`` ("trim=lcid, subtract_bias=False").
_SETTING = re.compile(r"(\w+)=(\w+)")


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
        return LCID_SHAPE if self.trim == "lcid" else None

    def read(self, path, hdu: int | None = None, chip: int | None = None):
        """Read one chip of a raw file as this preprocessing expects (a `~astropy.nddata.CCDData`).

        ``path`` may also be an open `~astropy.io.fits.HDUList` or
        `celestialclass.io.RawFile`.
        """
        with _raw_file(path) as raw:
            return raw.read(hdu, chip, trim=self.trim, subtract_bias=self.subtract_bias)

    def conform(self, ccd, source: str | None = None) -> np.ndarray:
        """The data of a `~astropy.nddata.CCDData` as `read` would have read them, from its provenance.

        A chip from `celestialclass.io.read_raw` (or ``CCDData.read(...,
        format='hst_raw')``) records how it was read (``CCREAD``) and each
        amplifier's measured bias level (``BIASLEVA``..``BIASLEVD``). Read
        without bias subtraction, where this preprocessing subtracts it, the
        recorded levels (``CCBIAS = 'measured'``) are subtracted amplifier by
        amplifier: the same
        float32 values as reading it with ``subtract_bias=True``. A CCDData
        without ``CCREAD`` is taken as it is, like an array: already read the
        way this preprocessing expects.

        Raises
        ------
        celestialclass.exceptions.ProvenanceError
            The chip was read with another trim, has its bias subtracted where
            this preprocessing keeps it, lacks the levels to subtract, or is
            not in ADU.
        """
        meta = ccd.meta
        where = source or str(meta.get("FILENAME") or "<CCDData>")
        read = meta.get("CCREAD")
        if not read:
            return ccd.data
        settings = dict(_SETTING.findall(str(read)))
        hint = f"read it with read_raw(path, hdu=..., trim={self.trim!r})"
        if settings.get("trim") != self.trim:
            raise ProvenanceError(f"{where}: read with trim={settings.get('trim')!r}; these weights expect "
                                  f"trim={self.trim!r}: {hint}")
        if ccd.unit is not None and str(ccd.unit).lower() != "adu":
            raise ProvenanceError(f"{where}: data are in {ccd.unit}; these weights take ADU as read_raw gives them")
        subtracted = settings.get("subtract_bias") == "True"
        if subtracted == self.subtract_bias:
            return ccd.data
        if subtracted:
            raise ProvenanceError(f"{where}: the bias is subtracted; these weights expect it left in: read it "
                                  f"with read_raw(path, hdu=...) (subtract_bias=False)")
        from .io import get_layout

        try:
            if meta.get("CCBIAS") != "measured":  # levels this read measured, not a raw file's own cards
                raise KeyError("CCBIAS")
            layout = get_layout(f"{str(meta['INSTRUME']).strip()}/{str(meta['DETECTOR']).strip()}")
            chip = layout.chip(int(meta["CCDCHIP"]))
            levels = [np.float32(meta[f"BIASLEV{amp.name}"]) for amp in chip.amplifiers]
        except (KeyError, ValueError, TypeError, CelestialClassError):
            raise ProvenanceError(f"{where}: read without bias subtraction and without the amplifiers' levels "
                                  f"(BIASLEVA..D) to subtract; read it with read_raw(path, hdu=..., "
                                  f"subtract_bias=True)") from None
        data = np.asarray(ccd.data, dtype=np.float32)
        out = np.empty_like(data)
        col = 0
        for amp, level in zip(chip.amplifiers, levels):
            width = amp.science_cols[1] - amp.science_cols[0]
            np.subtract(data[:, col:col + width], level, out=out[:, col:col + width])
            col += width
        if col != data.shape[1]:
            raise ProvenanceError(f"{where}: {data.shape[1]} columns, where a trimmed {layout.name} chip has {col}")
        return out

    def image(self, data, source: str = "<array>") -> np.ndarray:
        """The preprocessed 2-D float32 image of a chip (CCDData, see `conform`, or a 2-D array).

        An array is taken as already read the way this preprocessing
        expects (`read`).
        """
        from astropy.nddata import CCDData

        if isinstance(data, CCDData):
            data = self.conform(data, source if source != "<array>" else None)
        array = np.asarray(getattr(data, "data", data))
        if array.ndim != 2:
            raise ShapeError(f"{source}: expected a 2-D chip, got an array of shape {array.shape}")
        if array.size == 0:
            raise ShapeError(f"{source}: empty image")
        if array.dtype.kind not in "biuf":
            kind = "complex" if array.dtype.kind == "c" else f"non-numeric ({array.dtype})"
            raise DataError(f"{source}: {kind} pixel values; a chip holds real numbers")
        return self._finish(np.asarray(array, dtype=np.float32), source, owned=False)

    def _finish(self, array: np.ndarray, source: str, owned: bool) -> np.ndarray:
        """`image` of a float32 chip, written over ``array`` when it is ``owned`` (ours, never the caller's)."""
        if not np.isfinite(array.sum()):  # cheaper than a mask; NaN and inf (or overflow) make it non-finite
            finite = np.isfinite(array)
            if not finite.all():
                bad = int(array.size - finite.sum())
                raise DataError(f"{source}: {bad} NaN or infinite pixel(s); raw chips have none")
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
        with _raw_file(path) as raw:
            return self.pixels_image(self.chip_pixels(raw, hdu, chip))

    def chip_pixels(self, raw, hdu: int | None = None, chip: int | None = None):
        """One chip of an open `~celestialclass.io.RawFile`, read with these settings' trim and bias."""
        return raw.chip_pixels(hdu, chip, trim=self.trim, subtract_bias=self.subtract_bias)

    def pixels_image(self, pixels, out: np.ndarray | None = None) -> np.ndarray:
        """The preprocessed image of `~celestialclass.io.ChipPixels` (`read_image` after the read).

        ``out``, a float32 array of the chip's shape, is written over and
        returned when there is no ``resize`` (a caller reading many chips
        reuses one, see `celestialclass.utils.buffers.ArrayPool`); with a
        resize it holds the chip before the resize.
        """
        if out is None:
            out = np.empty(pixels.shape, np.float32)
        elif out.shape != tuple(pixels.shape) or out.dtype != np.float32:
            raise ShapeError(f"{pixels.source}: out must be a float32 array of shape {tuple(pixels.shape)}, "
                             f"got {out.dtype} {out.shape}")
        if self.scaling != "asinh" or self.resize is not None:
            pixels.scale_into(out)
            return self._finish(out, pixels.source, owned=True)
        return self._look_up(pixels, out)

    def _look_up(self, pixels, out: np.ndarray) -> np.ndarray:
        """The asinh-scaled chip of `celestialclass.io.ChipPixels`, by table look-up where the data allow.

        The scaling is elementwise once its statistics are known, and those
        come from every 8th row and column of the chip. Stored 16-bit
        integers take at most 65536 values per amplifier, so the scaling is
        applied to those values and the pixels are looked up in the table:
        the same float32 result as `image` of the scaled chip, in a fraction
        of the time. Other data are scaled, then preprocessed whole.
        """
        from .io import AmplifierPixels
        from .utils.parallel import run_parallel

        if not all(amp.is_uint16 for amp in pixels.amplifiers):
            pixels.scale_into(out)
            return self._finish(out, pixels.source, owned=True)
        samples = []
        for amp in pixels.amplifiers:
            skip = -amp.columns.start % 8  # the chip's columns 0, 8, 16, ... that fall in this amplifier
            samples.append(amp.scaled((slice(None, None, 8), slice(skip, None, 8))).ravel())
        function = self._elementwise(np.concatenate(samples))
        look_ups = []
        for amp in pixels.amplifiers:
            table = amp.dn_table()
            function(table, table)
            look_ups.append((amp, table, out[:, amp.columns]))
        run_parallel(AmplifierPixels.look_up_into, look_ups)
        return out

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


def _raw_file(source):
    """A context giving an open `celestialclass.io.RawFile` of ``source`` (left open if it already was one)."""
    from .io import RawFile

    return contextlib.nullcontext(source) if isinstance(source, RawFile) else RawFile(source)

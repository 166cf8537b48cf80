"""Read raw HST ``*_raw.fits`` chips into trimmed `~astropy.nddata.CCDData`."""

from __future__ import annotations

import contextlib
import os
import stat
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Union

import numpy as np
from astropy.io import fits
from astropy.nddata import CCDData
from astropy.utils.exceptions import AstropyUserWarning, AstropyWarning

from ..exceptions import (
    CorruptFileError,
    CelestialClassError,
    HDUError,
    InputError,
    MissingFileError,
    NotAFileError,
    NotRawError,
    RawFileError,
    ShapeError,
    UnsupportedInstrumentError,
    UnsupportedReadoutError,
)
from ..utils.parallel import run_parallel
from .instruments import LAYOUTS, ChipLayout, DetectorLayout, find_layout

__all__ = ["read_raw", "identify_layout", "check_selection", "RawFile", "ChipPixels", "AmplifierPixels",
           "TRIM_MODES", "MAX_FILE_WARNINGS"]

#: Accepted values of ``read_raw``'s ``trim`` argument.
TRIM_MODES = ("lcid", "science")

RawSource = Union[str, "os.PathLike[str]", fits.HDUList]

# Suffixes of calibrated HST products that are sometimes mistaken for raw files.
_CALIBRATED_SUFFIXES = ("_flt", "_flc", "_crj", "_crc", "_drz", "_drc", "_sfl", "_blv_tmp", "_blc_tmp")
# Clipping used for the robust overscan level.
_CLIP_SIGMA = 3.0
_CLIP_ITERS = 5
# Rows converted at a time by _scale_into (about 256 kB of uint16: stays in cache).
_BAND_ROWS = 64


def _supported_text() -> str:
    return ", ".join(
        f"{layout.name} (INSTRUME={layout.instrument!r}, DETECTOR={layout.detector!r})"
        for layout in LAYOUTS.values()
    )


_READ_ERRORS = (EOFError, OSError, ValueError, IndexError, KeyError, TypeError, AttributeError,
                AstropyUserWarning)
#: astropy warnings tolerated while one file is read before it counts as malformed: a damaged header
#: (a wrong NAXIS, say) can otherwise make astropy parse megabytes of pixels as header cards, one
#: warning per card, for most of an hour.
MAX_FILE_WARNINGS = 10
#: Leading bytes of the compressions astropy reads transparently.
_COMPRESSION_MAGIC = {b"\x1f\x8b": "gzip", b"BZh": "bzip2", b"PK\x03\x04": "zip"}


@contextlib.contextmanager
def _reading(name: str, hdu: int | None = None) -> Iterator[None]:
    """Turn what astropy and numpy raise on a damaged file into a `CorruptFileError` naming it.

    astropy's warnings are counted: one that says the file is truncated, or
    more than `MAX_FILE_WARNINGS` of any kind, is an error at once.
    """
    seen = []

    def show(message, category, filename, lineno, file=None, line=None):
        text = " ".join(str(message).split())
        if "truncated" in text:
            raise CorruptFileError(f"file is truncated ({text})", path=name, hdu=hdu)
        seen.append(text)
        if len(seen) > MAX_FILE_WARNINGS:
            raise CorruptFileError(f"malformed headers: more than {MAX_FILE_WARNINGS} warnings from astropy, "
                                   f"the first: {seen[0][:200]}", path=name, hdu=hdu)

    with warnings.catch_warnings():
        warnings.simplefilter("always", AstropyWarning)
        warnings.showwarning = show  # restored by catch_warnings
        try:
            yield
        except CelestialClassError:
            raise
        except _READ_ERRORS as exc:
            raise CorruptFileError(f"cannot read the file's data or headers ({type(exc).__name__}: {exc})",
                                   path=name, hdu=hdu) from None


def _check_regular_file(path: str) -> None:
    """Refuse, each with its own reason, what is not a regular file."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        if os.path.islink(path):
            raise MissingFileError("a symbolic link to nothing", path=path) from None
        raise MissingFileError("no such file", path=path) from None
    except OSError as exc:  # ELOOP, EACCES, ENAMETOOLONG, ...
        raise NotAFileError(f"cannot reach the file ({exc.strerror or exc})", path=path) from None
    if stat.S_ISDIR(mode):
        raise NotAFileError("a directory, not a raw file (give the files in it)", path=path)
    if not stat.S_ISREG(mode):
        kind = ("a character device" if stat.S_ISCHR(mode) else "a named pipe" if stat.S_ISFIFO(mode)
                else "a block device" if stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode)
                else "not a regular file")
        raise NotAFileError(f"{kind}, not a raw file", path=path)
    if not os.access(path, os.R_OK):
        raise NotAFileError("not readable (permission denied)", path=path)


def _compression(path: str) -> str | None:
    """The compression of a file from its leading bytes (``'gzip'``, ...), whatever its name says."""
    with open(path, "rb") as handle:
        head = handle.read(4)
    return next((kind for magic, kind in _COMPRESSION_MAGIC.items() if head.startswith(magic)), None)


def _open_hdul(source: RawSource) -> tuple[fits.HDUList, str, bool]:
    """The HDU list of ``source``, its display name, and whether this call opened it.

    Pixel data are read, not memory-mapped: a file truncated while it is
    being read then gives an error, not a SIGBUS that kills the process.
    """
    if isinstance(source, fits.HDUList):
        return source, source.filename() or "<HDUList>", False
    try:
        path = os.fsdecode(os.fspath(source))
    except TypeError:
        raise InputError(
            f"expected a file path or an astropy.io.fits.HDUList, got {type(source).__name__}"
        ) from None
    if "\x00" in path:
        raise MissingFileError("a path with a NUL character cannot name a file", path=path.replace("\x00", "\\0"))
    _check_regular_file(path)
    with _reading(path):
        try:
            hdul = fits.open(path, do_not_scale_image_data=True, memmap=False)
        except CelestialClassError:
            raise
        except Exception as exc:  # astropy raises OSError, ValueError, ... for non-FITS
            raise CorruptFileError(f"not a readable FITS file ({exc})", path=path) from None
    return hdul, path, True


def _calibrated_suffix(*names: str) -> str | None:
    """The calibrated-product suffix (``'_flt'``, ...) any of ``names`` ends with, if any."""
    for candidate in names:
        stem = os.path.basename(candidate.strip()).lower().split(".fits")[0]
        for suffix in _CALIBRATED_SUFFIXES:
            if stem.endswith(suffix):
                return suffix
    return None


def identify_layout(primary: fits.Header, name: str = "<header>") -> DetectorLayout:
    """The `DetectorLayout` of a raw file from its primary header, checking it is supported.

    Parameters
    ----------
    primary : `~astropy.io.fits.Header`
        The primary header of a raw file.
    name : str, optional
        File name used in error messages.

    Returns
    -------
    layout : `~celestialclass.io.instruments.DetectorLayout`

    Raises
    ------
    celestialclass.exceptions.UnsupportedInstrumentError
        Instrument or detector without a layout (e.g. WFC3/IR, ACS/HRC, WFPC2).
    celestialclass.exceptions.UnsupportedReadoutError
        Subarray, binned or fewer-than-four-amplifier readouts.
    celestialclass.exceptions.NotRawError
        Calibrated products (``_flt``, ``_flc``, ...).
    """
    instrument = str(primary.get("INSTRUME", "")).strip()
    detector = str(primary.get("DETECTOR", "")).strip()
    layout = find_layout(instrument, detector)
    if layout is None:
        found = f"INSTRUME={instrument!r}, DETECTOR={detector!r}" if instrument else "no INSTRUME keyword"
        raise UnsupportedInstrumentError(
            f"unsupported instrument/detector ({found}); supported: {_supported_text()}",
            path=name, hdu=0,
        )

    suffix = _calibrated_suffix(str(primary.get("FILENAME", "")), name)
    if suffix is not None or str(primary.get("BLEVCORR", "")).strip().upper() == "COMPLETE":
        what = (f"a calibrated '{suffix}' product" if suffix
                else "already bias-corrected (BLEVCORR='COMPLETE')")
        raise NotRawError(
            f"{what}, not a raw exposure; give the matching *_raw.fits file", path=name, hdu=0
        )

    subarray = primary.get("SUBARRAY", False)
    if subarray is True or str(subarray).strip().upper() in ("T", "TRUE"):
        raise UnsupportedReadoutError(
            f"subarray readout (APERTURE={primary.get('APERTURE', '?')!r}); only full-frame "
            f"{layout.name} readouts are supported", path=name, hdu=0,
        )
    binning = (primary.get("BINAXIS1", 1), primary.get("BINAXIS2", 1))
    if binning != (1, 1):
        raise UnsupportedReadoutError(
            f"binned readout (BINAXIS1={binning[0]}, BINAXIS2={binning[1]}); only unbinned "
            f"(1x1) {layout.name} readouts are supported", path=name, hdu=0,
        )
    if "CCDAMP" not in primary:
        raise UnsupportedReadoutError(
            "no CCDAMP keyword: the amplifiers read cannot be told; only four-amplifier readouts "
            "(CCDAMP='ABCD') are supported", path=name, hdu=0)
    amps = str(primary["CCDAMP"]).strip().upper()
    if amps != "ABCD":
        raise UnsupportedReadoutError(
            f"readout through amplifier(s) {amps!r} (CCDAMP); only four-amplifier readouts "
            f"(CCDAMP='ABCD') are supported", path=name, hdu=0,
        )
    return layout


_STRUCTURE_KEYS = ("BITPIX", "NAXIS", "PCOUNT", "GCOUNT")


def _sci_hdus(hdul: fits.HDUList, name: str = "<file>") -> list[int]:
    """Indices of the SCI extensions; a header whose structure astropy cannot follow is named."""
    indices, index = [], 0
    try:
        for index, hdu in enumerate(hdul):
            if index > 0 and hdu.name == "SCI":
                indices.append(index)
    except _READ_ERRORS as exc:
        broken = _broken_structure(name)
        if broken is not None:
            where, key, value = broken
            raise CorruptFileError(f"{key}={value!r} is not an integer", path=name, hdu=where) from None
        raise CorruptFileError(f"cannot read the header after this HDU ({type(exc).__name__}: {exc})",
                               path=name, hdu=index) from None
    return indices


def _broken_structure(path: str):
    """(HDU, keyword, value) of the first non-integer structural keyword of a plain FITS file, or None.

    astropy needs an HDU's BITPIX, NAXISn, PCOUNT and GCOUNT to find the
    next one; when one is not an integer it fails with an arithmetic error.
    This walks the headers as text to say which.
    """
    try:
        if _compression(path) is not None:
            return None
        with open(path, "rb") as handle:
            for index in range(1000):
                header = fits.Header.fromfile(handle, endcard=True, padding=True)
                keys = [*_STRUCTURE_KEYS, *(f"NAXIS{n}" for n in range(1, int(header.get("NAXIS", 0)) + 1))]
                for key in keys:
                    if key in header and not _is_integer(header[key]):
                        return index, key, header[key]
                naxis = [header[f"NAXIS{n}"] for n in range(1, header["NAXIS"] + 1)]
                pixels = int(np.prod(naxis)) if naxis else 0
                size = abs(header["BITPIX"]) * header.get("GCOUNT", 1) * (header.get("PCOUNT", 0) + pixels) // 8
                handle.seek(-(-size // 2880) * 2880, os.SEEK_CUR)
    except Exception:  # best effort: the caller raises either way
        return None
    return None


def _is_integer(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _chip_layout(hdu: fits.ImageHDU, index: int, layout: DetectorLayout, name: str) -> ChipLayout:
    """The chip a SCI extension holds, its ``CCDCHIP`` checked against its ``EXTVER``.

    The trim depends on which chip it is: a CCDCHIP that is not an integer,
    names no chip of the layout, or disagrees with the extension's EXTVER
    (swapped or duplicated chip keywords) is refused before any cut.
    """
    ccdchip = hdu.header.get("CCDCHIP")
    known = ", ".join(f"{c.ccdchip} ({c.name}, EXTVER={c.extver})" for c in layout.chips)
    chip = layout.chip(int(ccdchip)) if _is_integer(ccdchip) and int(ccdchip) in layout.ccdchips else None
    if chip is None:
        raise RawFileError(f"SCI header has CCDCHIP={ccdchip!r}; {layout.name} chips are {known}",
                           path=name, hdu=index)
    extver = hdu.header.get("EXTVER", hdu.ver)
    if not _is_integer(extver) or int(extver) != chip.extver:
        raise RawFileError(f"SCI extension EXTVER={extver!r} holds CCDCHIP={ccdchip}, which {layout.name} "
                           f"raw files keep in EXTVER={chip.extver} ({known}): chip keywords swapped or "
                           f"duplicated", path=name, hdu=index)
    return chip


def _describe_sci(hdul: fits.HDUList, layout: DetectorLayout) -> str:
    parts = []
    for i in _sci_hdus(hdul, "<file>"):
        ccdchip = hdul[i].header.get("CCDCHIP", "?")
        parts.append(f"HDU {i} (SCI,{hdul[i].ver}, CCDCHIP={ccdchip})")
    return ", ".join(parts) if parts else "none"


def _select(hdul: fits.HDUList, layout: DetectorLayout, name: str,
            hdu: int | None, chip: int | None) -> list[tuple[int, ChipLayout]]:
    """Pick the (HDU index, chip layout) pairs to read."""
    check_selection(hdu, chip, name)
    indices = _sci_hdus(hdul, name)  # reads every header, naming one whose structure is broken
    expected = hdul[0].header.get("NEXTEND")
    if _is_integer(expected) and len(hdul) - 1 < expected:
        raise CorruptFileError(
            f"file is truncated or incomplete: NEXTEND={expected} but only {len(hdul) - 1} extension(s) "
            f"can be read", path=name)
    if hdu is not None:
        index = int(hdu)
        try:
            selected = hdul[index] if index >= 0 else None
        except IndexError:
            selected = None
        if selected is None:
            raise HDUError(
                f"no HDU {index}: the file has HDUs 0..{len(hdul) - 1}; SCI chips: "
                f"{_describe_sci(hdul, layout)}", path=name, hdu=index,
            )
        if index == 0 or selected.name != "SCI":
            kind = "the primary HDU" if index == 0 else f"extension ({selected.name!r}, {selected.ver})"
            raise HDUError(
                f"{kind} is not a SCI extension; SCI chips: {_describe_sci(hdul, layout)}",
                path=name, hdu=index,
            )
        chip_layout = _chip_layout(selected, index, layout, name)
        if chip is not None and chip_layout.ccdchip != chip:
            raise HDUError(
                f"hdu={index} holds CCDCHIP={chip_layout.ccdchip}, not chip={chip}; give one of them",
                path=name, hdu=index,
            )
        return [(index, chip_layout)]

    if not indices:
        raise HDUError("no SCI extension in the file; a raw file has one per chip", path=name)
    pairs = [(i, _chip_layout(hdul[i], i, layout, name)) for i in indices]
    if chip is None:
        return pairs
    matches = [pair for pair in pairs if pair[1].ccdchip == chip]
    if not matches:
        raise HDUError(
            f"no SCI extension with CCDCHIP={chip!r}; SCI chips: {_describe_sci(hdul, layout)}",
            path=name,
        )
    return matches[:1]


def _check_sci(hdul: fits.HDUList, index: int, layout: DetectorLayout, name: str) -> None:
    header = hdul[index].header
    bitpix = header.get("BITPIX")
    if bitpix != 16:
        raise NotRawError(
            f"SCI data have BITPIX={bitpix}; raw SCI data are 16-bit integers (BITPIX=16), "
            f"so this looks like a processed product", path=name, hdu=index,
        )
    for key in ("NAXIS", "NAXIS1", "NAXIS2"):
        if key in header and not _is_integer(header[key]):
            raise CorruptFileError(f"{key}={header[key]!r} is not an integer", path=name, hdu=index)
    shape = (header.get("NAXIS2", 0), header.get("NAXIS1", 0)) if header.get("NAXIS") == 2 else None
    if shape != layout.raw_shape:
        got = "no 2-D data" if shape is None else f"{shape[1]}x{shape[0]} (NAXIS1xNAXIS2)"
        raise ShapeError(
            f"SCI array is {got}; a full-frame {layout.name} raw chip is "
            f"{layout.raw_shape[1]}x{layout.raw_shape[0]}", path=name, hdu=index,
        )
    filename = hdul.filename()
    # Only a plain file's size says whether the data are all there: compression is told from the
    # bytes (astropy does the same), and tile-compressed (fpack) data have sizes of their own.
    plain = not isinstance(hdul[index], fits.CompImageHDU)
    if filename and plain and os.path.isfile(filename) and _compression(filename) is None:
        need = hdul[index].fileinfo()["datLoc"] + shape[0] * shape[1] * 2
        have = os.path.getsize(filename)
        if have < need:
            raise CorruptFileError(
                f"file is truncated: the SCI data need {need} bytes but the file has {have}",
                path=name, hdu=index,
            )


def _robust_level(stored: np.ndarray) -> float:
    """Sigma-clipped mean of integer overscan values.

    The statistic of ``astropy.stats.sigma_clipped_stats(values, sigma=3,
    maxiters=5)[0]`` (clipping about the median by the standard deviation),
    computed on the histogram of the integer values so that bias
    subtraction stays cheap.
    """
    values = np.asarray(stored).astype(np.int64).ravel()
    low = int(values.min())
    counts = np.bincount(values - low)
    levels = np.arange(low, low + counts.size, dtype=np.float64)
    first, last = 0, counts.size  # kept values: levels[first:last]
    for _ in range(_CLIP_ITERS):
        c, x = counts[first:last], levels[first:last]
        n = int(c.sum())
        cumulative = np.cumsum(c)
        upper = x[np.searchsorted(cumulative, n // 2, side="right")]
        lower = upper if n % 2 else x[np.searchsorted(cumulative, n // 2 - 1, side="right")]
        centre = 0.5 * (lower + upper)
        mean = float((c * x).sum()) / n
        limit = _CLIP_SIGMA * np.sqrt(float((c * (x - mean) ** 2).sum()) / n)
        inside = np.flatnonzero((np.abs(x - centre) <= limit) & (c > 0))
        new_first, new_last = first + int(inside[0]), first + int(inside[-1]) + 1
        if int(counts[new_first:new_last].sum()) == n:
            break
        first, last = new_first, new_last
    c, x = counts[first:last], levels[first:last]
    return float((c * x).sum()) / float(c.sum())


def _stores_uint16(stored: np.ndarray, bscale: float, bzero: float) -> bool:
    """Whether ``stored`` holds unsigned 16-bit DN the FITS way (signed, ``BZERO=32768``)."""
    return bscale == 1.0 and bzero == 32768.0 and stored.dtype.kind == "i" and stored.dtype.itemsize == 2


def _uint16_bands(stored: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """(first row, native uint16 DN) of cache-sized bands of rows of FITS-stored unsigned 16-bit data.

    ``stored + 32768`` is the stored bits read as unsigned with the top bit
    flipped: no arithmetic in 16 bits that could wrap.
    """
    unsigned = stored.view(stored.dtype.str.replace("i", "u"))
    for start in range(0, stored.shape[0], _BAND_ROWS):
        band = unsigned[start:start + _BAND_ROWS].astype(np.uint16)
        band ^= np.uint16(0x8000)
        yield start, band


@dataclass(frozen=True)
class AmplifierPixels:
    """One amplifier's science pixels on a chip, as the file stores them, and how to make DN of them.

    The hook through which `celestialclass.preprocess.Preprocess` reads raw
    files fast (`RawFile.chip_pixels`); `read_raw` uses it too.

    Attributes
    ----------
    name : str
        Amplifier letter.
    stored : `~numpy.ndarray`
        The stored values of the amplifier's science pixels (a view on the
        file's data: trimmed rows, the amplifier's science columns).
    bscale, bzero : float
        FITS scaling of ``stored`` (1 and 0 when astropy already applied it).
    level : float
        The amplifier's bias level measured on its overscan (DN).
    subtract : float
        What the read subtracts: ``level`` with ``subtract_bias``, else 0.
    columns : slice
        The amplifier's columns in the trimmed chip.
    """

    name: str
    stored: np.ndarray
    bscale: float
    bzero: float
    level: float
    subtract: float
    columns: slice

    @property
    def is_uint16(self) -> bool:
        """Whether the pixels are unsigned 16-bit DN, so `dn_table` and `look_up_into` apply."""
        return _stores_uint16(self.stored, self.bscale, self.bzero)

    def scale_into(self, out: np.ndarray, index=(slice(None), slice(None))) -> None:
        """Write ``stored[index] * bscale + bzero - subtract`` into float32 ``out``, never in 16-bit arithmetic.

        Stored unsigned 16-bit DN are converted in cache-sized bands of rows
        with a single float32 subtraction.
        """
        stored = self.stored[index]
        if self.is_uint16:
            level = np.float32(self.subtract)
            for start, band in _uint16_bands(stored):
                np.subtract(band, level, out=out[start:start + _BAND_ROWS], dtype=np.float32)
        else:
            np.multiply(stored, np.float32(self.bscale), out=out, dtype=np.float32)
            out += np.float32(self.bzero - self.subtract)

    def scaled(self, index=(slice(None), slice(None))) -> np.ndarray:
        """``stored[index]`` scaled as `scale_into` does, in a new float32 array."""
        out = np.empty(self.stored[index].shape, np.float32)
        self.scale_into(out, index)
        return out

    def dn_table(self) -> np.ndarray:
        """What `scale_into` makes of each of the 65536 unsigned 16-bit DN values (float32)."""
        return np.subtract(np.arange(65536, dtype=np.uint16), np.float32(self.subtract), dtype=np.float32)

    def look_up_into(self, table: np.ndarray, out: np.ndarray) -> None:
        """Write ``table[DN]`` of every pixel into ``out`` (for `is_uint16` pixels)."""
        for start, band in _uint16_bands(self.stored):
            np.take(table, band, out=out[start:start + _BAND_ROWS], mode="clip")  # every uint16 is in range


@dataclass(frozen=True)
class ChipPixels:
    """What `RawFile.chip_pixels` gives: one chip's amplifiers, before any pixel is converted.

    Attributes
    ----------
    hdu : int
        The chip's SCI HDU index.
    chip : `~celestialclass.io.instruments.ChipLayout`
    shape : tuple of int
        (rows, columns) of the trimmed chip.
    amplifiers : tuple of AmplifierPixels
        Left to right.
    source : str
        ``file[HDU n]``, for messages.
    """

    hdu: int
    chip: ChipLayout
    shape: tuple
    amplifiers: tuple
    source: str

    def scale_into(self, out: np.ndarray) -> None:
        """The trimmed chip in DN (less the subtracted bias) into float32 ``out``, amplifiers on two cores."""
        run_parallel(AmplifierPixels.scale_into, [(amp, out[:, amp.columns]) for amp in self.amplifiers])


def _merged_header(hdul: fits.HDUList, index: int) -> fits.Header:
    """Primary and SCI headers in one, SCI values winning, structural cards removed."""
    header = hdul[0].header.copy(strip=True)
    for key in ("NEXTEND",):
        header.remove(key, ignore_missing=True)
    header.extend(hdul[index].header.copy(strip=True), update=True)
    return header


def _fits_section(rows: tuple[int, int], cols: tuple[int, int]) -> str:
    return f"[{cols[0] + 1}:{cols[1]},{rows[0] + 1}:{rows[1]}]"


def check_selection(hdu=None, chip=None, name: str | None = None) -> None:
    """Refuse an ``hdu`` or ``chip`` argument that is not an integer (``True``, ``4.0`` and ``"4"`` are not).

    Raises
    ------
    celestialclass.exceptions.HDUError

    Examples
    --------
    >>> from celestialclass.io.raw import check_selection
    >>> check_selection(hdu=4)
    >>> check_selection(hdu=4.0)
    Traceback (most recent call last):
    ...
    celestialclass.exceptions.HDUError: hdu must be an integer HDU index (1 or 4), got 4.0
    """
    if hdu is not None and not _is_integer(hdu):
        raise HDUError(f"hdu must be an integer HDU index (1 or 4), got {hdu!r}", path=name)
    if chip is not None and not _is_integer(chip):
        raise HDUError(f"chip must be an integer CCDCHIP value (1 or 2), got {chip!r}", path=name)


def _check_read_settings(trim: str, chip) -> None:
    if trim not in TRIM_MODES:
        raise InputError(f"trim must be one of {TRIM_MODES}, got {trim!r}")
    check_selection(chip=chip)


class RawFile:
    """A raw ACS/WFC or WFC3/UVIS exposure, opened once: its layout, its chips, and readers of them.

    Parameters
    ----------
    source : str, path-like or `~astropy.io.fits.HDUList`
        A ``*_raw.fits`` file (gzip-compressed files work too), or the open
        file (then left open by `close`).

    Raises
    ------
    celestialclass.exceptions.MissingFileError, celestialclass.exceptions.CorruptFileError
        When the file is missing or not FITS. What else is wrong (instrument,
        readout, chips) is raised by the methods that need it.

    Examples
    --------
    >>> import tempfile
    >>> from celestialclass.io import RawFile
    >>> from celestialclass.simulate import write_example_raw
    >>> with RawFile(write_example_raw(tempfile.mkdtemp() + "/jexample1q_raw.fits")) as raw:
    ...     print(raw.layout.name, [chip["hdu"] for chip in raw.chips()])
    ...     ccd = raw.read(hdu=4)
    ACS/WFC [1, 4]
    >>> ccd.shape, ccd.meta["CCREAD"]
    ((2048, 4096), 'read_raw hdu=4, chip=1, trim=lcid, subtract_bias=False')
    """

    def __init__(self, source: RawSource):
        self._hdul, self.name, self._owned = _open_hdul(source)
        self._layout = None

    def close(self) -> None:
        """Close the file if this object opened it."""
        if self._owned:
            self._hdul.close()

    def __enter__(self) -> "RawFile":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RawFile({self.name!r})"

    @property
    def primary(self) -> fits.Header:
        """The primary header."""
        with _reading(self.name, 0):
            return self._hdul[0].header

    @property
    def layout(self) -> DetectorLayout:
        """The detector layout, checked to be supported (see `identify_layout`)."""
        if self._layout is None:
            self._layout = identify_layout(self.primary, self.name)
        return self._layout

    def select(self, hdu: int | None = None, chip: int | None = None) -> list[tuple[int, ChipLayout]]:
        """(SCI HDU index, chip layout) of the chips ``hdu`` or ``chip`` pick, or of all, checked."""
        with _reading(self.name):
            return _select(self._hdul, self.layout, self.name, hdu, chip)

    def chips(self) -> list[dict]:
        """One dict per SCI chip, checked readable: ``hdu``, ``ccdchip``, ``name``, ``amplifiers``,
        ``raw_shape``, ``science_shape`` and ``lcid_shape`` (rows, columns)."""
        out = []
        for index, chip in self.select():
            with _reading(self.name, index):
                header = self._hdul[index].header
                out.append({"hdu": index, "ccdchip": chip.ccdchip, "name": chip.name,
                            "amplifiers": chip.amplifier_names,
                            "raw_shape": (header.get("NAXIS2"), header.get("NAXIS1")),
                            "science_shape": chip.trimmed_shape("science"),
                            "lcid_shape": chip.trimmed_shape("lcid")})
                _check_sci(self._hdul, index, self.layout, self.name)
        return out

    def chip_pixels(self, hdu: int | None = None, chip: int | None = None, *, trim: str = "lcid",
                    subtract_bias: bool = False) -> ChipPixels:
        """One chip's amplifiers as stored, with their bias levels measured: the fast readers' hook.

        Parameters are those of `read_raw`; one of ``hdu`` and ``chip`` is
        required. Nothing is converted: `ChipPixels.scale_into` and
        `AmplifierPixels.look_up_into` do that.
        """
        _check_read_settings(trim, chip)
        if hdu is None and chip is None:
            raise HDUError("give hdu= (1 or 4) or chip= (1 or 2) to read one chip", path=self.name)
        (index, chip_layout), = self.select(hdu, chip)[:1]
        return self._chip_pixels(index, chip_layout, trim, subtract_bias)

    def _chip_pixels(self, index: int, chip: ChipLayout, trim: str, subtract_bias: bool) -> ChipPixels:
        with _reading(self.name, index):
            _check_sci(self._hdul, index, self.layout, self.name)
            sci = self._hdul[index]
            raw = sci.data
            if raw is None or raw.shape != self.layout.raw_shape:
                raise CorruptFileError("SCI data cannot be read", path=self.name, hdu=index)
            if raw.dtype.kind == "i":
                # Stored integers (files are opened with do_not_scale_image_data): scaled later.
                bscale = float(sci.header.get("BSCALE", 1.0))
                bzero = float(sci.header.get("BZERO", 0.0))
            else:
                # An HDUList the caller opened: astropy already applied BZERO/BSCALE.
                bscale, bzero = 1.0, 0.0
            first, last = chip.rows(trim)
            s0, s1 = chip.science_rows
            amplifiers, col = [], 0
            for amp in chip.amplifiers:
                c0, c1 = amp.science_cols
                o0, o1 = amp.overscan_cols
                level = _robust_level(raw[s0:s1, o0:o1]) * bscale + bzero
                amplifiers.append(AmplifierPixels(amp.name, raw[first:last, c0:c1], bscale, bzero, level,
                                                  level if subtract_bias else 0.0, slice(col, col + c1 - c0)))
                col += c1 - c0
        return ChipPixels(index, chip, chip.trimmed_shape(trim), tuple(amplifiers), f"{self.name}[HDU {index}]")

    def read(self, hdu: int | None = None, chip: int | None = None, *, trim: str = "lcid",
             subtract_bias: bool = False) -> CCDData | list[CCDData]:
        """Chips as trimmed `~astropy.nddata.CCDData`: `read_raw` on this open file."""
        _check_read_settings(trim, chip)
        ccds = [self._read(index, chip_layout, trim, subtract_bias)
                for index, chip_layout in self.select(hdu, chip)]
        return ccds if hdu is None and chip is None else ccds[0]

    def _read(self, index: int, chip: ChipLayout, trim: str, subtract_bias: bool) -> CCDData:
        pixels = self._chip_pixels(index, chip, trim, subtract_bias)
        out = np.empty(pixels.shape, dtype=np.float32)
        with _reading(self.name, index):
            pixels.scale_into(out)
            header = _merged_header(self._hdul, index)
        first, last = chip.rows(trim)
        for amp, layout in zip(pixels.amplifiers, chip.amplifiers):
            header[f"BIASLEV{amp.name}"] = (amp.level, f"overscan level, amp {amp.name} (DN)")
        # Keep the pixel <-> detector bookkeeping right, as hstcal does when it trims.
        col_offset = chip.amplifiers[0].science_cols[0]
        for key, offset in (("LTV1", col_offset), ("LTV2", first), ("CRPIX1", col_offset), ("CRPIX2", first)):
            if key in header:
                header[key] = header[key] - offset
        levels = [amp.level for amp in pixels.amplifiers]
        header["MEANBLEV"] = (float(np.mean(levels)), "mean of the overscan levels (DN)")
        # What became of this read's levels (a raw file's own BIASLEVx cards would not say).
        header["CCBIAS"] = (("overscan", "per-amp 3-sigma clipped mean removed") if subtract_bias
                            else ("measured", "per-amp overscan levels recorded, not removed"))
        header["BUNIT"] = "ADU"
        # Provenance, ccdproc-style "argument=value" text under short FITS-safe keywords.
        header["CCREAD"] = (f"read_raw hdu={index}, chip={chip.ccdchip}, trim={trim}, "
                            f"subtract_bias={subtract_bias}")
        header["CCTRIM"] = ("+".join(_fits_section((first, last), layout.science_cols)
                                     for layout in chip.amplifiers), "raw sections kept")
        return CCDData(out, unit="adu", meta=header)


def read_raw(path: RawSource, hdu: int | None = None, chip: int | None = None, *,
             trim: str = "lcid", subtract_bias: bool = False) -> CCDData | list[CCDData]:
    """Read chips of a raw ACS/WFC or WFC3/UVIS exposure as trimmed `~astropy.nddata.CCDData`.

    Prescan and overscan are removed with the fixed slices of the
    detector's layout (`celestialclass.io.instruments`); WFC3/UVIS
    amplifier halves are merged. With ``trim='lcid'`` every chip is the
    2048 x 4096 image the paper's LCID dataset uses. Each amplifier's bias
    level is measured either way and recorded in the header, so that a
    chip read without subtracting it can be brought to one read with it
    (`celestialclass.CelestialClassifier` does so when its weights expect it).

    Parameters
    ----------
    path : str, path-like or `~astropy.io.fits.HDUList`
        A full-frame, unbinned, four-amplifier ``*_raw.fits`` file
        (gzip-compressed files work too), or the open file.
    hdu : int, optional
        Read only the chip in this HDU (1 or 4 in a full-frame raw file, as
        in the LCID manifests' ``HDU Index`` column).
    chip : int, optional
        Read only the chip whose ``CCDCHIP`` is this (1 or 2).
    trim : {'lcid', 'science'}, optional
        ``'lcid'`` (default) gives 2048 x 4096: on WFC3/UVIS the 3 science
        rows next to the chip gap are dropped, as in the paper.
        ``'science'`` keeps every science pixel (2051 rows on WFC3/UVIS).
    subtract_bias : bool, optional
        If True, subtract from each amplifier's science pixels its own bias
        level: a 3-sigma clipped mean of its overscan columns over the
        science rows (ACS: the prescan columns; WFC3/UVIS: the serial virtual
        columns; the 2 columns next to the science edge are skipped).

    Returns
    -------
    ccd : `~astropy.nddata.CCDData` or list of `~astropy.nddata.CCDData`
        One chip when ``hdu`` or ``chip`` is given, otherwise every chip in
        HDU order. Data are float32 in ``adu``; ``meta`` is the primary
        header updated with the SCI header, with ``LTV1/2`` and ``CRPIX1/2``
        shifted by the trim, the measured levels ``BIASLEVA``..``BIASLEVD``
        (one per amplifier, left to right) and their mean ``MEANBLEV``, and
        the provenance keywords ``CCREAD`` (the read's settings), ``CCTRIM``
        (the raw sections kept, one per amplifier) and ``CCBIAS``
        (``'overscan'`` when the levels were subtracted, ``'measured'`` when
        only recorded).

    Raises
    ------
    celestialclass.exceptions.RawFileError
        Or one of its subclasses, naming the file and HDU, when the file is
        missing, not FITS, truncated, calibrated, of an unsupported
        instrument or readout, or lacks the requested chip.
    celestialclass.exceptions.ShapeError
        When a SCI array does not have the layout's raw shape.

    Examples
    --------
    >>> import numpy as np
    >>> from celestialclass.io import read_raw
    >>> from celestialclass.simulate import write_raw
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "jexample1q_raw.fits")
    >>> science = np.zeros((2048, 4096), dtype=np.float32)
    >>> path = write_raw(path, {1: science, 2: science}, "ACS/WFC", seed=1)
    >>> chips = read_raw(path)
    >>> [(ccd.meta["CCDCHIP"], ccd.shape) for ccd in chips]
    [(2, (2048, 4096)), (1, (2048, 4096))]
    >>> read_raw(path, hdu=4, subtract_bias=True).meta["CCBIAS"]
    'overscan'
    """
    _check_read_settings(trim, chip)
    with RawFile(path) as raw:
        return raw.read(hdu, chip, trim=trim, subtract_bias=subtract_bias)

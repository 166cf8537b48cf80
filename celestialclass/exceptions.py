"""The `CelestialClassError` family: every failure celestialclass reports on purpose."""

from __future__ import annotations

import os

__all__ = [
    "CelestialClassError",
    "RawFileError",
    "MissingFileError",
    "CorruptFileError",
    "NotRawError",
    "UnsupportedInstrumentError",
    "UnsupportedReadoutError",
    "HDUError",
    "NotScienceError",
    "ShapeError",
]


class CelestialClassError(Exception):
    """Base class of every error raised by celestialclass on purpose.

    Parameters
    ----------
    message : str
        What is wrong and, where it helps, what is supported instead.
    path : str or path-like, optional
        The file the error is about; it opens the message.
    hdu : int, optional
        The HDU index the error is about; it follows the file name as ``[HDU n]``.

    Attributes
    ----------
    path, hdu, reason
        The parts the message was built from, for programs that handle errors.
    """

    def __init__(self, message: str, *, path=None, hdu: int | None = None):
        self.path = os.fspath(path) if path is not None else None
        self.hdu = hdu
        self.reason = message
        where = ""
        if self.path is not None:
            where = self.path
            if hdu is not None:
                where += f"[HDU {hdu}]"
            where += ": "
        elif hdu is not None:
            where = f"HDU {hdu}: "
        super().__init__(where + message)


class RawFileError(CelestialClassError):
    """A file cannot be read as a raw HST exposure."""


class MissingFileError(RawFileError, FileNotFoundError):
    """The file does not exist."""


class CorruptFileError(RawFileError):
    """The file is not FITS, is truncated, or its data cannot be read."""


class NotRawError(RawFileError):
    """The file is a calibrated product (``_flt``, ``_flc``, ...), not a ``_raw`` file."""


class UnsupportedInstrumentError(RawFileError):
    """The instrument or detector has no layout in `celestialclass.io.instruments`."""


class UnsupportedReadoutError(RawFileError):
    """The readout is not full-frame, unbinned, four-amplifier (``CCDAMP='ABCD'``)."""


class HDUError(RawFileError):
    """A requested HDU or chip is missing, or is not a SCI extension."""


class ShapeError(CelestialClassError):
    """An array does not have the shape its layout or model requires."""


class ProvenanceError(CelestialClassError):
    """A chip was read or processed otherwise than a model's preprocessing expects, and cannot be brought to it."""


class NotAFileError(RawFileError):
    """The path names something other than a regular file: a directory, a device, a pipe, a link loop."""


class DataError(CelestialClassError):
    """A chip's values are of a kind no model takes: non-numeric, complex, NaN or infinite."""


class NotScienceError(CelestialClassError):
    """The chip is not a science image of the sky: a bias, dark or flat frame, or an empty or saturated readout."""


class InputError(CelestialClassError, TypeError):
    """An argument of a kind the function does not take (a dict where a chip or path belongs, an empty list)."""

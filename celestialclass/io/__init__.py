"""Instrument-aware readers of raw HST exposures.

The ``hst_raw`` format is registered with astropy's unified I/O on ``import
celestialclass`` (and by importing this module), so ``CCDData.read(path,
format="hst_raw", hdu=4)`` works. No identifier is
registered: a raw file is also a plain FITS file, and guessing would make
``CCDData.read(path)`` ambiguous.
"""

from .describe import describe_raw, filter_name, instrument_name
from .instruments import LAYOUTS, get_layout
from .raw import TRIM_MODES, AmplifierPixels, ChipPixels, RawFile, check_selection, identify_layout, read_raw
from .registry import register

__all__ = [
    "read_raw",
    "describe_raw",
    "identify_layout",
    "get_layout",
    "LAYOUTS",
    "RawFile",
    "check_selection",
    "ChipPixels",
    "AmplifierPixels",
    "filter_name",
    "instrument_name",
    "TRIM_MODES",
]

register()

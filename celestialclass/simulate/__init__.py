"""Simulated raw HST exposures.

`write_raw` lays science-area images into full raw frames; it shares the
instrument layouts of `celestialclass.io`, so a layout is described once
for reading and writing.
"""

from .example import write_example_raw
from .rawfile import write_raw

__all__ = ["write_raw", "write_example_raw"]

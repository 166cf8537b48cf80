"""Simulated raw HST exposures of galaxies and nebulae/star clusters.

`write_raw` lays science-area images into full raw frames; it shares the
instrument layouts of `celestialclass.io`, so a layout is described once
for reading and writing. `simulate_exposure` draws one exposure of a scene;
`simulate_dataset` writes a mock LCID, of parametric bodies or of real
objects' morphology from a bank of images (`celestialclass.simulate.hybrid`).
"""

from .example import write_calibration_raw, write_example_raw
from .exposure import BLURRY_FILTERS, ExposurePlan, plan_exposure, simulate_exposure
from .dataset import (BANK_COLUMNS, HYBRID_MANIFEST_NAME, MANIFEST_NAME, TRUTH_COLUMNS,
                      simulate_dataset)
from .photometry import FILTERS
from .rawfile import write_raw
from .scenes import SUBTYPES, chip_coverage
from .visibility import chip_visibility

#: Version of the simulator's output: it changes whenever the same seeds would
#: give other pixels or another manifest, so a model card can name the data it saw.
SIMULATOR_VERSION = "5"

__all__ = ["write_raw", "write_example_raw", "write_calibration_raw",
           "simulate_exposure", "plan_exposure", "ExposurePlan",
           "SUBTYPES", "FILTERS", "BLURRY_FILTERS", "simulate_dataset",
           "TRUTH_COLUMNS", "BANK_COLUMNS", "MANIFEST_NAME", "HYBRID_MANIFEST_NAME", "SIMULATOR_VERSION",
           "chip_coverage", "chip_visibility"]

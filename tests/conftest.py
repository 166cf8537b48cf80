"""Shared fixtures: small sets of raw files written through `write_raw`."""

import numpy as np
import pytest

from celestialclass.io.instruments import LAYOUTS
from celestialclass.simulate import write_raw

INSTRUMENTS = tuple(LAYOUTS)

# Bias levels (DN) per amplifier used by the exact-pixel files.
EXACT_BIAS = {"A": 1001.0, "B": 1002.0, "C": 1003.0, "D": 1004.0}


def pattern_image(shape, ccdchip):
    """A science image in DN whose every pixel says where it is.

    Integer values, distinct along rows and columns and between chips, so a
    slice that is off by one row or column cannot match.
    """
    rows, cols = np.indices(shape)
    return ((rows * 7 + cols * 3) % 20011 + 10000 * ccdchip).astype(np.float32)


@pytest.fixture(scope="session", params=INSTRUMENTS)
def exact_raw(request, tmp_path_factory):
    """A noiseless raw file of pattern images, with the images and layout it was made from."""
    layout = LAYOUTS[request.param]
    images = {chip.ccdchip: pattern_image(chip.trimmed_shape("science"), chip.ccdchip)
              for chip in layout.chips}
    prefix = "j" if layout.instrument == "ACS" else "i"
    path = tmp_path_factory.mktemp("exact") / f"{prefix}exact01q_raw.fits"
    write_raw(path, images, layout.name, unit="adu", read_noise=0.0, bias=EXACT_BIAS, seed=0)
    return path, images, layout


@pytest.fixture(scope="session")
def noisy_raw(tmp_path_factory):
    """A realistic ACS/WFC raw file (default gains, read noise, bias) of a flat 200 e- sky."""
    layout = LAYOUTS["ACS/WFC"]
    sky = np.full(layout.chips[0].trimmed_shape("science"), 200.0, dtype=np.float32)
    path = tmp_path_factory.mktemp("noisy") / "jnoisy01q_raw.fits"
    write_raw(path, {1: sky, 2: sky}, "ACS/WFC", seed=42,
              header={"EXPTIME": 339.0, "FILTER1": "F814W", "TARGNAME": "NGC-0628"})
    return path


@pytest.fixture(scope="session")
def mock_lcid(tmp_path_factory):
    """A tiny mock LCID from the simulator: 4 bodies (2 galaxies, 2 NSCs), one exposure each."""
    from celestialclass.simulate import simulate_dataset

    out = tmp_path_factory.mktemp("mock_lcid")
    simulate_dataset(out, 4, 1, seed=11, jobs=1)
    return out


@pytest.fixture(scope="session")
def trained_resnet(mock_lcid, tmp_path_factory):
    """Small weights made by the tests: ResNet18 on LCID-Resize, one epoch on the mock LCID."""
    from celestialclass.training import train

    out = tmp_path_factory.mktemp("resnet-weights")
    train("resnet18", mock_lcid / "manifest.csv", mock_lcid, out, recipe="paper-resize", epochs=1,
          batch_size=4, seed=3, device="cpu")
    return out

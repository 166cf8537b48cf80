"""Shared fixtures: small sets of raw files written through `write_raw`; a miniature Stellarium."""

import gzip
import json
import math
import struct

import numpy as np
import pytest

from celestialclass.datasets.stellarium import DSO_TYPES
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


# ----------------------------------------------------------------------------- a miniature Stellarium

def _qstring(text):
    data = text.encode("utf-16-be")
    return struct.pack(">I", len(data)) + data


def _record(ident, ra, dec, kind, major=0.05, ngc=0, m=0, ugc=0, sh2=0, pgc=0):
    """One catalogue record of edition 3.x, as Stellarium writes it (see `read_dso_catalog`)."""
    numbers = [ngc, 0, m, 0, 0, sh2, 0, 0, 0, 0, 0, 0, pgc, ugc]  # NGC IC M C B Sh2 VdB RCW LDN LBN Cr Mel PGC UGC
    return (struct.pack(">I4dI", ident, math.radians(ra), math.radians(dec), 99.0, 10.0, DSO_TYPES.index(kind))
            + _qstring("") + struct.pack(">2di6d14I", major, major / 2, 0, *[0.0] * 6, *numbers)
            + _qstring("") + struct.pack(">2I", 0, 0) + b"".join(_qstring("") for _ in range(7))
            + struct.pack(">5I", 0, 0, 0, 0, 0))


def _corners(ra, dec, size):
    """Corners of a square image of ``size`` degrees, in Stellarium's order, written with bare fractions."""
    half, cos = size / 2, math.cos(math.radians(dec))
    return [[ra + half / cos, dec - half], [ra - half / cos, dec - half], [ra - half / cos, dec + half],
            [ra + half / cos, dec + half]]


def _png(path, kind):
    import cv2

    yy, xx = np.mgrid[:96, :96] - 47.5
    if kind == "galaxy":
        light = 200 * np.exp(-np.hypot(xx, yy / 0.4) / 9)
    else:
        light = 120 * np.exp(-np.hypot(xx, yy) / 15)
        rng = np.random.default_rng(0)
        for y, x in rng.integers(10, 86, (25, 2)):
            light[y, x] += 120
    cv2.imwrite(str(path), np.repeat(np.clip(light + 8, 0, 255).astype(np.uint8)[:, :, None], 3, axis=2))


# Far from every reserved object: the south celestial pole's neighbourhood. Each entry is
# (file, (ra, dec), catalogue type, NGC number, UGC number, credit); what each tests is in tests/datasets/test_bank.py.
MINI_STELLARIUM = (
    ("n9991.png", (300.0, -80.0), "galaxy", 9991, 0, "A. Observer"),
    ("n9992.png", (320.0, -82.0), "globular star cluster", 9992, 0, "B. Observer"),
    ("n9993.png", (310.0, -81.0), "star", 9993, 0, "C"),
    ("u99994.png", (300.05, -80.0), "galaxy", 0, 99994, "D"),      # inside n9991.png: one group
    ("n7742.png", (250.0, -75.0), "galaxy", 7742, 0, "E"),         # a reserved file name
    ("whirl.png", (202.4696, 47.1952), "galaxy", 5194, 0, "F"),    # on M51, a reserved object
    ("n9995.png", (330.0, -84.0), "open star cluster", 9995, 0, "G"),
    ("n9996.png", (290.0, -78.0), "galaxy", 9996, 0, "H"),
    ("n9997.png", (280.0, -86.0), "planetary nebula", 9997, 0, "I"),
    ("n9998.png", (270.0, -77.0), "interacting galaxy", 9998, 0, "J"),
)


@pytest.fixture(scope="session")
def stellarium(tmp_path_factory):
    """A miniature Stellarium ``nebulae/default``: ten images, each testing one rule (`MINI_STELLARIUM`)."""
    root = tmp_path_factory.mktemp("stellarium")
    default = root / "nebulae" / "default"
    default.mkdir(parents=True)
    records, entries = [], []
    for ident, (name, (ra, dec), kind, ngc, ugc, credit) in enumerate(MINI_STELLARIUM, start=1):
        if name != "whirl.png":  # M51 is in the real catalogue, not in this one: the reserved list places it
            records.append(_record(ident, ra, dec, kind, 0.02 if ugc else 0.1, ngc=ngc, ugc=ugc))
        _png(default / name, "galaxy" if "galaxy" in kind else "nsc")
        entries.append({"imageCredits": {"short": credit}, "imageUrl": name,
                        "worldCoords": [_corners(ra, dec, 0.2)], "textureCoords": [[[0, 0], [1, 0], [1, 1], [0, 1]]]})
    header = _qstring("3.16") + _qstring("standard")
    (default / "catalog.dat").write_bytes(gzip.compress(header + b"".join(records)))
    text = json.dumps({"shortName": "Nebulae", "subTiles": entries}, indent=1)
    # Stellarium's own file writes fractions without a leading zero (``-.98``): the reader must take them.
    text = text.replace('"imageUrl"', '"minResolution": .05, "maxBrightness": -.5, "imageUrl"')
    (default / "textures.json").write_text(text)
    return root

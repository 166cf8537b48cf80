"""The scene simulator: photometry, PSF, detector, exposures, mock LCID."""

import csv
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from astropy.io import fits

from celestialclass.exceptions import CelestialClassError
from celestialclass.io import read_raw
from celestialclass.schema import MANIFEST_COLUMNS
from celestialclass.simulate import (
    SUBTYPES,
    plan_exposure,
    simulate_dataset,
    simulate_exposure,
)
from celestialclass.simulate.detector import DETECTORS, _bleed, _cosmic_rays
from celestialclass.simulate.photometry import ab_zero_point, get_filter
from celestialclass.simulate.psf import psf_model

PAPER_COLUMNS = ["", "ID", "Instrument", "OBSID", "Filter", "RA", "DEC", "HDU Index", "Label"]


def test_zero_points_close_to_published():
    """AB zero points from equation (1) with the modelled bands, against STScI/GalSim values."""
    published = {("ACS/WFC", "F435W"): 25.57, ("ACS/WFC", "F606W"): 26.39, ("ACS/WFC", "F814W"): 25.83,
                 ("WFC3/UVIS", "F275W"): 24.13, ("WFC3/UVIS", "F336W"): 24.64,
                 ("WFC3/UVIS", "F606W"): 26.08, ("WFC3/UVIS", "F814W"): 25.09}
    for (instrument, name), value in published.items():
        assert ab_zero_point(instrument, name) == pytest.approx(value, abs=0.2), (instrument, name)


def test_unknown_filter():
    with pytest.raises(CelestialClassError, match="unknown ACS/WFC filter 'F275W'; supported: F435W"):
        get_filter("ACS/WFC", "F275W")


@pytest.mark.parametrize("instrument, name, fwhm", [("ACS/WFC", "F606W", (1.6, 2.3)),
                                                    ("WFC3/UVIS", "F814W", (1.6, 2.4))])
def test_psf(instrument, name, fwhm):
    model = psf_model(instrument, name)
    assert model.kernel.sum() == pytest.approx(1.0, rel=1e-5)
    assert fwhm[0] < model.fwhm_pixels < fwhm[1]
    c = model.kernel.shape[0] // 2
    assert np.unravel_index(model.kernel.argmax(), model.kernel.shape) == (c, c)
    # Sub-pixel stamps move the light: half a pixel right puts more light right of centre.
    stamp = model.kernel[c - 4:c + 5, c - 4:c + 5] + model.corrections[0, 2]
    assert stamp[4, 5] > stamp[4, 3]
    blurry = psf_model(instrument, name, blur=2.0)
    assert blurry.fwhm_pixels > 2 * model.fwhm_pixels


def test_bleeding_conserves_charge_within_the_chip():
    image = np.zeros((50, 4), np.float32)
    image[25, 1] = 10 * 1000.0
    image[10, 2] = 999.0
    assert _bleed(image, 1000.0) == 1
    assert image.sum() == pytest.approx(10_999.0)
    assert image.max() == 1000.0
    # 9,000 e- of excess: 4.5 full wells each way, so 4 full pixels and a half-full one.
    np.testing.assert_array_equal(np.flatnonzero(image[:, 1]), np.arange(20, 31))
    assert image[20, 1] == image[30, 1] == 500.0


def test_cosmic_rays_scale_with_exposure_time():
    counts = []
    for exptime in (100.0, 400.0, 1600.0):
        image = np.zeros((1024, 2048), np.float32)
        counts.append(_cosmic_rays(image, exptime, DETECTORS["ACS/WFC"].cosmic_ray_rate,
                                   np.random.default_rng(1)))
        assert image.sum() > 0
    area = 1024 * 2048 * (15e-4) ** 2
    for count, exptime in zip(counts, (100.0, 400.0, 1600.0)):
        expected = DETECTORS["ACS/WFC"].cosmic_ray_rate * area * exptime
        assert abs(count - expected) < 5 * np.sqrt(expected)
    assert counts[2] / counts[0] == pytest.approx(16, rel=0.15)


@pytest.fixture(scope="module")
def uvis_exposure(tmp_path_factory):
    path = tmp_path_factory.mktemp("sim") / "isim0001q_raw.fits"
    truth = simulate_exposure(path, "nsc", "WFC3/UVIS", seed=21, subtype="hii_region", filter="F657N",
                              exptime=700.0)
    return path, truth


def test_exposure_reads_back_with_truth(uvis_exposure):
    path, truth = uvis_exposure
    chips = read_raw(path, subtract_bias=True)
    assert [c.meta["CCDCHIP"] for c in chips] == [2, 1]
    assert all(c.shape == (2048, 4096) for c in chips)
    assert chips[0].meta["FILTER"] == "F657N" and chips[0].meta["EXPTIME"] == 700.0
    assert truth["kind"] == "nsc" and truth["subtype"] == "hii_region" and truth["instrument"] == "WFC3/UVIS"
    for chip in ("UVIS1", "UVIS2"):
        effects = truth["effects"][chip]
        area = 2051 * 4096 * (15e-4) ** 2
        expected = DETECTORS["WFC3/UVIS"].cosmic_ray_rate * area * 700.0
        assert abs(effects["cosmic_rays"] - expected) < 5 * np.sqrt(expected)
    # Sky plus nebula: well above zero, below saturation in the median.
    assert 0 < np.median(chips[1].data) < 30000


def test_overscan_noise_matches_read_noise_and_gain(uvis_exposure):
    path, _ = uvis_exposure
    with fits.open(path) as hdul:
        primary = hdul[0].header
        data = hdul[1].data.astype(np.float64)
        for letter, cols in (("C", slice(2075, 2103)), ("D", slice(2103, 2131))):
            block = data[:2051, cols]
            expected = primary[f"READNSE{letter}"] / primary[f"ATODGN{letter}"]
            assert block.std() == pytest.approx(expected, rel=0.05)


def test_same_seed_same_bytes(tmp_path, uvis_exposure):
    path, truth = uvis_exposure
    again = tmp_path / path.name
    truth2 = simulate_exposure(again, "nsc", "WFC3/UVIS", seed=21, subtype="hii_region", filter="F657N",
                               exptime=700.0)
    assert again.read_bytes() == path.read_bytes()
    assert {k: v for k, v in truth2.items() if k != "path"} == {k: v for k, v in truth.items() if k != "path"}


@pytest.mark.parametrize("kind", sorted(SUBTYPES))
def test_every_subtype_plans(kind):
    seen = {plan_exposure(kind, "ACS/WFC", seed=s).subtype for s in range(60)}
    assert seen == set(SUBTYPES[kind])


def test_blurry_plans():
    plans = [plan_exposure("galaxy", "WFC3/UVIS", seed=s, blurry=True) for s in range(20)]
    assert all(p.blur >= 1.0 and p.exptime <= 120 for p in plans)
    assert {p.filter for p in plans} <= {"F225W", "F275W", "F336W", "F343N", "F656N", "F658N"}


def test_bad_input(tmp_path):
    with pytest.raises(CelestialClassError, match="unknown kind 'star'"):
        simulate_exposure(tmp_path / "a_raw.fits", "star", "ACS/WFC", seed=1)
    with pytest.raises(CelestialClassError, match="unknown instrument 'WFC3/IR'"):
        simulate_exposure(tmp_path / "a_raw.fits", "nsc", "WFC3/IR", seed=1)
    with pytest.raises(CelestialClassError, match="unknown ACS/WFC filter 'F225W'"):
        simulate_exposure(tmp_path / "a_raw.fits", "nsc", "ACS/WFC", seed=1, filter="F225W")
    with pytest.raises(CelestialClassError, match="exposure time must be positive"):
        simulate_exposure(tmp_path / "a_raw.fits", "nsc", "ACS/WFC", seed=1, exptime=0)
    with pytest.raises(CelestialClassError, match="unknown nsc sub-type 'spiral'"):
        simulate_exposure(tmp_path / "a_raw.fits", "nsc", "ACS/WFC", seed=1, subtype="spiral")
    with pytest.raises(CelestialClassError, match="cannot be written"):
        simulate_exposure(tmp_path / "missing" / "a_raw.fits", "nsc", "ACS/WFC", seed=1)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(CelestialClassError, match="cannot create the output directory"):
        simulate_dataset(blocker / "sub", 1, 1, seed=1)
    with pytest.raises(CelestialClassError, match="at least 1"):
        simulate_dataset(tmp_path / "d", 0, 1, seed=1)


def _read_manifest(path):
    with open(path, newline="") as handle:
        return list(csv.reader(handle))


def test_dataset_manifest_and_resume_after_kill(tmp_path):
    """A run killed mid-way leaves no finished-looking partial file and resumes to the same bytes."""
    reference = tmp_path / "reference"
    table = simulate_dataset(reference, 2, 1, seed=8, jobs=1)
    rows = _read_manifest(reference / "manifest.csv")
    assert rows[0][:9] == PAPER_COLUMNS == ["", *MANIFEST_COLUMNS]
    assert len(rows) == 1 + 2 * 2  # two exposures, two chips each
    assert sorted({r[7] for r in rows[1:]}) == ["1", "4"]
    labels = {}
    for row in rows[1:]:
        labels.setdefault(row[1], set()).add(row[8])
    assert all(len(v) == 1 for v in labels.values())  # a body never has two labels
    assert {r[8] for r in rows[1:]} <= {"galaxy", "NSC"}
    assert len(table) == 4

    killed = tmp_path / "killed"
    code = ("from celestialclass.simulate import simulate_dataset\n"
            f"simulate_dataset({str(killed)!r}, 2, 1, seed=8, jobs=1)\n")
    proc = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list(killed.glob("*_raw.fits")) and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = sorted(p.name for p in killed.glob("*_raw.fits"))
    assert len(finished) < 2 and not (killed / "manifest.csv").exists()
    for name in finished:  # whatever looks finished is complete
        assert (killed / name).read_bytes() == (reference / name).read_bytes()

    simulate_dataset(killed, 2, 1, seed=8, jobs=1)
    assert sorted(p.name for p in killed.iterdir()) == sorted(p.name for p in reference.iterdir())
    for path in reference.iterdir():
        assert (killed / path.name).read_bytes() == path.read_bytes(), path.name
    assert not [p for p in os.listdir(killed) if p.endswith(".tmp")]

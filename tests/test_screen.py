"""Chips that are not science images of the sky are refused with a reason; unsure chips can be left unanswered."""

import json

import numpy as np
import pytest
from astropy.io import fits

from celestialclass import CelestialClassError, CelestialClassifier
from celestialclass.classify import classify_ccd, classify_files
from celestialclass.cli import main
from celestialclass.exceptions import InputError, NotScienceError
from celestialclass.io import read_raw
from celestialclass.simulate import write_calibration_raw, write_example_raw, write_raw


@pytest.fixture(scope="module")
def clf():
    return CelestialClassifier(device="cpu")


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    """Raw files the simulator writes that no classifier should label."""
    out = tmp_path_factory.mktemp("frames")
    files = {kind: write_calibration_raw(out / f"j{kind}01q_raw.fits", kind) for kind in ("bias", "dark", "flat")}
    files["wfc3-dark"] = write_calibration_raw(out / "iwdark01q_raw.fits", "dark", "WFC3/UVIS", seed=2)
    zero = np.zeros((2048, 4096), np.float32)
    files["empty"] = write_raw(out / "jempty01q_raw.fits", {1: zero, 2: zero}, unit="adu", bias=0, read_noise=0)
    full = np.full((2048, 4096), 1e7, np.float32)
    files["saturated"] = write_raw(out / "jsatur01q_raw.fits", {1: full, 2: full}, seed=1)
    files["science"] = write_example_raw(out / "jexampl1q_raw.fits")
    return files


@pytest.mark.parametrize("kind, reason", [("bias", "IMAGETYP = 'BIAS': a bias frame"),
                                          ("dark", "IMAGETYP = 'DARK': a dark frame"),
                                          ("wfc3-dark", "IMAGETYP = 'DARK'"),
                                          ("flat", "IMAGETYP = 'FLAT': a flat field"),
                                          ("empty", "an empty readout: every pixel reads 0"),
                                          ("saturated", "a saturated readout: 100 % of pixels at the ADC limit")])
def test_non_science_files_are_refused_not_labelled(clf, frames, kind, reason):
    path = frames[kind]
    with pytest.raises(NotScienceError, match=reason) as info:
        clf.predict(path)
    assert str(path) in str(info.value)
    rows = clf.predict([path, frames["science"]])
    refused = rows[rows["source"] == str(path)]
    assert len(refused) >= 1 and all(refused["label"] == "")
    assert all(reason.split(":")[0] in error for error in refused["error"])
    assert np.isnan(refused["prob_nsc"]).all()
    assert set(rows[rows["source"] == str(frames["science"])]["label"]) <= {"galaxy", "nsc"}


def test_empty_and_saturated_are_judged_per_chip(clf, frames):
    """An empty readout is refused chip by chip, so the message names the HDU."""
    with pytest.raises(NotScienceError, match=r"\[HDU 1\]: an empty readout"):
        clf.predict(frames["empty"], hdu=1)


def test_in_memory_chips_are_screened(clf, frames):
    with pytest.raises(NotScienceError, match="every pixel reads 7"):
        clf.predict(np.full((2048, 4096), 7.0, np.float32))
    bias = read_raw(frames["bias"], hdu=1)  # the header travels with the CCDData
    with pytest.raises(NotScienceError, match="IMAGETYP = 'BIAS'"):
        clf.predict(bias)
    with pytest.raises(NotScienceError):
        classify_ccd(bias, clf)
    science = read_raw(frames["science"], hdu=1)
    assert clf.predict(science).label in ("galaxy", "nsc")


def test_bscale_zero_is_an_empty_readout(clf, frames, tmp_path):
    path = tmp_path / "jbscal01q_raw.fits"
    with fits.open(frames["science"]) as hdul:
        hdul.writeto(path)
    with fits.open(path, mode="update", do_not_scale_image_data=True) as hdul:
        for index in (1, 4):
            hdul[index].header["BSCALE"] = 0.0
    with pytest.raises(NotScienceError, match="empty readout"):
        clf.predict(path, hdu=1)


def test_min_confidence_leaves_unsure_chips_unanswered(clf, frames):
    path = frames["science"]
    full = clf.predict(path)
    best = np.maximum(full["prob_nsc"], full["prob_galaxy"])
    threshold = float(np.sort(best)[0]) + 1e-9  # above the least confident chip, below the other
    rows = clf.predict(path, min_confidence=threshold)
    assert list(rows["label"] == "uncertain") == list(best < threshold) and (rows["label"] == "uncertain").any()
    assert np.array_equal(rows["prob_nsc"], full["prob_nsc"])  # probabilities still given
    assert rows.meta["min_confidence"] == threshold
    assert list(clf.predict(path, min_confidence=0.0)["label"]) == list(full["label"])
    one = clf.predict(read_raw(path, hdu=1), min_confidence=1.0)
    assert one.label == "uncertain" and "uncertain (most probably" in str(one)
    assert one.probability == max(one.probabilities.values())
    for bad in (1.5, -0.1, "0.9", True):
        with pytest.raises(InputError, match="min_confidence must be a probability"):
            clf.predict(path, min_confidence=bad)
    table = classify_files([path], local=True, min_confidence=1.0)
    assert set(table["label"]) == {"uncertain"}


def test_classify_command_min_confidence(frames, tmp_path, capsys):
    out = tmp_path / "rows.json"
    assert main(["classify", str(frames["science"]), "--min-confidence", "1", "--output", str(out)]) == 0
    rows = json.loads(out.read_text())
    labels = [row["label"] for row in (rows["rows"] if isinstance(rows, dict) else rows)]
    assert labels == ["uncertain", "uncertain"]
    assert main(["classify", str(frames["science"]), "--min-confidence", "lots"]) == 1
    assert "--min-confidence takes a probability or 'suggested'" in capsys.readouterr().err
    assert main(["classify", str(frames["bias"])]) == 1
    assert "a bias frame, not an exposure of the sky" in capsys.readouterr().err


def test_suggested_min_confidence_needs_a_calibrated_card(frames, trained_resnet, capsys):
    code = main(["classify", str(frames["science"]), "--model", "resnet18", "--weights", str(trained_resnet),
                 "--min-confidence", "suggested"])
    assert code == 1 and "suggests none" in capsys.readouterr().err


def test_simulated_science_files_say_what_they_are(frames):
    assert fits.getval(frames["science"], "IMAGETYP") == "EXT"
    with pytest.raises(CelestialClassError, match="kind must be one of"):
        write_calibration_raw(frames["science"].parent / "x_raw.fits", "lamp")

"""Explanation maps: what drove a decision, as FITS with the chip's WCS and as PNG."""

import numpy as np
import pytest
from astropy.io import fits
from astropy.nddata import CCDData
from astropy.wcs import WCS

from celestialclass import CelestialClassError, CelestialClassifier
from celestialclass.cli import main
from celestialclass.exceptions import NotScienceError
from celestialclass.io import RawFile, read_raw
from celestialclass.simulate import write_calibration_raw, write_example_raw


@pytest.fixture(scope="module")
def clf():
    return CelestialClassifier(device="cpu")


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    return write_example_raw(tmp_path_factory.mktemp("explain") / "jexampl3q_raw.fits", seed=3)


def test_maps_follow_the_light_and_agree_with_predict(clf, raw):
    maps = clf.explain(raw)
    rows = clf.predict(raw)
    assert [m.hdu for m in maps] == list(rows["hdu"])
    for m, row in zip(maps, rows):
        assert m.label == row["label"]
        assert m.probabilities["nsc"] == pytest.approx(row["prob_nsc"], abs=1e-5)
        assert m.saliency.shape == (128, 256) and m.preview.shape == (128, 256)
        assert m.saliency.min() >= 0 and m.saliency.sum() == pytest.approx(1.0, rel=1e-4)
        # The attribution lies where the object is: the brighter half of the blocks (the glow) holds most
        # of it, and the most attributed tenth holds far more than a tenth and lies on the glow.
        assert m.saliency[m.preview > np.median(m.preview)].sum() > 0.7
        top = m.saliency > np.percentile(m.saliency, 90)
        assert m.saliency[top].sum() > 0.3 and np.median(m.preview[top]) > np.percentile(m.preview, 75)


def test_map_wcs_matches_the_chip(clf, raw):
    m = clf.explain(raw, hdu=4)[0]
    chip_wcs = WCS(fits.getheader(raw, 4))
    with RawFile(raw) as f:
        chip = dict(f.select(4))[4]
        r0, c0 = chip.rows("lcid")[0], chip.amplifiers[0].science_cols[0]
    for row, col in ((0, 0), (10, 20), (127, 100)):
        world = m.wcs.pixel_to_world_values(col, row)
        expected = chip_wcs.pixel_to_world_values(col * 16 + 7.5 + c0, row * 16 + 7.5 + r0)
        np.testing.assert_allclose(world, expected, atol=1e-10)


def test_write_fits_and_png(clf, raw, tmp_path):
    m = clf.explain(raw, hdu=1)[0]
    written = m.write(tmp_path / "m.fits", tmp_path / "m.png")
    assert [p.name for p in written] == ["m.fits", "m.png"]
    with fits.open(tmp_path / "m.fits") as hdul:
        assert hdul[0].data.shape == (128, 256) and hdul[0].header["CCLABEL"] == m.label
        assert WCS(hdul[0].header).has_celestial
    assert (tmp_path / "m.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(CelestialClassError, match="file exists"):
        m.write(tmp_path / "m.fits")


def test_in_memory_chips_and_blocks(clf, raw):
    ccd = read_raw(raw, hdu=4)
    single = clf.explain(ccd, block=32)
    assert single.saliency.shape == (64, 128) and single.wcs is None
    with_wcs = CCDData(ccd.data, unit=ccd.unit, meta=ccd.meta,
                       wcs=WCS({"CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CDELT1": -1e-5, "CDELT2": 1e-5,
                                "CRPIX1": 1, "CRPIX2": 1, "CRVAL1": 10, "CRVAL2": 20}))
    m = clf.explain(with_wcs, block=16)
    np.testing.assert_allclose(m.wcs.wcs.cdelt, [-16e-5, 16e-5])
    with pytest.raises(CelestialClassError, match="block must be at least 1"):
        clf.explain(ccd, block=0)


def test_refused_and_broken_inputs_raise(clf, tmp_path):
    bias = write_calibration_raw(tmp_path / "jbias002q_raw.fits", "bias")
    with pytest.raises(NotScienceError):
        clf.explain(bias)
    with pytest.raises(CelestialClassError, match="does not exist|no such file"):
        clf.explain(tmp_path / "missing_raw.fits")


def test_explain_command(raw, tmp_path, capsys):
    assert main(["explain", str(raw), "--hdu", "4", "--out", str(tmp_path)]) == 0
    assert "HDU 4" in capsys.readouterr().out
    stem = raw.name.split(".fits")[0]
    assert (tmp_path / f"{stem}_hdu4_explain.fits").exists() and (tmp_path / f"{stem}_hdu4_explain.png").exists()
    assert main(["explain", str(raw), "--hdu", "4", "--out", str(tmp_path)]) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert main(["explain", str(raw), "--out", str(tmp_path / "nowhere")]) == 1

"""Reading raw chips: exact pixels against the raw-format specification, headers, selection."""

import gzip
import shutil

import numpy as np
import pytest
from astropy.io import fits
from astropy.nddata import CCDData
from astropy.stats import sigma_clipped_stats
from hypothesis import given, settings
from hypothesis import strategies as st

from celestialclass.exceptions import CelestialClassError, HDUError
from celestialclass.io import read_raw
from celestialclass.io.raw import _robust_level

from .conftest import EXACT_BIAS

# The raw-format specification's summary table (§6), typed in independently of
# celestialclass.io.instruments: HDU -> (amplifier letters, science slices
# left/right as (rows, cols), LCID rows).
SPEC = {
    "ACS/WFC": {
        1: ("CD", [((0, 2048), (24, 2072)), ((0, 2048), (2072, 4120))], (0, 2048)),
        4: ("AB", [((20, 2068), (24, 2072)), ((20, 2068), (2072, 4120))], (20, 2068)),
    },
    "WFC3/UVIS": {
        1: ("CD", [((0, 2051), (25, 2073)), ((0, 2051), (2133, 4181))], (0, 2048)),
        4: ("AB", [((19, 2070), (25, 2073)), ((19, 2070), (2133, 4181))], (22, 2070)),
    },
}


def _expected_from_raw_array(path, hdu, trim, subtract_bias, instrument):
    """The trimmed chip computed directly from the raw array with the spec's slices."""
    raw = fits.getdata(path, hdu).astype(np.float64)
    amps, science, lcid_rows = SPEC[instrument][hdu]
    halves = []
    for letter, (rows, cols) in zip(amps, science):
        rows = lcid_rows if trim == "lcid" else rows
        half = raw[rows[0]:rows[1], cols[0]:cols[1]]
        halves.append(half - (EXACT_BIAS[letter] if subtract_bias else 0.0))
    return np.hstack(halves)


@pytest.mark.parametrize("trim", ["lcid", "science"])
@pytest.mark.parametrize("subtract_bias", [False, True])
@pytest.mark.parametrize("hdu", [1, 4])
def test_exact_pixels_against_spec(exact_raw, hdu, trim, subtract_bias):
    path, images, layout = exact_raw
    ccd = read_raw(path, hdu=hdu, trim=trim, subtract_bias=subtract_bias)
    expected = _expected_from_raw_array(path, hdu, trim, subtract_bias, layout.name)
    assert ccd.data.dtype == np.float32
    assert ccd.shape == expected.shape
    assert ccd.shape == ((2048, 4096) if trim == "lcid" or layout.name == "ACS/WFC" else (2051, 4096))
    np.testing.assert_array_equal(ccd.data, expected)


@pytest.mark.parametrize("hdu", [1, 4])
def test_round_trip_recovers_the_written_image(exact_raw, hdu):
    """write_raw then read_raw(subtract_bias=True) gives back the science image exactly."""
    path, images, layout = exact_raw
    ccd = read_raw(path, hdu=hdu, trim="science", subtract_bias=True)
    image = images[ccd.meta["CCDCHIP"]]
    np.testing.assert_array_equal(ccd.data, image)
    lcid = read_raw(path, hdu=hdu, trim="lcid", subtract_bias=True)
    first = {("ACS/WFC", 1): 0, ("ACS/WFC", 4): 0, ("WFC3/UVIS", 1): 0, ("WFC3/UVIS", 4): 3}
    offset = first[(layout.name, hdu)]
    np.testing.assert_array_equal(lcid.data, image[offset:offset + 2048])


def test_chip_names_and_hdu_order(exact_raw):
    path, _, layout = exact_raw
    chips = read_raw(path)
    assert [c.meta["CCDCHIP"] for c in chips] == [2, 1]
    assert [c.meta["EXTVER"] for c in chips] == [1, 2]
    by_chip = read_raw(path, chip=1)
    np.testing.assert_array_equal(by_chip.data, chips[1].data)
    assert read_raw(path, hdu=4, chip=1).meta["CCDCHIP"] == 1


def test_metadata_merge_and_provenance(exact_raw):
    path, _, layout = exact_raw
    ccd = read_raw(path, hdu=4, subtract_bias=True, trim="science")
    assert ccd.unit == "adu"
    assert ccd.meta["INSTRUME"] == layout.instrument      # from the primary header
    assert ccd.meta["CCDCHIP"] == 1                       # from the SCI header
    assert ccd.meta["BUNIT"] == "ADU"
    assert "BZERO" not in ccd.meta and "NAXIS1" not in ccd.meta
    assert ccd.meta["LTV1"] == 0 and ccd.meta["LTV2"] == 0  # first kept pixel is the origin
    assert ccd.meta["BIASLEVA"] == EXACT_BIAS["A"] and ccd.meta["BIASLEVB"] == EXACT_BIAS["B"]
    assert ccd.meta["MEANBLEV"] == pytest.approx((EXACT_BIAS["A"] + EXACT_BIAS["B"]) / 2)
    assert "trim=science" in ccd.meta["CCREAD"] and "subtract_bias=True" in ccd.meta["CCREAD"]
    assert ccd.meta["CCBIAS"] == "overscan"
    first_col = 25 if layout.name == "WFC3/UVIS" else 24
    assert ccd.meta["CCTRIM"].startswith(f"[{first_col + 1}:")


def test_uvis_lcid_trim_keeps_detector_origin(exact_raw):
    path, _, layout = exact_raw
    if layout.name != "WFC3/UVIS":
        pytest.skip("UVIS-only bookkeeping")
    science = read_raw(path, hdu=4, trim="science")
    lcid = read_raw(path, hdu=4, trim="lcid")
    # Raw LTV2 is 19 for UVIS1; the LCID crop starts 3 rows further up.
    assert science.meta["LTV2"] == 0 and lcid.meta["LTV2"] == -3
    assert lcid.meta["CRPIX2"] == science.meta["CRPIX2"] - 3


def test_registered_with_unified_io(exact_raw):
    path, _, _ = exact_raw
    ccd = CCDData.read(path, format="hst_raw", hdu=4)
    np.testing.assert_array_equal(ccd.data, read_raw(path, hdu=4).data)
    bias = CCDData.read(path, format="hst_raw", chip=2, subtract_bias=True, trim="science")
    assert bias.meta["CCDCHIP"] == 2 and bias.meta["CCBIAS"] == "overscan"
    with pytest.raises(HDUError, match="give hdu="):
        CCDData.read(path, format="hst_raw")


def test_plain_fits_reading_is_not_ambiguous(tmp_path):
    """No greedy identifier: an ordinary FITS image still reads without a format."""
    path = tmp_path / "plain.fits"
    CCDData(np.ones((3, 4)), unit="adu").write(path)
    assert CCDData.read(path).shape == (3, 4)


def test_gzip_and_hdulist_inputs(exact_raw, tmp_path):
    path, _, _ = exact_raw
    gz = tmp_path / (path.name + ".gz")
    with open(path, "rb") as src, gzip.open(gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    expected = read_raw(path, hdu=1).data
    np.testing.assert_array_equal(read_raw(gz, hdu=1).data, expected)
    with fits.open(path) as hdul:
        np.testing.assert_array_equal(read_raw(hdul, hdu=1).data, expected)


def test_bias_level_on_noisy_file(noisy_raw):
    """With read noise, the measured overscan level is within a few hundredths of a DN."""
    chips = read_raw(noisy_raw, subtract_bias=True)
    from celestialclass.io.instruments import LAYOUTS

    amps = LAYOUTS["ACS/WFC"].amplifiers
    for ccd in chips:
        for letter in ("AB" if ccd.meta["CCDCHIP"] == 1 else "CD"):
            assert ccd.meta[f"BIASLEV{letter}"] == pytest.approx(amps[letter].bias, abs=0.05)
        # 200 e- of sky at gain 2 -> 100 DN above bias in both halves.
        assert np.median(ccd.data[:, :2048]) == pytest.approx(100, abs=1)
        assert np.median(ccd.data[:, 2048:]) == pytest.approx(100, abs=1)


@settings(max_examples=60, deadline=None)
@given(
    level=st.integers(100, 60000),
    sigma=st.floats(0.5, 30),
    n_outliers=st.integers(0, 200),
    seed=st.integers(0, 2**32 - 1),
)
def test_robust_level_matches_astropy_sigma_clipped_mean(level, sigma, n_outliers, seed):
    rng = np.random.default_rng(seed)
    values = np.rint(rng.normal(level, sigma, size=(400, 22)))
    flat = values.ravel()
    flat[rng.integers(0, flat.size, n_outliers)] += rng.uniform(50, 5000, n_outliers)
    values = np.clip(np.rint(values), 0, 65535)
    expected = sigma_clipped_stats(values, sigma=3, maxiters=5)[0]
    assert _robust_level((values - 32768).astype(np.int16)) + 32768 == pytest.approx(expected, abs=1e-6)


def test_bad_options(exact_raw):
    path, _, _ = exact_raw
    with pytest.raises(CelestialClassError, match="trim must be one of"):
        read_raw(path, trim="full")
    with pytest.raises(CelestialClassError, match="chip must be an integer"):
        read_raw(path, chip="1")
    with pytest.raises(HDUError, match="hdu must be an integer"):
        read_raw(path, hdu="SCI")
    with pytest.raises(HDUError, match="CCDCHIP=1, not chip=2"):
        read_raw(path, hdu=4, chip=2)


@pytest.mark.parametrize("kwargs", [{}, {"subtract_bias": True, "trim": "science"}])
def test_read_chips_write_without_warnings(exact_raw, tmp_path, kwargs):
    """Every keyword read_raw adds fits on its card: writing the CCDData raises no VerifyWarning."""
    import warnings

    path, _, _ = exact_raw
    for ccd in read_raw(path, **kwargs):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            ccd.write(tmp_path / "chip.fits", overwrite=True)

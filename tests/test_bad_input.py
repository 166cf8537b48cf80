"""Bad input: every broken or unsupported file ends in a specific CelestialClassError naming it."""

import numpy as np
import pytest
from astropy.io import fits
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from celestialclass.exceptions import (
    CelestialClassError,
    CorruptFileError,
    HDUError,
    MissingFileError,
    NotRawError,
    RawFileError,
    ShapeError,
    UnsupportedInstrumentError,
    UnsupportedReadoutError,
)
from celestialclass.io import describe_raw, read_raw
from celestialclass.io.instruments import LAYOUTS


@pytest.fixture(scope="module")
def good_acs(tmp_path_factory):
    from celestialclass.simulate import write_raw

    shape = LAYOUTS["ACS/WFC"].chips[0].trimmed_shape("science")
    image = np.zeros(shape, dtype=np.float32)
    path = tmp_path_factory.mktemp("good") / "jgood001q_raw.fits"
    return write_raw(path, {1: image, 2: image}, "ACS/WFC", read_noise=0)


def _variant(good, tmp_path, name, primary=None, sci=None, remove_primary=(), transform=None):
    """Copy of ``good`` with header changes, written as ``name``."""
    with fits.open(good) as hdul:
        hdul.readall()
        hdul[0].header.update(primary or {})
        for key in remove_primary:
            del hdul[0].header[key]
        for hdu in hdul[1:]:
            if hdu.name == "SCI":
                hdu.header.update(sci or {})
        if transform is not None:
            hdul = transform(hdul)
        path = tmp_path / name
        hdul.writeto(path)
    return path


def _raises(error, path, match, **kwargs):
    with pytest.raises(error, match=match) as info:
        read_raw(path, **kwargs)
    assert str(path) in str(info.value)
    assert isinstance(info.value, CelestialClassError)
    return info.value


def test_missing_file(tmp_path):
    err = _raises(MissingFileError, tmp_path / "nope_raw.fits", "no such file")
    assert isinstance(err, FileNotFoundError)


def test_not_fits(tmp_path):
    path = tmp_path / "notes_raw.fits"
    path.write_text("this is not a FITS file\n" * 100)
    _raises(CorruptFileError, path, "not a readable FITS file")


def test_truncated(good_acs, tmp_path):
    path = tmp_path / "jtrunc01q_raw.fits"
    data = good_acs.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    _raises(CorruptFileError, path, "truncated", hdu=4)
    _raises(CorruptFileError, path, "truncated")
    info = describe_raw(path)
    assert not info["supported"] and "truncated" in info["reason"]


@pytest.mark.parametrize("instrument, detector", [
    ("WFC3", "IR"), ("ACS", "HRC"), ("ACS", "SBC"), ("WFPC2", "PC"), ("STIS", "CCD"),
])
def test_unsupported_instruments(good_acs, tmp_path, instrument, detector):
    path = _variant(good_acs, tmp_path, "x_raw.fits", {"INSTRUME": instrument, "DETECTOR": detector})
    err = _raises(UnsupportedInstrumentError, path, f"INSTRUME='{instrument}'")
    assert "ACS/WFC" in str(err) and "WFC3/UVIS" in str(err)  # says what is supported


def test_no_instrument_keyword(good_acs, tmp_path):
    path = _variant(good_acs, tmp_path, "x_raw.fits", remove_primary=("INSTRUME",))
    _raises(UnsupportedInstrumentError, path, "no INSTRUME keyword")


@pytest.mark.parametrize("change, match", [
    ({"SUBARRAY": True, "APERTURE": "WFC1A-2K"}, "subarray readout .*WFC1A-2K"),
    ({"BINAXIS1": 2, "BINAXIS2": 2}, "binned readout"),
    ({"CCDAMP": "B"}, "amplifier.*'B'"),
    ({"CCDAMP": "AD"}, "CCDAMP='ABCD'"),
])
def test_unsupported_readouts(good_acs, tmp_path, change, match):
    path = _variant(good_acs, tmp_path, "x_raw.fits", change)
    _raises(UnsupportedReadoutError, path, match)


@pytest.mark.parametrize("name, change", [
    ("jgood001q_flt.fits", {}),
    ("jgood001q_flc.fits", {}),
    ("renamed_raw.fits", {"FILENAME": "jgood001q_flc.fits"}),
    ("jgood001q_raw.fits", {"BLEVCORR": "COMPLETE"}),
])
def test_calibrated_products(good_acs, tmp_path, name, change):
    path = _variant(good_acs, tmp_path, name, change)
    _raises(NotRawError, path, "not a raw exposure")


def test_float_sci_data(good_acs, tmp_path):
    def to_float(hdul):
        for i in (1, 4):
            hdul[i] = fits.ImageHDU(hdul[i].data.astype(np.float32), header=hdul[i].header)
        return hdul

    path = _variant(good_acs, tmp_path, "x_raw.fits", transform=to_float)
    _raises(NotRawError, path, "BITPIX=-32", hdu=1)


def test_no_sci_extension(good_acs, tmp_path):
    path = _variant(good_acs, tmp_path, "x_raw.fits", {"NEXTEND": 2},
                    transform=lambda h: fits.HDUList([h[0], h[2], h[3]]))
    _raises(HDUError, path, "no SCI extension")


def test_missing_extensions(good_acs, tmp_path):
    """A file that lost its second chip (NEXTEND says 6) is incomplete, not a one-chip file: refused also
    when only the chip that is there is asked for (it was read, while the whole file was refused)."""
    path = _variant(good_acs, tmp_path, "x_raw.fits", transform=lambda h: fits.HDUList(h[:4]))
    _raises(CorruptFileError, path, "NEXTEND=6 but only 3 extension")
    _raises(CorruptFileError, path, "NEXTEND=6 but only 3 extension", hdu=1)


def test_sci_wrong_shape(good_acs, tmp_path):
    def crop(hdul):
        hdul[4] = fits.ImageHDU(hdul[4].data[:, :4096], header=hdul[4].header)
        return hdul

    path = _variant(good_acs, tmp_path, "x_raw.fits", transform=crop)
    _raises(ShapeError, path, "4096x2068.*4144x2068", hdu=4)
    err = _raises(ShapeError, path, r"\[HDU 4\]")
    assert err.hdu == 4
    read_raw(path, hdu=1)  # the other chip still reads


@pytest.mark.parametrize("hdu, match", [
    (2, r"\('ERR', 1\) is not a SCI extension"),
    (3, r"\('DQ', 1\) is not a SCI extension"),
    (6, r"\('DQ', 2\) is not a SCI extension"),
    (0, "primary HDU is not a SCI extension"),
    (7, "no HDU 7: the file has HDUs 0..6"),
])
def test_hdu_pointing_elsewhere(good_acs, hdu, match):
    err = _raises(HDUError, good_acs, match, hdu=hdu)
    assert f"[HDU {hdu}]" in str(err)
    assert "HDU 1 (SCI,1, CCDCHIP=2), HDU 4 (SCI,2, CCDCHIP=1)" in str(err)


def test_unknown_chip(good_acs):
    _raises(HDUError, good_acs, "no SCI extension with CCDCHIP=3", chip=3)


def test_bad_ccdchip_value(good_acs, tmp_path):
    path = _variant(good_acs, tmp_path, "x_raw.fits", sci={"CCDCHIP": 7})
    _raises(RawFileError, path, "CCDCHIP=7")


def test_not_a_path():
    with pytest.raises(CelestialClassError, match="expected a file path"):
        read_raw(12345)


# Property-based: headers and shapes drawn at random, read from in-memory HDU lists.

def _hdulist(primary, sci_shape, layout_name="ACS/WFC"):
    layout = LAYOUTS[layout_name]
    prim = fits.PrimaryHDU()
    base = {"INSTRUME": layout.instrument, "DETECTOR": layout.detector, "SUBARRAY": False,
            "CCDAMP": "ABCD", "BINAXIS1": 1, "BINAXIS2": 1, "FILENAME": "jprop001q_raw.fits"}
    base.update(primary)
    for key, value in base.items():
        if value is not None:
            prim.header[key] = value
    hdus = [prim]
    for chip in layout.chips:
        sci = fits.ImageHDU(np.zeros(sci_shape, dtype=np.uint16), name="SCI", ver=chip.extver)
        sci.header["CCDCHIP"] = chip.ccdchip
        hdus += [sci, fits.ImageHDU(name="ERR", ver=chip.extver), fits.ImageHDU(name="DQ", ver=chip.extver)]
    return fits.HDUList(hdus)


_SUPPORTED = {(layout.instrument, layout.detector) for layout in LAYOUTS.values()}


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    instrument=st.sampled_from(["ACS", "WFC3", "WFPC2", "STIS", "NICMOS", ""]),
    detector=st.sampled_from(["WFC", "UVIS", "IR", "HRC", "SBC", "PC", ""]),
    subarray=st.booleans(),
    binning=st.sampled_from([1, 2, 3]),
    amps=st.sampled_from(["ABCD", "A", "B", "C", "D", "AD", "BC"]),
)
def test_headers_property(instrument, detector, subarray, binning, amps):
    """Whatever the header, the reader accepts exactly the supported readouts or says why not."""
    layout_name = "WFC3/UVIS" if instrument == "WFC3" else "ACS/WFC"
    hdul = _hdulist({"INSTRUME": instrument or None, "DETECTOR": detector or None,
                     "SUBARRAY": subarray, "BINAXIS1": binning, "BINAXIS2": binning,
                     "CCDAMP": amps}, LAYOUTS[layout_name].raw_shape, layout_name)
    if (instrument, detector) not in _SUPPORTED:
        expected = UnsupportedInstrumentError
    elif subarray or binning != 1 or amps != "ABCD":
        expected = UnsupportedReadoutError
    else:
        expected = None
    if expected is None:
        assert read_raw(hdul, hdu=1).shape == (2048, 4096)
    else:
        with pytest.raises(expected) as info:
            read_raw(hdul, hdu=1)
        assert "<HDUList>" in str(info.value)


@settings(max_examples=40, deadline=None)
@given(rows=st.integers(1, 2100), cols=st.integers(1, 4300),
       instrument=st.sampled_from(sorted(LAYOUTS)))
def test_shapes_property(rows, cols, instrument):
    """Any SCI shape but the layout's raw shape is a ShapeError naming both shapes."""
    layout = LAYOUTS[instrument]
    hdul = _hdulist({}, (rows, cols), instrument)
    if (rows, cols) == layout.raw_shape:
        assert read_raw(hdul, hdu=4).shape == (2048, 4096)
        return
    with pytest.raises(ShapeError) as info:
        read_raw(hdul, hdu=4)
    message = str(info.value)
    assert f"{cols}x{rows}" in message
    assert f"{layout.raw_shape[1]}x{layout.raw_shape[0]}" in message

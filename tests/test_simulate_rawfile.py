"""Writing raw files: structure, headers, noise, determinism, bad input."""

import numpy as np
import pytest
from astropy.io import fits

from celestialclass.exceptions import CelestialClassError, ShapeError, UnsupportedInstrumentError
from celestialclass.io.instruments import LAYOUTS
from celestialclass.simulate import write_example_raw, write_raw


@pytest.mark.parametrize("instrument", sorted(LAYOUTS))
def test_structure_and_headers(tmp_path, instrument):
    layout = LAYOUTS[instrument]
    shape = layout.chips[0].trimmed_shape("science")
    image = np.zeros(shape, dtype=np.float32)
    path = write_raw(tmp_path / "iabc123q_raw.fits", [image, image], instrument, seed=3,
                     header={"EXPTIME": 120.0, "TARGNAME": "M16", layout.filter_keywords[0]: "F502N"})
    with fits.open(path, do_not_scale_image_data=True) as hdul:
        assert [(h.name, h.ver) for h in hdul] == [
            ("PRIMARY", 1), ("SCI", 1), ("ERR", 1), ("DQ", 1), ("SCI", 2), ("ERR", 2), ("DQ", 2)]
        primary = hdul[0].header
        assert (primary["INSTRUME"], primary["DETECTOR"]) == (layout.instrument, layout.detector)
        assert primary["EXPTIME"] == 120.0 and primary["TARGNAME"] == "M16"
        assert primary[layout.filter_keywords[0]] == "F502N"
        assert primary["CCDAMP"] == "ABCD" and primary["SUBARRAY"] is False
        assert primary["NEXTEND"] == 6 and primary["ROOTNAME"] == "iabc123q"
        for letter, amp in layout.amplifiers.items():
            assert primary[f"ATODGN{letter}"] == amp.gain
        for index, chip in zip((1, 4), layout.chips):
            sci = hdul[index]
            assert sci.header["CCDCHIP"] == chip.ccdchip
            assert (sci.header["BITPIX"], sci.header["BZERO"]) == (16, 32768)
            assert sci.data.shape == layout.raw_shape
            assert sci.header["LTV2"] == chip.science_rows[0]
            err, dq = hdul[index + 1], hdul[index + 2]
            assert err.data is None and dq.data is None
            assert (err.header["NPIX1"], err.header["NPIX2"]) == (layout.raw_shape[1], layout.raw_shape[0])


def test_overscan_noise_matches_read_noise_and_gain(tmp_path):
    layout = LAYOUTS["ACS/WFC"]
    image = np.zeros((2048, 4096), dtype=np.float32)
    path = write_raw(tmp_path / "jnoise01q_raw.fits", [image, image], "ACS/WFC",
                     read_noise={"A": 8.0, "B": 4.0, "C": 12.0, "D": 6.0}, gain=2.0, seed=11)
    with fits.open(path) as hdul:
        for index, chip in zip((1, 4), layout.chips):
            data = hdul[index].data.astype(np.float64)
            for amp in chip.amplifiers:
                o0, o1 = amp.overscan_cols
                block = data[:, o0:o1]
                rn = hdul[0].header[f"READNSE{amp.name}"]
                assert block.std() == pytest.approx(rn / 2.0, rel=0.02)
                assert block.mean() == pytest.approx(amp.bias, abs=0.05)


def test_signal_in_electrons_divided_by_gain(tmp_path):
    image = np.full((2051, 4096), 1600.0, dtype=np.float32)
    path = write_raw(tmp_path / "igain01q_raw.fits", [image, image], "WFC3/UVIS",
                     read_noise=0, gain={"C": 1.6, "D": 1.0}, bias=0.0)
    with fits.open(path) as hdul:
        sci = hdul[1].data
        assert sci[100, 100] == 1000 and sci[100, 3000] == 1600
        assert sci[100, 10] == 0  # prescan: bias only


def test_saturates_at_65535(tmp_path):
    image = np.full((2048, 4096), 1e6, dtype=np.float32)
    path = write_raw(tmp_path / "jsat0001q_raw.fits", [image, image], "ACS/WFC", seed=0)
    assert fits.getdata(path, 1)[500, 500] == 65535


def test_same_seed_same_bytes(tmp_path):
    a = write_example_raw(tmp_path / "ja00000aq_raw.fits", "WFC3/UVIS", seed=5)
    b = write_example_raw(tmp_path / "jb00000aq_raw.fits", "WFC3/UVIS", seed=5)
    c = write_example_raw(tmp_path / "jc00000aq_raw.fits", "WFC3/UVIS", seed=6)

    def pixels(path):
        with fits.open(path) as hdul:
            return [hdul[i].data.copy() for i in (1, 4)]

    assert all(np.array_equal(x, y) for x, y in zip(pixels(a), pixels(b)))
    assert not np.array_equal(pixels(a)[0], pixels(c)[0])
    # Only the file name differs in the bytes (FILENAME, ROOTNAME).
    raw_a, raw_b = a.read_bytes(), b.read_bytes()
    assert len(raw_a) == len(raw_b)
    assert raw_a.replace(b"ja00000aq", b"jb00000aq") == raw_b


def test_atomic_write_leaves_no_temporary(tmp_path):
    write_example_raw(tmp_path / "jtmp0001q_raw.fits")
    assert [p.name for p in tmp_path.iterdir()] == ["jtmp0001q_raw.fits"]


def test_bad_input(tmp_path):
    image = np.zeros((2048, 4096), dtype=np.float32)
    with pytest.raises(UnsupportedInstrumentError, match="unknown instrument 'WFC3/IR'"):
        write_raw(tmp_path / "x_raw.fits", [image, image], "WFC3/IR")
    with pytest.raises(ShapeError, match=r"science area is \(2051, 4096\)"):
        write_raw(tmp_path / "x_raw.fits", [image, image], "WFC3/UVIS")
    with pytest.raises(CelestialClassError, match="CCDCHIP"):
        write_raw(tmp_path / "x_raw.fits", {1: image, 3: image}, "ACS/WFC")
    with pytest.raises(CelestialClassError, match="unknown amplifier"):
        write_raw(tmp_path / "x_raw.fits", [image, image], "ACS/WFC", gain={"E": 1.0})
    with pytest.raises(CelestialClassError, match="gain must be positive"):
        write_raw(tmp_path / "x_raw.fits", [image, image], "ACS/WFC", gain=0)
    with pytest.raises(CelestialClassError, match="NaN"):
        write_raw(tmp_path / "x_raw.fits", [image, image * np.nan], "ACS/WFC")
    with pytest.raises(CelestialClassError, match="output directory does not exist"):
        write_raw(tmp_path / "missing" / "x_raw.fits", [image, image], "ACS/WFC")
    with pytest.raises(CelestialClassError, match="unit must be one of"):
        write_raw(tmp_path / "x_raw.fits", [image, image], "ACS/WFC", unit="Jy")
    path = write_raw(tmp_path / "x_raw.fits", [image, image], "ACS/WFC")
    with pytest.raises(CelestialClassError, match="file exists"):
        write_raw(path, [image, image], "ACS/WFC")
    write_raw(path, [image, image], "ACS/WFC", overwrite=True)

"""`Preprocess.read_image`: the reader's table look-up gives exactly ``image(read(path))``."""

import numpy as np
import pytest
from astropy.io import fits

from celestialclass.exceptions import CelestialClassError, HDUError
from celestialclass.io.instruments import LAYOUTS
from celestialclass.preprocess import Preprocess
from celestialclass.simulate import write_raw


@pytest.fixture(scope="module", params=["ACS/WFC", "WFC3/UVIS"])
def sky_raw(request, tmp_path_factory):
    """A raw file with the default bias, gain and read noise over a sky with stars and a saturated patch."""
    layout = LAYOUTS[request.param]
    rng = np.random.default_rng(5)
    images = {}
    for chip in layout.chips:
        image = rng.poisson(300.0, chip.trimmed_shape("science")).astype(np.float32)
        image.flat[rng.integers(0, image.size, 300)] += 50000.0  # point sources, some saturating
        image[100:140, 2040:2060] = 2e6  # across the amplifier boundary, clipped to 65535 DN
        images[chip.ccdchip] = image
    prefix = "j" if layout.instrument == "ACS" else "i"
    path = tmp_path_factory.mktemp("sky") / f"{prefix}sky001q_raw.fits"
    return write_raw(path, images, layout.name, seed=3)


@pytest.mark.parametrize("trim", ["lcid", "science"])
@pytest.mark.parametrize("subtract_bias", [True, False])
@pytest.mark.parametrize("hdu", [1, 4])
def test_read_image_is_image_of_read(sky_raw, hdu, subtract_bias, trim):
    samples = []

    class Recording(Preprocess):
        def _elementwise(self, sample):
            samples.append(np.sort(sample, axis=None))
            return super()._elementwise(sample)

    p = Recording(trim=trim, subtract_bias=subtract_bias)
    expected = p.image(p.read(sky_raw, hdu=hdu))
    image = p.read_image(sky_raw, hdu=hdu)
    assert image.dtype == np.float32 and image.shape == expected.shape
    np.testing.assert_array_equal(image, expected)
    # Sky and noise come from the same pixels: the chip's every 8th row and column.
    assert len(samples) == 2
    np.testing.assert_array_equal(samples[1], samples[0])


def test_read_image_selects_by_ccdchip_and_open_files(sky_raw):
    p = Preprocess()
    np.testing.assert_array_equal(p.read_image(sky_raw, chip=1), p.read_image(sky_raw, hdu=4))
    # An HDUList the caller opened holds scaled floats: no table, the same values.
    with fits.open(sky_raw) as hdul:
        np.testing.assert_array_equal(p.read_image(hdul, hdu=1), p.read_image(sky_raw, hdu=1))


@pytest.mark.parametrize("preprocess", [Preprocess(scaling="none"), Preprocess(resize=(224, 448))])
def test_read_image_without_the_table(sky_raw, preprocess):
    np.testing.assert_array_equal(preprocess.read_image(sky_raw, hdu=4),
                                  preprocess.image(preprocess.read(sky_raw, hdu=4)))


def test_read_image_wants_one_chip(sky_raw):
    with pytest.raises(CelestialClassError, match="reads one chip"):
        Preprocess().read_image(sky_raw)
    with pytest.raises(HDUError, match="HDU 2"):
        Preprocess().read_image(sky_raw, hdu=2)


@pytest.mark.parametrize("preprocess", [Preprocess(), Preprocess(scaling="none"), Preprocess(resize=(224, 448))])
def test_pixels_image_into_a_given_array(sky_raw, preprocess):
    """``out`` (a reused array, its old values arbitrary) changes nothing but where the image is written."""
    from celestialclass.io import RawFile

    with RawFile(sky_raw) as raw:
        pixels = preprocess.chip_pixels(raw, hdu=4)
        expected = preprocess.pixels_image(pixels)
        out = np.full(pixels.shape, np.nan, np.float32)
        image = preprocess.pixels_image(pixels, out=out)
        np.testing.assert_array_equal(image, expected)
        assert (image is out) == (preprocess.resize is None)
        with pytest.raises(CelestialClassError, match=r"out must be a float32 array of shape \(2048, 4096\)"):
            preprocess.pixels_image(pixels, out=np.empty((2048, 4096), np.float64))

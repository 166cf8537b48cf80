"""Write full raw frames (``*_raw.fits``) from science-area images: the inverse of `celestialclass.io`."""

from __future__ import annotations

import pathlib
from collections.abc import Mapping, Sequence

import numpy as np
from astropy.io import fits

from ..exceptions import CelestialClassError, ShapeError
from ..io.instruments import ChipLayout, DetectorLayout, get_layout
from ..utils.files import atomic_path

__all__ = ["write_raw"]

_UNITS = ("electron", "adu")
_DN_MAX = 65535


def _per_amp(value, name: str, layout: DetectorLayout, attribute: str) -> dict[str, float]:
    """Per-amplifier values: the layout's defaults, a scalar for all, or a mapping by letter."""
    values = {letter: getattr(amp, attribute) for letter, amp in layout.amplifiers.items()}
    if value is None:
        return values
    if isinstance(value, Mapping):
        unknown = set(value) - set(values)
        if unknown:
            raise CelestialClassError(
                f"{name} names unknown amplifier(s) {sorted(unknown)}; {layout.name} has {sorted(values)}"
            )
        values.update({k: float(v) for k, v in value.items()})
    else:
        values = {letter: float(value) for letter in values}
    if name == "gain" and any(v <= 0 for v in values.values()):
        raise CelestialClassError(f"gain must be positive, got {values}")
    if any(v < 0 for v in values.values()):
        raise CelestialClassError(f"{name} must not be negative, got {values}")
    return values


def _images_by_chip(images, layout: DetectorLayout) -> dict[int, np.ndarray]:
    if isinstance(images, Mapping):
        by_chip = dict(images)
    elif isinstance(images, Sequence) and not isinstance(images, (str, bytes)):
        if len(images) != len(layout.chips):
            raise CelestialClassError(
                f"{layout.name} has {len(layout.chips)} chips; got {len(images)} images"
            )
        by_chip = {chip.ccdchip: image for chip, image in zip(layout.chips, images)}
    else:
        raise CelestialClassError(
            "images must be a mapping {CCDCHIP: array} or a sequence of arrays in HDU order"
        )
    expected = {chip.ccdchip for chip in layout.chips}
    if set(by_chip) != expected:
        raise CelestialClassError(
            f"images must be given for CCDCHIP {sorted(expected)} of {layout.name}, got {sorted(by_chip)}"
        )
    return by_chip


def _amp_columns(chip: ChipLayout, ncols: int) -> list[tuple[int, int]]:
    """Raw column range read by each amplifier (prescan, science and its overscan)."""
    left, right = chip.amplifiers
    boundary = (left.science_cols[1] + right.science_cols[0]) // 2
    return [(0, boundary), (boundary, ncols)]


def _frame(image: np.ndarray, chip: ChipLayout, layout: DetectorLayout, unit: str,
           gain: dict, read_noise: dict, bias: dict, rng: np.random.Generator) -> np.ndarray:
    """One chip's raw uint16 frame: bias + read noise everywhere, signal in the science area."""
    rows, cols = layout.raw_shape
    frame = np.empty((rows, cols), dtype=np.float32)
    r0, r1 = chip.science_rows
    col = 0
    for amp, (a0, a1) in zip(chip.amplifiers, _amp_columns(chip, cols)):
        region = frame[:, a0:a1]
        sigma_dn = read_noise[amp.name] / gain[amp.name]
        if sigma_dn > 0:
            noise = rng.standard_normal(region.shape, dtype=np.float32)
            noise *= np.float32(sigma_dn)
            np.add(noise, np.float32(bias[amp.name]), out=region)
        else:
            region[...] = bias[amp.name]
        c0, c1 = amp.science_cols
        signal = image[:, col:col + (c1 - c0)]
        if unit == "electron":
            signal = signal / np.float32(gain[amp.name])
        frame[r0:r1, c0:c1] += signal
        col += c1 - c0
    np.rint(frame, out=frame)
    np.clip(frame, 0, _DN_MAX, out=frame)
    return frame.astype(np.uint16)


def _primary_header(layout: DetectorLayout, rootname: str, gain: dict, read_noise: dict,
                    extra: Mapping | None) -> fits.Header:
    hdr = fits.Header()
    hdr["NEXTEND"] = (3 * len(layout.chips), "Number of standard extensions")
    hdr["FILENAME"] = (f"{rootname}_raw.fits", "name of file")
    hdr["FILETYPE"] = ("SCI", "type of data found in data file")
    hdr["TELESCOP"] = ("HST", "telescope used to acquire data")
    hdr["INSTRUME"] = (layout.instrument, "identifier for instrument used to acquire data")
    hdr["EQUINOX"] = (2000.0, "equinox of celestial coord. system")
    hdr["ROOTNAME"] = (rootname, "rootname of the observation set")
    hdr["IMAGETYP"] = ("EXT", "type of exposure identifier")
    hdr["PRIMESI"] = (layout.instrument, "instrument designated as prime")
    hdr["TARGNAME"] = ("SIMULATED", "proposer's target name")
    hdr["RA_TARG"] = (0.0, "right ascension of the target (deg) (J2000)")
    hdr["DEC_TARG"] = (0.0, "declination of the target (deg) (J2000)")
    hdr["PROPOSID"] = (0, "PEP proposal identifier")
    hdr["OBSTYPE"] = ("IMAGING", "observation type - imaging or spectroscopic")
    hdr["OBSMODE"] = ("ACCUM", "operating mode")
    hdr["DETECTOR"] = (layout.detector, "detector in use")
    hdr["SUBARRAY"] = (False, "data from a subarray (T) or full frame (F)")
    hdr["APERTURE"] = (layout.detector, "aperture name")
    if layout.filter_keywords == ("FILTER1", "FILTER2"):
        hdr["FILTER1"] = ("F606W", "element selected from filter wheel 1")
        hdr["FILTER2"] = ("CLEAR2L", "element selected from filter wheel 2")
    else:
        for key in layout.filter_keywords:
            hdr[key] = ("F606W", "element selected from filter wheel")
    hdr["EXPTIME"] = (500.0, "exposure duration (seconds)--calculated")
    hdr["EXPSTART"] = (58000.0, "exposure start time (Modified Julian Date)")
    hdr["EXPEND"] = (58000.0 + 500.0 / 86400, "exposure end time (Modified Julian Date)")
    hdr["BINAXIS1"] = (1, "axis1 data bin size in unbinned detector pixels")
    hdr["BINAXIS2"] = (1, "axis2 data bin size in unbinned detector pixels")
    hdr["CCDAMP"] = ("ABCD", "CCD amplifier read out configuration")
    hdr["CCDGAIN"] = (round(float(np.mean(list(gain.values()))), 1), "commanded gain of CCD")
    for letter in "ABCD":
        hdr[f"CCDOFST{letter}"] = (3, f"commanded CCD bias offset for amplifier {letter}")
    for letter in "ABCD":
        hdr[f"ATODGN{letter}"] = (gain[letter], f"calibrated gain for amplifier {letter}")
    for letter in "ABCD":
        hdr[f"READNSE{letter}"] = (read_noise[letter], f"calibrated read noise for amplifier {letter}")
    for letter in "ABCD":
        hdr[f"BIASLEV{letter}"] = (0.0, f"bias level for amplifier {letter}")
    if layout.instrument == "ACS":
        hdr["JWROTYPE"] = ("DS_INT", "CCD readout type")
    for switch in ("DQICORR", "BLEVCORR", "BIASCORR", "DARKCORR", "FLATCORR", "SHADCORR",
                   "PHOTCORR", "CRCORR", "DRIZCORR"):
        hdr[switch] = ("PERFORM", "calibration switch")
    hdr["CAL_VER"] = ("", "CALACS/CALWF3 code version (set by the pipeline)")
    hdr["ORIGIN"] = ("celestialclass", "FITS file originator")
    if extra:
        for key, value in extra.items():
            hdr[key] = value
    return hdr


def _sci_header(chip: ChipLayout, layout: DetectorLayout, primary: fits.Header) -> fits.Header:
    hdr = fits.Header()
    hdr["EXTNAME"] = "SCI"
    hdr["EXTVER"] = chip.extver
    hdr["BUNIT"] = ("COUNTS", "brightness units")
    hdr["CCDCHIP"] = (chip.ccdchip, "CCD chip (1 or 2)")
    hdr["LTV1"] = (float(chip.amplifiers[0].science_cols[0]), "offset in X to subsection start")
    hdr["LTV2"] = (float(chip.science_rows[0]), "offset in Y to subsection start")
    hdr["LTM1_1"] = (1.0, "reciprocal of sampling rate in X")
    hdr["LTM2_2"] = (1.0, "reciprocal of sampling rate in Y")
    rows, cols = layout.raw_shape
    scale = layout.pixel_scale / 3600.0
    # A basic TAN WCS at the chip centre; raw WCS is not for astrometry.
    offset = 0.0 if len(layout.chips) == 1 else (chip.extver - 1.5) * rows * scale
    hdr["WCSAXES"] = 2
    hdr["CTYPE1"] = "RA---TAN"
    hdr["CTYPE2"] = "DEC--TAN"
    hdr["CRPIX1"] = (cols + 1) / 2
    hdr["CRPIX2"] = (rows + 1) / 2
    hdr["CRVAL1"] = float(primary.get("RA_TARG", 0.0))
    hdr["CRVAL2"] = float(primary.get("DEC_TARG", 0.0)) + offset
    hdr["CD1_1"] = -scale
    hdr["CD1_2"] = 0.0
    hdr["CD2_1"] = 0.0
    hdr["CD2_2"] = scale
    hdr["ORIENTAT"] = (0.0, "position angle of image y axis (deg. e of n)")
    hdr["SIZAXIS1"] = (cols, "subarray axis1 size in unbinned detector pixels")
    hdr["SIZAXIS2"] = (rows, "subarray axis2 size in unbinned detector pixels")
    return hdr


def _constant_extension(name: str, extver: int, shape: tuple[int, int], value: float) -> fits.ImageHDU:
    """An ERR or DQ extension in STScI's NPIX/PIXVALUE convention (no data array)."""
    hdu = fits.ImageHDU(name=name, ver=extver)
    hdu.header["NPIX1"] = (shape[1], "length of constant array axis 1")
    hdu.header["NPIX2"] = (shape[0], "length of constant array axis 2")
    hdu.header["PIXVALUE"] = (value, "values of pixels in constant array")
    return hdu


def write_raw(path, images, instrument: str = "ACS/WFC", *, unit: str = "electron",
              header: Mapping | None = None, gain=None, read_noise=None, bias=None,
              seed=None, overwrite: bool = False) -> pathlib.Path:
    """Write science-area images as a full-frame raw HST exposure (``*_raw.fits``).

    Each chip's image is laid into a raw frame with the instrument's
    prescan, serial and parallel overscan; every pixel, overscan included,
    gets its amplifier's bias level and Gaussian read noise; the science
    pixels get the signal divided by the amplifier's gain. The frame is
    rounded and clipped to 0..65535 DN and written as 16-bit integers
    (``BZERO=32768``) with the HDU structure and headers of a real raw
    file: SCI, ERR and DQ per chip, chip 2 first. The file is written
    atomically (temporary file, then rename).

    Parameters
    ----------
    path : str or path-like
        Output file, conventionally ``<rootname>_raw.fits``.
    images : mapping or sequence of 2-D arrays
        The science area of each chip, ``{CCDCHIP: image}`` or a sequence
        in HDU order; 2048 x 4096 on ACS/WFC, 2051 x 4096 on WFC3/UVIS
        (rows in raw-array order, amplifier halves side by side).
    instrument : {'ACS/WFC', 'WFC3/UVIS'}, optional
        The detector layout.
    unit : {'electron', 'adu'}, optional
        Unit of ``images``. Photon noise is the caller's: images are
        written as given.
    header : mapping, optional
        Primary-header keywords to set (``EXPTIME``, ``FILTER1``,
        ``TARGNAME``, ``RA_TARG``, ...), as values or (value, comment).
    gain, read_noise, bias : float or mapping, optional
        Per-amplifier gain (e-/DN), read noise (e-) and bias level (DN): a
        scalar for every amplifier or ``{'A': value, ...}``; defaults come
        from the instrument layout.
    seed : int or `numpy.random.Generator`, optional
        Seed of the read noise; the same seed writes the same bytes.
    overwrite : bool, optional
        Replace an existing file.

    Returns
    -------
    path : `pathlib.Path`
        The file written.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from celestialclass.simulate import write_raw
    >>> from astropy.io import fits
    >>> sky = np.full((2048, 4096), 100.0, dtype=np.float32)  # electrons
    >>> path = write_raw(os.path.join(tempfile.mkdtemp(), "jsky0001q_raw.fits"),
    ...                  {1: sky, 2: sky}, "ACS/WFC", read_noise=0, seed=0)
    >>> with fits.open(path) as hdul:
    ...     print([(h.name, h.ver) for h in hdul], hdul[1].data.shape, hdul[1].data[0, 24])
    [('PRIMARY', 1), ('SCI', 1), ('ERR', 1), ('DQ', 1), ('SCI', 2), ('ERR', 2), ('DQ', 2)] (2068, 4144) 2052
    """
    layout = get_layout(instrument)
    if unit not in _UNITS:
        raise CelestialClassError(f"unit must be one of {_UNITS}, got {unit!r}")
    path = pathlib.Path(path)
    if path.exists() and not overwrite:
        raise CelestialClassError("file exists; pass overwrite=True (--overwrite on the command line) to replace it",
                                  path=path)
    if not path.parent.is_dir():
        raise CelestialClassError("output directory does not exist", path=path)
    gains = _per_amp(gain, "gain", layout, "gain")
    noises = _per_amp(read_noise, "read_noise", layout, "read_noise")
    biases = _per_amp(bias, "bias", layout, "bias")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)

    by_chip = _images_by_chip(images, layout)
    rootname = path.name.split("_raw")[0].split(".")[0]
    primary = _primary_header(layout, rootname, gains, noises, header)
    hdus = [fits.PrimaryHDU(header=primary)]
    for chip in layout.chips:
        image = np.asarray(by_chip[chip.ccdchip], dtype=np.float32)
        expected = chip.trimmed_shape("science")
        if image.shape != expected:
            raise ShapeError(
                f"image for CCDCHIP={chip.ccdchip} ({chip.name}) has shape {image.shape}; "
                f"the {layout.name} science area is {expected}", path=path,
            )
        if not np.isfinite(image).all():
            raise CelestialClassError(
                f"image for CCDCHIP={chip.ccdchip} ({chip.name}) has NaN or infinite pixels", path=path
            )
        frame = _frame(image, chip, layout, unit, gains, noises, biases, rng)
        hdus.append(fits.ImageHDU(frame, header=_sci_header(chip, layout, primary),
                                  name="SCI", ver=chip.extver))
        hdus.append(_constant_extension("ERR", chip.extver, layout.raw_shape, 0.0))
        hdus.append(_constant_extension("DQ", chip.extver, layout.raw_shape, 0))

    try:
        with atomic_path(path) as tmp:
            fits.HDUList(hdus).writeto(tmp, overwrite=True)
    except OSError as exc:
        raise CelestialClassError(f"cannot write the file ({exc.strerror or exc})", path=path) from None
    return path

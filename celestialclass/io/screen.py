"""Is this a science image of the sky? Refuse bias, dark and flat frames and empty or saturated readouts.

A classifier asked about a bias frame still answers "galaxy" or "nebula/star
cluster", often with high confidence, so `celestialclass.CelestialClassifier`
screens each chip before classifying it and refuses (`NotScienceError`,
with the reason) what is not an image of the sky:

* the raw header says so: ``IMAGETYP`` other than ``'EXT'`` (HST's
  external, i.e. sky, exposures; ``'BIAS'``, ``'DARK'``, ``'FLAT'`` are
  internal calibration frames), or ``EXPTIME`` of 0;
* the pixels say so: every sampled pixel reads the same value (an empty
  readout, or a file whose scaling makes it constant, such as
  ``BSCALE = 0``), or at least `SATURATED_FRACTION` of them sit at the
  16-bit ADC limit (65535 DN).

A chip of plain sky next to an object that falls on the other chip is a
science image and is classified; use ``min_confidence`` to leave such chips
unanswered.
"""

from __future__ import annotations

import numpy as np

from ..exceptions import NotScienceError

__all__ = ["SCIENCE_IMAGETYP", "SATURATED_FRACTION", "ADC_LIMIT", "NotScienceError", "check_exposure",
           "check_readout", "check_image"]

#: ``IMAGETYP`` of an exposure of the sky.
SCIENCE_IMAGETYP = "EXT"
#: What each other ``IMAGETYP`` is, for messages.
CALIBRATION_FRAMES = {"BIAS": "a bias frame", "DARK": "a dark frame", "FLAT": "a flat field"}
#: Fraction of pixels at `ADC_LIMIT` from which a readout counts as saturated.
SATURATED_FRACTION = 0.5
#: The 16-bit ADC's largest value (DN).
ADC_LIMIT = 65535
#: Every ``STRIDE``-th row and column is screened (enough to tell; cheap on a full chip).
STRIDE = 8


def check_exposure(header, source: str | None = None) -> None:
    """Refuse a raw file whose primary header says it is not an exposure of the sky.

    A header without ``IMAGETYP`` or ``EXPTIME`` passes: only what a header
    says is judged.

    Raises
    ------
    celestialclass.exceptions.NotScienceError

    Examples
    --------
    >>> from astropy.io import fits
    >>> from celestialclass.io.screen import NotScienceError, check_exposure
    >>> check_exposure(fits.Header({"IMAGETYP": "EXT", "EXPTIME": 500.0}))
    >>> try:
    ...     check_exposure(fits.Header({"IMAGETYP": "BIAS", "EXPTIME": 0.0}), "j1_raw.fits")
    ... except NotScienceError as exc:
    ...     print(exc)
    j1_raw.fits: IMAGETYP = 'BIAS': a bias frame, not an exposure of the sky; not classified
    """
    kind = header.get("IMAGETYP")
    if isinstance(kind, str) and kind.strip() and kind.strip().upper() != SCIENCE_IMAGETYP:
        what = CALIBRATION_FRAMES.get(kind.strip().upper(), "a calibration exposure")
        raise NotScienceError(f"IMAGETYP = {kind.strip()!r}: {what}, not an exposure of the sky; not classified",
                              path=source)
    exptime = header.get("EXPTIME")
    if isinstance(exptime, (int, float)) and not isinstance(exptime, bool) and exptime <= 0:
        raise NotScienceError(f"EXPTIME = {exptime:g}: no light reached the detector; not classified", path=source)


def _judge(sample: np.ndarray, source: str | None, hdu: int | None, adc_limit: float | None) -> None:
    finite = sample[np.isfinite(sample)]
    if finite.size == 0:
        return  # the preprocessing reports non-finite chips
    if adc_limit is not None:
        saturated = float(np.mean(finite >= adc_limit))
        if saturated >= SATURATED_FRACTION:
            raise NotScienceError(f"a saturated readout: {100 * saturated:.0f} % of pixels at the ADC limit "
                                  f"({adc_limit:g} DN); not classified", path=source, hdu=hdu)
    low, high = float(finite.min()), float(finite.max())
    if low == high:
        raise NotScienceError(f"an empty readout: every pixel reads {low:g}; not classified", path=source, hdu=hdu)


def check_readout(pixels) -> None:
    """Refuse a raw chip (`~celestialclass.io.ChipPixels`) whose pixels are constant or mostly saturated.

    Judges every `STRIDE`-th row and column of the stored values, in DN
    (FITS scaling applied, no bias subtracted).
    """
    samples = [amp.stored[::STRIDE, ::STRIDE].astype(np.float64) * amp.bscale + amp.bzero
               for amp in pixels.amplifiers]
    path = pixels.source.rsplit("[HDU ", 1)[0]
    _judge(np.concatenate([s.ravel() for s in samples]), path, pixels.hdu, ADC_LIMIT)


def check_image(image, source: str | None = None) -> None:
    """Refuse an in-memory chip (array or `~astropy.nddata.CCDData`) that is constant or whose header says it is no sky.

    Saturation is judged on raw files only (an in-memory chip's units and
    bias are not known here).
    """
    meta = getattr(image, "meta", None)
    if meta is not None:
        check_exposure(meta, source)
    data = np.asarray(getattr(image, "data", image))
    if data.ndim == 2 and data.dtype.kind in "uif":
        _judge(data[::STRIDE, ::STRIDE], source, None, None)

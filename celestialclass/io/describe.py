"""Summaries of raw files: what they hold and whether celestialclass can read them."""

from __future__ import annotations

import os

from astropy.io import fits

from ..exceptions import CelestialClassError
from .raw import RawFile, RawSource

__all__ = ["describe_raw", "filter_name", "instrument_name"]


_FILTER_KEYWORDS = ("FILTER", "FILTER1", "FILTER2")


def filter_name(header) -> str | None:
    """The filter(s) a header names, CLEAR wheel positions left out (``'F606W'``, ``'F658N+F550M'``).

    Examples
    --------
    >>> from celestialclass.io import filter_name
    >>> filter_name({"FILTER1": "F658N", "FILTER2": "CLEAR2L"}), filter_name({"FILTER": "F606W"})
    ('F658N', 'F606W')
    """
    names = [str(header.get(key, "")).strip() for key in _FILTER_KEYWORDS]
    names = [n for n in names if n and not n.upper().startswith("CLEAR")]
    return "+".join(names) if names else ("CLEAR" if any(header.get(k) for k in _FILTER_KEYWORDS) else None)


def instrument_name(header) -> str | None:
    """``INSTRUME/DETECTOR`` as the manifests spell it (``'ACS/WFC'``), or what of it the header has.

    Examples
    --------
    >>> from celestialclass.io import instrument_name
    >>> instrument_name({"INSTRUME": "WFC3", "DETECTOR": "UVIS"})
    'WFC3/UVIS'
    """
    instrument = str(header.get("INSTRUME", "")).strip() or None
    detector = str(header.get("DETECTOR", "")).strip() or None
    return f"{instrument}/{detector}" if instrument and detector else instrument


def describe_raw(path: RawSource) -> dict:
    """Describe a raw exposure without reading its pixels.

    Parameters
    ----------
    path : str, path-like, `~astropy.io.fits.HDUList` or `RawFile`
        The file to describe. Unsupported or broken files are described
        too: ``supported`` is then False and ``reason`` says why.

    Returns
    -------
    info : dict
        ``file``, ``supported`` (bool), ``reason`` (str or None),
        ``instrument`` (e.g. ``'ACS/WFC'``), ``detector``, ``filter``,
        ``exptime`` (s), ``target`` and ``chips``: one dict per SCI chip with
        ``hdu``, ``ccdchip``, ``name``, ``amplifiers``, ``raw_shape``,
        ``science_shape`` and ``lcid_shape`` (rows, columns).

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from celestialclass.io import describe_raw
    >>> from celestialclass.simulate import write_raw
    >>> science = np.zeros((2051, 4096), dtype=np.float32)
    >>> path = write_raw(os.path.join(tempfile.mkdtemp(), "iexample1q_raw.fits"),
    ...                  {1: science, 2: science}, "WFC3/UVIS", seed=1)
    >>> info = describe_raw(path)
    >>> info["instrument"], info["supported"]
    ('WFC3/UVIS', True)
    >>> [(c["name"], c["raw_shape"], c["lcid_shape"]) for c in info["chips"]]
    [('UVIS2', (2070, 4206), (2048, 4096)), ('UVIS1', (2070, 4206), (2048, 4096))]
    """
    if isinstance(path, RawFile):
        return _describe(path)
    try:
        raw = RawFile(path)
    except CelestialClassError as exc:
        name = path.filename() if isinstance(path, fits.HDUList) else path
        name = os.fspath(name) if isinstance(name, (str, os.PathLike)) else repr(name)
        return {**_UNKNOWN, "file": str(name) if name else "<HDUList>", "reason": str(exc)}
    with raw:
        return _describe(raw)


_UNKNOWN = {"file": None, "supported": False, "reason": None, "instrument": None, "detector": None,
            "filter": None, "exptime": None, "target": None, "chips": []}


def _describe(raw: RawFile) -> dict:
    info = {**_UNKNOWN, "file": str(raw.name), "chips": []}
    try:
        primary = raw.primary
        info.update(
            instrument=instrument_name(primary),
            detector=str(primary.get("DETECTOR", "")).strip() or None,
            filter=filter_name(primary),
            exptime=float(primary["EXPTIME"]) if "EXPTIME" in primary else None,
            target=str(primary.get("TARGNAME", "")).strip() or None,
        )
        info["chips"] = raw.chips()
    except CelestialClassError as exc:
        info["reason"] = str(exc)
        return info
    info["supported"] = True
    return info

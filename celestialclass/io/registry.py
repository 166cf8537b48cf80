"""Registration of the ``hst_raw`` format with astropy's unified I/O."""

from __future__ import annotations

from astropy.io import registry
from astropy.nddata import CCDData

from ..exceptions import HDUError

__all__ = ["register", "FORMAT"]

#: Name of the format in astropy's I/O registry.
FORMAT = "hst_raw"


def _ccddata_reader(filename, hdu=None, chip=None, trim="lcid", subtract_bias=False):
    """Read one trimmed chip of a raw HST exposure (``CCDData.read(..., format='hst_raw')``).

    Parameters
    ----------
    filename : str or path-like
        A full-frame ``*_raw.fits`` file.
    hdu, chip : int
        Which chip to read: an HDU index (1 or 4) or a ``CCDCHIP`` (1 or 2).
        One of them is required, since `~astropy.nddata.CCDData.read` returns
        a single image; use `celestialclass.io.read_raw` for all chips.
    trim, subtract_bias
        As in `celestialclass.io.read_raw`.
    """
    if hdu is None and chip is None:
        raise HDUError(
            "CCDData.read(..., format='hst_raw') reads one chip: give hdu= (1 or 4) or chip= (1 or 2);"
            " celestialclass.io.read_raw(path) returns every chip",
            path=filename,
        )
    from .raw import read_raw  # not at the top: `register` runs while astropy.nddata is being imported

    return read_raw(filename, hdu=hdu, chip=chip, trim=trim, subtract_bias=subtract_bias)


def register() -> None:
    """Register the ``hst_raw`` reader for `~astropy.nddata.CCDData` (idempotent)."""
    try:
        registry.register_reader(FORMAT, CCDData, _ccddata_reader)
    except registry.IORegistryError:  # already registered (module reloaded)
        pass

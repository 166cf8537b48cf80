"""Declarative layouts of the raw readouts celestialclass understands.

Every slice used to read (`celestialclass.io.read_raw`) or write
(`celestialclass.simulate.write_raw`) a raw file lives here, once. A new
detector (say, a CSST one) is a new `DetectorLayout` entry in `LAYOUTS`, not a
new code path.

All row/column ranges are 0-based numpy ranges on the raw SCI array, end
excluded: ``data[rows[0]:rows[1], cols[0]:cols[1]]``. Their sources are
listed in the raw-format specification (ACS Data Handbook, WFC3 Instrument
Handbook, hstcal, CRDS); see the I/O page of the documentation.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "AmplifierLayout",
    "ChipLayout",
    "DetectorLayout",
    "LAYOUTS",
    "get_layout",
    "find_layout",
]


Range = tuple[int, int]


@dataclass(frozen=True)
class AmplifierLayout:
    """One amplifier's columns on a raw chip.

    Parameters
    ----------
    name : str
        Amplifier letter (``'A'`` .. ``'D'``).
    science_cols : tuple of int
        Raw columns of the science pixels this amplifier reads.
    overscan_cols : tuple of int
        Raw columns used to measure this amplifier's bias level (over the
        chip's science rows). They skip the columns nearest the science edge.
    gain : float
        Default gain in electrons per DN, used when writing raw files.
    read_noise : float
        Default read noise in electrons, used when writing raw files.
    bias : float
        Default bias level in DN, used when writing raw files.
    """

    name: str
    science_cols: Range
    overscan_cols: Range
    gain: float
    read_noise: float
    bias: float


@dataclass(frozen=True)
class ChipLayout:
    """One CCD chip of a raw file.

    Parameters
    ----------
    name : str
        Conventional chip name (``'WFC1'``, ``'UVIS2'``, ...).
    ccdchip : int
        Value of the SCI header's ``CCDCHIP`` keyword.
    extver : int
        ``EXTVER`` of the chip's SCI extension; the SCI HDU index is
        ``3 * (extver - 1) + 1``.
    science_rows : tuple of int
        Raw rows holding science pixels (``trim='science'``).
    lcid_rows : tuple of int
        Raw rows kept by the paper's 2048-row crop (``trim='lcid'``).
    amplifiers : tuple of AmplifierLayout
        The amplifiers, left to right; their science columns are stacked in
        this order to form the trimmed chip.
    """

    name: str
    ccdchip: int
    extver: int
    science_rows: Range
    lcid_rows: Range
    amplifiers: tuple[AmplifierLayout, ...]

    @property
    def hdu(self) -> int:
        """Index of the chip's SCI HDU in a full-frame raw file."""
        return 3 * (self.extver - 1) + 1

    @property
    def amplifier_names(self) -> str:
        """Amplifier letters, left to right (e.g. ``'AB'``)."""
        return "".join(amp.name for amp in self.amplifiers)

    def rows(self, trim: str) -> Range:
        """Raw rows kept by a trim mode (``'lcid'`` or ``'science'``)."""
        return {"lcid": self.lcid_rows, "science": self.science_rows}[trim]

    def trimmed_shape(self, trim: str) -> tuple[int, int]:
        """Shape (rows, columns) of the chip after trimming."""
        first, last = self.rows(trim)
        ncols = sum(a.science_cols[1] - a.science_cols[0] for a in self.amplifiers)
        return (last - first, ncols)


@dataclass(frozen=True)
class DetectorLayout:
    """A supported instrument/detector readout: full frame, unbinned, four amplifiers.

    Parameters
    ----------
    name : str
        The LCID manifests' spelling, e.g. ``'ACS/WFC'``.
    instrument, detector : str
        Values of the primary header's ``INSTRUME`` and ``DETECTOR``.
    raw_shape : tuple of int
        Shape (rows, columns) of each raw SCI array.
    chips : tuple of ChipLayout
        The chips in HDU order.
    filter_keywords : tuple of str
        Primary-header keywords that name the filter(s).
    pixel_scale : float
        Pixel scale in arcsec per pixel.
    """

    name: str
    instrument: str
    detector: str
    raw_shape: tuple[int, int]
    chips: tuple[ChipLayout, ...]
    filter_keywords: tuple[str, ...]
    pixel_scale: float

    @property
    def ccdchips(self) -> tuple[int, ...]:
        """The ``CCDCHIP`` values of the layout's chips."""
        return tuple(chip.ccdchip for chip in self.chips)

    def chip(self, ccdchip: int) -> ChipLayout:
        """The layout of chip ``ccdchip`` (a ``CCDCHIP`` value)."""
        for chip in self.chips:
            if chip.ccdchip == ccdchip:
                return chip
        raise KeyError(ccdchip)

    @property
    def amplifiers(self) -> dict[str, AmplifierLayout]:
        """All amplifiers by letter."""
        return {amp.name: amp for chip in self.chips for amp in chip.amplifiers}


# ACS/WFC: 24 prescan columns at each outer edge, 20 virtual rows at the edge
# away from the amplifiers, no serial virtual overscan. Gain 2.0 e-/DN, read
# noise 4-5 e- (amp D ~5.6 e- since 2020), bias ~2000 DN with amp offsets of a
# few DN (ACS DHB 4.1, ACS IHB 7.6, calacs trailers).
_ACS_WFC = DetectorLayout(
    name="ACS/WFC",
    instrument="ACS",
    detector="WFC",
    raw_shape=(2068, 4144),
    chips=(
        ChipLayout(
            name="WFC2", ccdchip=2, extver=1,
            science_rows=(0, 2048), lcid_rows=(0, 2048),
            amplifiers=(
                AmplifierLayout("C", (24, 2072), (0, 22), 2.0, 4.5, 2002.0),
                AmplifierLayout("D", (2072, 4120), (4122, 4144), 2.0, 5.6, 2009.0),
            ),
        ),
        ChipLayout(
            name="WFC1", ccdchip=1, extver=2,
            science_rows=(20, 2068), lcid_rows=(20, 2068),
            amplifiers=(
                AmplifierLayout("A", (24, 2072), (0, 22), 2.0, 4.4, 2006.0),
                AmplifierLayout("B", (2072, 4120), (4122, 4144), 2.0, 4.0, 1998.0),
            ),
        ),
    ),
    filter_keywords=("FILTER1", "FILTER2"),
    pixel_scale=0.05,
)

# WFC3/UVIS: 25 prescan columns at each outer edge, 30 + 30 serial virtual
# columns between the amplifiers, 19 parallel virtual rows next to the chip
# gap. The 2048-row LCID crop drops the 3 science rows next to the gap.
# Gains 1.58-1.60 e-/DN (WFC3 DHB 5.1), read noise ~3.1 e- (WFC3 IHB 9). No
# published raw bias level was found: ~2500 DN is an assumption.
_WFC3_UVIS = DetectorLayout(
    name="WFC3/UVIS",
    instrument="WFC3",
    detector="UVIS",
    raw_shape=(2070, 4206),
    chips=(
        ChipLayout(
            name="UVIS2", ccdchip=2, extver=1,
            science_rows=(0, 2051), lcid_rows=(0, 2048),
            amplifiers=(
                AmplifierLayout("C", (25, 2073), (2075, 2103), 1.60, 3.1, 2503.0),
                AmplifierLayout("D", (2133, 4181), (2103, 2131), 1.59, 3.1, 2497.0),
            ),
        ),
        ChipLayout(
            name="UVIS1", ccdchip=1, extver=2,
            science_rows=(19, 2070), lcid_rows=(22, 2070),
            amplifiers=(
                AmplifierLayout("A", (25, 2073), (2075, 2103), 1.58, 3.1, 2506.0),
                AmplifierLayout("B", (2133, 4181), (2103, 2131), 1.58, 3.1, 2494.0),
            ),
        ),
    ),
    filter_keywords=("FILTER",),
    pixel_scale=0.04,
)

#: Supported detector layouts by name.
LAYOUTS: dict[str, DetectorLayout] = {
    layout.name: layout for layout in (_ACS_WFC, _WFC3_UVIS)
}


def get_layout(name: str) -> DetectorLayout:
    """The layout named ``name`` (``'ACS/WFC'`` or ``'WFC3/UVIS'``).

    Raises
    ------
    celestialclass.exceptions.UnsupportedInstrumentError
        If no layout has that name.
    """
    from ..exceptions import UnsupportedInstrumentError

    try:
        return LAYOUTS[name]
    except (KeyError, TypeError):
        raise UnsupportedInstrumentError(
            f"unknown instrument {name!r}; supported: {', '.join(LAYOUTS)}"
        ) from None


def find_layout(instrument: str, detector: str) -> DetectorLayout | None:
    """The layout for primary-header ``INSTRUME``/``DETECTOR`` values, or None."""
    for layout in LAYOUTS.values():
        if (layout.instrument, layout.detector) == (instrument, detector):
            return layout
    return None

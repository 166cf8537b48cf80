"""One simulated raw exposure: a body, a pointing, a filter, an exposure time, both chips."""

from __future__ import annotations

import os
import pathlib
from dataclasses import asdict, dataclass

import numpy as np

from ..exceptions import CelestialClassError
from ..io.instruments import get_layout
from .detector import expose
from .photometry import get_filter, sky_rate
from .render import ChipGrid, render_rate
from .rawfile import write_raw
from .hybrid import bank_body
from .scenes import SUBTYPES, make_body, object_layers, scene_layers
from .visibility import chip_visibility

__all__ = ["ExposurePlan", "plan_exposure", "plan_body", "simulate_exposure", "BLURRY_FILTERS"]

#: Filters of blurry exposures: low-throughput UV and narrow bands (as in LCID-Blurry).
BLURRY_FILTERS = {"ACS/WFC": ("F435W", "F502N", "F658N", "F660N"),
                  "WFC3/UVIS": ("F225W", "F275W", "F336W", "F343N", "F656N", "F658N")}
# How often each filter is used (roughly the LCID test manifest's mix).
_FILTER_WEIGHTS = {
    "ACS/WFC": {"F435W": 12, "F475W": 6, "F502N": 1, "F550M": 1, "F555W": 13, "F606W": 10, "F625W": 2,
                "F658N": 14, "F660N": 1, "F775W": 8, "F814W": 25, "F850LP": 5},
    "WFC3/UVIS": {"F225W": 2, "F275W": 9, "F336W": 15, "F343N": 2, "F350LP": 15, "F438W": 13,
                  "F475W": 4, "F547M": 2, "F555W": 18, "F606W": 2, "F625W": 4, "F656N": 1,
                  "F657N": 2, "F658N": 1, "F814W": 16},
}


@dataclass(frozen=True)
class ExposurePlan:
    """Everything that decides an exposure, derived from seeds alone (no pixels)."""

    kind: str
    subtype: str
    instrument: str
    filter: str
    exptime: float
    seed: int
    body_seed: int
    pointing_u: float
    pointing_v: float
    roll: float
    blur: float
    satellite: bool
    sky_v: float
    ra: float
    dec: float
    image: str = ""

    def truth(self) -> dict:
        """The plan as a plain dict (the exposure's truth)."""
        return asdict(self)


def plan_exposure(kind: str, instrument: str, *, seed: int, body_seed: int | None = None,
                  subtype: str | None = None, filter: str | None = None, exptime: float | None = None,
                  blurry: bool = False, image: str | None = None) -> ExposurePlan:
    """Decide an exposure from its seed (and its body's seed), without drawing it.

    Parameters are those of `simulate_exposure`.
    """
    layout = get_layout(instrument)
    if kind not in SUBTYPES:
        raise CelestialClassError(f"unknown kind {kind!r}; supported: {', '.join(SUBTYPES)}")
    if filter is not None:
        get_filter(layout.name, filter)
    if exptime is not None and not (np.isfinite(exptime) and exptime > 0):
        raise CelestialClassError(f"exposure time must be positive, got {exptime!r}")
    body_seed = seed if body_seed is None else body_seed
    body = bank_body(kind, body_seed, str(image)) if image else make_body(kind, body_seed, subtype)
    rng = np.random.default_rng([seed, 101])
    if filter is None:
        names = BLURRY_FILTERS[layout.name] if blurry else tuple(_FILTER_WEIGHTS[layout.name])
        weights = np.array([1.0 if blurry else _FILTER_WEIGHTS[layout.name][n] for n in names])
        filter = str(rng.choice(names, p=weights / weights.sum()))
    else:
        rng.random()
    draw_time = float(np.exp(rng.uniform(np.log(5), np.log(120)) if blurry
                             else rng.uniform(np.log(60), np.log(1500))))
    exptime = float(exptime) if exptime is not None else round(draw_time, 1)
    # Mostly on the object, sometimes at its sparse edge.
    radius = body.extent * (rng.uniform(0, 0.6) if rng.random() < 0.8 else rng.uniform(0.6, 1.3))
    angle = rng.uniform(0, 2 * np.pi)
    roll = float(rng.uniform(0, 360))
    blur = float(rng.uniform(1.0, 3.0)) if blurry else 0.0
    satellite = bool(rng.random() < 0.03)
    sky_v = round(float(rng.uniform(22.0, 23.3)), 3)  # zodiacal light, V mag/arcsec^2
    body_rng = np.random.default_rng([body_seed, 5])
    ra, dec = float(body_rng.uniform(0, 360)), float(np.degrees(np.arcsin(body_rng.uniform(-1, 1))))
    pu, pv = float(radius * np.cos(angle)), float(radius * np.sin(angle))
    dec_exp = dec + pv / 3600.0
    ra_exp = (ra + pu / 3600.0 / max(np.cos(np.radians(dec)), 1e-3)) % 360
    return ExposurePlan(kind, body.subtype, layout.name, filter, exptime, int(seed), int(body_seed),
                        pu, pv, roll, blur, satellite, sky_v, round(ra_exp, 6), round(dec_exp, 6),
                        str(image) if image else "")


def plan_body(plan: ExposurePlan):
    """The body a plan's exposure sees (`~celestialclass.simulate.scenes.Body`)."""
    if plan.image:
        return bank_body(plan.kind, plan.body_seed, plan.image)
    return make_body(plan.kind, plan.body_seed, plan.subtype)


def simulate_exposure(path, kind: str, instrument: str, *, seed: int, filter: str | None = None,
                      exptime: float | None = None, subtype: str | None = None,
                      body_seed: int | None = None, blurry: bool = False, target: str | None = None,
                      image: str | None = None, overwrite: bool = False) -> dict:
    """Simulate one raw exposure (both chips) of a galaxy or a nebula/star cluster.

    Parameters
    ----------
    path : str or path-like
        Output ``*_raw.fits`` file (written atomically).
    kind : {'galaxy', 'nsc'}
        Class of the object.
    instrument : {'ACS/WFC', 'WFC3/UVIS'}
        The manifests' spelling.
    seed : int
        Seed of the exposure: same seed, same bytes.
    filter : str, optional
        A filter of the instrument (`celestialclass.simulate.photometry.FILTERS`);
        drawn with the LCID mix (or a UV/narrow band when ``blurry``) if not given.
    exptime : float, optional
        Exposure time in seconds; drawn if not given (60-1500 s, 5-120 s blurry).
    subtype : str, optional
        One of `celestialclass.simulate.SUBTYPES` ``[kind]``; drawn if not given.
    body_seed : int, optional
        Seed of the object; exposures sharing it see the same object
        (default: ``seed``).
    blurry : bool, optional
        An LCID-Blurry-like exposure: short, through a low-throughput filter,
        with a degraded PSF.
    target : str, optional
        ``TARGNAME`` to write.
    image : str, optional
        A bank image (`celestialclass.datasets.bank`) whose morphology the
        body takes (`celestialclass.simulate.hybrid`); ``kind`` is then the
        bank row's class and ``subtype`` is ignored.
    overwrite : bool, optional
        Replace an existing file.

    Returns
    -------
    truth : dict
        The plan (class, sub-type, filter, exposure time, seeds, pointing,
        PSF blur, ...) plus ``effects`` per chip (cosmic rays, bleeding
        columns), ``visibility`` per HDU (`chip_visibility`) and ``path``.

    Examples
    --------
    >>> import os, tempfile
    >>> from celestialclass.simulate import simulate_exposure
    >>> from celestialclass.io import read_raw
    >>> path = os.path.join(tempfile.mkdtemp(), "jsim0001q_raw.fits")
    >>> truth = simulate_exposure(path, "nsc", "ACS/WFC", seed=4, subtype="globular_cluster",
    ...                           filter="F814W", exptime=300)
    >>> truth["kind"], truth["subtype"], truth["filter"], truth["exptime"]
    ('nsc', 'globular_cluster', 'F814W', 300.0)
    >>> [ccd.shape for ccd in read_raw(path)]
    [(2048, 4096), (2048, 4096)]
    """
    plan = plan_exposure(kind, instrument, seed=seed, body_seed=body_seed, subtype=subtype,
                         filter=filter, exptime=exptime, blurry=blurry, image=image)
    path = pathlib.Path(path)
    if path.exists() and not overwrite:
        raise CelestialClassError("file exists; pass overwrite=True (--overwrite on the command line) to replace it",
                                  path=path)
    if not path.parent.is_dir() or not os.access(path.parent, os.W_OK):
        raise CelestialClassError("output directory does not exist or cannot be written", path=path)
    layout = get_layout(plan.instrument)
    body = plan_body(plan)
    rng = np.random.default_rng([plan.seed, 202])
    sky = sky_rate(layout.name, plan.filter, layout.pixel_scale, plan.sky_v)
    images, effects, visibility = {}, {}, {}
    satellite_chip = int(rng.integers(len(layout.chips)))
    for index, chip in enumerate(layout.chips):
        grid = ChipGrid(layout, chip, plan.pointing_u, plan.pointing_v, plan.roll)
        layers = object_layers(body, grid)
        visibility[chip.hdu] = chip_visibility(plan, chip, layers)
        rate = render_rate(scene_layers(body, grid, layers), grid, plan.filter, plan.blur)
        images[chip.ccdchip], effects[chip.name] = expose(
            rate, plan.exptime, sky, layout, chip, rng, satellite=plan.satellite and index == satellite_chip)
    header = {"EXPTIME": plan.exptime, "TARGNAME": target or f"SIM-{plan.body_seed}",
              "RA_TARG": plan.ra, "DEC_TARG": plan.dec,
              "EXPEND": 58000.0 + plan.exptime / 86400.0}
    if layout.filter_keywords == ("FILTER1", "FILTER2"):
        header["FILTER1"], header["FILTER2"] = plan.filter, "CLEAR2L"
    else:
        header["FILTER"] = plan.filter
    write_raw(path, images, layout.name, unit="electron", header=header, seed=rng, overwrite=overwrite)
    return {**plan.truth(), "effects": effects, "visibility": visibility, "path": str(path)}

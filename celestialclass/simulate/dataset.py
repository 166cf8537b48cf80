"""Mock LCID: many exposures of many simulated bodies, with a manifest in the paper's columns."""

from __future__ import annotations

import hashlib
import os
import pathlib

import numpy as np

from ..exceptions import CelestialClassError
from ..io.instruments import LAYOUTS
from ..schema import LABEL_SPELLING, MANIFEST_COLUMNS, write_manifest
from ..utils.files import remove_stale_temporaries
from ..utils.progress import progress
from .exposure import plan_body, plan_exposure, simulate_exposure
from .render import ChipGrid
from .scenes import chip_coverage
from .visibility import chip_visibility

__all__ = ["simulate_dataset", "TRUTH_COLUMNS", "BANK_COLUMNS", "MANIFEST_NAME",
           "HYBRID_MANIFEST_NAME"]

#: Extra columns of simulated manifests: the truth of each exposure.
TRUTH_COLUMNS = ("Subtype", "Exptime", "Blurry", "Seed", "Body Seed", "Pointing U", "Pointing V",
                 "Roll", "Blur", "Coverage", "Visibility")
#: Extra column of manifests of hybrid exposures: the bank image each body's morphology came from.
BANK_COLUMNS = ("Image",)
#: File name of the manifest written into the output directory (``hybrid.csv`` for a bank's exposures).
MANIFEST_NAME = "manifest.csv"
HYBRID_MANIFEST_NAME = "hybrid.csv"


def _obsid(instrument: str, seed: int, body: int, exposure: int) -> str:
    digest = hashlib.sha1(f"{seed}/{body}/{exposure}".encode()).hexdigest()
    letters = "".join("abcdefghijklmnopqrstuvwxyz0123456789"[int(digest[i:i + 2], 16) % 36] for i in range(0, 14, 2))
    return ("j" if instrument == "ACS/WFC" else "i") + letters + "q"


def _tasks(n_bodies, exposures_per_body, seed, blurry_fraction, instruments, galaxy_fraction, bank=None):
    rng = np.random.default_rng([seed, 1])
    n_galaxies = int(round(galaxy_fraction * n_bodies))
    kinds = np.array(["galaxy"] * n_galaxies + ["nsc"] * (n_bodies - n_galaxies))
    rng.shuffle(kinds)
    order = np.random.default_rng([seed, 6]).permutation(len(bank)) if bank is not None else None
    tasks = []
    for body in range(n_bodies):
        body_seed = int(np.random.default_rng([seed, 2, body]).integers(2 ** 31))
        body_rng = np.random.default_rng([body_seed, 3])
        preference = body_rng.dirichlet(np.ones(len(instruments)))
        name = f"SIM-{'G' if kinds[body] == 'galaxy' else 'N'}{body:04d}"
        image = None
        if bank is not None:  # bodies cycle through the bank's images, shuffled; an object's ID is its group
            row = bank[int(order[body % len(bank)])]
            kinds[body], name, image = row["label"], str(row["group"]), str(row["path"])
        for exposure in range(exposures_per_body):
            exp_rng = np.random.default_rng([seed, 4, body, exposure])
            instrument = instruments[int(exp_rng.choice(len(instruments), p=preference))]
            blurry = bool(exp_rng.random() < blurry_fraction)
            exp_seed = int(exp_rng.integers(2 ** 31))
            tasks.append({"kind": str(kinds[body]), "instrument": instrument, "seed": exp_seed,
                          "body_seed": body_seed, "blurry": blurry, "id": name, "image": image,
                          "obsid": _obsid(instrument, seed, body, exposure)})
    return tasks


def _run(task_and_dir):
    """Simulate one exposure unless its file exists; return its manifest rows (one per chip)."""
    task, out_dir = task_and_dir
    path = pathlib.Path(out_dir) / f"{task['obsid']}_raw.fits"
    visibility = None
    if not path.exists():
        truth = simulate_exposure(path, task["kind"], task["instrument"], seed=task["seed"],
                                  body_seed=task["body_seed"], blurry=task["blurry"], target=task["id"],
                                  image=task["image"])
        visibility = truth["visibility"]
    return _manifest_rows(task, visibility)


def _manifest_rows(task, visibility=None):
    """The manifest rows of one exposure; ``visibility`` per HDU when the simulation measured it."""
    plan = plan_exposure(task["kind"], task["instrument"], seed=task["seed"], body_seed=task["body_seed"],
                         blurry=task["blurry"], image=task["image"])
    layout = LAYOUTS[plan.instrument]
    body = plan_body(plan)
    rows = []
    for chip in layout.chips:
        grid = ChipGrid(layout, chip, plan.pointing_u, plan.pointing_v, plan.roll)
        rows.append({
            "ID": task["id"], "Instrument": plan.instrument, "OBSID": task["obsid"], "Filter": plan.filter,
            "RA": plan.ra, "DEC": plan.dec, "HDU Index": chip.hdu, "Label": LABEL_SPELLING[plan.kind],
            "Subtype": plan.subtype, "Exptime": plan.exptime, "Blurry": plan.blur > 0, "Seed": plan.seed,
            "Body Seed": plan.body_seed, "Pointing U": round(plan.pointing_u, 3),
            "Pointing V": round(plan.pointing_v, 3), "Roll": round(plan.roll, 3), "Blur": round(plan.blur, 3),
            "Coverage": round(chip_coverage(body, grid), 4),
            "Visibility": round(visibility[chip.hdu] if visibility else chip_visibility(plan, chip), 2),
        })
        if plan.image:
            rows[-1]["Image"] = pathlib.Path(plan.image).name
    return rows


def simulate_dataset(out_dir, n_bodies: int, exposures_per_body: int, *, seed: int,
                     blurry_fraction: float = 0.0, instruments=("ACS/WFC", "WFC3/UVIS"),
                     galaxy_fraction: float = 0.5, bank=None, jobs: int = 1, show_progress: bool | None = None):
    """Write a mock LCID: raw files of simulated bodies and a manifest in the paper's columns.

    Each body (a galaxy or a nebula/star cluster) is seen in
    ``exposures_per_body`` exposures with their own pointings, filters,
    exposure times and instruments, so splits by body work as in the paper.
    Files are written atomically; a second run over the same directory skips
    finished files, so an interrupted run resumes where it stopped and ends
    with the same bytes.

    Parameters
    ----------
    out_dir : str or path-like
        Output directory (created if missing).
    n_bodies, exposures_per_body : int
        Numbers of bodies and of exposures of each (two chips per exposure).
    seed : int
        Seed of the whole data set.
    blurry_fraction : float, optional
        Fraction of exposures drawn as LCID-Blurry-like: short, through
        low-throughput filters, with a degraded PSF (1.0 makes a blurry set).
    instruments : sequence of str, optional
        Instruments to draw from.
    galaxy_fraction : float, optional
        Fraction of bodies that are galaxies (ignored with ``bank``).
    bank : `~astropy.table.Table`, optional
        A morphology bank (`celestialclass.datasets.load_bank`): the bodies
        cycle through its images in an order shuffled by ``seed`` (so
        ``n_bodies = k * len(bank)`` draws every image ``k`` times, with its
        own scale, orientation and stars each time), and each takes an
        image's morphology (`celestialclass.simulate.hybrid`), its class, and its ``group`` as
        ``ID``, so a split by ``ID`` keeps all exposures of an object, and
        of overlapping images, on one side. The manifest is then
        ``out_dir/hybrid.csv`` and has an ``Image`` column; the files may
        share a directory with a parametric set.
    jobs : int, optional
        Worker processes (each simulates whole exposures).
    show_progress : bool, optional
        Draw a progress bar (default: on a terminal only).

    Returns
    -------
    manifest : `~astropy.table.Table`
        One row per chip: the paper's columns (``ID``, ``Instrument``,
        ``OBSID``, ``Filter``, ``RA``, ``DEC``, ``HDU Index``, ``Label``) and
        the truth columns; also written to ``out_dir/manifest.csv`` (or
        ``hybrid.csv``).
    """
    from astropy.table import Table

    if int(n_bodies) < 1 or int(exposures_per_body) < 1:
        raise CelestialClassError(
            f"n_bodies and exposures_per_body must be at least 1, got {n_bodies} and {exposures_per_body}")
    if not 0 <= blurry_fraction <= 1 or not 0 <= galaxy_fraction <= 1:
        raise CelestialClassError("blurry_fraction and galaxy_fraction must be between 0 and 1")
    instruments = tuple(instruments)
    for name in instruments:
        if name not in LAYOUTS:
            raise CelestialClassError(f"unknown instrument {name!r}; supported: {', '.join(LAYOUTS)}")
    out_dir = pathlib.Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CelestialClassError(f"cannot create the output directory ({exc.strerror})", path=out_dir) from None
    if not os.access(out_dir, os.W_OK):
        raise CelestialClassError("output directory cannot be written", path=out_dir)
    remove_stale_temporaries(out_dir)

    if bank is not None and len(bank) == 0:
        raise CelestialClassError("the bank holds no images")
    tasks = _tasks(int(n_bodies), int(exposures_per_body), int(seed), float(blurry_fraction), instruments,
                   float(galaxy_fraction), bank)
    # Every task goes to the workers: finished exposures only need their manifest rows.
    work = [(task, str(out_dir)) for task in tasks]
    bar = dict(total=len(tasks), desc="simulate", enabled=show_progress)
    if int(jobs) > 1 and len(work) > 1:
        import multiprocessing

        # fork where the platform has it: workers need numpy and astropy only.
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        with multiprocessing.get_context(method).Pool(int(jobs)) as pool:
            per_task = list(progress(pool.imap(_run, work), **bar))
    else:
        per_task = list(progress(map(_run, work), **bar))

    rows = [row for task_rows in per_task for row in task_rows]
    columns = MANIFEST_COLUMNS + TRUTH_COLUMNS + (BANK_COLUMNS if bank is not None else ())
    rows = [{c: row[c] for c in columns} for row in rows]
    write_manifest(rows, out_dir / (MANIFEST_NAME if bank is None else HYBRID_MANIFEST_NAME))
    table = Table(rows=[[row[c] for c in columns] for row in rows], names=columns)
    table.meta["seed"] = int(seed)
    return table

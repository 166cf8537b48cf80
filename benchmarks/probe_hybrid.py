"""How learnable is a hybrid set? Simulate bank bodies, keep only their small maps, train a small network.

Not a speed benchmark: a quick loop for changes to the hybrid simulation
(`celestialclass.simulate.hybrid`) before a full build. A full-size raw
exposure takes 34 MB, and a hybrid set of every bank image twice some 40 GB;
this probe simulates each exposure into a temporary file, reads each chip
that shows its object through the package's own road (``Preprocess.read_image``
and the default model's fixed first layer,
`~celestialclass.models.PatchStatistics`), keeps that map's four channels
pooled to 128 x 256 (mean and standard deviation averaged, maximum and minimum
as such; float16, 256 KB), and deletes the file. It then trains a small
convolutional network (five convolution blocks, flips and crops of 0.75) on
those maps (``--channels mean``: the mean channel alone), split by object (the bank's group, ``--test-fraction``
of them held out), and prints held-out accuracy and recall of each class
beside the majority class. Maps are cached in ``OUT`` (``maps-v<version>-<seed>.npz``),
so runs with other splits or epochs reuse them (a cache is named by the
simulator version, so another version's maps are never read); a new ``--seed`` adds
another body of every bank image (with ``--seeds``, several).

With ``--light``, it skips the exposure: each chip's map is the hybrid
body's light alone on the chip's 8 x 8-pixel grid (the picture's light and
the stars drawn on it; no PSF, sky, noise or detector), so a run takes
minutes rather than twenty, and it separates what the chip's view of a
picture loses from what the detector loses. ``--whole ARCSEC`` (with
``--light``) draws each picture that wide and centred on each chip: the
view of ``probe_bank.py``, through the hybrid's rendering.

Measured on 2026-12-04 (stellarium-data 26.3 bank, one body per image,
seed 7, the four channels unless said; held-out accuracy, majority class
57-64 %):

=========================================================  ==============================
maps                                                       held-out accuracy
=========================================================  ==============================
**simulator version 5** (1,041 chips of 530 objects)       71.5, 72.8, 74.2 % (mean 72.8)
version 5 again, 2026-12-05 (simulated and trained anew)   77.2, 69.6, 73.3 % (mean 73.3)
version 5, two bodies per image (``--seeds 7 8``)          72.1, 70.2, 70.6 % (mean 71.0)
(2,100 chips of 562 objects)
version 5, three bodies per image (``--seeds 7 8 9``)      74.3, 74.2, 75.6 % (mean 74.7)
(3,125 chips of 563 objects)
version 5, ``--light`` (mean channel)                      76.6, 79.7, 79.5 % (mean 78.6)
... pointing within 0.2 of its usual spread                79.1, 75.4, 73.6 % (mean 76.0)
version 4 (978 chips of 509 objects)                       68.4, 62.0, 70.5 % (mean 66.9)
... without added stars, texture, field stars and          65.2, 69.0, 70.0 % (mean 68.1)
background galaxies, and brighter (mu_peak 18-20)
... with the display stretch taken as sRGB alone           66.8 % (split 0)
version 4, ``--light`` (mean channel)                      71.4 % (split 0)
... with a median of 3 pixels instead of 7-31              73.7, 74.4 % (splits 0, 1)
... with the whole picture, no median or point sources     78.8, 75.1, 80.7 % (mean 78.2)
version 4, ``--light --whole 90``: pictures 90 arcsec      81.0 % (split 0)
wide, centred on each chip
=========================================================  ==============================

Version 4 took a picture's median over 1/40 of its width as its light and
redrew what stood above it as point sources; version 5 keeps the picture
whole, the change the rows "whole picture" and "median of 3 pixels" point
to. The rows marked "..." changed the bodies' parameters or the picture's
rendering in scratch scripts (not options here). With ``--whole``, every
chip is kept and both chips of an exposure show the same view (1,168 maps
of 564 objects).

For version 4, the detector cost a few points and the simulator's additions
none. Narrower pictures (40-250 arcsec) and pointings that centre the
object on one chip did not help (``--light``, three splits: 68.8 and
70.1 %); pictures at their true angular width gave 74.9 % (split 0). The
clean pictures cut to 150-arcsec windows at their true scale near their
centre give 87 % (``probe_bank.py --view window``, five folds), so the
pictures' framing does not explain the gap. For version 5, the exposure
costs about 6 points (79 to 73 %), and pointing near the picture's centre
does not help.
(Before the maps kept four channels, the mean channel pooled to 64 x 128
gave 64-74 % for version 4 and 57-64 % for version 3.)

    python benchmarks/probe_hybrid.py bank/ maps/ --seeds 7 8
    python benchmarks/probe_hybrid.py bank/ maps/ --light --channels mean --splits 0
    python benchmarks/probe_hybrid.py bank/ maps/ --light --whole 90 --channels mean --splits 0
"""

import argparse
import json
import os
import pathlib
import tempfile

import numpy as np

from probe_bank import fit  # beside this script

POOL = 2


def pooled_map(stats):
    """The default model's first-layer map (mean, std, max, min), each channel pooled ``POOL`` times by its own rule."""
    import torch
    import torch.nn.functional as F

    return torch.cat([F.avg_pool2d(stats[:, :2], POOL), F.max_pool2d(stats[:, 2:3], POOL),
                      -F.max_pool2d(-stats[:, 3:4], POOL)], dim=1)


def simulate_maps(bank, seed: int, jobs: int, light: bool = False, whole: float | None = None) -> dict:
    """Maps, labels and objects of one body per bank image (seed ``seed``), chips that show their object only.

    With ``light``, the maps of `_one_light` instead of full exposures; ``whole`` goes to it.
    """
    import functools
    import multiprocessing

    from celestialclass.simulate.dataset import _tasks

    tasks = _tasks(len(bank), 1, seed, 0.1, ("ACS/WFC", "WFC3/UVIS"), 0.5, bank=bank)
    work = functools.partial(_one_light, whole=whole) if light else _one_exposure
    maps, labels, objects = [], [], []
    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        for done, result in enumerate(pool.imap_unordered(work, tasks)):
            for chip_map, label, group in result:
                maps.append(chip_map)
                labels.append(label)
                objects.append(group)
            if done % 100 == 99:
                print(f"  seed {seed}: {done + 1} of {len(tasks)} exposures", flush=True)
    return {"maps": np.stack(maps), "labels": np.array(labels), "objects": np.array(objects)}


def _one_exposure(task):
    import torch

    from celestialclass.datasets import shows_object
    from celestialclass.models import PatchStatistics
    from celestialclass.preprocess import Preprocess
    from celestialclass.simulate import simulate_exposure
    from celestialclass.simulate.dataset import _manifest_rows
    from astropy.table import Table

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / f"{task['obsid']}_raw.fits"
        truth = simulate_exposure(path, task["kind"], task["instrument"], seed=task["seed"],
                                  body_seed=task["body_seed"], blurry=task["blurry"], target=task["id"],
                                  image=task["image"])
        rows = Table(rows=_manifest_rows(task, truth["visibility"]))
        out = []
        for row, shown in zip(rows, shows_object(rows)):
            if not shown:
                continue
            chip = torch.from_numpy(Preprocess().read_image(path, hdu=int(row["HDU Index"])))[None, None]
            out.append((pooled_map(PatchStatistics(8)(chip))[0].half().numpy(), task["kind"] == "galaxy", task["id"]))
    return out


def _one_light(task, whole: float | None = None):
    """The body's light alone on each chip that shows it: no PSF, sky, noise or detector (``--light``).

    The hybrid's layers (the picture's light on the chip's coarse grid of
    8 x 8 pixels, and the stars drawn on it, each in its cell), in units of
    the body's peak surface brightness, pooled like the maps and stretched as
    ``arcsinh(10 x)``; one channel. With ``whole`` (arcsec), the picture is
    that wide and centred on each chip, whatever the body's scale and the
    exposure's pointing.
    """
    from astropy.table import Table

    from celestialclass.datasets import shows_object
    from celestialclass.io.instruments import LAYOUTS
    from celestialclass.simulate.dataset import _manifest_rows
    from celestialclass.simulate.exposure import plan_body, plan_exposure
    from celestialclass.simulate.hybrid import bank_layers
    from celestialclass.simulate.render import _MARGIN, COARSE_LEVEL, ChipGrid

    plan = plan_exposure(task["kind"], task["instrument"], seed=task["seed"], body_seed=task["body_seed"],
                         blurry=task["blurry"], image=task["image"])
    body = plan_body(plan)
    p = body.params
    if whole:
        p["scale"], p["width"] = whole * p["scale"] / p["width"], whole
        shown = {chip.hdu: True for chip in LAYOUTS[plan.instrument].chips}
    else:
        rows = Table(rows=_manifest_rows(task))
        shown = dict(zip(rows["HDU Index"], shows_object(rows)))
    cell = 2 ** COARSE_LEVEL  # the layers' continuum is on the coarse grid
    margin = _MARGIN // cell
    out = []
    for chip in LAYOUTS[plan.instrument].chips:
        if not shown[chip.hdu]:
            continue
        grid = ChipGrid(LAYOUTS[plan.instrument], chip, plan.pointing_u, plan.pointing_v, plan.roll)
        if whole:  # the chip's centre on the picture's
            u0, v0 = ChipGrid(LAYOUTS[plan.instrument], chip, 0.0, 0.0, plan.roll).to_body(grid.rows / 2, grid.cols / 2)
            grid = ChipGrid(LAYOUTS[plan.instrument], chip, -float(u0), -float(v0), plan.roll)
        layers = bank_layers(body, grid)
        shape = (grid.rows // cell, grid.cols // cell)
        light = np.zeros(shape)
        coarse = sum(layers.continuum.values())[margin:margin + shape[0], margin:margin + shape[1]] / 3
        light[:coarse.shape[0], :coarse.shape[1]] = coarse
        stars = layers.stars
        if stars and len(stars["mag"]):
            r, c = grid.to_pixel(stars["u"], stars["v"])
            r, c = np.floor(r / cell).astype(int), np.floor(c / cell).astype(int)
            inside = (r >= 0) & (r < shape[0]) & (c >= 0) & (c < shape[1])
            flux = 10 ** (-0.4 * np.asarray(stars["mag"])[inside]) / (cell * grid.scale) ** 2
            np.add.at(light, (r[inside], c[inside]), flux)
        light /= 10 ** (-0.4 * p["mu_peak"])
        pooled = light.reshape(shape[0] // POOL, POOL, shape[1] // POOL, POOL).mean(axis=(1, 3))
        out.append((np.arcsinh(10 * pooled)[None].astype(np.float16), task["kind"] == "galaxy", task["id"]))
    return out


def train_and_test(maps, labels, objects, *, test_fraction, split_seed, epochs, channels="all"):
    """Held-out accuracy and recalls of the small network on the maps' ``channels``, split by object."""
    import torch

    x = maps.astype(np.float32)[:, :1 if channels == "mean" else None]
    x = (x - x.mean(axis=(2, 3), keepdims=True)) / (x.std(axis=(2, 3), keepdims=True) + 1e-3)
    y = labels.astype(int)
    unique = np.unique(objects)
    np.random.default_rng(split_seed).shuffle(unique)
    test = np.isin(objects, unique[:int(test_fraction * len(unique))])
    rows, cols = x.shape[2:]
    crop_r, crop_c = int(0.75 * rows), int(0.75 * cols)

    def batch(chosen, rng):
        views = []
        for i in chosen:
            item = x[i]
            if rng.random() < 0.5:
                item = item[:, ::-1]
            if rng.random() < 0.5:
                item = item[:, :, ::-1]
            r0, c0 = rng.integers(0, rows - crop_r + 1), rng.integers(0, cols - crop_c + 1)
            views.append(np.ascontiguousarray(item[:, r0:r0 + crop_r, c0:c0 + crop_c]))
        return np.stack(views)

    model = fit(batch, y, np.nonzero(~test)[0], epochs=epochs, rng=np.random.default_rng(1), torch_seed=21,
                channels=x.shape[1])
    with torch.inference_mode():
        predicted = model(torch.from_numpy(x[test])).argmax(1).numpy().astype(bool)
    truth = y[test].astype(bool)
    return {"chips": int(test.sum()), "objects": int(len(set(objects[test]))),
            "accuracy": float(np.mean(predicted == truth)), "recall_galaxy": float(np.mean(predicted[truth])),
            "recall_nsc": float(np.mean(~predicted[~truth])), "majority": float(max(truth.mean(), 1 - truth.mean()))}


def main(argv=None):
    from celestialclass.datasets import load_bank
    from celestialclass.simulate import SIMULATOR_VERSION

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bank", help="a bank directory (celestialclass bank build)")
    parser.add_argument("out", help="directory of cached maps")
    parser.add_argument("--seeds", type=int, nargs="+", default=[7], help="one body of every image per seed")
    parser.add_argument("--splits", type=int, nargs="+", default=[0, 1, 2], help="seeds of the object splits")
    parser.add_argument("--test-fraction", type=float, default=0.3)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--channels", choices=("all", "mean"), default="all",
                        help="the map's four channels, or its mean alone")
    parser.add_argument("--light", action="store_true",
                        help="maps of the body's light alone, without the simulated exposure (and --channels mean)")
    parser.add_argument("--whole", type=float, metavar="ARCSEC",
                        help="with --light: the picture this wide and centred on each chip")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)

    import torch

    bank = load_bank(args.bank)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    parts = []
    for seed in args.seeds:
        kind = f"light-{args.whole or 'hybrid'}-" if args.light else ""
        cache = out / f"maps-v{SIMULATOR_VERSION}-{kind}{seed}.npz"
        if not cache.exists():
            print(f"simulating one body of each of {len(bank)} bank images (seed {seed})", flush=True)
            part = simulate_maps(bank, seed, args.jobs, light=args.light, whole=args.whole)
            with tempfile.NamedTemporaryFile(dir=out, suffix=".npz", delete=False) as handle:
                np.savez(handle, **part)
            os.replace(handle.name, cache)
        with np.load(cache) as saved:
            parts.append({key: saved[key] for key in ("maps", "labels", "objects")})
    maps, labels, objects = (np.concatenate([p[key] for p in parts]) for key in ("maps", "labels", "objects"))
    torch.set_num_threads(args.jobs)
    print(f"{len(maps)} chips of {len(set(objects))} objects (seeds {args.seeds})")
    results = []
    for split in args.splits:
        result = train_and_test(maps, labels, objects, test_fraction=args.test_fraction, split_seed=split,
                                epochs=args.epochs, channels=args.channels)
        results.append(result)
        print(f"split {split}: {result['chips']} held-out chips of {result['objects']} objects: accuracy "
              f"{100 * result['accuracy']:.1f} % (majority class {100 * result['majority']:.1f} %), recall galaxy "
              f"{100 * result['recall_galaxy']:.1f} %, nebula/star cluster {100 * result['recall_nsc']:.1f} %",
              flush=True)
    print(json.dumps({"mean_accuracy": float(np.mean([r["accuracy"] for r in results]))}))


if __name__ == "__main__":
    main()

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
beside the majority class. Maps are cached in ``OUT`` (``maps-<seed>.npz``),
so runs with other splits or epochs reuse them; a new ``--seed`` adds
another body of every bank image (with ``--seeds``, several).

Measured on 2026-12-04 (stellarium-data 26.3 bank, one body per image,
three splits): simulator version 4, 978 chips of 509 objects, 64-74 %
(majority class 57-62 %); two bodies per image (``--seeds 7 8``), 67-68 %;
version 3 (the chips of 464 of the 584 exposures), 57-64 %, the majority
class's share. The bank's clean pictures, probed by ``probe_bank.py``, give
87 %.

    python benchmarks/probe_hybrid.py bank/ maps/ --seeds 7 8
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


def simulate_maps(bank, seed: int, jobs: int) -> dict:
    """Maps, labels and objects of one body per bank image (seed ``seed``), chips that show their object only."""
    import multiprocessing

    from celestialclass.simulate.dataset import _tasks

    tasks = _tasks(len(bank), 1, seed, 0.1, ("ACS/WFC", "WFC3/UVIS"), 0.5, bank=bank)
    maps, labels, objects = [], [], []
    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        for done, result in enumerate(pool.imap_unordered(_one_exposure, tasks)):
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

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bank", help="a bank directory (celestialclass bank build)")
    parser.add_argument("out", help="directory of cached maps")
    parser.add_argument("--seeds", type=int, nargs="+", default=[7], help="one body of every image per seed")
    parser.add_argument("--splits", type=int, nargs="+", default=[0, 1, 2], help="seeds of the object splits")
    parser.add_argument("--test-fraction", type=float, default=0.3)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--channels", choices=("all", "mean"), default="all",
                        help="the map's four channels, or its mean alone")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)

    import torch

    bank = load_bank(args.bank)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    parts = []
    for seed in args.seeds:
        cache = out / f"maps-{seed}.npz"
        if not cache.exists():
            print(f"simulating one body of each of {len(bank)} bank images (seed {seed})", flush=True)
            part = simulate_maps(bank, seed, args.jobs)
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

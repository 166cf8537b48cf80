"""How easy is a mock LCID? A logistic regression on global chip statistics, held out by body.

Run: ``python benchmarks/probe_difficulty.py [--bodies 30] [--exposures 3] [--seed 5] [--bank BANK_DIR]``.
It simulates a mock LCID (of bank images' morphology with ``--bank``), or reuses ``--dir`` (its
``manifest.csv``, else its ``hybrid.csv``, or the chips of ``--manifest``); measures eleven global
statistics per chip (sky, noise, percentiles, bright-pixel fraction,
high- and low-frequency power, peak count, saturation, exposure time) and
prints the 5-fold held-out-by-body accuracy of a logistic regression on them.
A shortcut-free simulation should keep this far below 100 % (real LCID's CNNs
reach 77-89 %); the prototype described in the simulation notes reached 97-100 %.
"""

import argparse
import tempfile
from pathlib import Path

import numpy as np
from scipy import ndimage, optimize

from celestialclass.datasets import load_manifest, raw_path
from celestialclass.io import read_raw
from celestialclass.datasets import load_bank
from celestialclass.simulate import HYBRID_MANIFEST_NAME, MANIFEST_NAME, simulate_dataset


def chip_statistics(data, exptime):
    sample = data[::4, ::4]
    sky = np.median(sample)
    noise = 1.4826 * np.median(np.abs(sample - sky)) + 1e-3
    z = (sample - sky) / noise
    blocks = data[:2048, :4096].reshape(256, 8, 512, 8).mean(axis=(1, 3))
    laplace = ndimage.laplace(data[::2, ::2])
    peaks = (z > 10) & (z == ndimage.maximum_filter(z, 3))
    return [np.log10(abs(sky) + 1), np.log10(noise),
            *np.log10(np.maximum(np.percentile(z, [90, 99, 99.9]), 1e-3) + 1), (z > 5).mean(),
            np.log10(np.var(laplace) + 1), np.log10(np.var(blocks) + 1), np.log10(peaks.sum() + 1),
            (data > 40000).mean() * 1e4, np.log10(exptime)]


def logistic_fit(x, y):
    xb = np.c_[x, np.ones(len(x))]

    def loss(w):
        p = 1 / (1 + np.exp(-xb @ w))
        value = -np.mean(y * np.log(p + 1e-9) + (1 - y) * np.log(1 - p + 1e-9)) + 1e-3 * w @ w
        return value, xb.T @ (p - y) / len(y) + 2e-3 * w

    return optimize.minimize(loss, np.zeros(xb.shape[1]), jac=True).x


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bodies", type=int, default=30)
    parser.add_argument("--exposures", type=int, default=3)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--dir", help="an existing mock LCID directory to reuse")
    parser.add_argument("--bank", help="a morphology bank: simulate hybrid exposures of its images")
    parser.add_argument("--manifest", help="with --dir: the manifest of the chips to probe (default: the dir's)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(args.dir) if args.dir else Path(tmp)
        if not args.dir:
            simulate_dataset(directory, args.bodies, args.exposures, seed=args.seed, jobs=args.jobs,
                             bank=load_bank(args.bank) if args.bank else None)
        name = MANIFEST_NAME if (directory / MANIFEST_NAME).exists() else HYBRID_MANIFEST_NAME
        table = load_manifest(args.manifest or directory / name)
        x = np.array([chip_statistics(read_raw(raw_path(directory, row["OBSID"]), hdu=int(row["HDU Index"]),
                                               subtract_bias=True).data, float(row["Exptime"]))
                      for row in table])
    y = np.array([label == "nsc" for label in table["label"]], float)
    bodies = np.asarray(table["ID"]).astype(str)
    x = (x - x.mean(0)) / np.where(x.std(0) > 0, x.std(0), 1)
    unique = np.unique(bodies)
    np.random.default_rng(0).shuffle(unique)
    correct = 0
    for k in range(5):
        test = np.isin(bodies, unique[k::5])
        w = logistic_fit(x[~test], y[~test])
        p = 1 / (1 + np.exp(-np.c_[x[test], np.ones(test.sum())] @ w))
        correct += int(((p > 0.5) == y[test]).sum())
    print(f"{len(y)} chips of {len(unique)} bodies: logistic regression on 11 global statistics, "
          f"5-fold held out by body: accuracy {correct / len(y):.3f}")


if __name__ == "__main__":
    main()

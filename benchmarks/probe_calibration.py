"""Could any calibration map bring a default-model build's held-out calibration error to 0.03?

Not a speed benchmark, and not a claim about the bundled weights (whose
temperature is fitted on validation objects only). It asks whether issue
21's target is within reach of a better calibration *family*, using what a
default-model build already holds: the logits of its held-out parametric
bodies and held-out bank objects (``reports/model-held_out`` and
``reports/model-held_out_real``). For each of ``--splits`` random halvings
of those objects (by object, per set), it fits each family on one half of
the sets named by ``--fit-on`` and measures the expected calibration error
on the other half of every set, beside what a perfectly calibrated model
would score on the same chips by chance (`ece_if_calibrated`):

- ``none``: the network's own softmax;
- ``temperature``: one temperature (what the package fits);
- ``platt``: a scale and an offset of the logit difference;
- ``beta``: beta calibration (Kull et al. 2017), three parameters;
- ``isotonic``: isotonic regression of the class on the logit difference
  (`scipy.optimize.isotonic_regression`, SciPy >= 1.12).

Fitting on half of the very objects it is measured on gives each family its
best case: a family that misses here misses with validation objects too.

Measured on 2026-12-05 with the seed-21 bank build (the bundled weights;
254 held-out parametric chips of 136 bodies, 160 bank chips of 82 objects;
40 splits, medians with the 10-90 % range). Fitted on parametric halves
(``--fit-on held_out``), the parametric halves score 0.054 (none), 0.053
(temperature), 0.045 (platt), 0.043 (beta) and 0.037 (isotonic,
0.021-0.078), and the bank halves 0.131, 0.122, 0.173, 0.212 and 0.219:
what sharpens the parametric bodies' probabilities makes the bank objects'
worse. Fitted on both sets (the default), no family beats the network's own
softmax on either (parametric 0.054-0.067, bank 0.124-0.135). A perfectly
calibrated model would score 0.049 and 0.101 by chance on halves this size
(0.034 on the card's 254 parametric chips): these sets are too small to
show an error of 0.03, and a larger set of new parametric bodies (857
chips, where chance gives 0.020) measured 0.051, underconfident.

    python benchmarks/probe_calibration.py BUILD_DIR
"""

import argparse
from pathlib import Path

import numpy as np
from astropy.table import Table
from scipy.optimize import isotonic_regression, minimize

from celestialclass.evaluation.calibration import ece_if_calibrated, expected_calibration_error
from celestialclass.training import fit_temperature

SETS = ("held_out", "held_out_real")
FAMILIES = ("none", "temperature", "platt", "beta", "isotonic")


def load(build_dir, name):
    """(object IDs, true class 0/1, logit difference nsc - galaxy) of one held-out set's predictions."""
    table = Table.read(Path(build_dir) / "reports" / f"model-{name}" / "predictions.ecsv")
    return (np.asarray(table["ID"]).astype(str), np.asarray(table["true"]),
            np.asarray(table["logit_nsc"] - table["logit_galaxy"], float))


def probabilities(z):
    p = 1 / (1 + np.exp(-z))
    return np.stack([1 - p, p], axis=1)


def nll(z, y):
    return float(np.mean(np.logaddexp(0, -z) * y + np.logaddexp(0, z) * (1 - y)))


def log_sigmoid(z):
    return -np.logaddexp(0, -z)


def fit(family, z, y):
    """A map from logit differences to calibrated logit differences, fitted on (z, y)."""
    if family == "none":
        return lambda s: s
    if family == "temperature":  # what the package fits (on the two classes' logits: 0 and z)
        temperature = fit_temperature(np.stack([np.zeros_like(z), z], axis=1), y)
        return lambda s: s / temperature
    if family == "platt":
        a, b = minimize(lambda w: nll(w[0] * z + w[1], y), [1.0, 0.0]).x
        return lambda s: a * s + b
    if family == "beta":
        a, b, c = minimize(lambda w: nll(w[0] * log_sigmoid(z) - w[1] * log_sigmoid(-z) + w[2], y), [1.0, 1.0, 0.0]).x
        return lambda s: a * log_sigmoid(s) - b * log_sigmoid(-s) + c
    order = np.argsort(z)
    fitted, ordered = isotonic_regression(y[order].astype(float)).x, z[order]

    def isotonic(s):
        p = np.clip(np.interp(s, ordered, fitted), 1e-4, 1 - 1e-4)
        return np.log(p / (1 - p))

    return isotonic


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("build_dir", help="a default-model build's output directory (its reports/)")
    parser.add_argument("--fit-on", nargs="+", choices=SETS, default=list(SETS),
                        help="which held-out sets' halves the maps are fitted on (default: both)")
    parser.add_argument("--splits", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    sets = {name: load(args.build_dir, name) for name in SETS}
    for name, (ids, y, _) in sets.items():
        print(f"{name}: {len(y)} chips of {len(set(ids))} objects")
    scores = {family: {name: [] for name in SETS} for family in FAMILIES}
    floor = {name: [] for name in SETS}
    for _ in range(args.splits):
        fitting = {}
        for name, (ids, _, _) in sets.items():
            objects = np.unique(ids)
            chosen = set(rng.permutation(objects)[:len(objects) // 2])
            fitting[name] = np.isin(ids, list(chosen))
        z = np.concatenate([sets[name][2][fitting[name]] for name in args.fit_on])
        y = np.concatenate([sets[name][1][fitting[name]] for name in args.fit_on])
        for family in FAMILIES:
            calibrate = fit(family, z, y)
            for name, (_, truth, logits) in sets.items():
                assessed = ~fitting[name]
                calibrated = probabilities(calibrate(logits[assessed]))
                scores[family][name].append(expected_calibration_error(truth[assessed], calibrated))
                if family == "none":
                    floor[name].append(ece_if_calibrated(calibrated, n_draws=200)["median"])
    print(f"\nexpected calibration error on the other halves, fitted on halves of {' + '.join(args.fit_on)} "
          f"({args.splits} splits; median, 10-90 %):")
    for family in FAMILIES:
        cells = [f"{name} {np.median(v):.3f} ({np.percentile(v, 10):.3f}-{np.percentile(v, 90):.3f})"
                 for name, v in scores[family].items()]
        print(f"  {family:<12} " + "   ".join(cells))
    print("  perfectly calibrated, by chance on as many chips: "
          + "   ".join(f"{name} {np.median(v):.3f}" for name, v in floor.items()))


if __name__ == "__main__":
    main()

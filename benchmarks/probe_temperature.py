"""Can one temperature calibrate both kinds of chip a default-model build is measured on?

Not a speed benchmark, and not a claim about the bundled weights. It asks
why issue 21's target (an expected calibration error of 0.03 on held-out
objects) is missed, on samples large enough to tell, which a build's own
held-out sets are not: a perfectly calibrated model would score about 0.035
on its 254 held-out parametric chips and 0.07 on its 160 bank chips by
chance. Given a default-model build's output directory, it draws new
exposures (``--seeds``, the build's blurry fraction, the chips that
show their object by the build's rule) of four sets of objects:

- *validation bodies*: ``--bodies`` new parametric bodies (400);
- *validation bank objects*: ``--views`` new hybrid exposures (2) of each
  bank image in the build's ``hybrid_validation.csv``;
- *held-out bodies*: other new parametric bodies (500);
- *held-out bank objects*: new exposures (3) of each image in
  ``hybrid_test.csv``.

None of them was seen in training; the bank objects keep the build's split.
Each exposure is simulated in a temporary directory, its chips are classified
by ``--weights`` (each committee member's logits are kept), and the file is
deleted, so the probe needs no disk. It then fits maps on the validation
chips, of both kinds together (what the package does, on more chips than a
build's validation split) and of each kind alone: the maps of
``probe_calibration.py`` (none, temperature, Platt, beta, isotonic) on the
committee's logit difference, and a temperature that follows how much the
committee's members disagree (each member's logits divided by
``T = exp(a + b d)``, ``d`` the gap between the members' probabilities of
the second class: an input-dependent temperature, which needs no label of
the chip's kind). It prints each map's expected calibration error on the
held-out sets, with a 95 % interval by bootstrap over objects, beside what a
perfectly calibrated model would score by chance on the same chips.

Measured on 2026-12-05 with the bundled weights (the seed-21 bank build;
the defaults, about 45 minutes on 2 cores). Validation: 668 chips of 354
bodies (accuracy 92.2 %, mean confidence 0.897) and 291 chips of 86 bank
objects (74.2 %, 0.760). Held-out: 857 chips of 452 bodies (93.7 %, 0.897;
a perfectly calibrated model would score 0.020 by chance) and 471 chips of
87 bank objects (69.6 %, 0.735; chance 0.041). Expected calibration error
on the held-out sets:

============  ============  ======  ============
fitted on     map           bodies  bank objects
============  ============  ======  ============
nothing       none          0.052   0.045
both kinds    temperature   0.052   0.046
both kinds    Platt         0.046   0.067
both kinds    beta          0.045   0.073
both kinds    isotonic      0.014   0.114
both kinds    disagreement  0.038   0.075
bodies        beta          0.016   0.173
bodies        isotonic      0.018   0.194
bank objects  temperature   0.057   0.034
bank objects  Platt         0.060   0.028
============  ============  ======  ============

A map that brings one kind under 0.03 breaks the other, and none fitted on
both kinds brings both under it: the bodies are underconfident between 0.53
and 0.87, the bank objects are not, and the network's output does not tell
the two apart. The bodies' set here is the one of the default-model page
(seed 777): at the bundled temperature it scores 0.051, as ``evaluate``
gave. Pooling the two held-out sets lets their errors cancel in the bins
(beta fitted on both kinds: 0.018 pooled); the probe prints the pooled
figure last, as a warning rather than as evidence.

    python benchmarks/probe_temperature.py BUILD_DIR WORK_DIR
"""

import argparse
import json
import multiprocessing
import pathlib
import tempfile

import numpy as np

SETS = ("validation_bodies", "validation_bank", "held_out_bodies", "held_out_bank")
_WORKER = {}


def _start_worker(weights):
    import torch

    from celestialclass.weights import resolve_weights

    torch.set_num_threads(1)
    entry = resolve_weights(weights)
    _WORKER.update(entry=entry, model=entry.build_model().eval())


def _member_logits(job):
    """Simulate one exposure, and return (object, class, member logits) for each chip that shows its object."""
    import torch
    from astropy.table import Table

    from celestialclass.datasets import shows_object
    from celestialclass.schema import CLASS_NAMES, MANIFEST_LABELS
    from celestialclass.simulate.dataset import _run

    task, min_coverage, min_visibility = job
    entry, model = _WORKER["entry"], _WORKER["model"]
    with tempfile.TemporaryDirectory() as tmp:
        rows = _run((task, tmp))
        shown = shows_object(Table(rows=rows), min_coverage, min_visibility)
        path = pathlib.Path(tmp) / f"{task['obsid']}_raw.fits"
        chips = []
        for row, keep in zip(rows, shown):
            if keep:
                image = torch.from_numpy(entry.preprocess.read_image(path, hdu=int(row["HDU Index"])))
                with torch.inference_mode():
                    stem = model.stem(image[None, None])
                    logits = model.body.member_logits(stem) if hasattr(model.body, "member_logits") \
                        else model.body(stem)[None]
                chips.append((row["ID"], CLASS_NAMES.index(MANIFEST_LABELS[row["Label"]]), logits[:, 0].numpy()))
        return chips


def draw(name, args, build, jobs):
    """The saved (or newly drawn) chips of one set: object IDs, classes and member logits."""
    from astropy.table import Table

    from celestialclass.datasets import load_bank
    from celestialclass.simulate.dataset import _tasks
    from celestialclass.utils.progress import progress

    saved = pathlib.Path(args.work_dir) / f"{name}.npz"
    if saved.exists():
        with np.load(saved) as data:
            return {key: data[key] for key in data.files}
    instruments, blurry = ("ACS/WFC", "WFC3/UVIS"), build["blurry_fraction"]
    seed, side = args.seeds[SETS.index(name)], int(name.startswith("held_out"))
    if name.endswith("bodies"):
        tasks = _tasks(args.bodies[side], 1, seed, blurry, instruments, 0.5)  # simulate_dataset's defaults
    else:
        manifest = "hybrid_validation.csv" if name.startswith("validation") else "hybrid_test.csv"
        images = set(Table.read(pathlib.Path(args.build_dir) / manifest, format="ascii.csv")["Image"])
        bank = load_bank(build["bank"])
        bank = bank[[pathlib.Path(path).name in images for path in bank["path"]]]
        tasks = _tasks(args.views[side] * len(bank), 1, seed, blurry, instruments, 0.5, bank)
    work = [(task, build["min_coverage"], build["min_visibility"]) for task in tasks]
    with multiprocessing.get_context("spawn").Pool(jobs, _start_worker, (args.weights,)) as pool:
        exposures = progress(pool.imap(_member_logits, work), total=len(work), desc=name)
        chips = [chip for exposure in exposures for chip in exposure]
    result = {"id": np.array([c[0] for c in chips]), "true": np.array([c[1] for c in chips]),
              "logits": np.stack([c[2] for c in chips])}
    partial = saved.with_suffix(".partial.npz")
    np.savez(partial, **result)
    partial.replace(saved)
    print(f"{name}: {len(result['true'])} chips of {len(set(result['id']))} objects", flush=True)
    return result


def committee(logits, temperature=1.0):
    """The committee's class log-probabilities: the log of its members' mean softmax at ``temperature``."""
    from scipy.special import log_softmax, logsumexp

    t = np.reshape(temperature, (-1, 1, 1)) if np.ndim(temperature) else temperature
    return logsumexp(log_softmax(logits / t, axis=-1), axis=1) - np.log(logits.shape[1])


def disagreement(logits):
    """The largest gap between two members' probabilities of the second class (0 for one member)."""
    from scipy.special import softmax

    p = softmax(logits, axis=-1)[..., 1]
    return p.max(axis=1) - p.min(axis=1)


def fit_disagreement_temperature(logits, true):
    """(a, b) of ``T = exp(a + b d)`` that minimise the negative log-likelihood of ``true``."""
    from scipy.optimize import minimize

    d = disagreement(logits)

    def nll(w):
        return -np.mean(committee(logits, np.exp(w[0] + w[1] * d))[np.arange(len(true)), true])

    return minimize(nll, [0.0, 0.0], method="Nelder-Mead").x


def stack(*sets):
    return {key: np.concatenate([s[key] for s in sets]) for key in sets[0]}


def main(argv=None):
    from celestialclass.datasets.manifests import MIN_COVERAGE, MIN_VISIBILITY
    from celestialclass.evaluation.calibration import ece_if_calibrated, ece_interval, expected_calibration_error
    from probe_calibration import FAMILIES, fit, probabilities

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("build_dir", help="a default-model build's output directory (build.json, hybrid_*.csv)")
    parser.add_argument("work_dir", help="where each set's chips are saved (a second run reuses them)")
    parser.add_argument("--weights", default="default",
                        help="CelestialNet-Lite weights to probe (default: the bundled ones)")
    parser.add_argument("--bodies", type=int, nargs=2, default=[400, 500], metavar=("VALIDATION", "HELD_OUT"),
                        help="new parametric bodies of the validation and held-out sets")
    parser.add_argument("--views", type=int, nargs=2, default=[2, 3], metavar=("VALIDATION", "HELD_OUT"),
                        help="new exposures of each validation and each held-out bank object")
    parser.add_argument("--seeds", type=int, nargs=4, default=[4242, 4243, 777, 4244],
                        help="seeds of the four sets, in the order above (777: the new bodies of the "
                             "default-model page)")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    build = json.loads((pathlib.Path(args.build_dir) / "build.json").read_text())
    build.setdefault("min_coverage", MIN_COVERAGE)  # the build's rule for which chips show their object
    build.setdefault("min_visibility", MIN_VISIBILITY)
    pathlib.Path(args.work_dir).mkdir(parents=True, exist_ok=True)
    sets = {name: draw(name, args, build, args.jobs) for name in SETS}

    for name, s in sets.items():
        p = np.exp(committee(s["logits"]))
        print(f"{name}: {len(s['true'])} chips of {len(set(s['id']))} objects, accuracy "
              f"{np.mean(p.argmax(1) == s['true']):.3f}, mean confidence {p.max(1).mean():.3f}")
    held_out = {"held-out bodies": sets["held_out_bodies"], "held-out bank": sets["held_out_bank"]}
    held_out["both"] = stack(*held_out.values())
    for s in held_out.values():
        log_p = committee(s["logits"])
        s["z"] = log_p[:, 1] - log_p[:, 0]
    floors = {name: ece_if_calibrated(probabilities(s["z"]), n_draws=300)["median"] for name, s in held_out.items()}
    print("\nexpected calibration error on the held-out sets, 95 % interval by bootstrap over objects\n"
          "(a map of the committee's logit difference, fitted on validation chips; 'both' pools the chips, so "
          "the two kinds' errors can cancel in its bins)")
    print("  perfectly calibrated, by chance on the same chips (no map):   "
          + "   ".join(f"{name} {floor:.3f}" for name, floor in floors.items()))

    def cell(s, p):
        low, high = ece_interval(s["true"], p, s["id"], n_resamples=500)
        return f"{expected_calibration_error(s['true'], p):.3f} ({low:.3f}-{high:.3f})"

    for fit_on in (("validation_bodies", "validation_bank"), ("validation_bodies",), ("validation_bank",)):
        fitting = stack(*(sets[name] for name in fit_on))
        log_p = committee(fitting["logits"])
        print(f"fitted on {' + '.join(fit_on)} ({len(fitting['true'])} chips):")
        for family in FAMILIES:
            calibrate = fit(family, log_p[:, 1] - log_p[:, 0], fitting["true"])
            cells = [f"{name} {cell(s, probabilities(calibrate(s['z'])))}" for name, s in held_out.items()]
            print(f"  {family:<24} " + "   ".join(cells))
        a, b = fit_disagreement_temperature(fitting["logits"], fitting["true"])
        cells = [f"{name} {cell(s, np.exp(committee(s['logits'], np.exp(a + b * disagreement(s['logits'])))))}"
                 for name, s in held_out.items()]
        print(f"  {'disagreement temperature':<24} " + "   ".join(cells) + f"   (T = exp({a:.2f} {b:+.2f} d))")


if __name__ == "__main__":
    main()

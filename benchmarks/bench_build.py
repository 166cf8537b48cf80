"""How long ``celestialclass default-model`` would take on this machine, from a few minutes of measurement.

Run: ``python benchmarks/bench_build.py [--bodies N] [--epochs N] [--baseline-epochs N] [--jobs N]
[--bank BANK_DIR [--bank-exposures N]]``.

Machines of the same nominal size ("2 CPU cores") differ by two to three
times on this job (a ResNet18 step took 0.7 s on one and 3 s on another),
and one slowed by about half within a session. Before starting a build of an
hour or more, this script measures, in one run:

- the simulator: ``simulate_dataset`` on a few bodies of another seed, in
  one process, run twice so that the second run's PSFs are cached (seconds
  per exposure, shared by ``--jobs`` workers), and one PSF computed afresh
  (each worker computes each filter's PSF once, at most, and each blurry
  exposure its own);
- each model's training step through the real training loop
  (`celestialclass.training.train` with the build's recipe on a batch of
  those chips): the first epoch (read, trim, preprocess, fixed first layer,
  then a step) and the cached epochs after it (a step alone);

and scales them by the build's sizes. The numbers of chips per body come from
the bundled model card (the same simulator and filters). With ``--bank`` (the
build's ``--bank``), it also simulates hybrid exposures of a few of the bank's
images (seconds per exposure, and the fraction of their chips that show
their object) and adds their simulation, training and evaluation. Each stage's
estimate is printed beside the target (90 minutes; 150
with a bank) and the bundled card's own timings (measured on the machine that
built it). It is an estimate: on a
machine whose speed drifted during the run it checked, it gave 80.6 min for a
model stage that had taken 77.5, and 41 min for a simulation that had taken 28.
"""

import argparse
import csv
import math
import os
import tempfile
import time
from pathlib import Path

import torch

from celestialclass.datasets import load_bank, load_manifest, shows_object
from celestialclass.simulate import simulate_dataset
from celestialclass.simulate.photometry import FILTERS
from celestialclass.simulate.psf import psf_model
from celestialclass.training import get_recipe, train
from celestialclass.training.default import DefaultBuild
from celestialclass.weights import get_weights

TARGET_MIN = 90.0
TARGET_BANK_MIN = 150.0


def busy_cores(seconds=1.0):
    """Cores kept busy by other processes over ``seconds`` (from /proc/stat), or None where unknown."""
    def ticks():
        with open("/proc/stat") as handle:
            values = [int(v) for v in handle.readline().split()[1:]]
        return sum(values), values[3] + values[4]  # all, idle + iowait

    try:
        total0, idle0 = ticks()
        time.sleep(seconds)
        total1, idle1 = ticks()
    except (OSError, ValueError, IndexError):
        return None
    return (os.cpu_count() or 1) * (1 - (idle1 - idle0) / max(total1 - total0, 1))


def step_seconds(model, recipe, manifest, data_dir, out_dir, cached_epochs):
    """(first epoch's step, median cached step) in seconds, for one batch of ``manifest``."""
    batch = get_recipe(recipe).batch_size
    if len(manifest) < batch:
        raise SystemExit(f"the probe simulated {len(manifest)} chips; a batch needs {batch}: raise --probe-bodies")
    train(model, manifest[:batch], data_dir, out_dir, recipe=recipe, seed=0, epochs=1 + cached_epochs,
          show_progress=False)
    with open(Path(out_dir) / "log.csv") as handle:
        seconds = [float(row["seconds"]) for row in csv.DictReader(handle)]
    steps = sorted(b - a for a, b in zip(seconds, seconds[1:]))
    return seconds[0], steps[len(steps) // 2]


def main(argv=None):
    build = DefaultBuild()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bodies", type=int, default=build.bodies)
    parser.add_argument("--epochs", type=int, default=None, help="the default model's epochs (its recipe's)")
    parser.add_argument("--baseline-epochs", type=int, default=None, help="ResNet18's epochs (its recipe's)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="simulation worker processes")
    parser.add_argument("--probe-bodies", type=int, default=10)
    parser.add_argument("--bank", help="a morphology bank: estimate the build with --bank")
    parser.add_argument("--bank-exposures", type=int, default=build.bank_exposures,
                        help="bodies per bank image (the build's)")
    args = parser.parse_args(argv)
    card = get_weights("default").card
    built = card["build"]
    per_body = {name: card["splits"][name]["chips"] / built["bodies"] for name in ("train", "validation", "test")}
    per_body["not_shown"] = card["splits"]["left_out_not_shown"]["test"]["chips"] / built["bodies"]
    blurry_per_body = card["splits"]["blurry"]["chips"] / built["blurry_bodies"]
    chips = {name: ratio * args.bodies for name, ratio in per_body.items()}
    blurry_chips = blurry_per_body * build.blurry_bodies
    model_recipe = get_recipe(build.recipe, epochs=args.epochs)
    baseline_recipe = get_recipe(build.baseline_recipe, epochs=args.baseline_epochs)
    print(f"torch {torch.__version__}, CPU kernels {torch.backends.cpu.get_cpu_capability()}, "
          f"{torch.get_num_threads()} threads, {args.jobs} simulation jobs")
    busy = busy_cores()
    if busy is not None and busy > 0.3:
        print(f"warning: other work keeps {busy:.1f} cores busy; it makes every estimate too slow "
              "(torch's threads slow down far more than in proportion)")

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        probe = dict(seed=build.seed + 1000, blurry_fraction=build.blurry_fraction, jobs=1, show_progress=False)
        simulate_dataset(tmp / "sim", args.probe_bodies, 1, **probe)
        start = time.perf_counter()
        simulate_dataset(tmp / "again", args.probe_bodies, 1, **probe)  # the same exposures, PSFs cached
        per_exposure = (time.perf_counter() - start) / args.probe_bodies
        start = time.perf_counter()
        psf_model("ACS/WFC", "F814W", blur=1.2345)
        per_psf = time.perf_counter() - start
        hybrid_exposures, per_hybrid, hybrid_chips = 0, 0.0, {}
        if args.bank:
            bank = load_bank(args.bank)
            hybrid_exposures = args.bank_exposures * len(bank)
            start = time.perf_counter()
            hybrid = simulate_dataset(tmp / "hybrid", args.probe_bodies, 1, bank=bank, **probe)
            per_hybrid = (time.perf_counter() - start) / args.probe_bodies  # PSFs cached by now
            shown = float(shows_object(hybrid).mean())
            train_fraction = 1 - build.validation_fraction - build.test_fraction
            hybrid_chips = {"train": 2 * hybrid_exposures * shown * train_fraction,
                            "validation": 2 * hybrid_exposures * shown * build.validation_fraction,
                            "test": 2 * hybrid_exposures * shown * build.test_fraction}
            for name, value in hybrid_chips.items():
                chips[name] += value
        manifest = load_manifest(tmp / "sim" / "manifest.csv")
        model_first, model_step = step_seconds(build.model, model_recipe, manifest, tmp / "sim",
                                               tmp / "model", cached_epochs=5)
        base_first, base_step = step_seconds(build.baseline, baseline_recipe, manifest, tmp / "sim",
                                             tmp / "baseline", cached_epochs=3)

    def training(recipe, first, step):
        steps = recipe.epochs * math.ceil(chips["train"] / recipe.batch_size)
        read = (first - step) / recipe.batch_size  # per chip, once: epoch 1 reads every chip
        return steps * step + (chips["train"] + chips["validation"]) * read, read

    model_s, model_read = training(model_recipe, model_first, model_step)
    base_s, base_read = training(baseline_recipe, base_first, base_step)
    evaluated = chips["test"] + chips["not_shown"] + blurry_chips  # held-out bank chips are in "test"
    exposures = args.bodies * build.exposures_per_body
    psfs = args.jobs * sum(len(names) for names in FILTERS.values()) + build.blurry_fraction * exposures
    estimate = {
        "simulate": (per_exposure * exposures + per_psf * psfs) / args.jobs,
        "simulate_blurry": (per_exposure + per_psf) * build.blurry_bodies / args.jobs,
        "simulate_hybrid": per_hybrid * hybrid_exposures / args.jobs,
        "train_model": model_s,
        "train_baseline": base_s,
        "evaluate": evaluated * (model_read + base_read),
    }
    timings = card.get("timings_s", {})
    bundled = {key: timings.get(key, 0.0) for key in estimate}
    bundled["evaluate"] = sum(v for k, v in timings.items() if k.startswith("evaluate"))
    print(f"measured: {per_exposure:.2f} s per simulated exposure (one process), {per_psf:.2f} s per PSF; "
          f"{build.model} step {model_step:.3f} s, epoch-1 read {model_read * 1e3:.0f} ms/chip; "
          f"{build.baseline} step {base_step:.3f} s, epoch-1 read {base_read * 1e3:.0f} ms/chip")
    bank_text = (f", {hybrid_exposures} hybrid exposures of {args.bank} ({per_hybrid:.2f} s each, "
                 f"~{hybrid_chips['train']:.0f} of the training chips)" if args.bank else "")
    print(f"build: {args.bodies} bodies (~{chips['train']:.0f} training chips){bank_text}, {build.model} "
          f"{model_recipe.epochs} epochs, {build.baseline} {baseline_recipe.epochs} epochs")
    print(f"{'stage':<16}{'estimate, min':>15}{'bundled card, min':>20}")
    for key, seconds in estimate.items():
        print(f"{key:<16}{seconds / 60:>15.1f}{bundled[key] / 60:>20.1f}")
    total = sum(estimate.values()) / 60
    print(f"{'total':<16}{total:>15.1f}{sum(bundled.values()) / 60:>20.1f}")
    target = TARGET_BANK_MIN if args.bank else TARGET_MIN
    print(f"estimate / {target:.0f}-minute target: {total / target:.2f}"
          f" ({'fits' if total <= target else 'does not fit'} on this machine)")


if __name__ == "__main__":
    main()

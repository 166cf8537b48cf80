"""The bundled default model, built from nothing: simulate a mock LCID, train, compare, evaluate, card.

`build_default_model` runs the whole sequence into one directory, stage by
stage, each resumable (an interrupted run picks up where it stopped and ends
with the same files):

1. ``sim/``: a mock LCID of simulated bodies (`celestialclass.simulate.simulate_dataset`);
   ``blurry/``: an LCID-Blurry-like set of other bodies; with a morphology
   bank (``bank``), ``sim/hybrid.csv``: hybrid exposures of its real images
   (`celestialclass.simulate.hybrid`) in the same directory.
2. ``train.csv``, ``validation.csv``, ``test.csv``: the mock LCID split by body
   (and ``hybrid_train.csv``, ... : the hybrid exposures split by object, the
   same fractions; both classes' parts are trained on together).
3. ``model/``: the default architecture trained with the ``default`` recipe on full chips.
4. ``baseline/``: ResNet18 trained on the same chips with the same recipe, on
   LCID-Resize input (224 x 448), as the paper's thesis demands.
5. ``reports/``: both models evaluated on the held-out bodies and on the blurry set.
6. ``bundle/``: ``default.safetensors`` and ``default.json`` (the model card),
   ready to copy into ``celestialclass/data/weights/``.

Both models decide at a probability of 0.5; their probabilities are
calibrated by a temperature fitted on the validation bodies
(`celestialclass.training.calibrate`), which moves no label.
"""

from __future__ import annotations

import json
import pathlib
import shutil
import time
from dataclasses import asdict, dataclass

from ..datasets.manifests import MIN_COVERAGE, MIN_VISIBILITY
from ..exceptions import CelestialClassError
from ..utils.jsonio import dumps

__all__ = ["DefaultBuild", "build_default_model"]


@dataclass(frozen=True)
class DefaultBuild:
    """Everything that decides the default model (its data, split, models and recipes).

    Attributes
    ----------
    seed : int
        Seeds the simulated data (the blurry set uses ``seed + 1``), the split
        and the training runs.
    bodies, exposures_per_body : int
        Size of the mock LCID (two chips per exposure). The default spends
        the simulation time on many bodies seen once rather than few bodies
        seen often: the model must recognise objects it has not seen.
    blurry_fraction : float
        Fraction of the mock LCID's exposures drawn blurry (short, UV or
        narrow-band, degraded PSF): LCID itself holds such chips (the paper,
        Sec. 2), so the model sees some in training.
    blurry_bodies : int
        Bodies of the blurry set, one exposure each, none of them in the mock LCID.
    validation_fraction, test_fraction : float
        Fractions of the mock LCID's chips whose bodies go to validation and test.
    min_coverage, min_visibility : float
        A chip shows its object when the object covers at least
        ``min_coverage`` of it (the manifest's ``Coverage``: 0 for a chip of
        sky next to a compact object) and reaches a signal-to-noise ratio of
        ``min_visibility`` over 1 % of it (``Visibility``, see
        `celestialclass.simulate.chip_visibility`). LCID's chips were labelled
        by people who saw the object on them; chips that do not show it are
        left out of training and of the headline metrics, and the card reports
        accuracy on them separately.
    model, recipe, baseline, baseline_recipe : str
        The default architecture and its recipe; the baseline and its recipe.
    epochs : int, optional
        Override both recipes' epochs (the same budget for both; for quick trials).
    bank : str, optional
        A morphology bank directory (`celestialclass.datasets.build_bank`):
        both models also train on hybrid exposures of its images, split by
        object (the bank's group), and are evaluated on its held-out objects
        (``held_out_real``).
    bank_exposures : int
        Bodies drawn from each bank image (each with its own scale, view and
        stars; all of one object stay on one side of the split).
    """

    seed: int = 21
    bodies: int = 1000
    exposures_per_body: int = 1
    blurry_fraction: float = 0.1
    blurry_bodies: int = 100
    validation_fraction: float = 0.15
    test_fraction: float = 0.15
    min_coverage: float = MIN_COVERAGE
    min_visibility: float = MIN_VISIBILITY
    model: str = "celestialnet-lite-x2"
    recipe: str = "default"
    baseline: str = "resnet18"
    baseline_recipe: str = "default-resize"
    epochs: int | None = None
    bank: str | None = None
    bank_exposures: int = 1

    def settings(self) -> dict:
        """The build's settings as written to ``build.json`` and the card (without a bank, as before it)."""
        settings = asdict(self)
        if self.bank is None:
            del settings["bank"], settings["bank_exposures"]
        return settings


def _split(manifest, build: DefaultBuild):
    """Train, validation and test tables, split by body."""
    from ..datasets import split_by_body

    rest, test = split_by_body(manifest, build.test_fraction, seed=build.seed)
    train, validation = split_by_body(rest, build.validation_fraction / (1 - build.test_fraction),
                                      seed=build.seed + 1)
    return train, validation, test


def _shows_object(table, build):
    """Which rows of a simulated manifest show their object (a boolean array)."""
    from ..datasets import shows_object

    return shows_object(table, build.min_coverage, build.min_visibility)


def _left_out(table, build) -> dict:
    """How many chips of a manifest do not show their object, and why (blurry ones counted apart)."""
    import numpy as np

    uncovered = np.asarray(table["Coverage"]) < build.min_coverage
    faint = ~uncovered & (np.asarray(table["Visibility"]) < build.min_visibility)
    return {"chips": int(uncovered.sum() + faint.sum()), "uncovered": int(uncovered.sum()),
            "too_faint": int(faint.sum()), "blurry": int(np.sum((uncovered | faint) & (np.asarray(table["Blur"]) > 0)))}


def _shown(table, build):
    return table[_shows_object(table, build)]


def _stack(parametric, hybrid=None):
    """Parametric and hybrid chips in one manifest (the hybrid ``Image`` column empty for the others)."""
    from ..datasets import stack_manifests

    return parametric if hybrid is None else stack_manifests([parametric, hybrid])


def _summary(table) -> dict:
    return {"chips": len(table), "bodies": len(set(table["ID"])),
            "galaxy_chips": int(sum(label == "galaxy" for label in table["label"])),
            "nsc_chips": int(sum(label == "nsc" for label in table["label"]))}


def _train_stage(name, out, manifest, data_dir, *, recipe, seed, epochs, validation, show_progress, command):
    """Train (or resume) one run; a complete run without a calibration (older builds) is calibrated."""
    from ..cards import read_card
    from .calibration import calibrate
    from .loop import train

    card_path = out / "model_card.json"
    card = read_card(card_path) if card_path.exists() else None
    if card is None or not card["training"]["complete"]:
        train(name, manifest, data_dir, out, recipe=recipe, seed=seed, epochs=epochs,
              validation=validation if len(validation) else None,
              resume=(out / "checkpoint.safetensors").exists(), show_progress=show_progress, command=command)
        card = read_card(card_path)
    if "calibration" not in card and len(validation):
        card = calibrate(out, validation, data_dir, show_progress=show_progress)
    return card


def _evaluate_stage(weights, weights_sha256, manifest, data_dir, out, show_progress):
    """Evaluate the trained run in ``weights`` (a directory) into ``out``; reuse a report of the same weights.

    ``weights_sha256`` is the run's weights as its model card gives them: a
    report of other weights (the run was retrained) is measured again.
    """
    from ..evaluation.report import evaluate

    from ..weights import resolve_weights

    metrics_path = out / "metrics.json"
    if metrics_path.exists():
        saved = json.loads(metrics_path.read_text())
        temperature = (saved.get("calibration") or {}).get("temperature")
        if saved.get("weights_sha256") == weights_sha256 and temperature == resolve_weights(weights).temperature:
            return saved
    return evaluate(weights, manifest, data_dir, out, show_progress=show_progress)


def _headline(metrics: dict) -> dict:
    keep = ("n", "accuracy", "interval", "f1", "precision", "recall", "confusion", "roc_auc", "baselines",
            "calibration", "risk_coverage", "abstention", "roc", "measured_on")
    return {k: metrics[k] for k in keep if k in metrics}


def build_default_model(out_dir, build: DefaultBuild | None = None, *, jobs: int | None = None,
                        show_progress: bool | None = None, log=None) -> dict:
    """Build the default model from nothing into ``out_dir`` (resumable); return its model card.

    Parameters
    ----------
    out_dir : path-like
        Working directory; see the module docstring for what it receives.
    build : `DefaultBuild`, optional
        What to build (the bundled model's settings by default).
    jobs : int, optional
        Simulation worker processes (default: all cores).
    show_progress : bool, optional
    log : callable, optional
        Receives one line per stage (default: the ``INFO`` records of this
        module's `logging` logger, which the command line shows on standard
        error as they happen).

    Returns
    -------
    card : dict
        The model card written to ``out_dir/bundle/default.json``.
    """
    import os

    from .. import __version__
    from ..datasets import load_manifest, write_manifest
    from ..simulate import SIMULATOR_VERSION, simulate_dataset
    from ..utils.files import atomic_path
    from ..cards import default_model_command, read_card, software_versions, write_card

    import logging

    log = log or logging.getLogger(__name__).info
    build = build or DefaultBuild()
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    jobs = jobs or os.cpu_count() or 1
    settings_path = out / "build.json"
    settings = build.settings()
    if settings_path.exists() and json.loads(settings_path.read_text()) != settings:
        raise CelestialClassError("this directory holds a build with other settings; use a new directory",
                                  path=settings_path)
    with atomic_path(settings_path) as tmp:
        tmp.write_text(dumps(settings, indent=2) + "\n")
    timings_path = out / "timings.json"
    timings = json.loads(timings_path.read_text()) if timings_path.exists() else {}

    def timed(stage, function):
        started = time.monotonic()
        result = function()
        if stage not in timings:  # the first, complete run of a stage is what it cost
            timings[stage] = round(time.monotonic() - started, 1)
            with atomic_path(timings_path) as tmp:
                tmp.write_text(dumps(timings, indent=2) + "\n")
        log(f"{stage}: done ({timings[stage]:.0f} s)")
        return result

    command = default_model_command(settings, out, build.bank)
    bundle_command = default_model_command(settings)  # the bundle's card names no directory of this machine
    sim, blurry = out / "sim", out / "blurry"
    timed("simulate", lambda: simulate_dataset(sim, build.bodies, build.exposures_per_body, seed=build.seed,
                                               blurry_fraction=build.blurry_fraction, jobs=jobs,
                                               show_progress=show_progress))
    timed("simulate_blurry", lambda: simulate_dataset(blurry, build.blurry_bodies, 1, seed=build.seed + 1,
                                                      blurry_fraction=1.0, jobs=jobs,
                                                      show_progress=show_progress))
    bank = None
    if build.bank is not None:
        from ..datasets import load_bank
        from ..simulate import HYBRID_MANIFEST_NAME

        bank = load_bank(build.bank)
        timed("simulate_hybrid", lambda: simulate_dataset(
            sim, build.bank_exposures * len(bank), 1, seed=build.seed + 2, blurry_fraction=build.blurry_fraction,
            bank=bank, jobs=jobs, show_progress=show_progress))
    manifest = load_manifest(sim / "manifest.csv")
    parts = dict(zip(("train", "validation", "test"), _split(manifest, build)))
    if bank is not None:
        hybrid = load_manifest(sim / HYBRID_MANIFEST_NAME)
        parts.update(zip(("hybrid_train", "hybrid_validation", "hybrid_test"), _split(hybrid, build)))
    for name, table in parts.items():
        if not (out / f"{name}.csv").exists():
            write_manifest(table, out / f"{name}.csv")
    shown = {name: _shown(load_manifest(out / f"{name}.csv"), build) for name in parts}
    train_table = _stack(shown["train"], shown.get("hybrid_train"))
    validation_table = _stack(shown["validation"], shown.get("hybrid_validation"))
    test_all = load_manifest(out / "test.csv")
    test_table, test_hidden = test_all[_shows_object(test_all, build)], test_all[~_shows_object(test_all, build)]
    blurry_all = load_manifest(blurry / "manifest.csv")
    blurry_table = blurry_all[_shows_object(blurry_all, build)]

    model_card = timed("train_model", lambda: _train_stage(
        build.model, out / "model", train_table, sim, recipe=build.recipe, seed=build.seed,
        epochs=build.epochs, validation=validation_table, show_progress=show_progress, command=command))
    baseline_card = timed("train_baseline", lambda: _train_stage(
        build.baseline, out / "baseline", train_table, sim, recipe=build.baseline_recipe, seed=build.seed,
        epochs=build.epochs, validation=validation_table, show_progress=show_progress, command=command))

    metrics = {}
    for who, card_of_run in (("model", model_card), ("baseline", baseline_card)):
        weights, sha256 = out / who, card_of_run["weights"]["sha256"]
        sets = [("held_out", test_table, sim), ("held_out_not_shown", test_hidden, sim),
                ("blurry", blurry_table, blurry)]
        if bank is not None:
            sets.append(("held_out_real", shown["hybrid_test"], sim))
        for what, table, data in sets:
            if len(table) == 0:
                continue
            report = out / "reports" / f"{who}-{what}"
            metrics.setdefault(who, {})[what] = _headline(timed(
                f"evaluate_{who}_{what}",
                lambda: _evaluate_stage(weights, sha256, table, data, report, show_progress)))
            log(f"{who} on {what}: accuracy {100 * metrics[who][what]['accuracy']:.2f}% "
                f"({metrics[who][what]['n']} chips)")

    bundle = out / "bundle"
    bundle.mkdir(exist_ok=True)
    with atomic_path(bundle / "default.safetensors") as tmp:
        shutil.copyfile(out / "model" / "model.safetensors", tmp)
    card = {
        "name": "default",
        "architecture": model_card["architecture"],
        "class_names": model_card["class_names"],
        "input_size": model_card["input_size"],
        "preprocess": model_card["preprocess"],
        "weights": {"file": "default.safetensors", "sha256": model_card["weights"]["sha256"]},
        "training": {**model_card["training"],
                     "data": "simulated exposures only (celestialclass.simulate); no real HST data" if bank is None
                     else ("simulated exposures (celestialclass.simulate): parametric bodies, and hybrid exposures "
                           "whose morphology comes from real images of the bank named under 'bank'; no real HST "
                           "data"),
                     "command": bundle_command,
                     "manifest": {**model_card["training"]["manifest"], "source": "train.csv"}},
        "calibration": model_card.get("calibration"),
        "simulator": {"version": SIMULATOR_VERSION, "celestialclass": __version__, "seed": build.seed,
                      "blurry_seed": build.seed + 1, "bodies": build.bodies,
                      "exposures_per_body": build.exposures_per_body, "blurry_bodies": build.blurry_bodies,
                      "manifest_sha256": manifest.meta.get("sha256"),
                      "blurry_manifest_sha256": blurry_all.meta.get("sha256")},
        "build": settings,
        "splits": {"train": _summary(train_table), "validation": _summary(validation_table),
                   "test": _summary(test_table), "blurry": _summary(blurry_table),
                   "left_out_not_shown": {name: _left_out(table, build)
                                          for name, table in (*parts.items(), ("blurry", blurry_all))}},
        "metrics": {"held_out": metrics["model"]["held_out"], "blurry": metrics["model"].get("blurry"),
                    "held_out_not_shown": metrics["model"].get("held_out_not_shown"),
                    "validation": model_card["metrics"].get("validation")},
        "baseline": {"architecture": baseline_card["architecture"], "input_size": baseline_card["input_size"],
                     "recipe": baseline_card["training"]["recipe"],
                     "weights_sha256": baseline_card["weights"]["sha256"],
                     "calibration": baseline_card.get("calibration"),
                     "metrics": metrics["baseline"]},
        "timings_s": timings,
        "software": software_versions(),
        "note": ("Trained only on simulated exposures (celestialclass.simulate); every metric here is measured "
                 "on simulated bodies it never saw, not on LCID or any real HST data. Its probabilities are "
                 "calibrated (temperature scaling) on the validation bodies, which is simulated data too."
                 if bank is None else
                 "Trained only on simulated exposures (celestialclass.simulate): parametric bodies, and hybrid "
                 "exposures that take their morphology from real images of the bank; every metric here is "
                 "measured on simulated exposures of bodies and bank objects it never saw, not on LCID or any "
                 "real HST data. Its probabilities are calibrated (temperature scaling) on the validation "
                 "bodies and bank objects, which are simulated exposures too."),
    }
    if bank is not None:
        card["metrics"]["held_out_real"] = metrics["model"]["held_out_real"]
        card["splits"]["test_real"] = _summary(shown["hybrid_test"])
        card["bank"] = {
            "source": pathlib.Path(str(bank.meta.get("source"))).name, "images": len(bank),
            "objects": len(set(bank["object"])),
            "groups": len(set(bank["group"])), "bank_sha256": bank.meta.get("sha256"),
            "reserved_sha256": bank.meta.get("reserved_sha256"),
            "note": "the bank's real images were seen in training as hybrid exposures, those of its held-out "
                    "objects only in evaluation; the images reserved for independent evaluation, and every image "
                    "of their objects, were never seen"}
    write_card(bundle / "default.json", card)
    log(f"bundle: {bundle / 'default.safetensors'} (sha256 {card['weights']['sha256']}) and default.json")
    return read_card(bundle / "default.json")

"""Evaluation reports: metrics, breakdowns, Table 4 beside the paper's, and plots, in one directory."""

from __future__ import annotations

import pathlib

import numpy as np

from ..utils.jsonio import dumps

__all__ = ["evaluate", "write_report", "paper_table4", "plot_confusion", "plot_roc", "roc_points", "plot_reliability",
           "plot_risk_coverage", "plot_training_log"]


def _wrapped(title: str, width: int = 52) -> str:
    """A plot title in lines that fit the figure (a long one was cut at its edges).

    Examples
    --------
    >>> from celestialclass.evaluation.report import _wrapped
    >>> print(_wrapped("resnet18, LCID-Resize: test.csv: 254 simulated chips; x86_64 cpu", 40))
    resnet18, LCID-Resize: test.csv: 254
    simulated chips; x86_64 cpu
    """
    import textwrap

    return "\n".join(textwrap.wrap(title, width)) or title


def _pyplot():
    from ..utils.optional import pyplot

    return pyplot()


def _finish(plt, fig, ax, path, title: str, legend: str | None = None) -> None:
    """Title (wrapped to fit), legend, a tight layout; save to ``path`` and close."""
    ax.set_title(_wrapped(title), fontsize=9)
    if legend:
        ax.legend(loc=legend, fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_confusion(confusion, path, title: str = "", class_names=("galaxy", "nebula/\nstar cluster")) -> None:
    """A confusion matrix in the style of the paper's Fig. 3 (counts and row percentages)."""
    plt = _pyplot()
    matrix = np.asarray(confusion, float)
    rows = matrix.sum(axis=1, keepdims=True)
    fraction = np.divide(matrix, rows, out=np.zeros_like(matrix), where=rows > 0)
    fig, ax = plt.subplots(figsize=(4.2, 3.8), dpi=120)
    ax.imshow(fraction, cmap="Blues", vmin=0, vmax=1)
    for i in range(2):
        for j in range(2):
            ax.text(j, i, f"{int(matrix[i, j])}\n{100 * fraction[i, j]:.2f}%", ha="center", va="center",
                    color="white" if fraction[i, j] > 0.5 else "black")
    ax.set_xticks([0, 1], class_names)
    ax.set_yticks([0, 1], class_names)
    ax.set_xlabel("Predicted label")
    ax.set_ylabel("True label")
    _finish(plt, fig, ax, path, title)


def plot_roc(curves, path, title: str = "") -> None:
    """ROC curves of the nebula/star cluster (NSC) probability.

    Parameters
    ----------
    curves : `~astropy.table.Table` or dict
        A predictions table (columns ``true`` and ``prob_nsc``), or
        ``{label: {"fpr": [...], "tpr": [...], "auc": float}}`` to draw
        several (as a model card records them, `roc_points`).
    """
    if hasattr(curves, "colnames"):
        curves = {"": roc_points(curves)}
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.4, 4.2), dpi=120)
    for label, curve in curves.items():
        ax.plot(curve["fpr"], curve["tpr"], label=f"{label}{': ' if label else ''}AUC = {curve['auc']:.3f}")
    ax.plot([0, 1], [0, 1], ls=":", color="gray")
    ax.set_xlabel("False positive rate (galaxies called nebula/star cluster)")
    ax.set_ylabel("True positive rate (nebulae/star clusters)")
    _finish(plt, fig, ax, path, title, legend="lower right")


def roc_points(predictions) -> dict:
    """The ROC curve of a predictions table as ``{"fpr", "tpr", "auc"}`` (rounded to 4 decimals, for a card)."""
    from .metrics import roc_auc, roc_curve

    keep = np.isfinite(np.asarray(predictions["prob_nsc"], float))
    true, score = np.asarray(predictions["true"])[keep], np.asarray(predictions["prob_nsc"], float)[keep]
    fpr, tpr = roc_curve(true, score)
    return {"fpr": np.round(fpr, 4).tolist(), "tpr": np.round(tpr, 4).tolist(), "auc": roc_auc(true, score)}


def plot_reliability(bins: dict, path, title: str = "") -> None:
    """A reliability diagram: accuracy against confidence per bin, for each of ``bins``.

    ``bins`` maps a label to `~celestialclass.evaluation.calibration.reliability_bins`.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.4, 4.2), dpi=120)
    ax.plot([0.5, 1], [0.5, 1], ls=":", color="gray", label="calibrated")
    for label, b in bins.items():
        confidence, accuracy = np.asarray(b["confidence"], float), np.asarray(b["accuracy"], float)
        filled = np.asarray(b["count"]) > 0
        ax.plot(confidence[filled], accuracy[filled], marker="o", ms=3, label=label)
    ax.set_xlim(0.5, 1.0)
    ax.set_ylim(0.0, 1.02)
    ax.set_xlabel("Confidence (largest class probability)")
    ax.set_ylabel("Accuracy of the chips in the bin")
    _finish(plt, fig, ax, path, title, legend="lower right")


def plot_risk_coverage(curves: dict, path, title: str = "") -> None:
    """Accuracy on the chips answered against the fraction answered (label -> ``{"coverage", "accuracy"}``)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.4, 4.2), dpi=120)
    for label, curve in curves.items():
        ax.plot(curve["coverage"], curve["accuracy"], label=label)
    ax.set_xlim(0, 1.0)
    ax.set_xlabel("Fraction of chips answered")
    ax.set_ylabel("Accuracy on the chips answered")
    _finish(plt, fig, ax, path, title, legend="lower left")


def plot_training_log(log_csv, path) -> None:
    """Loss and accuracy per step from a training ``log.csv``."""
    from astropy.table import Table

    plt = _pyplot()
    log = Table.read(log_csv, format="ascii.csv")
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(8, 3.2), dpi=120)
    a1.plot(log["step"], log["loss"])
    a1.set_xlabel("step")
    a1.set_ylabel("loss")
    a2.plot(log["step"], log["accuracy"])
    a2.set_xlabel("step")
    a2.set_ylabel("batch accuracy")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def paper_table4(metrics: dict, predictions, model: str, data_set: str, measured_on: str):
    """Table 4's layout: the package's row beside the paper's published rows for the same model.

    ``measured_on`` says what the package's numbers come from (data and
    machine); the paper's are on LCID's test set on the paper's GPU machine.
    """
    from astropy.table import Table

    from .paper import TABLE4

    rows = []
    for row in TABLE4:
        if row.model == model:
            rows.append((row.paper_model, row.data_set, row.accuracy, row.f1_galaxy, row.f1_nsc,
                         row.preprocessing_ms, row.classification_ms, row.total_ms,
                         "paper: LCID test set (1,595 chips), paper's GPU"))
    pre = float(np.mean(predictions["preprocess_ms"]))
    cls = float(np.mean(predictions["classify_ms"]))
    rows.append((f"{model} (celestialclass)", data_set, 100 * metrics["accuracy"], 100 * metrics["f1"]["galaxy"],
                 100 * metrics["f1"]["nsc"], pre, cls, pre + cls, measured_on))
    table = Table(rows=rows, names=("model", "data", "accuracy_%", "f1_galaxy_%", "f1_nsc_%",
                                    "preprocessing_ms", "classification_ms", "total_ms", "measured_on"))
    for name in table.colnames[2:8]:
        table[name].format = ".2f"
    return table


def _trust(predictions, temperature: float, min_confidence: float | None) -> tuple[dict, dict]:
    """Calibration and abstention figures of a predictions table, and the curves their plots draw."""
    from ..schema import CLASS_NAMES
    from .calibration import (abstention_summary, ece_if_calibrated, ece_interval, expected_calibration_error,
                              reliability_bins, risk_coverage, softmax)

    if not all(f"logit_{name}" in predictions.colnames for name in CLASS_NAMES):
        return {}, {}
    logits = np.stack([np.asarray(predictions[f"logit_{name}"], float) for name in CLASS_NAMES], axis=1)
    keep = np.isfinite(logits).all(axis=1)
    true, logits = np.asarray(predictions["true"], int)[keep], logits[keep]
    if len(true) == 0:
        return {}, {}
    groups = np.asarray(predictions["ID"])[keep] if "ID" in predictions.colnames else np.arange(len(true))
    before, after = softmax(logits), softmax(logits, temperature)
    bins = {"before": reliability_bins(true, before), "after": reliability_bins(true, after)}
    coverage, accuracy, _ = risk_coverage(true, after)
    at = {f"{c:.2f}": float(accuracy[int(np.ceil(c * len(true))) - 1]) for c in (0.5, 0.8, 0.9, 1.0)}
    figures = {"calibration": {"temperature": float(temperature),
                               "ece_before": expected_calibration_error(true, before),
                               "ece_after": expected_calibration_error(true, after),
                               "ece_after_interval": ece_interval(true, after, groups),
                               "ece_if_calibrated": ece_if_calibrated(after),
                               "reliability": bins},
               "risk_coverage": {"accuracy_at_coverage": at}}
    if min_confidence is not None:
        figures["abstention"] = abstention_summary(true, after, min_confidence)
    return figures, {"bins": bins, "coverage": coverage, "accuracy": accuracy}


def write_report(predictions, out_dir, *, model: str, data_set: str, measured_on: str,
                 training_log=None, plots: bool = True, weights_sha256: str | None = None,
                 temperature: float = 1.0, min_confidence: float | None = None) -> dict:
    """Write an evaluation report: ECSV tables, ``metrics.json`` and PNG plots.

    Files: ``predictions.ecsv``, ``metrics.json``, ``by_instrument.ecsv``,
    ``by_filter.ecsv``, ``table4.ecsv`` (and ``by_subtype.ecsv`` for simulated
    chips); with ``plots``: ``confusion.png``, ``roc.png``,
    ``reliability.png`` (before and after calibration), ``risk_coverage.png``
    and, given the training log, ``training.png``.

    ``metrics.json`` holds `classification_metrics` and:

    * ``interval``: 95 % confidence intervals of accuracy and recall by
      bootstrap over objects (the manifest's ``ID``;
      `~celestialclass.evaluation.metrics.bootstrap_intervals`);
    * ``baselines``: the majority-class, instrument-only and filter-only
      rules on the same chips, each with its interval
      (`~celestialclass.evaluation.baselines.shortcut_baselines`);
    * ``calibration``: the expected calibration error before
      (``temperature`` 1) and after the weights' ``temperature`` (with its
      interval by bootstrap over objects, and what a perfectly calibrated
      model with the same confidences would score on as many chips,
      `~celestialclass.evaluation.calibration.ece_if_calibrated`), and the
      reliability bins;
    * ``risk_coverage``: accuracy on the most confident 50, 80, 90 and 100 %
      of chips, and, given ``min_confidence``, ``abstention``: the coverage
      and accuracy on the chips answered at that threshold;
    * ``roc``: the ROC curve's points; ``weights_sha256`` (when given):
      which weights the report belongs to.

    Returns
    -------
    metrics : dict
    """
    from ..utils.files import atomic_path
    from .baselines import shortcut_baselines
    from .metrics import bootstrap_intervals, breakdown, classification_metrics

    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    metrics = classification_metrics(predictions)
    groups = predictions["ID"] if "ID" in predictions.colnames and len(predictions) else None
    if groups is not None:
        metrics["interval"] = bootstrap_intervals(predictions, groups)
    metrics["baselines"] = shortcut_baselines(predictions, groups=groups)
    trust, curves = _trust(predictions, temperature, min_confidence)
    metrics.update(trust)
    if len(predictions):
        metrics["roc"] = roc_points(predictions)
    metrics["preprocess_ms"] = float(np.mean(predictions["preprocess_ms"]))
    metrics["classify_ms"] = float(np.mean(predictions["classify_ms"]))
    metrics["measured_on"] = measured_on
    if weights_sha256 is not None:
        metrics["weights_sha256"] = weights_sha256
    outputs = {"predictions.ecsv": predictions, "by_instrument.ecsv": breakdown(predictions, "Instrument"),
               "by_filter.ecsv": breakdown(predictions, "Filter"),
               "table4.ecsv": paper_table4(metrics, predictions, model, data_set, measured_on)}
    if "Subtype" in predictions.colnames:  # simulated chips: which kinds of object go wrong
        outputs["by_subtype.ecsv"] = breakdown(predictions, "Subtype")
    for name, table in outputs.items():
        with atomic_path(out_dir / name) as tmp:
            table.write(tmp, format="ascii.ecsv", overwrite=True)
    with atomic_path(out_dir / "metrics.json") as tmp:
        tmp.write_text(dumps(metrics, indent=2) + "\n")
    if plots:
        title = f"{model}, {data_set}: {measured_on}"
        plot_confusion(metrics["confusion"], out_dir / "confusion.png", title)
        plot_roc(predictions, out_dir / "roc.png", title)
        if curves:
            t = metrics["calibration"]
            plot_reliability({f"uncalibrated (ECE {t['ece_before']:.3f})": curves["bins"]["before"],
                              f"T = {t['temperature']:.2f} (ECE {t['ece_after']:.3f})": curves["bins"]["after"]},
                             out_dir / "reliability.png", title)
            plot_risk_coverage({model: {"coverage": curves["coverage"], "accuracy": curves["accuracy"]}},
                               out_dir / "risk_coverage.png", title)
        if training_log is not None and pathlib.Path(training_log).exists():
            plot_training_log(training_log, out_dir / "training.png")
    return metrics


def evaluate(weights, manifest, data_dir, out_dir, *, batch_size: int = 4, device: str = "cpu",
             on_error: str = "raise", plots: bool = True, show_progress: bool | None = None) -> dict:
    """Evaluate trained weights on the chips of a manifest and write a report (`write_report`).

    Parameters
    ----------
    weights : str or path-like
        Registered weights, a training output directory, or a weights file
        (`celestialclass.weights.resolve_weights`).
    manifest : `~astropy.table.Table` or str
        Chips to classify (`celestialclass.datasets.load_manifest`).
    data_dir : path-like
        Directory of ``<OBSID>_raw.fits`` files.
    out_dir : path-like
        Receives the report.
    batch_size, device
        As in `celestialclass.CelestialClassifier`: the chips are classified
        by its engine, on the path users run.
    on_error, plots, show_progress
        As in `ChipDataset` and `write_report`.

    Returns
    -------
    metrics : dict
        `~celestialclass.evaluation.metrics.classification_metrics` plus
        ``measured_on`` (what the numbers were measured on), timings and
        ``weights_sha256`` (the weights evaluated).
    """
    import platform

    from ..classify import CelestialClassifier
    from ..utils.optional import require

    if plots:  # before any work, not after it
        require("matplotlib", "evaluate's plots (or plots=False, --no-plots)")
    from ..datasets import ChipDataset, load_manifest
    from ..datasets.manifests import manifest_name
    from ..schema import TRUTH_MARKERS
    from .runner import predict

    classifier = CelestialClassifier(weights=weights, device=device, batch_size=batch_size)
    preprocess = classifier.preprocess
    table = manifest if hasattr(manifest, "colnames") else load_manifest(manifest)
    dataset = ChipDataset(table, data_dir, preprocess, on_error=on_error)
    predictions = predict(classifier.engine, dataset, show_progress=show_progress)
    simulated = all(c in table.colnames for c in TRUTH_MARKERS)
    source = manifest_name(table, "manifest")
    measured_on = (f"{source}: {len(dataset)} {'simulated ' if simulated else ''}chips; "
                   f"{platform.machine()} {device}")
    data_set = "LCID-Resize" if preprocess.resize else "LCID"
    calibration = classifier.entry.card.get("calibration") or {}
    return write_report(predictions, out_dir, model=classifier.entry.architecture, data_set=data_set,
                        measured_on=measured_on, training_log=classifier.entry.training_log, plots=plots,
                        weights_sha256=classifier.weights_sha256, temperature=classifier.entry.temperature,
                        min_confidence=calibration.get("min_confidence"))

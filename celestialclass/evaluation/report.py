"""Evaluation reports: metrics, breakdowns, Table 4 beside the paper's, and plots, in one directory."""

from __future__ import annotations

import pathlib

import numpy as np

from ..utils.jsonio import dumps

__all__ = ["evaluate", "write_report", "paper_table4", "plot_confusion", "plot_roc", "plot_training_log"]


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


def plot_confusion(confusion, path, title: str = "", class_names=("galaxy", "NSC")) -> None:
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
    ax.set_title(_wrapped(title), fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_roc(predictions, path, title: str = "") -> None:
    """ROC curve of the NSC probability."""
    from .metrics import roc_auc, roc_curve

    plt = _pyplot()
    fpr, tpr = roc_curve(predictions["true"], predictions["prob_nsc"])
    fig, ax = plt.subplots(figsize=(4, 4), dpi=120)
    ax.plot(fpr, tpr, label=f"AUC = {roc_auc(predictions['true'], predictions['prob_nsc']):.3f}")
    ax.plot([0, 1], [0, 1], ls=":", color="gray")
    ax.set_xlabel("False positive rate (galaxy called NSC)")
    ax.set_ylabel("True positive rate (NSC)")
    ax.set_title(_wrapped(title), fontsize=9)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


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


def write_report(predictions, out_dir, *, model: str, data_set: str, measured_on: str,
                 training_log=None, plots: bool = True, weights_sha256: str | None = None) -> dict:
    """Write an evaluation report: ECSV tables, ``metrics.json`` and PNG plots.

    Files: ``predictions.ecsv``, ``metrics.json``, ``by_instrument.ecsv``,
    ``by_filter.ecsv``, ``table4.ecsv`` (and ``by_subtype.ecsv`` for simulated
    chips); with ``plots``: ``confusion.png``,
    ``roc.png`` and, given the training log, ``training.png``.
    ``weights_sha256``, when given, is recorded in ``metrics.json``: it says
    which weights the report belongs to. ``metrics["interval"]`` gives 95 %
    confidence intervals of accuracy and recall by bootstrap over objects
    (the manifest's ``ID``; `~celestialclass.evaluation.metrics.bootstrap_intervals`).

    Returns
    -------
    metrics : dict
    """
    from ..utils.files import atomic_path
    from .metrics import bootstrap_intervals, breakdown, classification_metrics

    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    metrics = classification_metrics(predictions)
    if "ID" in predictions.colnames and len(predictions):
        metrics["interval"] = bootstrap_intervals(predictions, predictions["ID"])
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
    from ..schema import TRUTH_MARKERS
    from .runner import predict

    classifier = CelestialClassifier(weights=weights, device=device, batch_size=batch_size)
    preprocess = classifier.preprocess
    table = manifest if hasattr(manifest, "colnames") else load_manifest(manifest)
    dataset = ChipDataset(table, data_dir, preprocess, on_error=on_error)
    predictions = predict(classifier.engine, dataset, show_progress=show_progress)
    simulated = all(c in table.colnames for c in TRUTH_MARKERS)
    source = pathlib.Path(str(table.meta.get("source", "manifest"))).name
    measured_on = (f"{source}: {len(dataset)} {'simulated ' if simulated else ''}chips; "
                   f"{platform.machine()} {device}")
    data_set = "LCID-Resize" if preprocess.resize else "LCID"
    return write_report(predictions, out_dir, model=classifier.entry.architecture, data_set=data_set,
                        measured_on=measured_on, training_log=classifier.entry.training_log, plots=plots,
                        weights_sha256=classifier.weights_sha256)

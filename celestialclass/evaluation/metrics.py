"""Classification metrics from a table of predictions (numpy only)."""

from __future__ import annotations

import numpy as np

__all__ = ["confusion_matrix", "classification_metrics", "roc_curve", "roc_auc", "breakdown", "bootstrap_intervals"]


def confusion_matrix(true, predicted, n_classes: int = 2) -> np.ndarray:
    """Counts ``[true class, predicted class]``."""
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(true, int), np.asarray(predicted, int)), 1)
    return matrix


def roc_curve(true, score):
    """False- and true-positive rates as the threshold on ``score`` (for class 1) falls."""
    true = np.asarray(true, int)
    order = np.argsort(-np.asarray(score, float), kind="stable")
    true = true[order]
    tps = np.concatenate([[0], np.cumsum(true)])
    fps = np.concatenate([[0], np.cumsum(1 - true)])
    positives, negatives = max(tps[-1], 1), max(fps[-1], 1)
    return fps / negatives, tps / positives


def roc_auc(true, score) -> float:
    """Area under the ROC curve (the Mann-Whitney statistic, ties counted half); NaN with one class."""
    true = np.asarray(true, int)
    score = np.asarray(score, float)
    positives, negatives = score[true == 1], score[true == 0]
    if len(positives) == 0 or len(negatives) == 0:
        return float("nan")
    from scipy.stats import rankdata

    ranks = rankdata(np.concatenate([positives, negatives]))
    return float((ranks[:len(positives)].sum() - len(positives) * (len(positives) + 1) / 2)
                 / (len(positives) * len(negatives)))


def classification_metrics(predictions, class_names=("galaxy", "nsc")) -> dict:
    """Accuracy, per-class precision/recall/F1, confusion matrix and ROC AUC of a predictions table.

    Parameters
    ----------
    predictions : `~astropy.table.Table` or dict of arrays
        Columns ``true`` and ``predicted`` (class indices) and ``prob_nsc``
        (probability of class 1).

    Returns
    -------
    metrics : dict
        ``n``, ``accuracy``, ``precision``/``recall``/``f1`` (dicts by class),
        ``confusion`` (nested list, rows = true class), ``roc_auc``. A
        precision, recall or F1 with nothing to count (a class neither
        present nor predicted) is NaN.

    Examples
    --------
    >>> from celestialclass.evaluation.metrics import classification_metrics
    >>> m = classification_metrics({"true": [0, 0, 1, 1], "predicted": [0, 1, 1, 1],
    ...                             "prob_nsc": [0.1, 0.6, 0.8, 0.9]})
    >>> m["accuracy"], m["f1"]["nsc"], m["roc_auc"], m["confusion"]
    (0.75, 0.8, 1.0, [[1, 1], [0, 2]])
    """
    true = np.asarray(predictions["true"], int)
    predicted = np.asarray(predictions["predicted"], int)
    matrix = confusion_matrix(true, predicted, len(class_names))
    out = {"n": int(len(true)), "accuracy": float((true == predicted).mean()) if len(true) else float("nan"),
           "precision": {}, "recall": {}, "f1": {}, "confusion": matrix.tolist(),
           "roc_auc": roc_auc(true, predictions["prob_nsc"])}
    for k, name in enumerate(class_names):
        tp = matrix[k, k]
        predicted_k, actual_k = matrix[:, k].sum(), matrix[k, :].sum()  # TP + FP, TP + FN
        precision = tp / predicted_k if predicted_k else float("nan")
        recall = tp / actual_k if actual_k else float("nan")
        # 2TP / (2TP + FP + FN): 0 when the class was missed or wrongly given, undefined (NaN) only
        # when it is neither present nor predicted (a sub-type of the other class in a breakdown)
        f1 = 2 * tp / (predicted_k + actual_k) if predicted_k + actual_k else float("nan")
        out["precision"][name], out["recall"][name], out["f1"][name] = float(precision), float(recall), float(f1)
    return out


def breakdown(predictions, column: str, class_names=("galaxy", "nsc")):
    """Metrics per value of ``column`` (e.g. ``Instrument`` or ``Filter``), as a `~astropy.table.Table`."""
    from astropy.table import Table

    rows = []
    values = np.asarray(predictions[column]).astype(str)
    for value in sorted(set(values)):
        selected = values == value
        sub = {k: np.asarray(predictions[k])[selected] for k in ("true", "predicted", "prob_nsc")}
        m = classification_metrics(sub, class_names)
        rows.append((value, m["n"], m["accuracy"], m["f1"][class_names[0]], m["f1"][class_names[1]], m["roc_auc"]))
    return Table(rows=rows, names=(column, "n", "accuracy", f"f1_{class_names[0]}", f"f1_{class_names[1]}",
                                   "roc_auc"), dtype=(str, int, float, float, float, float))


def bootstrap_intervals(predictions, groups, class_names=("galaxy", "nsc"), *, level: float = 0.95,
                        n_resamples: int = 2000, seed: int = 0) -> dict:
    """Confidence intervals of accuracy and per-class recall, by bootstrap over objects.

    Chips of one object are not independent (they share its morphology), so
    the resampling draws whole objects (``groups``: one label per chip, such
    as a manifest's ``ID``) with replacement, and every chip of a drawn
    object comes along.

    Parameters
    ----------
    predictions : `~astropy.table.Table` or dict of arrays
        Columns ``true`` and ``predicted`` (class indices).
    groups : array-like
        The object of each chip.
    level : float, optional
        Coverage of the central interval.
    n_resamples, seed : int, optional

    Returns
    -------
    intervals : dict
        ``level``, ``objects`` (how many), ``accuracy`` ([low, high]) and
        ``recall`` ({class: [low, high]}); an interval is NaN where a
        resample has no chip of the class.

    Examples
    --------
    >>> from celestialclass.evaluation.metrics import bootstrap_intervals
    >>> ci = bootstrap_intervals({"true": [0, 0, 1, 1], "predicted": [0, 0, 1, 1]}, ["a", "a", "b", "c"])
    >>> ci["objects"], ci["accuracy"]
    (3, [1.0, 1.0])
    """
    true = np.asarray(predictions["true"], int)
    right = true == np.asarray(predictions["predicted"], int)
    names, index = np.unique(np.asarray(groups).astype(str), return_inverse=True)
    # Per object: chips, and right chips, per class.
    chips = np.zeros((len(names), len(class_names)))
    hits = np.zeros((len(names), len(class_names)))
    np.add.at(chips, (index, true), 1)
    np.add.at(hits, (index, true), right)
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(len(names), np.full(len(names), 1 / len(names)), size=n_resamples)
    drawn_chips, drawn_hits = draws @ chips, draws @ hits
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = drawn_hits.sum(1) / drawn_chips.sum(1)
        recall = drawn_hits / drawn_chips
    tail = 100 * (1 - level) / 2

    def interval(values):
        values = values[np.isfinite(values)]
        if len(values) < n_resamples:
            return [float("nan"), float("nan")]
        return [float(v) for v in np.percentile(values, [tail, 100 - tail])]

    return {"level": level, "objects": int(len(names)), "accuracy": interval(accuracy),
            "recall": {name: interval(recall[:, k]) for k, name in enumerate(class_names)}}

"""How far a model's probabilities can be trusted: calibration error, reliability, and risk against coverage.

A probability is calibrated when, of the chips given ``p = 0.8``, 80 % are
right. These functions measure that on a predictions table
(`celestialclass.evaluation.runner.predict`): the expected calibration error
of Guo et al. (2017), the reliability diagram's bins, and the accuracy on the
chips answered when those below a confidence are left unanswered
(`celestialclass.CelestialClassifier.predict`'s ``min_confidence``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["softmax", "reliability_bins", "expected_calibration_error", "ece_interval", "ece_if_calibrated",
           "risk_coverage", "confidence_for_coverage", "abstention_summary"]

#: Equal-width confidence bins of the calibration error and the reliability diagram.
N_BINS = 15


def softmax(logits, temperature: float = 1.0) -> np.ndarray:
    """Class probabilities ``softmax(logits / temperature)`` of an (n, classes) array (float64).

    Examples
    --------
    >>> from celestialclass.evaluation.calibration import softmax
    >>> softmax([[0.0, 2.0]], temperature=2.0).round(3).tolist()
    [[0.269, 0.731]]
    """
    z = np.asarray(logits, float) / float(temperature)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _confidence(true, probabilities):
    true = np.asarray(true, int)
    probabilities = np.asarray(probabilities, float)
    return probabilities.max(axis=1), probabilities.argmax(axis=1) == true


def reliability_bins(true, probabilities, n_bins: int = N_BINS) -> dict:
    """The reliability diagram: per confidence bin, its chips, mean confidence and accuracy.

    Parameters
    ----------
    true : array-like of int
        True class indices.
    probabilities : array-like, shape (n, classes)
        Each chip's class probabilities; the confidence is the largest.
    n_bins : int, optional
        Equal-width bins over [0, 1] (with two classes the confidence is at
        least 0.5, so the lower half stays empty).

    Returns
    -------
    bins : dict
        ``edges`` (n_bins + 1), and per bin ``count``, ``confidence`` and
        ``accuracy`` (NaN where a bin is empty).
    """
    confidence, right = _confidence(true, probabilities)
    edges = np.linspace(0, 1, n_bins + 1)
    index = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, n_bins - 1)
    count = np.bincount(index, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(index, weights=confidence, minlength=n_bins) / count
        accuracy = np.bincount(index, weights=right.astype(float), minlength=n_bins) / count
    return {"edges": edges.tolist(), "count": count.tolist(), "confidence": mean_confidence.tolist(),
            "accuracy": accuracy.tolist()}


def expected_calibration_error(true, probabilities, n_bins: int = N_BINS) -> float:
    """The expected calibration error: the chip-weighted mean of ``|accuracy - confidence|`` over the bins.

    Examples
    --------
    >>> from celestialclass.evaluation.calibration import expected_calibration_error
    >>> # four chips said 0.9 and three were right: off by 0.15
    >>> round(expected_calibration_error([0, 0, 0, 1], [[0.9, 0.1]] * 4), 3)
    0.15
    """
    bins = reliability_bins(true, probabilities, n_bins)
    count = np.asarray(bins["count"], float)
    if count.sum() == 0:
        return float("nan")
    gap = np.abs(np.nan_to_num(np.asarray(bins["accuracy"]) - np.asarray(bins["confidence"])))
    return float((gap * count).sum() / count.sum())


def ece_if_calibrated(probabilities, n_bins: int = N_BINS, *, n_draws: int = 1000, seed: int = 0) -> dict:
    """The expected calibration error a perfectly calibrated model would score with these confidences.

    ECE is biased upwards on few chips: even a model whose probabilities are
    exactly right scores above 0, by chance, in sparsely filled bins. Each
    draw lets every chip be right with its own confidence and measures the
    ECE; the median and central 95 % of the draws say where a measured ECE
    stops being evidence of miscalibration.

    Returns
    -------
    dict
        ``median``, ``interval`` ([2.5 %, 97.5 %]), ``chips``, ``draws``.

    Examples
    --------
    >>> from celestialclass.evaluation.calibration import ece_if_calibrated
    >>> floor = ece_if_calibrated([[0.9, 0.1], [0.2, 0.8]] * 100)
    >>> floor["chips"], 0 < floor["median"] < 0.05
    (200, True)
    """
    probabilities = np.asarray(probabilities, float)
    confidence = probabilities.max(axis=1)
    predicted = probabilities.argmax(axis=1)
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n_draws):
        right = rng.random(len(confidence)) < confidence
        draws.append(expected_calibration_error(np.where(right, predicted, 1 - predicted), probabilities, n_bins))
    low, median, high = np.percentile(draws, [2.5, 50, 97.5]) if draws else (np.nan,) * 3
    return {"median": float(median), "interval": [float(low), float(high)], "chips": int(len(confidence)),
            "draws": int(n_draws)}


def ece_interval(true, probabilities, groups, n_bins: int = N_BINS, *, level: float = 0.95,
                 n_resamples: int = 1000, seed: int = 0) -> list[float]:
    """A confidence interval of the expected calibration error, by bootstrap over objects (``groups``).

    Examples
    --------
    >>> from celestialclass.evaluation.calibration import ece_interval
    >>> low, high = ece_interval([0, 1] * 50, [[0.9, 0.1], [0.2, 0.8]] * 50, list(range(100)))
    >>> 0 <= low <= high < 0.3
    True
    """
    true, probabilities = np.asarray(true, int), np.asarray(probabilities, float)
    names, index = np.unique(np.asarray(groups).astype(str), return_inverse=True)
    members = [np.flatnonzero(index == k) for k in range(len(names))]
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n_resamples):
        chips = np.concatenate([members[k] for k in rng.integers(0, len(names), len(names))])
        values.append(expected_calibration_error(true[chips], probabilities[chips], n_bins))
    tail = 100 * (1 - level) / 2
    return [float(v) for v in np.percentile(values, [tail, 100 - tail])]


def risk_coverage(true, probabilities) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Accuracy on the chips answered, as the confidence needed to answer falls.

    Returns
    -------
    coverage, accuracy, confidence : `~numpy.ndarray`
        With the chips sorted by confidence (highest first), entry ``k``
        answers the first ``k + 1``: the fraction of chips answered, their
        accuracy, and the confidence of the last one answered.

    Examples
    --------
    >>> from celestialclass.evaluation.calibration import risk_coverage
    >>> coverage, accuracy, _ = risk_coverage([0, 1, 0, 1], [[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.45, 0.55]])
    >>> coverage.tolist(), accuracy.round(3).tolist()
    ([0.25, 0.5, 0.75, 1.0], [1.0, 1.0, 0.667, 0.75])
    """
    confidence, right = _confidence(true, probabilities)
    order = np.argsort(-confidence, kind="stable")
    answered = np.arange(1, len(order) + 1)
    return answered / max(len(order), 1), np.cumsum(right[order]) / answered, confidence[order]


def confidence_for_coverage(probabilities, coverage: float) -> float:
    """The ``min_confidence`` that answers about ``coverage`` of these chips (the confidences' quantile).

    Examples
    --------
    >>> from celestialclass.evaluation.calibration import confidence_for_coverage
    >>> confidence_for_coverage([[0.9, 0.1], [0.3, 0.7], [0.4, 0.6], [0.45, 0.55]], 0.75)
    0.6
    """
    confidence = np.asarray(probabilities, float).max(axis=1)
    if not 0 < coverage <= 1:
        raise ValueError(f"coverage must be in (0, 1], got {coverage}")
    if len(confidence) == 0:
        return 0.5
    return float(np.sort(confidence)[::-1][int(np.ceil(coverage * len(confidence))) - 1])


def abstention_summary(true, probabilities, min_confidence: float) -> dict:
    """What answering only chips at or above ``min_confidence`` does: coverage, and accuracy answered and overall.

    Examples
    --------
    >>> from celestialclass.evaluation.calibration import abstention_summary
    >>> abstention_summary([0, 1, 0, 1], [[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.45, 0.55]], 0.7)
    {'min_confidence': 0.7, 'coverage': 0.5, 'accuracy_answered': 1.0, 'accuracy_all': 0.75, 'n': 4}
    """
    confidence, right = _confidence(true, probabilities)
    answered = confidence >= min_confidence
    return {"min_confidence": float(min_confidence), "coverage": float(answered.mean()) if len(right) else 0.0,
            "accuracy_answered": float(right[answered].mean()) if answered.any() else float("nan"),
            "accuracy_all": float(right.mean()) if len(right) else float("nan"), "n": int(len(right))}

"""Calibrate a trained model's probabilities by temperature scaling, on validation objects.

A network trained with cross-entropy is often over- or under-confident: of
the chips it calls NSC with ``p = 0.9``, far fewer or more than 90 % may be.
Temperature scaling (Guo et al. 2017) divides the logits by one number ``T``
fitted to minimise the negative log-likelihood on chips of objects training
never saw (the validation split). It changes no label (the largest logit
stays the largest) and no ROC curve, only what the probabilities say.

``celestialclass train`` (with ``--validation``) and ``celestialclass
default-model`` fit it at the end of training and record it in the model
card's ``calibration``; every inference path then applies it
(`celestialclass.weights.WeightsEntry.temperature`,
`celestialclass.engine.InferenceEngine`).
"""

from __future__ import annotations

import pathlib

import numpy as np

from ..exceptions import CelestialClassError

__all__ = ["fit_temperature", "calibration_record", "calibrate"]

#: Temperatures searched (a bounded search over log T).
TEMPERATURE_RANGE = (0.05, 20.0)

#: Fraction of chips ``min_confidence`` is chosen to answer on the validation objects.
ANSWERED_FRACTION = 0.9


def _nll(logits, true, temperature):
    from ..evaluation.calibration import softmax

    p = softmax(logits, temperature)[np.arange(len(true)), true]
    return float(-np.mean(np.log(np.clip(p, 1e-300, None))))


def fit_temperature(logits, true) -> float:
    """The temperature that minimises the negative log-likelihood of ``true`` under ``softmax(logits / T)``.

    Parameters
    ----------
    logits : array-like, shape (n, classes)
    true : array-like of int

    Returns
    -------
    temperature : float
        In `TEMPERATURE_RANGE`; 1 for no chips.

    Examples
    --------
    >>> import numpy as np
    >>> from celestialclass.training.calibration import fit_temperature
    >>> rng = np.random.default_rng(0)
    >>> true = rng.integers(0, 2, 2000)
    >>> margin = rng.normal(1.0, 1.0, 2000) * np.where(true == 1, 1, -1)  # calibrated at T = 1
    >>> logits = np.stack([-margin, margin], axis=1) * 3      # three times too confident
    >>> round(fit_temperature(logits, true), 1)
    3.0
    """
    from scipy.optimize import minimize_scalar

    logits = np.asarray(logits, float)
    true = np.asarray(true, int)
    keep = np.isfinite(logits).all(axis=1)
    logits, true = logits[keep], true[keep]
    if len(true) == 0:
        return 1.0
    low, high = np.log(TEMPERATURE_RANGE)
    result = minimize_scalar(lambda log_t: _nll(logits, true, np.exp(log_t)), bounds=(low, high),
                             method="bounded", options={"xatol": 1e-6})
    return float(np.exp(result.x))


def calibration_record(predictions, measured_on: str) -> dict:
    """Fit the temperature on a predictions table of validation chips and say what it did there.

    Parameters
    ----------
    predictions : `~astropy.table.Table`
        From `celestialclass.evaluation.runner.predict`, with ``logit_*``
        columns and the manifest's ``ID`` (objects).
    measured_on : str
        What the chips are (``validation.csv: 242 chips``).

    Returns
    -------
    record : dict
        ``method`` (``"temperature"``), ``temperature``, ``fitted_on``,
        ``chips``, ``objects``, the expected calibration error and negative
        log-likelihood there before and after, and ``min_confidence``: the
        confidence that answers `ANSWERED_FRACTION` of these chips once
        calibrated (a starting point for ``predict(..., min_confidence=...)``).
    """
    from ..evaluation.calibration import confidence_for_coverage, expected_calibration_error, softmax
    from ..schema import CLASS_NAMES

    logits = np.stack([np.asarray(predictions[f"logit_{name}"], float) for name in CLASS_NAMES], axis=1)
    true = np.asarray(predictions["true"], int)
    keep = np.isfinite(logits).all(axis=1)
    if not keep.any():
        raise CelestialClassError("no chips to calibrate on: none of them could be classified")
    logits, true = logits[keep], true[keep]
    temperature = fit_temperature(logits, true)
    before, after = softmax(logits), softmax(logits, temperature)
    objects = len(set(np.asarray(predictions["ID"]).astype(str)[keep])) if "ID" in predictions.colnames else None
    return {"method": "temperature", "temperature": temperature, "fitted_on": measured_on,
            "chips": int(keep.sum()), "objects": objects,
            "ece_before": expected_calibration_error(true, before),
            "ece_after": expected_calibration_error(true, after),
            "nll_before": _nll(logits, true, 1.0), "nll_after": _nll(logits, true, temperature),
            "min_confidence": confidence_for_coverage(after, ANSWERED_FRACTION),
            "answered_fraction": ANSWERED_FRACTION}


def calibrate(weights, manifest, data_dir, *, show_progress: bool | None = None) -> dict:
    """Fit a trained run's temperature on ``manifest``'s chips and record it in its model card.

    Parameters
    ----------
    weights : path-like
        A ``celestialclass train`` output directory (its ``model_card.json``
        receives the ``calibration`` record; the weights file is not
        touched, so its sha256 stays).
    manifest : `~astropy.table.Table`
        Validation chips: of objects the model never saw in training, and
        never the ones a result will be reported on.
    data_dir : path-like
        Directory of their raw files.

    Returns
    -------
    card : dict
        The run's card, with ``calibration`` (`calibration_record`).
    """
    from ..cards import read_card, write_card
    from ..datasets import ChipDataset
    from ..datasets.manifests import manifest_name
    from ..engine import InferenceEngine
    from ..evaluation.runner import predict
    from ..weights import resolve_weights

    card_path = pathlib.Path(weights) / "model_card.json"
    if not card_path.is_file():
        raise CelestialClassError("not a training output directory (no model_card.json)", path=weights)
    if len(manifest) == 0:
        raise CelestialClassError("no chips to calibrate on: the manifest is empty",
                                  path=manifest.meta.get("source", "manifest"))
    entry = resolve_weights(weights)
    engine = InferenceEngine(entry.build_model(), entry.class_names, "cpu", name=entry.name)
    dataset = ChipDataset(manifest, data_dir, entry.preprocess)
    predictions = predict(engine, dataset, show_progress=show_progress)
    source = manifest_name(manifest, "manifest")
    card = read_card(card_path)
    card["calibration"] = calibration_record(predictions, f"{source}: {len(dataset)} chips")
    write_card(card_path, card)
    return card

"""Run a classifier's engine over a dataset, timing preprocessing and classification per chip (Table 4's split)."""

from __future__ import annotations

import numpy as np

__all__ = ["predict"]


def predict(engine, dataset, *, show_progress=None):
    """Predictions for every chip of a `~celestialclass.datasets.ChipDataset`.

    Parameters
    ----------
    engine : `celestialclass.engine.InferenceEngine`
        The engine users' classifiers run (``CelestialClassifier(...).engine``).
    dataset : `~celestialclass.datasets.ChipDataset`
        Read with the weights' preprocessing, as the classifier reads a file.
    show_progress : bool, optional

    Returns
    -------
    table : `~astropy.table.Table`
        The dataset's manifest columns plus ``true``, ``predicted`` (class
        indices in `celestialclass.schema.CLASS_NAMES`), ``prob_galaxy``,
        ``prob_nsc`` (found by class name in the engine's outputs, after its
        calibration temperature), ``logit_galaxy``, ``logit_nsc`` (before
        it: what calibration is fitted and judged on),
        ``preprocess_ms`` (reading the raw file, trimming, scaling) and
        ``classify_ms`` (the forward pass, per chip of its batch).
    """
    from astropy.table import Table

    from ..schema import CLASS_NAMES
    from ..utils.progress import progress

    n = len(dataset)
    chips = ((i, dataset[i][0]) for i in progress(range(n), desc="evaluate", enabled=show_progress))
    results = list(engine.run(chips))
    probs = np.array([[r.probability(engine.class_names, name) for name in CLASS_NAMES] for r in results])
    probs = probs.reshape(n, len(CLASS_NAMES))
    nan = np.full(len(engine.class_names), np.nan)
    logits = np.array([[(r.logits if r.logits is not None else nan)[engine.class_names.index(name)]
                        for name in CLASS_NAMES] for r in results]).reshape(n, len(CLASS_NAMES))
    table = Table(dataset.manifest, copy=True)
    table["true"] = np.asarray(dataset.labels, int)
    table["predicted"] = probs.argmax(1)
    table["prob_galaxy"] = probs[:, CLASS_NAMES.index("galaxy")]
    table["prob_nsc"] = probs[:, CLASS_NAMES.index("nsc")]
    for name in CLASS_NAMES:
        table[f"logit_{name}"] = logits[:, CLASS_NAMES.index(name)]
    table["preprocess_ms"] = [r.preprocess_ms for r in results]
    table["classify_ms"] = [r.classify_ms for r in results]
    return table

"""Calibrate a trained model's decision threshold on held-out chips.

A network trained with cross-entropy calls a chip NSC when its NSC probability
passes 0.5. `calibrate` measures, on chips of bodies that training never saw
(the validation split), the threshold at which accuracy is highest, and folds
it into the last layer's bias, so the calibrated weights are an ordinary model
whose 0.5 is that threshold. It helps a model whose probabilities are biased
towards one class; with a few hundred chips the chosen threshold is noisy, and
for the default model's build it did not help (see :ref:`default-model`).
"""

from __future__ import annotations

import json
import math
import pathlib
import shutil

import numpy as np

from ..exceptions import CelestialClassError

__all__ = ["best_threshold", "calibrate"]

#: Thresholds tried: 0.01, 0.02, ..., 0.99.
THRESHOLDS = np.round(np.arange(1, 100) / 100, 2)


def best_threshold(true, prob_nsc) -> float:
    """The NSC-probability threshold at which most chips are right (the middle of the best ones).

    Parameters
    ----------
    true : array-like of int
        True class indices (0 galaxy, 1 NSC).
    prob_nsc : array-like of float
        NSC probabilities.

    Returns
    -------
    threshold : float
        One of 0.01, 0.02, ..., 0.99; 0.5 when there are no chips. Of the
        thresholds that tie for the highest accuracy, the median (a threshold
        at the edge of a plateau would follow single chips).

    Examples
    --------
    >>> from celestialclass.training.calibration import best_threshold
    >>> best_threshold([0, 0, 1, 1], [0.1, 0.2, 0.35, 0.9])  # all right from 0.20 to 0.34
    0.27
    """
    true = np.asarray(true, dtype=int)
    prob = np.asarray(prob_nsc, dtype=float)
    if true.size == 0:
        return 0.5
    accuracy = ((prob[None, :] > THRESHOLDS[:, None]) == (true[None, :] == 1)).mean(axis=1)
    best = THRESHOLDS[accuracy == accuracy.max()]
    return float(best[(len(best) - 1) // 2])


def _last_linear(model, weights):
    from torch import nn

    if any(hasattr(m, "member_logits") for m in model.modules()):
        raise CelestialClassError(f"{type(model).__name__} averages the probabilities of several members: no one "
                                  "layer's bias can carry a threshold on their mean, so it cannot be calibrated",
                                  path=weights)
    layers = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not layers or layers[-1].out_features != 2 or layers[-1].bias is None:
        raise CelestialClassError(f"{type(model).__name__} has no final two-class linear layer with a bias to "
                                  "calibrate", path=weights)
    return layers[-1]


def calibrate(weights, manifest, data_dir, out_dir, *, show_progress: bool | None = None) -> dict:
    """Fold the threshold most accurate on ``manifest``'s chips into a trained model's weights.

    Parameters
    ----------
    weights : str or path-like
        Trained weights (`celestialclass.weights.resolve_weights`), e.g. a
        ``celestialclass train`` output directory.
    manifest : `~astropy.table.Table`
        Held-out chips (of bodies the model never saw in training).
    data_dir : path-like
        Directory of their raw files.
    out_dir : path-like
        Receives ``model.safetensors`` (the calibrated weights),
        ``model_card.json`` (the card, with a ``calibration`` record and the new
        sha256) and a copy of the training log.

    Returns
    -------
    card : dict
        The calibrated model's card. Its ``calibration`` gives the
        ``threshold`` chosen, the ``logit_offset`` added to the NSC logit,
        the chips and bodies it was measured on, and their accuracy before
        and after.
    """
    import torch

    from ..cards import write_card
    from ..datasets import ChipDataset
    from ..engine import InferenceEngine
    from ..evaluation.runner import predict
    from ..utils.files import atomic_path
    from ..weights import resolve_weights, save_weights

    if len(manifest) == 0:
        raise CelestialClassError("no chips to calibrate on: the manifest is empty",
                                  path=manifest.meta.get("source", "manifest"))
    entry = resolve_weights(weights)
    model, preprocess, card = entry.build_model(), entry.preprocess, entry.card
    last = _last_linear(model, weights)  # refuse a model that cannot carry a threshold before classifying
    dataset = ChipDataset(manifest, data_dir, preprocess)
    engine = InferenceEngine(model, entry.class_names, "cpu", name=entry.name)
    predictions = predict(engine, dataset, show_progress=show_progress)
    true, prob = np.asarray(predictions["true"]), np.asarray(predictions["prob_nsc"])
    threshold = best_threshold(true, prob)
    offset = -math.log(threshold / (1 - threshold))
    with torch.no_grad():
        last.bias[1] += offset
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sha256 = save_weights(model.state_dict(), out / "model.safetensors",
                          {"architecture": card["architecture"], "preprocess": preprocess.to_dict()})
    log = entry.training_log
    if log is not None:
        with atomic_path(out / "log.csv") as tmp:
            shutil.copyfile(log, tmp)
    card = json.loads(json.dumps(card))  # a copy
    card["weights"] = {"file": "model.safetensors", "sha256": sha256}
    card["calibration"] = {
        "threshold": threshold, "logit_offset": offset,
        "measured_on": f"{pathlib.Path(str(manifest.meta.get('source', 'manifest'))).name}: {len(dataset)} chips "
                       f"of {len(set(dataset.manifest['ID']))} bodies",
        "accuracy_before": float(((prob > 0.5) == (true == 1)).mean()),
        "accuracy_after": float(((prob > threshold) == (true == 1)).mean()),
    }
    write_card(out / "model_card.json", card)
    return card

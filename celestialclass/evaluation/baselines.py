"""Shortcut baselines: what a rule that never looks at the pixels scores on the same chips.

An accuracy means little alone. On the paper's own test list an "ACS means
nebula, WFC3 means galaxy" rule is right about 79 % of the time, and always
answering the larger class 53 %; a model's accuracy must be read against
such rules. `shortcut_baselines` scores, on the chips evaluated:

* ``majority``: always the most common class;
* ``instrument`` and ``filter``: for each instrument (or filter), its most
  common class.

The rules are fitted on the very chips they are scored on, which is the
best any rule of that kind could do there: an upper bound, so a model that
beats it beats every such shortcut.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SHORTCUTS", "shortcut_baselines"]

#: Manifest columns a shortcut rule may look at, by the baseline's name.
SHORTCUTS = {"instrument": "Instrument", "filter": "Filter"}


def _rule(values, true, n_classes):
    """Each value's most common class (ties to the lower class index), and the chips' predictions."""
    names, index = np.unique(values, return_inverse=True)
    counts = np.zeros((len(names), n_classes), int)
    np.add.at(counts, (index, true), 1)
    best = counts.argmax(axis=1)
    return {str(name): int(k) for name, k in zip(names, best)}, best[index]


def shortcut_baselines(predictions, class_names=("galaxy", "nsc"), *, groups=None, level: float = 0.95) -> dict:
    """Accuracy of the majority-class rule and of one-column rules on a predictions table.

    Parameters
    ----------
    predictions : `~astropy.table.Table`
        Column ``true`` (class indices) and, where present, the manifest's
        ``Instrument`` and ``Filter``.
    class_names : sequence of str
    groups : array-like, optional
        Each chip's object (a manifest's ``ID``): gives each baseline a
        confidence interval by bootstrap over objects, as the model's.
    level : float, optional

    Returns
    -------
    baselines : dict
        Per baseline: ``accuracy``, ``rule`` (the class chosen, or per
        column value) and, with ``groups``, ``interval``.

    Examples
    --------
    >>> from astropy.table import Table
    >>> from celestialclass.evaluation.baselines import shortcut_baselines
    >>> chips = Table({"true": [0, 0, 1, 1, 1], "Instrument": ["WFC3", "WFC3", "ACS", "ACS", "WFC3"],
    ...                "Filter": ["F606W"] * 5})
    >>> b = shortcut_baselines(chips)
    >>> b["majority"]["accuracy"], b["instrument"]["accuracy"], b["instrument"]["rule"]
    (0.6, 0.8, {'ACS': 'nsc', 'WFC3': 'galaxy'})
    """
    from .metrics import bootstrap_intervals

    true = np.asarray(predictions["true"], int)
    n_classes = len(class_names)
    if len(true) == 0:
        return {}
    rules = {"majority": ({"*": int(np.bincount(true, minlength=n_classes).argmax())},
                          np.full(len(true), np.bincount(true, minlength=n_classes).argmax()))}
    for name, column in SHORTCUTS.items():
        if column in predictions.colnames:
            rules[name] = _rule(np.asarray(predictions[column]).astype(str), true, n_classes)
    out = {}
    for name, (rule, predicted) in rules.items():
        named = {value: class_names[k] for value, k in rule.items()}
        out[name] = {"accuracy": float((predicted == true).mean()),
                     "rule": named["*"] if name == "majority" else named}
        if groups is not None:
            out[name]["interval"] = bootstrap_intervals({"true": true, "predicted": predicted}, groups,
                                                        class_names, level=level)["accuracy"]
    return out

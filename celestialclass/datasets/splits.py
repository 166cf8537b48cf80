"""Splits by body: chips of one object never end up on both sides."""

from __future__ import annotations

import numpy as np

from ..exceptions import CelestialClassError

__all__ = ["split_by_body"]


def split_by_body(manifest, test_fraction: float = 0.2, seed: int = 0):
    """Split a manifest into train and test parts by body (the ``ID`` column), per class.

    Bodies of each class are shuffled with ``seed`` and moved to the test
    side until it holds about ``test_fraction`` of that class's chips, as the
    paper split LCID 80/20 by body.

    Parameters
    ----------
    manifest : `~astropy.table.Table`
        From `load_manifest`.
    test_fraction : float, optional
        Target fraction of chips on the test side (0 < f < 1).
    seed : int, optional

    Returns
    -------
    train, test : `~astropy.table.Table`

    Examples
    --------
    >>> from celestialclass.datasets import load_manifest, split_by_body
    >>> train, test = split_by_body(load_manifest("lcid-test"), 0.3, seed=1)
    >>> set(train["ID"]) & set(test["ID"])
    set()
    """
    if not 0 < test_fraction < 1:
        raise CelestialClassError(f"test_fraction must be between 0 and 1, got {test_fraction}")
    rng = np.random.default_rng(seed)
    ids = np.asarray(manifest["ID"]).astype(str)
    test_bodies = set()
    for label in sorted(set(str(v) for v in manifest["label"])):
        in_class = np.asarray(manifest["label"]) == label
        bodies = sorted(set(ids[in_class]))
        if len(bodies) < 2:
            raise CelestialClassError(f"class {label!r} has {len(bodies)} body; a split by body needs two")
        rng.shuffle(bodies)
        counts = {b: int((ids == b).sum()) for b in bodies}
        target = test_fraction * in_class.sum()
        taken = 0
        for body in bodies[:-1]:  # always leave one body for training
            if taken >= target or (taken and abs(taken + counts[body] - target) > abs(taken - target)):
                continue
            test_bodies.add(body)
            taken += counts[body]
        if not any(b in test_bodies for b in bodies):
            test_bodies.add(bodies[0])
    is_test = np.array([i in test_bodies for i in ids])
    return manifest[~is_test], manifest[is_test]

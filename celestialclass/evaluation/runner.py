"""Run a model over a dataset, timing preprocessing and classification per chip (Table 4's split)."""

from __future__ import annotations

import time

import numpy as np

__all__ = ["predict"]


def predict(model, preprocess, dataset, *, batch_size: int = 4, device: str = "cpu", show_progress=None):
    """Predictions for every chip of a `~celestialclass.datasets.ChipDataset`.

    Returns
    -------
    table : `~astropy.table.Table`
        The dataset's manifest columns plus ``true``, ``predicted``,
        ``prob_galaxy``, ``prob_nsc``, ``preprocess_ms`` (reading the raw file,
        trimming, scaling) and ``classify_ms`` (the forward pass, per chip of
        its batch).
    """
    import torch
    from astropy.table import Table

    from ..utils.progress import progress

    model = model.to(device).eval()
    n = len(dataset)
    probs = np.zeros((n, 2), dtype=np.float64)
    pre_ms = np.zeros(n)
    cls_ms = np.zeros(n)
    starts = list(range(0, n, batch_size))
    with torch.inference_mode():
        for start in progress(starts, desc="evaluate", enabled=show_progress):
            index = list(range(start, min(start + batch_size, n)))
            tensors = []
            for i in index:
                t0 = time.perf_counter()
                tensors.append(dataset[i][0])
                pre_ms[i] = (time.perf_counter() - t0) * 1e3
            t0 = time.perf_counter()
            logits = model(torch.stack(tensors).to(device))
            p = torch.softmax(logits.float(), dim=1).cpu().numpy()
            elapsed = (time.perf_counter() - t0) * 1e3
            probs[index] = p
            cls_ms[index] = elapsed / len(index)
    table = Table(dataset.manifest, copy=True)
    table["true"] = np.asarray(dataset.labels, int)
    table["predicted"] = probs.argmax(1)
    table["prob_galaxy"] = probs[:, 0]
    table["prob_nsc"] = probs[:, 1]
    table["preprocess_ms"] = pre_ms
    table["classify_ms"] = cls_ms
    return table

"""The inference engine: one loop from preprocessed chips to class probabilities, for every caller.

`celestialclass.CelestialClassifier`, `celestialclass.classify_files`,
`celestialclass.evaluation.evaluate` and the validation at the end of
training all run their chips through `InferenceEngine`, so every number in a
model card is measured on the path users run: the same inference-only network
(`celestialclass.models.optimize_for_inference`), batching, threads and
autocast.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from .exceptions import CelestialClassError, ShapeError

__all__ = ["InferenceEngine", "ChipResult", "select_device", "DTYPES"]

#: Accepted ``dtype`` values: ``'bfloat16'`` runs the forward pass in bf16 autocast.
DTYPES = ("float32", "bfloat16")


def select_device(device: str = "auto") -> str:
    """``'cuda'`` when available for ``'auto'``, else ``'cpu'``; other devices checked to exist here.

    Raises
    ------
    celestialclass.CelestialClassError
        A device name torch does not know (``'gpu'``), or one this machine's
        torch cannot use (``'cuda'`` on a CPU-only build, ``'cuda:3'`` with
        two GPUs).

    Examples
    --------
    >>> from celestialclass.engine import select_device
    >>> select_device("cpu")
    'cpu'
    >>> select_device("gpu")
    Traceback (most recent call last):
    ...
    celestialclass.exceptions.CelestialClassError: unknown device 'gpu'; use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'
    """
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError):
        raise CelestialClassError(f"unknown device {device!r}; use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'") from None
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise CelestialClassError(f"device {device!r} asked for, but this torch cannot use CUDA "
                                      f"(torch {torch.__version__}, torch.cuda.is_available() is False); "
                                      f"use 'cpu' or 'auto'")
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise CelestialClassError(f"device {device!r} asked for, but this machine has "
                                      f"{torch.cuda.device_count()} CUDA device(s)")
    elif parsed.type == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise CelestialClassError(f"device {device!r} asked for, but MPS is not available here; use 'cpu'")
    elif parsed.type not in ("cpu", "cuda", "mps"):
        raise CelestialClassError(f"device {device!r} is not supported; use 'auto', 'cpu', 'cuda' or 'mps'")
    return device


@dataclass
class ChipResult:
    """What the engine gives for one chip.

    Attributes
    ----------
    key : object
        What the caller passed with the chip.
    probabilities : `~numpy.ndarray` or None
        One per class, in the engine's ``class_names`` order; None when the
        chip could not be read.
    error : str or None
        Why the chip could not be read.
    logits : `~numpy.ndarray` or None
        The network's outputs before the softmax (and before the
        temperature), one per class; None when the chip could not be read.
    preprocess_ms, classify_ms : float
        Time spent reading and preprocessing the chip, and its share of its
        batch's forward pass.
    """

    key: object
    probabilities: np.ndarray | None
    error: str | None = None
    logits: np.ndarray | None = None
    preprocess_ms: float = 0.0
    classify_ms: float = 0.0

    def probability(self, class_names: tuple, name: str) -> float:
        """The probability of class ``name`` (NaN for a chip that failed), found by name."""
        if self.probabilities is None:
            return float("nan")
        return float(self.probabilities[class_names.index(name)])


class InferenceEngine:
    """Batches preprocessed chips through a network and turns logits into probabilities.

    The probabilities are ``softmax(logits / temperature)``: a temperature
    fitted on validation objects (`celestialclass.training.fit_temperature`,
    stored with the weights) makes them calibrated; 1 leaves the network's
    own softmax.

    Parameters
    ----------
    model : `torch.nn.Module`
        A trained network; it is put in eval mode and rewritten for
        inference (`celestialclass.models.optimize_for_inference`); the
        original is not changed otherwise.
    class_names : tuple of str
        The network's output classes, in order.
    device : str, optional
        ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ...
    batch_size : int, optional
        Chips per forward pass.
    num_threads : int, optional
        Torch threads during `run` (restored afterwards).
    dtype : {'float32', 'bfloat16'}, optional
        ``'bfloat16'`` runs the forward pass in bf16 autocast.
    name : str, optional
        Used in error messages.
    temperature : float, optional
        Divides the logits before the softmax (1: none).

    Examples
    --------
    >>> import torch
    >>> from celestialclass.engine import InferenceEngine
    >>> from celestialclass.models import get_model
    >>> engine = InferenceEngine(get_model("resnet18"), ("galaxy", "nsc"), device="cpu")
    >>> chips = [("a", torch.zeros(1, 224, 448)), ("b", torch.ones(1, 224, 448))]
    >>> [(r.key, r.probabilities.shape) for r in engine.run(chips)]
    [('a', (2,)), ('b', (2,))]
    """

    def __init__(self, model, class_names, device: str = "auto", *, batch_size: int = 4,
                 num_threads: int | None = None, dtype: str = "float32", name: str = "model",
                 temperature: float = 1.0):
        from .models import optimize_for_inference

        if dtype not in DTYPES:
            raise CelestialClassError(f"dtype must be one of {DTYPES}, got {dtype!r}")
        if not (np.isfinite(temperature) and temperature > 0):
            raise CelestialClassError(f"temperature must be a positive number, got {temperature!r}")
        if int(batch_size) < 1:
            raise CelestialClassError(f"batch_size must be at least 1, got {batch_size}")
        self.device = select_device(device)
        self.network = optimize_for_inference(model).to(self.device)
        self.class_names = tuple(class_names)
        self.batch_size = int(batch_size)
        self.num_threads = num_threads
        self.dtype = dtype
        self.name = name
        self.temperature = float(temperature)

    @contextlib.contextmanager
    def _threads(self):
        import torch

        if self.num_threads is None:
            yield
            return
        previous = torch.get_num_threads()
        torch.set_num_threads(int(self.num_threads))
        try:
            yield
        finally:
            torch.set_num_threads(previous)

    def _forward(self, tensors) -> tuple[np.ndarray, np.ndarray, float]:
        """Logits and probabilities of a batch of (1, rows, columns) tensors, and the forward pass's ms."""
        import torch

        start = time.perf_counter()
        batch = (tensors[0][None] if len(tensors) == 1 else torch.stack(tensors)).to(self.device)
        autocast = torch.autocast(self.device.split(":")[0], dtype=torch.bfloat16,
                                  enabled=self.dtype == "bfloat16")
        try:
            with autocast:
                logits = self.network(batch)
        except CelestialClassError:
            raise
        except RuntimeError as exc:
            raise ShapeError(f"{self.name} cannot classify inputs of shape {tuple(batch.shape)}: "
                             f"{str(exc).splitlines()[0]}") from None
        logits = logits.float()
        probs = torch.softmax(logits / self.temperature if self.temperature != 1 else logits, dim=1)
        elapsed = (time.perf_counter() - start) * 1e3
        return logits.cpu().numpy().astype(np.float64), probs.cpu().numpy().astype(np.float64), elapsed

    def run(self, chips: Iterable) -> Iterator[ChipResult]:
        """Classify a stream of chips, in order.

        Parameters
        ----------
        chips : iterable of (key, tensor) or (key, `CelestialClassError`)
            Each tensor a preprocessed (1, rows, columns) chip; an error
            stands for a chip that could not be read, and is passed through
            in its place. Reading the next item is timed as the chip's
            preprocessing, so a lazy iterable that reads as it goes gives
            each chip's reading time.

        Yields
        ------
        `ChipResult`
            One per item, in the order given, once its batch has run.
        """
        import torch

        pending: list[ChipResult] = []
        tensors = []

        def flush():
            if tensors:
                logits, probs, elapsed = self._forward(tensors)
                rows = iter(zip(logits, probs))
                for result in pending:
                    if result.error is None:
                        result.logits, result.probabilities = next(rows)
                        result.classify_ms = elapsed / len(tensors)
                tensors.clear()
            done = list(pending)
            pending.clear()
            return done

        with self._threads(), torch.inference_mode():
            iterator = iter(chips)
            while True:
                start = time.perf_counter()
                try:
                    key, item = next(iterator)
                except StopIteration:
                    break
                result = ChipResult(key, None, preprocess_ms=(time.perf_counter() - start) * 1e3)
                if isinstance(item, CelestialClassError):
                    result.error = str(item)
                else:
                    tensors.append(item)
                pending.append(result)
                if len(tensors) >= self.batch_size:
                    yield from flush()
            yield from flush()

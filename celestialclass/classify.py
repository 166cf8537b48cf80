"""Classify chips: `CelestialClassifier`, the ccdproc-style `classify_ccd` step, and `classify_files`.

Orchestration only: reading is `celestialclass.io`, preprocessing is the
`~celestialclass.preprocess.Preprocess` that travels with the weights, the
network comes from `celestialclass.models`, the weights from
`celestialclass.weights`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from .exceptions import CelestialClassError, ShapeError

__all__ = ["CelestialClassifier", "Prediction", "classify_ccd", "classify_files", "expand_paths",
           "CLASS_DISPLAY", "RESULT_COLUMNS", "FITS_KEYWORDS"]

#: Display text of each class.
CLASS_DISPLAY = {"galaxy": "galaxy", "nsc": "nebula/star cluster"}
#: Columns of the tables `CelestialClassifier.predict` and `classify_files` return.
RESULT_COLUMNS = ("source", "hdu", "ccdchip", "instrument", "filter", "label", "prob_galaxy", "prob_nsc",
                  "model", "weights_sha256", "error")
#: Header keywords `classify_ccd` writes.
FITS_KEYWORDS = {
    "CCLABEL": "class: galaxy or nsc (nebula/star cluster)",
    "CCPROB": "probability of CCLABEL",
    "CCPNSC": "probability of nsc",
    "CCMODEL": "celestialclass model (weights name)",
    "CCWSHA": "sha256 of the weights file",
}


@dataclass(frozen=True)
class Prediction:
    """The class of one chip.

    Attributes
    ----------
    label : str
        ``"galaxy"`` or ``"nsc"`` (nebula/star cluster).
    probabilities : dict
        Probability of each class.
    model : str
        Name of the weights used.
    weights_sha256 : str
    source : str
        Where the chip came from (file and HDU, or ``<array>``).
    """

    label: str
    probabilities: dict
    model: str
    weights_sha256: str
    source: str

    @property
    def probability(self) -> float:
        """Probability of the predicted class."""
        return self.probabilities[self.label]

    def __str__(self) -> str:
        return f"{CLASS_DISPLAY[self.label]} (p={self.probability:.3f}) for {self.source} [{self.model}]"


@dataclass
class _Item:
    source: str
    hdu: int | None
    ccdchip: int | None
    instrument: str | None
    filter: str | None
    load: object          # () -> 2-D array or CCDData; from a file, the preprocessed image
    error: str | None = None
    from_file: bool = False


def _header_value(meta, *keys):
    for key in keys:
        value = meta.get(key) if meta is not None else None
        if value not in (None, ""):
            return value
    return None


class CelestialClassifier:
    """Galaxy or nebula/star cluster, for raw HST chips.

    Parameters
    ----------
    model : str, optional
        ``"default"`` (the registry's default weights) or a registered
        architecture (`celestialclass.models.list_models`); with ``weights``
        given, it must be the weights' architecture.
    weights : str or path-like, optional
        A registered weights name (`celestialclass.weights.list_weights`), the
        output directory (or ``model.safetensors``) of ``celestialclass
        train``, or an ``http(s)`` URL (with ``sha256``). The sha256 is checked
        on every load.
    device : str, optional
        ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ...
    batch_size : int, optional
        Chips per forward pass.
    num_threads : int, optional
        Torch threads during prediction (restored afterwards).
    dtype : {'float32', 'bfloat16'}, optional
        ``'bfloat16'`` runs the forward pass in bf16 autocast (opt-in; faster
        where supported, probabilities within about 0.02 of float32's).
    sha256 : str, optional
        Expected digest for weights without a model card (a bare file or URL).

    Examples
    --------
    >>> from celestialclass import CelestialClassifier   # doctest: +SKIP
    >>> clf = CelestialClassifier()                       # doctest: +SKIP
    >>> clf.predict("jdataset_raw.fits")                  # doctest: +SKIP
    """

    def __init__(self, model: str = "default", weights=None, device: str = "auto", *, batch_size: int = 4,
                 num_threads: int | None = None, dtype: str = "float32", sha256: str | None = None):
        from .models import get_model_info
        from .preprocess import Preprocess
        from .training.distributed import select_device
        from .weights import DEFAULT_WEIGHTS, build_model, get_weights, resolve_weights

        if weights is not None:
            entry = resolve_weights(weights, sha256=sha256)
        elif model == "default":
            entry = get_weights(DEFAULT_WEIGHTS)
        else:
            get_model_info(model)  # unknown names fail here, listing the known ones
            entry = get_weights(f"{model}.default")
        if model != "default" and entry.architecture != model:
            raise CelestialClassError(
                f"weights {entry.name!r} are for {entry.architecture!r}, not {model!r}; pass model="
                f"{entry.architecture!r} or other weights")
        if dtype not in ("float32", "bfloat16"):
            raise CelestialClassError(f"dtype must be 'float32' or 'bfloat16', got {dtype!r}")
        if int(batch_size) < 1:
            raise CelestialClassError(f"batch_size must be at least 1, got {batch_size}")
        self.entry = entry
        self.device = select_device(device)
        from .models import optimize_for_inference

        self.network = optimize_for_inference(build_model(entry)).to(self.device)
        self.preprocess = Preprocess.from_dict(entry.preprocess)
        self.class_names = tuple(entry.class_names)
        self.batch_size = int(batch_size)
        self.num_threads = num_threads
        self.dtype = dtype

    @property
    def name(self) -> str:
        """Name of the weights."""
        return self.entry.name

    @property
    def weights_sha256(self) -> str:
        return self.entry.sha256

    def __repr__(self) -> str:
        return (f"CelestialClassifier(weights={self.name!r}, architecture={self.entry.architecture!r}, "
                f"device={self.device!r}, dtype={self.dtype!r})")

    # -- inputs -----------------------------------------------------------------------------------

    def _items(self, x, hdu=None, chip=None) -> tuple[list, bool]:
        """Flatten an input into chip items; also whether a single Prediction is wanted."""
        from astropy.nddata import CCDData

        from .io.describe import _filter_name, _instrument_name

        if isinstance(x, CCDData):
            meta = x.meta
            source = _header_value(meta, "FILENAME") or "<CCDData>"
            return [_Item(str(source), None, _header_value(meta, "CCDCHIP"), _instrument_name(meta),
                          _filter_name(meta), lambda: x)], True
        if isinstance(x, np.ndarray):
            return [_Item("<array>", None, None, None, None, lambda: x)], True
        if isinstance(x, (str, os.PathLike)):
            return self._file_items(x, hdu, chip), False
        if isinstance(x, Iterable) and not isinstance(x, (Mapping, bytes)):
            items = []
            for element in x:
                if isinstance(element, (str, os.PathLike)):
                    items += self._file_items(element, hdu, chip)
                else:
                    items += self._items(element)[0]
            if not items:
                raise CelestialClassError("nothing to classify: the input is empty")
            return items, False
        raise CelestialClassError(
            f"cannot classify a {type(x).__name__}: give a CCDData, a 2-D array, a raw file path, or a list")

    def _file_items(self, path, hdu=None, chip=None) -> list:
        from .io import describe_raw

        path = os.fspath(path)
        info = describe_raw(path)
        if not info["supported"]:
            return [_Item(path, hdu, chip, info["instrument"], info["filter"], None, error=info["reason"],
                          from_file=True)]
        chips = info["chips"]
        if hdu is not None:
            chips = [c for c in chips if c["hdu"] == hdu] or [{"hdu": hdu, "ccdchip": None}]
        elif chip is not None:
            chips = [c for c in chips if c["ccdchip"] == chip] or [{"hdu": None, "ccdchip": chip}]
        items = []
        for c in chips:
            def load(h=c["hdu"], ch=c["ccdchip"]):
                return self.preprocess.read_image(path, hdu=h, chip=None if h is not None else ch)
            items.append(_Item(path, c["hdu"], c["ccdchip"], info["instrument"], info["filter"], load,
                               from_file=True))
        return items

    def _check_chip(self, array, source):
        expected = {"lcid": (2048, 4096)}.get(self.preprocess.trim)
        if expected and array.shape != expected:
            hint = ""
            if array.shape in ((2068, 4144), (2070, 4206)):
                hint = " (an untrimmed raw chip: read it with celestialclass.io.read_raw)"
            raise ShapeError(
                f"{source}: {self.name} ({self.entry.architecture}) takes trimmed {expected[0]} x {expected[1]} "
                f"chips; got {array.shape[0]} x {array.shape[1]}{hint}")

    # -- prediction -------------------------------------------------------------------------------

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

    def _run(self, items) -> np.ndarray:
        """Probabilities (n, classes) for items without errors; rows of failed items are NaN."""
        import torch

        probs = np.full((len(items), len(self.class_names)), np.nan)
        pending = []

        def flush():
            if not pending:
                return
            tensors = [t for _, t in pending]
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
            p = torch.softmax(logits.float(), dim=1).cpu().numpy()
            for (index, _), row in zip(pending, p):
                probs[index] = row
            pending.clear()

        with self._threads(), torch.inference_mode():
            for index, item in enumerate(items):
                if item.error is not None:
                    continue
                try:
                    data = item.load()
                    if item.from_file:  # read, trimmed and scaled by the reader: the layout fixes the shape
                        pending.append((index, torch.from_numpy(data)[None]))
                    else:
                        array = np.asarray(getattr(data, "data", data))
                        where = f"{item.source}[HDU {item.hdu}]" if item.hdu is not None else item.source
                        if array.ndim != 2:
                            raise ShapeError(f"{where}: expected a 2-D chip, got shape {array.shape}")
                        self._check_chip(array, where)
                        pending.append((index, self.preprocess.tensor(data, where)))
                except CelestialClassError as exc:
                    if not item.from_file:
                        raise  # in-memory input: the caller's mistake, not one bad file of a batch
                    item.error = str(exc)
                    continue
                if len(pending) >= self.batch_size:
                    flush()
            flush()
        return probs

    def predict_proba(self, x, hdu: int | None = None, chip: int | None = None) -> np.ndarray:
        """Class probabilities, shape (chips, 2) in the order ``class_names``.

        Takes what `predict` takes; a file that cannot be read raises.
        """
        items, _ = self._items(x, hdu, chip)
        probs = self._run(items)
        _raise_first_error(items)
        return probs

    def predict(self, x, hdu: int | None = None, chip: int | None = None):
        """Classify one chip, a raw file, or many.

        Parameters
        ----------
        x : CCDData, 2-D array, path, or iterable of these
            A trimmed chip (`~astropy.nddata.CCDData` or array, 2048 x 4096);
            a raw file (every chip, or the one ``hdu``/``chip`` selects); or a
            list mixing them.
        hdu, chip : int, optional
            For files: read only this HDU index or ``CCDCHIP``.

        Returns
        -------
        `Prediction` or `~astropy.table.Table`
            A `Prediction` for a single chip (CCDData or array); otherwise a
            table with one row per chip and the columns `RESULT_COLUMNS`. A
            file that cannot be read gets a row with its ``error`` in a batch.
        """
        items, single = self._items(x, hdu, chip)
        probs = self._run(items)  # skips items that already failed; raises for in-memory input
        if single or isinstance(x, (str, os.PathLike)):
            _raise_first_error(items)
        if single:
            p = probs[0]
            return Prediction(self.class_names[int(np.argmax(p))], dict(zip(self.class_names, map(float, p))),
                              self.name, self.weights_sha256, items[0].source)
        return self._table(items, probs)

    def _table(self, items, probs):
        rows = []
        for item, p in zip(items, probs):
            ok = item.error is None and np.isfinite(p).all()
            rows.append((item.source, -1 if item.hdu is None else int(item.hdu),
                         -1 if item.ccdchip is None else int(item.ccdchip), item.instrument or "",
                         item.filter or "", self.class_names[int(np.argmax(p))] if ok else "",
                         float(p[0]) if ok else np.nan, float(p[1]) if ok else np.nan, self.name,
                         self.weights_sha256, item.error or ""))
        return _results_table(rows)


def _results_table(rows):
    """The table of `RESULT_COLUMNS` for rows in that order."""
    from astropy.table import Table

    return Table(rows=rows, names=RESULT_COLUMNS,
                 dtype=(str, int, int, str, str, str, float, float, str, str, str))


def _raise_first_error(items) -> None:
    for item in items:
        if item.error is not None:
            raise CelestialClassError(item.error)


_DEFAULT_CLASSIFIERS: dict = {}
_THREAD_ENVIRON = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MALLOC_TRIM_THRESHOLD_")


def _cached_classifier(model="default", weights=None):
    key = (model, str(weights))
    if key not in _DEFAULT_CLASSIFIERS:
        _DEFAULT_CLASSIFIERS[key] = CelestialClassifier(model=model, weights=weights)
    return _DEFAULT_CLASSIFIERS[key]


def classify_ccd(ccd, classifier: CelestialClassifier | None = None, add_keyword: bool = True):
    """A ccdproc-style step: a new `~astropy.nddata.CCDData` whose header carries its class.

    Parameters
    ----------
    ccd : `~astropy.nddata.CCDData`
        A trimmed chip, e.g. from `celestialclass.io.read_raw`.
    classifier : `CelestialClassifier`, optional
        Default: one ``CelestialClassifier()``, loaded once and reused.
    add_keyword : bool, optional
        Write the keywords of `FITS_KEYWORDS` (``CCLABEL``, ``CCPROB``,
        ``CCPNSC``, ``CCMODEL``, ``CCWSHA``).

    Returns
    -------
    ccd : `~astropy.nddata.CCDData`
        A copy of the input with the keywords added.
    """
    from astropy.nddata import CCDData

    if not isinstance(ccd, CCDData):
        raise CelestialClassError(f"classify_ccd takes a CCDData, got {type(ccd).__name__}")
    classifier = classifier or _cached_classifier()
    prediction = classifier.predict(ccd)
    out = ccd.copy()
    if add_keyword:
        values = {"CCLABEL": prediction.label, "CCPROB": round(prediction.probability, 6),
                  "CCPNSC": round(prediction.probabilities["nsc"], 6), "CCMODEL": prediction.model,
                  "CCWSHA": prediction.weights_sha256}
        for key, value in values.items():
            # A 64-character digest leaves no room for a comment on its card.
            out.meta[key] = value if key == "CCWSHA" else (value, FITS_KEYWORDS[key])
    return out


def expand_paths(inputs) -> list[str]:
    """Files from paths, directories (their ``*_raw.fits`` and ``*_raw.fits.gz``) and glob patterns."""
    import glob

    out = []
    for entry in inputs:
        entry = os.fspath(entry)
        if os.path.isdir(entry):
            out += sorted(glob.glob(os.path.join(entry, "*_raw.fits"))
                          + glob.glob(os.path.join(entry, "*_raw.fits.gz")))
        elif any(ch in entry for ch in "*?["):
            out += sorted(glob.glob(entry))
        else:
            out.append(entry)
    return out


def _classify_one(path, model, weights, hdu):
    """Rows for one file (used locally and on Dask workers, which cache their classifier)."""
    try:  # on a Dask worker, torch uses the worker's threads, no more
        import torch
        from distributed import get_worker

        torch.set_num_threads(max(1, int(get_worker().state.nthreads)))
    except (ImportError, ValueError, AttributeError):
        pass
    classifier = _cached_classifier(model, weights)
    try:
        table = classifier.predict(path, hdu=hdu)
    except CelestialClassError as exc:
        table = classifier._table([_Item(os.fspath(path), hdu, None, None, None, None, error=str(exc))],
                                  np.full((1, 2), np.nan))
    return [dict(zip(table.colnames, row)) for row in table.as_array().tolist()]


def classify_files(paths, client=None, *, model: str = "default", weights=None, hdu: int | None = None,
                   n_workers: int | None = None, local: bool = False, show_progress: bool | None = None):
    """Classify many raw files, on a Dask cluster or in this process.

    Parameters
    ----------
    paths : iterable of path-like
        Files, directories or glob patterns (see `expand_paths`).
    client : `dask.distributed.Client`, optional
        Where to run. Without one, a ``LocalCluster`` of ``n_workers``
        single-threaded workers is started for the call (unless ``local``).
        Each worker loads the model once.
    model, weights
        As for `CelestialClassifier`.
    hdu : int, optional
        Only this HDU of each file.
    local : bool, optional
        Run in this process, without Dask.

    Returns
    -------
    table : `~astropy.table.Table`
        One row per chip (`RESULT_COLUMNS`), files in the order given; a file
        that cannot be read gets one row with its ``error``.
    """
    from .utils.progress import progress

    files = expand_paths(paths)
    if not files:
        raise CelestialClassError("no files to classify")
    weights = None if weights is None else str(weights)
    if local:
        results = [_classify_one(path, model, weights, hdu)
                   for path in progress(files, desc="classify", enabled=show_progress)]
    else:
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError:
            raise CelestialClassError("classify_files on a cluster needs dask.distributed: "
                                      "pip install 'dask[distributed]'") from None
        owned = None
        # distributed's nanny sets these in this process's environment for its workers and leaves
        # them there (OMP_NUM_THREADS=1 would then slow or change later work here): put them back.
        saved = {key: os.environ.get(key) for key in _THREAD_ENVIRON}
        if client is None:
            owned = LocalCluster(n_workers=n_workers or os.cpu_count() or 1, threads_per_worker=1,
                                 processes=True, dashboard_address=None)
            client = Client(owned)
        try:
            futures = client.map(_classify_one, files, model=model, weights=weights, hdu=hdu, pure=False)
            results = client.gather(futures)
        finally:
            if owned is not None:
                client.close()
                owned.close()
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
    return _results_table([[row[c] for c in RESULT_COLUMNS] for result in results for row in result])

"""Classify chips: `CelestialClassifier`, the ccdproc-style `classify_ccd` step, and `classify_files`.

Orchestration only: reading is `celestialclass.io`, preprocessing is the
`~celestialclass.preprocess.Preprocess` that travels with the weights, the
network comes from `celestialclass.models`, the weights from
`celestialclass.weights`.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from .exceptions import CelestialClassError, InputError, ShapeError
from .schema import CLASS_DISPLAY, LCID_SHAPE, UNCERTAIN
from .utils.buffers import ArrayPool

__all__ = ["CelestialClassifier", "Prediction", "classify_ccd", "classify_files", "expand_paths",
           "RESULT_COLUMNS", "RESULT_DESCRIPTIONS", "FITS_KEYWORDS"]

#: Columns of the tables `CelestialClassifier.predict` and `classify_files` return.
RESULT_COLUMNS = ("source", "hdu", "ccdchip", "instrument", "filter", "label", "prob_galaxy", "prob_nsc",
                  "model", "weights_sha256", "error")
#: Header keywords `classify_ccd` writes.
FITS_KEYWORDS = {
    "CCLABEL": "galaxy, nsc (nebula/star cluster), uncertain",
    "CCPROB": "probability of CCLABEL",
    "CCPNSC": "probability of nsc (nebula/star cluster)",
    "CCMODEL": "celestialclass model (weights name)",
    "CCWSHA": "sha256 of the weights file",
}


@dataclass(frozen=True)
class Prediction:
    """The class of one chip.

    Attributes
    ----------
    label : str
        ``"galaxy"`` or ``"nsc"`` (nebula/star cluster); ``"uncertain"``
        when the largest probability is below the ``min_confidence`` asked for.
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
        """Probability of the most probable class (the predicted one, unless the label is ``uncertain``)."""
        return max(self.probabilities.values())

    def __str__(self) -> str:
        if self.label == UNCERTAIN:
            best = max(self.probabilities, key=self.probabilities.get)
            return (f"uncertain (most probably {CLASS_DISPLAY.get(best, best)}, p={self.probability:.3f}) "
                    f"for {self.source} [{self.model}]")
        name = CLASS_DISPLAY.get(self.label, self.label)
        return f"{name} (p={self.probability:.3f}) for {self.source} [{self.model}]"


@dataclass
class _Item:
    source: str
    hdu: int | None
    ccdchip: int | None
    instrument: str | None
    filter: str | None
    exception: CelestialClassError | None = None
    read_ms: float = 0.0  # opening the file (first chip) and reading the chip's pixels
    preprocess_ms: float = 0.0  # screening and scaling them into the network's input

    @property
    def error(self) -> str | None:
        return None if self.exception is None else str(self.exception)


def _header_value(meta, *keys):
    for key in keys:
        value = meta.get(key) if meta is not None else None
        if value not in (None, ""):
            return value
    return None


def _resolve_entry(model: str, weights, sha256: str | None):
    """The weights entry a classifier of ``model`` with ``weights`` uses."""
    from .config import conf
    from .weights import default_weights, get_weights, list_weights, resolve_weights

    if weights is not None:
        entry = resolve_weights(weights, sha256=sha256)
    elif model == "default":
        entry = get_weights(conf.weights) if conf.weights in list_weights() else resolve_weights(conf.weights)
    else:
        entry = default_weights(model)  # unknown names fail here, listing the known ones
    if model != "default" and entry.architecture != model:
        raise CelestialClassError(
            f"weights {entry.name!r} are for {entry.architecture!r}, not {model!r}; pass model="
            f"{entry.architecture!r} or other weights")
    return entry


class CelestialClassifier:
    """Galaxy or nebula/star cluster, for raw HST chips.

    Every input kind takes the same road: a raw file is read with the
    weights' preprocessing (`~celestialclass.preprocess.Preprocess`); a
    `~astropy.nddata.CCDData` from `celestialclass.io.read_raw` (or
    ``CCDData.read(..., format='hst_raw')``) is brought to it from its
    recorded provenance (`~celestialclass.preprocess.Preprocess.conform`),
    so ``predict(path, hdu=h)`` and ``predict(read_raw(path, hdu=h))`` give
    the same probabilities; an array is taken as already read the way the
    weights expect. The forward pass is `celestialclass.engine.InferenceEngine`,
    the one that measured the numbers in the weights' model card.

    Parameters
    ----------
    model : str, optional
        ``"default"`` (the weights ``celestialclass.config.conf.weights``
        names: the bundled ``"default"`` unless set otherwise) or a registered
        architecture (`celestialclass.models.list_models`), which then uses
        the weights it names as its default; with ``weights`` given, it must
        be the weights' architecture.
    weights : str or path-like, optional
        A registered weights name (`celestialclass.weights.list_weights`), the
        output directory (or ``model.safetensors``) of ``celestialclass
        train``, or an ``http(s)`` URL (with ``sha256``). The sha256 is checked
        on every load.
    device : str, optional
        ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ...; default
        `celestialclass.config.conf` ``.device`` (``"auto"``).
    batch_size : int, optional
        Chips per forward pass. The classifier keeps up to ``batch_size +
        1`` images of chips it read from files (32 MiB each at full size)
        to read the next chips into.
    num_threads : int, optional
        Torch threads during prediction (restored afterwards); default
        ``conf.num_threads`` (0: torch's own).
    dtype : {'float32', 'bfloat16'}, optional
        ``'bfloat16'`` runs the forward pass in bf16 autocast (opt-in; faster
        where supported, probabilities within about 0.02 of float32's).
    sha256 : str, optional
        Expected digest for weights without a model card (a bare file or URL).

    Examples
    --------
    >>> from celestialclass import CelestialClassifier
    >>> clf = CelestialClassifier(device="cpu")
    >>> import tempfile
    >>> from celestialclass.io import read_raw
    >>> from celestialclass.simulate import write_example_raw
    >>> path = write_example_raw(tempfile.mkdtemp() + "/jexample1q_raw.fits")
    >>> by_path = clf.predict(path, hdu=4)["prob_nsc"][0]
    >>> by_ccd = clf.predict(read_raw(path, hdu=4)).probabilities["nsc"]
    >>> bool(by_path == by_ccd)
    True
    """

    def __init__(self, model: str = "default", weights=None, device: str | None = None, *, batch_size: int = 4,
                 num_threads: int | None = None, dtype: str = "float32", sha256: str | None = None):
        from .config import conf
        from .engine import InferenceEngine

        device = conf.device if device is None else device
        if num_threads is None and int(conf.num_threads) > 0:
            num_threads = int(conf.num_threads)
        entry = _resolve_entry(model, weights, sha256)
        self.entry = entry
        self.engine = InferenceEngine(entry.build_model(), entry.class_names, device, batch_size=batch_size,
                                      num_threads=num_threads, dtype=dtype, temperature=entry.temperature,
                                      name=f"{entry.name} ({entry.architecture})")
        self.preprocess = entry.preprocess
        self.class_names = entry.class_names
        # Images of chips read from files, reused once the engine is done with them (a batch and the
        # chip being read): a fresh full-chip array costs its page faults on every chip.
        self._images = ArrayPool(self.engine.batch_size + 1)

    @property
    def name(self) -> str:
        """Name of the weights."""
        return self.entry.name

    @property
    def weights_sha256(self) -> str:
        return self.entry.sha256

    @property
    def device(self) -> str:
        return self.engine.device

    @property
    def network(self):
        """The inference-only network the engine runs."""
        return self.engine.network

    def __repr__(self) -> str:
        return (f"CelestialClassifier(weights={self.name!r}, architecture={self.entry.architecture!r}, "
                f"device={self.device!r}, dtype={self.engine.dtype!r})")

    # -- inputs -----------------------------------------------------------------------------------

    def _chips(self, x, hdu=None, chip=None):
        """(item, tensor or CelestialClassError) for each chip of an input, read as they are asked for."""
        from astropy.nddata import CCDData

        if isinstance(x, (CCDData, np.ndarray)):
            yield self._memory_chip(x)
        elif isinstance(x, (str, bytes, os.PathLike)):
            yield from self._file_chips(x, hdu, chip)
        elif isinstance(x, Iterable) and not isinstance(x, Mapping):
            empty = True
            for element in x:
                empty = False
                if isinstance(element, (str, bytes, os.PathLike)):
                    yield from self._file_chips(element, hdu, chip)
                elif isinstance(element, (CCDData, np.ndarray)):
                    yield self._memory_chip(element)
                else:
                    raise InputError(f"cannot classify a {type(element).__name__} in a list: give "
                                     "CCDData, 2-D arrays or raw file paths")
            if empty:
                raise InputError("nothing to classify: the input is empty")
        else:
            raise InputError(
                f"cannot classify a {type(x).__name__}: give a CCDData, a 2-D array, a raw file path, or a list")

    def _memory_chip(self, x):
        """An in-memory chip's item and tensor; its errors are the caller's and raise."""
        from .io import filter_name, instrument_name
        from .io.screen import check_image

        if isinstance(x, np.ndarray):
            item = _Item("<array>", None, None, None, None)
        else:
            meta = x.meta
            item = _Item(str(_header_value(meta, "FILENAME") or "<CCDData>"), None, _header_value(meta, "CCDCHIP"),
                         instrument_name(meta), filter_name(meta))
        array = np.asarray(getattr(x, "data", x))
        if array.ndim != 2:
            raise ShapeError(f"{item.source}: expected a 2-D chip, got shape {array.shape}")
        self._check_chip(array, item.source)
        tensor = self.preprocess.tensor(x, item.source)  # values no model takes are said first
        check_image(x, item.source)
        return item, tensor

    def _file_chips(self, path, hdu=None, chip=None):
        """Items and tensors of a raw file's chips (those ``hdu``/``chip`` pick), the file opened once."""
        import torch

        from .io import RawFile, check_selection, filter_name, instrument_name
        from .io.screen import check_exposure, check_readout

        path = os.fsdecode(os.fspath(path))
        check_selection(hdu, chip, path)
        started = time.perf_counter()
        try:
            raw = RawFile(path)
        except CelestialClassError as exc:
            yield _Item(path, hdu, chip, None, None, exc), exc
            return
        with raw:
            instrument = filter_ = None
            try:  # what describe_raw reports, the errors kept of their own kind
                instrument, filter_ = instrument_name(raw.primary), filter_name(raw.primary)
                chips = raw.chips()
                check_exposure(raw.primary, path)
            except CelestialClassError as exc:
                yield _Item(path, hdu, chip, instrument, filter_, exc), exc
                return
            if hdu is not None:
                chips = [c for c in chips if c["hdu"] == hdu] or [{"hdu": hdu, "ccdchip": None}]
            elif chip is not None:
                chips = [c for c in chips if c["ccdchip"] == chip] or [{"hdu": None, "ccdchip": chip}]
            for c in chips:
                item = _Item(path, c["hdu"], c["ccdchip"], instrument, filter_)
                try:
                    pixels = self.preprocess.chip_pixels(raw, hdu=c["hdu"],
                                                         chip=None if c["hdu"] is not None else c["ccdchip"])
                    read = time.perf_counter()
                    item.read_ms = (read - started) * 1e3
                    check_readout(pixels)
                    image = self.preprocess.pixels_image(pixels, out=self._images.take(pixels.shape))
                    item.preprocess_ms = (time.perf_counter() - read) * 1e3
                except CelestialClassError as exc:
                    item.exception = exc
                    yield item, exc
                    continue
                yield item, torch.from_numpy(image)[None]
                started = time.perf_counter()

    def _check_chip(self, array, source):
        from .io import LAYOUTS

        expected = LCID_SHAPE if self.preprocess.trim == "lcid" else None
        if expected and array.shape != expected:
            hint = ""
            if array.shape in {layout.raw_shape for layout in LAYOUTS.values()}:
                hint = " (an untrimmed raw chip: read it with celestialclass.io.read_raw)"
            raise ShapeError(
                f"{source}: {self.name} ({self.entry.architecture}) takes trimmed {expected[0]} x {expected[1]} "
                f"chips; got {array.shape[0]} x {array.shape[1]}{hint}")

    # -- prediction -------------------------------------------------------------------------------

    def _run(self, x, hdu=None, chip=None):
        """(items, probabilities (n, classes)) of every chip of ``x``; rows of failed chips are NaN."""
        results = list(self.engine.run(self._chips(x, hdu, chip)))
        probs = np.full((len(results), len(self.class_names)), np.nan)
        for row, result in zip(probs, results):
            if result.probabilities is not None:
                row[:] = result.probabilities
        return [result.key for result in results], probs

    def predict_proba(self, x, hdu: int | None = None, chip: int | None = None) -> np.ndarray:
        """Class probabilities, shape (chips, classes) in the order ``class_names``.

        Takes what `predict` takes; a file that cannot be read raises.
        """
        items, probs = self._run(x, hdu, chip)
        _raise_first_error(items)
        return probs

    def predict(self, x, hdu: int | None = None, chip: int | None = None, *, min_confidence: float | None = None):
        """Classify one chip, a raw file, or many.

        Chips that are not science images of the sky (bias, dark and flat
        frames, empty or saturated readouts) are refused with the reason
        (`~celestialclass.exceptions.NotScienceError`,
        `celestialclass.io.screen`), never labelled.

        Parameters
        ----------
        x : CCDData, 2-D array, path, or iterable of these
            A trimmed chip (`~astropy.nddata.CCDData` or array, 2048 x 4096);
            a raw file (every chip, or the one ``hdu``/``chip`` selects); or a
            list mixing them.
        hdu, chip : int, optional
            For files: read only this HDU index or ``CCDCHIP``.
        min_confidence : float, optional
            Answer ``"uncertain"`` for a chip whose largest class
            probability is below this (0.5-1; the probabilities are still
            given). The weights' card suggests one, chosen on validation
            objects to answer 90 % of them (`min_confidence_suggested`).

        Returns
        -------
        `Prediction` or `~astropy.table.Table`
            A `Prediction` for a single chip (CCDData or array); otherwise a
            table with one row per chip and the columns `RESULT_COLUMNS`. A
            file that cannot be read gets a row with its ``error`` in a batch.
        """
        from astropy.nddata import CCDData

        single = isinstance(x, (CCDData, np.ndarray))
        _check_min_confidence(min_confidence)
        items, probs = self._run(x, hdu, chip)
        if single or isinstance(x, (str, bytes, os.PathLike)):
            _raise_first_error(items)
        if single:
            p = probs[0]
            return Prediction(self._label(p, min_confidence), dict(zip(self.class_names, map(float, p))),
                              self.name, self.weights_sha256, items[0].source)
        return self._table(items, probs, min_confidence)

    def explain(self, x, hdu: int | None = None, chip: int | None = None, *, block: int = 16):
        """Maps of which regions of each chip drove its decision (input-times-gradient saliency).

        Parameters
        ----------
        x, hdu, chip
            As for `predict` (a chip that cannot be read raises).
        block : int, optional
            The map sums the attribution over ``block`` x ``block`` pixels.

        Returns
        -------
        `~celestialclass.explain.Explanation` or list of them
            One for a CCDData or array, a list for files; write each with
            ``.write("map.fits", "map.png")``.

        Examples
        --------
        >>> import os, tempfile
        >>> from celestialclass import CelestialClassifier
        >>> from celestialclass.simulate import write_example_raw
        >>> path = write_example_raw(os.path.join(tempfile.mkdtemp(), "jexampl2q_raw.fits"))
        >>> maps = CelestialClassifier(device="cpu").explain(path, hdu=4)
        >>> maps[0].saliency.shape, round(float(maps[0].saliency.sum()), 3)
        ((128, 256), 1.0)
        """
        from .explain import explain

        return explain(self, x, hdu, chip, block=block)

    def _explainer(self):
        """A copy of the network that keeps gradients (the engine's is for inference only), made once."""
        if getattr(self, "_gradient_network", None) is None:
            self._gradient_network = self.entry.build_model().to(self.device).eval()
        return self._gradient_network

    @property
    def min_confidence_suggested(self) -> float | None:
        """The ``min_confidence`` the weights' card suggests (chosen on validation objects), or None."""
        return (self.entry.card.get("calibration") or {}).get("min_confidence")

    def _label(self, p, min_confidence: float | None) -> str:
        if min_confidence is not None and float(np.max(p)) < min_confidence:
            return UNCERTAIN
        return self.class_names[int(np.argmax(p))]

    def _table(self, items, probs, min_confidence: float | None = None):
        galaxy, nsc = (self.class_names.index(name) for name in ("galaxy", "nsc"))
        rows = []
        for item, p in zip(items, probs):
            ok = item.error is None and np.isfinite(p).all()
            rows.append((item.source, -1 if item.hdu is None else int(item.hdu),
                         -1 if item.ccdchip is None else int(item.ccdchip), item.instrument or "",
                         item.filter or "", self._label(p, min_confidence) if ok else "",
                         float(p[galaxy]) if ok else np.nan, float(p[nsc]) if ok else np.nan, self.name,
                         self.weights_sha256, item.error or ""))
        table = _results_table(rows, self.entry)
        if min_confidence is not None:
            table.meta["min_confidence"] = float(min_confidence)
        return table


def _check_min_confidence(value) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or not 0 <= value <= 1:
        raise InputError(f"min_confidence must be a probability between 0 and 1, got {value!r}")


#: What the columns of `RESULT_COLUMNS` hold, for people reading a results file.
RESULT_DESCRIPTIONS = {
    "source": "raw file (or <CCDData>, <array>)", "hdu": "HDU index of the chip (masked: not known)",
    "ccdchip": "CCDCHIP of the chip (masked: not known)", "instrument": "INSTRUME/DETECTOR",
    "filter": "filter(s), CLEAR positions left out",
    "label": "class: galaxy or nsc (nebula/star cluster); uncertain below min_confidence; empty when the chip "
             "could not be read or was refused",
    "prob_galaxy": "probability of galaxy", "prob_nsc": "probability of nebula/star cluster",
    "model": "weights name", "weights_sha256": "sha256 of the weights file",
    "error": "why the chip could not be read or was refused (empty when it was classified)",
}


def _results_table(rows, weights=None):
    """The table of `RESULT_COLUMNS` for rows in that order, unknown HDUs and chips masked, with metadata."""
    import datetime

    from astropy.table import MaskedColumn, Table

    from . import __version__

    table = Table(rows=rows, names=RESULT_COLUMNS,
                  dtype=(str, int, int, str, str, str, float, float, str, str, str))
    for name in ("hdu", "ccdchip"):
        values = np.asarray(table[name])
        table[name] = MaskedColumn(values, mask=values < 0, dtype=int)
    for name, text in RESULT_DESCRIPTIONS.items():
        table[name].description = text
    table.meta.update({"celestialclass": __version__,
                       "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")})
    if weights is not None:
        table.meta.update(model=weights.name, architecture=weights.architecture, weights_sha256=weights.sha256,
                          training_data=weights.training_data)
    return table


def _raise_first_error(items) -> None:
    """Raise the first item's error, of its own kind (a `MissingFileError` stays one)."""
    for item in items:
        if item.exception is not None:
            raise item.exception


_THREAD_ENVIRON = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MALLOC_TRIM_THRESHOLD_")


@functools.lru_cache(maxsize=4)
def _cached_classifier(model: str = "default", weights: str | None = None, device: str | None = None):
    """A classifier per (model, weights, device), the last few kept (each holds a network)."""
    return CelestialClassifier(model=model, weights=weights, device=device)


def classify_ccd(ccd, classifier: CelestialClassifier | None = None, add_keyword: bool = True, *,
                 min_confidence: float | None = None):
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
    min_confidence : float, optional
        As for `CelestialClassifier.predict` (``CCLABEL = 'uncertain'`` below it).

    Returns
    -------
    ccd : `~astropy.nddata.CCDData`
        A copy of the input with the keywords added.
    """
    from astropy.nddata import CCDData

    if not isinstance(ccd, CCDData):
        raise InputError(f"classify_ccd takes a CCDData, got {type(ccd).__name__}")
    classifier = classifier or _cached_classifier()
    prediction = classifier.predict(ccd, min_confidence=min_confidence)
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
    """Files from paths, directories (their ``*_raw.fits`` and ``*_raw.fits.gz``) and glob patterns.

    A path that exists is taken as it is, even if its name holds ``*``, ``?``
    or ``[``; only the others are glob patterns. Expanding twice gives the
    same list.

    Examples
    --------
    >>> import os, tempfile
    >>> from celestialclass.classify import expand_paths
    >>> folder = tempfile.mkdtemp()
    >>> for name in ("a_raw.fits", "b[1]_raw.fits"):
    ...     open(os.path.join(folder, name), "w").close()
    >>> [os.path.basename(p) for p in expand_paths([folder])]
    ['a_raw.fits', 'b[1]_raw.fits']
    >>> expand_paths(expand_paths([folder])) == expand_paths([folder])
    True
    """
    import glob

    out = []
    for entry in inputs:
        entry = os.fsdecode(os.fspath(entry))
        if os.path.isdir(entry):
            out += sorted(glob.glob(os.path.join(glob.escape(entry), "*_raw.fits"))
                          + glob.glob(os.path.join(glob.escape(entry), "*_raw.fits.gz")))
        elif not os.path.exists(entry) and any(ch in entry for ch in "*?["):
            out += sorted(glob.glob(entry))
        else:
            out.append(entry)
    return out


def nothing_to_classify(inputs) -> str:
    """Why `expand_paths` found no files in ``inputs``, naming each directory and pattern."""
    parts = []
    for entry in map(os.fsdecode, inputs):
        if os.path.isdir(entry):
            parts.append(f"directory {entry} holds no *_raw.fits or *_raw.fits.gz files")
        else:
            parts.append(f"{entry} matches no file")
    return "no files to classify: " + ("; ".join(parts) if parts else "none given")


def _classify_one(path, model, weights, hdu, device=None, min_confidence=None):
    """Rows for one file (used locally and on Dask workers, which cache their classifier)."""
    try:  # on a Dask worker, torch uses the worker's threads, no more
        import torch
        from distributed import get_worker

        torch.set_num_threads(max(1, int(get_worker().state.nthreads)))
    except (ImportError, ValueError, AttributeError):
        pass
    classifier = _cached_classifier(model, weights, device)
    try:
        table = classifier.predict(path, hdu=hdu, min_confidence=min_confidence)
    except CelestialClassError as exc:
        table = classifier._table([_Item(os.fsdecode(os.fspath(path)), hdu, None, None, None, exc)],
                                  np.full((1, len(classifier.class_names)), np.nan))
    return [dict(zip(table.colnames, row)) for row in table.as_array().tolist()]


def classify_files(paths, client=None, *, model: str = "default", weights=None, hdu: int | None = None,
                   n_workers: int | None = None, local: bool = False, show_progress: bool | None = None,
                   min_confidence: float | None = None):
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
    min_confidence : float, optional
        As for `CelestialClassifier.predict`.

    Returns
    -------
    table : `~astropy.table.Table`
        One row per chip (`RESULT_COLUMNS`), files in the order given; a file
        that cannot be read gets one row with its ``error``.
    """
    from .utils.progress import progress

    _check_min_confidence(min_confidence)
    paths = list(paths)
    files = expand_paths(paths)
    if not files:
        raise CelestialClassError(nothing_to_classify(paths))
    weights = None if weights is None else str(weights)
    if local:
        results = [_classify_one(path, model, weights, hdu, min_confidence=min_confidence)
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
            futures = client.map(_classify_one, files, model=model, weights=weights, hdu=hdu,
                                 min_confidence=min_confidence, pure=False)
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
    rows = [[(-1 if row[c] is None and c in ("hdu", "ccdchip") else row[c]) for c in RESULT_COLUMNS]
            for result in results for row in result]
    table = _results_table(rows, _resolve_entry(model, weights, None))
    if min_confidence is not None:
        table.meta["min_confidence"] = float(min_confidence)
    return table

"""Classify raw files as they land in a directory: `watch`, and the results log it keeps.

A survey pipeline wants each chip classified as soon as it is read out.
`watch` follows a directory (operating-system file events through
:mod:`watchdog`, or polling for network filesystems), takes each raw file
once it is complete, classifies its chips with one
`~celestialclass.CelestialClassifier` loaded once, and appends one row per
chip to a results log.

Its guarantees:

* **A file still being written is not a file yet.** A file is taken only
  when its FITS structure is whole (`file_is_complete`: a whole number of
  2880-byte blocks, every HDU's data inside the file, and as many extensions
  as the primary header's ``NEXTEND`` says) or, for files without
  ``NEXTEND``, when its size has also stopped changing for ``settle``
  seconds. A file renamed into place is complete at once. A file that stays
  incomplete for ``incomplete_timeout`` seconds gets an error row and is
  tried again if it changes.
* **Nothing lost, nothing done twice.** The log (`ResultsLog`) is
  append-only JSON lines, written and flushed to disk one file's rows at a
  time, or an ECSV table rewritten atomically after each file. On start,
  files whose path, size and modification time are already in the log are
  skipped, and every other matching file in the directory is taken, so
  files that landed while the watch was down are picked up. A row names how
  many rows its file has, so a file whose rows were cut short by a crash is
  done again. Incoming files are only read.
* **Each row says how long it took**: from the file's last modification
  (the moment it became complete) to its result (``latency_ms``), split into
  the wait before it was taken, reading, preprocessing and the forward pass.

`watch` stops when ``stop`` is set (the command line sets it on SIGINT and
SIGTERM); the file in hand is finished and logged first.
"""

from __future__ import annotations

import datetime
import fnmatch
import logging
import os
import pathlib
import queue
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from .exceptions import CelestialClassError, InputError

log_ = logging.getLogger(__name__)

__all__ = ["watch", "ResultsLog", "file_is_complete", "FileKey", "WATCH_COLUMNS", "WATCH_DESCRIPTIONS",
           "DEFAULT_PATTERN"]

#: Files `watch` takes by default.
DEFAULT_PATTERN = "*_raw.fits"
#: FITS files are made of blocks of this many bytes.
FITS_BLOCK = 2880
#: Seconds between the looks over the whole directory that back up file events.
RESCAN_S = 60.0
#: How a FITS file and a gzip file begin.
FITS_START, GZIP_START = b"SIMPLE  =", b"\x1f\x8b"

#: Columns a watch log adds to `~celestialclass.classify.RESULT_COLUMNS`.
WATCH_COLUMNS = ("file_size", "file_mtime", "file_rows", "completed", "classified", "latency_ms", "wait_ms",
                 "read_ms", "preprocess_ms", "forward_ms")
#: What they hold.
WATCH_DESCRIPTIONS = {
    "file_size": "size of the raw file when it was taken (bytes)",
    "file_mtime": "its modification time then (ns since 1970-01-01 UTC); with source and file_size, what a "
                  "restart compares to skip it",
    "file_rows": "how many rows the file has in the log",
    "completed": "when the file became complete (its last modification, UTC)",
    "classified": "when the chip's result was ready (UTC)",
    "latency_ms": "from the file becoming complete to the chip's result (ms)",
    "wait_ms": "from the file becoming complete to its being taken (ms)",
    "read_ms": "opening the file (first chip) and reading the chip (ms)",
    "preprocess_ms": "screening and scaling the chip (ms)",
    "forward_ms": "the chip's forward pass (ms)",
}


@dataclass(frozen=True)
class FileKey:
    """What identifies one version of a file: its path, size and modification time (ns)."""

    path: str
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path) -> FileKey:
        """The key of ``path`` as it is now (`OSError` when it is gone)."""
        stat = os.stat(path)
        return cls(os.fsdecode(os.fspath(path)), stat.st_size, stat.st_mtime_ns)


def file_is_complete(path) -> tuple[bool, str]:
    """Whether a FITS file is whole, and if not, why.

    Whole means: a whole number of 2880-byte blocks (gzip files excepted),
    every HDU's data inside the file, and at least as many extensions as
    the primary header's ``NEXTEND`` (HST raw files carry it) says. Only the
    headers are read. A file whose first block does not begin as FITS files
    do can never become one: it counts as complete, so that `watch` takes it
    and its reading reports what is wrong.

    Returns
    -------
    complete : bool
    reason : str
        Why not (empty when complete).

    Examples
    --------
    >>> import os, tempfile
    >>> from celestialclass.simulate import write_example_raw
    >>> from celestialclass.realtime import file_is_complete
    >>> path = write_example_raw(os.path.join(tempfile.mkdtemp(), "jexampl3q_raw.fits"))
    >>> file_is_complete(path)
    (True, '')
    >>> part = path.with_name("jexampl3q_raw.fits.part")
    >>> _ = part.write_bytes(path.read_bytes()[:5 * 2880])
    >>> file_is_complete(part)
    (False, "the last HDU's data run past the end of the file")
    """
    complete, reason, _ = _completeness(path)
    return complete, reason


def _completeness(path) -> tuple[bool, str, bool]:
    """`file_is_complete`, and whether it can be taken at once (``NEXTEND`` checked, or never FITS)."""
    from astropy.io import fits

    path = os.fsdecode(os.fspath(path))
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as handle:
            start = handle.read(len(FITS_START))
    except OSError as exc:
        return False, f"cannot be read ({exc.strerror})", False
    if size == 0:
        return False, "empty", False
    gzipped = path.lower().endswith(".gz")
    if size >= FITS_BLOCK and not start.startswith(GZIP_START if gzipped else FITS_START):
        return True, "", True  # no more writing makes it FITS: take it, and its reading says what it is
    if not gzipped and size % FITS_BLOCK:
        return False, f"{size} bytes: not a whole number of {FITS_BLOCK}-byte FITS blocks", False
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with fits.open(path, memmap=not gzipped, lazy_load_hdus=False) as hdul:
                count = len(hdul)
                nextend = hdul[0].header.get("NEXTEND")
        except Exception as exc:  # noqa: BLE001 - any failure to parse the headers means "not whole yet"
            return False, f"its headers do not parse ({type(exc).__name__})", False
    has_nextend = isinstance(nextend, (int, np.integer))
    if any("truncated" in str(w.message) for w in caught):
        return False, "the last HDU's data run past the end of the file", has_nextend
    if has_nextend and count - 1 < nextend:
        return False, f"NEXTEND = {nextend} extensions, {count - 1} written so far", True
    return True, "", has_nextend


def _utc(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).isoformat(timespec="milliseconds")


class ResultsLog:
    """The append-only results log of `watch`: JSON lines (``.jsonl``) or an ECSV table (``.ecsv``).

    ``.jsonl`` appends each file's rows in one write and flushes them to
    disk (``fsync``) before the next file; a crash can cut only the last
    file's rows short, and such a tail is dropped (and its file done again)
    when the log is opened. Only the files' keys are kept in memory. ``.ecsv``
    is rewritten whole and atomically after each file (simple to read with
    `astropy.table.Table.read`, but each write costs more as the log grows:
    prefer ``.jsonl`` for long runs).

    Parameters
    ----------
    path : path-like
        The log; created if missing, resumed if present.

    Examples
    --------
    >>> import os, tempfile
    >>> from celestialclass.realtime import ResultsLog
    >>> log = ResultsLog(os.path.join(tempfile.mkdtemp(), "results.jsonl"))
    >>> log.append([{"source": "a_raw.fits", "file_size": 10, "file_mtime": 5, "file_rows": 1}])
    >>> len(log), log.done_keys()
    (1, {FileKey(path='a_raw.fits', size=10, mtime_ns=5)})
    """

    SUFFIXES = (".jsonl", ".ecsv")

    def __init__(self, path):
        self.path = pathlib.Path(path)
        self.format = self.path.suffix.lower()
        if self.format not in self.SUFFIXES:
            raise InputError(f"a watch log must end in .jsonl or .ecsv: {self.path}")
        self._rows: list[dict] = []  # an ECSV log's rows (it is rewritten whole); a JSON-lines log keeps none
        self._done: set[FileKey] = set()
        self._count = 0
        if self.path.exists():
            self._load()

    def _load(self) -> None:
        if self.format == ".ecsv":
            self._rows = self.rows()
            self._remember(self._rows)
            return
        data = self.path.read_bytes()
        keep = offset = 0
        group: list[dict] = []
        for number, line in enumerate(data.splitlines(keepends=True), 1):
            if not line.endswith(b"\n"):
                break  # a write cut short
            offset += len(line)
            group.append(self._parse(line, number))
            if len(group) >= int(group[-1].get("file_rows") or 1):
                self._remember(group)
                group, keep = [], offset
        if keep < len(data):  # the last file's rows were cut short (a crash): drop them, it is done again
            with open(self.path, "r+b") as handle:
                handle.truncate(keep)
                handle.flush()
                os.fsync(handle.fileno())

    def _parse(self, line: bytes, number: int) -> dict:
        import json

        try:
            row = json.loads(line)
        except ValueError:
            row = None
        if not isinstance(row, dict):
            raise CelestialClassError(f"line {number} is not a JSON object: the log was changed by something "
                                      "other than watch", path=self.path)
        return row

    def _remember(self, rows: list[dict]) -> None:
        self._count += len(rows)
        self._done.update(FileKey(row["source"], int(row["file_size"]), int(row["file_mtime"])) for row in rows
                          if row.get("file_size") is not None and row.get("file_mtime") is not None)

    def __len__(self) -> int:
        return self._count

    def done_keys(self) -> set[FileKey]:
        """The files (as `FileKey`) whose rows are in the log."""
        return set(self._done)

    def append(self, rows: list[dict]) -> None:
        """Add one file's rows and make them durable before returning."""
        from .utils.jsonio import dumps

        if self.format == ".jsonl":
            block = "".join(dumps(row) + "\n" for row in rows).encode()
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                written = os.write(fd, block)
                while written < len(block):
                    written += os.write(fd, block[written:])
                os.fsync(fd)
            finally:
                os.close(fd)
        else:
            self._rows.extend(rows)
            self._write_ecsv()
        self._remember(rows)

    def rows(self) -> list[dict]:
        """Every row in the log, read from its file."""
        if not self.path.exists():
            return []
        if self.format == ".jsonl":
            lines = self.path.read_bytes().splitlines()
            return [self._parse(line, number) for number, line in enumerate(lines, 1)]
        from astropy.table import Table

        try:
            table = Table.read(self.path, format="ascii.ecsv")
        except Exception as exc:  # noqa: BLE001 - an ECSV log is only ever replaced whole
            raise CelestialClassError(f"not a readable watch log ({type(exc).__name__}: {exc})",
                                      path=self.path) from None
        return [{name: (None if np.ma.is_masked(row[name]) else
                        row[name].item() if hasattr(row[name], "item") else row[name]) for name in table.colnames}
                for row in table]

    def table(self, rows: list[dict] | None = None):
        """The log (or ``rows``) as an `~astropy.table.Table`, unknown values masked, columns described."""
        from astropy.table import MaskedColumn, Table

        from .classify import RESULT_COLUMNS, RESULT_DESCRIPTIONS

        rows = self.rows() if rows is None else rows
        columns = []
        for name in list(RESULT_COLUMNS) + list(WATCH_COLUMNS):
            values = [row.get(name) for row in rows]
            mask = [value is None for value in values]
            if name in ("hdu", "ccdchip", "file_size", "file_mtime", "file_rows"):
                data = np.array([0 if v is None else int(v) for v in values], dtype=np.int64)
            elif name.endswith("_ms") or name.startswith("prob_"):
                data = np.array([np.nan if v is None else float(v) for v in values], dtype=float)
            else:
                data = np.array(["" if v is None else str(v) for v in values], dtype=str)
            column = MaskedColumn(data, name=name, mask=mask) if any(mask) else MaskedColumn(data, name=name)
            column.description = RESULT_DESCRIPTIONS.get(name) or WATCH_DESCRIPTIONS.get(name)
            columns.append(column)
        return Table(columns)

    def _write_ecsv(self) -> None:
        from .utils.files import atomic_path

        with atomic_path(self.path) as tmp:
            self.table(self._rows).write(tmp, format="ascii.ecsv", overwrite=True)
            with open(tmp, "rb") as handle:
                os.fsync(handle.fileno())


class _Events:
    """Paths of files that appeared or changed under ``directory``, from watchdog (events or polling)."""

    def __init__(self, directory: pathlib.Path, poll: float | None):
        from watchdog.events import FileSystemEventHandler

        self.queue: queue.Queue[str] = queue.Queue()
        events = self.queue

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event):
                if event.is_directory or event.event_type in ("deleted", "opened", "closed_no_write"):
                    return
                events.put(os.fsdecode(getattr(event, "dest_path", "") or event.src_path))

        if poll is None:
            from watchdog.observers import Observer

            self.observer = Observer()
        else:
            from watchdog.observers.polling import PollingObserver

            self.observer = PollingObserver(timeout=poll)
        self.observer.schedule(Handler(), os.fspath(directory), recursive=False)
        self.observer.start()

    def get(self, timeout: float) -> list[str]:
        """The paths that arrived within ``timeout`` seconds (all that are waiting, at least one or none)."""
        try:
            paths = [self.queue.get(timeout=timeout)]
        except queue.Empty:
            return []
        while True:
            try:
                paths.append(self.queue.get_nowait())
            except queue.Empty:
                return paths

    def close(self) -> None:
        self.observer.stop()
        self.observer.join(timeout=5)


@dataclass
class _Pending:
    """What `watch` knows of a file it is waiting for."""

    key: FileKey | None = None
    changed: float = 0.0
    complete: bool = False
    reason: str = ""
    nextend: bool = False


def watch(directory, *, pattern: str = DEFAULT_PATTERN, output=None, hdu: int | None = None,
          model: str = "default", weights=None, classifier=None, min_confidence: float | None = None,
          poll: float | None = None, once: bool = False, settle: float = 1.0,
          incomplete_timeout: float = 60.0, stop: threading.Event | None = None,
          callback: Callable[[dict], None] | None = None) -> Iterator[dict]:
    """Classify each raw file in ``directory`` as it lands; yield one row (a dict) per chip.

    Files already there are taken first (except those already in
    ``output``); then new and changed files, as they become complete. See
    the module docstring for when a file counts as complete and what the
    log guarantees.

    Parameters
    ----------
    directory : path-like
        Where raw files land (not searched recursively).
    pattern : str, optional
        Which file names to take (`fnmatch`; default ``*_raw.fits``).
    output : path-like, optional
        The results log, ``.jsonl`` or ``.ecsv`` (`ResultsLog`): resumed if
        it exists. Without one, nothing is remembered between runs.
    hdu : int, optional
        Only this HDU of each file.
    model, weights
        As for `~celestialclass.CelestialClassifier` (ignored when
        ``classifier`` is given).
    classifier : `~celestialclass.CelestialClassifier`, optional
        Use this one (default: one is made and loaded once, before the
        first file, with one chip per forward pass for the lowest latency).
    min_confidence : float, optional
        As for `~celestialclass.CelestialClassifier.predict`.
    poll : float, optional
        Poll the directory every ``poll`` seconds instead of waiting for the
        operating system's file events (for network filesystems, where
        events do not arrive).
    once : bool, optional
        Classify the complete files there now and return (for cron-style
        use); files still being written are left for the next run.
    settle : float, optional
        Seconds a file without ``NEXTEND`` must keep its size before it is
        taken.
    incomplete_timeout : float, optional
        Seconds after which a file that is still incomplete gets an error
        row (it is tried again if it changes).
    stop : `threading.Event`, optional
        Set it to end the watch; the file in hand is finished first.
    callback : callable, optional
        Called with each row as well.

    Yields
    ------
    row : dict
        `~celestialclass.classify.RESULT_COLUMNS` and `WATCH_COLUMNS`.

    Notes
    -----
    Before it follows the directory, the watch classifies a small example
    file once (a few seconds), so that the first file's latency carries no
    one-off costs (imports, set-up, the first touch of the memory chips are
    read into); ``once`` skips this. Let one thread of the process use torch:
    each thread that runs torch's parallel code keeps its own OpenMP team,
    and with more OpenMP threads than cores they spin less and sleep more
    (here, a classifier loaded in the main thread and watched from another
    took 37-42 ms a forward pass, against 21-25 ms in one thread).
    ``celestialclass watch`` loads and watches in its main thread.

    Examples
    --------
    >>> import os, tempfile
    >>> from celestialclass import CelestialClassifier
    >>> from celestialclass.simulate import write_example_raw
    >>> from celestialclass.realtime import watch
    >>> landing = tempfile.mkdtemp()
    >>> _ = write_example_raw(os.path.join(landing, "jexampl4q_raw.fits"))
    >>> rows = list(watch(landing, once=True, hdu=4, classifier=CelestialClassifier(device="cpu")))
    >>> [(os.path.basename(r["source"]), r["hdu"], r["label"] in ("galaxy", "nsc")) for r in rows]
    [('jexampl4q_raw.fits', 4, True)]
    """
    from .classify import CelestialClassifier, _check_min_confidence

    directory = pathlib.Path(directory)
    if not directory.is_dir():
        raise InputError(f"{directory}: not a directory to watch")
    _check_min_confidence(min_confidence)
    for name, value, least in (("poll", poll, 0.01), ("settle", settle, 0.0),
                               ("incomplete_timeout", incomplete_timeout, 0.0)):
        if value is not None and not (isinstance(value, (int, float)) and not isinstance(value, bool)
                                      and np.isfinite(value) and value >= least):
            raise InputError(f"{name} must be a number of seconds >= {least:g}, got {value!r}")
    log = ResultsLog(output) if output is not None else None
    done = log.done_keys() if log is not None else set()
    stop = stop or threading.Event()
    classifier = classifier or CelestialClassifier(model, weights, batch_size=1)
    if not once:
        _warm_up(classifier)  # the first file's latency would carry one-off costs
    events = None if once else _Events(directory, poll)
    pending: dict[str, _Pending] = {}

    def matches(path: str) -> bool:
        return os.path.dirname(path) == os.fspath(directory) and fnmatch.fnmatch(os.path.basename(path), pattern)

    def scan() -> None:
        for entry in sorted(os.scandir(directory), key=lambda e: e.name):
            if entry.is_file() and matches(entry.path):
                pending.setdefault(entry.path, _Pending())

    try:
        scan()  # what landed while no watch was running
        scanned = time.monotonic()
        while not stop.is_set():
            if events is not None:
                for path in events.get(0.02 if pending else 0.25):
                    if matches(path):
                        pending.setdefault(path, _Pending())
                if time.monotonic() - scanned > RESCAN_S:  # in case the system dropped events
                    scan()
                    scanned = time.monotonic()
            ready = []
            for path, state in list(pending.items()):
                verdict = _examine(path, state, done, settle, incomplete_timeout)
                if verdict == "wait" and once:
                    log_.info("%s: left for the next run: %s", path, state.reason)
                if verdict != "wait" or once:
                    del pending[path]
                if isinstance(verdict, tuple):
                    ready.append(verdict)
            for key, error in ready:
                if stop.is_set():
                    break
                rows = _rows_for(classifier, key, error, hdu, min_confidence)
                if log is not None:
                    log.append(rows)
                done.add(key)
                for row in rows:
                    if callback is not None:
                        callback(row)
                    yield row
            if once:
                break
    finally:
        if events is not None:
            events.close()


def _warm_up(classifier) -> None:
    """Classify a small example raw file once: the whole road from a file to its result.

    Otherwise the first file's latency would carry one-off costs: imports
    (about a second), the first forward pass's set-up, and the first touch of
    the memory its chips are read and preprocessed into (a few hundred
    milliseconds on a virtual machine). Best effort: a warm-up that fails
    (no writable temporary directory) is logged and skipped.
    """
    import tempfile

    from .simulate import write_example_raw

    try:
        with tempfile.TemporaryDirectory(prefix="celestialclass-warm-up-") as tmp:
            path = write_example_raw(os.path.join(tmp, "jwarmupq_raw.fits"))
            for _ in classifier.engine.run(classifier._chips(path)):
                pass
    except (OSError, CelestialClassError) as exc:
        log_.info("warm-up skipped: %s", exc)


def _examine(path: str, state: _Pending, done: set, settle: float, timeout: float):
    """What to do with a pending file now: ``(key, error)`` to take it, ``"drop"`` or ``"wait"``."""
    try:
        key = FileKey.of(path)
    except OSError:
        return "drop"  # gone (renamed away or deleted)
    if key in done:
        return "drop"
    now = time.time()
    if key != state.key:  # it changed: look at its structure again
        state.key, state.changed = key, now
        state.complete, state.reason, state.nextend = _completeness(path)
    if state.complete and (state.nextend or now - state.changed >= settle):
        return key, ""
    if not state.reason:
        state.reason = f"its size changed less than {settle:g} s ago"
    if now - state.changed >= timeout:
        return key, (f"still incomplete {timeout:g} s after its last change ({state.reason}); it is tried "
                     "again if it changes")
    return "wait"


def _rows_for(classifier, key: FileKey, error: str, hdu, min_confidence) -> list[dict]:
    """The log rows of one file: its chips' results, or one row with its error."""
    from .classify import _Item

    completed = key.mtime_ns / 1e9
    taken = time.time()
    items, probs, times = [], [], []
    failure = CelestialClassError(error, path=key.path) if error else None
    if failure is None:
        try:
            for result in classifier.engine.run(classifier._chips(key.path, hdu)):
                items.append(result.key)
                probs.append(result.probabilities if result.probabilities is not None
                             else np.full(len(classifier.class_names), np.nan))
                times.append((time.time(), result.classify_ms))
        except CelestialClassError as exc:  # raised before any chip (a bad hdu): it names the file already
            failure = exc
    if failure is not None or not items:
        failure = failure or CelestialClassError("no chips to classify", path=key.path)
        items, probs, times = [_Item(key.path, hdu, None, None, None, failure)], [
            np.full(len(classifier.class_names), np.nan)], [(time.time(), float("nan"))]
    table = classifier._table(items, np.array(probs), min_confidence)
    rows = []
    for item, values, (finished, forward_ms) in zip(items, table.as_array().tolist(), times):
        row = dict(zip(table.colnames, values))
        row.update(file_size=key.size, file_mtime=key.mtime_ns, file_rows=len(items), completed=_utc(completed),
                   classified=_utc(finished), latency_ms=round((finished - completed) * 1e3, 2),
                   wait_ms=round(max(taken - completed, 0.0) * 1e3, 2), read_ms=round(item.read_ms, 2),
                   preprocess_ms=round(item.preprocess_ms, 2),
                   forward_ms=None if not np.isfinite(forward_ms) else round(forward_ms, 2))
        rows.append(row)
    return rows

"""One progress bar for the whole package (tqdm): on a terminal it draws, elsewhere it stays quiet.

Where no bar is drawn (a batch job, ``nohup``, ``> log 2>&1``), long commands
say how far they are through `logging` instead, one line per epoch or stage
(the command line shows ``INFO`` records of the ``celestialclass`` loggers on
standard error).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

__all__ = ["progress", "drawing"]


def drawing(enabled: bool | None = None, stream=None) -> bool:
    """Whether a bar is drawn: ``enabled``, or by default only when ``stream`` (stderr) is a terminal."""
    stream = sys.stderr if stream is None else stream
    if enabled is None:
        return bool(hasattr(stream, "isatty") and stream.isatty())
    return bool(enabled)


def progress(iterable: Iterable | None = None, total: int | None = None, desc: str = "",
             enabled: bool | None = None, stream=None, initial: int = 0):
    """A `tqdm.tqdm` bar over ``iterable`` (or, with None, one to `~tqdm.tqdm.update` by hand).

    Parameters
    ----------
    iterable : iterable, optional
    total : int, optional
        Number of items (default: ``len(iterable)`` when it has one).
    desc : str, optional
        Label in front of the counts.
    enabled : bool, optional
        Draw the bar; default: only when ``stream`` is a terminal, so logs
        and CI output stay clean.
    stream : file, optional
        Where to draw (standard error by default).
    initial : int, optional
        Items already done (a resumed run).

    Examples
    --------
    >>> from celestialclass.utils.progress import progress
    >>> sum(progress(range(4), desc="count", enabled=False))
    6
    """
    from tqdm.auto import tqdm

    stream = sys.stderr if stream is None else stream
    return tqdm(iterable, total=total, desc=desc, disable=not drawing(enabled, stream), file=stream,
                initial=initial, dynamic_ncols=True, mininterval=0.5)

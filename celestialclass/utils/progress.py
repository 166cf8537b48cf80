"""One progress bar for the whole package: on a terminal it draws, elsewhere it stays quiet."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator

__all__ = ["progress"]


def progress(iterable: Iterable, total: int | None = None, desc: str = "",
             enabled: bool | None = None, stream=None) -> Iterator:
    """Yield from ``iterable`` while drawing ``desc: done/total [elapsed, eta]`` on ``stream``.

    Parameters
    ----------
    iterable : iterable
    total : int, optional
        Number of items (default: ``len(iterable)`` when it has one).
    desc : str, optional
        Label in front of the counts.
    enabled : bool, optional
        Draw the bar; default: only when ``stream`` is a terminal, so logs
        and CI output stay clean.
    stream : file, optional
        Where to draw (standard error by default).
    """
    stream = sys.stderr if stream is None else stream
    if enabled is None:
        enabled = hasattr(stream, "isatty") and stream.isatty()
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)
    if not enabled:
        yield from iterable
        return
    start = time.monotonic()
    done = 0

    def draw(final=False):
        elapsed = time.monotonic() - start
        if total:
            eta = elapsed / done * (total - done) if done else 0.0
            width = 30
            filled = int(width * done / total)
            text = f"\r{desc}: [{'#' * filled}{'.' * (width - filled)}] {done}/{total} " \
                   f"[{elapsed:.0f}s, eta {eta:.0f}s]"
        else:
            text = f"\r{desc}: {done} [{elapsed:.0f}s]"
        stream.write(text + ("\n" if final else ""))
        stream.flush()

    draw()
    for item in iterable:
        yield item
        done += 1
        draw()
    draw(final=True)

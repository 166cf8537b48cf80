"""Atomic writes: a temporary file beside the target, then a rename."""

from __future__ import annotations

import contextlib
import os
import pathlib

__all__ = ["atomic_path", "TMP_SUFFIX", "remove_stale_temporaries"]

#: Suffix of the temporary files `atomic_path` writes (``.<name>.<pid>.tmp``).
TMP_SUFFIX = ".tmp"


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds.

    A reader never sees a half-written ``path``: an interrupted write leaves
    only the temporary (``.<name>.<pid>.tmp``), which
    `remove_stale_temporaries` clears.
    """
    path = pathlib.Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}{TMP_SUFFIX}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def remove_stale_temporaries(directory) -> int:
    """Delete temporaries left in ``directory`` by interrupted atomic writes; returns how many."""
    count = 0
    for tmp in pathlib.Path(directory).glob(f".*{TMP_SUFFIX}"):
        tmp.unlink(missing_ok=True)
        count += 1
    return count

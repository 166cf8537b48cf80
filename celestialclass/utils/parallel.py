"""Run a few memory-bound numpy tasks side by side on the machine's cores."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

__all__ = ["available_cores", "run_parallel"]


def available_cores() -> int:
    """How many cores this process may run on (its CPU affinity where the OS says)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


_POOL = None
_POOL_LOCK = threading.Lock()
_THREAD_PREFIX = "celestialclass-parallel"


def _pool():
    """The package's thread pool, started on first use (one per process)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            from concurrent.futures import ThreadPoolExecutor

            _POOL = ThreadPoolExecutor(max_workers=max(2, available_cores()), thread_name_prefix=_THREAD_PREFIX)
    return _POOL


def run_parallel(function: Callable, tasks: list[tuple]) -> None:
    """Run ``function(*task)`` for each task, the first in this thread, the rest in a thread pool.

    For numpy work that releases the GIL (ufunc loops, casts). With one
    task, one core, or when called from the pool itself, the tasks run one
    after the other in this thread. The first exception raised by any task
    is raised here, after every task has finished.

    Examples
    --------
    >>> from celestialclass.utils.parallel import run_parallel
    >>> out = [0, 0, 0]
    >>> run_parallel(out.__setitem__, [(0, 1), (1, 2), (2, 3)])
    >>> out
    [1, 2, 3]
    """
    nested = threading.current_thread().name.startswith(_THREAD_PREFIX)
    if len(tasks) < 2 or available_cores() < 2 or nested:
        for task in tasks:
            function(*task)
        return
    futures = [_pool().submit(function, *task) for task in tasks[1:]]
    error = None
    try:
        function(*tasks[0])
    except BaseException as exc:  # re-raised once every task has finished
        error = exc
    for future in futures:
        exception = future.exception()
        error = error or exception
    if error is not None:
        raise error

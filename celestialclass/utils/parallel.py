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


def run_parallel(function: Callable, tasks: list[tuple]) -> None:
    """Run ``function(*task)`` for each task, the first in this thread, the rest in helpers.

    For numpy work that releases the GIL (ufunc loops, casts): each task
    gets its own thread. With one task, or one core, the tasks run one
    after the other in this thread. The first exception raised by any task
    is raised here, after every thread has finished.
    """
    if len(tasks) < 2 or available_cores() < 2:
        for task in tasks:
            function(*task)
        return
    errors = []

    def run(task):
        try:
            function(*task)
        except BaseException as exc:  # re-raised in the calling thread
            errors.append(exc)

    helpers = [threading.Thread(target=run, args=(task,)) for task in tasks[1:]]
    for helper in helpers:
        helper.start()
    run(tasks[0])
    for helper in helpers:
        helper.join()
    if errors:
        raise errors[0]

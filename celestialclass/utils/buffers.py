"""Reusable arrays for chip-sized images.

A preprocessed full chip is a 32 MiB float32 array. Allocated fresh for
every chip, its memory comes straight from the operating system and every
page of it is faulted in on first write, which costs about as much as the
arithmetic that fills it; an array that is reused costs nothing of the kind.
"""

from __future__ import annotations

import sys
import threading

import numpy as np

__all__ = ["ArrayPool"]


class ArrayPool:
    """A few arrays handed out again once nothing else holds them.

    `take` returns an array of the asked shape and dtype that no one else
    references (a kept array whose only references are the pool's own, as
    ``numpy.ndarray.resize`` checks with ``refcheck``), or a new one, kept
    for later while fewer than ``size`` are kept. An array handed out stays
    in use as long as anything refers to it, a view or a tensor made with
    ``torch.from_numpy`` included, so it is never written while its
    contents are still needed. Safe to share between threads.

    Parameters
    ----------
    size : int
        How many arrays to keep at most.

    Examples
    --------
    >>> from celestialclass.utils.buffers import ArrayPool
    >>> pool = ArrayPool(2)
    >>> a = pool.take((2, 3))
    >>> first = id(a)
    >>> b = pool.take((2, 3))  # ``a`` is still held: another array
    >>> b is a
    False
    >>> del a
    >>> c = pool.take((2, 3))  # the first array again, free now
    >>> id(c) == first, c.shape, c.dtype
    (True, (2, 3), dtype('float32'))
    """

    def __init__(self, size: int):
        self.size = int(size)
        self._arrays: list[np.ndarray] = []
        self._lock = threading.Lock()

    def take(self, shape: tuple, dtype=np.float32) -> np.ndarray:
        """An array of ``shape`` and ``dtype`` that nothing else refers to (its values are arbitrary)."""
        shape, dtype = tuple(int(n) for n in shape), np.dtype(dtype)
        with self._lock:
            for i in range(len(self._arrays)):
                # CPython's count: the list's reference and getrefcount's argument; any more is a holder.
                if sys.getrefcount(self._arrays[i]) == 2 and self._arrays[i].shape == shape and \
                        self._arrays[i].dtype == dtype:
                    return self._arrays[i]
            array = np.empty(shape, dtype)
            if len(self._arrays) >= self.size:  # make room: drop a free array of another shape, if any
                for i in range(len(self._arrays)):
                    if sys.getrefcount(self._arrays[i]) == 2:
                        del self._arrays[i]
                        break
            if len(self._arrays) < self.size:
                self._arrays.append(array)
            return array

    def __len__(self) -> int:
        return len(self._arrays)

    def __getstate__(self):  # pickled (a classifier sent to a Dask worker): the size, not the arrays
        return {"size": self.size}

    def __setstate__(self, state):
        self.__init__(state["size"])

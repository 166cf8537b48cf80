"""`celestialclass.utils.buffers.ArrayPool`: arrays are reused only when nothing else holds them."""

import threading

import numpy as np
import torch

from celestialclass.utils.buffers import ArrayPool


def address(array):
    return array.__array_interface__["data"][0]


def test_an_array_in_use_is_never_handed_out_again():
    pool = ArrayPool(3)
    first = pool.take((4, 8))
    view, first_at = first[:, 2:4], address(first)
    del first  # held only through a view
    tensor = torch.from_numpy(pool.take((4, 8)))  # held only through a tensor
    third = pool.take((4, 8))
    held = {first_at, address(tensor.numpy()), address(third)}
    assert len(held) == 3 and len(pool) == 3
    third_at = address(third)
    del third
    assert address(pool.take((4, 8))) == third_at  # free again: the same memory
    del view
    assert address(pool.take((4, 8))) in (first_at, third_at)
    assert address(pool.take((4, 8))) != address(tensor.numpy())  # still held by the tensor


def test_the_pool_keeps_at_most_size_arrays_and_matches_shape_and_dtype():
    pool = ArrayPool(2)
    kept = pool.take((2, 2))
    assert pool.take((2, 2), np.float64).dtype == np.float64
    assert pool.take((3, 2)).shape == (3, 2)  # one too many: handed out; a free array of another shape dropped
    assert len(pool) == 2
    assert pool.take((2, 2)) is not kept and kept.shape == (2, 2)


def test_threads_never_hold_the_same_array():
    pool, rounds, threads = ArrayPool(4), [[] for _ in range(50)], 4
    barrier = threading.Barrier(threads)

    def take():
        for ids in rounds:
            array = pool.take((8, 8))
            ids.append(address(array))
            barrier.wait()  # every thread holds its array here
            del array
            barrier.wait()

    workers = [threading.Thread(target=take) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert all(len(set(ids)) == threads for ids in rounds)
    assert len(pool) == 4  # and they were reused round after round

"""What Dask costs: ``classify_files`` on a ``dask.distributed`` cluster against the same files in this process.

Run: ``python benchmarks/bench_dask.py [--files N]``. In one run, with the bundled default model:

- in this process (``classify_files(..., local=True)``): files per second, the model loaded once;
- the cluster's fixed costs: starting a ``LocalCluster`` and its client, a scheduler round trip
  (a task that does nothing, submitted and gathered), and the first file on a fresh worker (which
  loads the model);
- one worker with 2 threads, and two workers with 1 thread each: files per second once warm,
  against in-process.

The difference between in-process and one warm worker is what the scheduler, the client and the
transfer of each file's rows cost; two workers on two cores split the cores, not the work of one.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_build import busy_cores  # noqa: E402

from celestialclass import classify_files  # noqa: E402
from celestialclass.simulate import write_example_raw  # noqa: E402


def _noop():
    return None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=12)
    args = parser.parse_args(argv)
    from dask.distributed import Client, LocalCluster

    busy = busy_cores()
    if busy is not None and busy > 0.3:
        print(f"warning: other work keeps {busy:.1f} cores busy; the figures below are not this package's")
    with tempfile.TemporaryDirectory() as tmp:
        files = [str(write_example_raw(Path(tmp) / f"jdask{i:03d}q_raw.fits", seed=i)) for i in range(args.files)]
        classify_files(files[:1], local=True)  # load the model in this process
        start = time.perf_counter()
        classify_files(files, local=True)
        local = len(files) / (time.perf_counter() - start)
        print(f"{len(files)} files, 2 chips each, the default model, {os.cpu_count()} cores")
        print(f"in this process: {local:.2f} files/s ({2 * local:.1f} chips/s)")
        rates = {}
        for workers, threads in ((1, 2), (2, 1)):
            start = time.perf_counter()
            cluster = LocalCluster(n_workers=workers, threads_per_worker=threads, dashboard_address=None)
            client = Client(cluster)
            started = time.perf_counter() - start
            try:
                trips = []
                for _ in range(50):
                    t = time.perf_counter()
                    client.submit(_noop, pure=False).result()
                    trips.append((time.perf_counter() - t) * 1e3)
                start = time.perf_counter()
                classify_files(files[:workers], client)  # each worker loads the model
                first = time.perf_counter() - start
                start = time.perf_counter()
                classify_files(files, client)
                rates[workers, threads] = len(files) / (time.perf_counter() - start)
            finally:
                client.close()
                cluster.close()
            print(f"{workers} worker(s) x {threads} thread(s): cluster and client started in {started:.1f} s; "
                  f"scheduler round trip {statistics.median(trips):.1f} ms; first file(s) (model load) "
                  f"{first:.1f} s; warm: {rates[workers, threads]:.2f} files/s "
                  f"({rates[workers, threads] / local:.2f} of in-process)")


if __name__ == "__main__":
    main()

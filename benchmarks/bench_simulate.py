"""Seconds per simulated exposure (two chips, one core) and peak memory, per class and instrument.

Run: ``python benchmarks/bench_simulate.py [--exposures N]``. Each class is
timed over N exposures that cycle through its sub-types (PSFs are computed
once per filter first, as a long-running worker would have them cached).
Targets: <= 2 s per exposure per core, < 2 GB peak memory per worker.
"""

import argparse
import resource
import statistics
import tempfile
import time
from pathlib import Path

from celestialclass.simulate import SUBTYPES, simulate_exposure
from celestialclass.simulate.psf import psf_model

TARGET_S = 2.0
TARGET_GB = 2.0
FILTER = {"ACS/WFC": "F814W", "WFC3/UVIS": "F336W"}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exposures", type=int, default=8, help="exposures per class and instrument")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for instrument in ("ACS/WFC", "WFC3/UVIS"):
            psf_model(instrument, FILTER[instrument])  # warm the per-process PSF cache
            for kind, subtypes in SUBTYPES.items():
                times = []
                for i in range(args.exposures):
                    path = Path(tmp) / f"{kind}{i}_raw.fits"
                    start = time.perf_counter()
                    simulate_exposure(path, kind, instrument, seed=1000 + i, subtype=subtypes[i % len(subtypes)],
                                      filter=FILTER[instrument], exptime=600.0, overwrite=True)
                    times.append(time.perf_counter() - start)
                rows.append((instrument, kind, statistics.median(times), max(times)))
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
    print(f"{'instrument':10} {'class':7} {'median s/exp':>12} {'max s/exp':>10} {'ratio':>6}  target <= {TARGET_S} s")
    failed = False
    for instrument, kind, median, worst in rows:
        ratio = median / TARGET_S
        failed |= ratio > 1
        print(f"{instrument:10} {kind:7} {median:12.2f} {worst:10.2f} {ratio:6.2f}  {'ok' if ratio <= 1 else 'MISSED'}")
    print(f"peak memory of this worker: {peak_gb:.2f} GB (ratio {peak_gb / TARGET_GB:.2f} of {TARGET_GB} GB)")
    return 1 if failed or peak_gb >= TARGET_GB else 0


if __name__ == "__main__":
    raise SystemExit(main())

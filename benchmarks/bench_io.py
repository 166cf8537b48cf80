"""Time ``read_raw`` per chip against a bare ``astropy.io.fits.getdata`` of the same extension.

Run: ``python benchmarks/bench_io.py [--repeat N]``. The three readers are
interleaved in every round, so that caches and the machine's load touch them
alike; the medians and their ratios come from one run.
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from astropy.io import fits

from celestialclass.io import read_raw
from celestialclass.simulate import write_example_raw

TARGETS = {"read_raw": 1.5, "read_raw(subtract_bias=True)": 2.0}


def _median_ms(samples):
    return statistics.median(samples) * 1e3


def bench(path, hdu, repeat):
    readers = {
        "getdata": lambda: fits.getdata(path, hdu),
        "read_raw": lambda: read_raw(path, hdu=hdu),
        "read_raw(subtract_bias=True)": lambda: read_raw(path, hdu=hdu, subtract_bias=True),
    }
    times = {name: [] for name in readers}
    for reader in readers.values():  # warm the page cache and imports
        reader()
    for _ in range(repeat):
        for name, reader in readers.items():
            start = time.perf_counter()
            reader()
            times[name].append(time.perf_counter() - start)
    return {name: _median_ms(samples) for name, samples in times.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=40, help="rounds per instrument (default 40)")
    args = parser.parse_args(argv)
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        print(f"{'instrument':10} {'HDU':>3} {'reader':30} {'ms/chip':>8} {'ratio':>6} {'target':>7}")
        for instrument, prefix in (("ACS/WFC", "j"), ("WFC3/UVIS", "i")):
            path = write_example_raw(Path(tmp) / f"{prefix}bench01q_raw.fits", instrument)
            for hdu in (1, 4):
                result = bench(path, hdu, args.repeat)
                base = result["getdata"]
                for name, ms in result.items():
                    ratio = ms / base
                    target = TARGETS.get(name)
                    mark = ""
                    if target is not None:
                        mark = f"<={target}" + (" ok" if ratio <= target else " MISSED")
                        failed |= ratio > target
                    print(f"{instrument:10} {hdu:>3} {name:30} {ms:8.2f} {ratio:6.2f} {mark:>7}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

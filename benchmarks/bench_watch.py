"""Real time: ``celestialclass.watch`` against files landing at a given rate, beside a bare ``fits.getdata``.

Run: ``python benchmarks/bench_watch.py [--files N] [--interval S] [--burst N]``. In one run:

1. a few raw exposures are simulated (both classes, both instruments) and a bare
   ``astropy.io.fits.getdata`` of their chips is timed;
2. a watch (the bundled default model, the API with a ``.jsonl`` log) follows an empty landing
   directory while another process lands ``--files`` files there, one every ``--interval``
   seconds, in turn copied whole, renamed into place, and written slowly in four pieces. The
   latency of each chip, from its file becoming complete (its last write) to its result, is read
   from the log: p50 and p95 (target: p95 <= 150 ms on 2 cores), and its split;
3. ``--burst`` more files land as fast as they can be written, faster than they can be
   classified: the sustained chips per second from the first landing to the last result (target:
   >= 5 chips/s), with the arrival rate beside it;
4. the log is checked against what was written: every file's chips exactly once.

Run it on an idle machine: it warns when other work keeps the cores busy.
"""

import argparse
import json
import multiprocessing
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from astropy.io import fits

sys.path.insert(0, str(Path(__file__).parent))
from bench_build import busy_cores  # noqa: E402
from bench_classify import median_ms  # noqa: E402

from celestialclass import CelestialClassifier  # noqa: E402
from celestialclass.simulate import simulate_exposure  # noqa: E402
from celestialclass.realtime import watch  # noqa: E402

TARGET_P95_MS = 150.0
TARGET_CHIPS_PER_S = 5.0


def make_sources(directory):
    """Four raw exposures: each class on each instrument."""
    sources = []
    for i, (kind, instrument) in enumerate([("galaxy", "ACS/WFC"), ("nsc", "ACS/WFC"),
                                            ("galaxy", "WFC3/UVIS"), ("nsc", "WFC3/UVIS")]):
        path = Path(directory) / f"src{i}_raw.fits"
        simulate_exposure(path, kind, instrument, seed=100 + i)
        sources.append(path)
    return sources


def land(sources, landing, count, interval, start_index, how_many_pieces=4):
    """Land ``count`` files in ``landing``: copied, renamed into place, or written in pieces."""
    for n in range(count):
        index = start_index + n
        source = sources[index % len(sources)]
        target = Path(landing) / f"jw{index:05d}q_raw.fits"
        started = time.monotonic()
        way = index % 3
        if way == 0:
            shutil.copyfile(source, target)
        elif way == 1:
            temporary = Path(landing) / f".{target.name}.part"
            shutil.copyfile(source, temporary)
            os.rename(temporary, target)
        else:
            data = source.read_bytes()
            step = len(data) // how_many_pieces + 1
            with open(target, "wb") as handle:
                for offset in range(0, len(data), step):
                    handle.write(data[offset:offset + step])
                    handle.flush()
                    time.sleep(0.05)
        if interval:
            time.sleep(max(0.0, interval - (time.monotonic() - started)))


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(q / 100 * (len(values) - 1))))]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=24, help="files landed at --interval (latency)")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between files (latency phase)")
    parser.add_argument("--burst", type=int, default=24, help="files landed at once (throughput)")
    parser.add_argument("--batch-size", type=int, default=1, help="chips per forward pass (watch uses 1)")
    args = parser.parse_args(argv)
    busy = busy_cores()
    if busy is not None and busy > 0.3:
        print(f"warning: other work keeps {busy:.1f} cores busy; the figures below are not this package's")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "src").mkdir()
        (tmp / "in").mkdir()
        sources = make_sources(tmp / "src")
        bare = statistics.median(median_ms(lambda: fits.getdata(s, hdu), 5) for s in sources for hdu in (1, 4))
        classifier = CelestialClassifier(device="cpu", batch_size=args.batch_size)
        print(f"default weights: {classifier.name} ({classifier.weights_sha256[:12]}); bare fits.getdata of a "
              f"chip: {bare:.1f} ms")
        log = tmp / "results.jsonl"
        rows, stop = [], threading.Event()
        expected = args.files + args.burst

        def follow():
            for row in watch(tmp / "in", output=log, classifier=classifier, stop=stop):
                rows.append(row)
                if len(rows) >= 2 * expected:
                    stop.set()

        thread = threading.Thread(target=follow)
        thread.start()
        time.sleep(2.0)  # the watch is loaded and following
        lander = multiprocessing.Process(target=land, args=(sources, tmp / "in", args.files, args.interval, 0))
        lander.start()
        lander.join()
        deadline = time.time() + 120
        while len(rows) < 2 * args.files and time.time() < deadline:
            time.sleep(0.05)
        paced = list(rows)
        burst_start = time.time()
        lander = multiprocessing.Process(target=land, args=(sources, tmp / "in", args.burst, 0.0, args.files))
        lander.start()
        lander.join()
        landed_s = time.time() - burst_start
        thread.join(timeout=600)
        stop.set()
        thread.join()
        burst = rows[len(paced):]

        latency = [r["latency_ms"] for r in paced if not r["error"]]
        print(f"\nlatency, {args.files} files ({2 * args.files} chips) landing every {args.interval:g} s "
              "(copied, renamed into place, or written in 4 pieces):")
        print(f"  from file complete to result: p50 {percentile(latency, 50):.0f} ms, p95 "
              f"{percentile(latency, 95):.0f} ms (target p95 <= {TARGET_P95_MS:.0f} ms; the paper's GPU total: "
              f"116.5 ms per chip); p95 / bare getdata {percentile(latency, 95) / bare:.1f}")
        for part in ("wait_ms", "read_ms", "preprocess_ms", "forward_ms"):
            values = [r[part] for r in paced if r[part] is not None]
            print(f"  {part[:-3]:>10}: median {statistics.median(values):6.1f} ms, p95 "
                  f"{percentile(values, 95):6.1f} ms")
        first_chip = [r["latency_ms"] for r in paced if r["hdu"] == min(x["hdu"] for x in paced)]
        print(f"  the first chip of each file: p95 {percentile(first_chip, 95):.0f} ms (the second waits for it)")

        if burst:
            span = max(json_time(r["classified"]) for r in burst) - burst_start
            print(f"\nthroughput, {args.burst} files landed in {landed_s:.1f} s "
                  f"({2 * args.burst / landed_s:.1f} chips/s arriving):")
            print(f"  sustained {len(burst) / span:.1f} chips/s (target >= {TARGET_CHIPS_PER_S:.0f}); "
                  f"p95 latency in the queue {percentile([r['latency_ms'] for r in burst], 95):.0f} ms")

        logged = [json.loads(line) for line in log.read_text().splitlines()]
        chips = [(Path(r["source"]).name, r["hdu"]) for r in logged]
        wanted = {(f"jw{i:05d}q_raw.fits", hdu) for i in range(expected) for hdu in (1, 4)}
        print(f"\nlog: {len(logged)} rows for {expected} files; every chip exactly once: "
              f"{len(chips) == len(set(chips)) and set(chips) == wanted}; errors: "
              f"{sum(bool(r['error']) for r in logged)}")


def json_time(text):
    from datetime import datetime

    return datetime.fromisoformat(text).timestamp()


if __name__ == "__main__":
    main()

"""Cost of an explanation map against a prediction of the same chip, with the bundled default model.

Run: ``python benchmarks/bench_explain.py [--repeat N]``. Both are timed in one run on the built-in
example raw file (ACS/WFC, HDU 4): ``CelestialClassifier().predict(path, hdu=4)`` against
``CelestialClassifier().explain(path, hdu=4)`` (read, preprocess, one forward and one backward pass,
the map summed over 16 x 16 blocks). The package's target: explain at most 30x predict.
"""

import argparse
import tempfile
from pathlib import Path

import torch
from bench_classify import median_ms  # this script's directory is on sys.path

from celestialclass import CelestialClassifier
from celestialclass.simulate import write_example_raw


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    classifier = CelestialClassifier(device="cpu")
    print(f"default weights: {classifier.name} ({classifier.weights_sha256[:12]}), "
          f"torch threads {torch.get_num_threads()}")
    with tempfile.TemporaryDirectory() as tmp:
        raw = write_example_raw(Path(tmp) / "jbench02q_raw.fits")
        classifier.explain(raw, hdu=4)  # the gradient network is built once, on first use
        predict = median_ms(lambda: classifier.predict(raw, hdu=4), args.repeat)
        explain = median_ms(lambda: classifier.explain(raw, hdu=4), args.repeat)
    print(f"one chip: predict {predict:.1f} ms, explain {explain:.1f} ms; ratio {explain / predict:.1f} "
          f"(target <= 30)")


if __name__ == "__main__":
    main()

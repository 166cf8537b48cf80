"""End-to-end speed of the bundled default model against a bare ``astropy.io.fits.getdata``.

Run: ``python benchmarks/bench_default.py [--repeat N]``. Everything is measured in one run, on
the built-in example raw file (ACS/WFC), with the weights shipped in the package:

- one chip: ``CelestialClassifier().predict(path, hdu=4)`` (open the raw file, read and trim the
  chip, subtract the bias, scale, classify) against ``fits.getdata(path, 4)`` of the same chip;
  the target: at most 10x;
- a whole file (both chips) against two ``getdata`` calls;
- the split of the one-chip time into reading + preprocessing and the forward pass;
- reading + preprocessing as the classifier does it (``Preprocess.read_image``: the scaling applied
  to a table of the 65536 possible values) against ``read_raw`` then ``Preprocess.image`` (every
  pixel scaled).
"""

import argparse
import tempfile
from pathlib import Path

import torch
from astropy.io import fits
from bench_classify import median_ms  # this script's directory is on sys.path

from celestialclass import CelestialClassifier
from celestialclass.simulate import write_example_raw


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args(argv)
    classifier = CelestialClassifier(device="cpu")
    print(f"default weights: {classifier.name} ({classifier.weights_sha256[:12]}), "
          f"torch threads {torch.get_num_threads()}")
    with tempfile.TemporaryDirectory() as tmp:
        raw = write_example_raw(Path(tmp) / "jbench01q_raw.fits")
        chip = median_ms(lambda: classifier.predict(raw, hdu=4), args.repeat)
        bare = median_ms(lambda: fits.getdata(raw, 4), args.repeat)
        whole = median_ms(lambda: classifier.predict(raw), args.repeat)
        bare_both = median_ms(lambda: (fits.getdata(raw, 1), fits.getdata(raw, 4)), args.repeat)
        pre = median_ms(lambda: classifier.preprocess.read_image(raw, hdu=4), args.repeat)
        ccd = classifier.preprocess.read(raw, hdu=4)
        read = median_ms(lambda: classifier.preprocess.read(raw, hdu=4), args.repeat)
        scale_all = median_ms(lambda: classifier.preprocess.image(ccd), args.repeat)
        x = torch.from_numpy(classifier.preprocess.read_image(raw, hdu=4))[None, None]
        with torch.inference_mode():
            forward = median_ms(lambda: classifier.network(x), args.repeat)
    print(f"one chip end to end: {chip:.1f} ms; bare fits.getdata {bare:.1f} ms; "
          f"ratio {chip / bare:.1f} (target <= 10)")
    print(f"whole file (2 chips): {whole:.1f} ms; 2 x getdata {bare_both:.1f} ms; ratio {whole / bare_both:.1f}")
    print(f"split: read + trim + bias + scale {pre:.1f} ms, forward pass {forward:.1f} ms "
          f"(paper, HR-CelestialNet on a GPU: 116.5 ms per chip in all)")
    print(f"scaling by table look-up (Preprocess.read_image) against every pixel: read_raw {read:.1f} ms "
          f"+ Preprocess.image {scale_all:.1f} ms = {read + scale_all:.1f} ms; "
          f"ratio {(read + scale_all) / pre:.1f}")


if __name__ == "__main__":
    main()

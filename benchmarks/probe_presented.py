"""Held-out bank pictures presented as raw ACS/WFC chips the plain way, without the simulator's physics.

Not a speed benchmark: a second view of how a model does on real morphology.
Hybrid exposures (`celestialclass.simulate.hybrid`) put a bank picture
through the simulator (scale, PSF, point sources, stars, sky); this probe
presents each picture as a user would who has only the picture: the 8-bit
values decoded from sRGB to linear light, the colour channels averaged, the
median of the border subtracted, the picture turned to the chip's
orientation and resized (bilinear) to cover the chip's 2048 x 4096 science
area, centre-cropped, then scaled so its 99.5th percentile collects 300 to
5,000 electrons (drawn), in an exposure of 300 to 1,200 s over a sky of
0.05 to 0.15 e-/s per pixel, with photon noise, dark current, hot pixels and
cosmic rays (`celestialclass.simulate.detector.expose`), bias and read noise
(`celestialclass.simulate.write_raw`). Chip 1 shows the picture, chip 2 the
picture turned by 90 degrees and mirrored; both are in the manifest.

Give it the test manifest of a split of hybrid exposures (it takes each
``Image`` of the manifest once, with its ``ID`` and ``Label``), so that the
pictures are of objects the model under test never trained on::

    python benchmarks/probe_presented.py hybrid-test.csv bank/ presented/
    celestialclass evaluate --weights default --manifest presented/presented.csv \\
        --data-dir presented --out reports/presented

The same seed writes the same files.
"""

import argparse
import pathlib

import numpy as np


def linear_luminance(path) -> np.ndarray:
    """The picture's linear light (sRGB decoded, channels averaged), its border's median subtracted."""
    import cv2

    display = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if display is None:
        raise SystemExit(f"{path}: cannot read the picture")
    value = display.astype(np.float32) / 255.0
    light = np.where(value <= 0.04045, value / 12.92, ((value + 0.055) / 1.055) ** 2.4).mean(axis=2)
    border = np.concatenate([light[:4].ravel(), light[-4:].ravel(), light[:, :4].ravel(), light[:, -4:].ravel()])
    return np.clip(light - np.median(border), 0, None)


def cover(picture: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """``picture`` turned to the chip's orientation, resized to cover ``rows`` x ``cols``, centre-cropped."""
    import cv2

    if (picture.shape[0] > picture.shape[1]) != (rows > cols):
        picture = np.ascontiguousarray(picture.T)
    factor = max(rows / picture.shape[0], cols / picture.shape[1])
    r, c = int(np.ceil(picture.shape[0] * factor)), int(np.ceil(picture.shape[1] * factor))
    resized = cv2.resize(picture, (c, r), interpolation=cv2.INTER_LINEAR)
    r0, c0 = (r - rows) // 2, (c - cols) // 2
    return resized[r0:r0 + rows, c0:c0 + cols]


def main(argv=None):
    from astropy.table import Table

    from celestialclass.io.instruments import get_layout
    from celestialclass.schema import write_manifest
    from celestialclass.simulate import write_raw
    from celestialclass.simulate.detector import expose

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("manifest", help="test manifest of hybrid exposures (its Image, ID and Label columns)")
    parser.add_argument("bank", help="the bank directory (celestialclass bank build)")
    parser.add_argument("out", help="output directory: raw files and presented.csv")
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args(argv)

    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pictures = {}
    for row in Table.read(args.manifest, format="ascii.csv"):
        pictures.setdefault(str(row["Image"]), (str(row["ID"]), str(row["Label"])))
    layout = get_layout("ACS/WFC")
    rng = np.random.default_rng(args.seed)
    rows = []
    for n, (image, (target, label)) in enumerate(sorted(pictures.items())):
        obsid = f"jpres{n:03d}q"
        light = linear_luminance(pathlib.Path(args.bank) / "images" / image)
        exptime = float(rng.uniform(300, 1200))
        peak = float(np.exp(rng.uniform(np.log(300), np.log(5000))))
        sky = float(rng.uniform(0.05, 0.15))
        electrons = {}
        for k, chip in enumerate(layout.chips):
            view = light if k == 0 else np.ascontiguousarray(light[::-1].T)
            picture = cover(view, 2048, 4096)
            rate = (picture / max(float(np.percentile(picture, 99.5)), 1e-6) * peak / exptime).astype(np.float32)
            electrons[chip.ccdchip], _ = expose(rate, exptime, sky, layout, chip, rng)
        path = out / f"{obsid}_raw.fits"
        header = {"EXPTIME": exptime, "FILTER1": "F606W", "FILTER2": "CLEAR2L", "TARGNAME": target}
        write_raw(path, electrons, "ACS/WFC", unit="electron", header=header, seed=rng, overwrite=True)
        rows += [{"ID": target, "Instrument": "ACS/WFC", "OBSID": obsid, "Filter": "F606W", "RA": 0.0, "DEC": 0.0,
                  "HDU Index": chip.hdu, "Label": label, "Image": image} for chip in layout.chips]
    write_manifest(rows, out / "presented.csv")
    print(f"{out}: {len(pictures)} pictures, {len(rows)} chips; manifest {out / 'presented.csv'}")


if __name__ == "__main__":
    main()

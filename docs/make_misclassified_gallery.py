"""Write the default-model page's gallery: held-out chips the bundled model got wrong, with their maps.

Run on an evaluation of the bundled weights on held-out chips, for example those of a
``celestialclass default-model BUILD_DIR`` build::

    celestialclass evaluate --weights default --manifest BUILD_DIR/test.csv --data-dir BUILD_DIR/sim \
        --out REPORT --shown-only
    python docs/make_misclassified_gallery.py REPORT BUILD_DIR/sim [--count 4]

It reads ``REPORT/predictions.ecsv``, picks the most confident mistakes (each of another body),
explains them with the bundled weights (`celestialclass.CelestialClassifier.explain`) and writes
``docs/_static/misclassified/*.png`` and ``docs/_static/misclassified/gallery.rst``, which the
default-model page includes. The images are committed: the documentation build has no simulated data.
"""

import argparse
import pathlib

import numpy as np
from astropy.table import Table

from celestialclass import CelestialClassifier
from celestialclass.schema import CLASS_DISPLAY, CLASS_NAMES

HERE = pathlib.Path(__file__).parent / "_static" / "misclassified"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=pathlib.Path, help="an evaluate report of the bundled weights")
    parser.add_argument("data_dir", type=pathlib.Path, help="the directory of its raw files")
    parser.add_argument("--count", type=int, default=4)
    args = parser.parse_args(argv)
    predictions = Table.read(args.report / "predictions.ecsv")
    clf = CelestialClassifier(device="cpu")
    wrong = predictions[predictions["true"] != predictions["predicted"]]
    confidence = np.maximum(wrong["prob_nsc"], wrong["prob_galaxy"])
    chosen, bodies = [], set()
    for index in np.argsort(-confidence):
        row = wrong[index]
        if row["ID"] not in bodies:
            chosen.append(row)
            bodies.add(row["ID"])
        if len(chosen) == args.count:
            break
    HERE.mkdir(parents=True, exist_ok=True)
    for old in HERE.glob("*.png"):
        old.unlink()
    lines = [".. list-table::", "   :widths: 100", ""]
    for row in chosen:
        path = args.data_dir / f"{row['OBSID']}_raw.fits"
        explanation = clf.explain(path, hdu=int(row["HDU Index"]))[0]
        if explanation.label != CLASS_NAMES[int(row["predicted"])]:
            raise SystemExit(f"{path}: the bundled weights do not give the report's prediction; other weights?")
        name = f"{row['OBSID']}_hdu{int(row['HDU Index'])}.png"
        explanation.plot(HERE / name)
        true = CLASS_DISPLAY[CLASS_NAMES[int(row["true"])]]
        subtype = row["Subtype"].replace("edge_on", "edge-on galaxy").replace("_", " ")
        lines += [f"   * - .. image:: /_static/misclassified/{name}", "",
                  f"       {row['Instrument']} {row['Filter']}, a simulated {subtype} "
                  f"(a {true}, body {row['ID']}), visibility {row['Visibility']:.0f}, coverage "
                  f"{row['Coverage']:.2f}: called {CLASS_DISPLAY[explanation.label]} with p = "
                  f"{explanation.probabilities[explanation.label]:.3f}."]
    (HERE / "gallery.rst").write_text("\n".join(lines) + "\n")
    print(f"{len(chosen)} chips -> {HERE}")


if __name__ == "__main__":
    main()

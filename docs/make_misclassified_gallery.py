"""Write the default-model page's gallery: held-out chips the bundled model got wrong, with their maps.

Run on evaluation reports of the bundled weights on held-out chips, for example those of the
``celestialclass default-model BUILD_DIR`` build that made them::

    python docs/make_misclassified_gallery.py BUILD_DIR/reports/model-held_out BUILD_DIR/sim --count 2 \
        --real BUILD_DIR/reports/model-held_out_real BUILD_DIR/sim

It reads ``REPORT/predictions.ecsv``, picks the most confident mistakes (each of another object),
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


def most_confident_mistakes(report: pathlib.Path, count: int):
    """The ``count`` most confident wrong rows of a report, each of another object."""
    predictions = Table.read(report / "predictions.ecsv")
    wrong = predictions[predictions["true"] != predictions["predicted"]]
    confidence = np.maximum(wrong["prob_nsc"], wrong["prob_galaxy"])
    chosen, objects = [], set()
    for index in np.argsort(-confidence):
        row = wrong[index]
        if row["ID"] not in objects:
            chosen.append(row)
            objects.add(row["ID"])
        if len(chosen) == count:
            break
    return chosen


def caption(row, label: str, probability: float) -> str:
    """What a gallery chip is and what the model called it."""
    true = CLASS_DISPLAY[CLASS_NAMES[int(row["true"])]]
    if row["Subtype"] == "bank":
        what = f"a hybrid exposure of a real image of {row['ID']} (``{row['Image']}``, a {true})"
    else:
        subtype = row["Subtype"].replace("edge_on", "edge-on galaxy").replace("_", " ")
        what = f"a simulated {subtype} (a {true}, body {row['ID']})"
    return (f"{row['Instrument']} {row['Filter']}, {what}, visibility {row['Visibility']:.0f}, coverage "
            f"{row['Coverage']:.2f}: called {CLASS_DISPLAY[label]} with p = {probability:.3f}.")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=pathlib.Path, help="an evaluate report of the bundled weights")
    parser.add_argument("data_dir", type=pathlib.Path, help="the directory of its raw files")
    parser.add_argument("--count", type=int, default=4)
    parser.add_argument("--real", nargs=2, type=pathlib.Path, metavar=("REPORT", "DATA_DIR"),
                        help="also a report on held-out bank objects (hybrid exposures) and its directory")
    parser.add_argument("--real-count", type=int, default=4)
    args = parser.parse_args(argv)
    clf = CelestialClassifier(device="cpu")
    chosen = [(row, args.data_dir) for row in most_confident_mistakes(args.report, args.count)]
    if args.real:
        chosen += [(row, args.real[1]) for row in most_confident_mistakes(args.real[0], args.real_count)]
    HERE.mkdir(parents=True, exist_ok=True)
    for old in HERE.glob("*.png"):
        old.unlink()
    lines = [".. list-table::", "   :widths: 100", ""]
    for row, data_dir in chosen:
        path = data_dir / f"{row['OBSID']}_raw.fits"
        explanation = clf.explain(path, hdu=int(row["HDU Index"]))[0]
        if explanation.label != CLASS_NAMES[int(row["predicted"])]:
            raise SystemExit(f"{path}: the bundled weights do not give the report's prediction; other weights?")
        name = f"{row['OBSID']}_hdu{int(row['HDU Index'])}.png"
        explanation.plot(HERE / name)
        lines += [f"   * - .. image:: /_static/misclassified/{name}", "",
                  f"       {caption(row, explanation.label, explanation.probabilities[explanation.label])}"]
    (HERE / "gallery.rst").write_text("\n".join(lines) + "\n")
    print(f"{len(chosen)} chips -> {HERE}")


if __name__ == "__main__":
    main()

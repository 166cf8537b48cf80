"""Facts every part of the package shares, stated once: the class vocabulary, the LCID shapes, manifests.

The bottom of the import graph: it imports nothing from the package but
`celestialclass.utils` and `celestialclass.exceptions`, and io, preprocess,
models, simulate, datasets, training and evaluation take these names from
here.
"""

from __future__ import annotations

__all__ = ["CLASS_NAMES", "CLASS_DISPLAY", "UNCERTAIN", "LCID_SHAPE", "LCID_RESIZE", "LCID_INPUT", "LCID_RESIZE_INPUT",
           "MANIFEST_COLUMNS", "MANIFEST_LABELS", "LABEL_SPELLING", "TRUTH_MARKERS", "write_manifest"]

#: The label vocabulary, in the models' output order (``"nsc"``: nebula/star cluster).
CLASS_NAMES = ("galaxy", "nsc")
#: Display text of each class.
CLASS_DISPLAY = {"galaxy": "galaxy", "nsc": "nebula/star cluster"}
#: The label of a chip left unanswered: its largest probability is below the ``min_confidence`` asked for.
UNCERTAIN = "uncertain"
#: Shape (rows, columns) of the trimmed chip the paper's LCID dataset uses.
LCID_SHAPE = (2048, 4096)
#: (rows, columns) of the paper's LCID-Resize images: ``cv2.resize(chip, (448, 224))``.
LCID_RESIZE = (224, 448)
#: Input (channels, rows, columns) of full-resolution models: one trimmed chip.
LCID_INPUT = (1, *LCID_SHAPE)
#: Input (channels, rows, columns) of models of the paper's LCID-Resize data.
LCID_RESIZE_INPUT = (1, *LCID_RESIZE)
#: Columns every manifest has, in the paper's order (its files also start with an unnamed index column).
MANIFEST_COLUMNS = ("ID", "Instrument", "OBSID", "Filter", "RA", "DEC", "HDU Index", "Label")
#: Columns that mark a manifest as simulated (the simulator's truth).
TRUTH_MARKERS = ("Subtype", "Body Seed")
#: A manifest's ``Label`` value -> class name.
MANIFEST_LABELS = {"galaxy": "galaxy", "nsc": "nsc", "NSC": "nsc"}
#: Class name -> how the paper's manifests spell it in ``Label``.
LABEL_SPELLING = {"galaxy": "galaxy", "nsc": "NSC"}


def write_manifest(table, path) -> None:
    """Write a manifest CSV in the paper's layout (a leading unnamed index column), atomically.

    Parameters
    ----------
    table : `~astropy.table.Table` or sequence of dict
        A table from `celestialclass.datasets.load_manifest` (its class
        column ``label`` is written as the paper's ``Label``: ``galaxy`` or
        ``NSC``), or rows with a ``Label`` of their own. Columns are written
        in the paper's order, the others after them in their own order.
    path : str or path-like

    Examples
    --------
    >>> import os, pathlib, tempfile
    >>> from celestialclass.datasets import load_manifest
    >>> from celestialclass.schema import write_manifest
    >>> test = load_manifest("lcid-test")
    >>> path = os.path.join(tempfile.mkdtemp(), "copy.csv")
    >>> write_manifest(test[:3], path)
    >>> pathlib.Path(path).read_text().splitlines()[0]
    ',ID,Instrument,OBSID,Filter,RA,DEC,HDU Index,Label'
    >>> bool((load_manifest(path)["label"] == test[:3]["label"]).all())
    True
    """
    import csv
    import io

    from .utils.files import atomic_path

    if hasattr(table, "colnames"):
        names = list(table.colnames)
        rows = [{name: row[name] for name in names} for row in table]
    else:
        rows = [dict(row) for row in table]
        names = list(rows[0]) if rows else list(MANIFEST_COLUMNS)
    if "label" in names:
        for row in rows:
            row["Label"] = LABEL_SPELLING[row.pop("label")]
        names = [n for n in names if n != "label"] + ([] if "Label" in names else ["Label"])
    columns = [c for c in MANIFEST_COLUMNS if c in names] + [c for c in names if c not in MANIFEST_COLUMNS]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([""] + columns)
    for index, row in enumerate(rows):
        writer.writerow([index] + [row[c] for c in columns])
    with atomic_path(path) as tmp:
        tmp.write_text(buffer.getvalue())

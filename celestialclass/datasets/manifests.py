"""Manifests: the paper's LCID lists and the simulator's, loaded into one schema."""

from __future__ import annotations

import hashlib
import pathlib

from ..exceptions import CelestialClassError
from ..schema import MANIFEST_COLUMNS, MANIFEST_LABELS, write_manifest

__all__ = ["load_manifest", "write_manifest", "manifest_sha256", "shows_object", "stack_manifests",
           "BUILTIN_MANIFESTS", "ManifestError", "MIN_COVERAGE", "MIN_VISIBILITY"]
_DATA = pathlib.Path(__file__).parent / "data"
#: A simulated chip shows its object when the object covers at least this fraction of it (``Coverage``) ...
MIN_COVERAGE = 0.01
#: ... and reaches this signal-to-noise ratio over 1 % of it (``Visibility``).
MIN_VISIBILITY = 5.0
#: Manifests shipped with the package (credit: Zhang et al. 2024 and their repository).
BUILTIN_MANIFESTS = {"lcid-test": _DATA / "lcid_test_manifest.csv",
                     "lcid-blurry": _DATA / "lcid_blurry_manifest.csv"}


class ManifestError(CelestialClassError):
    """A manifest lacks columns, has unknown labels, or cannot be read."""


def _resolve(manifest) -> pathlib.Path:
    if isinstance(manifest, str) and manifest in BUILTIN_MANIFESTS:
        return BUILTIN_MANIFESTS[manifest]
    path = pathlib.Path(manifest)
    if not path.is_file():
        raise ManifestError(
            f"no such manifest; give a CSV file or one of {', '.join(BUILTIN_MANIFESTS)}", path=path)
    return path


def manifest_sha256(manifest) -> str:
    """sha256 of a manifest file's bytes (recorded in model cards)."""
    return hashlib.sha256(_resolve(manifest).read_bytes()).hexdigest()


def load_manifest(manifest):
    """Load a manifest as an `~astropy.table.Table`.

    Parameters
    ----------
    manifest : str or path-like
        ``"lcid-test"`` (1,595 chips) or ``"lcid-blurry"`` (116 chips), the
        paper's published manifests shipped with the package, or the path of
        a CSV with the same columns (such as a simulator's ``manifest.csv``).

    Returns
    -------
    table : `~astropy.table.Table`
        The manifest's columns (the unnamed index dropped), with ``Label``
        read into ``label``: the class name, ``"galaxy"`` or ``"nsc"`` (the
        paper's ``NSC``); `write_manifest` writes it back as ``Label``.
        ``meta`` holds ``source`` (the file) and ``sha256``.

    Raises
    ------
    ManifestError
        Missing columns or unknown labels (named in the message).

    Examples
    --------
    >>> from celestialclass.datasets import load_manifest
    >>> test = load_manifest("lcid-test")
    >>> len(test), len(set(test["ID"])), sorted(set(test["label"].tolist()))
    (1595, 21, ['galaxy', 'nsc'])
    """
    from astropy.table import Table

    path = _resolve(manifest)
    try:
        table = Table.read(path, format="ascii.csv")
    except Exception as exc:
        raise ManifestError(f"cannot read the manifest as CSV ({exc})", path=path) from None
    # The paper's files start with an unnamed index column.
    for name in list(table.colnames):
        if name in ("", "col0", "col1") or name.startswith("Unnamed"):
            table.remove_column(name)
    missing = [c for c in MANIFEST_COLUMNS if c not in table.colnames]
    if missing:
        raise ManifestError(f"missing column(s) {missing}; a manifest has {list(MANIFEST_COLUMNS)}", path=path)
    labels = [str(v) for v in table["Label"]]
    unknown = sorted(set(labels) - set(MANIFEST_LABELS))
    if unknown:
        raise ManifestError(f"unknown label(s) {unknown}; known: {sorted(set(MANIFEST_LABELS))}", path=path)
    # One class column, in the package's vocabulary, where the file's ``Label`` stood.
    table["Label"] = [MANIFEST_LABELS[v] for v in labels]
    table.rename_column("Label", "label")
    table["OBSID"] = [str(v) for v in table["OBSID"]]
    table.meta["source"] = str(path)
    table.meta["sha256"] = manifest_sha256(path)
    return table


def shows_object(table, min_coverage: float = MIN_COVERAGE, min_visibility: float = MIN_VISIBILITY):
    """Which chips of a simulated manifest show their object (a boolean array).

    LCID's chips were labelled by people who saw the object on them; a
    simulated chip can hold only sky next to a compact object, or an object
    below the noise. A chip shows its object when ``Coverage`` (the fraction
    of the chip within the object's visible radius) is at least
    ``min_coverage`` and ``Visibility`` (the object's S/N over 1 % of the
    chip, `celestialclass.simulate.chip_visibility`) at least
    ``min_visibility``.

    Raises
    ------
    ManifestError
        The manifest lacks the simulator's ``Coverage`` and ``Visibility`` columns.

    Examples
    --------
    >>> from astropy.table import Table
    >>> from celestialclass.datasets import shows_object
    >>> chips = Table({"Coverage": [1.0, 0.0, 0.5], "Visibility": [40.0, 0.0, 3.0]})
    >>> shows_object(chips).tolist()  # the second holds only sky; the third is below the noise
    [True, False, False]
    """
    import numpy as np

    missing = [c for c in ("Coverage", "Visibility") if c not in table.colnames]
    if missing:
        raise ManifestError(f"not a simulated manifest: no {' or '.join(missing)} column",
                            path=table.meta.get("source"))
    return (np.asarray(table["Coverage"]) >= min_coverage) & (np.asarray(table["Visibility"]) >= min_visibility)


def stack_manifests(manifests):
    """Several manifests as one table (for example a data directory's ``manifest.csv`` and ``hybrid.csv``).

    Parameters
    ----------
    manifests : sequence of `~astropy.table.Table` or str
        Tables from `load_manifest`, or what it takes.

    Returns
    -------
    table : `~astropy.table.Table`
        Their rows in order; a column only some of them have (a hybrid
        manifest's ``Image``) is empty (``""``) in the others' rows.
        ``meta["source"]`` and ``meta["sha256"]`` join theirs with ``+``.

    Examples
    --------
    >>> from celestialclass.datasets import load_manifest, stack_manifests
    >>> both = stack_manifests(["lcid-test", "lcid-blurry"])
    >>> len(both) == len(load_manifest("lcid-test")) + len(load_manifest("lcid-blurry"))
    True
    """
    from astropy.table import vstack

    tables = [m if hasattr(m, "colnames") else load_manifest(m) for m in manifests]
    if len(tables) == 1:
        return tables[0]
    table = vstack(tables, join_type="outer", metadata_conflicts="silent")
    if table.has_masked_columns:
        table = table.filled("")
    table.meta.update(source="+".join(str(t.meta.get("source")) for t in tables),
                      sha256="+".join(str(t.meta.get("sha256")) for t in tables))
    return table


def manifest_name(table, default: str = "manifest") -> str:
    """The file name(s) a manifest table was read from, for saying what a figure was measured on.

    A table of `stack_manifests` names each of its parts (``validation.csv +
    hybrid_validation.csv``); a table not read from a file gets ``default``.

    Examples
    --------
    >>> from astropy.table import Table
    >>> from celestialclass.datasets.manifests import manifest_name
    >>> manifest_name(Table(meta={"source": "/data/build/validation.csv+/data/build/hybrid_validation.csv"}))
    'validation.csv + hybrid_validation.csv'
    >>> manifest_name(Table(), default="validation")
    'validation'
    """
    source = table.meta.get("source")
    if not source:
        return default
    return " + ".join(pathlib.Path(part).name for part in str(source).split("+"))

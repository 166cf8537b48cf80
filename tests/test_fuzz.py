"""Fuzz suite: generated bad or odd inputs through every entry point.

Every input must give either the right result or a specific `CelestialClassError` subclass (never the
base class itself) whose message names the file, within a time bound: never a crash, a hang, a foreign
exception or a silently wrong trim. Inputs are made from two valid raw files (ACS/WFC, WFC3/UVIS) by
truncating them at many offsets, editing header cards as bytes (wrong values, wrong types, swapped and
duplicated chip keywords), compressing them (gzip, fpack), and by odd paths; in-memory objects go to ``predict``.
"""

import collections
import gzip
import os
import pathlib
import shutil
import time

import numpy as np
import pytest
from astropy.io import fits
from astropy.nddata import CCDData

from celestialclass import CelestialClassifier
from celestialclass.cli import main
from celestialclass.exceptions import CelestialClassError
from celestialclass.io import describe_raw, read_raw

#: Seconds any one call may take.
TIME_LIMIT = 30.0
OUTCOMES = collections.Counter()


def _card_offset(path, hdu, key):
    """Where the 80-byte header card ``key`` of HDU ``hdu`` starts in the file."""
    with fits.open(path) as hdul:
        start, end = hdul.fileinfo(hdu)["hdrLoc"], hdul.fileinfo(hdu)["datLoc"]
    with open(path, "rb") as handle:
        handle.seek(start)
        block = handle.read(end - start)
    for offset in range(0, len(block), 80):
        if block[offset:offset + 8].decode("ascii").rstrip() == key:
            return start + offset
    raise AssertionError(f"no card {key} in HDU {hdu}")


def set_card(path, hdu, key, value):
    """Overwrite the value of header card ``key`` of HDU ``hdu`` in place, as bytes (no astropy fix-ups)."""
    offset = _card_offset(path, hdu, key)
    with open(path, "r+b") as handle:
        handle.seek(offset + 10)
        handle.write(f"{value:>20}".ljust(70).encode("ascii"))


def rename_card(path, hdu, key, new):
    """Rename header card ``key`` (e.g. to make a keyword disappear)."""
    offset = _card_offset(path, hdu, key)
    with open(path, "r+b") as handle:
        handle.seek(offset)
        handle.write(new.ljust(8).encode("ascii"))


def truncate_at(fraction):
    def damage(path):
        size = os.path.getsize(path)
        os.truncate(path, int(size * fraction))
    return damage


def card(hdu, key, value):
    return lambda path: set_card(path, hdu, key, value)


def swap_chips(path):
    set_card(path, 1, "CCDCHIP", 1 if fits.getval(path, "CCDCHIP", ext=1) == 2 else 2)
    set_card(path, 4, "CCDCHIP", 1 if fits.getval(path, "CCDCHIP", ext=4) == 2 else 2)


def gzip_in_place(path):
    raw = pathlib.Path(path).read_bytes()
    with gzip.open(path, "wb", compresslevel=1) as handle:
        handle.write(raw)


def fpack(path):
    with fits.open(path) as hdul:
        hdus = [hdul[0].copy()] + [fits.CompImageHDU(h.data, h.header) if h.name == "SCI" else h.copy()
                                   for h in hdul[1:]]
        fits.HDUList(hdus).writeto(path, overwrite=True)


def append_junk(path):
    with open(path, "ab") as handle:
        handle.write(b"\x00" * 1000)


def non_ascii_card(path):
    set_card(path, 0, "TARGNAME", "'CAF\\'")
    offset = _card_offset(path, 0, "TARGNAME")
    with open(path, "r+b") as handle:
        handle.seek(offset + 10)
        handle.write("'CAF".encode("ascii") + bytes([0xC9]) + b"'")


# name -> (damage, expected): "same" = reads exactly as the undamaged file does; "error" = a specific error.
MUTATIONS = {
    **{f"truncated at {f:.3f}": (truncate_at(f), "error")
       for f in (0.0, 0.001, 0.02, 0.08, 0.12, 0.25, 0.40, 0.499, 0.55, 0.75, 0.90, 0.999)},
    "NAXIS1 = 'abc'": (card(1, "NAXIS1", "'abc'"), "error"),
    "NAXIS1 one short": (card(1, "NAXIS1", 4143), "error"),
    "NAXIS2 one more": (card(1, "NAXIS2", None), "error"),  # filled in per instrument below
    "NAXIS = 3": (card(1, "NAXIS", 3), "error"),
    "BITPIX = -32": (card(1, "BITPIX", -32), "error"),
    "BITPIX = 'x'": (card(1, "BITPIX", "'x'"), "error"),
    "CCDCHIP = 1.5": (card(1, "CCDCHIP", 1.5), "error"),
    "CCDCHIP = 'one'": (card(1, "CCDCHIP", "'one'"), "error"),
    "CCDCHIP = 7": (card(1, "CCDCHIP", 7), "error"),
    "CCDCHIP = T": (card(1, "CCDCHIP", "T"), "error"),
    "CCDCHIP swapped": (swap_chips, "error"),
    "CCDCHIP duplicated": (card(1, "CCDCHIP", None), "error"),  # set to HDU 4's below
    "EXTVER = 3": (card(1, "EXTVER", 3), "error"),
    "CCDAMP missing": (lambda p: rename_card(p, 0, "CCDAMP", "CCDAMPX"), "error"),
    "CCDAMP = 'AC'": (card(0, "CCDAMP", "'AC'"), "error"),
    "INSTRUME = 'WFPC2'": (card(0, "INSTRUME", "'WFPC2'"), "error"),
    "INSTRUME missing": (lambda p: rename_card(p, 0, "INSTRUME", "INSTRUMX"), "error"),
    "SUBARRAY = T": (card(0, "SUBARRAY", "T"), "error"),
    "BINAXIS1 = 2": (card(0, "BINAXIS1", 2), "error"),
    "BLEVCORR = 'COMPLETE'": (card(0, "BLEVCORR", "'COMPLETE'"), "error"),
    "NEXTEND = 9": (card(0, "NEXTEND", 9), "error"),
    "BZERO = 0": (card(1, "BZERO", 0), "same_shape"),
    "TARGNAME changed": (card(0, "TARGNAME", "'SOMETHING'"), "same"),
    "TARGNAME non-ASCII": (non_ascii_card, "error_or_same"),
    "junk appended": (append_junk, "same"),
    "gzip-compressed, named _raw.fits": (gzip_in_place, "same"),
    "tile-compressed (fpack)": (fpack, "same"),
}


@pytest.fixture(scope="module")
def bases(tmp_path_factory):
    from celestialclass.simulate import write_example_raw

    out = tmp_path_factory.mktemp("fuzz-base")
    return {name: write_example_raw(out / f"{prefix}fuzz01q_raw.fits", name, seed=3)
            for name, prefix in (("ACS/WFC", "j"), ("WFC3/UVIS", "i"))}


@pytest.fixture(scope="module")
def fuzzed(bases, tmp_path_factory):
    """(name, instrument, path, expected) of every mutated file, all in one directory."""
    out = tmp_path_factory.mktemp("fuzz")
    cases = []
    for instrument, base in bases.items():
        rows = fits.getval(base, "NAXIS2", ext=1)
        for index, (name, (damage, expected)) in enumerate(MUTATIONS.items()):
            if name.startswith("truncated") and instrument != "ACS/WFC":
                continue  # one instrument's truncations are enough: the offsets are what vary
            path = out / f"{base.name[0]}fz{index:04d}q_raw.fits"
            shutil.copyfile(base, path)
            if name == "NAXIS2 one more":
                damage = card(1, "NAXIS2", rows + 1)
            elif name == "CCDCHIP duplicated":
                damage = card(1, "CCDCHIP", fits.getval(base, "CCDCHIP", ext=4))
            damage(path)
            cases.append((name, instrument, path, expected))
    return cases


@pytest.fixture(scope="module")
def classifier(trained_resnet):
    return CelestialClassifier("resnet18", trained_resnet, device="cpu")


def _call(function, path):
    """('ok', result) or ('error', exception) of one call, checked for kind, message and time."""
    start = time.monotonic()
    try:
        result = ("ok", function())
    except CelestialClassError as exc:
        assert type(exc) is not CelestialClassError, f"{path}: an error of the base class only: {exc}"
        assert str(path) in str(exc) or os.fspath(path) in str(exc), f"the message does not name the file: {exc}"
        result = ("error", exc)
    elapsed = time.monotonic() - start
    assert elapsed < TIME_LIMIT, f"{path}: {elapsed:.0f} s"
    return result


def _entry_points(classifier, path):
    return {
        "read_raw": lambda: read_raw(path),
        "read_raw(hdu=1)": lambda: read_raw(path, hdu=1),
        "CCDData.read": lambda: CCDData.read(path, format="hst_raw", hdu=1),
        "predict": lambda: classifier.predict(path),
    }


def test_fuzz_every_entry_point(fuzzed, bases, classifier):
    reference = {instrument: read_raw(base, hdu=1).data for instrument, base in bases.items()}
    expected_probs = {instrument: classifier.predict(base)["prob_nsc"] for instrument, base in bases.items()}
    for name, instrument, path, expected in fuzzed:
        outcomes = {}
        for entry, function in _entry_points(classifier, path).items():
            kind, value = _call(function, path)
            outcomes[entry] = kind
            OUTCOMES[f"{entry}: {kind}"] += 1
            if kind == "ok" and entry == "read_raw(hdu=1)" and expected == "same":
                assert np.array_equal(value.data, reference[instrument]), (name, instrument)
            if kind == "ok" and entry == "predict" and expected == "same":
                assert np.array_equal(value["prob_nsc"], expected_probs[instrument]), (name, instrument)
        info = describe_raw(path)  # never raises; says why not
        assert info["supported"] == (outcomes["read_raw"] == "ok"), (name, instrument, info["reason"])
        if expected == "error":
            assert set(outcomes.values()) == {"error"}, (name, instrument, outcomes)
        elif expected in ("same", "same_shape"):
            assert set(outcomes.values()) == {"ok"}, (name, instrument, outcomes, info["reason"])
        else:  # either way, but the same way everywhere
            assert len(set(outcomes.values())) == 1, (name, instrument, outcomes)
    print("fuzz outcomes:", dict(sorted(OUTCOMES.items())))
    assert len(fuzzed) >= 60 and sum(v for k, v in OUTCOMES.items() if k.endswith("error")) > 150


ODD_PATHS = {
    "missing": lambda d: d / "jmissin1q_raw.fits",
    "directory": lambda d: d,
    "empty file": lambda d: _write(d / "jempty01q_raw.fits", b""),
    "not FITS": lambda d: _write(d / "jtext001q_raw.fits", b"hello\n" * 1000),
    "a FIFO": lambda d: _fifo(d / "jfifo001q_raw.fits"),
    "/dev/zero": lambda d: "/dev/zero",
    "symlink loop": lambda d: _loop(d / "jloop001q_raw.fits"),
    "dangling symlink": lambda d: _dangling(d / "jdangl1q_raw.fits"),
    "bytes path": lambda d: os.fsencode(d / "jmissin2q_raw.fits"),
}


def _write(path, data):
    path.write_bytes(data)
    return path


def _fifo(path):
    os.mkfifo(path)
    return path


def _loop(path):
    os.symlink(path, path)
    return path


def _dangling(path):
    os.symlink(path.with_name("nothing_raw.fits"), path)
    return path


@pytest.mark.parametrize("kind", sorted(ODD_PATHS))
def test_odd_paths(kind, tmp_path, classifier):
    path = ODD_PATHS[kind](tmp_path)
    shown = os.fsdecode(path)
    for entry, function in _entry_points(classifier, path).items():
        outcome, exc = _call(function, shown)
        assert outcome == "error", (kind, entry)
        OUTCOMES[f"{entry}: error"] += 1
    if kind in ("missing", "dangling symlink", "bytes path"):
        assert isinstance(exc, FileNotFoundError)
    assert describe_raw(path)["supported"] is False


IN_MEMORY = {
    "strings": np.full((2048, 4096), "a"),
    "complex": np.zeros((2048, 4096), complex),
    "objects": np.full((2048, 4096), None, dtype=object),
    "3-D": np.zeros((1, 2048, 4096), np.float32),
    "1-D": np.zeros(10, np.float32),
    "empty": np.zeros((0, 0), np.float32),
    "wrong shape": np.zeros((2068, 4144), np.float32),
    "NaN": np.full((2048, 4096), np.nan, np.float32),
    "a dict": {"data": 1},
    "a number": 3.5,
    "an empty list": [],
    "a list of numbers": [1, 2],
}


@pytest.mark.parametrize("kind", sorted(IN_MEMORY))
def test_in_memory_objects(kind, classifier):
    start = time.monotonic()
    with pytest.raises(CelestialClassError) as info:
        classifier.predict(IN_MEMORY[kind])
    assert type(info.value) is not CelestialClassError
    assert time.monotonic() - start < TIME_LIMIT


def test_hdu_arguments_are_integers(bases, classifier):
    path = bases["ACS/WFC"]
    for bad in (True, 4.0, "4"):
        for function in (lambda: read_raw(path, hdu=bad), lambda: classifier.predict(path, hdu=bad)):
            with pytest.raises(CelestialClassError, match="hdu must be an integer"):
                function()


def test_a_batch_survives_every_bad_file(fuzzed, trained_resnet, tmp_path, capsys):
    """``classify DIR`` over all the fuzzed files: one complete table, a row for every file, errors in rows."""
    out = tmp_path / "results.ecsv"
    directory = fuzzed[0][2].parent
    rc = main(["classify", str(directory), "--model", "resnet18", "--weights", str(trained_resnet),
               "--output", str(out)])
    from astropy.table import Table

    table = Table.read(out)
    assert rc == 1
    assert set(table["source"]) == {str(path) for _, _, path, _ in fuzzed}
    failed = {row["source"] for row in table if row["error"]}
    assert failed >= {str(path) for _, _, path, expected in fuzzed if expected == "error"}
    assert not failed & {str(path) for _, _, path, expected in fuzzed if expected.startswith("same")}

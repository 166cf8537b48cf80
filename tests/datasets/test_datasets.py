"""Manifests, splits by body, ChipDataset and the offline logic of the MAST download."""

import hashlib
import logging
import shutil

import numpy as np
import pytest
import torch

from celestialclass.datasets import (
    BUILTIN_MANIFESTS,
    ChipDataset,
    LocalArchive,
    ManifestError,
    download_lcid,
    load_manifest,
    split_by_body,
)
from celestialclass.exceptions import CelestialClassError
from celestialclass.preprocess import Preprocess


def test_builtin_manifests():
    test = load_manifest("lcid-test")
    assert len(test) == 1595 and len(set(test["ID"])) == 21 and len(set(test["OBSID"])) == 875
    assert "Label" not in test.colnames  # one class column, in the package's vocabulary
    assert sorted(set(test["label"])) == ["galaxy", "nsc"]
    raw_labels = [line.rsplit(",", 1)[1] for line in BUILTIN_MANIFESTS["lcid-test"].read_text().splitlines()[1:]]
    assert sum(test["label"] == "nsc") == raw_labels.count("NSC") > 0
    assert (test["Instrument"] == "ACS/WFC").sum() == 954 and (test["Instrument"] == "WFC3/UVIS").sum() == 641
    assert set(test["HDU Index"]) == {1, 4}
    blurry = load_manifest("lcid-blurry")
    assert len(blurry) == 116 and (blurry["label"] == "galaxy").sum() == 73
    assert len(test.meta["sha256"]) == 64


def test_simulated_manifest_loads_the_same_way(mock_lcid):
    table = load_manifest(mock_lcid / "manifest.csv")
    assert len(table) == 8 and sorted(set(table["label"])) == ["galaxy", "nsc"]
    assert "Subtype" in table.colnames


def test_bad_manifests(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text(",ID,Instrument,OBSID,Filter,RA,DEC,Label\n0,A,ACS/WFC,j1,F606W,1,2,galaxy\n")
    with pytest.raises(ManifestError, match=r"missing column\(s\) \['HDU Index'\]"):
        load_manifest(path)
    path.write_text(",ID,Instrument,OBSID,Filter,RA,DEC,HDU Index,Label\n0,A,ACS/WFC,j1,F606W,1,2,1,star\n")
    with pytest.raises(ManifestError, match=r"unknown label\(s\) \['star'\]"):
        load_manifest(path)
    with pytest.raises(ManifestError, match="no such manifest"):
        load_manifest(tmp_path / "none.csv")


def test_split_by_body():
    table = load_manifest("lcid-test")
    train, test = split_by_body(table, 0.2, seed=3)
    assert not set(train["ID"]) & set(test["ID"])
    assert len(train) + len(test) == len(table)
    for label in ("galaxy", "nsc"):
        fraction = (test["label"] == label).sum() / (table["label"] == label).sum()
        assert 0.05 < fraction < 0.45
    again = split_by_body(table, 0.2, seed=3)[1]
    assert list(again["OBSID"]) == list(test["OBSID"])
    with pytest.raises(CelestialClassError, match="test_fraction"):
        split_by_body(table, 1.5)


def test_chip_dataset(mock_lcid):
    table = load_manifest(mock_lcid / "manifest.csv")
    full = ChipDataset(table, mock_lcid)
    x, y = full[0]
    assert x.shape == (1, 2048, 4096) and x.dtype == torch.float32 and y in (0, 1)
    assert y == ("galaxy", "nsc").index(table["label"][0])
    resized = ChipDataset(table, mock_lcid, Preprocess(resize=(224, 448)))
    xr, yr = resized[0]
    assert xr.shape == (1, 224, 448) and yr == y
    # One code path: the dataset's tensor is the preprocessing of the chip read_raw gives.
    ccd = full.read(0)
    assert torch.equal(x, Preprocess().tensor(ccd))


def test_chip_dataset_missing_and_corrupt_files(mock_lcid, tmp_path, caplog):
    table = load_manifest(mock_lcid / "manifest.csv")
    obsids = sorted(set(table["OBSID"]))
    data = tmp_path / "data"
    data.mkdir()
    for obsid in obsids[1:]:
        shutil.copy(mock_lcid / f"{obsid}_raw.fits", data)
    with pytest.raises(CelestialClassError, match=rf"1 file\(s\) missing: {obsids[0]}_raw.fits"):
        ChipDataset(table, data)
    (data / f"{obsids[1]}_raw.fits").write_bytes(b"garbage" * 100)
    with caplog.at_level(logging.WARNING):
        dataset = ChipDataset(table, data, on_error="skip")
    assert len(dataset) == len(table) - 4 and len(dataset.skipped) == 2
    assert "not a readable FITS file" in caplog.text


def _archive(mock_lcid, tmp_path, checksums=True):
    archive = tmp_path / "archive"
    archive.mkdir()
    lines = []
    for path in mock_lcid.glob("*_raw.fits"):
        shutil.copy(path, archive)
        lines.append(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.name}")
    if checksums:
        (archive / "SHA256SUMS").write_text("\n".join(lines) + "\n")
    return archive


def test_download_offline_resume_and_verification(mock_lcid, tmp_path):
    table = load_manifest(mock_lcid / "manifest.csv")
    archive_dir = _archive(mock_lcid, tmp_path)
    out = tmp_path / "out"
    report = download_lcid(table, out, archive=LocalArchive(archive_dir), workers=2)
    assert report.ok and len(report.downloaded) == 4 and not report.cached
    for path in archive_dir.glob("*_raw.fits"):
        assert (out / path.name).read_bytes() == path.read_bytes()
    again = download_lcid(table, out, archive=LocalArchive(archive_dir))
    assert len(again.cached) == 4 and not again.downloaded

    # Resume: one file missing, one broken on the archive side, one with a wrong checksum.
    names = sorted(p.name for p in archive_dir.glob("*_raw.fits"))
    (out / names[0]).unlink()
    (out / names[1]).unlink()
    (out / names[2]).unlink()
    data = (archive_dir / names[1]).read_bytes()
    (archive_dir / names[1]).write_bytes(data[: len(data) // 2])
    sums = (archive_dir / "SHA256SUMS").read_text().replace(
        hashlib.sha256((archive_dir / names[2]).read_bytes()).hexdigest(), "0" * 64)
    (archive_dir / "SHA256SUMS").write_text(sums)
    report = download_lcid(table, out, archive=LocalArchive(archive_dir), retries=1)
    assert report.downloaded == [names[0].split("_")[0]] and len(report.cached) == 1
    assert set(report.failed) == {names[1].split("_")[0], names[2].split("_")[0]}
    assert "sha256" in report.failed[names[1].split("_")[0]]  # the archive's checksum is the original's
    assert "sha256" in report.failed[names[2].split("_")[0]]
    assert str(out / names[2]) in report.failed[names[2].split("_")[0]]  # named as the target, not a temporary
    assert not (out / names[1]).exists() and not (out / names[2]).exists()
    assert not list(out.glob(".*"))  # no temporaries left
    assert "failed 2" in report.summary()


@pytest.mark.parametrize("damage", ["flipped data byte", "appended bytes"])
def test_download_checks_files_already_present_against_the_checksums(mock_lcid, tmp_path, damage):
    """A file already downloaded is kept only if it still matches the archive's digest; else fetched again."""
    table = load_manifest(mock_lcid / "manifest.csv")
    archive_dir = _archive(mock_lcid, tmp_path)
    out = tmp_path / "out"
    assert download_lcid(table, out, archive=LocalArchive(archive_dir)).ok
    victim = sorted(out.glob("*_raw.fits"))[0]
    original = victim.read_bytes()
    if damage == "flipped data byte":
        data = bytearray(original)
        data[-1000] ^= 0x01  # in the pixels: the headers still read
        victim.write_bytes(bytes(data))
    else:
        victim.write_bytes(original + b"\0" * 2880)
    report = download_lcid(table, out, archive=LocalArchive(archive_dir))
    assert report.ok and report.downloaded == [victim.name.split("_")[0]] and len(report.cached) == 3
    assert victim.read_bytes() == original


def test_download_verifies_fits_structure_without_checksums(mock_lcid, tmp_path):
    table = load_manifest(mock_lcid / "manifest.csv")
    archive_dir = _archive(mock_lcid, tmp_path, checksums=False)
    name = sorted(p.name for p in archive_dir.glob("*_raw.fits"))[0]
    data = (archive_dir / name).read_bytes()
    (archive_dir / name).write_bytes(data[: len(data) // 2])
    report = download_lcid(table, tmp_path / "out", archive=LocalArchive(archive_dir), retries=0)
    assert list(report.failed) == [name.split("_")[0]]
    assert "truncated" in report.failed[name.split("_")[0]] or "FITS" in report.failed[name.split("_")[0]]
    assert len(report.downloaded) == 3


def test_download_not_in_archive(tmp_path, mock_lcid):
    table = load_manifest(mock_lcid / "manifest.csv")
    empty = tmp_path / "empty"
    empty.mkdir()
    report = download_lcid(table, tmp_path / "out", archive=LocalArchive(empty))
    assert set(report.failed.values()) == {"not found in the archive"} and len(report.failed) == 4


@pytest.mark.remote_data
def test_download_from_mast(tmp_path):
    """The live path: one LCID chip's raw file from MAST."""
    pytest.importorskip("astroquery")
    table = load_manifest("lcid-blurry")
    one = table[table["OBSID"] == table["OBSID"][0]]
    report = download_lcid(one, tmp_path, workers=1)
    assert report.ok, report.summary()
    assert (tmp_path / f"{one['OBSID'][0]}_raw.fits").exists()


def test_preprocess_rejects_bad_arrays():
    with pytest.raises(CelestialClassError, match="NaN or infinite"):
        Preprocess().image(np.full((10, 10), np.nan, np.float32))
    with pytest.raises(CelestialClassError, match="2-D chip"):
        Preprocess().image(np.zeros((2, 3, 4)))
    p = Preprocess(resize=(224, 448))
    assert Preprocess.from_dict(p.to_dict()) == p
    with pytest.raises(CelestialClassError, match="unknown preprocessing keys"):
        Preprocess.from_dict({"gamma": 2})


@pytest.mark.parametrize("shape", [(2048, 4096), (2051, 37), (5, 9)])
def test_preprocess_asinh_matches_the_plain_formula(shape):
    """Banding and threads change nothing: the same float32 bits as the whole-array ufuncs."""
    rng = np.random.default_rng(7)
    chip = rng.normal(100, 5, shape).astype(np.float32)
    chip.flat[rng.integers(0, chip.size, 50)] = 60000.0  # saturated pixels: the log end of the stretch
    sample = chip[::8, ::8]
    sky = np.float32(np.median(sample))
    sigma = np.float32(1.4826 * np.median(np.abs(sample - sky)))
    expected = np.arcsinh((chip - sky) / (np.float32(3.0) * max(sigma, np.float32(1.0))))
    out = Preprocess().image(chip)
    assert out.dtype == np.float32 and out.flags.c_contiguous
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(Preprocess().image(np.asfortranarray(chip)), expected)


def test_split_command_round_trip(tmp_path, capsys):
    from celestialclass.cli import main

    assert main(["lcid", "split", "lcid-test", "--test-fraction", "0.25", "--seed", "2",
                 "--train", str(tmp_path / "train.csv"), "--test", str(tmp_path / "test.csv")]) == 0
    train, test = load_manifest(tmp_path / "train.csv"), load_manifest(tmp_path / "test.csv")
    assert len(train) + len(test) == 1595 and not set(train["ID"]) & set(test["ID"])
    assert (tmp_path / "test.csv").read_text().startswith(",ID,Instrument,OBSID,Filter,RA,DEC,HDU Index,Label")
    assert "bodies" in capsys.readouterr().out


def test_preprocess_leaves_the_input_alone():
    chip = np.random.default_rng(2).normal(100, 5, (2048, 4096)).astype(np.float32)
    before = chip.copy()
    out = Preprocess().image(chip)
    np.testing.assert_array_equal(chip, before)
    assert abs(float(np.median(out))) < 0.05  # sky subtracted, asinh-scaled
    assert Preprocess(scaling="none").image(chip) is not chip

"""The classifier: every input kind, the ccdproc step, the CLI, Dask, integrity and bad input."""

import json
import os
import shutil
import warnings

import numpy as np
import pytest
from astropy.io import fits
from astropy.nddata import CCDData
from astropy.table import Table

from celestialclass import CelestialClassifier, Prediction, classify_ccd, classify_files
from celestialclass.cli import main
from celestialclass.exceptions import CelestialClassError, ShapeError
from celestialclass.io import read_raw
from celestialclass.models import UnknownModelError
from celestialclass.weights import WeightsIntegrityError


@pytest.fixture(scope="module")
def classifier(trained_resnet):
    return CelestialClassifier(model="resnet18", weights=trained_resnet, device="cpu")


@pytest.fixture(scope="module")
def raw_file(mock_lcid):
    return sorted(mock_lcid.glob("*_raw.fits"))[0]


def test_every_input_kind_agrees(classifier, raw_file):
    table = classifier.predict(raw_file)
    assert len(table) == 2 and list(table["hdu"]) == [1, 4]
    assert set(table["label"]) <= {"galaxy", "nsc"} and not any(table["error"])
    ccd = read_raw(raw_file, hdu=4, trim="lcid", subtract_bias=True)
    by_ccd = classifier.predict(ccd)
    by_array = classifier.predict(ccd.data)
    by_registry = classifier.predict(CCDData.read(raw_file, format="hst_raw", hdu=4, subtract_bias=True))
    by_hdu = classifier.predict(raw_file, hdu=4)
    by_list = classifier.predict([ccd, raw_file])
    assert isinstance(by_ccd, Prediction) and isinstance(by_array, Prediction)
    expected = table["prob_nsc"][1]
    for p in (by_ccd.probabilities["nsc"], by_array.probabilities["nsc"], by_registry.probabilities["nsc"],
              by_hdu["prob_nsc"][0], by_list["prob_nsc"][0], by_list["prob_nsc"][2]):
        assert p == pytest.approx(expected, abs=1e-6)
    assert by_ccd.label == table["label"][1] and by_ccd.weights_sha256 == classifier.weights_sha256
    proba = classifier.predict_proba([raw_file])
    assert proba.shape == (2, 2) and np.allclose(proba.sum(axis=1), 1)
    assert str(by_ccd).startswith(("galaxy", "nebula/star cluster"))


def test_bfloat16_close_to_float32(trained_resnet, raw_file):
    fp32 = CelestialClassifier("resnet18", trained_resnet, device="cpu").predict_proba(raw_file)
    bf16 = CelestialClassifier("resnet18", trained_resnet, device="cpu", dtype="bfloat16").predict_proba(raw_file)
    assert np.abs(fp32 - bf16).max() < 0.02


def test_classify_ccd_step(classifier, raw_file, tmp_path):
    ccd = read_raw(raw_file, hdu=1)
    out = classify_ccd(ccd, classifier)
    assert out is not ccd and "CCLABEL" not in ccd.meta
    assert out.meta["CCLABEL"] in ("galaxy", "nsc")
    assert out.meta["CCPNSC"] == pytest.approx(classifier.predict(ccd).probabilities["nsc"], abs=1e-6)
    assert out.meta["CCWSHA"] == classifier.weights_sha256
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # short FITS-safe keywords: no HIERARCH or truncation warnings
        out.write(tmp_path / "classified.fits")
    assert fits.getheader(tmp_path / "classified.fits")["CCMODEL"] == classifier.name
    assert "CCLABEL" not in classify_ccd(ccd, classifier, add_keyword=False).meta


def test_bad_input(classifier, trained_resnet, tmp_path):
    with pytest.raises(ShapeError, match="takes trimmed 2048 x 4096 chips; got 2068 x 4144.*untrimmed"):
        classifier.predict(np.zeros((2068, 4144), np.float32))
    with pytest.raises(ShapeError, match="got 224 x 448"):
        classifier.predict(np.zeros((224, 448), np.float32))
    bad = np.ones((2048, 4096), np.float32)
    bad[5, 5] = np.nan
    with pytest.raises(CelestialClassError, match="NaN or infinite"):
        classifier.predict(bad)
    with pytest.raises(CelestialClassError, match="empty"):
        classifier.predict([])
    with pytest.raises(CelestialClassError, match="cannot classify a dict"):
        classifier.predict({"a": 1})
    with pytest.raises(UnknownModelError, match="known models"):
        CelestialClassifier(model="resnet-50")
    with pytest.raises(CelestialClassError, match="are for 'resnet18', not 'alexnet'"):
        CelestialClassifier(model="alexnet", weights=trained_resnet)
    with pytest.raises(CelestialClassError, match="unknown weights 'defualt'; registered: .*default"):
        CelestialClassifier(weights="defualt")
    not_raw = tmp_path / "x_raw.fits"
    not_raw.write_text("nope")
    with pytest.raises(CelestialClassError, match="not a readable FITS file"):
        classifier.predict(not_raw)


def _copy_weights(trained_resnet, tmp_path):
    copy = tmp_path / "weights"
    shutil.copytree(trained_resnet, copy)
    return copy


def test_tampered_and_truncated_weights(trained_resnet, tmp_path):
    copy = _copy_weights(trained_resnet, tmp_path)
    data = bytearray((copy / "model.safetensors").read_bytes())
    data[len(data) // 2] ^= 0x01
    (copy / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(WeightsIntegrityError, match="sha256 mismatch"):
        CelestialClassifier("resnet18", copy)
    assert main(["weights", "verify", str(copy)]) == 1
    (copy / "model.safetensors").write_bytes(bytes(data[:1000]))
    with pytest.raises(WeightsIntegrityError, match="sha256 mismatch"):
        CelestialClassifier("resnet18", copy)
    assert main(["weights", "verify", str(trained_resnet)]) == 0


def test_bare_weights_file_needs_sha256(trained_resnet, tmp_path):
    bare = tmp_path / "bare.safetensors"
    shutil.copy(trained_resnet / "model.safetensors", bare)
    with pytest.raises(CelestialClassError, match="give sha256"):
        CelestialClassifier("resnet18", bare)
    sha = json.loads((trained_resnet / "model_card.json").read_text())["weights"]["sha256"]
    assert CelestialClassifier("resnet18", bare, sha256=sha).entry.architecture == "resnet18"
    with pytest.raises(WeightsIntegrityError):
        CelestialClassifier("resnet18", bare, sha256="0" * 64)


def test_cli_directory_with_a_corrupt_file(mock_lcid, trained_resnet, tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    for path in sorted(mock_lcid.glob("*_raw.fits"))[:2]:
        shutil.copy(path, data)
    (data / "jbroken1q_raw.fits").write_bytes(b"SIMPLE  =" + b" " * 100)
    out = tmp_path / "results.ecsv"
    status = main(["classify", str(data), "--model", "resnet18", "--weights", str(trained_resnet),
                   "--output", str(out)])
    assert status == 1
    table = Table.read(out)
    errors = np.ma.filled(table["error"], "")  # ECSV reads empty strings back as masked
    assert len(table) == 5  # two files of two chips, one error row
    broken = table[[s.endswith("jbroken1q_raw.fits") for s in table["source"]]]
    assert len(broken) == 1 and "jbroken1q_raw.fits" in broken["error"][0]
    good = table[errors == ""]
    assert len(good) == 4 and set(good["label"]) <= {"galaxy", "nsc"}
    assert "jbroken1q_raw.fits" in capsys.readouterr().err
    assert main(["classify", str(data / "*_raw.fits"), "--model", "resnet18", "--weights",
                 str(trained_resnet), "--hdu", "1", "--output", str(tmp_path / "r.json")]) == 1
    rows = json.loads((tmp_path / "r.json").read_text())
    assert [r["hdu"] for r in rows if not r["error"]] == [1, 1]
    assert main(["classify", str(sorted(data.glob("*_raw.fits"))[0]), "--model", "resnet18",
                 "--weights", str(trained_resnet), "--output", str(tmp_path / "r.csv")]) == 0
    assert len(Table.read(tmp_path / "r.csv", format="ascii.csv")) == 2


def test_dask_matches_local(mock_lcid, trained_resnet):
    pytest.importorskip("dask.distributed")
    files = sorted(mock_lcid.glob("*_raw.fits"))
    local = classify_files(files, model="resnet18", weights=trained_resnet, local=True)
    before = os.environ.get("OMP_NUM_THREADS")
    distributed = classify_files(files, model="resnet18", weights=trained_resnet, n_workers=2)
    assert os.environ.get("OMP_NUM_THREADS") == before  # the cluster's settings do not leak here
    assert list(local["source"]) == list(distributed["source"]) and list(local["hdu"]) == list(distributed["hdu"])
    np.testing.assert_allclose(local["prob_nsc"], distributed["prob_nsc"], atol=1e-6)
    assert list(local["label"]) == list(distributed["label"])


def test_relative_training_directory(trained_resnet, monkeypatch):
    """A training output given as a bare relative name is a directory, not a registry name."""
    monkeypatch.chdir(trained_resnet.parent)
    clf = CelestialClassifier("resnet18", trained_resnet.name, device="cpu")
    assert clf.entry.architecture == "resnet18"

"""One road from raw file to label: the same chip gives the same answer whatever way it comes in."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from astropy.io import fits
from astropy.nddata import CCDData

from celestialclass import CelestialClassifier
from celestialclass.classify import _cached_classifier, expand_paths
from celestialclass.exceptions import CelestialClassError, ProvenanceError
from celestialclass.io import read_raw
from celestialclass.models import get_model
from celestialclass.preprocess import Preprocess
from celestialclass.weights import get_weights, list_weights


@pytest.fixture(scope="module")
def exposures(tmp_path_factory):
    """One simulated exposure per instrument (a galaxy on ACS/WFC, a nebula on WFC3/UVIS)."""
    from celestialclass.simulate import simulate_exposure

    out = tmp_path_factory.mktemp("road")
    paths = [out / "jroad001q_raw.fits", out / "iroad001q_raw.fits"]
    simulate_exposure(paths[0], "galaxy", "ACS/WFC", seed=21)
    simulate_exposure(paths[1], "nsc", "WFC3/UVIS", seed=22)
    return paths


def _routes(classifier, path, hdu):
    """The probability of nsc of one chip, by every way a user can hand it over."""
    return [classifier.predict(path, hdu=hdu)["prob_nsc"][0],
            classifier.predict(read_raw(path, hdu=hdu)).probabilities["nsc"],
            classifier.predict(read_raw(path, hdu=hdu, subtract_bias=True)).probabilities["nsc"],
            classifier.predict(CCDData.read(path, format="hst_raw", hdu=hdu)).probabilities["nsc"]]


def test_every_route_gives_the_same_probabilities(exposures, trained_resnet):
    """predict(path), predict(read_raw(path)) with and without bias subtraction, and the astropy registry agree
    exactly, on both instruments, for the bundled model and for trained LCID-Resize weights."""
    for classifier in (CelestialClassifier(device="cpu"),
                       CelestialClassifier("resnet18", trained_resnet, device="cpu")):
        for path in exposures:
            for hdu in ((1, 4) if classifier.name != "default" else (4,)):
                probabilities = _routes(classifier, path, hdu)
                assert len(set(probabilities)) == 1, (classifier.name, path.name, hdu, probabilities)


def test_read_raw_records_what_it_did(exposures):
    for path in exposures:
        kept, removed = read_raw(path, hdu=1), read_raw(path, hdu=1, subtract_bias=True)
        names = [k for k in kept.meta if k.startswith("BIASLEV")]
        assert len(names) >= 2 and all(kept.meta[n] == removed.meta[n] for n in names)
        assert kept.meta["CCBIAS"] == "measured" and removed.meta["CCBIAS"] == "overscan"
        assert "subtract_bias=False" in kept.meta["CCREAD"] and len(kept.meta["CCTRIM"].split("+")) == 2
        assert 0 < np.mean(kept.data - removed.data) == pytest.approx(kept.meta["MEANBLEV"], rel=1e-3)


def test_a_chip_that_cannot_be_brought_to_the_weights_is_refused(exposures):
    path = exposures[1]
    with pytest.raises(ProvenanceError, match=r"trim='science'.*expect trim='lcid'"):
        Preprocess().image(read_raw(path, hdu=1, trim="science"))
    with pytest.raises(ProvenanceError, match="expect it left in"):
        Preprocess(subtract_bias=False).image(read_raw(path, hdu=1, subtract_bias=True))
    for key in ("CCBIAS", "BIASLEVC"):  # UVIS2 is read through amplifiers C and D
        ccd = read_raw(path, hdu=1)
        del ccd.meta[key]
        with pytest.raises(ProvenanceError, match="without the amplifiers' levels"):
            CelestialClassifier(device="cpu").predict(ccd)
    electrons = read_raw(path, hdu=1, subtract_bias=True)
    electrons.unit = "electron"
    with pytest.raises(ProvenanceError, match="electron"):
        Preprocess().image(electrons)
    plain = CCDData(read_raw(path, hdu=1, subtract_bias=True).data, unit="adu")  # no provenance: as it is
    assert np.array_equal(Preprocess().image(plain), Preprocess().read_image(path, hdu=1))


def _run(code):
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("first", ["celestialclass", "astropy.nddata"])
def test_the_format_is_registered_on_a_bare_import(exposures, first):
    other = "astropy.nddata" if first == "celestialclass" else "celestialclass"
    out = _run(f"import {first}, {other}\nfrom astropy.nddata import CCDData\n"
               f"print(CCDData.read({str(exposures[0])!r}, format='hst_raw', hdu=1).shape)")
    assert out == "(2048, 4096)"


def test_classifying_imports_neither_training_nor_evaluation(exposures, trained_resnet):
    classify = f"CelestialClassifier('resnet18', {str(trained_resnet)!r}, device='cpu').predict({str(exposures[0])!r})"
    out = _run("import sys\nfrom celestialclass import CelestialClassifier\n"
               f"{classify}\n"
               "print([m for m in ('celestialclass.training', 'celestialclass.evaluation') if m in sys.modules])")
    assert out == "[]"
    out = _run("import sys, pkgutil, importlib, celestialclass.evaluation as e\n"
               "for m in pkgutil.iter_modules(e.__path__):\n"
               "    importlib.import_module(f'celestialclass.evaluation.{m.name}')\n"
               "print('celestialclass.training' in sys.modules)")
    assert out == "False"


def test_each_file_is_opened_once(exposures, trained_resnet, monkeypatch):
    classifier = CelestialClassifier("resnet18", trained_resnet, device="cpu")
    opened = []
    real_open = fits.open
    monkeypatch.setattr(fits, "open", lambda *args, **kwargs: opened.append(args[0]) or real_open(*args, **kwargs))
    table = classifier.predict(list(exposures))
    assert len(table) == 4 and not any(table["error"])
    assert sorted(map(str, opened)) == sorted(map(str, exposures))


def test_class_order_by_name(exposures, trained_resnet, tmp_path):
    """prob_galaxy and prob_nsc follow the weights' class_names, not the column order."""
    swapped = tmp_path / "swapped"
    shutil.copytree(trained_resnet, swapped)
    card = json.loads((swapped / "model_card.json").read_text())
    card["class_names"] = ["nsc", "galaxy"]
    (swapped / "model_card.json").write_text(json.dumps(card))
    original = CelestialClassifier("resnet18", trained_resnet, device="cpu").predict(exposures[0])
    renamed = CelestialClassifier("resnet18", swapped, device="cpu").predict(exposures[0])
    assert np.array_equal(renamed["prob_galaxy"], original["prob_nsc"])
    assert np.array_equal(renamed["prob_nsc"], original["prob_galaxy"])
    assert [{"galaxy": "nsc", "nsc": "galaxy"}[label] for label in original["label"]] == list(renamed["label"])


def test_architectures_name_their_default_weights():
    assert list_weights("celestialnet-lite-x2") == ["default"] and list_weights("resnet18") == []
    assert CelestialClassifier(model="celestialnet-lite-x2", device="cpu").name == "default"
    with pytest.raises(CelestialClassError, match="no weights are bundled for 'resnet18'"):
        CelestialClassifier(model="resnet18")
    with pytest.raises(CelestialClassError, match="no weights are bundled"):
        get_model("resnet18", weights="DEFAULT")
    assert get_model("celestialnet-lite-x2", weights="default").training is False
    entry = get_weights("default")
    assert entry.input_size == (1, 2048, 4096) and entry.preprocess == Preprocess()


def test_evaluate_reads_no_log_from_the_current_directory(mock_lcid, tmp_path, monkeypatch):
    """Registered weights have no training log: a log.csv where the user happens to be is not theirs."""
    pytest.importorskip("matplotlib")
    from celestialclass.datasets import load_manifest
    from celestialclass.evaluation.report import evaluate

    monkeypatch.chdir(tmp_path)
    (tmp_path / "log.csv").write_text("step,epoch,batch,loss,accuracy,lr,seconds\n1,0,1,0.5,0.5,1e-4,1.0\n")
    assert get_weights("default").training_log is None
    evaluate("default", load_manifest(mock_lcid / "manifest.csv")[:1], mock_lcid, tmp_path / "report")
    assert (tmp_path / "report" / "confusion.png").exists()
    assert not (tmp_path / "report" / "training.png").exists()


def test_training_log_of_a_training_output(trained_resnet):
    from celestialclass.weights import resolve_weights

    assert resolve_weights(trained_resnet).training_log == trained_resnet / "log.csv"


def test_the_classifier_cache_is_bounded_and_knows_the_device():
    info = _cached_classifier.cache_info()
    assert info.maxsize == 4
    assert _cached_classifier("default", None, "cpu") is _cached_classifier("default", None, "cpu")
    assert _cached_classifier.cache_info().hits >= info.hits + 1


def test_names_with_glob_characters_are_taken_literally(exposures, tmp_path, trained_resnet):
    odd = tmp_path / "j[1]x_raw.fits"
    shutil.copyfile(exposures[0], odd)
    shutil.copyfile(exposures[0], tmp_path / "j1x_raw.fits")  # what the name would match as a pattern
    assert expand_paths([odd]) == [str(odd)] == expand_paths(expand_paths([odd]))
    from celestialclass import classify_files

    table = classify_files([odd], model="resnet18", weights=trained_resnet, local=True)
    assert list(table["source"]) == [str(odd)] * 2

"""Temperature calibration: fitted on validation chips, recorded in the card, applied by every inference path."""

import json

import numpy as np
import pytest

from celestialclass import CelestialClassError, CelestialClassifier
from celestialclass.datasets import load_manifest
from celestialclass.evaluation.calibration import expected_calibration_error, softmax
from celestialclass.training import calibrate, fit_temperature
from celestialclass.weights import WeightsIntegrityError, file_sha256


def _overconfident(n=3000, factor=4.0, seed=0):
    """Logits ``factor`` times those of a calibrated model (whose log-odds are the truth's)."""
    rng = np.random.default_rng(seed)
    log_odds = rng.normal(0.0, 2.5, n)
    true = (rng.random(n) < 1 / (1 + np.exp(-log_odds))).astype(int)
    return np.stack([np.zeros(n), log_odds], axis=1) * factor, true


def test_fit_temperature_undoes_overconfidence():
    logits, true = _overconfident()
    temperature = fit_temperature(logits, true)
    assert temperature == pytest.approx(4.0, rel=0.1)
    before = expected_calibration_error(true, softmax(logits))
    after = expected_calibration_error(true, softmax(logits, temperature))
    assert before > 0.1 and after < 0.03
    # Labels do not move.
    assert np.array_equal(softmax(logits).argmax(1), softmax(logits, temperature).argmax(1))


def test_fit_temperature_edge_cases():
    assert fit_temperature(np.zeros((0, 2)), []) == 1.0
    logits, true = _overconfident(factor=1.0)
    logits[0] = np.nan  # a chip that failed is ignored
    assert np.isfinite(fit_temperature(logits, true))


def test_calibrate_records_temperature_and_keeps_weights(trained_resnet, mock_lcid, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(trained_resnet, run)
    sha = file_sha256(run / "model.safetensors")
    table = load_manifest(mock_lcid / "manifest.csv")
    card = calibrate(run, table, mock_lcid)
    record = card["calibration"]
    assert record["method"] == "temperature" and record["temperature"] > 0
    assert record["chips"] == len(table) and record["objects"] == len(set(table["ID"]))
    assert record["nll_after"] <= record["nll_before"] + 1e-12
    assert file_sha256(run / "model.safetensors") == sha
    assert json.loads((run / "model_card.json").read_text())["calibration"] == record
    # Every path applies it: the classifier's probabilities are softmax(logits / T).
    clf = CelestialClassifier(weights=run, device="cpu")
    assert clf.engine.temperature == record["temperature"]
    path = sorted(mock_lcid.glob("*_raw.fits"))[0]
    row = clf.predict(path)[0]
    raw = CelestialClassifier(weights=trained_resnet, device="cpu").predict(path)[0]
    logit = np.log([raw["prob_galaxy"], raw["prob_nsc"]])
    expected = softmax(logit[None], record["temperature"])[0]
    assert row["prob_nsc"] == pytest.approx(expected[1], abs=1e-6)
    assert row["label"] == raw["label"]


def test_calibrate_refuses_an_empty_manifest(trained_resnet, mock_lcid):
    table = load_manifest(mock_lcid / "manifest.csv")[:0]
    with pytest.raises(CelestialClassError, match="no chips to calibrate on"):
        calibrate(trained_resnet, table, mock_lcid)


def test_calibrate_refuses_what_is_not_a_run(tmp_path, mock_lcid):
    table = load_manifest(mock_lcid / "manifest.csv")
    with pytest.raises(CelestialClassError, match="no model_card.json"):
        calibrate(tmp_path, table, mock_lcid)


def test_a_broken_temperature_is_refused(trained_resnet, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(trained_resnet, run)
    card = json.loads((run / "model_card.json").read_text())
    for bad in (0, -1.0, "2", None, float("inf")):
        card["calibration"] = {"method": "temperature", "temperature": bad}
        (run / "model_card.json").write_text(json.dumps(card))
        with pytest.raises(WeightsIntegrityError, match="calibration temperature"):
            CelestialClassifier(weights=run, device="cpu")


def test_training_with_validation_fits_a_temperature(mock_lcid, tmp_path):
    from celestialclass.training import train

    table = load_manifest(mock_lcid / "manifest.csv")
    train("resnet18", table[:4], mock_lcid, tmp_path / "r", recipe="paper-resize", epochs=1, batch_size=4,
          seed=3, device="cpu", validation=table[4:])
    card = json.loads((tmp_path / "r" / "model_card.json").read_text())
    assert card["calibration"]["method"] == "temperature"
    assert card["calibration"]["chips"] == len(table) - 4
    assert 0.5 <= card["calibration"]["min_confidence"] <= 1

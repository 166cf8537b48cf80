"""Metrics, and the evaluate command's report."""

import json

import numpy as np
import pytest
from astropy.table import Table

from celestialclass.cli import main
from celestialclass.evaluation.metrics import breakdown, classification_metrics, confusion_matrix, roc_auc
from celestialclass.training import train


def test_metrics_by_hand():
    true = [0, 0, 0, 1, 1, 1, 1]
    predicted = [0, 0, 1, 1, 1, 0, 1]
    prob = [0.1, 0.2, 0.7, 0.9, 0.8, 0.3, 0.6]
    m = classification_metrics({"true": true, "predicted": predicted, "prob_nsc": prob})
    assert m["confusion"] == [[2, 1], [1, 3]]
    assert m["accuracy"] == pytest.approx(5 / 7)
    assert m["precision"]["nsc"] == pytest.approx(3 / 4) and m["recall"]["nsc"] == pytest.approx(3 / 4)
    assert m["f1"]["galaxy"] == pytest.approx(2 / 3)
    # a class neither present nor predicted has no F1; one missed or wrongly given has F1 = 0
    only_nsc = classification_metrics({"true": [1, 1], "predicted": [1, 1], "prob_nsc": [0.9, 0.8]})
    assert np.isnan(only_nsc["f1"]["galaxy"]) and only_nsc["f1"]["nsc"] == 1.0
    missed = classification_metrics({"true": [1, 1], "predicted": [0, 1], "prob_nsc": [0.4, 0.8]})
    assert missed["f1"]["galaxy"] == 0.0 and missed["f1"]["nsc"] == pytest.approx(2 / 3)
    # AUC: 12 positive-negative pairs; the positive 0.3 loses to negatives 0.7 only... count by hand:
    pairs = [(p, n) for p in (0.9, 0.8, 0.3, 0.6) for n in (0.1, 0.2, 0.7)]
    assert m["roc_auc"] == pytest.approx(sum(p > n for p, n in pairs) / len(pairs))
    assert np.isnan(roc_auc([1, 1], [0.2, 0.3]))
    assert confusion_matrix([1], [0]).tolist() == [[0, 0], [1, 0]]
    table = Table({"true": true, "predicted": predicted, "prob_nsc": prob,
                   "Instrument": ["ACS/WFC"] * 3 + ["WFC3/UVIS"] * 4})
    parts = breakdown(table, "Instrument")
    assert list(parts["n"]) == [3, 4] and parts["accuracy"][0] == pytest.approx(2 / 3)


def test_evaluate_command_writes_report(mock_lcid, tmp_path, capsys):
    run = tmp_path / "run"
    train("resnet18", mock_lcid / "manifest.csv", mock_lcid, run, recipe="paper-resize", epochs=1,
          batch_size=4, seed=1, device="cpu")
    report = tmp_path / "report"
    assert main(["evaluate", "--weights", str(run), "--manifest", str(mock_lcid / "manifest.csv"),
                 "--data-dir", str(mock_lcid), "--out", str(report), "--paper-table"]) == 0
    out = capsys.readouterr().out
    assert "ResNet" in out and "86.27" in out  # the paper's LCID-Resize row, as published
    assert "simulated chips" in out
    for name in ("predictions.ecsv", "metrics.json", "by_instrument.ecsv", "by_filter.ecsv", "table4.ecsv",
                 "confusion.png", "roc.png", "training.png", "reliability.png", "risk_coverage.png"):
        assert (report / name).stat().st_size > 0, name
    metrics = json.loads((report / "metrics.json").read_text())
    predictions = Table.read(report / "predictions.ecsv")
    assert metrics["n"] == len(predictions) == 8
    assert metrics["accuracy"] == pytest.approx(float(np.mean(predictions["true"] == predictions["predicted"])))
    assert (predictions["preprocess_ms"] > 0).all() and (predictions["classify_ms"] > 0).all()
    np.testing.assert_allclose(predictions["prob_galaxy"] + predictions["prob_nsc"], 1, rtol=1e-6)
    # What the accuracy means: baselines, calibration, risk against coverage, printed and recorded.
    assert "baselines on the same chips" in out and "instrument only" in out and "calibration:" in out
    true = np.asarray(predictions["true"])
    majority = max(np.mean(true == 0), np.mean(true == 1))
    assert metrics["baselines"]["majority"]["accuracy"] == pytest.approx(majority)
    assert metrics["baselines"]["instrument"]["accuracy"] >= majority
    assert metrics["calibration"]["temperature"] == 1.0  # trained without validation: no temperature
    assert metrics["calibration"]["ece_before"] == metrics["calibration"]["ece_after"]
    low, high = metrics["calibration"]["ece_after_interval"]
    assert low <= metrics["calibration"]["ece_after"] <= high
    assert metrics["calibration"]["ece_if_calibrated"]["chips"] == 8 and "perfectly calibrated" in out
    assert metrics["risk_coverage"]["accuracy_at_coverage"]["1.00"] == pytest.approx(metrics["accuracy"])
    assert len(metrics["roc"]["fpr"]) == len(metrics["roc"]["tpr"]) == 9
    assert np.isfinite(predictions["logit_nsc"]).all()


def test_calibration_measures_by_hand():
    from celestialclass.evaluation.calibration import (abstention_summary, expected_calibration_error,
                                                       reliability_bins, risk_coverage)

    true = [0, 0, 1, 1, 1]
    probs = [[0.95, 0.05], [0.6, 0.4], [0.3, 0.7], [0.55, 0.45], [0.02, 0.98]]
    bins = reliability_bins(true, probs, n_bins=5)  # edges 0, .2, .4, .6, .8, 1
    assert bins["count"] == [0, 0, 2, 1, 2]
    assert bins["accuracy"][2] == pytest.approx(0.5) and bins["confidence"][2] == pytest.approx(0.575)
    # |0.5 - 0.575| * 2 + |1 - 0.7| * 1 + |1 - 0.965| * 2, over 5 chips
    expected = (0.075 * 2 + 0.3 + 0.035 * 2) / 5
    assert expected_calibration_error(true, probs, n_bins=5) == pytest.approx(expected)
    coverage, accuracy, confidence = risk_coverage(true, probs)
    assert coverage.tolist() == [0.2, 0.4, 0.6, 0.8, 1.0]
    assert accuracy[-1] == pytest.approx(0.8) and confidence[0] == pytest.approx(0.98)
    summary = abstention_summary(true, probs, 0.65)
    assert summary["coverage"] == pytest.approx(0.6) and summary["accuracy_answered"] == 1.0
    assert summary["accuracy_all"] == pytest.approx(0.8)


def test_ece_floor_and_interval_tell_chance_from_miscalibration():
    from celestialclass.evaluation.calibration import ece_if_calibrated, ece_interval, expected_calibration_error

    rng = np.random.default_rng(3)
    confidence = rng.uniform(0.5, 1.0, 300)
    probs = np.stack([confidence, 1 - confidence], axis=1)
    floor = ece_if_calibrated(probs)
    assert 0 < floor["interval"][0] < floor["median"] < floor["interval"][1] < 0.1 and floor["chips"] == 300
    # a calibrated model lands inside the floor's range; an overconfident one far above it
    calibrated = np.where(rng.random(300) < confidence, 0, 1)
    assert floor["interval"][0] <= expected_calibration_error(calibrated, probs) <= floor["interval"][1]
    overconfident = np.where(rng.random(300) < confidence - 0.2, 0, 1)
    assert expected_calibration_error(overconfident, probs) > 2 * floor["interval"][1]
    # the interval is by bootstrap over objects (here of three chips each, or of one)
    groups = np.repeat(np.arange(100), 3)
    low, high = ece_interval(calibrated, probs, groups)
    low1, high1 = ece_interval(calibrated, probs, np.arange(300))
    assert low <= expected_calibration_error(calibrated, probs) <= high
    assert high - low > 0 and high1 - low1 > 0
    # more chips, a lower floor: the bias that the floor measures shrinks with the sample
    assert ece_if_calibrated(np.tile(probs, (10, 1)))["median"] < floor["median"] / 2


def test_shortcut_baselines_are_best_rules_with_intervals():
    from celestialclass.evaluation.baselines import shortcut_baselines

    table = Table({"true": [1, 1, 1, 0, 0, 0, 1], "Instrument": ["ACS/WFC"] * 3 + ["WFC3/UVIS"] * 4,
                   "Filter": ["F606W", "F814W"] * 3 + ["F606W"]})
    b = shortcut_baselines(table, groups=["a", "a", "b", "c", "d", "d", "e"])
    assert b["majority"] == {"accuracy": pytest.approx(4 / 7), "rule": "nsc", "interval": b["majority"]["interval"]}
    assert b["instrument"]["rule"] == {"ACS/WFC": "nsc", "WFC3/UVIS": "galaxy"}
    assert b["instrument"]["accuracy"] == pytest.approx(6 / 7)
    low, high = b["instrument"]["interval"]
    assert 0 <= low <= 6 / 7 <= high <= 1
    assert set(b) == {"majority", "instrument", "filter"}
    assert shortcut_baselines(Table({"true": np.array([], int)})) == {}

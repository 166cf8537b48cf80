"""Decision-threshold calibration: the threshold chosen, and weights that apply it at 0.5."""

import numpy as np
import pytest
import torch

from celestialclass import CelestialClassError
from celestialclass.datasets import ChipDataset, load_manifest
from celestialclass.evaluation.runner import predict
from celestialclass.training import calibrate
from celestialclass.training.calibration import best_threshold
from celestialclass.engine import InferenceEngine
from celestialclass.schema import CLASS_NAMES
from celestialclass.weights import file_sha256, load_trained, load_weights


def test_best_threshold():
    assert best_threshold([], []) == 0.5
    # Separable: the middle of the thresholds that get every chip right.
    assert best_threshold([0, 0, 1, 1], [0.1, 0.2, 0.35, 0.9]) == 0.27
    # 0.5 is not best when nebulae come out with low probabilities: one mistake left, not three.
    true = [0, 0, 0, 1, 1, 1, 1]
    prob = [0.05, 0.1, 0.3, 0.2, 0.25, 0.4, 0.8]
    threshold = best_threshold(true, prob)
    assert 0.1 <= threshold < 0.2
    assert np.mean((np.array(prob) > threshold) == np.array(true)) == pytest.approx(6 / 7)
    assert np.mean((np.array(prob) > 0.5) == np.array(true)) == pytest.approx(4 / 7)


def test_calibrated_weights_apply_the_threshold_at_one_half(trained_resnet, mock_lcid, tmp_path):
    table = load_manifest(mock_lcid / "manifest.csv")
    card = calibrate(trained_resnet, table, mock_lcid, tmp_path)
    record = card["calibration"]
    assert 0 < record["threshold"] < 1 and record["accuracy_after"] >= record["accuracy_before"]
    assert record["logit_offset"] == pytest.approx(-np.log(record["threshold"] / (1 - record["threshold"])))
    assert file_sha256(tmp_path / "model.safetensors") == card["weights"]["sha256"]
    # Only the NSC bias of the last layer moved, by the offset.
    before, _ = load_weights(trained_resnet / "model.safetensors", file_sha256(trained_resnet / "model.safetensors"))
    after, _ = load_weights(tmp_path / "model.safetensors", file_sha256(tmp_path / "model.safetensors"))
    moved = [key for key in before if not torch.equal(before[key], after[key])]
    assert moved == ["fc.bias"] or record["logit_offset"] == 0
    assert float(after["fc.bias"][1] - before["fc.bias"][1]) == pytest.approx(record["logit_offset"], abs=1e-5)
    # The calibrated model's 0.5 is the original's threshold.
    original, preprocess, _ = load_trained(trained_resnet)
    calibrated, _, _ = load_trained(tmp_path)
    dataset = ChipDataset(table, mock_lcid, preprocess)
    p0 = np.asarray(predict(InferenceEngine(original, CLASS_NAMES, "cpu"), dataset)["prob_nsc"])
    p1 = np.asarray(predict(InferenceEngine(calibrated, CLASS_NAMES, "cpu"), dataset)["prob_nsc"])
    assert np.array_equal(p1 > 0.5, p0 > record["threshold"])
    assert load_trained(tmp_path)[2]["calibration"] == record


def test_calibrate_refuses_an_empty_manifest(trained_resnet, mock_lcid, tmp_path):
    table = load_manifest(mock_lcid / "manifest.csv")[:0]
    with pytest.raises(CelestialClassError, match="no chips to calibrate on"):
        calibrate(trained_resnet, table, mock_lcid, tmp_path)
    assert not (tmp_path / "model.safetensors").exists()


def test_calibrate_refuses_a_committee(mock_lcid, tmp_path):
    """A committee's mean probability has no one bias to fold a threshold into: refused, not half-applied."""
    from celestialclass.training import train

    table = load_manifest(mock_lcid / "manifest.csv")[:2]
    train("celestialnet-lite-x2", table, mock_lcid, tmp_path / "x2", recipe="fast", epochs=1, seed=1, device="cpu")
    with pytest.raises(CelestialClassError, match="averages the probabilities of several members") as info:
        calibrate(tmp_path / "x2", table, mock_lcid, tmp_path / "calibrated")
    assert "x2" in str(info.value)
    assert not (tmp_path / "calibrated").exists()

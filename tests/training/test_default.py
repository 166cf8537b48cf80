"""The default model's pieces: recipes, flips, cached chips, chip coverage, and the whole build in miniature."""

import json
import shutil

import numpy as np
import pytest
import torch

from celestialclass.datasets import ChipDataset, load_manifest
from celestialclass.exceptions import CelestialClassError
from celestialclass.io.instruments import LAYOUTS
from celestialclass.preprocess import Preprocess
from celestialclass.simulate.render import ChipGrid
from celestialclass.simulate.scenes import chip_coverage, make_body
from celestialclass.training import get_recipe, read_card, train
from celestialclass.training.default import DefaultBuild, build_default_model
from celestialclass.training.loop import _augment
from celestialclass.cli import main
from celestialclass.weights import resolve_weights


def test_default_recipes_share_a_budget():
    model, baseline = get_recipe("default"), get_recipe("default-resize")
    assert model.data == "LCID" and baseline.data == "LCID-Resize"
    for field in ("optimizer", "lr", "weight_decay", "batch_size", "epochs", "schedule", "augment", "crop"):
        assert getattr(model, field) == getattr(baseline, field)
    assert model.augment and baseline.cache and model.cache


def test_flips_are_reproducible_and_keep_columns_as_columns():
    x = torch.arange(2 * 3 * 5, dtype=torch.float32).reshape(1, 6, 5)
    draws = [_augment(x, 7, epoch, index) for epoch in range(4) for index in range(8)]
    assert all(torch.equal(a, b) for a, b in zip(draws, [_augment(x, 7, e, i) for e in range(4) for i in range(8)]))
    kinds = set()
    for flipped in draws:
        assert sorted(flipped.flatten().tolist()) == sorted(x.flatten().tolist())
        # a column of x stays a column (possibly reversed, possibly moved)
        columns = {tuple(sorted(flipped[0, :, j].tolist())) for j in range(5)}
        assert columns == {tuple(sorted(x[0, :, j].tolist())) for j in range(5)}
        kinds.add((torch.equal(flipped, x), torch.equal(flipped, x.flip(-1)), torch.equal(flipped, x.flip(-2)),
                   torch.equal(flipped, x.flip(-2, -1))))
    assert len(kinds) == 4  # all four flips occur


def test_random_crops_are_reproducible_and_cut_from_the_flipped_chip():
    x = torch.arange(40 * 60, dtype=torch.float32).reshape(1, 40, 60)
    crops = [_augment(x, 3, epoch, index, crop=0.75) for epoch in range(3) for index in range(6)]
    assert all(c.shape == (1, 30, 45) for c in crops)
    assert all(torch.equal(a, _augment(x, 3, e, i, crop=0.75)) for a, (e, i) in
               zip(crops, [(e, i) for e in range(3) for i in range(6)]))
    assert len({tuple(c[0, 0, :2].tolist()) for c in crops}) > 6  # crops move about
    for epoch, index in [(0, 0), (1, 4), (2, 5)]:
        flipped = _augment(x, 3, epoch, index)  # the same flips are drawn with and without cropping
        crop = _augment(x, 3, epoch, index, crop=0.75)
        found = [(r, c) for r in range(11) for c in range(16) if torch.equal(flipped[:, r:r + 30, c:c + 45], crop)]
        assert len(found) == 1
    assert torch.equal(_augment(x, 3, 0, 0, crop=1.0), _augment(x, 3, 0, 0))


class _NoMoreReading:
    """A stand-in for a dataset's preprocessing that fails the test if a chip is read again."""

    def read_image(self, *args, **kwargs):
        pytest.fail("read again")

    read = image = tensor = read_image


def test_cached_dataset_reads_each_chip_once(mock_lcid, monkeypatch):
    table = load_manifest(mock_lcid / "manifest.csv")[:2]
    dataset = ChipDataset(table, mock_lcid, Preprocess(resize=(224, 448)), cache=True)
    first = dataset[1][0]
    monkeypatch.setattr(dataset, "preprocess", _NoMoreReading())
    with pytest.raises(pytest.fail.Exception):  # the guard works: an uncached item is read, and fails
        dataset[0]
    again, label = dataset[1]
    assert label == dataset.labels[1] and again.dtype == first.dtype == torch.float32
    # kept as float16: within its precision of the first read, and not the same values exactly
    assert torch.allclose(again, first, rtol=1e-3, atol=1e-4) and not torch.equal(again, first)


def test_cached_dataset_keeps_the_fixed_first_layer_output(mock_lcid, monkeypatch):
    """Training CelestialNet-Lite caches its first layer's small map, once per chip, not the chip."""
    from celestialclass.models import PatchStatistics, get_model, training_parts

    net = get_model("celestialnet-lite")
    stem = training_parts(net).transform
    assert isinstance(stem, PatchStatistics) and training_parts(get_model("resnet18")).transform is None
    table = load_manifest(mock_lcid / "manifest.csv")[:1]
    dataset = ChipDataset(table, mock_lcid, Preprocess(), cache=True, transform=stem)
    chip = Preprocess().tensor(dataset.read(0))
    first, _ = dataset[0]
    assert first.shape == (4, 256, 512)
    assert torch.allclose(first, PatchStatistics(8)(chip[None])[0], rtol=1e-3, atol=1e-3)
    monkeypatch.setattr(dataset, "preprocess", _NoMoreReading())
    assert torch.allclose(dataset[0][0], first, rtol=1e-3, atol=1e-3)  # from the float16 cache
    # body(stem(chip)) is the whole model
    net.eval()
    with torch.no_grad():
        assert torch.allclose(net.body(PatchStatistics(8)(chip[None])), net(chip[None]))


def test_chip_coverage():
    layout = LAYOUTS["ACS/WFC"]
    pn = make_body("nsc", 3, "planetary_nebula")
    radius = pn.visible_radius
    assert 8 <= radius < 60 * 1.8
    # The detector centred on the nebula: it sits in the gap, so each chip sees part of it.
    centred = [chip_coverage(pn, ChipGrid(layout, chip, 0.0, 0.0, 0.0)) for chip in layout.chips]
    assert all(0 < c < 1 for c in centred)
    # Pointed far away: nothing of it on either chip.
    far = [chip_coverage(pn, ChipGrid(layout, chip, 1000.0, 0.0, 0.0)) for chip in layout.chips]
    assert far == [0.0, 0.0]
    # A big galaxy fills a chip centred on it.
    galaxy = make_body("galaxy", 5, "spiral")
    assert galaxy.visible_radius > 90
    grid = ChipGrid(layout, layout.chips[0], 0.0, 0.0, 0.0)
    rows, cols = np.array([0, grid.rows - 1]), np.array([0, grid.cols - 1])
    u, v = grid.to_body(rows[:, None], cols[None, :])
    if np.hypot(u, v).max() < galaxy.visible_radius:
        assert chip_coverage(galaxy, grid) == 1.0


def test_manifest_has_coverage(mock_lcid):
    table = load_manifest(mock_lcid / "manifest.csv")
    assert "Coverage" in table.colnames
    assert np.all((table["Coverage"] >= 0) & (table["Coverage"] <= 1))


def entry_temperature(card_path):
    return resolve_weights(card_path).temperature


def test_build_in_miniature_is_resumable_and_complete(tmp_path):
    build = DefaultBuild(seed=3, bodies=6, exposures_per_body=1, blurry_bodies=2, validation_fraction=0.2,
                         test_fraction=0.3, min_coverage=0.0, min_visibility=0.0, epochs=1)
    lines = []
    card = build_default_model(tmp_path, build, jobs=1, show_progress=False, log=lines.append)
    bundle = tmp_path / "bundle"
    assert read_card(bundle / "default.json") == card
    assert card["name"] == "default" and card["architecture"] == "celestialnet-lite-x2"
    assert "simulated" in card["training"]["data"] and "not on LCID" in card["note"]
    assert card["simulator"]["seed"] == 3 and card["simulator"]["version"]
    for key in ("accuracy", "f1", "confusion", "n"):
        assert key in card["metrics"]["held_out"] and key in card["metrics"]["blurry"]
        assert key in card["baseline"]["metrics"]["held_out"]
    assert card["baseline"]["architecture"] == "resnet18" and card["baseline"]["input_size"] == [1, 224, 448]
    # Calibrated on the validation bodies; every set reports what its accuracy means.
    for calibration in (card["calibration"], card["baseline"]["calibration"]):
        assert calibration["method"] == "temperature" and calibration["fitted_on"].startswith("validation")
    assert entry_temperature(tmp_path / "bundle" / "default.json") == card["calibration"]["temperature"]
    for key in ("baselines", "calibration", "risk_coverage", "abstention", "roc", "interval"):
        assert key in card["metrics"]["held_out"], key
    assert card["metrics"]["held_out"]["calibration"]["temperature"] == card["calibration"]["temperature"]
    # The bundle's card names no directory of the machine that built it.
    assert card["training"]["command"] == "celestialclass default-model BUILD_DIR --seed 3"
    assert card["training"]["manifest"]["source"] == "train.csv"
    assert str(tmp_path) not in json.dumps(card)
    splits = card["splits"]
    assert splits["train"]["chips"] + splits["validation"]["chips"] + splits["test"]["chips"] == 12
    assert splits["blurry"]["chips"] == 4
    assert all(left["chips"] == 0 for left in splits["left_out_not_shown"].values())
    ids = {name: set(load_manifest(tmp_path / f"{name}.csv")["ID"]) for name in ("train", "validation", "test")}
    assert not ids["train"] & ids["test"] and not ids["train"] & ids["validation"]
    for name in ("confusion.png", "by_subtype.ecsv", "predictions.ecsv"):
        assert (tmp_path / "reports" / "model-held_out" / name).exists()
    # The bundle loads like a registered entry, sha256 verified.
    entry = resolve_weights(bundle / "default.json")
    assert entry.name == "default" and entry.sha256 == card["weights"]["sha256"]
    assert [member.fc.out_features for member in entry.build_model().body.members] == [2, 2]
    assert main(["weights", "verify", str(bundle / "default.json")]) == 0
    # Same seed, same weights: training the model again on the same chips gives the same bytes.
    retrained = train("celestialnet-lite-x2", load_manifest(tmp_path / "train.csv"), tmp_path / "sim",
                      tmp_path / "retrained", recipe="default", seed=3, epochs=1)
    assert retrained["sha256"] == card["weights"]["sha256"]
    # Run again: every stage is found done, nothing changes.
    timings = json.loads((tmp_path / "timings.json").read_text())
    again = build_default_model(tmp_path, build, jobs=1, show_progress=False, log=lines.append)
    assert again["weights"] == card["weights"] and again["metrics"] == card["metrics"]
    assert json.loads((tmp_path / "timings.json").read_text()) == timings
    # A report belongs to the weights it measured: other weights in the model's directory are evaluated afresh.
    report = tmp_path / "reports" / "model-held_out" / "metrics.json"
    assert json.loads(report.read_text())["weights_sha256"] == card["weights"]["sha256"]
    shutil.rmtree(tmp_path / "model")
    other = train("celestialnet-lite-x2", load_manifest(tmp_path / "train.csv"), tmp_path / "sim", tmp_path / "model",
                  recipe="default", seed=4, epochs=1)
    assert other["sha256"] != card["weights"]["sha256"]
    assert "calibration" not in read_card(tmp_path / "model" / "model_card.json")
    rebuilt = build_default_model(tmp_path, build, jobs=1, show_progress=False, log=lines.append)
    assert rebuilt["weights"]["sha256"] == other["sha256"]
    assert rebuilt["calibration"]["method"] == "temperature"  # trained without validation: calibrated by the build
    assert json.loads(report.read_text())["weights_sha256"] == other["sha256"]
    with pytest.raises(CelestialClassError, match="other settings"):
        build_default_model(tmp_path, DefaultBuild(seed=4, bodies=6, exposures_per_body=1, blurry_bodies=2),
                            jobs=1, show_progress=False)


def test_build_with_a_bank_trains_on_hybrid_exposures_and_reports_held_out_objects(stellarium, tmp_path):
    from celestialclass.datasets import build_bank

    build_bank(stellarium, tmp_path / "bank")
    build = DefaultBuild(seed=3, bodies=6, exposures_per_body=1, blurry_bodies=2, validation_fraction=0.2,
                         test_fraction=0.3, min_coverage=0.0, min_visibility=0.0, epochs=1,
                         bank=str(tmp_path / "bank"), bank_exposures=1)
    card = build_default_model(tmp_path / "build", build, jobs=1, show_progress=False, log=lambda line: None)
    out = tmp_path / "build"
    parts = {name: load_manifest(out / f"hybrid_{name}.csv") for name in ("train", "validation", "test")}
    assert sum(len(p) for p in parts.values()) == 14  # 7 images, one exposure each, two chips
    assert not set(parts["train"]["ID"]) & set(parts["test"]["ID"])
    ids = set().union(*(set(p["ID"]) for p in parts.values()))
    assert "NGC 9991" in ids and "UGC 99994" not in ids  # UGC 99994's image lies in NGC 9991's: one group
    assert card["splits"]["test_real"]["chips"] == len(parts["test"]) == card["metrics"]["held_out_real"]["n"]
    assert card["splits"]["train"]["chips"] == len(load_manifest(out / "train.csv")) + len(parts["train"])
    assert card["baseline"]["metrics"]["held_out_real"]["n"] == len(parts["test"])
    assert card["bank"]["images"] == 7 and "reserved" in card["bank"]["note"]
    assert "hybrid" in card["training"]["data"] and "--bank" in card["training"]["command"]
    assert "interval" in card["metrics"]["held_out_real"]
    # Calibrated on both kinds of validation chips, and the card names both.
    validation_chips = card["splits"]["validation"]["chips"]
    assert card["calibration"]["fitted_on"] == f"validation.csv + hybrid_validation.csv: {validation_chips} chips"
    assert json.loads((out / "build.json").read_text())["bank"] == str(tmp_path / "bank")


def test_rebuild_command_names_the_banks_settings():
    from celestialclass.cards import default_model_command

    assert default_model_command(DefaultBuild(seed=4).settings()) == "celestialclass default-model BUILD_DIR --seed 4"
    with_bank = DefaultBuild(seed=4, bank="/somewhere/bank", bank_exposures=1).settings()
    assert default_model_command(with_bank) == ("celestialclass default-model BUILD_DIR --seed 4 --bank BANK_DIR "
                                                "--bank-exposures 1")
    assert default_model_command(with_bank, "out", "bank") == ("celestialclass default-model out --seed 4 --bank bank "
                                                               "--bank-exposures 1")

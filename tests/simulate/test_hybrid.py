"""Hybrid exposures: a bank image's morphology through the simulator's physics, the same for both classes."""

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from celestialclass.datasets import load_manifest, split_by_body
from celestialclass.simulate import HYBRID_MANIFEST_NAME, simulate_dataset, simulate_exposure
from celestialclass.simulate.hybrid import BANK_SUBTYPE, WIDTH_RANGE, _linear_light, bank_body

STARS = [(20, 20), (20, 100), (100, 20), (100, 100), (30, 60), (90, 60), (60, 15), (60, 105)]


@pytest.fixture(scope="module")
def picture(tmp_path_factory):
    """An 8-bit picture: a smooth disk on a grey sky, and eight isolated stars around it."""
    import cv2

    yy, xx = np.mgrid[:120, :120] - 59.5
    light = 10 + 180 * np.exp(-0.5 * (xx ** 2 + (yy / 0.5) ** 2) / 15 ** 2)  # a core as wide as the median
    for y, x in STARS:
        light[y - 1:y + 2, x - 1:x + 2] += 60
        light[y, x] += 120
    path = tmp_path_factory.mktemp("picture") / "disk.png"
    cv2.imwrite(str(path), np.repeat(np.clip(light, 0, 255).astype(np.uint8)[:, :, None], 3, axis=2))
    return str(path)


def test_linear_light_finds_the_pictures_stars_and_removes_them(picture):
    smooth, (rows, cols, flux), radius = _linear_light(picture, 1.0)
    found = sorted((int(round(r)), int(round(c))) for r, c in zip(rows, cols))
    assert found == sorted(STARS)  # each star once, and nothing of the smooth disk
    assert (flux > 0).all()
    # The smooth light keeps the disk, not the stars: a star's pixel is no brighter than its ring.
    lum = smooth.mean(axis=2)
    for y, x in STARS:
        assert lum[y, x] <= 1.05 * lum[y - 3:y + 4, x - 3:x + 4].max(initial=0) and lum[y, x] < 0.2
    assert np.percentile(lum, 99.5) == pytest.approx(1.0, rel=1e-5)
    assert lum[:3].max() == 0 and lum[:, -3:].max() == 0  # sky removed, edges tapered
    assert 5 < radius < 40


def test_both_classes_take_exactly_the_same_path(picture, tmp_path):
    """Nothing but the picture says which class a hybrid exposure is: galaxy and NSC give the same pixels."""
    data = {}
    for kind in ("galaxy", "nsc"):
        path = tmp_path / f"j{kind[:3]}0001q_raw.fits"
        truth = simulate_exposure(path, kind, "ACS/WFC", seed=8, image=picture, filter="F606W", exptime=400)
        assert truth["subtype"] == BANK_SUBTYPE and truth["image"] == picture
        with fits.open(path) as hdul:
            data[kind] = [hdul[i].data.copy() for i in (1, 4)]
    for a, b in zip(data["galaxy"], data["nsc"]):
        assert np.array_equal(a, b)
    assert truth["visibility"][1] > 5 or truth["visibility"][4] > 5  # the picture's light is on the chips


def test_bank_body_draws_scale_and_view_from_its_seed(picture):
    one, again, other = bank_body("galaxy", 3, picture), bank_body("galaxy", 3, picture), bank_body("galaxy", 4,
                                                                                                    picture)
    assert one == again and one.params != other.params
    assert WIDTH_RANGE[0] <= one.params["width"] <= WIDTH_RANGE[1]
    assert one.params["scale"] == pytest.approx(one.params["width"] / 120)
    assert 0 < one.visible_radius < one.params["width"]


def test_hybrid_dataset_ids_are_bank_groups(picture, tmp_path):
    bank = Table({"path": [picture] * 4, "label": ["galaxy", "nsc", "galaxy", "nsc"],
                  "group": ["NGC 1", "M 2", "NGC 3", "M 4"]})
    table = simulate_dataset(tmp_path, 4, 1, seed=3, bank=bank)
    manifest = load_manifest(tmp_path / HYBRID_MANIFEST_NAME)
    assert len(manifest) == len(table) == 8 and set(manifest["Image"]) == {"disk.png"}
    assert sorted(set(manifest["ID"])) == ["M 2", "M 4", "NGC 1", "NGC 3"]
    assert {(i, l) for i, l in zip(manifest["ID"], manifest["label"])} == {
        ("NGC 1", "galaxy"), ("M 2", "nsc"), ("NGC 3", "galaxy"), ("M 4", "nsc")}
    assert set(manifest["Subtype"]) == {BANK_SUBTYPE}
    train, test = split_by_body(manifest, 0.5, seed=0)
    assert not set(train["ID"]) & set(test["ID"])

"""Hybrid exposures: a bank image's morphology through the simulator's physics, the same for both classes."""

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from celestialclass.datasets import load_manifest, split_by_body
from celestialclass.simulate import HYBRID_MANIFEST_NAME, simulate_dataset, simulate_exposure
from celestialclass.simulate.hybrid import BANK_SUBTYPE, WIDTH_RANGE, _linear_light, _texture, bank_body
from celestialclass.simulate.scenes import fractal_texture

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


def test_linear_light_keeps_the_whole_picture(picture):
    """The picture's light is kept as it is drawn: its stars and its disk, sky removed, edges tapered."""
    light, radius = _linear_light(picture, 1.0)
    lum = light.mean(axis=2)
    for y, x in STARS:  # each star stands above its ring (a median of the picture would have removed it)
        ring = np.concatenate([lum[y - 3, x - 3:x + 4], lum[y + 3, x - 3:x + 4], lum[y - 3:y + 4, x - 3],
                               lum[y - 3:y + 4, x + 3]])
        assert lum[y, x] > 2 * ring.max()
    assert np.percentile(lum, 99.5) == pytest.approx(1.0, rel=1e-3)
    assert lum[59, 59] > 0.5  # the disk's core
    assert lum[:3].max() == 0 and lum[:, -3:].max() == 0  # sky removed, edges tapered
    assert 5 < radius < 40


def test_a_pictures_padding_is_not_its_sky(tmp_path):
    """Many pictures sit in black padding: their sky inside it is subtracted, so no bright rectangle remains."""
    import cv2

    yy, xx = np.mgrid[:300, :300] - 149.5
    rng = np.random.default_rng(0)
    light = 40 + rng.normal(0, 2, (300, 300)) + 160 * np.exp(-0.5 * (xx ** 2 + yy ** 2) / 25 ** 2)
    light[:30], light[-30:], light[:, :30], light[:, -30:] = 0, 0, 0, 0
    path = tmp_path / "padded.png"
    cv2.imwrite(str(path), np.repeat(np.clip(light, 0, 255).astype(np.uint8)[:, :, None], 3, axis=2))
    light, radius = _linear_light(str(path), 1.0)
    lum = light.mean(axis=2)
    # Inside the padding, away from the object, the sky (0.04 of the peak with the border's zero as sky) is
    # gone: what is left is the picture's own noise about it.
    assert np.median(lum[40:80, 40:260]) < 0.004 and lum[150, 150] > 0.5
    assert radius < 50


def test_texture_holds_only_structure_finer_than_the_picture_resolves():
    """Texture on scales the picture resolves would paint the same mottling on galaxies and nebulae alike."""
    scale = 1.0  # arcsec per picture pixel: nothing larger than 8 arcsec
    tile = _texture(5, scale)  # 400 arcsec in 1024 cells
    block = 64  # cells: 25 arcsec
    means = tile.reshape(1024 // block, block, 1024 // block, block).mean(axis=(1, 3))
    assert tile.std() == pytest.approx(1.0, rel=1e-3) and means.std() < 0.05
    plain = fractal_texture([5, 61], n=1024, beta=2.6)  # the same noise, every scale kept
    assert plain.reshape(16, block, 16, block).mean(axis=(1, 3)).std() > 0.5


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

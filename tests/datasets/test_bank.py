"""The morphology bank: Stellarium's catalogue and textures read, objects classed, reserved images kept out."""

import gzip
import json
import math
import struct

import numpy as np
import pytest
from astropy.table import Table

from celestialclass.datasets import BankError, build_bank, load_bank
from celestialclass.datasets.stellarium import DSO_TYPES, StellariumError, read_dso_catalog, read_textures


def _qstring(text):
    data = text.encode("utf-16-be")
    return struct.pack(">I", len(data)) + data


def _record(ident, ra, dec, kind, major=0.05, ngc=0, m=0, ugc=0):
    """One catalogue record of edition 3.x, as Stellarium writes it (see `read_dso_catalog`)."""
    numbers = [ngc, 0, m, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, ugc]  # NGC IC M C B Sh2 VdB RCW LDN LBN Cr Mel PGC UGC
    return (struct.pack(">I4dI", ident, math.radians(ra), math.radians(dec), 99.0, 10.0, DSO_TYPES.index(kind))
            + _qstring("") + struct.pack(">2di6d14I", major, major / 2, 0, *[0.0] * 6, *numbers)
            + _qstring("") + struct.pack(">2I", 0, 0) + b"".join(_qstring("") for _ in range(7))
            + struct.pack(">5I", 0, 0, 0, 0, 0))


def _corners(ra, dec, size):
    """Corners of a square image of ``size`` degrees, in Stellarium's order, written with bare fractions."""
    half, cos = size / 2, math.cos(math.radians(dec))
    return [[ra + half / cos, dec - half], [ra - half / cos, dec - half], [ra - half / cos, dec + half],
            [ra + half / cos, dec + half]]


def _png(path, kind):
    import cv2

    yy, xx = np.mgrid[:96, :96] - 47.5
    if kind == "galaxy":
        light = 200 * np.exp(-np.hypot(xx, yy / 0.4) / 9)
    else:
        light = 120 * np.exp(-np.hypot(xx, yy) / 15)
        rng = np.random.default_rng(0)
        for y, x in rng.integers(10, 86, (25, 2)):
            light[y, x] += 120
    cv2.imwrite(str(path), np.repeat(np.clip(light + 8, 0, 255).astype(np.uint8)[:, :, None], 3, axis=2))


# Far from every reserved object: the south celestial pole's neighbourhood.
GALAXY, CLUSTER, PAIR = (300.0, -80.0), (320.0, -82.0), (300.05, -80.0)
M51 = (202.4696, 47.1952)  # a reserved object


@pytest.fixture(scope="module")
def stellarium(tmp_path_factory):
    """A miniature Stellarium ``nebulae/default``: five images, each testing one rule."""
    root = tmp_path_factory.mktemp("stellarium")
    default = root / "nebulae" / "default"
    default.mkdir(parents=True)
    records = [_record(1, *GALAXY, "galaxy", 0.1, ngc=9991), _record(2, *CLUSTER, "globular star cluster", 0.1,
                                                                     ngc=9992),
               _record(3, 310.0, -81.0, "star", 0.0, ngc=9993), _record(4, *PAIR, "galaxy", 0.02, ugc=99994),
               _record(5, 250.0, -75.0, "galaxy", 0.05, ngc=7742)]
    header = _qstring("3.16") + _qstring("standard")
    (default / "catalog.dat").write_bytes(gzip.compress(header + b"".join(records)))
    tiles = [("n9991.png", GALAXY, "galaxy", "A. Observer"), ("n9992.png", CLUSTER, "nsc", "B. Observer"),
             ("n9993.png", (310.0, -81.0), "nsc", "C"), ("u99994.png", PAIR, "galaxy", "D"),
             ("n7742.png", (250.0, -75.0), "galaxy", "E"), ("whirl.png", M51, "galaxy", "F")]
    entries = []
    for name, (ra, dec), kind, credit in tiles:
        _png(default / name, kind)
        entries.append({"imageCredits": {"short": credit}, "imageUrl": name,
                        "worldCoords": [_corners(ra, dec, 0.2)], "textureCoords": [[[0, 0], [1, 0], [1, 1], [0, 1]]]})
    text = json.dumps({"shortName": "Nebulae", "subTiles": entries}, indent=1)
    # Stellarium's own file writes fractions without a leading zero (``-.98``): the reader must take them.
    text = text.replace('"imageUrl"', '"minResolution": .05, "maxBrightness": -.5, "imageUrl"')
    (default / "textures.json").write_text(text)
    return root


def test_catalogue_reader_reads_every_record_and_type(stellarium):
    catalog = read_dso_catalog(stellarium / "nebulae/default/catalog.dat")
    assert len(catalog) == 5 and catalog.meta["version"] == "3.16"
    assert list(catalog["type"]) == ["galaxy", "globular star cluster", "star", "galaxy", "galaxy"]
    assert catalog["designations"][0] == "NGC 9991" and catalog["designations"][3] == "UGC 99994"
    assert catalog["ra"][0] == pytest.approx(300.0) and catalog["dec"][1] == pytest.approx(-82.0)


def test_catalogue_reader_refuses_truncated_and_foreign_files(stellarium, tmp_path):
    data = gzip.decompress((stellarium / "nebulae/default/catalog.dat").read_bytes())
    (tmp_path / "cut.dat").write_bytes(gzip.compress(data[:-7]))
    with pytest.raises(StellariumError, match="mid-record"):
        read_dso_catalog(tmp_path / "cut.dat")
    (tmp_path / "plain.dat").write_bytes(b"not gzip")
    with pytest.raises(StellariumError, match="gzip"):
        read_dso_catalog(tmp_path / "plain.dat")


def test_texture_reader_takes_bare_fractions(stellarium):
    textures = read_textures(stellarium / "nebulae/default/textures.json")
    assert [t["file"] for t in textures][:2] == ["n9991.png", "n9992.png"]
    assert textures[0]["credit"] == "A. Observer" and len(textures[0]["corners"]) == 4
    assert ": -.5," in (stellarium / "nebulae/default/textures.json").read_text()  # the test file has them


@pytest.fixture(scope="module")
def bank(stellarium, tmp_path_factory):
    out = tmp_path_factory.mktemp("bank")
    return build_bank(stellarium, out), out


def test_bank_classes_and_credits(bank):
    table, _ = bank
    rows = {row["image"]: row for row in table}
    assert set(rows) == {"n9991.png", "n9992.png", "u99994.png"}
    assert rows["n9991.png"]["label"] == "galaxy" and rows["n9991.png"]["object"] == "NGC 9991"
    assert rows["n9992.png"]["label"] == "nsc" and rows["n9992.png"]["type"] == "globular star cluster"
    assert rows["n9991.png"]["credit"] == "A. Observer"
    assert rows["n9991.png"]["width"] == pytest.approx(720, rel=0.01)  # 0.2 deg
    assert rows["n9991.png"]["pixel_scale"] == pytest.approx(720 / 96, rel=0.01)


def test_overlapping_images_share_a_group(bank):
    table, _ = bank
    groups = {row["image"]: row["group"] for row in table}
    assert groups["n9991.png"] == groups["u99994.png"] != groups["n9992.png"]


def test_reserved_and_ambiguous_images_are_left_out_with_reasons(bank):
    _, out = bank
    left = {row["image"]: row["reason"] for row in Table.read(out / "left_out.ecsv")}
    assert "neither a galaxy nor" in left["n9993.png"]
    assert "reserved" in left["n7742.png"]            # named in the reserved list
    assert "reserved" in left["whirl.png"] and "M51" in left["whirl.png"]  # another image on a reserved object
    assert not (out / "images" / "whirl.png").exists()


def test_load_bank_verifies_images(bank):
    _, out = bank
    assert len(load_bank(out)) == 3
    image = out / "images" / "n9992.png"
    original = image.read_bytes()
    image.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    try:
        with pytest.raises(BankError, match="altered"):
            load_bank(out)
    finally:
        image.write_bytes(original)
    with pytest.raises(BankError, match="bank build"):
        load_bank(out / "images")


def test_reserved_list_matches_the_projects(bank):
    """The package's list holds every row of the project's reserved list (where the project's is at hand)."""
    import csv
    import pathlib

    from celestialclass.datasets.bank import RESERVED_LIST

    project = pathlib.Path(__file__).parents[3] / "shared" / "data" / "reserved_real_images.csv"
    if not project.exists():
        pytest.skip("the project's shared/data is not beside this checkout")
    key = ("package", "file", "object", "identifiers")
    ours = {tuple(r[k] for k in key) for r in csv.DictReader(RESERVED_LIST.read_text().splitlines())}
    theirs = {tuple(r[k] for k in key) for r in csv.DictReader(project.read_text().splitlines())}
    assert theirs <= ours


def test_bank_build_command(stellarium, tmp_path, capsys):
    from celestialclass.cli import main

    assert main(["bank", "build", str(stellarium / "usr-share-does-not-exist"), str(tmp_path / "x")]) == 1
    assert "no such file or directory" in capsys.readouterr().err
    assert main(["bank", "build", str(stellarium), str(tmp_path / "bank")]) == 0
    out = capsys.readouterr().out
    assert "3 images of 3 objects (2 galaxy, 1 nebula/star cluster); 3 left out:" in out
    assert "2  reserved for independent evaluation" in out


def test_bank_from_a_debian_package(stellarium, tmp_path):
    """The package file itself (an ar archive holding data.tar.xz) gives the same bank as the installed files."""
    import io
    import tarfile

    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:xz") as tar:
        tar.add(stellarium / "nebulae", arcname="./usr/share/stellarium/nebulae")
    members = [(b"debian-binary", b"2.0\n"), (b"control.tar.xz", b""), (b"data.tar.xz", data.getvalue())]
    deb = bytearray(b"!<arch>\n")
    for name, body in members:
        deb += name.ljust(16) + b"0".ljust(12) + b"0".ljust(6) + b"0".ljust(6) + b"100644".ljust(8) \
            + str(len(body)).encode().ljust(10) + b"`\n" + body + (b"\n" if len(body) % 2 else b"")
    (tmp_path / "stellarium-data_0.1_all.deb").write_bytes(bytes(deb))
    from_deb = build_bank(tmp_path / "stellarium-data_0.1_all.deb", tmp_path / "bank")
    from_dir = build_bank(stellarium, tmp_path / "bank-dir")
    assert list(from_deb["image"]) == list(from_dir["image"]) and list(from_deb["sha256"]) == list(
        from_dir["sha256"])
    assert from_deb["source"][0] == "debian:stellarium-data_0.1_all.deb"
    (tmp_path / "junk.deb").write_bytes(b"no archive")
    with pytest.raises(BankError, match="not a Debian package"):
        build_bank(tmp_path / "junk.deb", tmp_path / "junk")

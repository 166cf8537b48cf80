"""The morphology bank: Stellarium's catalogue and textures read, objects classed, reserved images kept out."""

import gzip

import pytest
from astropy.table import Table

from celestialclass.datasets import BankError, build_bank, load_bank
from celestialclass.datasets.stellarium import StellariumError, read_dso_catalog, read_textures


def test_catalogue_reader_reads_every_record_and_type(stellarium):
    catalog = read_dso_catalog(stellarium / "nebulae/default/catalog.dat")
    assert len(catalog) == 9 and catalog.meta["version"] == "3.16"
    assert list(catalog["type"])[:5] == ["galaxy", "globular star cluster", "star", "galaxy", "galaxy"]
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


def test_texture_reader_takes_raw_tabs_in_strings(tmp_path):
    # stellarium-data 26.3 has a tab inside a quoted URL (n4157.png's infoUrl); strict JSON refuses it.
    path = tmp_path / "textures.json"
    path.write_text('{"subTiles": [{"imageCredits": {"short": "A. Observer", "infoUrl": " \thttp://x/n4157"},\n'
                    '"imageUrl": "n4157.png", "worldCoords": [[[182.8, 50.4], [182.6, 50.4], [182.7, 50.6], '
                    '[182.9, 50.5]]]}]}')
    (texture,) = read_textures(path)
    assert texture["file"] == "n4157.png" and texture["info_url"] == "http://x/n4157"


@pytest.fixture(scope="module")
def bank(stellarium, tmp_path_factory):
    out = tmp_path_factory.mktemp("bank")
    return build_bank(stellarium, out), out


def test_bank_classes_and_credits(bank):
    table, _ = bank
    rows = {row["image"]: row for row in table}
    assert set(rows) == {"n9991.png", "n9992.png", "u99994.png", "n9995.png", "n9996.png", "n9997.png",
                         "n9998.png"}
    assert [rows[n]["label"] for n in ("n9995.png", "n9997.png", "n9998.png")] == ["nsc", "nsc", "galaxy"]
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
    assert len(load_bank(out)) == 7
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
    assert "7 images of 7 objects (4 galaxy, 3 nebula/star cluster); 3 left out:" in out
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
    (tmp_path / "damaged.deb").write_bytes(bytes(deb[:8]) + b"\xff" * 70)
    with pytest.raises(BankError, match="damaged Debian package"):
        build_bank(tmp_path / "damaged.deb", tmp_path / "damaged")


def _stellarium_with(stellarium, tmp_path, record, image, kind, ra, dec):
    """A copy of the miniature Stellarium with one more catalogue record and an image of it at (ra, dec)."""
    import json
    import shutil

    from tests.conftest import _corners, _png

    root = tmp_path / "stellarium"
    shutil.copytree(stellarium, root)
    default = root / "nebulae" / "default"
    catalogue = gzip.decompress((default / "catalog.dat").read_bytes())
    (default / "catalog.dat").write_bytes(gzip.compress(catalogue + record))
    _png(default / image, kind)
    entry = {"imageCredits": {"short": "K"}, "imageUrl": image, "worldCoords": [_corners(ra, dec, 0.2)],
             "textureCoords": [[[0, 0], [1, 0], [1, 1], [0, 1]]]}
    text = (default / "textures.json").read_text().rstrip()  # Stellarium's own JSON dialect: append as text
    assert text.endswith("]\n}")
    (default / "textures.json").write_text(text[:-3].rstrip() + ",\n" + json.dumps(entry) + "\n]\n}\n")
    return root


def test_an_object_without_designations_is_named_by_its_image(stellarium, tmp_path):
    """Stellarium has catalogue entries with no names (Frosty Leo, the Calabash): object and group are never empty."""
    from tests.conftest import _record

    unnamed = _record(99, 260.0, -88.0, "planetary nebula")  # no NGC, M or UGC number, no name
    build_bank(_stellarium_with(stellarium, tmp_path, unnamed, "frosty.png", "nsc", 260.0, -88.0), tmp_path / "bank")
    bank = load_bank(tmp_path / "bank")
    row = bank[list(bank["image"]).index("frosty.png")]
    assert str(row["object"]) == str(row["group"]) == "frosty" and row["label"] == "nsc"
    assert all(str(name) not in ("", "--") for column in ("object", "group") for name in bank[column])


def test_a_galaxy_entry_with_a_nebula_designation_is_left_out_as_ambiguous(stellarium, tmp_path):
    """Stellarium files the H II region Sh2-191 under the galaxy PGC 9892: such an entry's class is not known."""
    from tests.conftest import _record

    merged = _record(98, 262.0, -87.0, "interacting galaxy", 0.1, sh2=9991, pgc=99892)
    build_bank(_stellarium_with(stellarium, tmp_path, merged, "sh2-9991.png", "nsc", 262.0, -87.0),
               tmp_path / "bank")
    assert "sh2-9991.png" not in list(load_bank(tmp_path / "bank")["image"])
    left = {row["image"]: row["reason"] for row in Table.read(tmp_path / "bank" / "left_out.ecsv")}
    assert left["sh2-9991.png"].startswith("ambiguous") and "Sh2-9991" in left["sh2-9991.png"]
    assert "n9991.png" not in left  # a galaxy with galaxy designations only stays


def test_older_banks_name_their_unnamed_objects_on_load(bank, tmp_path):
    """A bank built before unnamed catalogue entries were named has them empty (ECSV reads them as masked)."""
    import shutil

    _, directory = bank
    old = tmp_path / "old"
    shutil.copytree(directory, old)
    table = Table.read(old / "bank.ecsv", format="ascii.ecsv")
    table["object"][:2] = ""
    table["group"][0] = ""
    table.write(old / "bank.ecsv", format="ascii.ecsv", overwrite=True)
    loaded = load_bank(old)
    stems = [name.rsplit(".", 1)[0] for name in table["image"][:2]]
    assert list(loaded["object"][:2]) == stems and loaded["group"][0] == stems[0]
    assert len(set(loaded["object"])) == len(table) and all(str(name) for name in loaded["group"])

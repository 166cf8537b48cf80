"""A bank of real images of galaxies and nebulae/star clusters, built from Stellarium's deep-sky textures.

The simulator can draw an exposure of a real object's morphology from such an
image (`celestialclass.simulate.hybrid`). Debian's ``stellarium-data``
package ships about 550 processed 8-bit images (HST, ESO, DSS and amateur
images of Messier, NGC and IC objects), each with its credit and the sky
coordinates of its corners; its catalogue gives each object's type.
`build_bank` turns such a package into one table row per usable image, and
records every image it leaves out with the reason. Nothing of the package is
committed to this repository: the bank is built on the user's machine from the
user's copy, and every image keeps its credit.

Images reserved for the project's independent evaluation
(``datasets/data/reserved_real_images.csv``) never enter a bank: neither the
images listed there, nor any other image of the same objects, nor any image
whose footprint reaches one of them.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import pathlib
import re
import shutil
import tarfile
import tempfile

import numpy as np

from ..exceptions import CelestialClassError
from .stellarium import read_dso_catalog, read_textures

__all__ = ["build_bank", "load_bank", "BANK_CLASSES", "RESERVED_LIST", "BankError", "BANK_NAME",
           "LEFT_OUT_NAME"]

#: Reserved images and objects (package, file, object, identifiers, ra, dec).
RESERVED_LIST = pathlib.Path(__file__).parent / "data" / "reserved_real_images.csv"
#: The bank's table and the table of images left out, inside a bank directory.
BANK_NAME, LEFT_OUT_NAME = "bank.ecsv", "left_out.ecsv"

#: Stellarium object type -> class; types not here are left out as ambiguous or not an object of either class.
BANK_CLASSES = {
    "galaxy": "galaxy", "active galaxy": "galaxy", "radio galaxy": "galaxy", "interacting galaxy": "galaxy",
    "star cluster": "nsc", "open star cluster": "nsc", "globular star cluster": "nsc",
    "stellar association": "nsc", "nebula": "nsc", "planetary nebula": "nsc", "dark nebula": "nsc",
    "reflection nebula": "nsc", "bipolar nebula": "nsc", "emission nebula": "nsc",
    "cluster associated with nebulosity": "nsc", "HII region": "nsc", "supernova remnant": "nsc",
    "molecular cloud": "nsc", "possible planetary nebula": "nsc", "protoplanetary nebula": "nsc",
}
_WHY_NOT = {
    "cluster of galaxies": "a cluster of galaxies (many galaxies, not one object of either class)",
    "part of a galaxy": "part of a galaxy (a nebula or cluster inside another galaxy: both classes)",
    "star cloud": "a Milky Way star cloud (a star field, neither class)",
}

#: Catalogues of nebulae and dark clouds only (Sharpless, Lynds bright and dark, RCW, Cederblad, van den
#: Bergh, Barnard, Perek-Kohoutek, PN G, Dickel-Wendker-Bieritz). A catalogue entry of a galaxy type that carries
#: one of these is two objects merged into one (Stellarium files Sh2-191 with the galaxy PGC 9892), or an
#: object catalogued as both; either way its class is not known, and it is left out. (The reverse is common
#: and harmless: PGC numbers many planetary nebulae.)
_NEBULA_CATALOGUES = ("Sh2-", "LBN ", "LDN ", "RCW ", "Ced ", "vdB ", "B ", "PK ", "PN G ", "DWB ")

_NAME_PATTERNS = (  # texture file name -> catalogue designation
    (re.compile(r"^m(\d+)"), "M {}"), (re.compile(r"^ngc(\d+)"), "NGC {}"), (re.compile(r"^n(\d+)"), "NGC {}"),
    (re.compile(r"^ic(\d+)"), "IC {}"), (re.compile(r"^ugc(\d+)"), "UGC {}"), (re.compile(r"^u(\d+)"), "UGC {}"),
    (re.compile(r"^pgc(\d+)"), "PGC {}"), (re.compile(r"^p(\d+)"), "PGC {}"),
    (re.compile(r"^(?:barnard|b)(\d+)"), "B {}"), (re.compile(r"^sh2-?(\d+)"), "Sh2-{}"),
    (re.compile(r"^vdb(\d+)"), "vdB {}"), (re.compile(r"^ldn(\d+)"), "LDN {}"), (re.compile(r"^lbn(\d+)"), "LBN {}"),
    (re.compile(r"^rcw(\d+)"), "RCW {}"), (re.compile(r"^ced(\d+)"), "Ced {}"), (re.compile(r"^arp(\d+)"), "Arp {}"),
    (re.compile(r"^hcg(\d+)"), "HCG {}"), (re.compile(r"^(?:cr|collinder)(\d+)"), "Cr {}"),
    (re.compile(r"^mel(\d+)"), "Mel {}"), (re.compile(r"^c(\d+)"), "C {}"),
)
_PREFERRED = ("M ", "NGC ", "IC ", "UGC ", "PGC ")
_ALIASES = {"barnard": "b", "sh2-": "sh2", "abell": "abell", "omegacentauri": "ngc5139"}
#: Radius assumed for a reserved object of unknown size (degrees).
_RESERVED_RADIUS = 3.0 / 60


class BankError(CelestialClassError):
    """A morphology bank cannot be built or read."""


def _key(identifier: str) -> str:
    """Designation normalised for matching (``'M101'`` == ``'M 101'``, ``'Barnard 33'`` == ``'B 33'``)."""
    key = re.sub(r"[\s_]", "", identifier.lower())
    for alias, canonical in _ALIASES.items():
        if key.startswith(alias):
            key = canonical + key[len(alias):]
    return key.replace("-", "") if not key.startswith(("pk", "png", "snrg")) else key


def _unit(ra, dec):
    ra, dec = np.radians(ra), np.radians(dec)
    return np.stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)], axis=-1)


def _separation(a, b):
    """Angle (degrees) between unit vectors (broadcasting)."""
    return np.degrees(np.arccos(np.clip(np.sum(a * b, axis=-1), -1.0, 1.0)))


def _footprint(corners):
    """Centre (RA, Dec), unit vector, half-diagonal, width and height (degrees) of an image's corners."""
    vectors = _unit(*np.array(corners).T)
    centre = vectors.mean(axis=0)
    centre /= np.linalg.norm(centre)
    ra = math.degrees(math.atan2(centre[1], centre[0])) % 360.0
    dec = math.degrees(math.asin(centre[2]))
    half = float(_separation(vectors, centre).max())
    width = float(0.5 * (_separation(vectors[0], vectors[1]) + _separation(vectors[3], vectors[2])))
    height = float(0.5 * (_separation(vectors[1], vectors[2]) + _separation(vectors[0], vectors[3])))
    return ra, dec, centre, half, width, height


def _designation(file_name: str) -> str | None:
    stem = pathlib.PurePosixPath(file_name).stem.lower()
    for pattern, template in _NAME_PATTERNS:
        match = pattern.match(stem)
        if match:
            return template.format(int(match.group(1)))
    return None


def _image_name(file_name: str) -> str:
    """The name of an object whose catalogue entry has none (Frosty Leo, the Calabash): its image's."""
    return pathlib.PurePosixPath(file_name).stem


def _canonical(designations: str) -> str:
    names = designations.split(";")
    for prefix in _PREFERRED:
        for name in names:
            if name.startswith(prefix):
                return name
    return names[0]


def _read_reserved(path, catalog, index):
    """Reserved rows with their resolved sky positions and radii (degrees); every row must resolve."""
    reserved = []
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            identifiers = [i.strip() for i in row["identifiers"].split(";") if i.strip()]
            places = []
            for identifier in identifiers:
                for i in index.get(_key(identifier), ()):
                    radius = max(float(catalog["major"][i]) / 2, 1.0 / 60)
                    places.append((float(catalog["ra"][i]), float(catalog["dec"][i]), radius))
            if row.get("ra"):
                places.append((float(row["ra"]), float(row["dec"]), _RESERVED_RADIUS))
            if not places:
                raise BankError(f"reserved object {row['object']!r} has no position: add ra and dec", path=path)
            reserved.append({"file": row["file"] if row["package"] == "debian:stellarium-data" else None,
                             "object": row["object"], "keys": {_key(i) for i in identifiers}, "places": places})
    return reserved


def _extract_deb(deb: pathlib.Path, into: pathlib.Path) -> pathlib.Path:
    """Extract ``nebulae/default`` from a Debian package (an ar archive holding ``data.tar.*``)."""
    data = deb.read_bytes()
    if not data.startswith(b"!<arch>\n"):
        raise BankError("not a Debian package (no ar archive header)", path=deb)
    pos = 8
    while pos + 60 <= len(data):
        try:
            name, size = data[pos:pos + 16].decode().strip().rstrip("/"), int(data[pos + 48:pos + 58].decode())
        except (UnicodeDecodeError, ValueError):
            raise BankError(f"damaged Debian package (bad ar member header at byte {pos})", path=deb) from None
        body = data[pos + 60:pos + 60 + size]
        pos += 60 + size + (size % 2)
        if name.startswith("data.tar"):
            try:
                with tarfile.open(fileobj=io.BytesIO(body)) as tar:
                    members = [m for m in tar.getmembers()
                               if "/nebulae/default/" in m.name and m.isfile() and "/" not in
                               m.name.split("/nebulae/default/", 1)[1]]
                    for member in members:
                        target = into / pathlib.PurePosixPath(member.name).name
                        with tar.extractfile(member) as source, open(target, "wb") as out:
                            shutil.copyfileobj(source, out)
            except tarfile.TarError as exc:
                raise BankError(f"cannot read the package's data ({exc})", path=deb) from None
            if not members:
                raise BankError("the package has no nebulae/default/ (not stellarium-data?)", path=deb)
            return into
    raise BankError("the package holds no data.tar member", path=deb)


def _textures_dir(source: pathlib.Path) -> pathlib.Path:
    for candidate in (source, source / "nebulae" / "default", source / "usr/share/stellarium/nebulae/default"):
        if (candidate / "textures.json").is_file() and (candidate / "catalog.dat").is_file():
            return candidate
    raise BankError("no nebulae/default/textures.json and catalog.dat under this directory; give Stellarium's "
                    "data directory (/usr/share/stellarium) or a stellarium-data .deb", path=source)


def build_bank(source, out_dir, *, reserved=RESERVED_LIST, source_label: str | None = None):
    """Build a morphology bank from Stellarium's deep-sky images.

    Each texture is matched to its catalogue object (by its file name, such
    as ``n891.png`` for NGC 891, checked against the image's footprint; else
    the largest catalogue object at the image's centre) and classed by the
    catalogue's type (`BANK_CLASSES`). Images are copied into
    ``out_dir/images/``; ``out_dir/bank.ecsv`` gets one row per usable image
    and ``out_dir/left_out.ecsv`` one row per image left out, with the reason.

    Parameters
    ----------
    source : path-like
        Stellarium's data directory (``/usr/share/stellarium`` once
        ``apt install stellarium-data``), its ``nebulae/default``, or the
        package file itself (``apt-get download stellarium-data``).
    out_dir : path-like
        The bank directory (created).
    reserved : path-like, optional
        The reserved images and objects (the package's list by default).
    source_label : str, optional
        How the bank names its source (default: the package file's name, or
        ``debian:stellarium-data``).

    Returns
    -------
    bank : `~astropy.table.Table`
        Columns ``image``, ``object`` (its preferred designation),
        ``designations``, ``group`` (images whose footprints hold one
        another's objects share a group: split by it), ``label``
        (``galaxy``/``nsc``), ``type`` (Stellarium's), ``ra``, ``dec``
        (image centre, deg), ``width``, ``height`` (arcsec), ``shape``
        (pixels), ``pixel_scale`` (arcsec/pixel), ``sha256``, ``credit``,
        ``info_url``, ``source``.

    Raises
    ------
    BankError
        The source holds no Stellarium textures, or a reserved object cannot
        be placed on the sky.
    """
    import cv2
    from astropy.table import Table

    from ..utils.files import atomic_path

    source = pathlib.Path(source)
    out = pathlib.Path(out_dir)
    if not source.exists():
        raise BankError("no such file or directory", path=source)
    with tempfile.TemporaryDirectory() as tmp:
        if source.is_file():
            directory = _extract_deb(source, pathlib.Path(tmp))
            label = source_label or f"debian:{source.name}"
        else:
            directory = _textures_dir(source)
            label = source_label or "debian:stellarium-data"
        catalog = read_dso_catalog(directory / "catalog.dat")
        textures = read_textures(directory / "textures.json")
        index: dict[str, list[int]] = {}
        for i, designations in enumerate(catalog["designations"]):
            for name in str(designations).split(";"):
                if name:
                    index.setdefault(_key(name), []).append(i)
        reserved_rows = _read_reserved(reserved, catalog, index)
        reserved_keys = set().union(*(r["keys"] for r in reserved_rows))
        positions = _unit(np.asarray(catalog["ra"], float), np.asarray(catalog["dec"], float))
        major = np.asarray(catalog["major"], float)
        (out / "images").mkdir(parents=True, exist_ok=True)
        rows, left_out, centres = [], [], []
        for texture in textures:
            file_name = texture["file"]

            def leave_out(reason, obj=""):
                left_out.append({"image": file_name, "object": obj, "reason": reason})

            if texture["corners"] is None:
                leave_out("mapped onto the sky in pieces (no single pixel scale)")
                continue
            ra, dec, centre, half, width, height = _footprint(texture["corners"])
            hit = next((r for r in reserved_rows if r["file"] == file_name), None)
            if hit is None:
                for r in reserved_rows:
                    for rra, rdec, radius in r["places"]:
                        if float(_separation(_unit(rra, rdec), centre)) < half + radius:
                            hit = r
                            break
                    if hit:
                        break
            if hit is not None:
                leave_out(f"reserved for independent evaluation: {hit['object']}")
                continue
            inside = np.flatnonzero(_separation(positions, centre) < half)
            named = _designation(file_name)
            inside_set = set(inside.tolist())
            primary = next((i for i in index.get(_key(named), ()) if i in inside_set), None) if named else None
            if primary is None:
                near = inside[_separation(positions[inside], centre) < 0.3 * half]
                big = near[major[near] >= 0.1 * min(width, height)]
                if len(big):
                    primary = int(big[np.argmax(major[big])])
            if primary is None:
                leave_out("no catalogue object identified at the image's centre")
                continue
            designations = str(catalog["designations"][primary])
            designated = designations.split(";")
            obj = _canonical(designations) or _image_name(file_name)
            kind = str(catalog["type"][primary])
            if {_key(d) for d in designated} & reserved_keys:
                leave_out("reserved for independent evaluation (same object)", obj)
                continue
            if kind not in BANK_CLASSES:
                why = f"catalogue type {kind!r} is neither a galaxy nor a nebula/star cluster"
                leave_out(_WHY_NOT.get(kind, why), obj)
                continue
            nebular = [d for d in designated if d.startswith(_NEBULA_CATALOGUES)]
            if BANK_CLASSES[kind] == "galaxy" and nebular:
                leave_out(f"ambiguous: catalogue type {kind!r}, but also {', '.join(nebular)} of a catalogue of "
                          f"nebulae", obj)
                continue
            path = directory / file_name
            image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            if image is None:
                leave_out("the image file cannot be read", obj)
                continue
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            with atomic_path(out / "images" / file_name) as tmp_image:
                shutil.copyfile(path, tmp_image)
            rows.append({
                "image": file_name, "object": obj, "designations": designations, "label": BANK_CLASSES[kind],
                "type": kind, "ra": round(ra, 5), "dec": round(dec, 5), "width": round(width * 3600, 2),
                "height": round(height * 3600, 2), "shape": f"{image.shape[0]}x{image.shape[1]}",
                "pixel_scale": round(width * 3600 / image.shape[1], 4), "sha256": digest,
                "credit": texture["credit"], "info_url": texture["info_url"], "source": label})
            centres.append((centre, half, primary))
    groups = _groups(centres, positions)
    for row, group in zip(rows, groups):
        row["group"] = rows[group]["object"]
    names = ("image", "object", "designations", "group", "label", "type", "ra", "dec", "width", "height",
             "shape", "pixel_scale", "sha256", "credit", "info_url", "source")
    bank = Table(rows=[[row[n] for n in names] for row in rows], names=names)
    bank.meta.update(source=label, catalogue_version=catalog.meta["version"],
                     reserved_sha256=hashlib.sha256(pathlib.Path(reserved).read_bytes()).hexdigest(),
                     note="Images are the credited owners'; kept in images/ for simulation only.")
    left = Table(rows=[[r["image"], r["object"], r["reason"]] for r in left_out] or None,
                 names=("image", "object", "reason"), dtype=(str, str, str))
    for table, name in ((bank, BANK_NAME), (left, LEFT_OUT_NAME)):
        with atomic_path(out / name) as tmp_table:
            table.write(tmp_table, format="ascii.ecsv")
    return bank


def _groups(centres, positions) -> list[int]:
    """Union of images whose footprints hold one another's objects: the index of each image's group leader."""
    parent = list(range(len(centres)))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    if not centres:
        return []
    primaries = positions[[primary for _, _, primary in centres]]
    for i, (centre, half, _) in enumerate(centres):
        for j in np.flatnonzero(_separation(primaries, centre) < half):  # image j's object lies in image i
            if j != i:
                parent[find(int(j))] = find(i)
    # The leader of a group is its first image, so the result does not depend on the loop order.
    leaders = {}
    return [leaders.setdefault(find(i), i) for i in range(len(centres))]


def load_bank(bank_dir):
    """Read a bank directory written by `build_bank`, checking each image's sha256.

    Returns
    -------
    bank : `~astropy.table.Table`
        As `build_bank` returns it, with ``path`` (each image's file) added,
        ``meta["directory"]`` and ``meta["sha256"]`` (of ``bank.ecsv``). An
        empty ``object`` or ``group`` (banks built before an object without a
        catalogue name was named by its image) is its image's name.

    Raises
    ------
    BankError
        No bank there, or an image is missing or altered.
    """
    from astropy.table import Table

    directory = pathlib.Path(bank_dir)
    path = directory / BANK_NAME
    if not path.is_file():
        raise BankError(f"no {BANK_NAME} here; build one with `celestialclass bank build`", path=directory)
    bank = Table.read(path, format="ascii.ecsv")
    for column in ("object", "group"):  # banks built before such objects were named by their image
        if getattr(bank[column], "mask", None) is not None and bank[column].mask.any():
            bank[column] = [_image_name(image) if masked else str(name)
                            for name, masked, image in zip(bank[column].data, bank[column].mask, bank["image"])]
    paths = []
    for row in bank:
        image = directory / "images" / row["image"]
        if not image.is_file() or hashlib.sha256(image.read_bytes()).hexdigest() != row["sha256"]:
            raise BankError("image missing or altered since the bank was built (sha256 differs)", path=image)
        paths.append(str(image))
    bank["path"] = paths
    bank.meta.update(directory=str(directory), sha256=hashlib.sha256(path.read_bytes()).hexdigest())
    return bank

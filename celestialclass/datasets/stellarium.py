"""Readers for Stellarium's deep-sky data: the DSO catalogue and the nebula textures' list.

Debian's ``stellarium-data`` package (and every Stellarium install) ships, in
``nebulae/default/``:

- ``catalog.dat``: the deep-sky catalogue, a gzip-compressed Qt
  ``QDataStream`` (big-endian; floats written as doubles; strings as a byte
  count and UTF-16). `read_dso_catalog` reads edition 3.x records.
- ``textures.json``: one entry per deep-sky image (its file, credits, and the
  sky coordinates of its four corners). The file is not strict JSON (numbers
  such as ``.97`` and ``-.97``); `read_textures` reads it all the same.

These are file-format readers only; `celestialclass.datasets.bank` decides
what is usable.
"""

from __future__ import annotations

import gzip
import json
import math
import pathlib
import re
import struct

from ..exceptions import CelestialClassError

__all__ = ["read_dso_catalog", "read_textures", "DSO_TYPES", "CATALOG_PREFIXES", "StellariumError"]


class StellariumError(CelestialClassError):
    """A Stellarium data file cannot be read (not the layout this reader knows)."""


#: Stellarium's object types (``Nebula::NebulaType``, catalogue edition 3.x).
DSO_TYPES = (
    "galaxy", "active galaxy", "radio galaxy", "interacting galaxy", "quasar", "star cluster",
    "open star cluster", "globular star cluster", "stellar association", "star cloud", "nebula",
    "planetary nebula", "dark nebula", "reflection nebula", "bipolar nebula", "emission nebula",
    "cluster associated with nebulosity", "HII region", "supernova remnant", "interstellar matter",
    "emission object", "BL Lac object", "blazar", "molecular cloud", "young stellar object",
    "possible quasar", "possible planetary nebula", "protoplanetary nebula", "star", "symbiotic star",
    "emission-line star", "supernova candidate", "supernova remnant candidate", "cluster of galaxies",
    "part of a galaxy", "region of the sky", "object of unknown nature",
)

#: Catalogue number fields of a record, in file order, with the prefix a designation takes
#: (``M 31``, ``NGC 224``; an empty number is 0 or ``""``).
CATALOG_PREFIXES = {
    "NGC": "NGC", "IC": "IC", "M": "M", "C": "C", "B": "B", "Sh2": "Sh2-", "VdB": "vdB", "RCW": "RCW",
    "LDN": "LDN", "LBN": "LBN", "Cr": "Cr", "Mel": "Mel", "PGC": "PGC", "UGC": "UGC", "Ced": "Ced",
    "Arp": "Arp", "VV": "VV", "PK": "PK", "PN G": "PN G", "SNR G": "SNR G", "ACO": "Abell", "HCG": "HCG",
    "ESO": "ESO", "vdBH": "vdBH", "DWB": "DWB", "Tr": "Tr", "St": "St", "Ru": "Ru", "vdB-Ha": "vdB-Ha",
}

_HEAD = struct.Struct(">I4dI")          # id, ra, dec (radians), B mag, V mag, type
_SHAPE = struct.Struct(">2di6d14I")     # axes (deg), angle, z, z err, plx, plx err, dist, dist err, 14 numbers
_PAIR = struct.Struct(">2I")            # Arp, VV
_TAIL = struct.Struct(">5I")            # DWB, Tr, St, Ru, vdB-Ha
_NUMBERS_1 = ("NGC", "IC", "M", "C", "B", "Sh2", "VdB", "RCW", "LDN", "LBN", "Cr", "Mel", "PGC", "UGC")
_STRINGS = ("PK", "PN G", "SNR G", "ACO", "HCG", "ESO", "vdBH")
_NUMBERS_2 = ("DWB", "Tr", "St", "Ru", "vdB-Ha")


def _string(data: bytes, pos: int):
    (size,) = struct.unpack_from(">I", data, pos)
    pos += 4
    if size == 0xFFFFFFFF:
        return "", pos
    return data[pos:pos + size].decode("utf-16-be"), pos + size


def read_dso_catalog(path):
    """Read Stellarium's deep-sky catalogue (``nebulae/default/catalog.dat``).

    Parameters
    ----------
    path : path-like

    Returns
    -------
    table : `~astropy.table.Table`
        One row per object: ``id``, ``ra`` and ``dec`` (degrees), ``type``
        (`DSO_TYPES` text), ``morphology`` (the catalogue's morphological
        type), ``major`` and ``minor`` (axes, degrees; 0 when unknown) and
        ``designations`` (``"M 31;NGC 224;PGC 2557;UGC 454"``).
        ``meta`` holds the catalogue's ``version`` and ``edition``.

    Raises
    ------
    StellariumError
        The file is not a catalogue of a known edition, or ends mid-record.
    """
    from astropy.table import Table

    path = pathlib.Path(path)
    try:
        data = gzip.decompress(path.read_bytes())
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise StellariumError(f"not a gzip-compressed Stellarium catalogue ({exc})", path=path) from None
    rows = []
    try:
        version, pos = _string(data, 0)
        edition, pos = _string(data, pos)
        if not version.startswith("3."):
            raise StellariumError(f"catalogue version {version!r}; this reader knows 3.x", path=path)
        while pos < len(data):
            ident, ra, dec, _, _, kind = _HEAD.unpack_from(data, pos)
            morphology, pos = _string(data, pos + _HEAD.size)
            shape = _SHAPE.unpack_from(data, pos)
            ced, pos = _string(data, pos + _SHAPE.size)
            pair = _PAIR.unpack_from(data, pos)
            pos += _PAIR.size
            strings = []
            for _ in _STRINGS:
                value, pos = _string(data, pos)
                strings.append(value)
            tail = _TAIL.unpack_from(data, pos)
            pos += _TAIL.size
            numbers = {**dict(zip(_NUMBERS_1, shape[9:])), "Ced": ced, **dict(zip(("Arp", "VV"), pair)),
                       **dict(zip(_STRINGS, strings)), **dict(zip(_NUMBERS_2, tail))}
            designations = [f"{CATALOG_PREFIXES[key]}{'' if CATALOG_PREFIXES[key].endswith('-') else ' '}{value}"
                            for key, value in numbers.items() if value not in (0, "")]
            rows.append((ident, math.degrees(ra) % 360.0, math.degrees(dec),
                         DSO_TYPES[kind] if kind < len(DSO_TYPES) else "object of unknown nature",
                         morphology.strip(), shape[0], shape[1], ";".join(designations)))
    except (struct.error, UnicodeDecodeError) as exc:
        raise StellariumError(f"catalogue ends mid-record or is not edition 3.x ({exc})", path=path) from None
    names = ("id", "ra", "dec", "type", "morphology", "major", "minor", "designations")
    table = Table(rows=rows, names=names) if rows else Table(names=names)
    table.meta.update(version=version, edition=edition, source=str(path))
    return table


_BARE_FRACTION = re.compile(r"(?<![\w.])(-?)\.(\d)")


def read_textures(path) -> list[dict]:
    """Read Stellarium's list of deep-sky images (``nebulae/default/textures.json``).

    Parameters
    ----------
    path : path-like

    Returns
    -------
    textures : list of dict
        One per image: ``file`` (relative to the list's directory),
        ``credit``, ``info_url`` (empty if none) and ``corners``: four
        (RA, Dec) pairs in degrees, RA in [0, 360), in the order of the
        image's texture corners (0, 0), (1, 0), (1, 1), (0, 1).

    Raises
    ------
    StellariumError
        The list cannot be read or an entry lacks its image or corners.
    """
    path = pathlib.Path(path)
    try:
        text = _BARE_FRACTION.sub(r"\g<1>0.\2", path.read_text(encoding="utf-8"))
        tiles = json.loads(text, strict=False)["subTiles"]  # later editions hold raw tabs in strings
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise StellariumError(f"cannot read the texture list ({exc})", path=path) from None
    textures = []
    for index, tile in enumerate(tiles):
        try:
            corners = [(float(ra) % 360.0, float(dec)) for ra, dec in tile["worldCoords"][0]]
            whole = [[[0, 0], [1, 0], [1, 1], [0, 1]]]
            texture = [tuple(map(float, xy)) for xy in tile.get("textureCoords", whole)[0]]
            credits = {key.lower(): value for key, value in (tile.get("imageCredits") or {}).items()}
            entry = {"file": str(tile["imageUrl"]), "credit": str(credits.get("short", "")).strip(),
                     "info_url": str(credits.get("infourl", "")).strip(), "corners": corners}
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise StellariumError(f"texture entry {index} lacks its image or corners ({exc!r})",
                                  path=path) from None
        if len(corners) != 4 or texture != [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]:
            entry["corners"] = None  # an image mapped in pieces: its scale is not one number
        textures.append(entry)
    return textures

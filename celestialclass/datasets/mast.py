"""Fetch the raw files of a manifest from MAST: cached, resumable, concurrent, verified, atomic."""

from __future__ import annotations

import hashlib
import logging
import pathlib
import shutil
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ..exceptions import CelestialClassError

__all__ = ["Product", "MastArchive", "LocalArchive", "DownloadReport", "download_lcid", "verify_raw_file"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Product:
    """One raw file in an archive: what it is called and what the archive says about it."""

    obsid: str
    filename: str
    uri: str
    size: int | None = None
    sha256: str | None = None


class MastArchive:
    """MAST through ``astroquery.mast`` (needs the network and astroquery)."""

    def products(self, obsids) -> dict:
        """`Product` of each OBSID's ``_raw.fits`` that MAST lists."""
        try:
            from astroquery.mast import Observations
        except ImportError:
            raise CelestialClassError("downloading from MAST needs astroquery: pip install astroquery") from None
        observations = Observations.query_criteria(obs_id=sorted(obsids))
        if len(observations) == 0:
            return {}
        products = Observations.get_product_list(observations)
        products = Observations.filter_products(products, productSubGroupDescription=["RAW"])
        found = {}
        for row in products:
            filename = str(row["productFilename"])
            obsid = filename.split("_")[0].lower()
            if obsid in obsids and filename.endswith("_raw.fits"):
                size = int(row["size"]) if "size" in row.colnames and row["size"] else None
                found[obsid] = Product(obsid, filename, str(row["dataURI"]), size)
        return found

    def fetch(self, product: Product, destination: pathlib.Path) -> None:
        """Download ``product`` to ``destination``."""
        from astroquery.mast import Observations

        status, message, _ = Observations.download_file(product.uri, local_path=str(destination), cache=False)
        if status != "COMPLETE":
            raise OSError(f"MAST download {status}: {message}")


class LocalArchive:
    """A directory standing in for the archive (offline tests, mirrors).

    Files are ``<obsid>_raw.fits``; an optional ``SHA256SUMS`` file
    (``<hex>  <name>`` lines) plays the part of checksums the archive reports.
    """

    def __init__(self, directory):
        self.directory = pathlib.Path(directory)

    def _checksums(self) -> dict:
        sums = self.directory / "SHA256SUMS"
        if not sums.exists():
            return {}
        pairs = (line.split() for line in sums.read_text().splitlines() if line.strip())
        return {name: digest for digest, name in pairs}

    def products(self, obsids) -> dict:
        sums = self._checksums()
        found = {}
        for obsid in obsids:
            path = self.directory / f"{obsid}_raw.fits"
            if path.exists():
                found[obsid] = Product(obsid, path.name, path.as_uri(), path.stat().st_size, sums.get(path.name))
        return found

    def fetch(self, product: Product, destination: pathlib.Path) -> None:
        shutil.copyfile(self.directory / product.filename, destination)


@dataclass
class DownloadReport:
    """What `download_lcid` did: OBSIDs downloaded, already present, and failed (with reasons)."""

    downloaded: list = field(default_factory=list)
    cached: list = field(default_factory=list)
    failed: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when nothing failed."""
        return not self.failed

    def summary(self) -> str:
        """A few lines for people."""
        lines = [f"downloaded {len(self.downloaded)}, already present {len(self.cached)}, "
                 f"failed {len(self.failed)}"]
        lines += [f"  {obsid}: {reason}" for obsid, reason in sorted(self.failed.items())]
        return "\n".join(lines)


def verify_raw_file(path, product: Product | None = None) -> None:
    """Check a downloaded raw file: size and checksum the archive reported, FITS checksums, layout.

    Raises
    ------
    celestialclass.CelestialClassError
        Naming the file and what does not match.
    """
    from astropy.io import fits

    from ..io import describe_raw

    path = pathlib.Path(path)
    if product is not None and product.size is not None and path.stat().st_size != product.size:
        raise CelestialClassError(
            f"size {path.stat().st_size} bytes, the archive reports {product.size}", path=path)
    if product is not None and product.sha256 is not None:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != product.sha256:
            raise CelestialClassError(f"sha256 {digest} differs from the archive's {product.sha256}", path=path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # astropy warns on CHECKSUM/DATASUM mismatches
            with fits.open(path, checksum=True) as hdul:
                hdul.verify("exception")
                for hdu in hdul:
                    _ = hdu.header
    except Exception as exc:
        raise CelestialClassError(f"FITS verification failed ({exc})", path=path) from None
    info = describe_raw(path)
    if not info["supported"]:
        raise CelestialClassError(info["reason"], path=path)


def download_lcid(manifest, out_dir, *, archive=None, workers: int = 4, retries: int = 2,
                  show_progress: bool | None = None) -> DownloadReport:
    """Fetch every ``<OBSID>_raw.fits`` a manifest lists into ``out_dir``.

    Files already in ``out_dir`` are kept (so an interrupted download
    resumes) only if they pass the same verification as a new download,
    against what the archive reports now (size, and sha256 where it gives
    one); a file that fails is fetched again. New files are fetched concurrently into
    temporary names, verified (size and checksum where the archive reports
    them, FITS CHECKSUM/DATASUM, a supported raw layout) and only then
    renamed into place. Failures never stop the others: they are retried,
    then reported.

    Parameters
    ----------
    manifest : `~astropy.table.Table` or str
        A manifest or anything `load_manifest` takes.
    out_dir : str or path-like
    archive : object, optional
        ``MastArchive()`` by default; `LocalArchive` for a local mirror.
    workers : int, optional
        Concurrent downloads.
    retries : int, optional
        Extra attempts per file.
    show_progress : bool, optional
        Progress bar (default: on a terminal).

    Returns
    -------
    DownloadReport
    """
    from ..utils.files import atomic_path, remove_stale_temporaries
    from ..utils.progress import progress
    from .manifests import load_manifest

    table = manifest if hasattr(manifest, "colnames") else load_manifest(manifest)
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(out_dir)
    archive = archive or MastArchive()
    report = DownloadReport()
    obsids = sorted({str(o).lower() for o in table["OBSID"]})
    try:  # what the archive says of every file, those already here included
        products = archive.products(set(obsids))
    except CelestialClassError:
        raise
    except Exception as exc:
        raise CelestialClassError(f"cannot list the archive's products ({exc})") from None
    needed = []
    for obsid in obsids:
        path = out_dir / f"{obsid}_raw.fits"
        if obsid not in products and not path.exists():
            report.failed[obsid] = "not found in the archive"
            continue
        if path.exists():
            try:
                verify_raw_file(path, products.get(obsid))
            except CelestialClassError as exc:
                log.warning("%s: fetching again: %s", obsid, exc)
            else:
                report.cached.append(obsid)
                continue
            if obsid not in products:
                report.failed[obsid] = "fails verification, and the archive does not list it to fetch again"
                continue
        needed.append(obsid)
    if not needed:
        return report

    def fetch(obsid):
        product = products[obsid]
        target = out_dir / f"{obsid}_raw.fits"
        error = None
        for _ in range(retries + 1):
            tmp = None
            try:
                with atomic_path(target) as tmp:
                    archive.fetch(product, tmp)
                    verify_raw_file(tmp, product)
                return obsid, None
            except Exception as exc:  # one file's failure must not stop the batch
                error = str(exc).replace(str(tmp), str(target)) if tmp is not None else str(exc)
                log.warning("%s: %s", obsid, error)
        return obsid, error

    todo = [o for o in needed if o in products]
    with ThreadPoolExecutor(max_workers=max(1, int(workers))) as pool:
        for obsid, error in progress(pool.map(fetch, todo), total=len(todo), desc="download",
                                     enabled=show_progress):
            if error is None:
                report.downloaded.append(obsid)
            else:
                report.failed[obsid] = error
    return report

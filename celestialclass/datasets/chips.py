"""`ChipDataset`: raw chips listed in a manifest, read and preprocessed for a model."""

from __future__ import annotations

import logging
import pathlib

from ..exceptions import CelestialClassError
from ..preprocess import Preprocess
from ..schema import CLASS_NAMES

__all__ = ["ChipDataset", "raw_path"]

log = logging.getLogger(__name__)


def _release_page_cache(path) -> None:
    """Tell the OS that a file's pages will not be read again (its chip is kept in memory now).

    Without this the kernel keeps every raw file read in its page cache, and a
    training run holding ~13 GB of chips then spends much of its time reclaiming
    pages for each new tensor.
    """
    import os

    if not hasattr(os, "posix_fadvise"):
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    except OSError:
        pass
    finally:
        os.close(fd)


def raw_path(data_dir, obsid: str) -> pathlib.Path:
    """Where a manifest's OBSID is expected: ``<data_dir>/<obsid>_raw.fits`` (or ``.fits.gz``)."""
    base = pathlib.Path(data_dir) / f"{obsid}_raw.fits"
    gz = base.with_name(base.name + ".gz")
    return gz if not base.exists() and gz.exists() else base


class ChipDataset:
    """A torch-style dataset of the chips a manifest lists, read from a directory of raw files.

    Each item is ``(tensor, label)``: the chip read with `celestialclass.io.read_raw`
    (its ``HDU Index``) and turned into a (1, rows, columns) float32 tensor
    by ``preprocess`` (the same object the classifier uses at inference),
    and the class index in ``("galaxy", "nsc")``.

    Parameters
    ----------
    manifest : `~astropy.table.Table`
        From `celestialclass.datasets.load_manifest`.
    data_dir : str or path-like
        Directory holding ``<OBSID>_raw.fits`` files.
    preprocess : `~celestialclass.preprocess.Preprocess`, optional
        LCID by default; ``Preprocess(resize=(224, 448))`` gives LCID-Resize.
    on_error : {'raise', 'skip'}, optional
        What to do with files that are missing, corrupt or unsupported
        (checked from their headers when the dataset is made): ``'raise'`` a
        `~celestialclass.CelestialClassError` listing them, or ``'skip'`` their
        chips with a logged warning.
    cache : bool, optional
        Keep each item's tensor in memory once read, as float16 (half the
        memory: 16 MiB for a full-resolution chip; the preprocessed values,
        asinh-stretched, are kept to 5e-4 of themselves), and give it back as
        float32; the raw file's pages are released from the OS page cache, as
        they will not be read again.
    transform : callable, optional
        Applied to each preprocessed chip, as a batch of one ``(1, 1, rows,
        columns)``, before it is cached and returned: a model's fixed,
        parameter-free first layer (`celestialclass.models.PatchStatistics`),
        so that training computes it once per chip and caches its much
        smaller output.

    Attributes
    ----------
    manifest : `~astropy.table.Table`
        The rows kept.
    skipped : list of (str, str)
        (file, reason) of what was skipped.
    """

    def __init__(self, manifest, data_dir, preprocess: Preprocess | None = None, on_error: str = "raise",
                 cache: bool = False, transform=None):
        from ..io import describe_raw

        if on_error not in ("raise", "skip"):
            raise CelestialClassError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        self.preprocess = preprocess or Preprocess()
        self.data_dir = pathlib.Path(data_dir)
        if not self.data_dir.is_dir():
            raise CelestialClassError("data directory does not exist", path=self.data_dir)
        self.class_names = CLASS_NAMES
        problems = {}
        missing = []
        for obsid in sorted(set(manifest["OBSID"])):
            path = raw_path(self.data_dir, obsid)
            if not path.exists():
                missing.append(path.name)
                problems[obsid] = "missing"
                continue
            info = describe_raw(path)
            if not info["supported"]:
                problems[obsid] = info["reason"]
        if problems and on_error == "raise":
            lines = [f"{name}" for name in missing[:20]]
            more = f" (and {len(missing) - 20} more)" if len(missing) > 20 else ""
            broken = {k: v for k, v in problems.items() if v != "missing"}
            message = []
            if missing:
                message.append(f"{len(missing)} file(s) missing: {', '.join(lines)}{more}")
            if broken:
                message.append(f"{len(broken)} unreadable: " + "; ".join(list(broken.values())[:5]))
            raise CelestialClassError(f"{'; '.join(message)}; pass on_error='skip' to leave them out",
                                      path=self.data_dir)
        self.skipped = []
        for obsid, reason in problems.items():
            log.warning("skipping %s: %s", obsid, reason)
            self.skipped.append((obsid, reason))
        keep = [str(o) not in problems for o in manifest["OBSID"]]
        self.manifest = manifest[keep]
        self.labels = [self.class_names.index(label) for label in self.manifest["label"]]
        self._cache = {} if cache else None
        self._read_before: set = set()
        self.transform = transform

    def __len__(self) -> int:
        return len(self.manifest)

    def path(self, index: int) -> pathlib.Path:
        """The raw file of item ``index``."""
        return raw_path(self.data_dir, self.manifest["OBSID"][index])

    def read(self, index: int):
        """Item ``index`` as a trimmed `~astropy.nddata.CCDData` (before scaling)."""
        return self.preprocess.read(self.path(index), hdu=int(self.manifest["HDU Index"][index]))

    def assume_read(self, indices) -> None:
        """Treat these items as read and cached before (by a run this one resumes).

        With ``cache``, an item's first read gives its full-precision values
        and every later read the float16-cached ones. A resumed run rebuilds
        the cache; so that it sees exactly what an uninterrupted run would,
        the items that run had already read give the cached values from
        their first read here.
        """
        self._read_before.update(int(i) for i in indices)

    def __getitem__(self, index: int):
        import torch

        if self._cache is not None and index in self._cache:
            return self._cache[index].to(torch.float32), self.labels[index]
        hdu = int(self.manifest["HDU Index"][index])
        tensor = torch.from_numpy(self.preprocess.read_image(self.path(index), hdu=hdu))[None]
        if self.transform is not None:
            with torch.no_grad():
                tensor = self.transform(tensor[None])[0]
        if self._cache is not None:
            self._cache[index] = tensor.to(torch.float16)
            _release_page_cache(self.path(index))
            if index in self._read_before:
                return self._cache[index].to(torch.float32), self.labels[index]
        return tensor, self.labels[index]

"""Datasets: the paper's LCID manifests, MAST downloads, chips for training, splits by body, real-image banks."""

from .bank import BANK_NAME, LEFT_OUT_NAME, BankError, build_bank, load_bank
from .chips import ChipDataset, raw_path
from .manifests import (BUILTIN_MANIFESTS, MIN_COVERAGE, MIN_VISIBILITY, ManifestError,
                        load_manifest, manifest_sha256, shows_object, stack_manifests, write_manifest)
from .mast import DownloadReport, LocalArchive, MastArchive, download_lcid
from .splits import split_by_body

__all__ = ["load_manifest", "write_manifest", "manifest_sha256", "split_by_body", "ChipDataset", "raw_path",
           "download_lcid", "MastArchive", "LocalArchive", "DownloadReport", "BUILTIN_MANIFESTS",
           "ManifestError", "build_bank", "load_bank", "BankError", "BANK_NAME",
           "LEFT_OUT_NAME", "shows_object", "stack_manifests", "MIN_COVERAGE", "MIN_VISIBILITY"]

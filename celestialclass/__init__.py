"""celestialclass: galaxy or nebula/star cluster, from one raw HST chip.

The package imports its subpackages on first use, so that the command line
starts fast:

- `celestialclass.io` reads raw ACS/WFC and WFC3/UVIS exposures. The
  ``hst_raw`` format is registered with astropy's unified I/O on ``import
  celestialclass``: at once if `astropy.nddata` is loaded, else as soon as it
  is (a post-import hook), so that the command line need not load astropy.
- `celestialclass.simulate` writes raw exposures.
- `CelestialClassifier`, `classify_ccd` and `classify_files` classify chips;
  `watch` classifies raw files as they land (`celestialclass.realtime`).
"""

import importlib

import wrapt

from .exceptions import CelestialClassError

try:
    from ._version import version as __version__
except ImportError:  # pragma: no cover - a source tree that was never built
    __version__ = "0.0.0"

__all__ = ["CelestialClassError", "CelestialClassifier", "Prediction", "classify_ccd", "classify_files", "watch",
           "__version__"]

_SUBMODULES = ("io", "simulate", "exceptions", "cli", "models", "datasets", "training", "evaluation",
               "preprocess", "weights", "classify", "realtime")
_CLASSIFY = ("CelestialClassifier", "Prediction", "classify_ccd", "classify_files")


def _register_hst_raw(_module) -> None:
    """Register the ``hst_raw`` CCDData reader (`celestialclass.io.registry`) once astropy.nddata is loaded."""
    importlib.import_module(".io.registry", __name__).register()


wrapt.register_post_import_hook(_register_hst_raw, "astropy.nddata")


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _CLASSIFY:
        return getattr(importlib.import_module(".classify", __name__), name)
    if name == "watch":
        return importlib.import_module(".realtime", __name__).watch
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_SUBMODULES) | set(_CLASSIFY) | {"watch"})

"""Optional dependencies, detected once, centrally (as photutils' ``utils/_optional_deps.py`` does).

A function that needs one calls `require` before doing any work, so that a
long evaluation does not run to its end and then fail on a missing plotting
library.
"""

from __future__ import annotations

import importlib.util

from ..exceptions import CelestialClassError

__all__ = ["has", "require", "pyplot", "EXTRAS"]

#: Optional module -> the extra of celestialclass that installs it.
EXTRAS = {"matplotlib": "plot", "dask": "dask", "distributed": "dask", "astroquery": "mast"}


def has(module: str) -> bool:
    """Whether ``module`` can be imported (without importing it)."""
    return importlib.util.find_spec(module) is not None


def require(module: str, what: str) -> None:
    """Raise a `CelestialClassError` naming the extra to install when ``module`` is missing.

    Examples
    --------
    >>> from celestialclass.utils.optional import require
    >>> require("json", "reading JSON")
    >>> require("no_such_module_here", "this")
    Traceback (most recent call last):
    ...
    celestialclass.exceptions.CelestialClassError: this needs no_such_module_here: pip install no_such_module_here
    """
    if not has(module):
        extra = EXTRAS.get(module)
        how = f"pip install 'celestialclass[{extra}]'" if extra else f"pip install {module}"
        raise CelestialClassError(f"{what} needs {module}: {how}")


def pyplot():
    """matplotlib's pyplot on the non-interactive Agg backend (after `require`)."""
    require("matplotlib", "plotting")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt

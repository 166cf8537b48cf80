"""Model cards: what a weights file is, how it was made, on what data, with what results."""

from __future__ import annotations

import json
import pathlib
import platform

__all__ = ["CARD_FORMAT", "software_versions", "write_card", "read_card"]

#: Identifier of the model-card schema.
CARD_FORMAT = "celestialclass-model-card/1"


def software_versions() -> dict:
    """Versions of the software a run used, and the CPU kernels torch chose.

    Training is reproducible bit for bit only on the same kernels: torch
    picks its vectorised CPU kernels (``AVX2``, ``AVX512``, ...) by what the
    processor offers, and they round differently.
    """
    import astropy
    import numpy
    import torch

    from . import __version__

    return {"celestialclass": __version__, "torch": torch.__version__, "numpy": numpy.__version__,
            "astropy": astropy.__version__, "python": platform.python_version(),
            "machine": platform.machine(), "torch_cpu_capability": torch.backends.cpu.get_cpu_capability()}


def write_card(path, card: dict) -> None:
    """Write a model card (JSON) atomically."""
    from .utils.files import atomic_path
    from .utils.jsonio import dumps

    with atomic_path(path) as tmp:
        tmp.write_text(dumps({"format": CARD_FORMAT, **card}, indent=2, sort_keys=True) + "\n")


def read_card(path) -> dict:
    """Read a model card."""
    from .exceptions import CelestialClassError

    try:
        card = json.loads(pathlib.Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise CelestialClassError(f"not a readable model card ({exc})", path=path) from None
    if card.get("format") != CARD_FORMAT:
        raise CelestialClassError(f"not a {CARD_FORMAT} file (format {card.get('format')!r})", path=path)
    return card

"""Weights files: safetensors with metadata, written atomically, sha256-verified on every load."""

from __future__ import annotations

import hashlib
import json
import pathlib

from .exceptions import CelestialClassError

__all__ = ["WeightsIntegrityError", "file_sha256", "save_weights", "load_weights", "load_trained"]


class WeightsIntegrityError(CelestialClassError):
    """A weights file does not match its recorded sha256, or cannot be parsed."""


def file_sha256(path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_weights(state_dict: dict, path, metadata: dict | None = None) -> str:
    """Write a state dict as safetensors (atomically) with JSON metadata; returns its sha256.

    Parameters
    ----------
    state_dict : dict of str to `torch.Tensor`
    path : str or path-like
    metadata : dict, optional
        JSON-serialisable; stored in the safetensors header under
        ``"celestialclass"``.
    """
    from safetensors.torch import save_file

    from .utils.files import atomic_path

    tensors = {key: value.detach().to("cpu").contiguous() for key, value in state_dict.items()}
    header = {"celestialclass": json.dumps(metadata or {}, sort_keys=True)}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=header)
    return file_sha256(path)


def load_weights(path, sha256: str | None = None) -> tuple[dict, dict]:
    """Read a safetensors weights file, verifying its sha256 first when one is given.

    Returns
    -------
    state_dict, metadata : dict, dict

    Raises
    ------
    WeightsIntegrityError
        When the file's sha256 differs from ``sha256``, or the file is not a
        readable safetensors file (truncated, tampered).
    """
    from safetensors import safe_open

    path = pathlib.Path(path)
    if not path.is_file():
        raise CelestialClassError("no such weights file", path=path)
    if sha256 is not None:
        actual = file_sha256(path)
        if actual != sha256.lower():
            raise WeightsIntegrityError(
                f"sha256 mismatch: expected {sha256}, the file has {actual}; it was changed or is incomplete",
                path=path)
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = json.loads((handle.metadata() or {}).get("celestialclass", "{}"))
            state = {key: handle.get_tensor(key) for key in handle.keys()}
    except Exception as exc:  # safetensors raises its own error types
        raise WeightsIntegrityError(f"not a readable safetensors file ({exc})", path=path) from None
    return state, metadata


def load_trained(path, device: str = "cpu"):
    """A model trained by ``celestialclass train``: its weights, preprocessing and card.

    Parameters
    ----------
    path : path-like
        The training output directory, or its ``model.safetensors`` (with
        ``model_card.json`` beside it).
    device : str, optional

    Returns
    -------
    model, preprocess, card
        The model (eval mode) with verified weights, its
        `~celestialclass.preprocess.Preprocess`, and the model card (dict).
    """
    from .models import get_model
    from .preprocess import Preprocess
    from .training.card import read_card

    path = pathlib.Path(path)
    directory = path if path.is_dir() else path.parent
    card = read_card(directory / "model_card.json")
    weights = directory / card["weights"]["file"] if path.is_dir() else path
    state, _ = load_weights(weights, sha256=card["weights"]["sha256"])
    model = get_model(card["architecture"])
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise WeightsIntegrityError(
            f"weights do not fit {card['architecture']} ({str(exc).splitlines()[0]})", path=weights) from None
    return model.to(device).eval(), Preprocess.from_dict(card["preprocess"]), card

"""Weights files: safetensors with metadata, written atomically, sha256-verified on every load."""

from __future__ import annotations

import functools
import hashlib
import json
import pathlib
from dataclasses import dataclass, field

from .exceptions import CelestialClassError
from .schema import CLASS_NAMES

__all__ = ["WeightsIntegrityError", "WeightsEntry", "file_sha256", "save_weights", "load_weights",
           "load_trained", "check_sha256", "register_weights", "get_weights", "list_weights", "default_weights",
           "resolve_weights", "DEFAULT_WEIGHTS"]


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


def check_sha256(sha256, where=None) -> str:
    """``sha256`` as 64 lower-case hex digits; absent, null or malformed is an error, never "skip".

    Raises
    ------
    WeightsIntegrityError

    Examples
    --------
    >>> from celestialclass.weights import check_sha256
    >>> check_sha256("AB" * 32) == "ab" * 32
    True
    >>> check_sha256(None)
    Traceback (most recent call last):
    ...
    celestialclass.weights.WeightsIntegrityError: no sha256 for these weights: every weights file is verified ...
    """
    text = sha256.strip().lower() if isinstance(sha256, str) else None
    if text is None or len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
        got = "none" if sha256 is None else repr(sha256)
        raise WeightsIntegrityError(f"no sha256 for these weights: every weights file is verified on every load, "
                                    f"and a sha256 of 64 hex digits is required (got {got})", path=where)
    return text


def load_weights(path, sha256: str) -> tuple[dict, dict]:
    """Read a safetensors weights file, verifying its sha256 first (always: it is required).

    Returns
    -------
    state_dict, metadata : dict, dict

    Raises
    ------
    WeightsIntegrityError
        When the file's sha256 differs from ``sha256``, or the file is not a
        readable safetensors file (truncated, tampered).
    """
    from safetensors.torch import load

    path = pathlib.Path(path)
    if not path.is_file():
        raise CelestialClassError("no such weights file", path=path)
    sha256 = check_sha256(sha256, path)
    data = path.read_bytes()  # read once: the bytes verified are the bytes loaded
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        raise WeightsIntegrityError(
            f"sha256 mismatch: expected {sha256}, the file has {actual}; it was changed or is incomplete",
            path=path)
    try:
        size = int.from_bytes(data[:8], "little")
        header = json.loads(data[8:8 + size])
        metadata = json.loads((header.get("__metadata__") or {}).get("celestialclass", "{}"))
        state = load(data)
    except Exception as exc:  # safetensors raises its own error types
        raise WeightsIntegrityError(f"not a readable safetensors file ({exc})", path=path) from None
    return state, metadata


def load_trained(path, device: str = "cpu"):
    """A trained model: its weights, preprocessing and card.

    Parameters
    ----------
    path : path-like or str
        What `resolve_weights` takes: a training output directory, its
        ``model.safetensors`` (with ``model_card.json`` beside it), a
        registered name.
    device : str, optional

    Returns
    -------
    model, preprocess, card
        The model (eval mode) with verified weights, its
        `~celestialclass.preprocess.Preprocess`, and the model card (dict).
    """
    entry = resolve_weights(path)
    return entry.build_model().to(device).eval(), entry.preprocess, entry.card


#: Name of the registry entry ``CelestialClassifier()`` uses.
DEFAULT_WEIGHTS = "default"
_PACKAGE_DATA = pathlib.Path(__file__).parent / "data" / "weights"


@dataclass(frozen=True)
class WeightsEntry:
    """A set of weights and everything needed to use them, in the manner of torchvision's weights enums.

    Attributes
    ----------
    name : str
        Registry name (``"default"`` is what `CelestialClassifier` uses).
    architecture : str
        Registered model name the weights fit (`celestialclass.models.list_models`).
    location : str
        ``"package:FILE"`` (shipped in ``celestialclass/data/weights``), a
        local path, or an ``http(s)`` URL (fetched into astropy's download cache).
    sha256 : str
        Hex digest of the file; verified on every load, not only on download.
    preprocess : `~celestialclass.preprocess.Preprocess`
        How a raw chip becomes the input these weights expect; it fixes the
        input geometry (`input_size`).
    class_names : tuple of str
        The outputs, in order.
    card : dict
        The full model card: training data, command, metrics, ...

    Examples
    --------
    >>> from celestialclass.weights import get_weights
    >>> entry = get_weights("default")
    >>> entry.architecture, entry.class_names, entry.input_size
    ('celestialnet-lite-x2', ('galaxy', 'nsc'), (1, 2048, 4096))
    """

    name: str
    architecture: str
    location: str
    sha256: str
    preprocess: object
    class_names: tuple = CLASS_NAMES
    card: dict = field(default_factory=dict, compare=False)

    def __post_init__(self):
        from .preprocess import Preprocess

        object.__setattr__(self, "sha256", check_sha256(self.sha256, self.location))
        if isinstance(self.preprocess, dict):
            object.__setattr__(self, "preprocess", Preprocess.from_dict(self.preprocess))
        object.__setattr__(self, "class_names", tuple(self.class_names))

    @property
    def input_size(self) -> tuple | None:
        """(channels, rows, columns) of the input, when the preprocessing fixes it."""
        shape = self.preprocess.output_shape
        return (1, *shape) if shape else None

    @property
    def training_data(self) -> str:
        """What the weights were trained on (from the card)."""
        return self.card.get("training", {}).get("data", "")

    @property
    def command(self) -> str:
        """The command that trained them (from the card)."""
        return self.card.get("training", {}).get("command") or ""

    @property
    def metrics(self) -> dict:
        """Measured results, with what they were measured on (from the card)."""
        return self.card.get("metrics", {})

    @property
    def temperature(self) -> float:
        """The calibration temperature the probabilities are computed with (1 when the card has none).

        ``softmax(logits / temperature)``; fitted on validation objects by
        ``celestialclass train`` and ``celestialclass default-model``
        (`celestialclass.training.fit_temperature`), recorded in the card's
        ``calibration``.
        """
        import math

        value = (self.card.get("calibration") or {}).get("temperature", 1.0)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) \
                or value <= 0:
            raise WeightsIntegrityError(f"the model card's calibration temperature {value!r} is not a positive "
                                        "number", path=self.location)
        return float(value)

    @property
    def training_log(self) -> pathlib.Path | None:
        """The ``log.csv`` ``celestialclass train`` wrote beside local weights; None for bundled or remote ones."""
        if self.location.startswith(("package:", "http://", "https://")):
            return None
        log = pathlib.Path(self.location).parent / "log.csv"
        return log if log.is_file() else None

    def path(self) -> pathlib.Path:
        """The local file (downloading a URL into astropy's cache first)."""
        if self.location.startswith("package:"):
            return _PACKAGE_DATA / self.location[len("package:"):]
        if self.location.startswith(("http://", "https://")):
            return _download(self.location)
        return pathlib.Path(self.location)

    def load_state(self) -> dict:
        """The state dict, after checking the file's sha256."""
        state, _ = load_weights(self.path(), sha256=self.sha256)
        return state

    def build_model(self):
        """The architecture with these (sha256-verified) weights loaded, in eval mode."""
        from .models import get_model

        state = self.load_state()
        model = get_model(self.architecture)
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:
            raise WeightsIntegrityError(
                f"weights do not fit {self.architecture} ({str(exc).splitlines()[0][:200]})",
                path=self.location) from None
        return model.eval()

    @classmethod
    def from_card(cls, card: dict, location: str, name: str | None = None) -> "WeightsEntry":
        """An entry from a model card written by ``celestialclass train``."""
        try:
            architecture, preprocess = card["architecture"], card["preprocess"]
            sha256 = (card.get("weights") or {}).get("sha256")
        except (KeyError, TypeError, AttributeError):
            raise WeightsIntegrityError("the model card lacks its architecture or preprocessing",
                                        path=location) from None
        return cls(name=name or card.get("name", pathlib.Path(location).stem), architecture=architecture,
                   location=str(location), sha256=check_sha256(sha256, f"{location} (model card)"),
                   preprocess=preprocess, class_names=tuple(card.get("class_names", CLASS_NAMES)), card=card)

    @classmethod
    def from_card_file(cls, path, package: bool = False) -> "WeightsEntry":
        """An entry named after a model card file (``default.json`` -> ``default``), its weights beside it.

        With ``package``, the location is ``"package:FILE"`` (shipped in ``celestialclass/data/weights``).
        """
        from .cards import read_card

        path = pathlib.Path(path)
        card = read_card(path)
        file = _weights_file(card, path)
        return cls.from_card(card, f"package:{file}" if package else str(path.parent / file), name=path.stem)


_WEIGHTS: dict = {}


def register_weights(entry: WeightsEntry, overwrite: bool = False) -> WeightsEntry:
    """Add an entry to the weights registry."""
    if entry.name in _WEIGHTS and not overwrite:
        raise CelestialClassError(f"weights {entry.name!r} are already registered")
    _WEIGHTS[entry.name] = entry
    return entry


def list_weights(architecture: str | None = None) -> list[str]:
    """Names of the registered weights, or of those of one architecture.

    Examples
    --------
    >>> from celestialclass.weights import list_weights
    >>> list_weights("celestialnet-lite-x2"), list_weights("resnet18")
    (['default'], [])
    """
    _load_builtin()
    return sorted(name for name, entry in _WEIGHTS.items()
                  if architecture is None or entry.architecture == architecture)


def get_weights(name: str) -> WeightsEntry:
    """A registered entry by name."""
    _load_builtin()
    try:
        return _WEIGHTS[name]
    except KeyError:
        known = ", ".join(sorted(_WEIGHTS)) or "none (no weights are bundled with this version)"
        raise CelestialClassError(f"unknown weights {name!r}; registered: {known}") from None


def default_weights(architecture: str) -> WeightsEntry:
    """The weights an architecture names as its default (`celestialclass.models.ModelInfo.default_weights`).

    Raises
    ------
    celestialclass.CelestialClassError
        The architecture is unknown, or names no default weights (the
        message lists the registered weights of it, if any).
    """
    from .models import get_model_info

    info = get_model_info(architecture)
    if info.default_weights is None:
        have = list_weights(architecture)
        also = f"; registered weights of it: {', '.join(have)}" if have else ""
        raise CelestialClassError(
            f"no weights are bundled for {architecture!r}: train some (celestialclass train --model "
            f"{architecture}) and pass weights=OUT_DIR (--weights OUT_DIR on the command line){also}")
    return get_weights(info.default_weights)


@functools.lru_cache(maxsize=None)
def _load_builtin() -> None:
    """Register the weights shipped in the package (each a model card beside its file), once."""
    if not _PACKAGE_DATA.is_dir():
        return
    for card_path in sorted(_PACKAGE_DATA.glob("*.json")):
        entry = WeightsEntry.from_card_file(card_path, package=True)
        _WEIGHTS.setdefault(entry.name, entry)


def resolve_weights(spec, sha256: str | None = None) -> WeightsEntry:
    """A `WeightsEntry` from a registry name, a training output (directory or weights file), or a URL.

    Parameters
    ----------
    spec : str or path-like
        A name from `list_weights`; a directory written by ``celestialclass
        train`` (its ``model_card.json`` gives the sha256); a model card
        (``.json``) with its weights file beside it; a ``.safetensors``
        file with ``model_card.json`` beside it, or with ``sha256`` given; an
        ``http(s)`` URL with ``sha256`` given (or ``#sha256=HEX`` appended).
    sha256 : str, optional
        The expected digest, for files and URLs without a card.
    """
    from .cards import read_card

    text = str(spec)
    is_url = text.startswith(("http://", "https://"))
    if not is_url and not pathlib.Path(text).exists() and "/" not in text and not text.endswith(".safetensors"):
        return get_weights(text)
    if text.startswith(("http://", "https://")):
        url, _, fragment = text.partition("#")
        digest = sha256 or (fragment[len("sha256="):] if fragment.startswith("sha256=") else None)
        if not digest:
            raise CelestialClassError(f"weights from a URL need their sha256 (sha256=... or {url}#sha256=HEX)")
        location = url
        _, metadata = load_weights(_download(url), sha256=digest)
        return _entry_from_metadata(url.rsplit("/", 1)[-1], location, digest, metadata)
    path = pathlib.Path(text)
    if path.suffix == ".json" and path.is_file():  # a model card, its weights file beside it
        return WeightsEntry.from_card_file(path)
    directory = path if path.is_dir() else path.parent
    if (directory / "model_card.json").exists() and (path.is_dir() or sha256 is None):
        card = read_card(directory / "model_card.json")
        weights = directory / _weights_file(card, directory / "model_card.json") if path.is_dir() else path
        return WeightsEntry.from_card(card, str(weights))
    if not path.is_file():
        raise CelestialClassError("no such weights file or training output directory", path=path)
    if sha256 is None:
        raise CelestialClassError(
            "no model_card.json beside these weights: give sha256=... to load them", path=path)
    _, metadata = load_weights(path, sha256=sha256)
    return _entry_from_metadata(path.stem, str(path), sha256, metadata)


def _weights_file(card: dict, where) -> str:
    """The weights file a model card names."""
    file = (card.get("weights") or {}).get("file") if isinstance(card.get("weights"), dict) else None
    if not isinstance(file, str) or not file:
        raise WeightsIntegrityError("the model card has no weights record (file and sha256)", path=where)
    return file


def _download(url: str) -> pathlib.Path:
    """A URL's file in astropy's download cache."""
    from astropy.utils.data import download_file

    try:
        return pathlib.Path(download_file(url, cache=True))
    except Exception as exc:
        raise CelestialClassError(f"cannot download weights {url} ({exc})") from None


def _entry_from_metadata(name: str, location: str, sha256: str, metadata: dict) -> WeightsEntry:
    """An entry for a weights file without a card, from what its safetensors header says."""
    if "architecture" not in metadata or "preprocess" not in metadata:
        raise CelestialClassError(f"{location}: the file does not say its architecture and preprocessing")
    return WeightsEntry(name, metadata["architecture"], location, sha256, metadata["preprocess"],
                        tuple(metadata.get("class_names", CLASS_NAMES)))

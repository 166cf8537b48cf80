"""Model cards: what a weights file is, how it was made, on what data, with what results."""

from __future__ import annotations

import json
import pathlib
import platform

__all__ = ["CARD_FORMAT", "EVALUATION_SETS", "software_versions", "write_card", "read_card", "card_summary"]

#: Identifier of the model-card schema.
CARD_FORMAT = "celestialclass-model-card/1"


#: A default-model card's evaluation sets (its ``metrics`` keys), in the order they are shown, and
#: their names wherever they are shown (``weights info``, the build's summary, the documentation).
EVALUATION_SETS = {"held_out": "held-out bodies", "blurry": "blurry set", "held_out_real": "held-out bank objects"}


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


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.1f} %"


def _result_line(name: str, metrics: dict, baseline: dict | None) -> str:
    interval = metrics.get("interval", {}).get("accuracy")
    text = f"{name}: {_pct(metrics['accuracy'])}"
    if interval and all(v == v for v in interval):
        text += f" ({_pct(interval[0])}-{_pct(interval[1])}, 95 % by bootstrap over objects)"
    text += (f" of {metrics['n']} chips; F1 galaxy {metrics['f1']['galaxy']:.3f}, "
             f"nebula/star cluster {metrics['f1']['nsc']:.3f}")
    if baseline:
        text += f"; ResNet18 on LCID-Resize {_pct(baseline['accuracy'])}"
    shortcuts = metrics.get("baselines") or {}
    if shortcuts:
        text += "; rules without pixels: " + ", ".join(f"{k} {_pct(v['accuracy'])}" for k, v in shortcuts.items())
    return text


def card_summary(card: dict, *, name: str | None = None, location: str | None = None) -> str:
    """A model card as a person reads it: what the model is, what it saw, how well it does on what, how to rebuild it.

    ``celestialclass weights info`` prints this (``--json`` gives the card's fields).

    Examples
    --------
    >>> from celestialclass.cards import card_summary
    >>> from celestialclass.weights import get_weights
    >>> print(card_summary(get_weights("default").card).splitlines()[0])  # doctest: +ELLIPSIS
    default: celestialnet-lite-x2, input 1 x 2048 x 4096 ...
    """
    name = name or card.get("name", "?")
    size = card.get("input_size")
    lines = [f"{name}: {card.get('architecture', '?')}, input {' x '.join(map(str, size)) if size else 'any size'} "
             f"({', '.join(f'{k} {v}' for k, v in (card.get('preprocess') or {}).items() if v is not None)})"]
    if location:
        lines.append(f"  file: {location}, sha256 {card.get('weights', {}).get('sha256', '?')}")
    else:
        lines.append(f"  sha256: {card.get('weights', {}).get('sha256', '?')}")
    training = card.get("training", {})
    lines.append(f"  trained on: {training.get('data', 'not recorded')}")
    if "manifest" in training:
        m = training["manifest"]
        lines.append(f"    {m.get('chips', '?')} chips of {m.get('bodies', '?')} objects; recipe "
                     f"{training.get('recipe', {}).get('name', '?')}, {training.get('epochs_completed', '?')} epochs, "
                     f"seed {training.get('seed', '?')}")
    bank = card.get("bank")
    if bank:
        lines.append(f"    real images: {bank.get('images', '?')} images of {bank.get('objects', '?')} objects from "
                     f"{bank.get('source', '?')}; {bank.get('note', '')}")
    calibration = card.get("calibration")
    if calibration and calibration.get("method") == "temperature":
        lines.append(f"  calibration: temperature {calibration['temperature']:.3f}, fitted on "
                     f"{calibration['fitted_on']} (expected calibration error {calibration['ece_before']:.3f} -> "
                     f"{calibration['ece_after']:.3f} there); suggested min_confidence "
                     f"{calibration['min_confidence']:.3f} (answers {calibration['answered_fraction']:.0%} there)")
    else:
        lines.append("  calibration: none (probabilities are the network's softmax)")
    metrics = card.get("metrics") or {}
    base = (card.get("baseline") or {}).get("metrics") or {}
    sets = {**EVALUATION_SETS, "validation": "validation"}
    shown = [(key, label) for key, label in sets.items() if metrics.get(key)]
    if shown:
        lines.append("  results:")
        for key, label in shown:
            lines.append("    " + _result_line(label, metrics[key], base.get(key)))
            if metrics[key].get("measured_on"):
                lines.append(f"      measured on {metrics[key]['measured_on']}")
    if card.get("note"):
        lines.append(f"  note: {card['note']}")
    rebuild = _rebuild_command(card)
    if rebuild:
        lines.append(f"  rebuild: {rebuild}")
    timings = card.get("timings_s")
    if timings:
        lines.append(f"  build time: {sum(timings.values()) / 60:.0f} min on the machine that built it")
    return "\n".join(lines)


def _rebuild_command(card: dict) -> str | None:
    """The command that rebuilds a card's weights, naming no directory of the machine that built them.

    A default-model build's card records its settings (``build``), from which
    the command follows; a training run's card, the command it was trained with.
    """
    build = card.get("build")
    if build and build.get("seed") is not None:
        return default_model_command(build)
    return (card.get("training") or {}).get("command")


def default_model_command(build: dict, out_dir="BUILD_DIR", bank_dir="BANK_DIR") -> str:
    """The ``celestialclass default-model`` command of a build's settings (`DefaultBuild.settings`)."""
    command = f"celestialclass default-model {out_dir} --seed {build['seed']}"
    if build.get("bank"):
        command += f" --bank {bank_dir} --bank-exposures {build['bank_exposures']}"
    return command

"""Checkpoints: model, optimizer, scaler and progress in one safetensors file, written atomically.

No pickle: tensors go into the safetensors body, everything else into its
JSON header, so a checkpoint from anywhere can be opened safely.
"""

from __future__ import annotations

import json

from ..exceptions import CelestialClassError

__all__ = ["save_checkpoint", "load_checkpoint"]


def _flatten_optimizer(state: dict) -> tuple[dict, dict]:
    import torch

    tensors, plain = {}, {}
    for index, values in state["state"].items():
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer.{index}.{key}"] = value
            else:
                plain[f"{index}.{key}"] = value
    return tensors, {"param_groups": state["param_groups"], "plain": plain}


def _unflatten_optimizer(tensors: dict, meta: dict) -> dict:
    state: dict = {}
    for name, value in tensors.items():
        _, index, key = name.split(".", 2)
        state.setdefault(int(index), {})[key] = value
    for name, value in meta["plain"].items():
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def save_checkpoint(path, *, model, optimizer, progress: dict, config: dict, scaler=None) -> None:
    """Write a checkpoint atomically.

    Parameters
    ----------
    path : path-like
    model, optimizer : torch objects
    progress : dict
        JSON-safe position (step, epoch, batch, ...).
    config : dict
        The run's configuration; resuming with another one is refused.
    scaler : `torch.amp.GradScaler`, optional
    """
    import torch
    from safetensors.torch import save_file

    from ..utils.files import atomic_path

    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    opt_tensors, opt_meta = _flatten_optimizer(optimizer.state_dict())
    tensors.update({k: v.detach().cpu().contiguous() for k, v in opt_tensors.items()})
    tensors["rng.torch"] = torch.get_rng_state()
    if torch.cuda.is_available():
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = state
    meta = {"progress": progress, "config": config, "optimizer": opt_meta,
            "scaler": scaler.state_dict() if scaler is not None and scaler.is_enabled() else None}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={"celestialclass.checkpoint": json.dumps(meta)})


def load_checkpoint(path) -> dict:
    """Read a checkpoint: ``model`` and ``optimizer`` state dicts, ``rng``, ``progress``, ``config``, ``scaler``."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            meta = json.loads(handle.metadata()["celestialclass.checkpoint"])
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    except Exception as exc:
        raise CelestialClassError(f"not a readable checkpoint ({exc})", path=path) from None
    model = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    optimizer = _unflatten_optimizer({k: v for k, v in tensors.items() if k.startswith("optimizer.")},
                                     meta["optimizer"])
    rng = {k: v for k, v in tensors.items() if k.startswith("rng.")}
    return {"model": model, "optimizer": optimizer, "rng": rng, "progress": meta["progress"],
            "config": meta["config"], "scaler": meta["scaler"]}

"""The training loop: deterministic, resumable at any step, optionally distributed."""

from __future__ import annotations

import csv
import hashlib
import json
import math
import pathlib
import time

from ..exceptions import CelestialClassError

__all__ = ["train", "TRUTH_MARKERS"]

#: Manifest columns that mark simulated data (the simulator's truth).
TRUTH_MARKERS = ("Subtype", "Body Seed")
_LOG_FIELDS = ("step", "epoch", "batch", "loss", "accuracy", "lr", "seconds")


def _config_hash(config: dict) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]


def _check_geometry(model, preprocess, name):
    from ..models import summary

    shape = preprocess.output_shape
    if shape is None:
        return
    try:
        summary(model, (1, *shape), batch_size=1)
    except CelestialClassError as exc:
        raise CelestialClassError(f"{name} cannot train on {shape[0]} x {shape[1]} inputs: {exc}") from None


def _batches(n, batch_size, seed, epoch, rank, world):
    import torch

    generator = torch.Generator().manual_seed(int(seed) * 100003 + epoch)
    order = torch.randperm(n, generator=generator)[rank::world].tolist()
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def _augment(x, seed, epoch, index, crop=None):
    """Chip ``x`` (C, rows, cols) flipped along rows and/or columns, and cut to a random crop, as drawn
    for (seed, epoch, index).

    ``crop`` is the fraction of each side kept (None keeps the whole chip).
    """
    import torch

    generator = torch.Generator().manual_seed(int(seed) * 1000003 + epoch * 7919 + int(index) + 1)
    dims = [d for d, draw in zip((-2, -1), torch.randint(0, 2, (2,), generator=generator).tolist()) if draw]
    x = torch.flip(x, dims) if dims else x
    if crop is not None:
        rows, cols = x.shape[-2:]
        height, width = max(1, round(rows * crop)), max(1, round(cols * crop))
        top = int(torch.randint(0, rows - height + 1, (1,), generator=generator))
        left = int(torch.randint(0, cols - width + 1, (1,), generator=generator))
        x = x[..., top:top + height, left:left + width]
    return x


def _fixed_stem(net):
    """The model's fixed, parameter-free first layer, if it has one (``net.stem``, learned part ``net.body``).

    Training computes it once per chip (in the dataset, cached with the chip)
    and learns ``net.body`` on its output: the same model, a fraction of the
    work per step. Flips and crops act on its output, which `PatchStatistics`
    allows (its blocks tile the chip, so a flipped chip gives the flipped map).
    """
    from ..models import PatchStatistics

    stem = getattr(net, "stem", None)
    return stem if isinstance(stem, PatchStatistics) and hasattr(net, "body") else None


def _each_member(committee):
    """A module whose forward gives every member's logits of a committee of bodies (``member_logits``)."""
    import torch

    class EachMember(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.committee = committee

        def forward(self, x):
            return self.committee.member_logits(x)

    return EachMember()


def _loss(loss_fn, logits, y):
    """The loss of a batch, and the scores its logged accuracy is taken from.

    ``logits`` of shape ``(members, batch, classes)`` come from a committee
    (see `_each_member`): each member gets its own loss, and the loss is
    their mean, so no member's gradient depends on another's output.
    """
    if logits.dim() == 3:
        loss = sum(loss_fn(member.float(), y) for member in logits) / len(logits)
        return loss, logits.detach().softmax(-1).mean(0)
    return loss_fn(logits.float(), y), logits


def _initial_weights(spec, architecture, preprocess):
    """``({'name', 'sha256'}, state_dict)`` of the weights a run starts from, or None; checked against the run."""
    if spec is None:
        return None
    from ..weights import resolve_weights

    entry = resolve_weights(spec)
    if entry.architecture != architecture:
        raise CelestialClassError(f"initial weights {entry.name!r} are for {entry.architecture}, not {architecture}")
    if entry.preprocess != preprocess.to_dict():
        raise CelestialClassError(f"initial weights {entry.name!r} were trained with other preprocessing "
                                  f"({entry.preprocess}) than this recipe's ({preprocess.to_dict()})")
    return {"name": entry.name, "sha256": entry.sha256}, entry.load_state()


def _lr(recipe, step, total):
    if recipe.schedule == "cosine":
        return recipe.lr * 0.5 * (1 + math.cos(math.pi * min(step, total) / max(total, 1)))
    return recipe.lr


def _restore_log(path, step):
    """Keep the log rows up to ``step`` (rows written after the checkpoint are redone)."""
    if not path.exists():
        return
    with open(path, newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if int(r["step"]) <= step]
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, _LOG_FIELDS)
        writer.writeheader()
        writer.writerows(rows)


def train(model, manifest, data_dir, out_dir, *, recipe="paper", seed: int = 0, device: str = "auto",
          epochs: int | None = None, batch_size: int | None = None, lr: float | None = None,
          accumulation: int | None = None, max_steps: int | None = None, checkpoint_every: int = 100,
          resume: bool = False, deterministic: bool = True, num_workers: int = 0, on_error: str = "raise",
          validation=None, show_progress: bool | None = None, command: str | None = None,
          init_weights=None) -> dict:
    """Train a registered model on the chips of a manifest; write weights, a model card and a log.

    Parameters
    ----------
    model : str
        Registry name (`celestialclass.models.list_models`).
    manifest : `~astropy.table.Table` or str
        Training chips (see `celestialclass.datasets.load_manifest`).
    data_dir : path-like
        Directory of ``<OBSID>_raw.fits`` files.
    out_dir : path-like
        Receives ``model.safetensors``, ``model_card.json``, ``log.csv`` and
        ``checkpoint.safetensors``.
    recipe : str or `~celestialclass.training.Recipe`
        ``"paper"`` (SGD, lr 1e-4, batch 4, cross-entropy, 20 epochs),
        ``"paper-resize"``, ``"fast"``, ...; ``epochs``, ``batch_size``,
        ``lr`` and ``accumulation`` override its fields.
    seed : int
        Seeds initialisation, data order and dropout.
    device : str
        ``"auto"`` (CUDA, else CPU), ``"cpu"``, ``"cuda"``, ...
    max_steps : int, optional
        Stop after this many optimizer steps in total (the run can be resumed later).
    checkpoint_every : int
        Optimizer steps between checkpoints (also written at every epoch end).
    resume : bool
        Continue from ``out_dir/checkpoint.safetensors``: the final weights
        equal those of an uninterrupted run. A checkpoint of another
        configuration is refused.
    deterministic : bool
        Ask PyTorch for deterministic algorithms.
    num_workers : int
        Data-loading worker processes.
    on_error : {'raise', 'skip'}
        Missing or corrupt files in the data directory (see `ChipDataset`).
    validation : `~astropy.table.Table` or str, optional
        Chips evaluated at the end; their metrics go into the model card.
    show_progress : bool, optional
    command : str, optional
        The command line to record in the model card.
    init_weights : str or path-like, optional
        Start from these weights instead of a random initialisation (a name
        from `celestialclass.weights.list_weights`, such as ``"default"``, or
        a training output; see `celestialclass.weights.resolve_weights`):
        fine-tuning, for example the bundled model on a user's own labelled
        chips with the ``finetune`` recipe. They must be weights of
        ``model`` with the recipe's preprocessing; their sha256 is verified
        and recorded in the checkpoint's configuration and the model card.

    Returns
    -------
    summary : dict
        ``steps``, ``epochs``, ``weights`` (path), ``sha256``, ``card`` (path),
        ``metrics``.

    Notes
    -----
    A model whose ``stem`` is a fixed `~celestialclass.models.PatchStatistics`
    (CelestialNet-Lite) is trained through its ``body``: the dataset applies
    the stem once per chip (and caches its small map when the recipe caches),
    flips and crops act on the map, and the saved weights are the whole
    model's. Validation runs the whole model on whole chips.

    A body with several members (``member_logits``, as in
    ``celestialnet-lite-x2``) gives each member its own cross-entropy on the
    batch; the step minimises their mean, so each member learns as if alone.
    """
    import torch

    previous = torch.are_deterministic_algorithms_enabled()
    try:
        return _train(model, manifest, data_dir, out_dir, recipe=recipe, seed=seed, device=device,
                      epochs=epochs, batch_size=batch_size, lr=lr, accumulation=accumulation,
                      max_steps=max_steps, checkpoint_every=checkpoint_every, resume=resume,
                      deterministic=deterministic, num_workers=num_workers, on_error=on_error,
                      validation=validation, show_progress=show_progress, command=command,
                      init_weights=init_weights)
    finally:
        torch.use_deterministic_algorithms(previous)


def _train(model, manifest, data_dir, out_dir, *, recipe, seed, device, epochs, batch_size, lr, accumulation,
           max_steps, checkpoint_every, resume, deterministic, num_workers, on_error, validation, show_progress,
           command, init_weights=None) -> dict:
    import torch

    from ..datasets import ChipDataset, load_manifest
    from ..evaluation.metrics import classification_metrics
    from ..models import get_model, get_model_info
    from ..utils.progress import progress
    from ..weights import save_weights
    from ..cards import software_versions, write_card
    from .checkpoint import load_checkpoint, save_checkpoint
    from .distributed import init_distributed
    from .recipes import get_recipe

    recipe = get_recipe(recipe, epochs=epochs, batch_size=batch_size, lr=lr, accumulation=accumulation)
    info = get_model_info(model)
    table = manifest if hasattr(manifest, "colnames") else load_manifest(manifest)
    preprocess = recipe.preprocess()
    ctx = init_distributed(device)
    out_dir = pathlib.Path(out_dir)
    if ctx.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
    checkpoint_path = out_dir / "checkpoint.safetensors"
    log_path = out_dir / "log.csv"

    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    net = get_model(info.name)
    start = _initial_weights(init_weights, info.name, preprocess)
    if start is not None:
        net.load_state_dict(start[1])
    _check_geometry(net, preprocess, info.name)
    stem = _fixed_stem(net)
    learned = net.body if stem is not None else net
    dataset = ChipDataset(table, data_dir, preprocess, on_error=on_error, cache=recipe.cache, transform=stem)
    if len(dataset) == 0:
        raise CelestialClassError("no chips to train on", path=data_dir)
    config = {"model": info.name, "recipe": recipe.to_dict(), "seed": int(seed), "preprocess": preprocess.to_dict(),
              "manifest_sha256": table.meta.get("sha256"), "chips": len(dataset), "world_size": ctx.world_size}
    if start is not None:
        config["init_weights"] = start[0]

    # channels-last: oneDNN's convolutions on CPU (and cuDNN's with AMP) run up to twice as fast
    net.to(ctx.device, memory_format=torch.channels_last)
    parameters = [p for p in net.parameters() if p.requires_grad]
    if recipe.optimizer == "sgd":
        optimizer = torch.optim.SGD(parameters, lr=recipe.lr, momentum=recipe.momentum,
                                    weight_decay=recipe.weight_decay)
    else:
        optimizer = torch.optim.AdamW(parameters, lr=recipe.lr, weight_decay=recipe.weight_decay)
    use_amp = recipe.amp and ctx.device.startswith("cuda")
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)

    batches_per_epoch = len(_batches(len(dataset), recipe.batch_size, seed, 0, ctx.rank, ctx.world_size))
    steps_per_epoch = math.ceil(batches_per_epoch / recipe.accumulation)
    total_steps = steps_per_epoch * recipe.epochs
    step, epoch, batch = 0, 0, 0
    if checkpoint_path.exists():
        if not resume:
            raise CelestialClassError(
                "a checkpoint is already here; pass resume=True (--resume) to continue it, or use a new "
                "output directory", path=checkpoint_path)
        saved = load_checkpoint(checkpoint_path)
        if saved["config"] != config:
            differ = sorted(k for k in set(config) | set(saved["config"])
                            if config.get(k) != saved["config"].get(k))
            details = "; ".join(f"{k}: checkpoint {saved['config'].get(k)!r}, now {config.get(k)!r}"
                                for k in differ)
            raise CelestialClassError(f"cannot resume with another configuration ({details})",
                                      path=checkpoint_path)
        net.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        if saved["scaler"]:
            scaler.load_state_dict(saved["scaler"])
        torch.set_rng_state(saved["rng"]["rng.torch"])
        step, epoch, batch = (saved["progress"][k] for k in ("step", "epoch", "batch"))
        if ctx.is_main:
            _restore_log(log_path, step)
    elif resume:
        raise CelestialClassError("nothing to resume: no checkpoint here", path=checkpoint_path)
    elif ctx.is_main:
        _restore_log(log_path, -1)

    # A committee (several bodies on one fixed stem) learns each member on its own loss.
    model_for_step = _each_member(learned) if hasattr(learned, "member_logits") else learned
    if ctx.enabled:
        model_for_step = torch.nn.parallel.DistributedDataParallel(
            model_for_step, device_ids=[ctx.local_rank] if ctx.device.startswith("cuda") else None)
    loss_fn = torch.nn.CrossEntropyLoss()

    def checkpoint():
        if ctx.is_main:
            save_checkpoint(checkpoint_path, model=net, optimizer=optimizer, scaler=scaler, config=config,
                            progress={"step": step, "epoch": epoch, "batch": batch})

    def micro_batches(plan, epoch):
        """(x, y) of each micro-batch in ``plan``, in order; read by workers when num_workers > 0."""
        def augment(chip, index):
            return _augment(chip, seed, epoch, index, recipe.crop) if recipe.augment else chip

        if num_workers > 0:
            batches = iter(torch.utils.data.DataLoader(dataset, batch_sampler=plan, num_workers=num_workers))
            for indices, (x, y) in zip(plan, batches):
                if recipe.augment:
                    x = torch.stack([augment(chip, i) for chip, i in zip(x, indices)])
                yield x.contiguous(memory_format=torch.channels_last), y
        else:  # one copy into the batch: flips are taken before stacking
            for indices in plan:
                x = torch.stack([augment(dataset[i][0], i) for i in indices])
                y = torch.tensor([dataset.labels[i] for i in indices])
                yield x.contiguous(memory_format=torch.channels_last), y

    bar = progress(range(total_steps), total=total_steps, desc="train",
                   enabled=show_progress if ctx.is_main else False)
    bar_iter = iter(bar)
    for _ in range(step):
        next(bar_iter, None)
    started = time.monotonic()
    last = {"loss": float("nan"), "accuracy": float("nan")}
    stop = False
    net.train()
    while epoch < recipe.epochs and not stop:
        plan = _batches(len(dataset), recipe.batch_size, seed, epoch, ctx.rank, ctx.world_size)
        groups = [plan[i:i + recipe.accumulation] for i in range(0, len(plan), recipe.accumulation)]
        stream = micro_batches([indices for group in groups[batch:] for indices in group], epoch)
        while batch < len(groups):
            if max_steps is not None and step >= max_steps:
                stop = True
                break
            for group in optimizer.param_groups:
                group["lr"] = _lr(recipe, step, total_steps)
            optimizer.zero_grad(set_to_none=True)
            losses, correct, seen = [], 0, 0
            for indices in groups[batch]:
                x, y = next(stream)
                x, y = x.to(ctx.device), y.to(ctx.device)
                with torch.autocast("cuda", enabled=use_amp):
                    logits = model_for_step(x)
                    loss, logits = _loss(loss_fn, logits, y)
                    loss = loss * (len(indices) / sum(len(b) for b in groups[batch]))
                scaler.scale(loss).backward()
                losses.append(float(loss.detach()))
                correct += int((logits.argmax(1) == y).sum())
                seen += len(indices)
            scaler.step(optimizer)
            scaler.update()
            step += 1
            batch += 1
            last = {"loss": sum(losses), "accuracy": correct / seen}
            if ctx.is_main:
                new = not log_path.exists()
                with open(log_path, "a", newline="") as handle:
                    writer = csv.DictWriter(handle, _LOG_FIELDS)
                    if new:
                        writer.writeheader()
                    writer.writerow({"step": step, "epoch": epoch, "batch": batch, "loss": f"{last['loss']:.6f}",
                                     "accuracy": f"{last['accuracy']:.4f}",
                                     "lr": f"{optimizer.param_groups[0]['lr']:.3e}",
                                     "seconds": f"{time.monotonic() - started:.2f}"})
            next(bar_iter, None)
            if step % max(1, checkpoint_every) == 0:
                checkpoint()
        if not stop:
            epoch, batch = epoch + 1, 0
        checkpoint()  # at every epoch end, and where max_steps stopped the run
    if epoch >= recipe.epochs:
        for _ in bar_iter:  # nothing left: lets the bar draw its last line
            pass
    else:
        bar_iter.close()  # stopped early: the bar stays where the run stopped

    result = {"steps": step, "epochs": epoch, "complete": epoch >= recipe.epochs, "metrics": {"train": last}}
    if not ctx.is_main:
        return result
    metrics = {"train_last_step": last}
    if validation is not None and result["complete"]:
        from ..evaluation.runner import predict

        val_table = validation if hasattr(validation, "colnames") else load_manifest(validation)
        predictions = predict(net, preprocess, ChipDataset(val_table, data_dir, preprocess, on_error=on_error),
                              device=ctx.device)
        metrics["validation"] = classification_metrics(predictions)
    simulated = all(c in table.colnames for c in TRUTH_MARKERS)
    weights_path = out_dir / "model.safetensors"
    card = {
        "name": f"{info.name}-{recipe.name}-seed{seed}",
        "architecture": info.name,
        "class_names": list(info.class_names),
        "input_size": [1, *preprocess.output_shape] if preprocess.output_shape else None,
        "preprocess": preprocess.to_dict(),
        "training": {"recipe": recipe.to_dict(), "seed": int(seed), "steps": step, "epochs_completed": epoch,
                     "complete": result["complete"], "world_size": ctx.world_size, "device": ctx.device,
                     "command": command, "init_weights": start[0] if start is not None else None,
                     "manifest": {"source": table.meta.get("source"), "sha256": table.meta.get("sha256"),
                                  "chips": len(dataset), "bodies": len(set(dataset.manifest["ID"]))},
                     "data": "simulated exposures (celestialclass.simulate)" if simulated
                     else "raw HST exposures listed in the manifest"},
        "metrics": metrics,
        "software": software_versions(),
    }
    if simulated:
        card["note"] = "Trained only on simulated exposures; its metrics are on simulated data, not LCID."
    sha256 = save_weights(net.state_dict(), weights_path,
                          {"architecture": info.name, "preprocess": preprocess.to_dict()})
    card["weights"] = {"file": weights_path.name, "sha256": sha256}
    write_card(out_dir / "model_card.json", card)
    result.update(weights=str(weights_path), sha256=sha256, card=str(out_dir / "model_card.json"),
                  metrics=metrics)
    return result

"""The training loop: deterministic, resumable at any step, optionally distributed."""

from __future__ import annotations

import csv
import logging
import math
import pathlib
import time
from dataclasses import dataclass

from ..exceptions import CelestialClassError

log = logging.getLogger(__name__)

__all__ = ["train", "RunConfig"]
_LOG_FIELDS = ("step", "epoch", "batch", "loss", "accuracy", "lr", "seconds")


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


def _loss(loss_fn, logits, y):
    """The loss of a batch, and the scores its logged accuracy is taken from.

    ``logits`` of shape ``(members, batch, classes)`` come from a committee
    (see `celestialclass.models.TrainingParts`): each member gets its own
    loss, and the loss is their mean, so no member's gradient depends on
    another's output.
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
    if entry.preprocess != preprocess:
        raise CelestialClassError(f"initial weights {entry.name!r} were trained with other preprocessing "
                                  f"({entry.preprocess}) than this recipe's ({preprocess})")
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


@dataclass(frozen=True)
class RunConfig:
    """How a training run goes: every setting of `train` but its data, in one place.

    Parameters
    ----------
    recipe : str or `~celestialclass.training.Recipe`
        ``"paper"`` (SGD, lr 1e-4, batch 4, cross-entropy, 20 epochs),
        ``"paper-resize"``, ``"fast"``, ``"finetune"``, ...; ``epochs``,
        ``batch_size``, ``lr`` and ``accumulation`` override its fields.
    seed : int
        Seeds initialisation, data order and dropout.
    device : str
        ``"auto"`` (CUDA, else CPU), ``"cpu"``, ``"cuda"``, ...
    epochs, batch_size, lr, accumulation : optional
        Overrides of the recipe's fields.
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
    show_progress : bool, optional
    command : str, optional
        The command line to record in the model card.
    init_weights : str or path-like, optional
        Start from these weights instead of a random initialisation (a name
        from `celestialclass.weights.list_weights`, such as ``"default"``, or
        a training output; see `celestialclass.weights.resolve_weights`):
        fine-tuning, for example the bundled model on a user's own labelled
        chips with the ``finetune`` recipe. They must be weights of the
        model with the recipe's preprocessing; their sha256 is verified and
        recorded in the checkpoint's configuration and the model card.

    Examples
    --------
    >>> from celestialclass.training import RunConfig
    >>> RunConfig(recipe="fast", epochs=2).resolved_recipe().epochs
    2
    """

    recipe: object = "paper"
    seed: int = 0
    device: str = "auto"
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    accumulation: int | None = None
    max_steps: int | None = None
    checkpoint_every: int = 100
    resume: bool = False
    deterministic: bool = True
    num_workers: int = 0
    on_error: str = "raise"
    show_progress: bool | None = None
    command: str | None = None
    init_weights: object = None

    def resolved_recipe(self):
        """The `~celestialclass.training.Recipe` with this run's overrides applied."""
        from .recipes import get_recipe

        return get_recipe(self.recipe, epochs=self.epochs, batch_size=self.batch_size, lr=self.lr,
                          accumulation=self.accumulation)


def train(model: str, manifest, data_dir, out_dir, config: RunConfig | None = None, *, validation=None,
          **settings) -> dict:
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
    config : `RunConfig`, optional
        The run's settings.
    validation : `~astropy.table.Table` or str, optional
        Chips evaluated at the end, by the engine users' classifiers run
        (`celestialclass.engine.InferenceEngine`); their metrics go into the
        model card.
    **settings
        Fields of `RunConfig` (``recipe=``, ``seed=``, ``epochs=``, ...),
        given instead of ``config`` or overriding its fields.

    Returns
    -------
    summary : dict
        ``steps``, ``epochs``, ``complete``, ``weights`` (path), ``sha256``,
        ``card`` (path), ``metrics``.

    Notes
    -----
    A model that needs a special training step says so through
    ``training_parts()`` (see `celestialclass.models.TrainingParts`): a fixed
    first layer the dataset applies once per chip (and caches with it; flips
    and crops act on its output), and the module the optimizer steps
    through. CelestialNet-Lite uses it for its fixed `PatchStatistics`
    stem, and ``celestialnet-lite-x2`` to give each member of its committee
    its own cross-entropy on the batch (the step minimises their mean, so
    each member learns as if alone). The saved weights are the whole
    model's; validation runs the whole model on whole chips.
    """
    import dataclasses

    import torch

    config = dataclasses.replace(config or RunConfig(), **settings)
    previous = torch.are_deterministic_algorithms_enabled()
    created = not pathlib.Path(out_dir).exists()
    try:
        run = _Run(model, manifest, data_dir, out_dir, config)
        run.loop()
        return run.finish(validation)
    except BaseException:
        out = pathlib.Path(out_dir)
        if created and out.is_dir() and not any(out.iterdir()):  # a run that failed before writing anything
            out.rmdir()
        raise
    finally:
        torch.use_deterministic_algorithms(previous)


class _Run:
    """One training run: set up (model, data, optimizer, checkpoint), the loop, and its outputs."""

    def __init__(self, model, manifest, data_dir, out_dir, config: RunConfig):
        import torch

        from ..datasets import ChipDataset, load_manifest
        from ..models import get_model, get_model_info, training_parts
        from .distributed import init_distributed

        self.config = config
        self.recipe = recipe = config.resolved_recipe()
        self.info = get_model_info(model)
        self.table = manifest if hasattr(manifest, "colnames") else load_manifest(manifest)
        self.data_dir = data_dir
        self.preprocess = recipe.preprocess()
        self.ctx = ctx = init_distributed(config.device)
        self.out_dir = pathlib.Path(out_dir)
        if ctx.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        self.checkpoint_path = self.out_dir / "checkpoint.safetensors"
        self.log_path = self.out_dir / "log.csv"

        torch.manual_seed(config.seed)
        if config.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
        self.net = net = get_model(self.info.name)
        self.start = _initial_weights(config.init_weights, self.info.name, self.preprocess)
        if self.start is not None:
            net.load_state_dict(self.start[1])
        _check_geometry(net, self.preprocess, self.info.name)
        self.parts = training_parts(net)
        self.dataset = ChipDataset(self.table, data_dir, self.preprocess, on_error=config.on_error,
                                   cache=recipe.cache, transform=self.parts.transform)
        if len(self.dataset) == 0:
            raise CelestialClassError("no chips to train on", path=data_dir)
        self.run_config = {"model": self.info.name, "recipe": recipe.to_dict(), "seed": int(config.seed),
                           "preprocess": self.preprocess.to_dict(), "manifest_sha256": self.table.meta.get("sha256"),
                           "chips": len(self.dataset), "world_size": ctx.world_size}
        if self.start is not None:
            self.run_config["init_weights"] = self.start[0]

        # channels-last: oneDNN's convolutions on CPU (and cuDNN's with AMP) run up to twice as fast
        net.to(ctx.device, memory_format=torch.channels_last)
        parameters = [p for p in net.parameters() if p.requires_grad]
        if recipe.optimizer == "sgd":
            self.optimizer = torch.optim.SGD(parameters, lr=recipe.lr, momentum=recipe.momentum,
                                             weight_decay=recipe.weight_decay)
        else:
            self.optimizer = torch.optim.AdamW(parameters, lr=recipe.lr, weight_decay=recipe.weight_decay)
        self.use_amp = recipe.amp and ctx.device.startswith("cuda")
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        batches = len(_batches(len(self.dataset), recipe.batch_size, config.seed, 0, ctx.rank, ctx.world_size))
        self.total_steps = math.ceil(batches / recipe.accumulation) * recipe.epochs
        self.step, self.epoch, self.batch = 0, 0, 0
        self.last = {"loss": float("nan"), "accuracy": float("nan")}
        self._restore()

    def _restore(self) -> None:
        """Continue from the checkpoint (``resume``), or refuse to overwrite one."""
        import torch

        from .checkpoint import load_checkpoint

        if self.checkpoint_path.exists():
            if not self.config.resume:
                raise CelestialClassError(
                    "a checkpoint is already here; pass resume=True (--resume) to continue it, or use a new "
                    "output directory", path=self.checkpoint_path)
            saved = load_checkpoint(self.checkpoint_path)
            if saved["config"] != self.run_config:
                differ = sorted(k for k in set(self.run_config) | set(saved["config"])
                                if self.run_config.get(k) != saved["config"].get(k))
                details = "; ".join(f"{k}: checkpoint {saved['config'].get(k)!r}, now {self.run_config.get(k)!r}"
                                    for k in differ)
                raise CelestialClassError(f"cannot resume with another configuration ({details})",
                                          path=self.checkpoint_path)
            self.net.load_state_dict(saved["model"])
            self.optimizer.load_state_dict(saved["optimizer"])
            if saved["scaler"]:
                self.scaler.load_state_dict(saved["scaler"])
            torch.set_rng_state(saved["rng"]["rng.torch"])
            self.step, self.epoch, self.batch = (saved["progress"][k] for k in ("step", "epoch", "batch"))
            if self.config.num_workers == 0:  # data-loading workers start each epoch with an empty cache
                self.dataset.assume_read(self._read_so_far())
            if self.ctx.is_main:
                _restore_log(self.log_path, self.step)
        elif self.config.resume:
            raise CelestialClassError("nothing to resume: no checkpoint here", path=self.checkpoint_path)
        elif self.ctx.is_main:
            _restore_log(self.log_path, -1)

    def _read_so_far(self) -> list[int]:
        """The items an uninterrupted run would have read by the current (epoch, batch)."""
        recipe, config, ctx = self.recipe, self.config, self.ctx
        if self.epoch > 0:
            return list(range(len(self.dataset)))
        plan = _batches(len(self.dataset), recipe.batch_size, config.seed, 0, ctx.rank, ctx.world_size)
        return [i for indices in plan[:self.batch * recipe.accumulation] for i in indices]

    def checkpoint(self) -> None:
        from .checkpoint import save_checkpoint

        if self.ctx.is_main:
            save_checkpoint(self.checkpoint_path, model=self.net, optimizer=self.optimizer, scaler=self.scaler,
                            config=self.run_config,
                            progress={"step": self.step, "epoch": self.epoch, "batch": self.batch})

    def _micro_batches(self, plan, epoch):
        """(x, y) of each micro-batch in ``plan``, in order; read by workers when num_workers > 0."""
        import torch

        recipe, seed, dataset = self.recipe, self.config.seed, self.dataset

        def augment(chip, index):
            return _augment(chip, seed, epoch, index, recipe.crop) if recipe.augment else chip

        if self.config.num_workers > 0:
            batches = iter(torch.utils.data.DataLoader(dataset, batch_sampler=plan,
                                                       num_workers=self.config.num_workers))
            for indices, (x, y) in zip(plan, batches):
                if recipe.augment:
                    x = torch.stack([augment(chip, i) for chip, i in zip(x, indices)])
                yield x.contiguous(memory_format=torch.channels_last), y
        else:  # one copy into the batch: flips are taken before stacking
            for indices in plan:
                x = torch.stack([augment(dataset[i][0], i) for i in indices])
                y = torch.tensor([dataset.labels[i] for i in indices])
                yield x.contiguous(memory_format=torch.channels_last), y

    def _log(self, started) -> None:
        if not self.ctx.is_main:
            return
        new = not self.log_path.exists()
        with open(self.log_path, "a", newline="") as handle:
            writer = csv.DictWriter(handle, _LOG_FIELDS)
            if new:
                writer.writeheader()
            writer.writerow({"step": self.step, "epoch": self.epoch, "batch": self.batch,
                             "loss": f"{self.last['loss']:.6f}", "accuracy": f"{self.last['accuracy']:.4f}",
                             "lr": f"{self.optimizer.param_groups[0]['lr']:.3e}",
                             "seconds": f"{time.monotonic() - started:.2f}"})

    def loop(self) -> None:
        """Optimizer steps until the recipe's epochs are done or ``max_steps`` is reached."""
        import torch

        from ..utils.progress import progress

        recipe, config, ctx = self.recipe, self.config, self.ctx
        module = self.parts.module
        if ctx.enabled:
            module = torch.nn.parallel.DistributedDataParallel(
                module, device_ids=[ctx.local_rank] if ctx.device.startswith("cuda") else None)
        loss_fn = torch.nn.CrossEntropyLoss()
        bar = progress(total=self.total_steps, desc="train", initial=self.step,
                       enabled=config.show_progress if ctx.is_main else False)
        started = time.monotonic()
        steps_at_start = self.step
        stop = False
        self.net.train()
        while self.epoch < recipe.epochs and not stop:
            plan = _batches(len(self.dataset), recipe.batch_size, config.seed, self.epoch, ctx.rank, ctx.world_size)
            groups = [plan[i:i + recipe.accumulation] for i in range(0, len(plan), recipe.accumulation)]
            stream = self._micro_batches([indices for group in groups[self.batch:] for indices in group],
                                         self.epoch)
            while self.batch < len(groups):
                if config.max_steps is not None and self.step >= config.max_steps:
                    stop = True
                    break
                for group in self.optimizer.param_groups:
                    group["lr"] = _lr(recipe, self.step, self.total_steps)
                self.optimizer.zero_grad(set_to_none=True)
                losses, correct, seen = [], 0, 0
                chips = sum(len(b) for b in groups[self.batch])
                for indices in groups[self.batch]:
                    x, y = next(stream)
                    x, y = x.to(ctx.device), y.to(ctx.device)
                    with torch.autocast("cuda", enabled=self.use_amp):
                        loss, logits = _loss(loss_fn, module(x), y)
                        loss = loss * (len(indices) / chips)
                    self.scaler.scale(loss).backward()
                    losses.append(float(loss.detach()))
                    correct += int((logits.argmax(1) == y).sum())
                    seen += len(indices)
                self.scaler.step(self.optimizer)
                self.scaler.update()
                self.step += 1
                self.batch += 1
                self.last = {"loss": sum(losses), "accuracy": correct / seen}
                self._log(started)
                bar.update(1)
                bar.set_postfix(epoch=f"{self.epoch + 1}/{recipe.epochs}", loss=f"{self.last['loss']:.4f}",
                                refresh=False)
                if self.step % max(1, config.checkpoint_every) == 0:
                    self.checkpoint()
            if not stop:
                self.epoch, self.batch = self.epoch + 1, 0
                if ctx.is_main:
                    done, elapsed = self.step - steps_at_start, time.monotonic() - started
                    left = elapsed / done * (self.total_steps - self.step) if done else float("nan")
                    log.info("epoch %d/%d done: step %d/%d, last batch loss %.4f, accuracy %.3f; %.0f s, "
                             "about %.0f s left", self.epoch, recipe.epochs, self.step, self.total_steps,
                             self.last["loss"], self.last["accuracy"], elapsed, left)
            self.checkpoint()  # at every epoch end, and where max_steps stopped the run
        bar.close()
        if self.epoch < recipe.epochs and ctx.is_main:
            log.info("stopped at step %d of %d (max_steps); resume to go on", self.step, self.total_steps)

    def finish(self, validation) -> dict:
        """Validate (when complete), then write the weights and the model card (`_card`)."""
        from ..cards import write_card
        from ..weights import save_weights

        complete = self.epoch >= self.recipe.epochs
        result = {"steps": self.step, "epochs": self.epoch, "complete": complete, "metrics": {"train": self.last}}
        if not self.ctx.is_main:
            return result
        from ..evaluation.metrics import classification_metrics
        from .calibration import calibration_record

        metrics = {"train_last_step": self.last}
        calibration = None
        if validation is not None and complete:
            predictions, measured_on = self._validate(validation)
            metrics["validation"] = classification_metrics(predictions)
            calibration = calibration_record(predictions, measured_on)
        weights_path = self.out_dir / "model.safetensors"
        card = self._card(metrics, complete)
        if calibration is not None:
            card["calibration"] = calibration
        sha256 = save_weights(self.net.state_dict(), weights_path,
                              {"architecture": self.info.name, "preprocess": self.preprocess.to_dict()})
        card["weights"] = {"file": weights_path.name, "sha256": sha256}
        write_card(self.out_dir / "model_card.json", card)
        result.update(weights=str(weights_path), sha256=sha256, card=str(self.out_dir / "model_card.json"),
                      metrics=metrics)
        return result

    def _validate(self, validation):
        """Predictions on ``validation`` (by the engine users' classifiers run), and what they were measured on."""
        from ..datasets import ChipDataset, load_manifest
        from ..datasets.manifests import manifest_name
        from ..engine import InferenceEngine
        from ..evaluation.runner import predict

        table = validation if hasattr(validation, "colnames") else load_manifest(validation)
        dataset = ChipDataset(table, self.data_dir, self.preprocess, on_error=self.config.on_error)
        engine = InferenceEngine(self.net, self.info.class_names, self.ctx.device, name=self.info.name)
        source = manifest_name(table, "validation")
        return predict(engine, dataset), f"{source}: {len(dataset)} chips"

    def _card(self, metrics: dict, complete: bool) -> dict:
        """The model card of this run (without its weights record)."""
        from ..cards import software_versions
        from ..schema import TRUTH_MARKERS

        recipe, config = self.recipe, self.config
        simulated = all(c in self.table.colnames for c in TRUTH_MARKERS)
        card = {
            "name": f"{self.info.name}-{recipe.name}-seed{config.seed}",
            "architecture": self.info.name,
            "class_names": list(self.info.class_names),
            "input_size": [1, *self.preprocess.output_shape] if self.preprocess.output_shape else None,
            "preprocess": self.preprocess.to_dict(),
            "training": {"recipe": recipe.to_dict(), "seed": int(config.seed), "steps": self.step,
                         "epochs_completed": self.epoch, "complete": complete, "world_size": self.ctx.world_size,
                         "device": self.ctx.device, "command": config.command,
                         "init_weights": self.start[0] if self.start is not None else None,
                         "manifest": {"source": self.table.meta.get("source"), "sha256": self.table.meta.get("sha256"),
                                      "chips": len(self.dataset), "bodies": len(set(self.dataset.manifest["ID"]))},
                         "data": "simulated exposures (celestialclass.simulate)" if simulated
                         else "raw HST exposures listed in the manifest"},
            "metrics": metrics,
            "software": software_versions(),
        }
        if simulated:
            card["note"] = "Trained only on simulated exposures; its metrics are on simulated data, not LCID."
        return card

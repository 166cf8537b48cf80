"""Training recipes: the paper's, and the package's own."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from ..exceptions import CelestialClassError
from ..preprocess import Preprocess
from ..schema import LCID_RESIZE

__all__ = ["Recipe", "RECIPES", "get_recipe"]


@dataclass(frozen=True)
class Recipe:
    """How a model is trained.

    Attributes
    ----------
    name : str
    optimizer : {'sgd', 'adamw'}
    lr, momentum, weight_decay : float
    batch_size : int
        Chips per optimizer step (per process, times ``accumulation``).
    epochs : int
    accumulation : int
        Batches whose gradients add up before each optimizer step.
    schedule : {'constant', 'cosine'}
        Learning-rate schedule over all steps.
    amp : bool
        Mixed precision where the device supports it (CUDA); ignored on CPU.
    data : {'LCID', 'LCID-Resize'}
        Full-resolution chips, or chips resized to 224 x 448 as the paper's LCID-Resize.
    augment : bool
        Flip each training chip along its rows and/or columns at random (the
        draw depends on the seed, epoch and chip only, so runs stay
        reproducible and resumable), and cut it to a random crop when
        ``crop`` is set. Flips keep columns as columns, so detector features
        (bleeding, readout direction) stay realistic.
    crop : float, optional
        With ``augment``, the fraction of each side of the model's input
        (the chip, or the map of a fixed first layer) that a random crop
        keeps: the model sees another part of each chip every epoch, as
        another pointing would show. Models whose pooling adapts to the
        input size (all of this package's) train on crops and classify
        whole chips.
    cache : bool
        Keep each chip's input in memory (as float16) after its first
        epoch: 16 MiB per full-resolution chip, 1 MiB for CelestialNet-Lite
        (whose fixed first layer is cached, see `~celestialclass.training.train`),
        98 KiB for an LCID-Resize image.
    """

    name: str
    optimizer: str = "sgd"
    lr: float = 1e-4
    momentum: float = 0.0
    weight_decay: float = 0.0
    batch_size: int = 4
    epochs: int = 20
    accumulation: int = 1
    schedule: str = "constant"
    amp: bool = True
    data: str = "LCID"
    augment: bool = False
    crop: float | None = None
    cache: bool = False

    def preprocess(self) -> Preprocess:
        """The preprocessing this recipe trains with."""
        return Preprocess(resize=LCID_RESIZE if self.data == "LCID-Resize" else None)

    def to_dict(self) -> dict:
        return asdict(self)


#: Named recipes. ``paper``: SGD, lr 1e-4, batch 4, cross-entropy, 20 epochs (the paper's).
#: ``default`` trains the bundled default model (CelestialNet-Lite, full chips);
#: ``default-resize`` is the same budget on LCID-Resize input, for the baseline it is compared with;
#: ``finetune`` adapts trained weights (``train(..., init_weights=...)``) to new chips: the ``default``
#: recipe at a tenth of its learning rate, for 8 epochs.
RECIPES = {
    "paper": Recipe("paper"),
    "paper-resize": Recipe("paper-resize", data="LCID-Resize"),
    "fast": Recipe("fast", optimizer="adamw", lr=1e-3, weight_decay=1e-4, batch_size=8, epochs=8,
                   schedule="cosine"),
    "fast-resize": Recipe("fast-resize", optimizer="adamw", lr=1e-3, weight_decay=1e-4, batch_size=8, epochs=8,
                          schedule="cosine", data="LCID-Resize"),
    "default": Recipe("default", optimizer="adamw", lr=1e-3, weight_decay=1e-4, batch_size=16, epochs=30,
                      schedule="cosine", augment=True, crop=0.75, cache=True),
    "default-resize": Recipe("default-resize", optimizer="adamw", lr=1e-3, weight_decay=1e-4, batch_size=16,
                             epochs=30, schedule="cosine", augment=True, crop=0.75, data="LCID-Resize", cache=True),
    "finetune": Recipe("finetune", optimizer="adamw", lr=1e-4, weight_decay=1e-4, batch_size=16, epochs=8,
                       schedule="cosine", augment=True, crop=0.75, cache=True),
}


def get_recipe(recipe, **overrides) -> Recipe:
    """A recipe by name (or a `Recipe`), with fields overridden (``None`` values are ignored)."""
    if isinstance(recipe, Recipe):
        base = recipe
    else:
        try:
            base = RECIPES[recipe]
        except KeyError:
            raise CelestialClassError(f"unknown recipe {recipe!r}; known: {', '.join(RECIPES)}") from None
    overrides = {k: v for k, v in overrides.items() if v is not None}
    unknown = set(overrides) - set(base.to_dict())
    if unknown:
        raise CelestialClassError(f"unknown recipe fields {sorted(unknown)}")
    out = replace(base, **overrides)
    if out.optimizer not in ("sgd", "adamw") or out.schedule not in ("constant", "cosine") \
            or out.data not in ("LCID", "LCID-Resize") or out.batch_size < 1 or out.epochs < 1 \
            or out.accumulation < 1 or not out.lr > 0 or (out.crop is not None and not 0 < out.crop <= 1):
        raise CelestialClassError(f"invalid recipe {out}")
    return out

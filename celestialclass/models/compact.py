"""CelestialNet-Lite: a compact network for whole 2048 x 4096 chips (meant for the package's default model)."""

from __future__ import annotations

import math

import torch
from torch import nn

from ._init import init_weights
from ..schema import LCID_INPUT
from .registry import TrainingParts, register_model

__all__ = ["CelestialNetLite", "PatchStatistics", "Standardize", "celestialnet_lite", "celestialnet_lite_x2"]

#: Rows of the input `PatchStatistics` reduces at a time (256 rows of a 4096-column float32 chip: 4 MiB).
_BAND_ROWS = 256


class PatchStatistics(nn.Module):
    """A fixed, parameter-free first layer: four statistics of every ``patch`` x ``patch`` block.

    For each block of pixels it gives the mean, the standard deviation, the
    maximum and the minimum, as four channels of a map ``patch`` times
    smaller on each side. Every pixel counts: a point source 2-3 pixels wide
    keeps its peak in the maximum and its contrast in the standard deviation,
    where a resize to a few hundred pixels (LCID-Resize) averages it away or
    skips it.

    Because it has nothing to learn, a training run computes it once per chip
    and keeps the small map in memory (see `celestialclass.training.train`);
    because blocks tile the chip exactly, flipping a chip along its rows or
    columns flips the map the same way, so flip augmentation can act on the
    map.

    Parameters
    ----------
    patch : int
        Side of the blocks, in pixels; must divide the input's sides.

    Examples
    --------
    >>> import torch
    >>> from celestialclass.models.compact import PatchStatistics
    >>> x = torch.zeros(1, 1, 8, 8)
    >>> x[0, 0, 1, 6] = 16.0
    >>> PatchStatistics(4)(x)[0, :, 0, 1].tolist()  # mean, std, max, min of the block holding the spike
    [1.0, 3.872983455657959, 16.0, 0.0]
    """

    #: Output channels.
    channels = 4

    def __init__(self, patch: int = 4):
        super().__init__()
        self.patch = int(patch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.patch
        n, c, rows, cols = x.shape
        if rows % p or cols % p:
            from ..exceptions import ShapeError

            raise ShapeError(f"PatchStatistics({p}) needs sides divisible by {p}, got {rows} x {cols}")
        out = torch.empty((n, 4, c, rows // p, cols // p), dtype=x.dtype, device=x.device)
        band = p * max(1, _BAND_ROWS // p)
        # A few hundred rows at a time: each band's temporaries stay small (a whole chip's would be
        # fresh 32 MiB allocations, whose page faults cost as much as the arithmetic) and in cache.
        for start in range(0, rows, band):
            self._block_statistics(x[:, :, start:start + band], out[..., start // p:(start + band) // p, :])
        return out.reshape(n, 4 * c, rows // p, cols // p)

    def _block_statistics(self, x: torch.Tensor, out: torch.Tensor) -> None:
        """Mean, standard deviation, maximum and minimum of each block into ``out`` (n, 4, c, rows/p, cols/p)."""
        p = self.patch
        n, c, rows, cols = x.shape
        blocks = (n, c, rows // p, cols // p, p)
        # Two passes, each a reduction over a run of rows of contiguous memory: first the p rows of
        # each block row (the one pass over the band), then the p columns of each block.
        strip = x.reshape(n, c, rows // p, p, cols)
        mean = strip.sum(3).reshape(blocks).sum(-1) / (p * p)
        square = strip.square().sum(3).reshape(blocks).sum(-1) / (p * p)
        out[:, 0] = mean
        out[:, 1] = (square - mean * mean).clamp_min_(0).sqrt_()
        out[:, 2] = strip.amax(3).reshape(blocks).amax(-1)
        out[:, 3] = strip.amin(3).reshape(blocks).amin(-1)

    def extra_repr(self) -> str:
        return f"patch={self.patch}"


def _conv(cin: int, cout: int, stride: int) -> list:
    """A 3 x 3 convolution with BatchNorm and ReLU."""
    return [nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True)]


def _stage(cin: int, cout: int, depth: int) -> nn.Sequential:
    """A stride-2 3 x 3 convolution, then ``depth - 1`` stride-1 ones."""
    layers = _conv(cin, cout, 2)
    for _ in range(depth - 1):
        layers += _conv(cout, cout, 1)
    return nn.Sequential(*layers)


class Standardize(nn.Module):
    """Each input map, per channel, brought to zero mean and unit standard deviation (no parameters).

    Chips differ in depth, filter and sky by orders of magnitude; standardising
    each one's map lets the network learn shapes and textures rather than
    brightness. It depends only on the map itself, so it behaves the same in
    training and at inference, for any batch size.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        std, mean = torch.std_mean(x, dim=(2, 3), keepdim=True)
        return (x - mean) / (std + 1e-3)


class _Body(nn.Module):
    """Everything of CelestialNet-Lite after its fixed first layer (what training learns)."""

    def __init__(self, in_channels: int, widths: list, depths: list, num_classes: int):
        super().__init__()
        self.norm = Standardize()
        self.stages = nn.Sequential(*[_stage(c, w, d) for c, w, d in zip([in_channels] + widths, widths, depths)])
        self.dropout = nn.Dropout(0.2)
        self.fc = nn.Linear(2 * widths[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.from_standardized(self.norm(x))

    def from_standardized(self, x: torch.Tensor) -> torch.Tensor:
        """The logits of a map already standardised (`Standardize` has no parameters: members share it)."""
        x = self.stages(x)
        pooled = torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3))], dim=1)
        return self.fc(self.dropout(pooled))


class _EachMember(nn.Module):
    """A committee's ``member_logits`` as a module: what training steps through (see `TrainingParts`)."""

    def __init__(self, committee: "_Members"):
        super().__init__()
        self.committee = committee

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.committee.member_logits(x)


class _Members(nn.Module):
    """Bodies that see the same map, each learned on its own; their mean class probabilities decide.

    ``forward`` returns the logarithm of the members' mean class probabilities,
    so a softmax of it gives their mean probability (and ``argmax`` the
    committee's class). ``member_logits`` gives each member's own logits;
    training applies the loss to each member separately (see
    `celestialclass.training.train`), so the members differ only by where
    they started, as in a deep ensemble.
    """

    def __init__(self, members: list):
        super().__init__()
        self.members = nn.ModuleList(members)

    def member_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Every member's logits, stacked: shape ``(members, batch, classes)``."""
        standardized = self.members[0].norm(x)  # the same for every member: computed once
        return torch.stack([member.from_standardized(standardized) for member in self.members])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        log_probabilities = torch.log_softmax(self.member_logits(x), dim=-1)
        return torch.logsumexp(log_probabilities, dim=0) - math.log(len(self.members))


class CelestialNetLite(nn.Module):
    """A compact classifier of whole trimmed chips.

    The first layer, `PatchStatistics`, summarises every 8 x 8 block of the
    2048 x 4096 chip by its mean, standard deviation, maximum and minimum (a
    256 x 512 map of four channels): it reads every pixel, and point sources
    2-3 pixels wide survive it in the maximum and the standard deviation.
    Each map is standardised (`Standardize`), then six stride-2 stages of
    two 3 x 3 convolutions each follow (128 x 256 down to 4 x 8), so the last
    layer sees the whole map: galaxies, nebulae and clusters fill much of a
    chip, and their morphology (arms and bulges, clouds and filaments,
    crowded stars) spans hundreds of pixels. The decision draws on the whole
    chip through global average and max pooling.

    The module has two parts: ``stem`` (the fixed first layer, no
    parameters) and ``body`` (everything learned), ``forward(x) =
    body(stem(x))``; training computes the stem once per chip
    (`celestialclass.training.train`).

    Parameters
    ----------
    num_classes : int, optional
    in_channels : int, optional
    width : int, optional
        Channels of the first stage; later stages grow from it.
    patch : int, optional
        Block side of the first layer.
    members : int, optional
        With more than one, ``body`` holds that many bodies on the one fixed
        first layer, each started from its own random weights and trained on
        its own loss; the output is the log of their mean class
        probabilities (a deep ensemble that costs one read of the chip).
    """

    def __init__(self, num_classes: int = 2, in_channels: int = 1, width: int = 16, patch: int = 8,
                 members: int = 1):
        super().__init__()
        if members < 1:
            raise ValueError(f"members must be at least 1, got {members}")
        widths = [width, 2 * width, 3 * width, 4 * width, 6 * width, 8 * width]
        self.stem = PatchStatistics(patch)
        bodies = [_Body(in_channels * PatchStatistics.channels, widths, [2] * len(widths), num_classes)
                  for _ in range(members)]
        self.body = bodies[0] if members == 1 else _Members(bodies)
        init_weights(self, linear_std=None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(self.stem(x))

    def training_parts(self) -> TrainingParts:
        """The fixed stem, applied once per chip, and the body, each committee member on its own loss."""
        body = self.body
        return TrainingParts(self.stem, _EachMember(body) if isinstance(body, _Members) else body)


@register_model("celestialnet-lite", input_sizes={"LCID": LCID_INPUT}, paper_name="CelestialNet-Lite",
                description="compact full-resolution network (not in the paper)")
def celestialnet_lite(*, num_classes: int = 2, in_channels: int = 1, width: int = 16,
                      patch: int = 8) -> CelestialNetLite:
    """CelestialNet-Lite, a compact full-resolution architecture of this package (not in the paper).

    Returns
    -------
    model : `CelestialNetLite`
    """
    return CelestialNetLite(num_classes=num_classes, in_channels=in_channels, width=width, patch=patch)


@register_model("celestialnet-lite-x2", input_sizes={"LCID": LCID_INPUT}, paper_name="CelestialNet-Lite x2",
                description="two CelestialNet-Lite bodies on one fixed first layer, probabilities averaged "
                            "(the default model; not in the paper)", default_weights="default")
def celestialnet_lite_x2(*, num_classes: int = 2, in_channels: int = 1, width: int = 16,
                         patch: int = 8) -> CelestialNetLite:
    """CelestialNet-Lite with two members (``members=2``): the default model's architecture.

    Returns
    -------
    model : `CelestialNetLite`

    Examples
    --------
    >>> import torch
    >>> from celestialclass.models import get_model
    >>> model = get_model("celestialnet-lite-x2").eval()
    >>> len(model.body.members)
    2
    >>> with torch.inference_mode():
    ...     out = model(torch.zeros(1, 1, 2048, 4096))
    >>> out.shape, bool(torch.allclose(out.exp().sum(), torch.tensor(1.0)))  # log of the mean probabilities
    (torch.Size([1, 2]), True)
    """
    return CelestialNetLite(num_classes=num_classes, in_channels=in_channels, width=width, patch=patch, members=2)

"""HR-CelestialNet (Zhang et al. 2024): a no-padding CNN for full-resolution 2048 x 4096 chips."""

from __future__ import annotations

import torch
from torch import nn

from ..exceptions import ShapeError
from ._init import init_weights
from ..schema import LCID_INPUT
from .registry import register_model

__all__ = ["HRCelestialNet", "hr_celestialnet"]

# (kind, out_channels or None, kernel, stride) in order; convolutions have
# stride 1, no padding, and are followed by BatchNorm2d and ReLU.
_FEATURES = (
    ("conv", 32, 7, 1), ("pool", None, 8, 4),
    ("conv", 64, 7, 1), ("pool", None, 4, 2),
    ("conv", 128, 5, 1), ("conv", 128, 5, 1), ("pool", None, 2, 2),
    ("conv", 256, 3, 1), ("conv", 256, 3, 1), ("pool", None, 2, 2),
    ("conv", 256, 3, 1), ("conv", 256, 3, 1), ("pool", None, 2, 2),
    ("conv", 512, 3, 1), ("conv", 512, 3, 1), ("pool", None, 2, 2),
    ("conv", 512, 3, 1), ("conv", 512, 3, 1), ("pool", None, 2, 2),
)
# Feature map (rows, columns) that the first fully connected layer is sized for.
_FEATURE_MAP = (3, 11)


def _feature_size(size: int) -> int:
    """Side of the final feature map for an input side of ``size`` (< 1: too small)."""
    for _, _, kernel, stride in _FEATURES:
        size = (size - kernel) // stride + 1
        if size < 1:
            return 0
    return size


def _accepted_range(target: int, start: int) -> tuple[int, int]:
    low = high = start
    while _feature_size(low - 1) == target:
        low -= 1
    while _feature_size(high + 1) == target:
        high += 1
    return low, high


class HRCelestialNet(nn.Module):
    """HR-CelestialNet: 12 convolutions (no padding), 7 max-pools, 3 fully connected layers.

    Exactly the network of the paper's Table 2: 97,048,130 parameters and
    177.94 G multiply-accumulates per 1 x 2048 x 4096 image. The forward pass
    returns logits; apply a softmax for class probabilities.

    Parameters
    ----------
    num_classes : int, optional
        Number of output classes (2: galaxy, nsc).
    in_channels : int, optional
        Input channels (1: one raw chip).
    """

    #: Rows and columns of inputs whose final feature map fits the first
    #: fully connected layer (inclusive ranges).
    accepted_rows = _accepted_range(_FEATURE_MAP[0], LCID_INPUT[1])
    accepted_cols = _accepted_range(_FEATURE_MAP[1], LCID_INPUT[2])

    def __init__(self, num_classes: int = 2, in_channels: int = 1):
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_channels
        for kind, out, kernel, stride in _FEATURES:
            if kind == "conv":
                layers += [nn.Conv2d(channels, out, kernel, stride=stride),
                           nn.BatchNorm2d(out), nn.ReLU(inplace=True)]
                channels = out
            else:
                layers.append(nn.MaxPool2d(kernel, stride=stride))
        self.in_channels = in_channels
        self.features = nn.Sequential(*layers)
        self.flatten = nn.Flatten()
        self.classifier = nn.Sequential(
            nn.Linear(channels * _FEATURE_MAP[0] * _FEATURE_MAP[1], 4096), nn.ReLU(inplace=True),
            nn.Linear(4096, 4096), nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),
        )
        init_weights(self)

    @classmethod
    def check_input_shape(cls, shape, in_channels: int = 1) -> None:
        """Raise `~celestialclass.exceptions.ShapeError` unless ``shape`` (N, C, H, W) fits."""
        (r0, r1), (c0, c1) = cls.accepted_rows, cls.accepted_cols
        if (len(shape) != 4 or shape[1] != in_channels
                or not (r0 <= shape[2] <= r1 and c0 <= shape[3] <= c1)):
            raise ShapeError(
                f"HR-CelestialNet cannot take input of shape {tuple(shape)}: it takes "
                f"(N, {in_channels}, H, W) with H in {r0}..{r1} and W in {c0}..{c1}, e.g. a trimmed "
                f"2048 x 4096 chip (an untrimmed raw chip, 2068 x 4144 or 2070 x 4206, does not fit; "
                f"read it with trim='lcid')"
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input_shape(x.shape, self.in_channels)
        return self.classifier(self.flatten(self.features(x)))


@register_model("hr-celestialnet", input_sizes={"LCID": LCID_INPUT}, paper_name="HR-CelestialNet",
                description="the paper's network for full-resolution chips (Table 2)")
def hr_celestialnet(*, num_classes: int = 2, in_channels: int = 1) -> HRCelestialNet:
    """HR-CelestialNet, exactly as in the paper's Table 2.

    Parameters
    ----------
    num_classes : int, optional
        Number of output classes.
    in_channels : int, optional
        Input channels.

    Returns
    -------
    model : `HRCelestialNet`
    """
    return HRCelestialNet(num_classes=num_classes, in_channels=in_channels)

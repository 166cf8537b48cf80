"""CelestialNet-Lite: a compact network for whole 2048 x 4096 chips (meant for the package's default model)."""

from __future__ import annotations

import torch
from torch import nn

from ._init import init_weights
from .registry import LCID_INPUT, register_model

__all__ = ["CelestialNetLite", "celestialnet_lite"]


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


class CelestialNetLite(nn.Module):
    """A compact classifier of whole trimmed chips.

    The stem is a 4 x 4, stride-4 convolution into ``2 * width`` channels:
    with at least 16 outputs for the 16 pixels of a patch it can keep all of
    them, so point sources 2-3 pixels wide survive it. Six stride-2 stages
    follow (512 x 1024 down to 8 x 16); the cheap, low-resolution ones get a
    second convolution, so the last layer sees about 1,500 pixels across:
    galaxies, nebulae and clusters fill much of a chip, and their morphology
    (arms and bulges, filaments, crowded stars) is larger than a few hundred
    pixels. The decision draws on the whole chip through global average and
    max pooling. With the default width: 260,914 parameters (1.0 MB) and
    0.80 G multiply-accumulates at 2048 x 4096, 0.45 % of HR-CelestialNet's.

    Parameters
    ----------
    num_classes : int, optional
    in_channels : int, optional
    width : int, optional
        Half the stem's channels; later stages grow from it.
    """

    def __init__(self, num_classes: int = 2, in_channels: int = 1, width: int = 8):
        super().__init__()
        widths = [2 * width, 2 * width, 3 * width, 4 * width, 6 * width, 8 * width, 12 * width]
        depths = [1, 1, 2, 2, 2, 2]
        self.stem = nn.Sequential(nn.Conv2d(in_channels, widths[0], 4, stride=4, bias=False),
                                  nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True))
        self.stages = nn.Sequential(*[_stage(widths[i], widths[i + 1], depths[i]) for i in range(len(depths))])
        self.dropout = nn.Dropout(0.2)
        self.fc = nn.Linear(2 * widths[-1], num_classes)
        init_weights(self, linear_std=None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(x))
        pooled = torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3))], dim=1)
        return self.fc(self.dropout(pooled))


@register_model("celestialnet-lite", input_sizes={"LCID": LCID_INPUT}, paper_name="CelestialNet-Lite",
                description="compact full-resolution network (not in the paper)")
def celestialnet_lite(*, num_classes: int = 2, in_channels: int = 1, width: int = 8) -> CelestialNetLite:
    """CelestialNet-Lite, a compact full-resolution architecture of this package (not in the paper).

    Returns
    -------
    model : `CelestialNetLite`
    """
    return CelestialNetLite(num_classes=num_classes, in_channels=in_channels, width=width)

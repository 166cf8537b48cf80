"""AlexNet baseline: torchvision's layout, one input channel, two classes."""

from __future__ import annotations

import torch
from torch import nn

from ..schema import LCID_INPUT, LCID_RESIZE_INPUT
from .registry import register_model

__all__ = ["AlexNet", "alexnet"]


class AlexNet(nn.Module):
    """torchvision's AlexNet (64-192-384-256-256) with an adaptive pool sized for 224 x 448 inputs.

    The ``AdaptiveAvgPool2d((6, 13))`` output equals the feature map at
    1 x 224 x 448 (LCID-Resize), so the same network takes full 2048 x 4096
    chips (LCID), as in the paper.
    """

    def __init__(self, num_classes: int = 2, in_channels: int = 1, dropout: float = 0.5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 64, kernel_size=11, stride=4, padding=2), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 13))
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout), nn.Linear(256 * 6 * 13, 4096), nn.ReLU(inplace=True),
            nn.Dropout(p=dropout), nn.Linear(4096, 4096), nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


@register_model("alexnet", input_sizes={"LCID-Resize": LCID_RESIZE_INPUT, "LCID": LCID_INPUT},
                paper_name="AlexNet", description="torchvision AlexNet, 1 channel, adaptive pool (6, 13)")
def alexnet(*, num_classes: int = 2, in_channels: int = 1, dropout: float = 0.5) -> AlexNet:
    """The paper's AlexNet baseline (101,036,738 parameters).

    Returns
    -------
    model : `AlexNet`
    """
    return AlexNet(num_classes=num_classes, in_channels=in_channels, dropout=dropout)

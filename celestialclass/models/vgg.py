"""VGG16 with batch normalisation: torchvision's layout, one input channel, two classes."""

from __future__ import annotations

import torch
from torch import nn

from ._init import init_weights
from ..schema import LCID_INPUT, LCID_RESIZE_INPUT
from .registry import register_model

__all__ = ["VGG", "vgg16_bn"]

# torchvision's configuration "D" (VGG16): channels, "M" = 2x2 max-pool.
_VGG16 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


class VGG(nn.Module):
    """VGG16-BN with ``AdaptiveAvgPool2d((7, 14))``: the feature map of a 224 x 448 input."""

    def __init__(self, num_classes: int = 2, in_channels: int = 1, dropout: float = 0.5):
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_channels
        for item in _VGG16:
            if item == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2d(channels, item, kernel_size=3, padding=1),
                           nn.BatchNorm2d(item), nn.ReLU(inplace=True)]
                channels = item
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 14))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 14, 4096), nn.ReLU(inplace=True), nn.Dropout(p=dropout),
            nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Dropout(p=dropout),
            nn.Linear(4096, num_classes),
        )
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


@register_model("vgg16-bn", input_sizes={"LCID-Resize": LCID_RESIZE_INPUT, "LCID": LCID_INPUT},
                paper_name="VGGNet", description="torchvision VGG16-BN, 1 channel, adaptive pool (7, 14)")
def vgg16_bn(*, num_classes: int = 2, in_channels: int = 1, dropout: float = 0.5) -> VGG:
    """The paper's VGGNet baseline (VGG16-BN, 237,036,482 parameters).

    Returns
    -------
    model : `VGG`
    """
    return VGG(num_classes=num_classes, in_channels=in_channels, dropout=dropout)

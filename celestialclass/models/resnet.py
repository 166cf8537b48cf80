"""ResNet18: torchvision's layout, one input channel (first convolution with bias), two classes."""

from __future__ import annotations

import torch
from torch import nn

from ._init import init_weights
from ..schema import LCID_INPUT, LCID_RESIZE_INPUT
from .registry import register_model

__all__ = ["ResNet", "BasicBlock", "resnet18"]


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a shortcut (torchvision's ``BasicBlock``)."""

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or in_planes != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """ResNet18 with ``conv1 = Conv2d(in_channels, 64, 7, stride=2, padding=3)`` (with bias)."""

    def __init__(self, num_classes: int = 2, in_channels: int = 1, layers=(2, 2, 2, 2)):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        stages, planes = [], 64
        for index, blocks in enumerate(layers):
            width = 64 * 2 ** index
            stride = 1 if index == 0 else 2
            stage = [BasicBlock(planes, width, stride)]
            stage += [BasicBlock(width, width) for _ in range(blocks - 1)]
            stages.append(nn.Sequential(*stage))
            planes = width
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(planes, num_classes)
        init_weights(self, linear_std=None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


@register_model("resnet18", input_sizes={"LCID-Resize": LCID_RESIZE_INPUT, "LCID": LCID_INPUT},
                paper_name="ResNet", description="torchvision ResNet18, 1 channel, conv1 with bias")
def resnet18(*, num_classes: int = 2, in_channels: int = 1) -> ResNet:
    """The paper's ResNet baseline (ResNet18, 11,171,330 parameters).

    Returns
    -------
    model : `ResNet`
    """
    return ResNet(num_classes=num_classes, in_channels=in_channels)

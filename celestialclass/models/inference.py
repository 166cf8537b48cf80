"""Inference-only rewrites of a trained model: same outputs, faster on CPUs.

- BatchNorm folded into the preceding convolution (eval mode statistics);
- ReLU moved after a following max-pool (exact: max-pooling commutes with any
  non-decreasing function), so it runs on the pooled, smaller tensor;
- channels-last memory layout, which oneDNN's convolutions and pools prefer;
- HR-CelestialNet's single-channel first convolution computed over stacked
  column shifts of the image (same sums, a shape oneDNN handles well).

Training always uses the plain module; `CelestialClassifier` uses these.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from .hr_celestialnet import HRCelestialNet

__all__ = ["optimize_for_inference", "fold_batchnorm"]


def fold_batchnorm(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """A convolution equal to ``bn(conv(x))`` with ``bn`` in eval mode."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                      conv.dilation, conv.groups, bias=True)
    bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    with torch.no_grad():
        fused.weight.copy_(conv.weight * scale[:, None, None, None])
        fused.bias.copy_((bias - bn.running_mean) * scale + bn.bias)
    return fused


class _ShiftedConv(nn.Module):
    """A single-input-channel k x k convolution as a k x 1 convolution over k column shifts.

    oneDNN handles one input channel poorly; stacking the k horizontally
    shifted copies of the image as channels gives the same sums with a
    better-shaped convolution.
    """

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        k = conv.kernel_size[1]
        self.k = k
        # weight[o, 0, ky, kx] -> weight[o, kx, ky, 0]
        self.weight = nn.Parameter(conv.weight.detach().permute(0, 3, 2, 1).contiguous(), requires_grad=False)
        self.bias = nn.Parameter(conv.bias.detach().clone(), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, height, width = x.shape
        width -= self.k - 1
        # Written straight into channels-last order: (N, H, W, k) viewed as (N, k, H, W).
        shifted = torch.empty((n, height, width, self.k), dtype=x.dtype, device=x.device)
        for j in range(self.k):
            shifted[..., j] = x[:, 0, :, j:j + width]
        return nn.functional.conv2d(shifted.permute(0, 3, 1, 2), self.weight, self.bias)


class _FusedHRCelestialNet(nn.Module):
    def __init__(self, model: HRCelestialNet):
        super().__init__()
        layers, children, i = [], list(model.features), 0
        while i < len(children):
            conv, bn = children[i], children[i + 1]
            layers.append(fold_batchnorm(conv, bn))
            i += 3  # conv, batch norm, ReLU
            if i < len(children) and isinstance(children[i], nn.MaxPool2d):
                layers.append(children[i])
                i += 1
            layers.append(nn.ReLU(inplace=True))
        if layers[0].in_channels == 1 and layers[0].stride == (1, 1):
            layers[0] = _ShiftedConv(layers[0])
        self.features = nn.Sequential(*layers)
        self.classifier = copy.deepcopy(model.classifier)
        self.in_channels = model.in_channels
        for attr in ("name", "class_names", "input_sizes"):
            if hasattr(model, attr):
                setattr(self, attr, getattr(model, attr))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        HRCelestialNet.check_input_shape(x.shape, self.in_channels)
        x = self.features(x)
        return self.classifier(torch.flatten(x.contiguous(), 1))


def _fold_sequential_batchnorm(module: nn.Module) -> nn.Module:
    """A copy of ``module`` in which every Conv2d directly followed by BatchNorm2d in an
    `~torch.nn.Sequential` is one folded convolution (the BatchNorm becomes an Identity)."""
    module = copy.deepcopy(module)
    for sequential in [m for m in module.modules() if isinstance(m, nn.Sequential)]:
        children = list(sequential.children())
        for i in range(len(children) - 1):
            conv, bn = children[i], children[i + 1]
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d) and bn.track_running_stats:
                sequential[i] = fold_batchnorm(conv, bn)
                sequential[i + 1] = nn.Identity()
    return module


class _ChannelsLast(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model.to(memory_format=torch.channels_last)
        for attr in ("name", "class_names", "input_sizes"):
            if hasattr(model, attr):
                setattr(self, attr, getattr(model, attr))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.contiguous(memory_format=torch.channels_last))


def optimize_for_inference(model: nn.Module) -> nn.Module:
    """An eval-mode module that computes what ``model.eval()`` does, faster (never for training).

    Examples
    --------
    >>> import torch
    >>> from celestialclass.models import get_model, optimize_for_inference
    >>> model = get_model("resnet18").eval()
    >>> fast = optimize_for_inference(model)
    >>> x = torch.randn(1, 1, 224, 448)
    >>> with torch.inference_mode():
    ...     bool(torch.allclose(fast(x), model(x), atol=1e-5))
    True
    """
    model = model.eval()
    if isinstance(model, HRCelestialNet):
        return _FusedHRCelestialNet(model).to(memory_format=torch.channels_last).eval()
    return _ChannelsLast(_fold_sequential_batchnorm(model)).eval()

"""Weight initialisation shared by the architectures (torchvision's choices)."""

from torch import nn


def init_weights(model: nn.Module, linear_std: float | None = 0.01) -> None:
    """Kaiming-normal (fan-out) convolutions, unit BatchNorm, N(0, linear_std) linear layers; zero biases.

    ``linear_std=None`` leaves linear layers at PyTorch's default.
    """
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Linear) and linear_std is not None:
            nn.init.normal_(module.weight, 0, linear_std)
            nn.init.zeros_(module.bias)

"""Models: HR-CelestialNet and the paper's baselines, a registry, and summaries.

Written with torch alone. Every model takes single-channel input and returns
two logits, for ``("galaxy", "nsc")``.
"""

from ..schema import CLASS_NAMES, LCID_INPUT, LCID_RESIZE_INPUT
from .registry import (
    ModelInfo,
    TrainingParts,
    training_parts,
    UnknownModelError,
    get_model,
    get_model_info,
    list_models,
    register_model,
)
from .summary import ModelSummary, summary
from .hr_celestialnet import HRCelestialNet, hr_celestialnet
from .alexnet import AlexNet, alexnet
from .vgg import VGG, vgg16_bn
from .resnet import ResNet, resnet18
from .compact import CelestialNetLite, PatchStatistics, Standardize, celestialnet_lite, celestialnet_lite_x2
from .inference import optimize_for_inference

__all__ = [
    "get_model", "get_model_info", "list_models", "register_model", "ModelInfo", "TrainingParts",
    "training_parts",
    "UnknownModelError", "summary", "ModelSummary", "CLASS_NAMES", "LCID_INPUT",
    "LCID_RESIZE_INPUT", "hr_celestialnet", "HRCelestialNet", "alexnet", "AlexNet",
    "vgg16_bn", "VGG", "resnet18", "ResNet", "optimize_for_inference",
    "celestialnet_lite", "celestialnet_lite_x2", "CelestialNetLite", "PatchStatistics", "Standardize",
]

"""The model registry: names -> builders, with what each model expects."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..exceptions import CelestialClassError

__all__ = ["ModelInfo", "UnknownModelError", "register_model", "get_model", "get_model_info",
           "list_models", "CLASS_NAMES", "LCID_INPUT", "LCID_RESIZE_INPUT"]

#: The label vocabulary, in output order ("nsc" = nebula/star cluster).
CLASS_NAMES = ("galaxy", "nsc")
#: Input of full-resolution models: one trimmed chip (channels, rows, columns).
LCID_INPUT = (1, 2048, 4096)
#: Input of the paper's LCID-Resize data: ``cv2.resize(chip, (448, 224))``.
LCID_RESIZE_INPUT = (1, 224, 448)


class UnknownModelError(CelestialClassError, KeyError):
    """No model is registered under the requested name."""

    def __str__(self):  # KeyError would quote the message
        return self.args[0]


@dataclass(frozen=True)
class ModelInfo:
    """What the registry knows of a model.

    Attributes
    ----------
    name : str
        Registry name, e.g. ``"hr-celestialnet"``.
    builder : callable
        Returns a new, randomly initialised model.
    input_sizes : dict
        Input geometries (channels, rows, columns) by data set name; the
        first is the default.
    paper_name : str
        The model's name in the paper's tables.
    description : str
        One line on what it is.
    class_names : tuple of str
        Output classes, in order.
    """

    name: str
    builder: Callable
    input_sizes: dict = field(default_factory=dict)
    paper_name: str = ""
    description: str = ""
    class_names: tuple = CLASS_NAMES

    @property
    def input_size(self) -> tuple[int, int, int]:
        """The default input geometry (channels, rows, columns)."""
        return next(iter(self.input_sizes.values()))


_REGISTRY: dict[str, ModelInfo] = {}


def register_model(name: str, *, input_sizes: dict, paper_name: str = "", description: str = ""):
    """Decorator that registers a model builder under ``name``.

    The builder's models get ``name``, ``class_names`` and ``input_sizes``
    attributes.

    Examples
    --------
    >>> import torch
    >>> from celestialclass.models import register_model, get_model, LCID_RESIZE_INPUT
    >>> @register_model("tiny-example", input_sizes={"LCID-Resize": LCID_RESIZE_INPUT})
    ... def tiny_example(num_classes=2):
    ...     return torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
    ...                                torch.nn.Linear(1, num_classes))
    >>> get_model("tiny-example").input_sizes
    {'LCID-Resize': (1, 224, 448)}
    """
    def decorator(builder):
        if name in _REGISTRY and _REGISTRY[name].builder is not builder:
            raise CelestialClassError(f"a model named {name!r} is already registered")

        def build(*args, **kwargs):
            model = builder(*args, **kwargs)
            model.name = name
            model.class_names = CLASS_NAMES
            model.input_sizes = dict(input_sizes)
            return model

        build.__name__ = builder.__name__
        build.__qualname__ = builder.__qualname__
        build.__doc__ = builder.__doc__
        build.__wrapped__ = builder
        _REGISTRY[name] = ModelInfo(name, build, dict(input_sizes), paper_name or name, description)
        return build

    return decorator


def get_model_info(name: str) -> ModelInfo:
    """The `ModelInfo` of a registered model.

    Raises
    ------
    UnknownModelError
        If no model has that name; the message lists the known names.
    """
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise UnknownModelError(
            f"unknown model {name!r}; known models: {', '.join(list_models())}"
        ) from None


def get_model(name: str, **kwargs):
    """A new, randomly initialised model by registry name.

    Parameters
    ----------
    name : str
        One of `list_models`.
    **kwargs
        Passed to the model's builder (e.g. ``num_classes``).

    Returns
    -------
    model : `torch.nn.Module`
        With attributes ``name``, ``class_names`` and ``input_sizes``.

    Examples
    --------
    >>> from celestialclass.models import get_model
    >>> model = get_model("resnet18")
    >>> model.class_names, model.input_sizes["LCID-Resize"]
    (('galaxy', 'nsc'), (1, 224, 448))
    """
    return get_model_info(name).builder(**kwargs)


def list_models() -> list[str]:
    """Names of the registered models, sorted.

    Examples
    --------
    >>> from celestialclass.models import list_models
    >>> [m for m in list_models() if m != "tiny-example"]
    ['alexnet', 'celestialnet-lite', 'celestialnet-lite-x2', 'hr-celestialnet', 'resnet18', 'vgg16-bn']
    """
    return sorted(_REGISTRY)

"""The model registry: names -> builders, with what each model expects."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..exceptions import CelestialClassError
from ..schema import CLASS_NAMES

__all__ = ["ModelInfo", "UnknownModelError", "TrainingParts", "training_parts", "register_model", "get_model",
           "get_model_info", "list_models"]


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
    default_weights : str or None
        Name of the registered weights (`celestialclass.weights.list_weights`)
        that ``get_model(name, weights="DEFAULT")`` and
        ``CelestialClassifier(model=name)`` use; None when none are bundled.
    """

    name: str
    builder: Callable
    input_sizes: dict = field(default_factory=dict)
    paper_name: str = ""
    description: str = ""
    class_names: tuple = CLASS_NAMES
    default_weights: str | None = None

    @property
    def input_size(self) -> tuple[int, int, int]:
        """The default input geometry (channels, rows, columns)."""
        return next(iter(self.input_sizes.values()))


@dataclass(frozen=True)
class TrainingParts:
    """How `celestialclass.training.train` steps a model: the hook for models that need special steps.

    A model with a ``training_parts()`` method returns one of these; any
    other model is trained whole (``TrainingParts(None, model)``).

    Attributes
    ----------
    transform : `torch.nn.Module` or None
        A fixed, parameter-free first layer: the dataset applies it once per
        chip (to a batch of one) and caches its output with the chip; flips
        and crops act on that output, so it must commute with them.
    module : `torch.nn.Module`
        What the optimizer steps through, on the transform's output. It
        returns logits ``(batch, classes)``, or ``(members, batch, classes)``
        for a committee whose members each get their own loss (the step
        minimises their mean). Its parameters must be the model's.
    """

    transform: object
    module: object


def training_parts(model) -> TrainingParts:
    """The model's `TrainingParts`, from its ``training_parts()`` method or the whole model.

    Examples
    --------
    >>> from celestialclass.models import get_model, training_parts
    >>> parts = training_parts(get_model("celestialnet-lite"))
    >>> type(parts.transform).__name__, training_parts(get_model("resnet18")).transform
    ('PatchStatistics', None)
    """
    hook = getattr(model, "training_parts", None)
    return hook() if hook is not None else TrainingParts(None, model)


_REGISTRY: dict[str, ModelInfo] = {}


def register_model(name: str, *, input_sizes: dict, paper_name: str = "", description: str = "",
                   default_weights: str | None = None):
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
        _REGISTRY[name] = ModelInfo(name, build, dict(input_sizes), paper_name or name, description,
                                    default_weights=default_weights)
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


def get_model(name: str, weights=None, **kwargs):
    """A model by registry name: new and randomly initialised, or with trained weights.

    Parameters
    ----------
    name : str
        One of `list_models`.
    weights : str or path-like, optional
        ``"DEFAULT"`` (the architecture's `ModelInfo.default_weights`), or
        what `celestialclass.weights.resolve_weights` takes (a registered
        name, a training output, a URL); they must be weights of ``name``.
        The model is then in eval mode, its weights sha256-verified.
    **kwargs
        Passed to the model's builder (e.g. ``num_classes``) when no
        ``weights`` are given.

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
    >>> get_model("celestialnet-lite-x2", weights="DEFAULT").training
    False
    """
    info = get_model_info(name)
    if weights is None:
        return info.builder(**kwargs)
    from ..weights import default_weights, resolve_weights  # the weights layer builds through this registry

    entry = default_weights(name) if weights == "DEFAULT" else resolve_weights(weights)
    if entry.architecture != name:
        raise CelestialClassError(f"weights {entry.name!r} are for {entry.architecture!r}, not {name!r}")
    return entry.build_model()


def list_models() -> list[str]:
    """Names of the registered models, sorted.

    Examples
    --------
    >>> from celestialclass.models import list_models
    >>> [m for m in list_models() if m != "tiny-example"]
    ['alexnet', 'celestialnet-lite', 'celestialnet-lite-x2', 'hr-celestialnet', 'resnet18', 'vgg16-bn']
    """
    return sorted(_REGISTRY)

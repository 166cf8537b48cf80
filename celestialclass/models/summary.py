"""Size, memory and compute of a model without running it: the paper's Table 3 method."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..exceptions import CelestialClassError, ShapeError

__all__ = ["ModelSummary", "summary"]

_MB = 2 ** 20
_BYTES_PER_VALUE = 4  # float32


@dataclass(frozen=True)
class ModelSummary:
    """A model's size, training-memory estimate and compute for one input geometry.

    Memory follows the formula of the ``torchsummary`` package (sksq96,
    1.5.1) that the paper used for its Table 3; MACs count the
    multiply-accumulates of convolutions and fully connected layers.

    Attributes
    ----------
    model_name : str
        Registry name (or class name) of the model.
    input_size : tuple of int
        One input, (channels, rows, columns).
    batch_size : int
        Batch size of the memory estimate.
    total_params : int
        Parameters of the model.
    trainable_params : int
        Parameters that require gradients.
    params_mb : float
        Parameters at 4 bytes each, in MB (2**20 bytes).
    input_mb : float
        One batch of input at 4 bytes a value, in MB.
    forward_backward_mb : float
        Twice the outputs of every module called in the forward pass (values
        and gradients), for the whole batch, in MB.
    total_mb, total_gb : float
        ``input_mb + forward_backward_mb + params_mb``, in MB and GB (2**30 bytes).
    macs : int
        Multiply-accumulates for one input.
    layers : `~astropy.table.Table`
        One row per module call: ``name``, ``type``, ``output_shape``
        (batch first), ``params`` (weight and bias) and ``macs``.
    """

    model_name: str
    input_size: tuple
    batch_size: int
    total_params: int
    trainable_params: int
    params_mb: float
    input_mb: float
    forward_backward_mb: float
    total_mb: float
    total_gb: float
    macs: int
    layers: object

    def __str__(self) -> str:
        lines = [f"{self.model_name}: input {'x'.join(map(str, self.input_size))}, "
                 f"batch {self.batch_size}"]
        lines += self.layers.pformat(max_lines=-1, max_width=-1)
        lines += [
            f"Total params: {self.total_params:,} ({self.trainable_params:,} trainable)",
            f"MACs per input: {self.macs / 1e9:.2f} G",
            f"Input size (MB): {self.input_mb:.2f}",
            f"Forward/backward pass size (MB): {self.forward_backward_mb:.2f}",
            f"Params size (MB): {self.params_mb:.2f}",
            f"Estimated total size (MB): {self.total_mb:.2f} ({self.total_gb:.2f} GB)",
        ]
        return "\n".join(lines)


def _module_macs(module, output) -> int:
    from torch import nn

    per_input = output[0].numel() if output.dim() > 0 else 0
    if isinstance(module, nn.Conv2d):
        k = module.kernel_size[0] * module.kernel_size[1]
        return per_input * (module.in_channels // module.groups) * k
    if isinstance(module, nn.Linear):
        return per_input * module.in_features
    return 0


def _weight_bias_count(module) -> int:
    # torchsummary counts a module's own ``weight`` and ``bias`` only.
    count = 0
    for attr in ("weight", "bias"):
        tensor = getattr(module, attr, None)
        if tensor is not None and hasattr(tensor, "shape"):
            count += math.prod(tensor.shape)
    return count


def summary(model, input_size: tuple | None = None, batch_size: int = 4) -> ModelSummary:
    """Summarise a model's size, training memory and compute without allocating activations.

    The forward pass runs on PyTorch's ``meta`` device: only shapes are
    computed, so VGG16-BN at 2048 x 4096 (over 200 GB of activations for
    real) takes a second and almost no memory.

    Parameters
    ----------
    model : str or `torch.nn.Module`
        A registry name (the model is then built on the meta device, at no
        memory cost) or a model.
    input_size : tuple of int, optional
        One input, (channels, rows, columns); default: the model's first
        ``input_sizes`` entry.
    batch_size : int, optional
        Batch size of the memory estimate (the paper's Table 3 uses 4).

    Returns
    -------
    ModelSummary

    Raises
    ------
    celestialclass.exceptions.ShapeError
        If the model cannot take that input; the message names what it takes.

    Examples
    --------
    >>> from celestialclass.models import summary
    >>> s = summary("hr-celestialnet")
    >>> s.total_params, round(s.params_mb, 2), round(s.total_gb, 2), round(s.macs / 1e9, 2)
    (97048130, 370.21, 32.79, 177.94)
    """
    import torch
    from astropy.table import Table
    from torch import nn

    from .registry import get_model_info

    if isinstance(model, str):
        info = get_model_info(model)
        with torch.device("meta"):
            module = info.builder()
    elif isinstance(model, nn.Module):
        module = model
    else:
        raise CelestialClassError(f"model must be a registry name or a torch.nn.Module, got {model!r}")
    name = getattr(module, "name", type(module).__name__)
    if input_size is None:
        sizes = getattr(module, "input_sizes", None)
        if not sizes:
            raise CelestialClassError(f"{name}: give input_size=(channels, rows, columns)")
        input_size = next(iter(sizes.values()))
    input_size = tuple(int(n) for n in input_size)
    if len(input_size) != 3 or min(input_size) < 1 or int(batch_size) < 1:
        raise CelestialClassError(
            f"input_size must be (channels, rows, columns) and batch_size >= 1; "
            f"got {input_size} and {batch_size}"
        )

    rows = []
    names = {m: n for n, m in module.named_modules()}

    def hook(mod, inputs, output):
        if not isinstance(output, torch.Tensor):
            raise CelestialClassError(f"{name}: module {names.get(mod)} returns a non-tensor output")
        rows.append((names.get(mod, "?"), type(mod).__name__, tuple(output.shape),
                     _weight_bias_count(mod), _module_macs(mod, output)))

    hooks = [m.register_forward_hook(hook) for m in module.modules()
             if not isinstance(m, (nn.Sequential, nn.ModuleList)) and m is not module]
    state = {key: torch.empty_like(value, device="meta")
             for key, value in list(module.named_parameters()) + list(module.named_buffers())}
    was_training = module.training
    module.eval()
    try:
        x = torch.empty((int(batch_size),) + input_size, device="meta")
        with torch.no_grad():
            torch.func.functional_call(module, state, (x,))
    except ShapeError:
        raise
    except (RuntimeError, ValueError) as exc:
        accepted = getattr(module, "input_sizes", {})
        raise ShapeError(
            f"{name} cannot take input of size {input_size}: {str(exc).splitlines()[0]}; "
            f"it is built for {accepted or 'unknown sizes'}"
        ) from None
    finally:
        for handle in hooks:
            handle.remove()
        module.train(was_training)

    total_params = sum(p.numel() for p in module.parameters())
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    outputs = sum(math.prod(shape) for _, _, shape, _, _ in rows)
    input_mb = math.prod(input_size) * batch_size * _BYTES_PER_VALUE / _MB
    fwd_bwd_mb = 2 * outputs * _BYTES_PER_VALUE / _MB
    params_mb = total_params * _BYTES_PER_VALUE / _MB
    total_mb = input_mb + fwd_bwd_mb + params_mb
    layers = Table(
        rows=[(n, t, "x".join(map(str, s)), p, m) for n, t, s, p, m in rows],
        names=("name", "type", "output_shape", "params", "macs"),
        dtype=(str, str, str, "i8", "i8"),
    )
    return ModelSummary(
        model_name=name, input_size=input_size, batch_size=int(batch_size),
        total_params=total_params, trainable_params=trainable, params_mb=params_mb,
        input_mb=input_mb, forward_backward_mb=fwd_bwd_mb, total_mb=total_mb,
        total_gb=total_mb / 1024, macs=int(sum(r[4] for r in rows)), layers=layers,
    )

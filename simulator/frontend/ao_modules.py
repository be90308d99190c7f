"""Eager ``torch.ao`` quantized modules, rewritten into the PT2E pattern export can trace.

``convert()`` and ``quantize_dynamic()`` leave modules holding packed C++ parameters that
torch.export cannot flatten. Each such module is replaced (in a copy; the user's model is
untouched) by a float module that dequantizes its integer weight with the same scales and
zero points and wraps its activations in quantize -> dequantize: exactly the graph
``convert_pt2e`` produces, which the frontend already reads as int8. Numerically it is the
reference the int8 kernels approximate, so the accuracy proxy can run it too.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch
import torch.ao.nn.intrinsic.quantized as nniq
import torch.ao.nn.quantized as nnq
import torch.ao.nn.quantized.dynamic as nnqd
import torch.ao.quantization.fx._decomposed  # registers quantized_decomposed
from torch import nn
from torch.nn import functional as F

from ..errors import TraceError

_QD = torch.ops.quantized_decomposed
_AO_PACKAGES = ("torch.ao.nn.quantized", "torch.ao.nn.intrinsic.quantized")
_INT8 = (-128, 127, torch.int8)
_UINT8 = (0, 255, torch.uint8)


class _QDQ(nn.Module):
    """An activation quantized to uint8 at a fixed scale, then dequantized."""

    def __init__(self, scale: float, zero_point: int) -> None:
        super().__init__()
        self.scale, self.zero_point = float(scale), int(zero_point)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = _QD.quantize_per_tensor(x, self.scale, self.zero_point, *_UINT8)
        return _QD.dequantize_per_tensor(q, self.scale, self.zero_point, *_UINT8)


class _DequantizedWeight(nn.Module):
    """An int8 weight buffer with its quantization parameters, dequantized on use."""

    def __init__(self, weight: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("int_weight", weight.int_repr())
        if weight.qscheme() in (torch.per_channel_affine, torch.per_channel_symmetric):
            self.register_buffer("scales", weight.q_per_channel_scales().float())
            self.register_buffer("zero_points", weight.q_per_channel_zero_points())
            self.axis: int | None = weight.q_per_channel_axis()
        else:  # literals, not buffers: export needs them at trace time
            self.scale, self.zero_point = float(weight.q_scale()), int(weight.q_zero_point())
            self.axis = None

    def forward(self) -> torch.Tensor:
        if self.axis is None:
            return _QD.dequantize_per_tensor(self.int_weight, self.scale, self.zero_point, *_INT8)
        return _QD.dequantize_per_channel(
            self.int_weight, self.scales, self.zero_points, self.axis, *_INT8
        )


class _QLinear(nn.Module):
    def __init__(self, mod: Any, relu: bool, dynamic: bool) -> None:
        super().__init__()
        self.dequant: _DequantizedWeight = _DequantizedWeight(mod.weight())
        bias = mod.bias()
        self.bias = nn.Parameter(bias.detach().float()) if bias is not None else None
        self.relu = relu
        # Dynamic quantization picks the input scale per batch; any scale prices the same.
        self.act: _QDQ | None = _QDQ(1.0 / 64, 128) if dynamic else None
        self.out: _QDQ | None = None if dynamic else _QDQ(mod.scale, mod.zero_point)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.act is not None:
            x = self.act(x)
        y = F.linear(x, self.dequant(), self.bias)
        y = F.relu(y) if self.relu else y
        return self.out(y) if self.out is not None else y


class _QConv(nn.Module):
    def __init__(self, mod: Any, relu: bool) -> None:
        super().__init__()
        self.dequant: _DequantizedWeight = _DequantizedWeight(mod.weight())
        bias = mod.bias()
        self.bias = nn.Parameter(bias.detach().float()) if bias is not None else None
        self.stride: Any = mod.stride
        self.padding: Any = mod.padding
        self.dilation: Any = mod.dilation
        self.groups: int = int(mod.groups)
        self.conv: Callable[..., torch.Tensor] = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[
            len(mod.kernel_size)
        ]
        self.relu = relu
        self.out = _QDQ(mod.scale, mod.zero_point)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(
            x, self.dequant(), self.bias, self.stride, self.padding, self.dilation, self.groups
        )
        return self.out(F.relu(y) if self.relu else y)


class _QFunctional(nn.Module):
    """``QFunctional`` (add, mul, cat...) on dequantized floats, requantized after."""

    def __init__(self, mod: Any) -> None:
        super().__init__()
        self.out = _QDQ(mod.scale, mod.zero_point)

    def add(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.out(x + y)

    def add_relu(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.out(F.relu(x + y))

    def mul(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.out(x * y)

    def add_scalar(self, x: torch.Tensor, y: float) -> torch.Tensor:
        return self.out(x + y)

    def mul_scalar(self, x: torch.Tensor, y: float) -> torch.Tensor:
        return self.out(x * y)

    def cat(self, xs: list[torch.Tensor], dim: int = 0) -> torch.Tensor:
        return self.out(torch.cat(xs, dim=dim))


_SWAPS: dict[type, Callable[[Any], nn.Module]] = {
    nnq.Quantize: lambda m: _QDQ(float(m.scale), int(m.zero_point)),
    nnq.DeQuantize: lambda m: nn.Identity(),
    nnq.Linear: lambda m: _QLinear(m, relu=False, dynamic=False),
    nniq.LinearReLU: lambda m: _QLinear(m, relu=True, dynamic=False),
    nnqd.Linear: lambda m: _QLinear(m, relu=False, dynamic=True),
    nnq.Conv1d: lambda m: _QConv(m, relu=False),
    nnq.Conv2d: lambda m: _QConv(m, relu=False),
    nnq.Conv3d: lambda m: _QConv(m, relu=False),
    nniq.ConvReLU1d: lambda m: _QConv(m, relu=True),
    nniq.ConvReLU2d: lambda m: _QConv(m, relu=True),
    nniq.ConvReLU3d: lambda m: _QConv(m, relu=True),
    nnq.QFunctional: _QFunctional,
}


def is_ao_quantized(module: nn.Module) -> bool:
    return type(module).__module__.startswith(_AO_PACKAGES)


def has_ao_quantized_modules(model: nn.Module) -> bool:
    return any(is_ao_quantized(m) for m in model.modules())


def dequantize_ao_modules(model: nn.Module, source: str) -> nn.Module:
    """A copy of ``model`` with every eager quantized module in its PT2E form."""
    out = copy.deepcopy(model)
    _swap_children(out, "", source)
    return out


def _swap_children(parent: nn.Module, prefix: str, source: str) -> None:
    for child_name, child in list(parent.named_children()):
        where = f"{prefix}{child_name}"
        if not is_ao_quantized(child):
            _swap_children(child, f"{where}.", source)
            continue
        if isinstance(child, nnqd.Linear) and child._packed_params.dtype != torch.qint8:
            raise TraceError(
                f"{source}: {where}: dynamic {child._packed_params.dtype} linear is not "
                "supported; hwsim reads qint8 dynamic quantization"
            )
        swap = _SWAPS.get(type(child))
        if swap is None:
            raise TraceError(
                f"{source}: {where}: quantized module {type(child).__name__} is not "
                "supported; quantize with PT2E (convert_pt2e) or QAT instead"
            )
        setattr(parent, child_name, swap(child))

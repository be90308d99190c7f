"""Per-op arithmetic, one small pure function per op family.

Each handler sees only shapes and literal arguments (never real data) and returns the MACs,
FLOPs and attributes of one op. MACs follow ``torch.utils.flop_counter``'s convention (a
multiply-accumulate is two FLOPs; bias adds are not counted) so totals can be checked against
it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ..ops import TensorSpec


@dataclass(frozen=True)
class NodeShapes:
    """What a handler may look at: activation inputs, parameters, outputs, literal args."""

    inputs: tuple[TensorSpec, ...]
    params: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    args: tuple[object, ...]  # positional args with tensors replaced by None
    kwargs: tuple[tuple[str, object], ...]

    @property
    def tensors(self) -> tuple[TensorSpec, ...]:
        """Operands in call order regardless of whether they are activations or parameters."""
        return self.inputs + self.params

    def arg(self, index: int, name: str, default: object = None) -> object:
        kw = dict(self.kwargs)
        if name in kw:
            return kw[name]
        return self.args[index] if index < len(self.args) else default


@dataclass(frozen=True)
class Work:
    macs: int = 0
    flops: int = 0
    attrs: tuple[tuple[str, object], ...] = ()


def _out_numel(s: NodeShapes) -> int:
    return sum(t.numel for t in s.outputs)


def _as_tuple(value: object) -> tuple[int, ...]:
    if isinstance(value, Sequence):
        return tuple(int(v) for v in value)
    return (int(value),) if isinstance(value, int) else ()


def conv(s: NodeShapes) -> Work:
    """Each output element accumulates over (Cin/groups) x kernel taps: weight.shape[1:].

    Groups are derived from shapes (Cin / weight's input channels) rather than read from the
    argument list, whose position differs between conv2d, conv2d.padding and convolution.
    """
    weight = s.params[0] if s.params else s.inputs[1]
    macs = _out_numel(s) * math.prod(weight.shape[1:])
    groups = max(s.inputs[0].shape[1] // weight.shape[1], 1)
    attrs = (
        ("stride", _as_tuple(s.arg(3, "stride", 1))),
        ("padding", s.arg(4, "padding", 0)),
        ("dilation", _as_tuple(s.arg(5, "dilation", 1))),
        ("groups", groups),
        ("kernel", tuple(weight.shape[2:])),
    )
    return Work(macs=macs, flops=2 * macs, attrs=attrs)


def conv_transpose(s: NodeShapes) -> Work:
    """Every input element scatters into (Cout/groups) x kernel taps: weight is [Cin, Cout/g, k]."""
    weight = s.params[0] if s.params else s.inputs[1]
    macs = s.inputs[0].numel * math.prod(weight.shape[1:])
    groups = max(s.outputs[0].shape[1] // weight.shape[1], 1)
    attrs = (("groups", groups), ("kernel", tuple(weight.shape[2:])), ("transposed", True))
    return Work(macs=macs, flops=2 * macs, attrs=attrs)


def linear(s: NodeShapes) -> Work:
    """out[..., N] = x[..., K] @ W[N, K]^T: K MACs per output element."""
    k = s.inputs[0].shape[-1]
    macs = _out_numel(s) * k
    return Work(macs=macs, flops=2 * macs, attrs=(("k", k),))


def matmul(s: NodeShapes) -> Work:
    """mm / bmm / matmul: the reduction length is the first operand's last dimension."""
    a = s.tensors[0]
    k = a.shape[-1] if len(a.shape) >= 1 else 1
    macs = _out_numel(s) * k
    return Work(macs=macs, flops=2 * macs, attrs=(("k", k),))


def addmm(s: NodeShapes) -> Work:
    """addmm(bias, a, b) / baddbmm: a matmul whose first operand is the second tensor."""
    a = s.tensors[1]
    macs = _out_numel(s) * a.shape[-1]
    return Work(macs=macs, flops=2 * macs + _out_numel(s), attrs=(("k", a.shape[-1]),))


def attention(s: NodeShapes) -> Work:
    """softmax(Q K^T) V: L x S x E MACs for the scores, L x S x Ev for the weighted sum."""
    q, k, v = s.tensors[:3]
    batch = math.prod(q.shape[:-2])
    seq_q, dim = q.shape[-2], q.shape[-1]
    seq_k, dim_v = k.shape[-2], v.shape[-1]
    macs = batch * seq_q * seq_k * (dim + dim_v)
    softmax_flops = 5 * batch * seq_q * seq_k
    attrs = (("seq_q", seq_q), ("seq_k", seq_k), ("head_dim", dim), ("heads_x_batch", batch))
    return Work(macs=macs, flops=2 * macs + softmax_flops, attrs=attrs)


def pointwise(flops_per_element: int) -> object:
    def handler(s: NodeShapes) -> Work:
        return Work(flops=flops_per_element * _out_numel(s))

    handler.__doc__ = f"Elementwise: {flops_per_element} FLOP(s) per output element."
    return handler


def pool(s: NodeShapes) -> Work:
    """Windowed pooling: one compare/add per window tap per output element. A window larger
    than the padded input (``AvgPool2d(1280, ceil_mode=True)`` on 7x7) only covers the input."""
    kernel = _as_tuple(s.arg(1, "kernel_size", 1))
    padding = _as_tuple(s.arg(3, "padding", 0)) or (0,)
    spatial = s.inputs[0].shape[-len(kernel) :] if kernel and s.inputs else ()
    if len(padding) == 1:
        padding = padding * len(kernel)
    if len(spatial) == len(kernel):
        kernel = tuple(min(k, d + 2 * p) for k, d, p in zip(kernel, spatial, padding, strict=False))
    taps = math.prod(kernel) if kernel else 1
    return Work(flops=_out_numel(s) * taps, attrs=(("kernel", kernel),))


def adaptive_pool(s: NodeShapes) -> Work:
    """Adaptive pooling touches every input element once."""
    return Work(flops=s.inputs[0].numel)


def reduction(s: NodeShapes) -> Work:
    """A reduction reads every input element once."""
    return Work(flops=s.inputs[0].numel if s.inputs else 0)


def norm(flops_per_element: int) -> object:
    def handler(s: NodeShapes) -> Work:
        return Work(flops=flops_per_element * s.inputs[0].numel)

    handler.__doc__ = f"Normalization: about {flops_per_element} FLOPs per element."
    return handler


def gather(s: NodeShapes) -> Work:
    """Lookups do no arithmetic; they read the gathered rows, which equal the output."""
    return Work(attrs=(("gathered_bytes", sum(t.nbytes for t in s.outputs)),))


def no_work(s: NodeShapes) -> Work:
    """Views and data movement do no arithmetic."""
    return Work()

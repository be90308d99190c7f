"""Output shapes of the hot ATen ops without running a kernel, for the dispatch-mode capture.

A meta tensor carries shapes through any ATen op, but many meta kernels are Python
decompositions: a batch-norm on meta tensors takes milliseconds, which is most of the time a
NAS loop would spend per candidate. The ops a network is made of (conv, linear, norms,
elementwise arithmetic, pooling, mean, cat) have shape rules simple enough to state
here; each returns the output as an empty meta tensor, or ``None`` where its case is not the
simple one (the caller then runs the real meta kernel). ``tests/test_capture.py`` checks each
rule against the meta kernel.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

Rule = Callable[[Sequence[Any], dict[str, Any]], Any]

_META = torch.device("meta")


def _empty(shape: Sequence[int], dtype: torch.dtype) -> torch.Tensor:
    return torch.empty(tuple(shape), dtype=dtype, device=_META)


def _float_tensor(value: Any) -> bool:
    return isinstance(value, torch.Tensor) and value.is_floating_point()


def _unary(args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    """Elementwise on one float tensor (extra arguments are scalars): same shape and dtype."""
    if not args or not _float_tensor(args[0]):
        return None
    x = args[0]
    if any(isinstance(a, torch.Tensor) for a in args[1:]):
        return None
    return _empty(x.shape, x.dtype)


def _unary_inplace(args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    """In place: the op returns its own first operand."""
    return args[0] if _unary(args, kwargs) is not None else None


def _binary(args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    """Broadcasting arithmetic with a float result (tensor-tensor or tensor-scalar). The
    common cases (equal shapes, equal dtypes, a float tensor and a number) are read off the
    operands; torch's broadcasting and promotion rules, which take tens of microseconds in
    Python, decide the rest."""
    if len(args) < 2:
        return None
    a, b = args[0], args[1]
    if not isinstance(a, torch.Tensor) or isinstance(b, (bool, complex)):
        return None
    if isinstance(b, torch.Tensor):
        shape = a.shape if a.shape == b.shape else torch.broadcast_shapes(a.shape, b.shape)
        same = a.dtype == b.dtype
    elif isinstance(b, (int, float)):
        shape = a.shape
        same = a.is_floating_point()
    else:
        return None
    dtype = a.dtype if same else torch.result_type(a, b)
    if not dtype.is_floating_point:
        return None  # integer division and friends: let the kernel decide
    return _empty(shape, dtype)


def _binary_inplace(args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    out = _binary(args, kwargs)
    a = args[0]
    if out is None or out.shape != a.shape or out.dtype != a.dtype:
        return None
    return a


def _same_as_input(args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    """Normalizations (batch_norm, layer_norm): one output shaped like the input."""
    return _empty(args[0].shape, args[0].dtype) if _float_tensor(args[0]) else None


def _int_list(value: Any, n: int) -> tuple[int, ...] | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return (value,) * n
    if isinstance(value, (list, tuple)) and all(isinstance(v, int) for v in value):
        if len(value) == n:
            return tuple(value)
        if len(value) == 1:
            return (value[0],) * n
    return None


def _conv(args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    """conv1d/2d/3d(x, w, b, stride, padding, dilation, groups), integer padding only:
    out = floor((in + 2p - d(k - 1) - 1) / s) + 1 per spatial dimension."""
    x, w = args[0], args[1]
    if not (isinstance(x, torch.Tensor) and isinstance(w, torch.Tensor)) or kwargs:
        return None
    spatial = w.dim() - 2
    if x.dim() != w.dim() or x.dtype != w.dtype or spatial < 1:
        return None
    stride = _int_list(args[3] if len(args) > 3 else 1, spatial)
    padding = _int_list(args[4] if len(args) > 4 else 0, spatial)
    dilation = _int_list(args[5] if len(args) > 5 else 1, spatial)
    groups = args[6] if len(args) > 6 else 1
    if stride is None or padding is None or dilation is None or not isinstance(groups, int):
        return None
    if x.shape[1] != w.shape[1] * groups:
        return None
    out = []
    for size, k, s, p, d in zip(x.shape[2:], w.shape[2:], stride, padding, dilation, strict=True):
        length = (size + 2 * p - d * (k - 1) - 1) // s + 1
        if length < 1:
            return None
        out.append(length)
    return _empty((x.shape[0], w.shape[0], *out), x.dtype)


def _linear(args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    x, w = args[0], args[1]
    if not (_float_tensor(x) and isinstance(w, torch.Tensor)) or w.dim() != 2 or kwargs:
        return None
    if x.dim() < 1 or x.shape[-1] != w.shape[1] or x.dtype != w.dtype:
        return None
    return _empty((*x.shape[:-1], w.shape[0]), x.dtype)


def _adaptive_pool(args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    x, size = args[0], args[1]
    if not _float_tensor(x) or not isinstance(size, (list, tuple)) or kwargs:
        return None
    n = len(size)
    if x.dim() not in (n + 1, n + 2) or not all(isinstance(s, int) and s > 0 for s in size):
        return None
    return _empty((*x.shape[:-n], *size), x.dtype)


def _pool_length(size: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """ATen's ``pooling_output_shape``: a window may start in the right padding only under
    ``ceil_mode``, and never past the input."""
    span = size + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)
    length = span // s + 1
    if ceil_mode and (length - 1) * s >= size + p:
        length -= 1
    return length


def _poolable(x: Any, kwargs: dict[str, Any]) -> bool:
    """A contiguous float input of a 2-d pooling (batched or not), arguments positional."""
    return _float_tensor(x) and not kwargs and x.dim() in (3, 4) and x.is_contiguous()


def _pool_output(
    x: torch.Tensor, kernel: Any, stride: Any, padding: Any, dilation: Any, ceil_mode: Any
) -> Any:
    """A 2-d pooling's contiguous output. Padding over half the window (which the kernel
    refuses), an empty output and anything not plainly integer go to the kernel."""
    k = _int_list(kernel, 2)
    s = k if isinstance(stride, (list, tuple)) and not stride else _int_list(stride, 2)
    p = _int_list(padding, 2)
    d = _int_list(dilation, 2)
    if k is None or s is None or p is None or d is None or not isinstance(ceil_mode, bool):
        return None
    if min(*k, *s, *d) < 1 or min(p) < 0 or any(pi > ki // 2 for pi, ki in zip(p, k, strict=True)):
        return None
    spatial = [
        _pool_length(size, ki, si, pi, di, ceil_mode)
        for size, ki, si, pi, di in zip(x.shape[-2:], k, s, p, d, strict=True)
    ]
    if min(spatial) < 1:
        return None
    return _empty((*x.shape[:-2], *spatial), x.dtype)


def _avg_pool2d(args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    """avg_pool2d(x, kernel, stride=[], padding=0, ceil_mode=False, count_include_pad,
    divisor_override): the last two do not change the shape."""
    if not 2 <= len(args) <= 7 or not _poolable(args[0], kwargs):
        return None
    given = list(args[2:5])
    stride, padding, ceil_mode = given + [[], 0, False][len(given) :]
    return _pool_output(args[0], args[1], stride, padding, 1, ceil_mode)


def _max_pool2d(args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    """max_pool2d(x, kernel, stride=[], padding=0, dilation=1, ceil_mode=False)."""
    if not 2 <= len(args) <= 6 or not _poolable(args[0], kwargs):
        return None
    given = list(args[2:6])
    stride, padding, dilation, ceil_mode = given + [[], 0, 1, False][len(given) :]
    return _pool_output(args[0], args[1], stride, padding, dilation, ceil_mode)


def _mean_dim(args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    """mean.dim(x, dims, keepdim): float input, dtype unchanged."""
    x = args[0]
    dims = args[1] if len(args) > 1 else kwargs.get("dim")
    keepdim = args[2] if len(args) > 2 else kwargs.get("keepdim", False)
    if not _float_tensor(x) or set(kwargs) - {"dim", "keepdim"} or x.dim() == 0:
        return None
    if not isinstance(dims, (list, tuple)) or not dims or not isinstance(keepdim, bool):
        return None
    rank = x.dim()
    if not all(isinstance(d, int) and -rank <= d < rank for d in dims):
        return None
    reduced = {d % rank for d in dims}
    if keepdim:
        shape = [1 if i in reduced else s for i, s in enumerate(x.shape)]
    else:
        shape = [s for i, s in enumerate(x.shape) if i not in reduced]
    return _empty(shape, x.dtype)


def _cat(args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    """cat(tensors, dim): same rank and dtype, equal sizes off the joined dimension."""
    tensors = args[0]
    dim = args[1] if len(args) > 1 else kwargs.get("dim", 0)
    if set(kwargs) - {"dim"} or not isinstance(tensors, (list, tuple)) or not tensors:
        return None
    if not all(isinstance(t, torch.Tensor) for t in tensors) or not isinstance(dim, int):
        return None
    first = tensors[0]
    rank = first.dim()
    if rank == 0 or not -rank <= dim < rank:
        return None
    dim %= rank
    for t in tensors:
        if t.dtype != first.dtype or t.dim() != rank:
            return None
        if any(
            a != b for i, (a, b) in enumerate(zip(t.shape, first.shape, strict=True)) if i != dim
        ):
            return None
    shape = list(first.shape)
    shape[dim] = sum(t.shape[dim] for t in tensors)
    return _empty(shape, first.dtype)


def _cpu_like(value: Any) -> Any:
    """An uninitialised CPU tensor with ``value``'s shape, strides and dtype (no data is read)."""
    if not isinstance(value, torch.Tensor):
        return value
    return torch.empty_strided(tuple(value.shape), tuple(value.stride()), dtype=value.dtype)


def _sdpa(args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    """scaled_dot_product_attention where the CPU would run its flash kernel: the output has
    the query's shape and strides (``empty_like(query)``), which decides whether a later
    ``.contiguous()`` copies. The kernel choice is torch's own (``_fused_sdp_choice`` on
    uninitialised CPU tensors of the same layout); elsewhere the meta kernel runs."""
    if len(args) < 3 or not all(_float_tensor(a) for a in args[:3]):
        return None
    q, k, v = args[:3]
    if q.dim() != 4 or v.shape[-1] != q.shape[-1] or q.device != _META:
        return None
    names = ("attn_mask", "dropout_p", "is_causal")
    positional = dict(zip(names, args[3:], strict=False))
    options = {**positional, **kwargs}
    if set(options) - {*names, "scale", "enable_gqa"}:
        return None
    options = {key: _cpu_like(value) for key, value in options.items()}
    choice = torch._fused_sdp_choice(_cpu_like(q), _cpu_like(k), _cpu_like(v), **options)
    if choice != _FLASH:
        return None
    return torch.empty_strided(tuple(q.shape), tuple(q.stride()), dtype=q.dtype, device=_META)


_FLASH = torch.nn.attention.SDPBackend.FLASH_ATTENTION.value

_UNARY = (
    "relu",
    "relu6",
    "hardtanh",
    "hardswish",
    "hardsigmoid",
    "sigmoid",
    "silu",
    "gelu",
    "tanh",
    "elu",
    "leaky_relu",
    "neg",
    "exp",
    "sqrt",
    "rsqrt",
    "clamp",
    "clamp_min",
    "clamp_max",
)
_BINARY = ("add", "sub", "mul", "div", "maximum", "minimum")

SHAPE_RULES: dict[str, Rule] = {
    **dict.fromkeys(_UNARY, _unary),
    **{f"{name}_": _unary_inplace for name in _UNARY},
    **dict.fromkeys(_BINARY, _binary),
    **{f"{name}_": _binary_inplace for name in _BINARY if name not in ("maximum", "minimum")},
    "dropout": _unary,
    "batch_norm": _same_as_input,
    "layer_norm": _same_as_input,
    "conv1d": _conv,
    "conv2d": _conv,
    "conv3d": _conv,
    "linear": _linear,
    "adaptive_avg_pool1d": _adaptive_pool,
    "adaptive_avg_pool2d": _adaptive_pool,
    "adaptive_avg_pool3d": _adaptive_pool,
    "avg_pool2d": _avg_pool2d,
    "max_pool2d": _max_pool2d,
    "mean": _mean_dim,
    "cat": _cat,
    "scaled_dot_product_attention": _sdpa,
}


def rule_for(packet: str, overload: str) -> Rule | None:
    """The shape rule of one overload, None where the meta kernel must run. Only the
    overloads whose argument lists the rules read are handled (``add.Tensor``, not
    ``add.out``; ``mean.dim``, ``conv2d.default``)."""
    rule = SHAPE_RULES.get(packet)
    if rule is None or overload not in _OVERLOADS.get(packet, ("default",)):
        return None
    return rule


def rule_output(packet: str, overload: str, args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    """The op's output from its shape rule, or None where the meta kernel must run."""
    rule = rule_for(packet, overload)
    return rule(args, kwargs) if rule is not None else None


_OVERLOADS: dict[str, tuple[str, ...]] = {
    **{name: ("Tensor", "Scalar") for name in ("add", "sub", "mul", "div")},
    **{f"{name}_": ("Tensor", "Scalar") for name in ("add", "sub", "mul", "div")},
    "mean": ("dim",),
    "clamp": ("default",),
    "clamp_": ("default",),
}

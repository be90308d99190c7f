"""Evaluate ONNX ops whose inputs are all constants, with numpy.

Exporters leave load-time arithmetic in the graph: shape computations (``Shape -> Gather ->
Concat -> Reshape``), dequantized weights (``DequantizeLinear`` of an int8 initializer),
de-duplicated parameters (``Identity``), position ids gathered from a buffer. Deployment
runtimes fold these before running, and torch.export's frontend folds the same subgraphs
(``builder.Constants``), so here they are constants too, not ops. Their values matter twice:
a folded shape lets shape inference finish, and a folded weight is what statistics are read
from.

One small function per op, in a table; an op that is not here leaves its output a constant of
unknown value (it is still not an op, and its shape still comes from shape inference). Outputs
larger than ``MAX_FOLDED_ELEMENTS`` are not materialised, so a hostile ``ConstantOfShape``
cannot exhaust memory.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from .onnx_types import numpy_dtype

MAX_FOLDED_ELEMENTS = 1 << 26

Value = np.ndarray
Attrs = Mapping[str, Any]
Folder = Callable[[Sequence[Value | None], Attrs], Sequence[Value]]


def _need(inputs: Sequence[Value | None], count: int) -> list[Value]:
    present = [x for x in inputs[:count]]
    if len(present) < count or any(x is None for x in present):
        raise _CannotFold
    return [np.asarray(x) for x in present if x is not None]


class _CannotFold(Exception):
    pass


def _ints(value: Value) -> list[int]:
    return [int(v) for v in np.asarray(value).reshape(-1)]


def _unary(fn: Callable[[Value], Value]) -> Folder:
    def fold(inputs: Sequence[Value | None], attrs: Attrs) -> Sequence[Value]:
        (x,) = _need(inputs, 1)
        return [np.asarray(fn(x)).astype(x.dtype, copy=False)]

    return fold


def _binary(fn: Callable[[Value, Value], Value], keep_dtype: bool = True) -> Folder:
    def fold(inputs: Sequence[Value | None], attrs: Attrs) -> Sequence[Value]:
        a, b = _need(inputs, 2)
        out = np.asarray(fn(a, b))
        return [out.astype(a.dtype, copy=False) if keep_dtype else out]

    return fold


def _div(a: Value, b: Value) -> Value:
    if np.issubdtype(a.dtype, np.integer):
        return np.trunc(a / b).astype(a.dtype)
    return np.asarray(a / b)


def _reshape(inputs: Sequence[Value | None], attrs: Attrs) -> Sequence[Value]:
    x, shape = _need(inputs, 2)
    dims = _ints(shape)
    if not attrs.get("allowzero", 0):
        dims = [x.shape[i] if d == 0 else d for i, d in enumerate(dims)]
    return [x.reshape(dims)]


def _flatten(inputs: Sequence[Value | None], attrs: Attrs) -> Sequence[Value]:
    (x,) = _need(inputs, 1)
    axis = int(attrs.get("axis", 1)) % (x.ndim + 1) if x.ndim else 0
    return [x.reshape(int(np.prod(x.shape[:axis])), -1)]


def _transpose(inputs: Sequence[Value | None], attrs: Attrs) -> Sequence[Value]:
    (x,) = _need(inputs, 1)
    perm = attrs.get("perm")
    return [np.transpose(x, perm) if perm is not None else x.T]


def _axes(inputs: Sequence[Value | None], attrs: Attrs) -> list[int] | None:
    if len(inputs) > 1 and inputs[1] is not None:
        return _ints(inputs[1])
    axes = attrs.get("axes")
    return [int(a) for a in axes] if axes is not None else None


def _unsqueeze(inputs: Sequence[Value | None], attrs: Attrs) -> Sequence[Value]:
    (x,) = _need(inputs, 1)
    axes = _axes(inputs, attrs) or []
    rank = x.ndim + len(axes)
    out = x
    for axis in sorted(a % rank for a in axes):
        out = np.expand_dims(out, axis)
    return [out]


def _squeeze(inputs: Sequence[Value | None], attrs: Attrs) -> Sequence[Value]:
    (x,) = _need(inputs, 1)
    axes = _axes(inputs, attrs)
    return [np.squeeze(x, axis=tuple(a % x.ndim for a in axes)) if axes else np.squeeze(x)]


def _concat(inputs: Sequence[Value | None], attrs: Attrs) -> Sequence[Value]:
    values = _need(inputs, len(inputs))
    return [np.concatenate(values, axis=int(attrs.get("axis", 0)))]


def _slice(inputs: Sequence[Value | None], attrs: Attrs) -> Sequence[Value]:
    x, starts, ends = _need(inputs, 3)
    axes = _ints(inputs[3]) if len(inputs) > 3 and inputs[3] is not None else None
    steps = _ints(inputs[4]) if len(inputs) > 4 and inputs[4] is not None else None
    index: list[slice] = [slice(None)] * x.ndim
    starts_l, ends_l = _ints(starts), _ints(ends)
    for i, axis in enumerate(axes if axes is not None else range(len(starts_l))):
        step = steps[i] if steps else 1
        index[axis % x.ndim] = slice(starts_l[i], ends_l[i], step)
    return [x[tuple(index)]]


def _gather(inputs: Sequence[Value | None], attrs: Attrs) -> Sequence[Value]:
    x, idx = _need(inputs, 2)
    return [np.take(x, idx.astype(np.int64), axis=int(attrs.get("axis", 0)))]


def _gather_elements(inputs: Sequence[Value | None], attrs: Attrs) -> Sequence[Value]:
    x, idx = _need(inputs, 2)
    axis = int(attrs.get("axis", 0))
    index = idx.astype(np.int64)
    index = np.where(index < 0, index + x.shape[axis], index)
    return [np.take_along_axis(x, index, axis=axis)]


def _shape(inputs: Sequence[Value | None], attrs: Attrs) -> Sequence[Value]:
    (x,) = _need(inputs, 1)
    dims = np.array(x.shape, dtype=np.int64)
    start, end = attrs.get("start"), attrs.get("end")
    return [dims[start:end]]


def _constant_of_shape(inputs: Sequence[Value | None], attrs: Attrs) -> Sequence[Value]:
    (shape,) = _need(inputs, 1)
    dims = _ints(shape)
    value = attrs.get("value")
    fill = np.asarray(value).reshape(-1) if value is not None else np.zeros(1, np.float32)
    _check_size(dims)
    return [np.full(dims, fill[0], dtype=fill.dtype)]


def _expand(inputs: Sequence[Value | None], attrs: Attrs) -> Sequence[Value]:
    x, shape = _need(inputs, 2)
    target = np.broadcast_shapes(x.shape, tuple(_ints(shape)))
    _check_size(target)
    return [np.broadcast_to(x, target).copy()]


def _tile(inputs: Sequence[Value | None], attrs: Attrs) -> Sequence[Value]:
    x, reps = _need(inputs, 2)
    counts = _ints(reps)
    _check_size([d * r for d, r in zip(x.shape, counts, strict=False)])
    return [np.tile(x, counts)]


def _range(inputs: Sequence[Value | None], attrs: Attrs) -> Sequence[Value]:
    start, limit, delta = _need(inputs, 3)
    count = int(np.ceil((limit.item() - start.item()) / delta.item()))
    _check_size([max(count, 0)])
    return [np.arange(start.item(), limit.item(), delta.item(), dtype=start.dtype)]


def _where(inputs: Sequence[Value | None], attrs: Attrs) -> Sequence[Value]:
    cond, a, b = _need(inputs, 3)
    return [np.where(cond, a, b)]


def _cast(inputs: Sequence[Value | None], attrs: Attrs) -> Sequence[Value]:
    (x,) = _need(inputs, 1)
    return [x.astype(numpy_dtype(int(attrs["to"])))]


def _dequantize(inputs: Sequence[Value | None], attrs: Attrs) -> Sequence[Value]:
    """``(x - zero_point) * scale``, per tensor, per axis or per block (opset 21)."""
    x, scale = _need(inputs, 2)
    zero = np.asarray(inputs[2]) if len(inputs) > 2 and inputs[2] is not None else None
    axis = int(attrs.get("axis", 1)) % max(x.ndim, 1)
    block = int(attrs.get("block_size", 0))

    def spread(v: Value) -> Value:
        if v.ndim == 0 or v.size == 1:
            return v.reshape(())
        if block:
            return np.repeat(v, block, axis=axis)[tuple(slice(0, d) for d in x.shape)]
        shape = [1] * x.ndim
        shape[axis] = v.size
        return v.reshape(shape)

    centred = x.astype(np.float32) - (spread(zero).astype(np.float32) if zero is not None else 0)
    return [(centred * spread(scale).astype(np.float32)).astype(scale.dtype)]


def _matmul(inputs: Sequence[Value | None], attrs: Attrs) -> Sequence[Value]:
    a, b = _need(inputs, 2)
    return [np.matmul(a, b)]


def _trilu(inputs: Sequence[Value | None], attrs: Attrs) -> Sequence[Value]:
    (x,) = _need(inputs, 1)
    k = int(np.asarray(inputs[1]).item()) if len(inputs) > 1 and inputs[1] is not None else 0
    return [np.triu(x, k) if attrs.get("upper", 1) else np.tril(x, k)]


def _clip(inputs: Sequence[Value | None], attrs: Attrs) -> Sequence[Value]:
    (x,) = _need(inputs, 1)
    low = inputs[1] if len(inputs) > 1 and inputs[1] is not None else attrs.get("min")
    high = inputs[2] if len(inputs) > 2 and inputs[2] is not None else attrs.get("max")
    return [np.clip(x, low, high).astype(x.dtype)]


def _identity(inputs: Sequence[Value | None], attrs: Attrs) -> Sequence[Value]:
    (x,) = _need(inputs, 1)
    return [x]


def _check_size(dims: Sequence[int]) -> None:
    if int(np.prod([max(int(d), 0) for d in dims], dtype=np.float64)) > MAX_FOLDED_ELEMENTS:
        raise _CannotFold


FOLDERS: dict[str, Folder] = {
    "Identity": _identity,
    "Cast": _cast,
    "Reshape": _reshape,
    "Flatten": _flatten,
    "Transpose": _transpose,
    "Unsqueeze": _unsqueeze,
    "Squeeze": _squeeze,
    "Concat": _concat,
    "Slice": _slice,
    "Gather": _gather,
    "GatherElements": _gather_elements,
    "Shape": _shape,
    "Size": lambda inputs, attrs: [np.array(_need(inputs, 1)[0].size, dtype=np.int64)],
    "ConstantOfShape": _constant_of_shape,
    "Expand": _expand,
    "Tile": _tile,
    "Range": _range,
    "Where": _where,
    "DequantizeLinear": _dequantize,
    "MatMul": _matmul,
    "Trilu": _trilu,
    "Clip": _clip,
    "Add": _binary(np.add),
    "Sub": _binary(np.subtract),
    "Mul": _binary(np.multiply),
    "Div": _binary(_div),
    "Pow": _binary(np.power),
    "Max": _binary(np.maximum),
    "Min": _binary(np.minimum),
    "Equal": _binary(np.equal, keep_dtype=False),
    "Less": _binary(np.less, keep_dtype=False),
    "Greater": _binary(np.greater, keep_dtype=False),
    "LessOrEqual": _binary(np.less_equal, keep_dtype=False),
    "GreaterOrEqual": _binary(np.greater_equal, keep_dtype=False),
    "And": _binary(np.logical_and, keep_dtype=False),
    "Or": _binary(np.logical_or, keep_dtype=False),
    "Not": _unary(np.logical_not),
    "Neg": _unary(np.negative),
    "Abs": _unary(np.abs),
    "Sqrt": _unary(np.sqrt),
    "Reciprocal": _unary(np.reciprocal),
    "Floor": _unary(np.floor),
    "Ceil": _unary(np.ceil),
    "Sign": _unary(np.sign),
}


def fold(op_type: str, inputs: Sequence[Value | None], attrs: Attrs) -> list[Value] | None:
    """The outputs of ``op_type`` on constant ``inputs``, or None when it cannot say (an op
    not in the table, an unknown input value, an output too large to hold, bad arguments)."""
    folder = FOLDERS.get(op_type)
    if folder is None:
        return None
    try:
        with np.errstate(all="ignore"):
            out = [np.asarray(v) for v in folder(inputs, attrs)]
    except (_CannotFold, ValueError, TypeError, IndexError, KeyError, OverflowError):
        return None
    if any(v.size > MAX_FOLDED_ELEMENTS for v in out):
        return None
    return out

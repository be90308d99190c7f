"""The default table from ONNX op type to (op kind, arithmetic handler), like ``aten_table``.

Each row says what kind of work an ONNX op does, how to count it, which of its inputs are
arguments rather than data (``Reshape``'s target shape, ``Clip``'s bounds), and the ATen op
that does the same work, so both frontends share one arithmetic convention: ops that need
only shapes reuse ``aten_table``'s handlers, the rest (conv, GEMM, pooling, attention) read
ONNX attributes here. Keys are op types of the default domain (``Conv``) or
``domain:OpType`` for others (``com.microsoft:FusedConv``); an op type not in the table
becomes an ``unsupported`` op, and users add rows with ``register_onnx_op``.

Weights follow torch's layout, so that statistics, compression and the cost models see the
same tensor whichever file the model came from: a ``Gemm`` with ``transB=0`` or a ``MatMul``
by a constant stores its weight ``[K, N]``, which is read transposed (``[N, K]``, as
``nn.Linear`` holds it).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..ops import OpKind, TensorSpec
from . import handlers as h
from .aten_table import lookup


@dataclass(frozen=True)
class OnnxNode:
    """What a handler may look at: shapes, ONNX attributes and the values of literal inputs."""

    op_type: str
    inputs: tuple[TensorSpec, ...]  # activation inputs (data that moves)
    params: tuple[TensorSpec, ...]  # constant tensor inputs: weight first, then bias...
    outputs: tuple[TensorSpec, ...]
    operands: tuple[TensorSpec | None, ...]  # every input in ONNX order, as the file holds it
    attrs: Mapping[str, Any] = field(default_factory=dict)
    literals: Mapping[int, np.ndarray] = field(default_factory=dict)  # by input index

    def attr(self, name: str, default: Any = None) -> Any:
        return self.attrs.get(name, default)

    def shapes(self) -> h.NodeShapes:
        """The view ``aten_table``'s shape-only handlers take."""
        return h.NodeShapes(self.inputs, self.params, self.outputs, args=(), kwargs=())

    def operand(self, index: int) -> TensorSpec:
        spec = self.operands[index] if index < len(self.operands) else None
        if spec is None:
            raise ValueError(f"{self.op_type}: input {index} has no known shape")
        return spec


Handler = Callable[[OnnxNode], h.Work]

# The domain of the nodes ``onnx_fuse`` makes from several primitives, and the target each
# reports (the standard ONNX op computing the same function, where one exists).
FUSED_DOMAIN = "hwsim.fused"
FUSED_TARGETS = {"MatMulAdd": "onnx.MatMul+Add"}


@dataclass(frozen=True)
class OnnxRow:
    kind: OpKind
    handler: Handler
    literal_inputs: frozenset[int] = frozenset()  # inputs that are arguments, when constant
    aten: str = ""  # the ATen op that does the same work
    # The weight (input ``weight_input``) is stored [K, N] and read transposed when this says,
    # given the node's attributes.
    transposed_weight: Callable[[Mapping[str, Any]], bool] | None = None
    weight_input: int = 1
    # A kind that depends on the operands (a Gather from a constant table is an embedding).
    refine: Callable[[OnnxNode, bool], OpKind] | None = None
    # Stored inputs that are statistics, not learned parameters (BatchNormalization's running
    # mean and variance): they are weights to move, but not in the parameter count.
    buffer_inputs: frozenset[int] = frozenset()


def _out_numel(n: OnnxNode) -> int:
    return sum(t.numel for t in n.outputs)


def _ints(value: Any, count: int, default: int) -> tuple[int, ...]:
    if value is None:
        return (default,) * count
    return tuple(int(v) for v in value)


def _padding(n: OnnxNode, spatial: int) -> object:
    """ONNX ``pads`` (begins, then ends) as torch would state them: one value per spatial dim
    when both sides agree, else the full list; ``auto_pad`` as torch's "same"/"valid"."""
    auto = n.attr("auto_pad", "NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else str(auto)
    if auto.startswith("SAME"):
        return "same"
    if auto == "VALID":
        return "valid"
    pads = _ints(n.attr("pads"), 2 * spatial, 0)
    begins, ends = pads[:spatial], pads[spatial:]
    return begins if begins == ends else pads


def conv(n: OnnxNode) -> h.Work:
    """Each output element accumulates over (Cin/group) x kernel taps: weight.shape[1:]."""
    weight = n.operand(1)
    spatial = len(weight.shape) - 2
    macs = _out_numel(n) * math.prod(weight.shape[1:])
    attrs = (
        ("stride", _ints(n.attr("strides"), spatial, 1)),
        ("padding", _padding(n, spatial)),
        ("dilation", _ints(n.attr("dilations"), spatial, 1)),
        ("groups", int(n.attr("group", 1))),
        ("kernel", tuple(weight.shape[2:])),
    )
    return h.Work(macs=macs, flops=2 * macs, attrs=attrs)


def conv_transpose(n: OnnxNode) -> h.Work:
    """Every input element scatters into (Cout/group) x kernel taps: weight is
    [Cin, Cout/group, k...], as in torch."""
    weight = n.operand(1)
    macs = n.operand(0).numel * math.prod(weight.shape[1:])
    attrs = (
        ("groups", int(n.attr("group", 1))),
        ("kernel", tuple(weight.shape[2:])),
        ("transposed", True),
    )
    return h.Work(macs=macs, flops=2 * macs, attrs=attrs)


def gemm(n: OnnxNode) -> h.Work:
    """Y = A' B' (+ C): K is A's second dimension, or its first with ``transA``. The bias is
    not counted, as for torch's ``linear``."""
    a = n.operand(0).shape
    k = a[0] if n.attr("transA", 0) else a[-1]
    macs = _out_numel(n) * k
    return h.Work(macs=macs, flops=2 * macs, attrs=(("k", k),))


def matmul(n: OnnxNode) -> h.Work:
    """numpy-style (batched, broadcast) matmul: the reduction length is A's last dimension."""
    k = n.operand(0).shape[-1] if n.operand(0).shape else 1
    macs = _out_numel(n) * k
    return h.Work(macs=macs, flops=2 * macs, attrs=(("k", k),))


def einsum(n: OnnxNode) -> h.Work:
    """One multiply-accumulate per point of the product of every index's range (for a
    two-operand contraction; the reduction length is what the output does not keep)."""
    equation = str(n.attr("equation", "")).replace(" ", "")
    lhs, _, rhs = equation.partition("->")
    sizes: dict[str, int] = {}
    for term, spec in zip(lhs.split(","), n.operands, strict=False):
        if spec is None or "." in term:
            raise ValueError(f"Einsum '{equation}': ellipses and unknown shapes are not counted")
        for letter, size in zip(term, spec.shape, strict=True):
            sizes[letter] = max(sizes.get(letter, 1), size)
    reduced = [c for c in sizes if c not in rhs]
    k = math.prod(sizes[c] for c in reduced) if reduced else 1
    macs = math.prod(sizes.values())
    return h.Work(macs=macs, flops=2 * macs, attrs=(("k", k), ("equation", equation)))


def attention(n: OnnxNode) -> h.Work:
    """softmax(Q K^T) V: L x S x E MACs for the scores, L x S x Ev for the weighted sum.

    Q, K, V are [batch, heads, seq, dim] (K is not transposed), or [batch, seq, heads x dim]
    with ``q_num_heads``/``kv_num_heads`` as ONNX's Attention op allows.
    """
    q, k, v = (n.operand(i).shape for i in range(3))
    if n.attr("k_transposed"):  # fused from MatMul(Q, K^T): K arrives [..., dim, seq]
        k = (*k[:-2], k[-1], k[-2])
    if len(q) == 3:
        heads = int(n.attr("q_num_heads", 1))
        kv_heads = int(n.attr("kv_num_heads", heads))
        q = (q[0], heads, q[1], q[2] // heads)
        k = (k[0], kv_heads, k[1], k[2] // kv_heads)
        v = (v[0], kv_heads, v[1], v[2] // kv_heads)
    batch = math.prod(q[:-2])
    seq_q, dim, seq_k, dim_v = q[-2], q[-1], k[-2], v[-1]
    macs = batch * seq_q * seq_k * (dim + dim_v)
    attrs = (("seq_q", seq_q), ("seq_k", seq_k), ("head_dim", dim), ("heads_x_batch", batch))
    return h.Work(macs=macs, flops=2 * macs + 5 * batch * seq_q * seq_k, attrs=attrs)


def pool(n: OnnxNode) -> h.Work:
    """Windowed pooling: one compare/add per window tap per output element; a window larger
    than the padded input only covers the input."""
    kernel = tuple(int(k) for k in n.attr("kernel_shape", ()))
    spatial = n.operand(0).shape[-len(kernel) :] if kernel else ()
    pads = _ints(n.attr("pads"), 2 * len(kernel), 0)
    if len(spatial) == len(kernel):
        sides = zip(spatial, pads[: len(kernel)], pads[len(kernel) :], strict=True)
        covered = [d + b + e for d, b, e in sides]
        kernel = tuple(min(k, c) for k, c in zip(kernel, covered, strict=True))
    taps = math.prod(kernel) if kernel else 1
    return h.Work(flops=_out_numel(n) * taps, attrs=(("kernel", kernel),))


def global_pool(n: OnnxNode) -> h.Work:
    """Global pooling touches every input element once (torch's adaptive pooling to 1)."""
    return h.Work(flops=n.operand(0).numel)


def _alike(aten: str) -> Handler:
    """The handler of the ATen op that does the same work, which needs only shapes."""
    entry = lookup(aten)
    if entry is None:
        raise KeyError(aten)
    fn = entry[1]

    def handler(n: OnnxNode) -> h.Work:
        return fn(n.shapes())

    handler.__doc__ = f"As torch's {aten}: {fn.__doc__ or ''}"
    return handler


def _gather_kind(n: OnnxNode, data_is_constant: bool) -> OpKind:
    """A lookup into a constant table is an embedding; picking one index of an activation
    (``x[:, 0]``) is torch's ``select``, a view; gathering many indices copies them."""
    if data_is_constant:
        return OpKind.EMBEDDING
    index = n.literals.get(1)
    return OpKind.VIEW if index is not None and index.ndim == 0 else OpKind.EMBEDDING


# ONNX interpolation modes (Resize: nearest, linear, cubic; Upsample of opset 7 also spelled
# bilinear) as ``handlers.RESAMPLE_TAPS`` names them; nearest is a copy.
_RESIZE_MODES = {"nearest": "nearest", "linear": "linear", "bilinear": "linear", "cubic": "cubic"}


def _raw_mode(n: OnnxNode) -> str:
    mode = n.attr("mode", "nearest")
    return mode.decode() if isinstance(mode, bytes) else str(mode)


def _resize_mode(n: OnnxNode) -> str:
    mode = _raw_mode(n)
    if mode not in _RESIZE_MODES:
        raise ValueError(f"{n.op_type} mode '{mode}' is not one of {', '.join(_RESIZE_MODES)}")
    return _RESIZE_MODES[mode]


def _resize_kind(n: OnnxNode, data_is_constant: bool) -> OpKind:
    """Resize and Upsample by their ``mode`` attribute (default nearest): a nearest-neighbour
    resize copies, a linear or cubic one interpolates (an unknown mode is refused by the
    handler)."""
    return OpKind.COPY if _RESIZE_MODES.get(_raw_mode(n)) == "nearest" else OpKind.RESAMPLE


def resize(n: OnnxNode) -> h.Work:
    """A nearest resize does no arithmetic; a linear or cubic one interpolates over the axes
    whose size it changes (``handlers.resample_work``: bilinear 9 FLOPs per output, bicubic
    35), as torch's ``upsample_bilinear2d``/``upsample_bicubic2d`` over H and W."""
    mode = _resize_mode(n)
    if mode == "nearest":
        return h.Work()
    before, after = n.operand(0).shape, n.outputs[0].shape
    if len(before) != len(after):
        raise ValueError(f"{n.op_type}: input rank {len(before)} but output rank {len(after)}")
    axes = sum(a != b for a, b in zip(before, after, strict=True))
    return h.resample_work(mode, axes, _out_numel(n))


def _gemm_transposed(attrs: Mapping[str, Any]) -> bool:
    return not attrs.get("transB", 0)


def _always(attrs: Mapping[str, Any]) -> bool:
    return True


# ONNX op type -> the ATen op that does the same shape-only work (its kind and FLOP count).
_ALIKE: dict[str, str] = {
    **{t: t.lower() for t in ("Add", "Sub", "Mul", "Div", "Neg", "Abs", "Relu", "Where")},
    **{t: t.lower() for t in ("Sigmoid", "Tanh", "Exp", "Log", "Sqrt", "Erf", "Pow", "Sign")},
    **{t: t.lower() for t in ("Floor", "Ceil", "Round", "Reciprocal", "Elu", "Selu", "Celu")},
    **{t: t.lower() for t in ("Softplus", "Mish", "Sin", "Cos", "Gelu", "Prelu")},
    "PRelu": "prelu",
    "LeakyRelu": "leaky_relu",
    "HardSigmoid": "hardsigmoid",
    "HardSwish": "hardswish",
    "Swish": "silu",
    "Clip": "clamp",
    "Max": "maximum",
    "Min": "minimum",
    "Sum": "add",
    "Mean": "add",
    "Mod": "remainder",
    "Equal": "eq",
    "Less": "lt",
    "LessOrEqual": "le",
    "Greater": "gt",
    "GreaterOrEqual": "ge",
    "Not": "logical_not",
    "And": "bitwise_and",
    "Or": "bitwise_or",
    "Xor": "bitwise_or",
    "BitwiseAnd": "bitwise_and",
    "BitwiseOr": "bitwise_or",
    "BitwiseNot": "bitwise_not",
    "Cast": "_to_copy",
    "CastLike": "_to_copy",
    "ThresholdedRelu": "threshold",
    "Shrink": "hardtanh",
    "IsNaN": "ne",
    "IsInf": "eq",
    "QuantizeLinear": "quantize_per_tensor",
    "DequantizeLinear": "dequantize_per_tensor",
    "DynamicQuantizeLinear": "quantize_per_tensor_dynamic",
    "ConstantOfShape": "full",
    "Range": "arange",
    "EyeLike": "zeros_like",
    "RandomNormal": "randn",
    "RandomUniform": "rand",
    "RandomNormalLike": "randn",
    "RandomUniformLike": "rand",
    "BatchNormalization": "batch_norm",
    "LayerNormalization": "layer_norm",
    "GroupNormalization": "group_norm",
    "InstanceNormalization": "instance_norm",
    "RMSNormalization": "rms_norm",
    "MeanVarianceNormalization": "instance_norm",
    "LpNormalization": "instance_norm",
    "Softmax": "softmax",
    "LogSoftmax": "log_softmax",
    **{f"Reduce{r}": "sum" for r in ("Sum", "Mean", "Max", "Min", "Prod", "L1", "L2")},
    **{f"Reduce{r}": "sum" for r in ("LogSum", "LogSumExp", "SumSquare")},
    "ArgMax": "argmax",
    "ArgMin": "argmin",
    "CumSum": "cumsum",
    "TopK": "max",
    "Gather": "index_select",
    "GatherElements": "gather",
    "GatherND": "index",
    "Concat": "cat",
    "Pad": "constant_pad_nd",
    "Tile": "tile",
    "DepthToSpace": "pixel_shuffle",
    "SpaceToDepth": "pixel_unshuffle",
    "ScatterND": "index_put",
    "ScatterElements": "scatter",
    "Scatter": "scatter",
    "Trilu": "triu",
    "ReverseSequence": "flip",
    "OneHot": "scatter",
    **{t: "view" for t in ("Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity")},
    **{t: "permute" for t in ("Transpose",)},
    **{t: "slice" for t in ("Slice", "Split")},
    "Expand": "expand",
    "Dropout": "dropout",
    "Shape": "sym_size",
    "Size": "sym_numel",
}

# Inputs that are arguments (a shape, axes, bounds, scales) when they are constants.
_LITERALS: dict[str, tuple[int, ...]] = {
    "Clip": (1, 2),
    "Reshape": (1,),
    "Expand": (1,),
    "Tile": (1,),
    "Pad": (1, 2, 3),
    "Slice": (1, 2, 3, 4),
    "Squeeze": (1,),
    "Unsqueeze": (1,),
    "Resize": (1, 2, 3),
    "Upsample": (1,),
    "Split": (1,),
    "TopK": (1,),
    "ConstantOfShape": (0,),
    "Range": (0, 1, 2),
    "OneHot": (1, 2),
    "CumSum": (1,),
    "Dropout": (1, 2),
    "Gather": (1,),
    "QuantizeLinear": (1, 2),
    "DequantizeLinear": (1, 2),
    "DynamicQuantizeLinear": (),
    "Trilu": (1,),
    "EyeLike": (),
    **{f"Reduce{r}": (1,) for r in ("Sum", "Mean", "Max", "Min", "Prod", "L1", "L2")},
    **{f"Reduce{r}": (1,) for r in ("LogSum", "LogSumExp", "SumSquare")},
    "QLinearConv": (1, 2, 4, 5, 6, 7),
    "QLinearMatMul": (1, 2, 4, 5, 6, 7),
    "ConvInteger": (2, 3),
    "MatMulInteger": (2, 3),
}

_TABLE: dict[str, OnnxRow] = {}


def _row(kind: OpKind, handler: Handler, aten: str, op_type: str, **extra: Any) -> OnnxRow:
    return OnnxRow(kind, handler, frozenset(_LITERALS.get(op_type, ())), aten, **extra)


def _fill_defaults() -> dict[str, OnnxRow]:
    table: dict[str, OnnxRow] = {}
    for op_type, aten in _ALIKE.items():
        entry = lookup(aten)
        assert entry is not None, aten
        table[op_type] = _row(entry[0], _alike(aten), aten, op_type)
    table["GlobalAveragePool"] = _row(OpKind.POOL, global_pool, "adaptive_avg_pool2d", "")
    table["GlobalMaxPool"] = _row(OpKind.POOL, global_pool, "adaptive_max_pool2d", "")
    for op_type in ("MaxPool", "AveragePool", "LpPool"):
        aten = "avg_pool2d" if op_type == "AveragePool" else "max_pool2d"
        table[op_type] = _row(OpKind.POOL, pool, aten, op_type)
    table["Gather"] = dataclasses.replace(table["Gather"], refine=_gather_kind)
    for op_type in ("Resize", "Upsample"):  # the ATen op of the default mode, nearest
        table[op_type] = _row(
            OpKind.COPY, resize, "upsample_nearest2d", op_type, refine=_resize_kind
        )
    table["BatchNormalization"] = dataclasses.replace(
        table["BatchNormalization"], buffer_inputs=frozenset({3, 4})
    )
    table["Conv"] = _row(OpKind.CONV, conv, "convolution", "Conv")
    table["ConvInteger"] = _row(OpKind.CONV, conv, "convolution", "ConvInteger")
    table["ConvTranspose"] = _row(OpKind.CONV, conv_transpose, "conv_transpose2d", "")
    table["Gemm"] = _row(OpKind.GEMM, gemm, "linear", "Gemm", transposed_weight=_gemm_transposed)
    for op_type in ("MatMul", "MatMulInteger"):
        table[op_type] = _row(OpKind.GEMM, matmul, "matmul", op_type, transposed_weight=_always)
    table["QLinearConv"] = _row(OpKind.CONV, _qlinear(conv), "convolution", "QLinearConv")
    table["QLinearMatMul"] = _row(
        OpKind.GEMM, _qlinear(matmul), "matmul", "QLinearMatMul", transposed_weight=_always
    )
    table["QLinearMatMul"] = dataclasses.replace(table["QLinearMatMul"], weight_input=3)
    table["QLinearConv"] = dataclasses.replace(table["QLinearConv"], weight_input=3)
    table["Einsum"] = _row(OpKind.GEMM, einsum, "einsum", "Einsum")
    table["Attention"] = _row(
        OpKind.ATTENTION, attention, "scaled_dot_product_attention", "Attention"
    )
    for op_type in ("Swish", "HardSwish", "Gelu", "Attention"):
        table[f"{FUSED_DOMAIN}:{op_type}"] = table[op_type]
    table[f"{FUSED_DOMAIN}:MatMulAdd"] = _row(
        OpKind.GEMM, matmul, "linear", "MatMulAdd", transposed_weight=_always
    )
    return table


def _qlinear(handler: Handler) -> Handler:
    """QLinearConv/QLinearMatMul interleave scales and zero points with the data: (x, x_scale,
    x_zp, w, w_scale, w_zp, ...); count them as the float op on (x, w)."""

    def counted(n: OnnxNode) -> h.Work:
        operands = (n.operands[0], n.operands[3] if len(n.operands) > 3 else None)
        return handler(dataclasses.replace(n, operands=operands))

    counted.__doc__ = handler.__doc__
    return counted


def onnx_table() -> dict[str, OnnxRow]:
    """The live table (defaults plus user registrations), built on first use."""
    if not _TABLE:
        _TABLE.update(_fill_defaults())
    return _TABLE


def register_onnx_op(
    op_type: str,
    kind: OpKind,
    handler: Handler | None = None,
    *,
    literal_inputs: tuple[int, ...] = (),
    domain: str = "",
) -> None:
    """Map an ONNX op (``"MyOp"``, or ``domain="com.example"``) to a kind, so a custom or newly
    added op is priced instead of listed as unsupported, without editing the table."""
    key = f"{domain}:{op_type}" if domain not in ("", "ai.onnx") else op_type
    onnx_table()[key] = OnnxRow(kind, handler or (lambda n: h.Work()), frozenset(literal_inputs))


def row_for(domain: str, op_type: str) -> OnnxRow | None:
    key = f"{domain}:{op_type}" if domain not in ("", "ai.onnx") else op_type
    return onnx_table().get(key)


def target_name(domain: str, op_type: str) -> str:
    """How reports name an ONNX op: ``onnx.Conv``, ``onnx.com.microsoft:FusedConv``; a fused
    pattern by the standard op it computes (``onnx.Gelu``) or its parts (``onnx.MatMul+Add``)."""
    if domain == FUSED_DOMAIN:
        return FUSED_TARGETS.get(op_type, f"onnx.{op_type}")
    return f"onnx.{op_type}" if domain in ("", "ai.onnx") else f"onnx.{domain}:{op_type}"


_TARGET = re.compile(r"onnx\.(?:(?P<domain>[\w.]+):)?(?P<op>\w+)$")


def aten_equivalent(target: str) -> str:
    """The ATen op name an ``onnx.X`` target does the same work as ("onnx.Sigmoid" ->
    "sigmoid"), so per-op classifications written for torch graphs apply to ONNX ones; an
    ATen target is returned without its prefix."""
    fused = {t: op for op, t in FUSED_TARGETS.items()}.get(target)
    if fused is not None:
        return onnx_table()[f"{FUSED_DOMAIN}:{fused}"].aten
    match = _TARGET.match(target)
    if match is None:
        return target.removeprefix("aten.").split(".")[0]
    row = row_for(match["domain"] or "", match["op"])
    return row.aten if row is not None and row.aten else match["op"].lower()

"""The operator vocabulary shared by the frontend and every cost model.

ATen has thousands of ops; the cost models need to know only what *kind* of work an op does.
The frontend maps ATen targets to an ``OpKind`` once, so no cost model ever sees an ATen name.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from enum import Enum
from typing import Any, Generic, TypeVar, overload

_Owner = TypeVar("_Owner")
_Value = TypeVar("_Value")


class cached_value(Generic[_Owner, _Value]):
    """``functools.cached_property`` without its lock: the first read computes the value and
    stores it in the instance's ``__dict__``, which later reads find before the descriptor.

    Python 3.11's ``cached_property`` takes one lock per class on every first read, which
    costs a few microseconds: a NAS loop builds a graph per candidate and makes a thousand
    first reads on its ops and tensor specs. The values here are pure functions of frozen
    fields, so two threads racing compute the same value and either store is right.
    """

    def __init__(self, fn: Callable[[_Owner], _Value]) -> None:
        self.fn = fn
        self.name = fn.__name__
        self.__doc__ = fn.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: Any = None) -> cached_value[_Owner, _Value]: ...
    @overload
    def __get__(self, obj: _Owner, owner: Any = None) -> _Value: ...
    def __get__(self, obj: _Owner | None, owner: Any = None) -> Any:
        if obj is None:
            return self
        value = self.fn(obj)
        obj.__dict__[self.name] = value
        return value


class OpKind(str, Enum):
    """What kind of work an op does, which is all a cost model needs to price it."""

    CONV = "conv"  # convolution of any dimensionality, groups included (depthwise: groups == C)
    GEMM = "gemm"  # linear / matmul / bmm / addmm: (batched) matrix products
    ATTENTION = "attention"  # scaled_dot_product_attention: two batched GEMMs and a softmax
    POINTWISE = "pointwise"  # elementwise arithmetic and activations
    POOL = "pool"  # max / avg / adaptive pooling
    NORM = "norm"  # batch / layer / group norm left after folding
    SOFTMAX = "softmax"
    REDUCE = "reduce"  # sum / mean / max over dimensions
    EMBEDDING = "embedding"  # table lookups and gathers
    COPY = "copy"  # data movement that really copies: cat, contiguous, pad, nearest upsample
    RESAMPLE = "resample"  # interpolating resize (linear, bilinear, bicubic): weighted taps
    VIEW = "view"  # free: reshape/transpose/slice metadata only
    UNSUPPORTED = "unsupported"  # no mapping; reported, never priced as zero

    def __str__(self) -> str:
        return self.value


MAC_KINDS = frozenset({OpKind.CONV, OpKind.GEMM, OpKind.ATTENTION})


@dataclass(frozen=True)
class TensorSpec:
    """Shape and dtype of one tensor, as fake-tensor propagation saw it."""

    shape: tuple[int, ...]
    dtype: str  # torch dtype name without the "torch." prefix, e.g. "float32"

    # Values are frozen, so derived sizes are computed once: estimates read them per op, per
    # profile, thousands of times in a sweep.
    @cached_value
    def numel(self) -> int:
        return math.prod(self.shape)

    @cached_value
    def nbytes(self) -> int:
        return math.ceil(self.numel * DTYPE_BITS.get(self.dtype, 32) / 8)


DTYPE_BITS: dict[str, int] = {
    "float64": 64,
    "float32": 32,
    "float16": 16,
    "bfloat16": 16,
    "float8_e4m3fn": 8,
    "float8_e5m2": 8,
    "int64": 64,
    "int32": 32,
    "int16": 16,
    "int8": 8,
    "uint64": 64,
    "uint32": 32,
    "uint16": 16,
    "uint8": 8,
    "int4": 4,
    "uint4": 4,
    "qint8": 8,
    "quint8": 8,
    "bool": 8,
}

# Precision names the hardware profiles use, keyed by the torch dtype an op computes in.
DTYPE_PRECISION: dict[str, str] = {
    "float64": "fp64",
    "float32": "fp32",
    "float16": "fp16",
    "bfloat16": "bf16",
    "float8_e4m3fn": "fp8",
    "float8_e5m2": "fp8",
    "int8": "int8",
    "qint8": "int8",
    "quint8": "int8",
    "uint8": "int8",
    "int4": "int4",
    "uint4": "int4",
}

PRECISION_BITS: dict[str, int] = {
    "fp64": 64,
    "fp32": 32,
    "tf32": 32,
    "fp16": 16,
    "bf16": 16,
    "fp8": 8,
    "int8": 8,
    "int4": 4,
    "binary": 1,
}


def integer_precision(bits: int) -> str:
    """The narrowest integer precision name that holds ``bits``-bit values."""
    return "binary" if bits <= 1 else "int4" if bits <= 4 else "int8"


@dataclass(frozen=True)
class WeightStats:
    """What the real weight tensor of an op looks like, read once at trace time.

    These numbers decide whether sparse or compressed execution can pay off on a given
    hardware, so they are measured from the actual values, never assumed.
    """

    density: float  # fraction of non-zero weights
    nm_2_4: float  # fraction of 4-wide groups (along the reduction axis) with <= 2 non-zeros
    nm_4_8: float  # fraction of 8-wide groups with <= 4 non-zeros
    block_1x4_density: float  # fraction of 1x4 blocks with any non-zero
    block_4x4_density: float  # fraction of 4x4 blocks with any non-zero
    zero_output_channels: int  # output channels whose weights are all zero
    output_channels: int

    @property
    def is_2_4(self) -> bool:
        return self.nm_2_4 >= 1.0

    def kept_fraction(self, pattern: str) -> float | None:
        """Fraction of the weights a format for ``pattern`` keeps: the density, the non-empty
        blocks, or N/M for weights that conform to N:M; None when the weights do not fit the
        pattern (or hwsim does not know it). Every cost model asks the same question this way.
        """
        conforms = _NM_CONFORMANCE.get(pattern)
        if conforms is not None:
            n, m = (int(x) for x in pattern.split(":"))
            return n / m if conforms(self) >= 1.0 else None
        kept = _KEPT_BY_PATTERN.get(pattern)
        return kept(self) if kept is not None else None


# The sparsity patterns hwsim's weight statistics describe, in the order reports list them.
SPARSITY_PATTERNS = ("unstructured", "2:4", "4:8", "block1x4", "block4x4")
_NM_CONFORMANCE: dict[str, Callable[[WeightStats], float]] = {
    "2:4": lambda s: s.nm_2_4,
    "4:8": lambda s: s.nm_4_8,
}
_KEPT_BY_PATTERN: dict[str, Callable[[WeightStats], float]] = {
    "unstructured": lambda s: s.density,
    "block1x4": lambda s: s.block_1x4_density,
    "block4x4": lambda s: s.block_4x4_density,
}


@dataclass(frozen=True)
class Op:
    """One node of the operator graph: what it computes and how much data it touches.

    ``read_bytes``/``write_bytes`` are the activation traffic the op causes *after fusion*:
    an op whose output is consumed by a fused pointwise op writes nothing, and the fused op
    reads only the operands that do not come from its producer. Weight traffic is separate
    because where weights live (resident on chip or streamed) is a hardware question.
    """

    id: str  # unique node id (the fx node name)
    name: str  # human name: the module path, with the op's node name where a module has several
    kind: OpKind
    target: str  # the ATen op it came from, for reports and error messages
    inputs: tuple[TensorSpec, ...]  # activation inputs (weights and bias excluded)
    outputs: tuple[TensorSpec, ...]
    params: tuple[TensorSpec, ...] = ()  # parameters and buffers: weight first, then bias...
    macs: int = 0
    flops: int = 0
    read_bytes: int = 0
    write_bytes: int = 0
    attrs: tuple[tuple[str, object], ...] = ()  # kind-specific: stride, groups, kernel...
    weight_stats: WeightStats | None = None
    folded: tuple[str, ...] = ()  # ops folded into this one (e.g. batch_norm)
    fused_into: str | None = None  # id of the producer this pointwise op fuses into
    module_type: str = ""  # class name of the innermost nn.Module, when known
    # nn.Module calls that begin at this op in eager execution: the modules on its module
    # stack (its own innermost one included) that no earlier op was inside. Containers and a
    # model's own modules run Python on each call whether or not they add an op.
    module_calls: int = 0
    # Compression already in the model file: the integer width the weight is stored at when
    # it comes through a dequantize or fake-quant subgraph, and the width of a quantized
    # activation input (from a quantize -> dequantize pair or a fake-quant op).
    weight_bits: int | None = None
    act_bits: int | None = None
    # The model's stored weights this op reads, as (name, elements): every parameter its
    # constant operands come from, once each. Two ops reading one tied weight name it alike,
    # so the graph counts it once. None where no program is behind the op (a topology).
    param_sources: tuple[tuple[str, int], ...] | None = None

    def attr(self, key: str, default: object = None) -> object:
        return self._attr_map.get(key, default)

    @cached_value
    def _attr_map(self) -> dict[str, object]:
        return dict(self.attrs)

    @cached_value
    def memo(self) -> dict[object, object]:
        """Facts later stages derive from the op alone (its GEMM shapes...), computed once:
        an op never changes, and a sweep prices it on thousands of profiles."""
        return {}

    def int_attr(self, key: str, default: int = 1) -> int:
        """An integer attribute (groups, sequence length...), ``default`` when absent."""
        value = self.attr(key)
        return int(value) if isinstance(value, (int, float)) and value else default

    @property
    def weight(self) -> TensorSpec | None:
        return self.params[0] if self.params else None

    @cached_value
    def weight_bytes(self) -> int:
        return sum(t.nbytes for t in self.params)

    @cached_value
    def param_count(self) -> int:
        return sum(t.numel for t in self.params)

    @cached_value
    def input_bytes(self) -> int:
        return sum(t.nbytes for t in self.inputs)

    @cached_value
    def output_bytes(self) -> int:
        return sum(t.nbytes for t in self.outputs)

    @cached_value
    def precision(self) -> str:
        """The precision the op computes in.

        Integer when its weight (or, for an op without weights, its input) is quantized, at
        the wider of the weight and activation widths, since a w4a8 layer multiplies int8
        operands; fp16 for weight-only quantization with 16-bit activations (w4a16); else its
        weight dtype or first input's dtype.
        """
        widths = [b for b in (self.weight_bits, self.act_bits) if b is not None]
        if self.weight_bits is not None or (widths and self.kind not in MAC_KINDS):
            widest = max(widths)
            if widest <= 8:
                return integer_precision(widest)
            if widest == 16:
                return "fp16"
        source = self.weight or (self.inputs[0] if self.inputs else None)
        if source is None and self.outputs:
            source = self.outputs[0]
        return DTYPE_PRECISION.get(source.dtype, "fp32") if source else "fp32"

    @property
    def is_depthwise(self) -> bool:
        groups = self.attr("groups", 1)
        return (
            self.kind is OpKind.CONV
            and isinstance(groups, int)
            and groups > 1
            and (self.weight is not None and self.weight.shape[1] == 1)
        )


@dataclass(frozen=True)
class UnsupportedOp:
    """An op nothing could price, kept so reports can list it instead of hiding it."""

    id: str
    name: str
    target: str
    reason: str


@dataclass(frozen=True)
class GraphInfo:
    """Facts about the traced model that are not per-op."""

    source: str  # workload name or file path
    inputs: tuple[TensorSpec, ...]
    batch: int
    notes: tuple[str, ...] = field(default=())
    # Parameters the model stores that no op reads, as (name, elements): a training-only
    # embedding, or a weight whose derived value the model cached before export. They are
    # part of the model's parameter count, not of any op's work.
    unread_params: tuple[tuple[str, int], ...] = ()


_OP_FIELDS = tuple(f.name for f in fields(Op))


def evolve(op: Op, **changes: Any) -> Op:
    """``dataclasses.replace(op, **changes)`` without its per-call reflection (it reads the
    fields and runs the frozen ``__init__``, about ten microseconds; the inference passes
    rewrite a hundred ops per NAS candidate). Only the fields are carried over: values
    derived and cached from the old fields are not."""
    unknown = set(changes) - set(_OP_FIELDS)
    if unknown:
        raise TypeError(f"Op has no field(s) {', '.join(sorted(unknown))}")
    new = object.__new__(Op)
    state = new.__dict__
    old = op.__dict__
    for name in _OP_FIELDS:
        state[name] = old[name]
    state.update(changes)
    return new

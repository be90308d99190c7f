"""Which ops the Edge TPU compiler maps to the chip, as a table keyed by op kind.

Source: Coral, "TensorFlow models on the Edge TPU" (coral.ai/docs/edgetpu/models-intro),
table "Supported operations" (compiler 16): Add, AveragePool2d, Concatenation, Conv2d,
DepthwiseConv2d, ExpandDims, FullyConnected, L2Normalization, Logistic, LSTM, Maximum,
MaxPool2d, Mean, Minimum, Mul, Pack, Pad, PReLU, Quantize, ReduceMax, ReduceMin, ReLU, ReLU6,
ReLUN1To1, Reshape, ResizeBilinear, ResizeNearestNeighbor, Rsqrt, Slice, Softmax (1-D input,
at most 16,000 elements), SpaceToDepth, Split, Squeeze, StridedSlice, Sub, Sum,
SquaredDifference, Tanh, Transpose, TransposeConv. What is not in it (BatchMatMul between two
activations, Gather, Exp, Log, Pow, Div, Abs, ArgMax, HardSwish, GELU, Where...) runs on the
host CPU, and so does every op after the first such one: the compiler makes one Edge TPU
subgraph, from the start of the model up to the first op it cannot map.

Each row says, for one op kind, why an op cannot be mapped (``None``: it can). The ATen
targets listed are the ones whose TFLite lowering is in the table above; a layer norm is its
decomposition (Mean, SquaredDifference, Rsqrt, Mul, Add), all supported.

ResizeBilinear carries the table's caveat "depending on input/output size, this operation
may not be mapped to the Edge TPU to avoid loss in precision". Where it was seen: mapped for
a 64x64x32 -> 128x128x32 upsampling, not mapped for 256x256x32 -> 512x512x32 (the compiler of
December 2019, google-coral/edgetpu issue #31, where Coral's reply names a precision
threshold; the thread later announces an updated compiler, untested here), and not mapped in
Coral's own ``deeplabv3_mnv2_pascal`` for the image-pooling resize 1x1x256 -> 33x33x256 (the
compiled model's ops, decoded by LibrEdgeTPU, docs/HARDWARE_ANALYSIS.md, "CPU
Post-Processing"). The rule here holds all three: at most a 2x upsampling per spatial axis,
and an output no larger than the largest seen mapped (the threshold is only known to lie
between 0.5 and 8.4 million elements, and may have moved since).
"""

from __future__ import annotations

from collections.abc import Callable

from ..ops import Op, OpKind
from .base import aten_name

SOFTMAX_MAX_ELEMENTS = 16_000  # models-intro: "Supports only 1-D input ... max of 16,000"

# ATen pointwise targets with a supported TFLite lowering (quantize/dequantize at the model's
# edges become the Quantize op; casts are free in a quantized model).
_POINTWISE = frozenset(
    {
        "add",
        "sub",
        "rsub",
        "mul",
        "relu",
        "relu6",
        "hardtanh",
        "clamp",
        "clamp_min",
        "clamp_max",
        "maximum",
        "minimum",
        "sigmoid",
        "silu",  # Logistic then Mul
        "tanh",
        "rsqrt",
        "prelu",
        "_to_copy",
        "to",
        "type_as",
        "quantize_per_tensor",
        "dequantize_per_tensor",
        "quantize_per_channel",
        "dequantize_per_channel",
        "fake_quantize_per_tensor_affine",
        "fake_quantize_per_channel_affine",
        *("zeros", "ones", "full", "zeros_like", "ones_like", "full_like", "arange"),
    }
)
_REDUCE = frozenset({"sum", "mean", "amax", "amin", "max", "min"})
_COPY = frozenset(
    {
        "cat",
        "stack",
        "clone",
        "contiguous",
        "pad",
        "constant_pad_nd",
        "upsample_nearest2d",
        "_upsample_nearest_exact2d",
        "pixel_unshuffle",  # SpaceToDepth
        "copy",
    }
)
_POOL = frozenset(
    {
        "max_pool2d",
        "avg_pool2d",
        "max_pool2d_with_indices",
        "adaptive_avg_pool2d",
        "_adaptive_avg_pool2d",
        "adaptive_max_pool2d",
    }
)


RESIZE_BILINEAR_MAX_SCALE = 2  # per spatial axis: 2x mapped, 33x not (see the module docstring)
RESIZE_BILINEAR_MAX_OUTPUT = 128 * 128 * 32  # elements: the largest bilinear resize seen mapped


def _resize_bilinear(op: Op) -> str | None:
    """Why the compiler leaves a bilinear resize on the CPU (``None``: it maps)."""
    if not op.inputs or not op.outputs:
        return None
    before, after = op.inputs[0].shape[-2:], op.outputs[0].shape[-2:]
    scale = max(a / max(b, 1) for a, b in zip(after, before, strict=True))
    if scale > RESIZE_BILINEAR_MAX_SCALE:
        return (
            f"{op.target} upsamples {tuple(before)} -> {tuple(after)}: the Edge TPU compiler "
            f"maps a bilinear resize of at most {RESIZE_BILINEAR_MAX_SCALE}x per axis "
            "(precision; see edgetpu_ops)"
        )
    if op.outputs[0].numel > RESIZE_BILINEAR_MAX_OUTPUT:
        return (
            f"{op.target} outputs {op.outputs[0].numel:,} elements: the Edge TPU compiler "
            f"maps a bilinear resize of at most {RESIZE_BILINEAR_MAX_OUTPUT:,} (see edgetpu_ops)"
        )
    return None


def _listed(allowed: frozenset[str], what: str) -> Callable[[Op], str | None]:
    def check(op: Op) -> str | None:
        if aten_name(op) in allowed:
            return None
        return f"{op.target} is not in the Edge TPU op table ({what} it supports: see models-intro)"

    return check


def _gemm(op: Op) -> str | None:
    """FullyConnected has a constant weight; a product of two activations is BatchMatMul."""
    if op.params:
        return None
    return f"{op.target} multiplies two activations (BatchMatMul is not in the Edge TPU op table)"


def _softmax(op: Op) -> str | None:
    if not op.inputs:
        return None
    shape = op.inputs[0].shape
    rows = 1
    for size in shape[:-1]:
        rows *= size
    if rows == 1 and shape[-1] <= SOFTMAX_MAX_ELEMENTS:
        return None
    return (
        f"softmax over {tuple(shape)}: the Edge TPU supports only a 1-D softmax of at most "
        f"{SOFTMAX_MAX_ELEMENTS:,} elements"
    )


def _resample(op: Op) -> str | None:
    """ResizeBilinear is a linear interpolation over the two spatial axes of an NHWC image;
    no other interpolation (bicubic, 1-D or 3-D linear) is in the op table."""
    rank = len(op.inputs[0].shape) if op.inputs else 0
    if op.attr("mode") == "linear" and rank == 4:
        return _resize_bilinear(op)
    return (
        f"{op.target}: a {op.attr('mode')} interpolation of a rank-{rank} tensor is not in the "
        "Edge TPU op table (ResizeBilinear: linear over the two spatial axes of an image)"
    )


def _never(reason: str) -> Callable[[Op], str | None]:
    return lambda op: f"{op.target}: {reason}"


def _always(op: Op) -> str | None:
    return None


EDGETPU: dict[OpKind, Callable[[Op], str | None]] = {
    OpKind.CONV: _always,  # Conv2d, DepthwiseConv2d, TransposeConv
    OpKind.GEMM: _gemm,
    OpKind.ATTENTION: _never("attention needs BatchMatMul between activations, not supported"),
    OpKind.POINTWISE: _listed(_POINTWISE, "elementwise ops"),
    OpKind.POOL: _listed(_POOL, "pooling ops"),
    OpKind.NORM: _always,  # folded, or Mean/SquaredDifference/Rsqrt/Mul/Add
    OpKind.SOFTMAX: _softmax,
    OpKind.REDUCE: _listed(_REDUCE, "reductions"),
    OpKind.EMBEDDING: _never("Gather is not in the Edge TPU op table"),
    OpKind.COPY: _listed(_COPY, "data-movement ops"),
    OpKind.RESAMPLE: _resample,
    OpKind.VIEW: _always,  # Reshape, Squeeze, Slice, Transpose
    OpKind.UNSUPPORTED: _never("no ATen mapping, so no Edge TPU op either"),
}

OP_SUPPORT: dict[str, dict[OpKind, Callable[[Op], str | None]]] = {"edgetpu": EDGETPU}


def unmapped_reason(table: str, op: Op) -> str | None:
    """Why the compiler behind ``table`` cannot map ``op`` (``None``: it can)."""
    return OP_SUPPORT[table][op.kind](op)

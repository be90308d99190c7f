"""The default table from ATen op to (op kind, arithmetic handler).

Keys are ATen overload-packet names ("aten.conv2d"), so every overload of an op maps alike.
Anything not here becomes an ``unsupported`` op that reports list by name; users add rows with
``register_aten_op`` instead of forking.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..ops import OpKind
from . import handlers as h

Handler = Callable[[h.NodeShapes], h.Work]

_CONV = ("conv1d", "conv2d", "conv3d", "convolution", "_convolution", "cudnn_convolution")
_CONV_T = ("conv_transpose1d", "conv_transpose2d", "conv_transpose3d")
_MATMUL = ("mm", "bmm", "matmul", "_int_mm")
_ADDMM = ("addmm", "baddbmm")
_RNN = ("lstm", "gru", "rnn_tanh", "rnn_relu")
_SORT = ("sort", "argsort", "msort", "unique", "_unique2", "unique_dim", "unique_consecutive")
# Ops whose output size depends on the values: they read their input once and write what
# they keep (priced at the upper bound, every element kept).
_SELECT = ("nonzero", "nonzero_static", "argwhere", "masked_select")
_TOPK = ("topk", "kthvalue")
_ATTENTION = (
    "scaled_dot_product_attention",
    "_scaled_dot_product_flash_attention",
    "_scaled_dot_product_flash_attention_for_cpu",
    "_scaled_dot_product_efficient_attention",
    "_scaled_dot_product_cudnn_attention",
)
# FLOPs per element, counted as the basic arithmetic a straightforward kernel performs.
_POINTWISE_FLOPS: dict[str, int] = {
    **dict.fromkeys(("add", "sub", "mul", "div", "rsub", "neg", "abs", "relu", "relu6"), 1),
    **dict.fromkeys(("maximum", "minimum", "clamp", "clamp_min", "clamp_max", "hardtanh"), 1),
    **dict.fromkeys(("eq", "ne", "lt", "le", "gt", "ge", "where", "logical_not", "masked_fill"), 1),
    **dict.fromkeys(("bitwise_and", "bitwise_or", "bitwise_not", "sign", "floor", "ceil"), 1),
    **dict.fromkeys(("round", "trunc", "remainder", "fmod", "reciprocal", "square"), 1),
    **dict.fromkeys(("leaky_relu", "threshold", "_to_copy", "to", "type_as"), 1),
    **dict.fromkeys(("hardsigmoid", "prelu", "addcmul", "addcdiv", "lerp"), 3),
    **dict.fromkeys(("hardswish",), 4),
    **dict.fromkeys(("sigmoid", "silu", "elu", "selu", "celu", "softplus"), 4),
    **dict.fromkeys(("exp", "log", "log1p", "expm1", "sqrt", "rsqrt", "pow", "erf"), 4),
    **dict.fromkeys(("tanh", "sin", "cos", "log_sigmoid"), 6),
    **dict.fromkeys(("gelu", "mish"), 8),
}
# Ops that create a tensor from nothing: no arithmetic, but they write their output.
_CREATION = (
    "arange",
    "full",
    "zeros",
    "ones",
    "scalar_tensor",
    "full_like",
    "zeros_like",
    "ones_like",
    "new_zeros",
    "new_ones",
    "new_full",
    "fill",
    "rand",
    "randn",
)
_POOL = (
    "max_pool1d",
    "max_pool2d",
    "max_pool3d",
    "avg_pool1d",
    "avg_pool2d",
    "avg_pool3d",
    "max_pool2d_with_indices",
    "max_pool3d_with_indices",
)
_ADAPTIVE_POOL = (
    "adaptive_avg_pool1d",
    "adaptive_avg_pool2d",
    "adaptive_avg_pool3d",
    "_adaptive_avg_pool2d",
    "adaptive_max_pool2d",
    "adaptive_max_pool1d",
)
_NORM = {
    "_native_batch_norm_legit_no_training": 2,
    "_native_batch_norm_legit": 2,
    "native_batch_norm": 2,
    "batch_norm": 2,
    "layer_norm": 8,
    "native_layer_norm": 8,
    "group_norm": 8,
    "native_group_norm": 8,
    "instance_norm": 8,
    "rms_norm": 6,
    "_fused_rms_norm": 6,
}
_SOFTMAX = ("softmax", "_softmax", "log_softmax", "_log_softmax", "_safe_softmax")
_REDUCE = (
    "sum",
    "mean",
    "amax",
    "amin",
    "max",
    "min",
    "argmax",
    "argmin",
    "prod",
    "var",
    "std",
    "var_mean",
    "norm",
    "linalg_vector_norm",
    "any",
    "all",
    "cumsum",
    "logsumexp",
)
# Interpolating resizes: (mode, interpolated axes); nearest-neighbour ones are copies.
_RESAMPLE = {
    "upsample_linear1d": ("linear", 1),
    "upsample_bilinear2d": ("linear", 2),
    "upsample_trilinear3d": ("linear", 3),
    "upsample_bicubic2d": ("cubic", 2),
}
_EMBEDDING = ("embedding", "gather", "index_select", "index", "take", "embedding_bag")
_COPY = (
    "cat",
    "stack",
    "clone",
    "contiguous",
    "pad",
    "constant_pad_nd",
    "reflection_pad2d",
    "replication_pad2d",
    "upsample_nearest2d",
    "upsample_nearest1d",
    "_upsample_nearest_exact2d",
    "repeat",
    "flip",
    "roll",
    "copy",
    "tile",
    "repeat_interleave",
    "pixel_shuffle",
    "pixel_unshuffle",
    "index_put",
    "scatter",
    "scatter_add",
    "slice_scatter",
    "select_scatter",
    "tril",
    "triu",
)
_VIEW = (
    "view",
    "_unsafe_view",
    "reshape",
    "transpose",
    "permute",
    "t",
    "unsqueeze",
    "squeeze",
    "flatten",
    "unflatten",
    "slice",
    "select",
    "expand",
    "expand_as",
    "alias",
    "detach",
    "narrow",
    "split",
    "split_with_sizes",
    "chunk",
    "unbind",
    "as_strided",
    "getitem",
    "dropout",
    "native_dropout",
    "feature_dropout",
    "lift_fresh_copy",
    "empty",
    "empty_like",
    "empty_strided",
    "unfold",
    "view_as",
    "reshape_as",
    "_reshape_alias",
    "movedim",
    "moveaxis",
    "swapaxes",
    "swapdims",
    "diagonal",
    "view_as_real",
    "view_as_complex",
    "resolve_conj",
    "resolve_neg",
    "conj",
    "lift_fresh",
    "atleast_1d",
    "atleast_2d",
    "atleast_3d",
    "_assert_tensor_metadata",
    "_assert_async",
    "_assert_scalar",
    "sym_constrain_range",
    "sym_constrain_range_for_size",
    "sym_size",
    "sym_numel",
    "sym_stride",
    "lift",
)

# Quantize, dequantize and fake-quant ops: name -> (FLOPs per element, position of the
# quant_min argument; quant_max follows it). They are real elementwise work on most hardware,
# and their integer range is how the builder learns a tensor is stored quantized. A position
# of None means the range is not an argument (the ATen ops read it from a quantized dtype).
QUANT_OPS: dict[str, tuple[int, int | None]] = {
    "quantize_per_tensor": (4, 3),  # quantized_decomposed: (x, scale, zp, qmin, qmax, dtype)
    "dequantize_per_tensor": (2, 3),
    "quantize_per_channel": (4, 4),  # (x, scales, zps, axis, qmin, qmax, dtype)
    "dequantize_per_channel": (2, 4),
    "quantize_per_channel_group": (4, 3),  # (x, scales, zps, qmin, qmax, dtype, group)
    "dequantize_per_channel_group": (2, 3),
    "quantize_per_token": (4, 3),
    "dequantize_per_token": (2, 3),
    "fake_quantize_per_tensor_affine": (6, 3),  # aten: (x, scale, zp, qmin, qmax)
    "fake_quantize_per_channel_affine": (6, 4),  # aten: (x, scale, zp, axis, qmin, qmax)
    "_fake_quantize_per_tensor_affine_cachemask_tensor_qparams": (6, 4),
    "fake_quantize_per_tensor_affine_cachemask": (6, 3),
    "fake_quantize_per_channel_affine_cachemask": (6, 4),
    "_fake_quantize_learnable_per_tensor_affine": (6, 3),
    "_fake_quantize_learnable_per_channel_affine": (6, 4),
    "fused_moving_avg_obs_fake_quant": (8, 8),  # QAT FakeQuantize: (..., qmin, qmax, axis)
    "_fused_moving_avg_obs_fq_helper": (8, 8),
    "quantize_affine": (4, 5),  # torchao: (x, block_size, scale, zp, dtype, qmin, qmax)
    "dequantize_affine": (2, 5),
    "quantize_per_tensor_dynamic": (6, None),
    "dequantize": (2, None),
}

# Which positional arguments hold an op's weight, best first: the builder lists an op's
# constant operands in this order, so ``Op.weight`` (``params[0]``) is the matrix or filter
# and not a bias, whatever the call order (``addmm(bias, x, W)``).
WEIGHT_ARGS: dict[str, tuple[int, ...]] = {
    **dict.fromkeys((*_CONV, *_CONV_T, "linear"), (1,)),
    **dict.fromkeys(_MATMUL, (1, 0)),
    **dict.fromkeys((*_ADDMM, "addbmm"), (2, 1)),
    **dict.fromkeys(_RNN, (2, 3)),  # the weight list: .input overloads, then .data
    **dict.fromkeys(("lstm_cell", "gru_cell", "rnn_tanh_cell", "rnn_relu_cell"), (2, 3)),
    "einsum": (1,),
    "embedding": (0,),
    "embedding_bag": (0,),
}

_TABLE: dict[str, tuple[OpKind, Handler]] = {}


def _fill_defaults() -> dict[str, tuple[OpKind, Handler]]:
    table: dict[str, tuple[OpKind, Handler]] = {}

    def put(names: Any, kind: OpKind, handler: Any) -> None:
        for name in names:
            table[name] = (kind, handler)

    put(_CONV, OpKind.CONV, h.conv)
    put(_CONV_T, OpKind.CONV, h.conv_transpose)
    put(("linear",), OpKind.GEMM, h.linear)
    put(_MATMUL, OpKind.GEMM, h.matmul)
    put(_ADDMM, OpKind.GEMM, h.addmm)
    put(("addbmm",), OpKind.GEMM, h.addbmm)
    put(("einsum",), OpKind.GEMM, h.einsum)
    for name in _RNN:
        put((name,), OpKind.GEMM, h.rnn(name))
        put((f"{name}_cell",), OpKind.GEMM, h.rnn_cell(name))
    put(_SORT, OpKind.REDUCE, h.sort)
    put(_TOPK, OpKind.REDUCE, h.topk)
    put(_SELECT, OpKind.REDUCE, h.reduction)
    put(_ATTENTION, OpKind.ATTENTION, h.attention)
    for name, flops in _POINTWISE_FLOPS.items():
        put((name,), OpKind.POINTWISE, h.pointwise(flops))
    put(_CREATION, OpKind.POINTWISE, h.no_work)
    for name, (flops, _) in QUANT_OPS.items():
        put((name,), OpKind.POINTWISE, h.pointwise(flops))
    put(_POOL, OpKind.POOL, h.pool)
    put(_ADAPTIVE_POOL, OpKind.POOL, h.adaptive_pool)
    for name, flops in _NORM.items():
        put((name,), OpKind.NORM, h.norm(flops))
    put(_SOFTMAX, OpKind.SOFTMAX, h.norm(5))
    put(_REDUCE, OpKind.REDUCE, h.reduction)
    put(_EMBEDDING, OpKind.EMBEDDING, h.gather)
    put(_COPY, OpKind.COPY, h.no_work)
    for name, (mode, axes) in _RESAMPLE.items():
        put((name,), OpKind.RESAMPLE, h.resample(mode, axes))
    put(_VIEW, OpKind.VIEW, h.no_work)
    return table


def aten_table() -> dict[str, tuple[OpKind, Handler]]:
    """The live table (defaults plus user registrations), built on first use."""
    if not _TABLE:
        _TABLE.update(_fill_defaults())
    return _TABLE


def register_aten_op(name: str, kind: OpKind, handler: Handler = h.no_work) -> None:
    """Map an ATen op (overload-packet name without "aten.", e.g. "my_conv") to a kind.

    This is how a user teaches hwsim a custom or newly added op without editing the table.
    """
    aten_table()[name.removeprefix("aten.")] = (kind, handler)


def lookup(name: str) -> tuple[OpKind, Handler] | None:
    """The entry for an op; an in-place variant ("add_") prices like its out-of-place op."""
    table = aten_table()
    if name in table:
        return table[name]
    return table.get(name[:-1]) if name.endswith("_") and not name.endswith("__") else None

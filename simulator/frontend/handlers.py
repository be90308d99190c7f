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

# A positional argument as handlers see it: a tensor's spec, a list of tensors' specs (None
# for non-tensor entries), or None for anything that is not a tensor.
TensorArg = TensorSpec | tuple[TensorSpec | None, ...] | None


@dataclass(frozen=True)
class NodeShapes:
    """What a handler may look at: activation inputs, parameters, outputs, literal args.

    ``operand(i)`` is positional argument ``i`` whether it is an activation or a parameter:
    arithmetic follows an operand's role in the call (``addmm(bias, a, b)`` reduces over
    ``a``'s last dimension), never whether it happens to be a weight.
    """

    inputs: tuple[TensorSpec, ...]
    params: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    args: tuple[object, ...]  # positional args with tensors replaced by None
    kwargs: tuple[tuple[str, object], ...]
    tensor_args: tuple[TensorArg, ...] = ()  # positional args: specs where they are tensors
    constant_args: tuple[bool, ...] = ()  # positional args that are load-time constants

    def operand(self, index: int) -> TensorSpec | None:
        arg = self.tensor_args[index] if index < len(self.tensor_args) else None
        return arg if isinstance(arg, TensorSpec) else None

    def operand_list(self, index: int) -> tuple[TensorSpec, ...]:
        arg = self.tensor_args[index] if index < len(self.tensor_args) else None
        return tuple(t for t in arg if t is not None) if isinstance(arg, tuple) else ()

    def is_constant(self, index: int) -> bool:
        return index < len(self.constant_args) and self.constant_args[index]

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
    # Elementwise work after the products (an RNN's gates): priced as a pointwise op of its
    # own, which fusion then folds into the products as cuDNN and oneDNN do.
    epilogue_flops: int = 0


def _out_numel(s: NodeShapes) -> int:
    return sum(t.numel for t in s.outputs)


def _as_tuple(value: object) -> tuple[int, ...]:
    if isinstance(value, Sequence):
        return tuple(int(v) for v in value)
    return (int(value),) if isinstance(value, int) else ()


def _required(s: NodeShapes, index: int) -> TensorSpec:
    spec = s.operand(index)
    if spec is None:
        raise ValueError(f"operand {index} is not a tensor")
    return spec


def conv(s: NodeShapes) -> Work:
    """Each output element accumulates over (Cin/groups) x kernel taps: weight.shape[1:].

    Groups are derived from shapes (Cin / weight's input channels) rather than read from the
    argument list, whose position differs between conv2d, conv2d.padding and convolution.
    """
    x, weight = _required(s, 0), _required(s, 1)
    macs = _out_numel(s) * math.prod(weight.shape[1:])
    groups = max(x.shape[1] // weight.shape[1], 1) if weight.shape[1] else 1
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
    x, weight = _required(s, 0), _required(s, 1)
    macs = x.numel * math.prod(weight.shape[1:])
    groups = max(s.outputs[0].shape[1] // weight.shape[1], 1) if weight.shape[1] else 1
    attrs = (("groups", groups), ("kernel", tuple(weight.shape[2:])), ("transposed", True))
    return Work(macs=macs, flops=2 * macs, attrs=attrs)


def linear(s: NodeShapes) -> Work:
    """out[..., N] = x[..., K] @ W[N, K]^T: K MACs per output element."""
    k = _last(_required(s, 0))
    macs = _out_numel(s) * k
    return Work(macs=macs, flops=2 * macs, attrs=(("k", k),))


def _last(t: TensorSpec) -> int:
    return t.shape[-1] if t.shape else 1


def _product(s: NodeShapes, a_index: int, extra_flops: int = 0) -> Work:
    """A (batched) product ``a @ b`` with ``a`` at ``a_index`` and ``b`` after it: K is
    ``a``'s last dimension, whichever operand is the weight. With the weight on the left
    (``matmul(W, x)``), hardware runs the transposed product ``(x^T W^T)^T``, so the GEMM
    view gets ``W``'s rows as its N."""
    a, b = _required(s, a_index), _required(s, a_index + 1)
    k = _last(a)
    macs = _out_numel(s) * k
    attrs: tuple[tuple[str, object], ...] = (("k", k),)
    weight_left = s.is_constant(a_index) and not s.is_constant(a_index + 1)
    out = s.outputs[0].shape if s.outputs else ()
    if weight_left and len(a.shape) == 2 and len(b.shape) >= 2 and len(out) >= 2:
        attrs += (("gemms", ((math.prod(out[:-2]) * out[-1], a.shape[0], k, 1),)),)
    return Work(macs=macs, flops=2 * macs + extra_flops, attrs=attrs)


def matmul(s: NodeShapes) -> Work:
    """mm / bmm / matmul: the reduction length is the first operand's last dimension."""
    return _product(s, 0)


def addmm(s: NodeShapes) -> Work:
    """addmm(bias, a, b) / baddbmm(bias, a, b): the product of the second and third operands
    (GPT-2's Conv1D is ``addmm(bias, x, W)``: K is ``x``'s last dimension, not ``W``'s)."""
    return _product(s, 1, extra_flops=_out_numel(s))


def addbmm(s: NodeShapes) -> Work:
    """addbmm(bias, a[B, N, M], b[B, M, P]) sums B products into one [N, P] output."""
    a, b = _required(s, 1), _required(s, 2)
    macs = a.numel * _last(b)
    return Work(macs=macs, flops=2 * macs + _out_numel(s), attrs=(("k", _last(a)),))


def attention(s: NodeShapes) -> Work:
    """softmax(Q K^T) V: L x S x E MACs for the scores, L x S x Ev for the weighted sum."""
    q, k, v = _required(s, 0), _required(s, 1), _required(s, 2)
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


# Taps per interpolated axis of each interpolation mode (nearest is a copy, not here).
RESAMPLE_TAPS = {"linear": 2, "cubic": 4}


def resample_work(mode: str, axes: int, outputs: int) -> Work:
    """An interpolating resize: each output weighs ``t`` input taps per interpolated axis
    (``t^axes`` in all: bilinear 4, bicubic 16) and is computed separably, one axis after the
    other, as kernels do: ``(t^axes - 1) / (t - 1)`` weighted sums of ``t`` taps, each ``t``
    multiplies and ``t - 1`` adds. Linear: 3 lerps of 3 FLOPs for bilinear (9 per output),
    7 for trilinear (21), 1 for linear (3); bicubic: 4 row sums and a column sum of 4 taps,
    5 x 7 = 35 FLOPs per output. The weights depend on the output row or column only, so
    their cost is left out."""
    taps = RESAMPLE_TAPS[mode]
    sums = (taps**axes - 1) // (taps - 1)
    return Work(
        flops=outputs * sums * (2 * taps - 1),
        attrs=(("mode", mode), ("axes", axes), ("taps", taps**axes)),
    )


def resample(mode: str, axes: int) -> object:
    def handler(s: NodeShapes) -> Work:
        return resample_work(mode, axes, _out_numel(s))

    handler.__doc__ = f"Interpolation, {mode} over {axes} axes (``resample_work``)."
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


# --- einsum -------------------------------------------------------------------------------


def _einsum_terms(
    equation: str, shapes: list[tuple[int, ...]]
) -> tuple[list[str], str, dict[str, int]]:
    """Operand index strings, the output's, and each index's size, with ``...`` spelled out
    as one private index per broadcast dimension (right-aligned, as torch aligns them)."""
    lhs, arrow, rhs = equation.replace(" ", "").partition("->")
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        raise ValueError(f"einsum '{equation}': {len(terms)} terms for {len(shapes)} operands")
    ellipsis = max(
        (
            len(sh) - len(t.replace("...", ""))
            for t, sh in zip(terms, shapes, strict=True)
            if "..." in t
        ),
        default=0,
    )
    broadcast = [chr(0x100 + i) for i in range(ellipsis)]
    sizes: dict[str, int] = {}
    spelled = []
    for term, shape in zip(terms, shapes, strict=True):
        explicit = term.replace("...", "")
        extra = len(shape) - len(explicit)
        letters = (
            term.replace("...", "".join(broadcast[ellipsis - extra :])) if "..." in term else term
        )
        if len(letters) != len(shape):
            raise ValueError(f"einsum '{equation}': term '{term}' does not fit shape {shape}")
        for letter, size in zip(letters, shape, strict=True):
            sizes[letter] = max(sizes.get(letter, 1), size)
        spelled.append(letters)
    if arrow:
        output = rhs.replace("...", "".join(broadcast))
    else:  # implicit output: broadcast dims, then the indices seen once, in order
        counts = {c: "".join(spelled).count(c) for c in sizes}
        output = "".join(broadcast) + "".join(
            sorted(c for c in counts if counts[c] == 1 and c not in broadcast)
        )
    return spelled, output, sizes


def einsum(s: NodeShapes) -> Work:
    """einsum as torch runs it without opt_einsum: operands contracted left to right, each
    pair as one batched matrix product over every index either holds (indices only one
    operand holds and nothing later needs are summed out first). A pair that shares no
    summed index is an elementwise multiply, no MACs, as torch.utils.flop_counter counts.

    The attribute ``gemms`` lists each product as (M, N, K, batch): K the summed indices, N
    the right operand's own indices, M the left's, batch the indices both keep.
    """
    equation = s.arg(0, "equation")
    specs = s.operand_list(1)
    if not isinstance(equation, str) or not specs:
        return Work()
    terms, output, sizes = _einsum_terms(equation, [t.shape for t in specs])

    def size(letters: str | list[str]) -> int:
        return math.prod(sizes[c] for c in letters)

    macs, flops = 0, 0
    gemms: list[tuple[int, int, int, int]] = []
    left = terms[0]
    for i, right in enumerate(terms[1:], start=1):
        later = set(output).union(*terms[i + 1 :])
        left = "".join(c for c in dict.fromkeys(left) if c in right or c in later)
        right = "".join(c for c in dict.fromkeys(right) if c in left or c in later)
        summed = [c for c in left if c in right and c not in later]
        kept = "".join(c for c in dict.fromkeys(left + right) if c in later)
        if summed:
            batch = [c for c in left if c in right and c in later]
            m = [c for c in left if c not in right]
            n = [c for c in right if c not in left]
            gemms.append((size(m), size(n), size(summed), size(batch)))
            macs += size("".join(dict.fromkeys(left + right)))
        else:
            flops += size(kept)
        left = kept
    if len(terms) == 1:  # a sum, trace or permutation of one operand
        flops = specs[0].numel
    attrs = (("gemms", tuple(gemms)), ("k", gemms[0][2] if gemms else 0))
    return Work(macs=macs, flops=2 * macs + flops, attrs=attrs)


# --- recurrent layers ---------------------------------------------------------------------

# Gate rows per hidden unit (W_ih and W_hh stack this many gates), and FLOPs per hidden unit
# per step of the gate arithmetic after the two products, counted as the pointwise table counts
# them (add 1, sigmoid 4, tanh 6): LSTM: 4 adds of the two products, 8 bias adds, 3 sigmoids,
# tanh(g), c = f*c + i*g (3), tanh(c), h = o*tanh(c) (1): 4+8+12+6+3+6+1 = 40. GRU: r and z,
# 2 x (3 adds + sigmoid) = 14; n = tanh(W_in x + b_in + r*(W_hn h + b_hn)): 3 adds, 1 mul,
# tanh = 10; h = (1-z)*n + z*h: 4; total 28. Vanilla RNN: 1 add of the products, 2 bias adds,
# then tanh (6) or relu (1). Without biases the bias adds go (LSTM 8, GRU 6, RNN 2).
RNN_GATES = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}
_GATE_FLOPS = {"lstm": (40, 8), "gru": (28, 6), "rnn_tanh": (9, 2), "rnn_relu": (4, 2)}


def _gate_flops(kind: str, units: int, has_biases: bool) -> int:
    total, bias = _GATE_FLOPS[kind]
    return units * (total if has_biases else total - bias)


@dataclass(frozen=True)
class RnnShape:
    """What an ``aten.lstm``/``gru``/``rnn_*`` call computes, read from its operands."""

    tokens: int  # time steps x batch (packed sequences: rows of the packed data)
    batch: int
    steps: int
    has_biases: bool
    groups: tuple[tuple[TensorSpec, ...], ...]  # per layer and direction: W_ih, W_hh[, W_hr]


def rnn_shape(s: NodeShapes) -> RnnShape:
    """``aten.lstm.input(x, hx, params, has_biases, num_layers, dropout, train,
    bidirectional, batch_first)``; the ``.data`` overloads (packed sequences) put
    ``batch_sizes`` after the data, so the weight list is found as the last list argument and
    the flags are read after it. torch orders the weights per layer and direction as W_ih,
    W_hh, b_ih, b_hh, W_hr (the last with ``proj_size``)."""
    lists = [i for i, a in enumerate(s.args) if isinstance(a, (list, tuple))]
    if not lists or len(s.args) < lists[-1] + 6:
        raise ValueError("unrecognised recurrent-layer arguments")
    p = lists[-1]
    has_biases, layers, bidirectional = bool(s.args[p + 1]), s.args[p + 2], bool(s.args[p + 5])
    x = _required(s, 0)
    if p == 3:  # packed: (data, batch_sizes, hx, params, ...)
        tokens, steps = x.shape[0], _required(s, 1).shape[0]
        batch = -(-tokens // max(steps, 1))
    elif len(x.shape) == 2:  # unbatched: (steps, features)
        steps, batch, tokens = x.shape[0], 1, x.shape[0]
    else:
        batch_first = bool(s.args[p + 6]) if len(s.args) > p + 6 else False
        steps, batch = (x.shape[1], x.shape[0]) if batch_first else (x.shape[0], x.shape[1])
        tokens = steps * batch
    matrices = [w for w in s.operand_list(p) if len(w.shape) == 2]
    count = int(layers) * (2 if bidirectional else 1)  # type: ignore[call-overload]
    if not count or len(matrices) % count:
        raise ValueError("the weight list does not match the layer count")
    per = len(matrices) // count
    groups = tuple(tuple(matrices[i : i + per]) for i in range(0, len(matrices), per))
    return RnnShape(tokens, batch, steps, has_biases, groups)


def rnn(kind: str) -> object:
    def handler(s: NodeShapes) -> Work:
        shape = rnn_shape(s)
        gemms = []
        units = 0
        for w_ih, w_hh, *projection in shape.groups:
            gemms.append((shape.tokens, w_ih.shape[0], w_ih.shape[1], 1))  # all steps at once
            gemms.append((shape.batch, w_hh.shape[0], w_hh.shape[1], shape.steps))  # in order
            gemms += [(shape.batch, w.shape[0], w.shape[1], shape.steps) for w in projection]
            units += w_hh.shape[0] // RNN_GATES[kind]
        macs = sum(m * n * k * g for m, n, k, g in gemms)
        attrs = (("gemms", tuple(gemms)), ("k", gemms[0][2]), ("steps", shape.steps))
        epilogue = shape.tokens * _gate_flops(kind, units, shape.has_biases)
        return Work(macs=macs, flops=2 * macs, attrs=attrs, epilogue_flops=epilogue)

    handler.__doc__ = (
        f"{kind}: each weight matrix once per token (the input products batched over all "
        "steps, the recurrent ones step by step), gate arithmetic as an epilogue."
    )
    return handler


def rnn_cell(kind: str) -> object:
    def handler(s: NodeShapes) -> Work:
        x, w_ih, w_hh = _required(s, 0), _required(s, 2), _required(s, 3)
        batch = math.prod(x.shape[:-1]) if len(x.shape) > 1 else 1
        gemms = ((batch, w_ih.shape[0], w_ih.shape[1], 1), (batch, w_hh.shape[0], w_hh.shape[1], 1))
        macs = sum(m * n * k for m, n, k, _ in gemms)
        units = w_hh.shape[0] // RNN_GATES[kind]
        epilogue = batch * _gate_flops(kind, units, s.operand(4) is not None)
        attrs = (("gemms", gemms), ("k", w_ih.shape[1]))
        return Work(macs=macs, flops=2 * macs, attrs=attrs, epilogue_flops=epilogue)

    handler.__doc__ = f"{kind} cell: one step, its two products and the gate arithmetic."
    return handler


# --- sorting ------------------------------------------------------------------------------


def _dim_length(s: NodeShapes, index: int, name: str) -> int:
    x = s.inputs[0] if s.inputs else s.operand(0)
    if x is None or not x.shape:
        return 1
    dim = s.arg(index, name, -1)
    return x.shape[int(dim) if isinstance(dim, int) else -1]


def sort(s: NodeShapes) -> Work:
    """A comparison sort along one dimension: log2(n) compares per element (a merge or
    radix pass per level); memory-bound on every class, priced as a reduction."""
    n = _dim_length(s, 1, "dim")
    x = s.inputs[0] if s.inputs else s.operand(0)
    numel = x.numel if x is not None else 0
    return Work(flops=numel * max(math.ceil(math.log2(max(n, 1))), 1))


def topk(s: NodeShapes) -> Work:
    """top-k by a heap of k: log2(k) compares per element read."""
    k = s.arg(1, "k", 1)
    x = s.inputs[0] if s.inputs else s.operand(0)
    numel = x.numel if x is not None else 0
    levels = max(math.ceil(math.log2(max(int(k) if isinstance(k, int) else 1, 1))), 1)
    return Work(flops=numel * levels)

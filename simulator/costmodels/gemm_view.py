"""Conv and attention as the GEMMs hardware actually runs.

Every accelerator class lowers convolution to a matrix product (im2col / implicit GEMM) and
attention to two batched ones; the class models reason about tiles and folds of these
dimensions, so the lowering is written once here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..ops import Op, OpKind


@dataclass(frozen=True)
class GemmShape:
    """``groups`` independent products of (M x K) @ (K x N)."""

    m: int  # output rows: output pixels x batch for a conv, tokens for a linear
    n: int  # output columns: output channels per group
    k: int  # reduction length
    groups: int = 1

    @property
    def macs(self) -> int:
        return self.m * self.n * self.k * self.groups


def gemm_shapes(op: Op) -> tuple[GemmShape, ...]:
    """The GEMMs an op lowers to (empty for ops that are not MAC ops); computed once per op."""
    shapes = op.memo.get("gemm_shapes")
    if shapes is None:
        shapes = op.memo["gemm_shapes"] = tuple(_lower(op))
    return shapes  # type: ignore[return-value]


def _lower(op: Op) -> list[GemmShape]:
    out = op.outputs[0].shape if op.outputs else ()
    if op.kind is OpKind.CONV and op.weight is not None and out:
        w = op.weight.shape
        groups = op.int_attr("groups")
        if op.attr("transposed"):
            m = math.prod((op.inputs[0].shape[0], *op.inputs[0].shape[2:]))
            return [GemmShape(m=m, n=w[1] * math.prod(w[2:]), k=w[0] // groups, groups=groups)]
        m = out[0] * math.prod(out[2:])
        return [GemmShape(m=m, n=w[0] // groups, k=math.prod(w[1:]), groups=groups)]
    listed = op.attr("gemms")
    if op.kind is OpKind.GEMM and isinstance(listed, tuple) and listed:
        # The frontend's own lowering where the output shape does not tell it: einsum, a
        # weight-first matmul, a recurrent layer's input and hidden products.
        return [GemmShape(m=m, n=n, k=k, groups=g) for m, n, k, g in listed]
    if op.kind is OpKind.GEMM and out:
        k = op.int_attr("k")
        n = out[-1]
        m = math.prod(out[:-1]) if len(out) > 1 else 1
        if op.weight is None and len(out) >= 3:  # batched activation x activation (bmm)
            return [GemmShape(m=out[-2], n=n, k=k, groups=math.prod(out[:-2]))]
        return [GemmShape(m=m, n=n, k=k)]
    if op.kind is OpKind.ATTENTION:
        seq_q, seq_k = op.int_attr("seq_q"), op.int_attr("seq_k")
        dim, batch = op.int_attr("head_dim"), op.int_attr("heads_x_batch")
        dim_v = op.outputs[0].shape[-1] if op.outputs else dim
        return [
            GemmShape(m=seq_q, n=seq_k, k=dim, groups=batch),
            GemmShape(m=seq_q, n=dim_v, k=seq_k, groups=batch),
        ]
    return []


def channel_parallel(g: GemmShape) -> GemmShape:
    """Depthwise (one output channel per group) as SIMD hardware runs it: channels side by side
    in the lanes, rather than one tiny GEMM per channel."""
    if g.n == 1 and g.groups > 1:
        return GemmShape(m=g.m, n=g.groups, k=g.k, groups=1)
    return g

"""Whether a GEMM's weights buy anything on sparse tensor cores, and why (not).

Ampere and Hopper tensor cores skip work only for 2:4 structured sparsity along the reduction
axis: the hardware reads the two kept values of every four plus a 2-bit index each, and does
half the multiplies. Any other zero pattern, however sparse, runs at the dense rate, and
fp32 on the CUDA cores has no sparse path at all. The note says which case applied, so a
compression what-if can show why a pruned model did or did not speed up.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..hardware import Profile
from ..ops import Op
from .weight_storage import weight_format

# Precisions with a sparse tensor-core instruction (mma.sp) on Ampere and Hopper: NVIDIA A100
# and H100 whitepapers list sparse TF32, FP16, BF16, INT8 (and INT4 on A100, FP8 on H100).
SPARSE_TENSOR_CORE_PRECISIONS = frozenset({"tf32", "fp16", "bf16", "fp8", "int8", "int4"})


@dataclass(frozen=True)
class SparseUse:
    """What the weight pattern does on this GPU: a math speed-up, compressed reads, a note."""

    math_speedup: float = 1.0
    weight_fraction: float = 1.0  # bytes of the weight as read, over its dense bytes
    note: str | None = None


def sparse_use(op: Op, profile: Profile, precision: str, *, tensor_cores: bool) -> SparseUse:
    """How ``op``'s measured weight pattern runs at ``precision`` on ``profile``.

    ``tensor_cores`` is False for kernels that run on the CUDA cores (depthwise convolutions),
    which have no sparse path whatever the precision.
    """
    stats = op.weight_stats
    if stats is None:
        return SparseUse()
    if not stats.is_2_4:
        if stats.density < 0.99:  # not the few zeros int8/int4 rounding leaves behind
            return SparseUse(
                note=f"weights {stats.density:.0%} dense but not 2:4: dense tensor-core rate"
            )
        return SparseUse()
    if "2:4" not in profile.sparsity_patterns:
        return SparseUse(note="2:4 weights, but no sparse tensor cores here: dense rate")
    if not tensor_cores or precision not in SPARSE_TENSOR_CORE_PRECISIONS:
        where = "the CUDA cores" if not tensor_cores or precision == "fp32" else precision
        return SparseUse(note=f"2:4 weights, but the kernel runs on {where}: dense rate")
    fmt = weight_format(op, profile, precision)
    fraction = fmt.fraction if fmt.fmt == "2:4" else 1.0
    bytes_note = f"; weights read compressed ({fraction:.0%} of dense)" if fraction < 1 else ""
    return SparseUse(
        math_speedup=2.0,
        weight_fraction=fraction,
        note=f"2:4 sparse tensor cores: 2x math{bytes_note}",
    )

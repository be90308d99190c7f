"""How a layer's weights are stored on a device: packing and sparse formats with metadata.

A 4-bit weight costs 4 bits only where something unpacks it (a CPU or GPU kernel, FPGA
logic); a fixed-word array stores it in a full word. Zeros save space only where the hardware
reads a compressed format, and every format pays for its indices: N:M keeps n of m values plus
log2(m) bits per kept value (NVIDIA's 2-bit 2:4 metadata), a bitmap one bit per weight, CSR a
32-bit column index per value and BSR one per kept block (hwsim's kernels' int32 indices). The
format chosen is the smallest the profile supports for the weights' actual zero pattern.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from ..hardware import Profile
from ..ops import PRECISION_BITS, Op, WeightStats

_INDEX_BITS = 32


@dataclass(frozen=True)
class Storage:
    """A stored weight format: bytes relative to the dense tensor at the same value width."""

    fmt: str
    fraction: float


DENSE = Storage("dense", 1.0)


def value_bits(op: Op, profile: Profile, precision: str) -> float:
    """Bits per stored weight value: the execution width, or the quantized width where the
    hardware unpacks narrower weights."""
    exec_bits = PRECISION_BITS.get(precision, 32)
    bits = op.weight_bits
    if bits is not None and bits < exec_bits and profile.capabilities.unpacks_narrow_weights:
        return float(bits)
    return float(exec_bits)


def _rows(op: Op) -> int:
    return op.weight.shape[0] if op.weight is not None and op.weight.shape else 1


def _candidates(
    stats: WeightStats, profile: Profile, bits: float, rows: int, numel: int
) -> Iterator[Storage]:
    row_ptr = (rows + 1) * _INDEX_BITS / (numel * bits) if numel else 0.0
    for pattern in profile.sparsity_patterns:
        kept = stats.kept_fraction(pattern)
        if kept is None:
            continue
        if pattern in ("2:4", "4:8"):
            m = int(pattern.split(":")[1])
            yield Storage(pattern, kept * (bits + math.ceil(math.log2(m))) / bits)
        elif pattern == "unstructured":
            if profile.capabilities.unstructured_format == "csr":
                yield Storage("csr", kept * (bits + _INDEX_BITS) / bits + row_ptr)
            else:
                yield Storage("bitmap", kept + 1.0 / bits)
        elif pattern in ("block1x4", "block4x4"):
            size = 4 if pattern == "block1x4" else 16
            yield Storage(f"bsr{pattern[5:]}", kept * (1.0 + _INDEX_BITS / (size * bits)) + row_ptr)


def weight_format(op: Op, profile: Profile, precision: str) -> Storage:
    """The smallest format the profile reads for ``op``'s weights (dense if none is smaller)."""
    stats = op.weight_stats
    if not profile.compressed_weights or stats is None or stats.density >= 1.0 or not op.weight:
        return DENSE
    bits = value_bits(op, profile, precision)
    options = list(_candidates(stats, profile, bits, _rows(op), op.weight.numel))
    best = min(options, key=lambda s: s.fraction, default=DENSE)
    return best if best.fraction < 1.0 else DENSE

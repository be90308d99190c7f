"""The typed ``arch`` section of a GPU profile, and the per-GPU view the cost model prices with.

``GpuArch`` is what a profile says (checked when it loads); ``Gpu`` adds what follows from the
rest of the profile (its L2 and DRAM levels, cycles per kernel gap and per host launch) and is
built once per profile value, so the cost functions read plain attributes.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from ..archspec import BOOLEAN, FRACTION, NON_NEGATIVE, POSITIVE, POSITIVE_INT, ArchSpec, spec
from ..archspec import Capabilities as _Capabilities
from ..errors import ProfileError
from ..hardware import MemoryLevel, Profile

# A positive number, or null for "this device has none / the profile does not say".
_POSITIVE_OR_NULL: dict[str, Any] = {"type": ["number", "null"], "exclusiveMinimum": 0}
_NON_NEGATIVE_OR_NULL: dict[str, Any] = {"type": ["number", "null"], "minimum": 0}


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True, kw_only=True)
class GpuArch(ArchSpec):
    """What the GPU model reads (docs/gpu.md). Defaults are the presets' assumed values."""

    HW_CLASS = "gpu"
    CAPABILITIES = _Capabilities(packed_vector_lanes=True, unpacks_narrow_weights=True)

    sms: int = spec(POSITIVE_INT, "streaming multiprocessors: tiles spread over them")
    smem_per_sm_bytes: int = spec(
        POSITIVE_INT, "shared memory per SM, bounds CTAs resident per SM", default=167936
    )
    register_file_per_sm_bytes: int = spec(
        POSITIVE_INT, "register file per SM, bounds CTAs resident per SM", default=262144
    )
    sfu_ops_per_sm_cycle: float = spec(
        POSITIVE, "exp2/rsqrt results per clock per SM (fused softmax)", default=16.0
    )
    mainloop_efficiency: float = spec(
        FRACTION, "fraction of tensor-core peak a saturated GEMM main loop keeps", default=0.85
    )
    cta_fixed_cycles: float = spec(
        NON_NEGATIVE, "pipeline fill and epilogue of one CTA, paid once per wave", default=800.0
    )
    global_load_latency_cycles: float = spec(
        NON_NEGATIVE, "round trip of a load that misses L1", default=500.0
    )
    cluster_multicast: int = spec(
        POSITIVE_INT,
        "CTAs of a thread-block cluster, along M or along N, that share one L2 read of an "
        "operand tile by TMA multicast (Hopper: 2); 1: no multicast (Ampere)",
        default=1,
    )
    kernel_gap_s: float = spec(
        NON_NEGATIVE, "device-side time between dependent kernels", default=2.0e-6
    )
    cuda_graph: bool = spec(
        BOOLEAN, "kernels replay from a CUDA graph: no host cost per kernel", default=False
    )
    inference_overhead_s: float = spec(
        NON_NEGATIVE,
        "once per inference, outside the kernels: launching the graph or engine, copying the "
        "input in and the output out, synchronizing on the result (charged to the first "
        "kernel)",
        default=0.0,
    )
    fp32_conv_as_tf32: bool = spec(
        BOOLEAN, "the library runs fp32 convolutions on TF32 tensor cores", default=False
    )
    fp32_matmul_as_tf32: bool = spec(
        BOOLEAN, "the library runs fp32 matmuls on TF32 tensor cores", default=False
    )
    memory_capacity_bytes: float | None = spec(
        _POSITIVE_OR_NULL,
        "device memory a program can allocate (the driver's total): what weights, KV cache and "
        "activations must fit in; null: not stated, so fits is unknown",
        default=None,
        convert=_optional_float,
    )
    interconnect_bandwidth_bytes_per_s: float | None = spec(
        _POSITIVE_OR_NULL,
        "device-to-device link (NVLink class) as NCCL's bus bandwidth: a ring all-reduce of S "
        "bytes over T devices takes 2 (T-1)/T x S / this; null: no such link",
        default=None,
        convert=_optional_float,
    )
    interconnect_latency_s: float | None = spec(
        _NON_NEGATIVE_OR_NULL,
        "fixed time of one small collective over that link; null exactly when the link is",
        default=None,
        convert=_optional_float,
    )

    def check(self, origin: str) -> None:
        """A link needs both its bandwidth and its latency; neither is guessed."""
        if (self.interconnect_bandwidth_bytes_per_s is None) != (
            self.interconnect_latency_s is None
        ):
            raise ProfileError(
                f"{origin}: field 'arch/interconnect_latency_s': give both "
                "interconnect_bandwidth_bytes_per_s and interconnect_latency_s, or neither "
                "(null: no device-to-device link)"
            )


@dataclass(frozen=True)
class Gpu:
    """One GPU as the cost functions see it: the arch section plus what the profile implies."""

    arch: GpuArch
    l2: MemoryLevel  # the on-chip cache every global-memory byte passes through
    dram: MemoryLevel  # the backing store
    kernel_gap_cycles: float
    host_launch_cycles: float  # host-side cost of launching one kernel eagerly

    @property
    def sms(self) -> int:
        return self.arch.sms

    @property
    def cuda_graph(self) -> bool:
        return self.arch.cuda_graph

    @property
    def sfu_ops_per_sm_cycle(self) -> float:
        return self.arch.sfu_ops_per_sm_cycle


@functools.lru_cache(maxsize=256)
def gpu_of(profile: Profile) -> Gpu:
    """The ``Gpu`` view of a GPU profile (cached per profile value)."""
    arch = profile.arch
    assert isinstance(arch, GpuArch), f"{profile.name} is not a GPU profile"
    return Gpu(
        arch=arch,
        l2=profile.memory[0],
        dram=profile.memory[-1],
        kernel_gap_cycles=arch.kernel_gap_s * profile.clock_hz,
        host_launch_cycles=profile.per_op_overhead_cycles,
    )

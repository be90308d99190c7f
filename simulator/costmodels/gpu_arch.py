"""The GPU-specific numbers of a profile, read once from its free-form ``arch`` section.

The profile schema leaves ``arch`` open because every hardware class needs different facts.
The GPU model needs about a dozen; reading them here, with the defaults a user-written profile
falls back to, keeps ``arch.get(...)`` calls out of the cost functions and gives one place
that says what each number means.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ProfileError
from ..profile import MemoryLevel, Profile

# Defaults for a profile that leaves a field out: the presets' assumed values (each preset
# sets every field, with its source), eager launches and no TF32 substitution.
_DEFAULTS: dict[str, float | bool] = {
    "smem_per_sm_bytes": 167936,  # 164 KiB, Ampere's shared memory per SM
    "register_file_per_sm_bytes": 262144,  # 64K 32-bit registers per SM (every GPU since Kepler)
    "sfu_ops_per_sm_cycle": 16,  # exp2/rsqrt results per clock per SM on Ampere and Hopper
    "mainloop_efficiency": 0.85,
    "cta_fixed_cycles": 800,
    "global_load_latency_cycles": 500,
    "kernel_gap_s": 2.0e-6,
    "cuda_graph": False,
    "fp32_conv_as_tf32": False,
    "fp32_matmul_as_tf32": False,
}


@dataclass(frozen=True)
class GpuArch:
    """What the GPU cost model knows about one GPU and the software that drives it."""

    sms: int
    smem_per_sm_bytes: int
    register_file_per_sm_bytes: int
    sfu_ops_per_sm_cycle: float  # special-function (exp) throughput, for fused softmax
    mainloop_efficiency: float  # fraction of tensor-core peak a saturated GEMM main loop keeps
    cta_fixed_cycles: float  # pipeline fill and epilogue of one CTA, not hidden by its math
    global_load_latency_cycles: float  # round trip of a load that misses L1
    kernel_gap_cycles: float  # device-side time between dependent kernels (launch, ramp, drain)
    host_launch_cycles: float  # host-side cost of launching one kernel eagerly
    cuda_graph: bool  # kernels replay from a CUDA graph: no host cost per kernel
    fp32_conv_as_tf32: bool  # cuDNN runs fp32 convolutions on TF32 tensor cores
    fp32_matmul_as_tf32: bool  # cuBLAS runs fp32 matmuls on TF32 tensor cores
    l2: MemoryLevel  # the on-chip cache every global-memory byte passes through
    dram: MemoryLevel  # the backing store

    @staticmethod
    def from_profile(profile: Profile) -> GpuArch:
        arch = profile.arch
        if "sms" not in arch:
            raise ProfileError(
                f"{profile.source or profile.name}: field 'arch/sms': a GPU profile must give "
                "its SM count (the GPU model spreads tiles over SMs)"
            )

        def get(key: str) -> float:
            return float(arch.get(key, _DEFAULTS[key]))

        return GpuArch(
            sms=int(arch["sms"]),
            smem_per_sm_bytes=int(get("smem_per_sm_bytes")),
            register_file_per_sm_bytes=int(get("register_file_per_sm_bytes")),
            sfu_ops_per_sm_cycle=get("sfu_ops_per_sm_cycle"),
            mainloop_efficiency=get("mainloop_efficiency"),
            cta_fixed_cycles=get("cta_fixed_cycles"),
            global_load_latency_cycles=get("global_load_latency_cycles"),
            kernel_gap_cycles=get("kernel_gap_s") * profile.clock_hz,
            host_launch_cycles=profile.per_op_overhead_cycles,
            cuda_graph=bool(arch.get("cuda_graph", _DEFAULTS["cuda_graph"])),
            fp32_conv_as_tf32=bool(arch.get("fp32_conv_as_tf32", _DEFAULTS["fp32_conv_as_tf32"])),
            fp32_matmul_as_tf32=bool(
                arch.get("fp32_matmul_as_tf32", _DEFAULTS["fp32_matmul_as_tf32"])
            ),
            l2=profile.memory[0],
            dram=profile.memory[-1],
        )

"""The one registry of hardware classes: each class's arch type, cost table, whole-graph
model and options.

Everything that differs by class is found here, by the class name a profile gives in
``hw_class``: the loader reads the ``arch`` section with ``arch``, the estimate prices ops with
``table`` (or the whole graph with ``graph_cost``) and turns the user's per-estimate settings
into the class's typed options with ``options``. Adding a class means one new module (its
arch dataclass and cost table) and one row in ``HW_CLASSES`` (docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass

from ..archspec import ArchSpec
from ..errors import ProfileError
from ..frozen import deep_freeze
from ..graph import OpGraph
from ..hardware import Profile
from ..memory import Fuses, always_fused, never_in_place
from ..ops import Op, OpKind
from . import cpu, fpga, gpu, mcu, systolic, systolic_deploy
from .base import (
    CostFn,
    FusesFn,
    GraphFn,
    InPlaceFn,
    MemoryFitFn,
    NoOptions,
    PricingContext,
    UserOptions,
)
from .cache import ContextFn, no_context
from .cpu_arch import CpuArch, CpuOptions
from .fpga_arch import FpgaArch, FpgaOptions, FpgaStreamingArch
from .gpu_arch import GpuArch, gpu_of
from .mcu_arch import McuArch
from .systolic_arch import SystolicArch

OptionsFn = Callable[[Profile, UserOptions], object]


def _no_fusion(op: object) -> bool:
    return False


def profile_fusion(profile: Profile) -> Fuses:
    """A profile's own rule: the frontend's fusion holds when it fuses pointwise ops (an
    eager profile runs every op as its own kernel)."""
    return always_fused if profile.fuse_pointwise else _no_fusion


@dataclass(frozen=True)
class HwClass:
    """One hardware class: how its profiles are read and how its ops are priced."""

    name: str
    arch: type[ArchSpec]
    table: dict[OpKind, CostFn]  # live: register_cost adds or replaces rows
    graph_cost: GraphFn | None = None  # prices the whole graph at once (pipelines)
    accepts: Callable[[Profile], frozenset[str]] = lambda _: frozenset()  # UserOptions taken
    options: OptionsFn = lambda _p, _u: NoOptions()
    # Which kernels the class's runtime runs in place (default: none; every output its own).
    in_place: InPlaceFn = lambda _: never_in_place
    # Which of the frontend's fused pointwise ops really run inside their producer's kernel.
    fuses: FusesFn = profile_fusion
    # Whether a model fits the device's memories (None: not a question for this class).
    memory_fit: MemoryFitFn | None = None
    # Refuses, before any op is priced, a model the class could not price in bounded time.
    check: Callable[[OpGraph, PricingContext], None] | None = None
    # What an op's price reads from the rest of the graph, for the per-op cost cache
    # (cache.py); None from it: the op is priced fresh every time.
    cache_context: ContextFn = no_context
    # Bytes of weights the class keeps on chip layer by layer in graph order, the rest
    # streaming every inference (``systolic_plan``; ``PricingContext.cache_bytes`` overrides
    # it); None: the class has no such cache. nas.LatencyTable prices blocks with it.
    weight_cache_bytes: Callable[[Profile], float | None] = lambda _: None
    # Why a model's latency on a profile is not a sum of per-block prices (nas.LatencyTable
    # refuses the profile with it); None: it is.
    not_blockwise: Callable[[Profile], str | None] = lambda _: None


def _class_context(op: Op, ctx: PricingContext) -> Hashable | None:
    """The cache context hook of the class pricing ``ctx`` (a deployed accelerator's host)."""
    return hw_class(ctx.profile.hw_class).cache_context(op, ctx)


def _deployed_context(op: Op, ctx: PricingContext) -> Hashable | None:
    return systolic_deploy.cache_context(op, ctx, _class_context)


def _cpu_options(profile: Profile, user: UserOptions) -> CpuOptions:
    arch = profile.arch
    assert isinstance(arch, CpuArch)
    if user.threads is not None and user.threads > arch.cores:
        raise ProfileError(
            f"--threads {user.threads}: {profile.name} has {arch.cores} cores (the CPU model "
            "runs at most one thread per core)"
        )
    return CpuOptions(threads=user.threads)


def _fpga_accepts(profile: Profile) -> frozenset[str]:
    if isinstance(profile.arch, FpgaStreamingArch):
        return frozenset({"folding", "target_fps"})
    return frozenset()


def _fpga_options(profile: Profile, user: UserOptions) -> FpgaOptions:
    folding = deep_freeze(user.folding) if user.folding is not None else None
    return FpgaOptions(folding=folding, target_fps=user.target_fps)


HW_CLASSES: dict[str, HwClass] = {
    "cpu": HwClass(
        "cpu",
        CpuArch,
        dict(cpu.COST_TABLE),
        accepts=lambda _: frozenset({"threads"}),
        options=_cpu_options,
    ),
    "gpu": HwClass("gpu", GpuArch, dict(gpu.COST_TABLE)),
    "systolic": HwClass(
        "systolic",
        SystolicArch,
        dict(systolic_deploy.COST_TABLE),
        graph_cost=systolic_deploy.graph_cost,
        check=systolic.check_replay_budget,
        cache_context=_deployed_context,
        weight_cache_bytes=systolic.weight_cache_bytes,
        not_blockwise=systolic_deploy.not_blockwise,
    ),
    "fpga": HwClass(
        "fpga",
        FpgaArch,
        dict(fpga.COST_TABLE),
        graph_cost=fpga.graph_cost,
        accepts=_fpga_accepts,
        options=_fpga_options,
        not_blockwise=lambda _: "an FPGA pipeline's latency is not a sum of its blocks' prices",
    ),
    "mcu": HwClass(
        "mcu",
        McuArch,
        dict(mcu.COST_TABLE),
        in_place=mcu.in_place,
        fuses=mcu.fuses,
        memory_fit=mcu.memory_fit,
    ),
}


def hw_class(name: str) -> HwClass:
    """The registered class ``name``, or a ``ProfileError`` listing the known ones."""
    try:
        return HW_CLASSES[name]
    except KeyError:
        raise ProfileError(
            f"no hardware class '{name}' (known: {', '.join(sorted(HW_CLASSES))})"
        ) from None


def cost_table(name: str) -> dict[OpKind, CostFn]:
    """The live cost table of class ``name``."""
    return hw_class(name).table


def register_cost(name: str, kind: OpKind, fn: CostFn) -> None:
    """Price ``kind`` on class ``name`` with ``fn`` from now on (adds or replaces a row)."""
    hw_class(name).table[kind] = fn


def clear_caches() -> None:
    """Forget every price fact cached by value (they can never be stale, since profiles and
    ops are immutable; this frees memory and lets benchmarks time pricing from cold)."""
    systolic.clear_caches()
    gpu_of.cache_clear()

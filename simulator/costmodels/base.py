"""What a cost function sees (``PricingContext``), what a whole-graph model returns
(``GraphCost``), and the per-estimate options a user passes (``UserOptions``)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..cost import OpCost
from ..errors import ProfileError
from ..frontend.onnx_table import aten_equivalent
from ..graph import OpGraph
from ..hardware import MemoryLevel, Profile
from ..memory import Fuses, InPlace, MemoryPlan
from ..ops import Op, OpKind


@dataclass(frozen=True)
class NoOptions:
    """The options of a class that takes none."""


@dataclass(frozen=True)
class UserOptions:
    """Per-estimate settings a user may pass (``--threads``, ``--folding``, ``--target-fps``),
    validated once; each class takes the ones that apply to it as its own typed options."""

    threads: int | None = None  # CPU: threads to run on
    folding: Mapping[str, Any] | None = None  # streaming FPGA: a folding config (loaded)
    target_fps: float | None = None  # streaming FPGA: fold for this frame rate

    def __post_init__(self) -> None:
        if self.threads is not None and (
            isinstance(self.threads, bool) or not isinstance(self.threads, int) or self.threads < 1
        ):
            raise ProfileError(f"--threads must be a positive integer, got {self.threads}")
        if self.target_fps is not None and not (
            math.isfinite(self.target_fps) and self.target_fps > 0
        ):
            raise ProfileError(f"--target-fps must be a positive number, got {self.target_fps}")

    def given(self) -> frozenset[str]:
        """Names of the options that were set."""
        return frozenset(
            name for name in ("threads", "folding", "target_fps") if getattr(self, name) is not None
        )


@dataclass(frozen=True)
class PricingContext:
    """A profile plus the whole-model facts a single op's price depends on.

    Whether weights stay resident on chip depends on the model's total weight size, not the
    op's, so it is decided once per estimate and handed to every cost function.
    """

    profile: Profile
    weight_home: MemoryLevel  # where the model's weights live between inferences
    precision: str | None = None  # force every op to this precision (None: the op's own)
    fuse: bool = True
    graph: OpGraph | None = None  # the whole model, for models that plan across ops
    options: object = field(default_factory=NoOptions)  # the class's typed options
    table: Mapping[OpKind, CostFn] = field(default_factory=dict)  # the class's live cost table
    # The host that runs what this hardware cannot (``Profile.arch.host_profile()``), priced
    # with its own class's table; None when the profile names no host.
    host: PricingContext | None = None
    # The parameter cache capacity a layer-by-layer weight cache (``systolic_plan``) uses
    # instead of the profile's, for a caller that prices one block of a larger model
    # (nas.LatencyTable: inf keeps every layer's weights, 0 streams them all); None: the
    # profile's own.
    cache_bytes: float | None = None


@dataclass(frozen=True)
class GraphCost:
    """Whole-graph result of a class model that prices the graph at once, not op by op.

    A streaming FPGA pipeline runs every layer at the same time: its latency is the critical
    path and its throughput is set by the slowest stage, so neither is a sum of op costs.
    ``costs`` holds one entry per op in graph order (``None``: could not be priced);
    ``total`` is the whole graph's cost (its ``cycles`` are the pipeline latency).
    """

    costs: tuple[OpCost | None, ...]
    total: OpCost
    throughput_fps: float
    fits: bool | None = None  # does the design fit the device (None: not a question here)
    binding_resource: str | None = None  # the resource that runs out first
    resources: Mapping[str, Mapping[str, float]] = field(default_factory=dict)  # used/available
    layer_details: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # by op id
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class MemoryUse:
    """What one memory of the device must hold for an inference, against what it has.

    ``parts`` names what the bytes are (the activation arena, a runtime's persistent data,
    weights, code), so a report can say what does not fit and why.
    """

    memory: str  # "sram", "flash"
    used_bytes: float
    available_bytes: float
    parts: Mapping[str, float] = field(default_factory=dict)

    @property
    def fits(self) -> bool:
        return self.used_bytes <= self.available_bytes

    @property
    def overcommit(self) -> float:
        """Used over available: above 1 when it does not fit."""
        return self.used_bytes / self.available_bytes if self.available_bytes else math.inf


@dataclass(frozen=True)
class MemoryFit:
    """Whether a model fits the device's memories (a class with a ``memory_fit`` rule)."""

    uses: tuple[MemoryUse, ...]

    @property
    def fits(self) -> bool:
        return all(use.fits for use in self.uses)

    @property
    def binding(self) -> tuple[MemoryUse, ...]:
        """The memories that do not fit, most overcommitted first."""
        return tuple(sorted((u for u in self.uses if not u.fits), key=lambda u: -u.overcommit))


CostFn = Callable[[Op, PricingContext], OpCost]
# Every op of a graph priced by the context's table: ``price_ops``, or a cost cache's.
PriceOpsFn = Callable[[OpGraph, PricingContext], Sequence[OpCost | None]]
# A whole-graph model, handed the per-op pricing to use where its result is built from
# per-op prices; None: this profile of the class is priced op by op after all.
GraphFn = Callable[[OpGraph, PricingContext, PriceOpsFn], GraphCost | None]
# How a class's runtime reuses memory (which kernels write over an input they read last).
InPlaceFn = Callable[[Profile], InPlace]
FusesFn = Callable[[Profile], Fuses]
# Whether a model fits the device: the graph, the profile, the activation memory of the
# chosen schedule and the forced precision (None: each op's own).
MemoryFitFn = Callable[[OpGraph, Profile, MemoryPlan, str | None], MemoryFit]


def cost_fn(op: Op, ctx: PricingContext) -> CostFn | None:
    """The context's cost function for ``op`` (``None``: nothing can price it)."""
    return ctx.table.get(op.kind) if op.kind is not OpKind.UNSUPPORTED else None


def price_ops(graph: OpGraph, ctx: PricingContext) -> list[OpCost | None]:
    """Each op priced by the context's table (``None``: nothing can price it)."""
    out: list[OpCost | None] = []
    for op in graph:
        fn = cost_fn(op, ctx)
        out.append(fn(op, ctx) if fn else None)
    return out


def aten_name(op: Op) -> str:
    """The ATen op name ``op`` does the work of, without overload or in-place suffix
    ("aten.relu_.default" -> "relu", "onnx.Clip" -> "clamp"): per-op rules written for torch
    graphs (which activation is a kernel's clamp, which loop is transcendental) then apply to
    a model read from ONNX too."""
    return aten_equivalent(op.target).split(".")[0].rstrip("_")

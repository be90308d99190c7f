"""Where each op of a model runs on a systolic profile, and where its parameters live.

A deployment toolchain decides this once per model, before any op is priced, so it is a plan
computed once per (graph, profile value, precision) and read by every cost function:

- **Partition.** With ``arch.op_support`` set, the compiler maps ops in graph order up to the
  first one its table cannot map; that op and every op after it run on the host CPU
  (``arch.cpu_fallback``), even ops the array could run. This is the Edge TPU compiler's rule:
  one accelerator subgraph per model (Coral, "TensorFlow models on the Edge TPU").
- **Parameter cache.** Layers with weights take cache space in graph order until a layer no
  longer fits; that layer and every later one stream their weights from the backing store on
  every call. The cache is the filter buffer, or, with ``arch.shared_sram``, what the first
  memory level has left once the activations' working set (the peak of live activations at
  the device precision) and ``sram_reserved_bytes`` are placed: the Edge TPU compiler reports
  this as "on-chip memory available for caching model parameters" and it shrinks as a model's
  activations grow.
- **Link transfers.** With ``arch.host_link`` set, the model's inputs cross the link before
  the first device op, and every tensor a device op hands to the host (a model output, or an
  input of a host op) crosses it back.

Ops that do no work (views, ops fused into a producer) run wherever their neighbours do and
are placed on no device.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from ..graph import OpGraph
from ..hardware import Profile
from ..memory import plan_memory
from ..ops import MAC_KINDS, PRECISION_BITS, Op, OpKind
from . import roofline as rl
from .edgetpu_ops import unmapped_reason
from .systolic_arch import SystolicArch

ARRAY, DEPTHWISE, VECTOR, HOST = "array", "depthwise", "vector", "cpu"
CACHED, STREAMED = "cached", "streamed"


@dataclass(frozen=True)
class Placement:
    """Where one op runs and, for ops with weights, where the weights live, with why."""

    device: str  # array | depthwise | vector | cpu | "" (no work)
    why: str
    weights: str = ""  # cached | streamed | ""
    weights_why: str = ""


@dataclass(frozen=True)
class DevicePlan:
    """The partition, the parameter cache and the link transfers of one model."""

    placements: Mapping[str, Placement]
    host_from: str | None  # id of the first op the host runs (None: the device runs all)
    host_reason: str  # why that op cannot run on the device
    cache_bytes: float  # parameter cache capacity
    cached_bytes: float
    streamed_bytes: float  # weights streamed from the backing store per call
    activation_bytes: float  # activation working set placed before the parameters
    input_bytes: float  # bytes sent to the device per call (model inputs)
    sent_back: Mapping[str, float]  # device op id -> bytes it hands to the host per call
    first_device_op: str | None
    host_side: frozenset[str]  # every op from host_from on, views and fused ops included

    def on_host(self, op_id: str) -> bool:
        return op_id in self.host_side

    def streamed(self) -> frozenset[str]:
        """Ids of the ops whose weights stream (read once per op priced: computed once)."""
        return self._streamed

    @cached_property
    def _streamed(self) -> frozenset[str]:
        return frozenset(i for i, p in self.placements.items() if p.weights == STREAMED)


# Per traced graph (dropped with it), per (profile value, forced precision, forced cache).
_PLANS: weakref.WeakKeyDictionary[Any, dict[tuple[Profile, str | None, float | None], DevicePlan]]
_PLANS = weakref.WeakKeyDictionary()


def clear_plans() -> None:
    """Forget the cached plans (``registry.clear_caches``)."""
    _PLANS.clear()


def device_plan(
    graph: OpGraph, profile: Profile, precision: str | None, cache_bytes: float | None = None
) -> DevicePlan:
    """The plan of ``graph`` on ``profile`` (computed once per graph and profile value).

    ``cache_bytes`` replaces the parameter cache's capacity, for a caller that prices one
    block of a larger model and fills the cache across blocks itself (nas.LatencyTable)."""
    plans = _PLANS.setdefault(graph.dag, {})
    key = (profile, precision, cache_bytes)
    if key not in plans:
        plans[key] = _plan(graph, profile, precision, cache_bytes)
    return plans[key]


def fixed_cache_bytes(profile: Profile) -> float | None:
    """The parameter cache's capacity when it does not depend on the model (a filter buffer,
    or no weights on chip at all); None where it does (``arch.shared_sram``: what the SRAM
    leaves after the model's activation working set)."""
    arch = _arch(profile)
    level = profile.memory[0]
    if not level.holds_weights or len(profile.memory) < 2:
        return 0.0 if not level.holds_weights else math.inf
    if arch.shared_sram:
        return None
    given = arch.sram_bytes("filter")
    return level.capacity_bytes / 2 if given is None else given


def _arch(profile: Profile) -> SystolicArch:
    arch = profile.arch
    assert isinstance(arch, SystolicArch), f"{profile.name} is not a systolic profile"
    return arch


def _does_work(op: Op) -> bool:
    return op.kind is not OpKind.VIEW and not op.fused_into


def _partition(graph: OpGraph, arch: SystolicArch) -> tuple[str | None, str]:
    """The first op (in graph order) the compiler cannot map, and why."""
    if arch.op_support is None:
        return None, ""
    for op in graph:
        reason = unmapped_reason(arch.op_support, op)
        if reason is not None:
            return op.id, reason
    return None, ""


def _device(op: Op, arch: SystolicArch) -> tuple[str, str]:
    if op.kind is OpKind.VIEW:
        return "", "no work: a view"
    if op.fused_into:
        return VECTOR, "fused into its producer: applied as the array's outputs drain"
    if op.kind in MAC_KINDS and op.is_depthwise and arch.depthwise_macs_per_cycle is not None:
        return DEPTHWISE, "depthwise conv: channel-parallel path, one channel per column"
    if op.kind in MAC_KINDS:
        return ARRAY, "mapped to the systolic array"
    return VECTOR, f"{op.kind} op: the vector unit after the array"


def _scale(op: Op, profile: Profile, precision: str | None) -> float:
    return rl.activation_scale(op, rl.execution_precision(op, profile, precision))


def _cache_capacity(
    graph: OpGraph, profile: Profile, precision: str | None, on_device: set[str]
) -> tuple[float, float]:
    """(parameter cache bytes, activation working set placed before it)."""
    arch = _arch(profile)
    level = profile.memory[0]
    fixed = fixed_cache_bytes(profile)
    if fixed is not None:
        return fixed, 0.0
    working = plan_memory(
        graph,
        "traced",
        byte_scale=lambda op: _scale(op, profile, precision) if op.id in on_device else 0.0,
    ).peak_bytes
    free = level.capacity_bytes - arch.sram_reserved_bytes - working
    return max(free, 0.0), working


def _plan(
    graph: OpGraph, profile: Profile, precision: str | None, cache_bytes: float | None
) -> DevicePlan:
    arch = _arch(profile)
    host_from, host_reason = _partition(graph, arch)
    order = [op.id for op in graph]
    cut = order.index(host_from) if host_from is not None else len(order)
    on_device = set(order[:cut])
    capacity, working = _cache_capacity(graph, profile, precision, on_device)
    if cache_bytes is not None:
        capacity = cache_bytes

    placements: dict[str, Placement] = {}
    used = streamed = 0.0
    mib = 1024 * 1024
    backing = profile.memory[-1].name
    for index, op in enumerate(graph):
        if index >= cut:
            why = (
                f"host CPU: {host_reason}"
                if op.id == host_from
                else "host CPU: after the first op the compiler cannot map"
            )
            placements[op.id] = Placement(HOST if op.kind is not OpKind.VIEW else "", why)
            continue
        device, why = _device(op, arch)
        weights = weights_why = ""
        if op.kind in MAC_KINDS and op.params:
            size = rl.device_weight_bytes(op, profile, precision)
            used += size
            if used <= capacity:
                weights = CACHED
                weights_why = (
                    f"parameter cache holds it ({used / mib:.2f} of {capacity / mib:.2f} MiB "
                    "used so far)"
                )
            else:
                weights, streamed = STREAMED, streamed + size
                weights_why = (
                    f"the parameter cache ({capacity / mib:.2f} MiB) is full: "
                    f"{size / 1e3:,.1f} kB stream from {backing} every call"
                )
        placements[op.id] = Placement(device, why, weights, weights_why)

    link = arch.host_link is not None
    device_ops = [graph[i] for i in order[:cut] if graph[i].kind is not OpKind.VIEW]
    first = next((op.id for op in device_ops if _does_work(op)), None)
    input_bytes = 0.0
    sent_back: dict[str, float] = {}
    if link and first is not None:
        device_precision = precision or profile.default_precision
        bits = PRECISION_BITS.get(device_precision, 32)
        input_bytes = sum(
            t.nbytes * (bits / 32 if t.dtype.startswith(("float", "bfloat")) else 1.0)
            for t in graph.info.inputs
        )
        for op in device_ops:
            # A tensor crosses when the host reads it or it is a model output (a fused
            # producer's output too, when its fused consumer runs on the host).
            readers = graph.real_consumers(op.id)
            if op.outputs and (not readers or any(r not in on_device for r in readers)):
                sent_back[op.id] = op.outputs[0].nbytes * _scale(op, profile, precision)
    return DevicePlan(
        placements=placements,
        host_from=host_from,
        host_reason=host_reason,
        cache_bytes=capacity,
        cached_bytes=used - streamed if used > 0 else 0.0,
        streamed_bytes=streamed,
        activation_bytes=working,
        input_bytes=input_bytes,
        sent_back=sent_back,
        first_device_op=first,
        host_side=frozenset(order[cut:]),
    )

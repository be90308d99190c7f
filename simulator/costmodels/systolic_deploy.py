"""A systolic array as deployed behind a host: the partition, the link and the host's share.

``systolic.py`` prices what the array does. This module wraps every row of its cost table
with what a deployment adds (``systolic_plan`` decides where each op runs):

- an op placed on the host CPU is priced by the host profile's own class table
  (``PricingContext.host``), its cycles rebased to the array's clock and its energy and bytes
  filed under ``cpu_*`` keys;
- with ``arch.host_link``, every device op that does work receives its share of the
  instruction stream over the link; the first one also pays the call's fixed cost and the
  model's input transfer, and every device op whose output goes to the host (a model output,
  or an input of a host op) pays that transfer. All of it is serial with the op's compute
  and shares the backing level's bandwidth with streamed parameters.

``graph_cost`` reports the plan for profiles that have one: per op, where it ran and whether
its parameters were cached or streamed and why (``layers[].device``, ``layers[].weights``);
for the model, the partition and the parameter cache. Profiles without a link or an op table
(``tpu_v1``, ``eyeriss``, SCALE-Sim configs) are priced op by op exactly as ``systolic.py``
prices them.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import replace

from ..cost import Bound, OpCost
from ..graph import OpGraph
from ..hardware import Profile
from ..ops import Op, OpKind
from . import systolic
from .assemble import PJ
from .base import CostFn, GraphCost, PriceOpsFn, PricingContext
from .cache import ContextFn
from .systolic_arch import SystolicArch
from .systolic_plan import DevicePlan, device_plan


def _arch(profile: Profile) -> SystolicArch:
    arch = profile.arch
    assert isinstance(arch, SystolicArch), f"{profile.name} is not a systolic profile"
    return arch


def _deployed(profile: Profile) -> bool:
    arch = _arch(profile)
    return arch.host_link is not None or arch.op_support is not None


def not_blockwise(profile: Profile) -> str | None:
    """Why a model's latency on ``profile`` is not a sum of per-block prices: a deployment
    partitions the whole model at its first unmapped op and pays the call and the input and
    output transfers once, and a shared SRAM's parameter cache is what the whole model's
    activation working set leaves. None for an array priced op by op."""
    arch = _arch(profile)
    if _deployed(profile):
        return (
            "a deployed accelerator (host link or compiler op table) partitions the whole "
            "model and pays the call and its transfers once"
        )
    if arch.shared_sram:
        return (
            "its parameter cache is what the shared SRAM leaves after the whole model's "
            "activation working set"
        )
    return None


def _rebased(cost: OpCost, profile: Profile, host: str) -> OpCost:
    """A host op's cost in the array's clock, its energy and bytes under ``cpu_*`` keys, plus
    the array's static power while it waits for the host."""
    clock_hz = profile.clock_hz
    k = clock_hz / cost.clock_hz
    energy = {f"cpu_{key}": v for key, v in cost.energy_j.items()}
    energy["static"] = profile.energy.static_power_w * cost.latency_s
    return OpCost(
        cycles=cost.cycles * k,
        compute_cycles=cost.compute_cycles * k,
        clock_hz=clock_hz,
        bound=cost.bound,
        ideal_cycles=cost.ideal_cycles * k,
        memory_cycles=cost.memory_cycles * k,
        overhead_cycles=cost.overhead_cycles * k,
        macs=cost.macs,
        bytes_read={f"cpu_{key}": v for key, v in cost.bytes_read.items()},
        bytes_written={f"cpu_{key}": v for key, v in cost.bytes_written.items()},
        energy_j=energy,
        precision=cost.precision,
        notes=(f"runs on the host CPU ({host})", *cost.notes),
    )


def _on_host(op: Op, ctx: PricingContext) -> OpCost:
    host = ctx.host
    if host is None:
        raise ValueError(
            f"{ctx.profile.name}: '{op.name}' runs on the host CPU, but the pricing context "
            "has no host (price through hwsim.estimate, which builds it from arch.cpu_fallback)"
        )
    if op.kind is OpKind.VIEW or (op.fused_into and host.fuse):
        return OpCost.free(ctx.profile.clock_hz)
    fn = host.table.get(op.kind)
    if fn is None:  # the estimate lists it as unsupported; a None cost cannot come from here
        raise KeyError(f"{host.profile.name} has no price for '{op.kind}' ops")
    return _rebased(fn(op, host), ctx.profile, host.profile.name)


def _link_terms(
    op: Op, ctx: PricingContext, plan: DevicePlan
) -> tuple[float, float, float, list[str]]:
    """(fixed seconds, bytes to the device, bytes back to the host, notes) of ``op``'s calls
    on the link."""
    link = _arch(ctx.profile).host_link
    if link is None or op.kind is OpKind.VIEW:
        return 0.0, 0.0, 0.0, []
    # A fused op runs in its producer's instructions; its output may still go to the host.
    fixed, inbound, outbound = 0.0, 0.0 if op.fused_into else link.instruction_bytes_per_op, 0.0
    notes = []
    if op.id == plan.first_device_op:
        fixed = link.invoke_s
        inbound += plan.input_bytes
        notes.append(
            f"call: {link.invoke_s * 1e6:,.0f} us invoke, {plan.input_bytes / 1e3:,.1f} kB "
            "of model input over the host link"
        )
    back = plan.sent_back.get(op.id, 0.0)
    if back:
        outbound = back
        notes.append(f"{back / 1e3:,.1f} kB of output back to the host over the link")
    return fixed, inbound, outbound, notes


def _with_link(cost: OpCost, op: Op, ctx: PricingContext, plan: DevicePlan) -> OpCost:
    fixed, inbound, outbound, notes = _link_terms(op, ctx, plan)
    if not (fixed or inbound or outbound):
        return cost
    profile = ctx.profile
    backing = profile.memory[-1]
    extra = fixed * profile.clock_hz + (inbound + outbound) / backing.bandwidth_bytes_per_cycle
    reads = dict(cost.bytes_read)
    writes = dict(cost.bytes_written)
    reads[backing.name] = reads.get(backing.name, 0.0) + inbound
    writes[backing.name] = writes.get(backing.name, 0.0) + outbound
    energy = dict(cost.energy_j)
    energy[backing.name] = (
        energy.get(backing.name, 0.0)
        + (inbound * backing.read_energy_pj_per_byte + outbound * backing.write_energy_pj_per_byte)
        * PJ
    )
    energy["static"] = (
        energy.get("static", 0.0) + profile.energy.static_power_w * extra / profile.clock_hz
    )
    overhead = cost.overhead_cycles + extra
    work = max(cost.compute_cycles, cost.memory_cycles)
    return replace(
        cost,
        cycles=cost.cycles + extra,
        overhead_cycles=overhead,
        bound=Bound.LAUNCH if overhead > work else cost.bound,
        bytes_read=reads,
        bytes_written=writes,
        energy_j=energy,
        notes=(*cost.notes, *notes),
    )


def _placed(fn: CostFn) -> CostFn:
    """``fn`` for ops the array runs; the host's price for ops the plan puts on the host."""

    def price(op: Op, ctx: PricingContext) -> OpCost:
        if ctx.graph is None or not _deployed(ctx.profile):
            return fn(op, ctx)
        plan = device_plan(ctx.graph, ctx.profile, ctx.precision, ctx.cache_bytes)
        if plan.on_host(op.id):
            return _on_host(op, ctx)
        return _with_link(fn(op, ctx), op, ctx, plan)

    price.__doc__ = fn.__doc__
    return price


COST_TABLE: dict[OpKind, CostFn] = {kind: _placed(fn) for kind, fn in systolic.COST_TABLE.items()}


def _mib(value: float) -> str:
    return f"{value / (1024 * 1024):.2f} MiB"


def _summary(graph: OpGraph, ctx: PricingContext, plan: DevicePlan) -> list[str]:
    profile = ctx.profile
    backing = profile.memory[-1]
    notes = []
    if plan.host_from is not None:
        host = ctx.host.profile.name if ctx.host is not None else "the host"
        ops = [op for op in graph if op.kind is not OpKind.VIEW and not op.fused_into]
        on_host = sum(1 for op in ops if plan.on_host(op.id))
        notes.append(
            f"partition: {len(ops) - on_host} ops on {profile.name}, {on_host} on the host CPU "
            f"({host}) from '{graph[plan.host_from].name}': {plan.host_reason}"
        )
    else:
        notes.append(f"partition: every op maps to {profile.name}")
    arch = _arch(profile)
    where = (
        f"{profile.memory[0].name} less {_mib(plan.activation_bytes)} of activations"
        + (f" and {_mib(arch.sram_reserved_bytes)} reserved" if arch.sram_reserved_bytes else "")
        if arch.shared_sram
        else "the filter buffer"
    )
    notes.append(
        f"parameter cache: {_mib(plan.cache_bytes)} ({where}); {_mib(plan.cached_bytes)} "
        f"cached, {_mib(plan.streamed_bytes)} streamed from {backing.name} every call at "
        f"{backing.bandwidth_bytes_per_cycle * profile.clock_hz / 1e6:,.0f} MB/s"
    )
    return notes


def cache_context(op: Op, ctx: PricingContext, host_context: ContextFn) -> Hashable | None:
    """What a deployed op's price reads from the rest of the graph, for the per-op cost
    cache: the array's own facts (``systolic.cache_context``), and the plan's facts about
    this op: on the host (then what the host class's own hook, ``host_context``, says, and
    where the host keeps the model's weights), or on the device with its share of the link
    (whether it makes the call, with the model input's bytes, and the bytes it hands
    back)."""
    own = systolic.cache_context(op, ctx)
    if own is None or ctx.graph is None or not _deployed(ctx.profile):
        return own
    plan = device_plan(ctx.graph, ctx.profile, ctx.precision, ctx.cache_bytes)
    if plan.on_host(op.id):
        host = ctx.host
        inner = host_context(op, host) if host is not None else None
        return None if host is None or inner is None else ("host", host.weight_home, inner)
    call = plan.input_bytes if op.id == plan.first_device_op else None
    return (own, call, plan.sent_back.get(op.id, 0.0))


def graph_cost(graph: OpGraph, ctx: PricingContext, ops: PriceOpsFn) -> GraphCost | None:
    """The plan's report for deployed profiles (``None``: price op by op as usual); each
    op's price comes from ``ops`` (``cache_context`` says what it reads of the plan)."""
    if not _deployed(ctx.profile):
        return None
    plan = device_plan(graph, ctx.profile, ctx.precision, ctx.cache_bytes)
    costs = ops(graph, ctx)
    total = OpCost.total((c for c in costs if c is not None), ctx.profile.clock_hz)
    details: dict[str, Mapping[str, str | None]] = {}
    for op in graph:
        place = plan.placements[op.id]
        details[op.id] = {
            "device": place.device or None,
            "device_why": place.why,
            "weights": place.weights or None,
            "weights_why": place.weights_why or None,
        }
    latency = total.latency_s
    return GraphCost(
        costs=tuple(costs),
        total=total,
        throughput_fps=graph.info.batch / latency if latency > 0 else 0.0,
        layer_details=details,
        notes=tuple(_summary(graph, ctx, plan)),
    )

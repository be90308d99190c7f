"""Walk an ``OpGraph``, price each op with a hardware class's table, and total it up.

The walk, the per-op cost functions and the per-class tables live apart (fvcore's split): this
module only dispatches and aggregates. An op nothing can price is listed as unsupported and
left out of the totals, which then say they are incomplete — it is never counted as zero time.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .compression import Rule, compile_layers, load_recipe, parse_prune, parse_quant
from .compression.spec import CompressionError
from .cost import OpCost
from .costmodels.base import GraphCost, MemoryFit, PricingContext, UserOptions, price_ops
from .costmodels.cache import OpCostCache
from .costmodels.explain import sparsity_note
from .costmodels.fpga_arch import load_folding
from .costmodels.registry import hw_class
from .costmodels.roofline import (
    activation_scale,
    device_weight_bytes,
    execution_precision,
)
from .costmodels.roofline import weight_home as place_weights
from .errors import HwsimError, ProfileError
from .frontend.trace import trace
from .graph import OpGraph
from .hardware import Profile
from .memory import SCHEDULES, MemoryPlan, plan_memory
from .ops import MAC_KINDS, Op, OpKind, UnsupportedOp
from .profile import load_profile, preset_names

if TYPE_CHECKING:  # torch takes seconds to import; pricing a cached graph never needs it
    import torch
    from torch import nn

    from .compression.sqnr import Sqnr

    Target = OpGraph | str | Path | nn.Module | torch.export.ExportedProgram


@dataclass(frozen=True)
class Estimate:
    """Per-op costs of one model on one hardware, with totals and table views."""

    graph: OpGraph
    profile: Profile
    costs: tuple[tuple[Op, OpCost | None], ...]  # None: the op could not be priced
    weight_home: str  # memory level the weights live in between inferences
    precision: str | None = None
    # Set when the class model prices the whole graph (a streaming FPGA pipeline): the totals
    # then come from it, since a pipeline's latency is not the sum of its layers' times.
    graph_cost: GraphCost | None = None
    # The accuracy proxy, when asked for: SQNR of this (compressed) graph against the model as
    # traced, end to end and per op (docs/compression.md).
    sqnr: Sqnr | None = None
    # Options the user gave that this profile's class does not take (the CLI prints them).
    warnings: tuple[str, ...] = ()
    # The operator order activation memory is reported for: "traced" or "memory" (the order
    # with the least peak; docs/mcu.md). Ops run one at a time either way, so it moves
    # memory, not latency.
    schedule: str = "traced"

    @cached_property
    def memory(self) -> MemoryPlan:
        """Activation memory of the schedule: each tensor at the precision its op runs at on
        this profile, kernels fused and run in place where the class's runtime does (computed
        on first use: a sweep that reads only latencies never pays for it)."""
        hw = hw_class(self.profile.hw_class)
        return plan_memory(
            self.graph,
            self.schedule,
            byte_scale=self._activation_scale,
            in_place=hw.in_place(self.profile),
            fuses=hw.fuses(self.profile),
        )

    def _activation_scale(self, op: Op) -> float:
        return activation_scale(op, execution_precision(op, self.profile, self.precision))

    @property
    def peak_activation_bytes(self) -> int:
        return self.memory.peak_bytes

    @cached_property
    def memory_fit(self) -> MemoryFit | None:
        """Whether the model fits the device's memories (classes with such a rule; else None)."""
        rule = hw_class(self.profile.hw_class).memory_fit
        return None if rule is None else rule(self.graph, self.profile, self.memory, self.precision)

    @cached_property
    def unsupported(self) -> list[UnsupportedOp]:
        out = []
        for op, cost in self.costs:
            if cost is None:
                reason = (
                    f"no mapping for {op.target}"
                    if op.kind is OpKind.UNSUPPORTED
                    else f"the {self.profile.hw_class} cost model has no price for '{op.kind}' ops"
                )
                out.append(UnsupportedOp(id=op.id, name=op.name, target=op.target, reason=reason))
        return out

    @property
    def complete(self) -> bool:
        return not self.unsupported

    @cached_property
    def total(self) -> OpCost:
        if self.graph_cost is not None:
            return self.graph_cost.total
        priced = (cost for _, cost in self.costs if cost is not None)
        return OpCost.total(priced, self.profile.clock_hz)

    @property
    def latency_s(self) -> float:
        if self.graph_cost is not None or "total" in self.__dict__:
            return self.total.latency_s
        clock_hz = self.profile.clock_hz
        priced = (cost for _, cost in self.costs if cost is not None)
        return OpCost.total_cycles(priced, clock_hz) / clock_hz

    @property
    def throughput_fps(self) -> float | None:
        """Frames per second: the pipeline rate for a graph-level model, else batch / latency."""
        if self.graph_cost is not None:
            return self.graph_cost.throughput_fps
        return self.graph.info.batch / self.latency_s if self.total.cycles else None

    @property
    def energy_j(self) -> float:
        return self.total.total_energy_j

    @property
    def macs(self) -> int:
        return self.graph.macs

    @property
    def model_weight_bytes(self) -> float:
        """Weight bytes as stored on this hardware (after any precision conversion)."""
        return sum(device_weight_bytes(op, self.profile, self.precision) for op in self.graph)

    @cached_property
    def table(self) -> pd.DataFrame:
        """One row per op: what it is, what it costs, and why."""
        levels = [lvl.name for lvl in self.profile.memory]
        details = self.graph_cost.layer_details if self.graph_cost is not None else {}
        rows = []
        for op, cost in self.costs:
            stats = op.weight_stats
            applied = self.graph.dag.nodes[op.id].get("compression")
            row: dict[str, Any] = {
                "id": op.id,
                "name": op.name,
                "op": str(op.kind),
                "target": op.target,
                "output_shape": op.outputs[0].shape if op.outputs else (),
                "macs": op.macs,
                "flops": op.flops,
                "params": op.param_count,
                "weight_bytes": op.weight_bytes,
                "weight_density": stats.density if stats else None,
                "fused_into": op.fused_into,
                "folded": ",".join(op.folded),
                "compression": applied.label if applied else "",
                "sqnr_db": self.sqnr.layers_db.get(op.id) if self.sqnr else None,
            }
            if cost is None:
                row.update(bound="unsupported", cycles=None, latency_s=None, energy_j=None)
            else:
                row.update(
                    cycles=cost.cycles,
                    compute_cycles=cost.compute_cycles,
                    stall_cycles=cost.stall_cycles,
                    memory_cycles=cost.memory_cycles,
                    overhead_cycles=cost.overhead_cycles,
                    latency_s=cost.latency_s,
                    energy_j=cost.total_energy_j,
                    bound=str(cost.bound),
                    utilization=cost.utilization,
                    precision=cost.precision,
                    notes="; ".join(op_notes(op, cost, self.profile, applied)),
                )
                for lvl in levels:
                    row[f"bytes_{lvl}"] = cost.bytes_at(lvl)
                for component, joules in cost.energy_j.items():
                    row[f"energy_{component}_j"] = joules
            row.update(details.get(op.id, {}))
            rows.append(row)
        return pd.DataFrame(rows)

    def by(self, column: str) -> pd.DataFrame:
        """Totals grouped by a table column: ``by("op")``, ``by("bound")``, ``by("name")``."""
        numeric = ["macs", "cycles", "latency_s", "energy_j"]
        return (
            self.table.groupby(column, dropna=False)[numeric]
            .sum()
            .sort_values("latency_s", ascending=False)
        )

    def by_module(self, depth: int = 1) -> pd.DataFrame:
        """Totals per module prefix of ``depth`` path components (e.g. per stage)."""
        table = self.table.assign(
            module=self.table["name"].str.split("/").str[0].str.split(".").str[:depth].str.join(".")
        )
        return table.groupby("module")[["macs", "cycles", "latency_s", "energy_j"]].sum()

    def layers(self) -> list[dict[str, Any]]:
        """The JSON contract's ``layers[]``: every op that does work (views are omitted)."""
        out = []
        for op, cost in self.costs:
            if op.kind is OpKind.VIEW:
                continue
            applied = self.graph.dag.nodes[op.id].get("compression")
            layer: dict[str, Any] = {
                "id": op.id,
                "name": op.name,
                "op": str(op.kind),
                "target": op.target,
                "output_shape": list(op.outputs[0].shape) if op.outputs else [],
                "macs": op.macs,
                "flops": op.flops,
                "weight_bytes": op.weight_bytes,
                "fused_into": op.fused_into,
                "compression": applied.label if applied else None,
                "sqnr_db": _finite(self.sqnr.layers_db.get(op.id)) if self.sqnr else None,
            }
            if op.weight_stats is not None or (op.kind in MAC_KINDS and op.params):
                layer["weight_density"] = op.weight_stats.density if op.weight_stats else None
            if cost is None:
                layer.update(
                    cycles=None,
                    compute_cycles=None,
                    stall_cycles=None,
                    latency_s=None,
                    energy_j=None,
                    bound="unsupported",
                    utilization=None,
                )
            else:
                layer.update(
                    cycles=cost.cycles,
                    compute_cycles=cost.compute_cycles,
                    stall_cycles=cost.stall_cycles,
                    memory_cycles=cost.memory_cycles,
                    overhead_cycles=cost.overhead_cycles,
                    latency_s=cost.latency_s,
                    energy_j=cost.total_energy_j,
                    energy_breakdown_j=dict(cost.energy_j),
                    bytes_read=dict(cost.bytes_read),
                    bytes_written=dict(cost.bytes_written),
                    bound=str(cost.bound),
                    utilization=cost.utilization,
                    precision=cost.precision,
                    notes=op_notes(op, cost, self.profile, applied),
                )
            if self.graph_cost is not None and op.id in self.graph_cost.layer_details:
                layer.update(self.graph_cost.layer_details[op.id])
            out.append(layer)
        return out

    def to_dict(self) -> dict[str, Any]:
        """The public JSON schema (docs/json_schema.md): change it only by adding fields."""
        total = self.total
        graph_cost = self.graph_cost
        fit = self.memory_fit
        return {
            "model": self.graph.info.source,
            "hw": self.profile.name,
            "hw_class": self.profile.hw_class,
            "batch": self.graph.info.batch,
            "inputs": [list(t.shape) for t in self.graph.info.inputs],
            "total": {
                "latency_s": total.latency_s,
                "throughput_per_s": self.throughput_fps,
                "throughput_fps": self.throughput_fps,
                "cycles": total.cycles,
                "compute_cycles": total.compute_cycles,
                "stall_cycles": total.stall_cycles,
                "energy_j": total.total_energy_j,
                "energy_breakdown_j": dict(total.energy_j),
                "macs": self.graph.macs,
                "flops": self.graph.flops,
                "params": self.graph.param_count,
                "weight_bytes": self.graph.weight_bytes,
                "device_weight_bytes": self.model_weight_bytes,
                "weight_home": self.weight_home,
                "peak_activation_bytes": self.peak_activation_bytes,
                "schedule": self.schedule,
                "order": list(self.memory.order),
                "utilization": total.utilization,
                "bytes_read": dict(total.bytes_read),
                "bytes_written": dict(total.bytes_written),
                "complete": self.complete,
                "fits": graph_cost.fits if graph_cost else fit.fits if fit else None,
                "binding_memory": [
                    {
                        "memory": use.memory,
                        "needed_bytes": use.used_bytes,
                        "available_bytes": use.available_bytes,
                    }
                    for use in fit.binding
                ]
                if fit
                else None,
                "memory_use": {
                    use.memory: {
                        "used_bytes": use.used_bytes,
                        "available_bytes": use.available_bytes,
                        "parts": dict(use.parts),
                    }
                    for use in fit.uses
                }
                if fit
                else None,
                "binding_resource": graph_cost.binding_resource if graph_cost else None,
                "resources": {k: dict(v) for k, v in graph_cost.resources.items()}
                if graph_cost and graph_cost.resources
                else None,
                "notes": list(graph_cost.notes) if graph_cost else [],
                "sqnr_db": _finite(self.sqnr.output_db) if self.sqnr else None,
            },
            "layers": self.layers(),
            "unsupported": [
                {"id": u.id, "name": u.name, "target": u.target, "reason": u.reason}
                for u in self.unsupported
            ],
        }


def _finite(value: float | None) -> float | None:
    """JSON has no infinity: an unchanged output (infinite SQNR) is written as null."""
    return value if value is None or math.isfinite(value) else None


def op_notes(op: Op, cost: OpCost, profile: Profile, applied: Any) -> list[str]:
    """The cost model's notes, plus what compression did and why zeros did not pay off."""
    notes = list(cost.notes)
    if applied is not None and applied.note:
        notes.append(applied.note)
    why = sparsity_note(op, cost, profile)
    return [*notes, why] if why else notes


def price(
    graph: OpGraph,
    profile: Profile,
    *,
    precision: str | None = None,
    fuse: bool = True,
    user: UserOptions | None = None,
    schedule: str = "traced",
    cache: OpCostCache | None = None,
    weight_home: str | None = None,
    cache_bytes: float | None = None,
) -> Estimate:
    """Price every op of a traced graph on one profile: the one pricing path that
    ``estimate``, ``estimate_many``, the CLI, compare, sweeps and fits all go through.
    ``schedule`` is the operator order activation memory is reported for. ``cache`` reuses
    the costs of ops priced before in the same context (a NAS loop's repeated cells;
    ``costmodels/cache.py``). ``weight_home`` (a memory level's name) and ``cache_bytes``
    price the graph as one block of a larger model, whose weights decide where they live
    (default: this graph's own) and how much of a layer-by-layer weight cache is left for
    this block (``PricingContext.cache_bytes``; nas.LatencyTable)."""
    check_schedule(schedule)
    if precision is not None and precision not in profile.precisions:
        raise ProfileError(
            f"{profile.name}: precision '{precision}' is not supported "
            f"(supported: {', '.join(sorted(profile.precisions))})"
        )
    user = user or UserOptions()
    hw = hw_class(profile.hw_class)
    ignored = sorted(user.given() - hw.accepts(profile))
    # Lookup tables are read a few rows at a time, so they do not compete for on-chip space.
    resident = sum(
        device_weight_bytes(op, profile, precision)
        for op in graph.ops
        if op.kind is not OpKind.EMBEDDING
    )
    home = profile.level(weight_home) if weight_home else place_weights(profile, resident)
    ctx = PricingContext(
        profile=profile,
        weight_home=home,
        precision=precision,
        fuse=fuse and profile.fuse_pointwise,
        graph=graph,
        options=hw.options(profile, user),
        table=hw.table,
        host=host_context(profile, graph, precision, fuse),
        cache_bytes=cache_bytes,
    )
    if hw.check is not None:
        hw.check(graph, ctx)
    ops = cache.pricer(hw.cache_context) if cache is not None else price_ops
    graph_cost = hw.graph_cost(graph, ctx, ops) if hw.graph_cost is not None else None
    costs = graph_cost.costs if graph_cost is not None else tuple(ops(graph, ctx))
    _check_finite(graph, costs, profile)
    return Estimate(
        graph=graph,
        profile=profile,
        costs=tuple(zip(graph.ops, costs, strict=True)),
        weight_home=home.name,
        precision=precision,
        graph_cost=graph_cost,
        schedule=schedule,
        warnings=tuple(
            f"--{name.replace('_', '-')} does not apply to {profile.name} "
            f"({profile.hw_class}): ignored"
            for name in ignored
        ),
    )


def check_schedule(schedule: str) -> None:
    if schedule not in SCHEDULES:
        raise HwsimError(f"--schedule '{schedule}': expected one of {', '.join(SCHEDULES)}")


def _is_preset(name: str) -> bool:
    """A packaged preset's name (not a file): what ``load_profile`` reads from the package."""
    return name in preset_names() and not Path(name).exists()


@functools.lru_cache(maxsize=16)
def _host_preset(name: str) -> Profile:
    """A host CPU preset, loaded once: a deployed accelerator's estimate reads its host's
    profile every time (a NAS loop prices thousands), and packaged presets do not change."""
    return load_profile(name)


def host_context(
    profile: Profile, graph: OpGraph, precision: str | None, fuse: bool
) -> PricingContext | None:
    """The pricing context of the host CPU a profile names for the ops it cannot run (an
    Edge TPU's ``arch.cpu_fallback``), with that profile's class table and default options;
    the ops run at the accelerator's precision where the host has it (a quantized model's
    CPU kernels), else at the host's default."""
    name = profile.arch.host_profile()
    if name is None:
        return None
    host = _host_preset(name) if _is_preset(name) else load_profile(name)
    hw = hw_class(host.hw_class)
    forced = precision or profile.default_precision
    resident = sum(device_weight_bytes(op, host, None) for op in graph.ops)
    return PricingContext(
        profile=host,
        weight_home=place_weights(host, resident),
        precision=forced if forced in host.precisions else None,
        fuse=fuse and host.fuse_pointwise,
        graph=graph,
        options=hw.options(host, UserOptions()),
        table=hw.table,
    )


def _check_finite(graph: OpGraph, costs: Sequence[OpCost | None], profile: Profile) -> None:
    """No estimate carries NaN or infinity. Profiles are bounded so that none can arise
    (``hardware.MAX_MAGNITUDE``); one that does anyway is a bug, reported as such rather than
    printed as a number."""
    for op, cost in zip(graph.ops, costs, strict=True):
        if cost is not None and not (
            math.isfinite(cost.cycles) and math.isfinite(cost.total_energy_j)
        ):
            raise FloatingPointError(
                f"{profile.name}: op '{op.name}' priced to {cost.cycles} cycles and "
                f"{cost.total_energy_j} J"
            )


def estimate(
    target: Target,
    hw: str | Path | Profile,
    *,
    precision: str | None = None,
    batch: int | None = None,
    input_shapes: str | Sequence[str] | None = None,
    example_inputs: tuple[torch.Tensor, ...] | None = None,
    trust_pickle: bool = False,
    arch: str | None = None,
    prune: str | None = None,
    quant: str | None = None,
    layers: str | None = None,
    recipe: str | Path | None = None,
    folding: str | Path | Mapping[str, Any] | None = None,
    target_fps: float | None = None,
    threads: int | None = None,
    params: Mapping[str, Any] | None = None,
    schedule: str = "traced",
) -> Estimate:
    """Estimate ``target`` (a traced graph, model, file or workload name) on ``hw``.

    ``prune`` ("0.8", "2:4", "block4x4:0.75", "channel:0.5") and ``quant`` ("int8", "w4a8",
    "fp16"...) compress a copy of the graph first, restricted to op names matching the regex
    ``layers``; ``recipe`` is a YAML file of per-layer rules instead (docs/compression.md).
    ``folding`` (a FINN-style folding JSON) and ``target_fps`` apply to streaming FPGA
    profiles (docs/fpga.md), ``threads`` to CPU profiles (default: the profile's); an option
    the profile's class does not take is an error. ``params`` sets profile parameters first
    (``Profile.with_params``: ``{"arch.rows": 32}``). ``schedule`` ("traced" or "memory")
    is the operator order activation memory is reported for (docs/mcu.md).
    """
    return estimate_many(
        target,
        [hw],
        precision=precision,
        batch=batch,
        input_shapes=input_shapes,
        example_inputs=example_inputs,
        trust_pickle=trust_pickle,
        arch=arch,
        prune=prune,
        quant=quant,
        layers=layers,
        recipe=recipe,
        folding=folding,
        target_fps=target_fps,
        threads=threads,
        params=params,
        schedule=schedule,
    )[0]


def estimate_many(
    target: Target,
    hws: Sequence[str | Path | Profile],
    *,
    precision: str | None = None,
    batch: int | None = None,
    input_shapes: str | Sequence[str] | None = None,
    example_inputs: tuple[torch.Tensor, ...] | None = None,
    trust_pickle: bool = False,
    arch: str | None = None,
    prune: str | None = None,
    quant: str | None = None,
    layers: str | None = None,
    recipe: str | Path | None = None,
    folding: str | Path | Mapping[str, Any] | None = None,
    target_fps: float | None = None,
    threads: int | None = None,
    params: Mapping[str, Any] | None = None,
    schedule: str = "traced",
) -> list[Estimate]:
    """``estimate`` on several profiles: the model is traced once and compressed once, the
    options validated once, and each profile prices the same graph (what sweeps and fits do
    with thousands of profile variants; ``benchmarks/estimate_many.py``)."""
    check_schedule(schedule)
    profiles = [load_profile(hw) for hw in hws]
    if not profiles:
        raise ProfileError("no hardware profile given")
    if params:
        profiles = [p.with_params(params) for p in profiles]
    user = user_options(threads=threads, folding=folding, target_fps=target_fps)
    check_options_apply(user, profiles)
    graph = (
        target
        if isinstance(target, OpGraph)
        else trace(
            target,
            batch=batch,
            input_shapes=input_shapes,
            example_inputs=example_inputs,
            trust_pickle=trust_pickle,
            arch=arch,
        )
    )
    rules = compression_rules(prune=prune, quant=quant, layers=layers, recipe=recipe)
    check_precision_agrees(precision, rules, f"--recipe {recipe}" if recipe else f"--quant {quant}")
    if rules:
        from .compression import compress  # imports torch: only for a what-if

        graph = compress(graph, rules)
    return [price(graph, p, precision=precision, user=user, schedule=schedule) for p in profiles]


def user_options(
    *,
    threads: int | None = None,
    folding: str | Path | Mapping[str, Any] | None = None,
    target_fps: float | None = None,
) -> UserOptions:
    """The per-estimate options, validated: a readable folding file, positive numbers."""
    return UserOptions(
        threads=threads,
        folding=None if folding is None else load_folding(folding),
        target_fps=target_fps,
    )


def check_options_apply(user: UserOptions, profiles: Sequence[Profile]) -> None:
    """An option that no given profile takes is an error (one that only some take is a
    warning on the others' estimates)."""
    for name in sorted(user.given()):
        if not any(name in hw_class(p.hw_class).accepts(p) for p in profiles):
            where = {"threads": "CPU profiles", "folding": "streaming FPGA profiles"}
            raise ProfileError(
                f"--{name.replace('_', '-')} applies to "
                f"{where.get(name, 'streaming FPGA profiles')} only; "
                f"not to {', '.join(f'{p.name} ({p.hw_class})' for p in profiles)}"
            )


def check_precision_agrees(precision: str | None, rules: Sequence[Rule], what: str) -> None:
    """``--precision`` runs every op at one precision; a quantization runs the ops it
    quantizes at its own. Both at once is an error unless they agree (``--precision fp16
    --quant int8`` would price int8 weights as fp16 while the compression column says int8).
    ``what`` names the rules' source in the message (``--quant int8``, ``variant 'int8'``)."""
    if precision is None:
        return
    for rule in rules:
        if rule.quant is not None and rule.quant.precision != precision:
            raise CompressionError(
                f"--precision {precision} conflicts with {what}: quantized ops run at "
                f"{rule.quant.precision}; drop --precision, or quantize to {precision}"
            )


def compression_rules(
    *,
    prune: str | None = None,
    quant: str | None = None,
    layers: str | None = None,
    recipe: str | Path | None = None,
) -> tuple[Rule, ...]:
    """The rules that ``--prune``/``--quant``/``--layers`` or ``--recipe`` ask for."""
    if recipe is not None:
        if prune is not None or quant is not None or layers is not None:
            raise CompressionError("--recipe replaces --prune, --quant and --layers; give one")
        return load_recipe(recipe)
    if prune is None and quant is None:
        if layers is not None:
            raise CompressionError("--layers restricts --prune/--quant; give one of them")
        return ()
    return (
        Rule(
            layers=compile_layers(layers or ".*", "--layers"),
            prune=parse_prune(prune) if prune is not None else None,
            quant=parse_quant(quant) if quant is not None else None,
        ),
    )

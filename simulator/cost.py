"""``OpCost``: what one op costs on one hardware, as a value that adds up.

Costs are summed over ops to get a model's total, so every field is additive and the derived
figures (stalls, utilization, latency) are properties computed from the sums rather than stored
numbers that could drift out of step with them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum


class Bound(str, Enum):
    """What limits an op's time on the hardware."""

    COMPUTE = "compute"
    MEMORY = "memory"
    LAUNCH = "launch"  # fixed per-op overhead: kernel launch, dispatch, layer setup
    PIPELINE = "pipeline"  # fill/drain of a pipeline or array dominates
    FREE = "free"  # no work: views, ops folded or fused away

    def __str__(self) -> str:
        return self.value


def _add_maps(a: Mapping[str, float], b: Mapping[str, float]) -> dict[str, float]:
    out = dict(a)
    for key, value in b.items():
        out[key] = out.get(key, 0.0) + value
    return out


@dataclass(frozen=True)
class OpCost:
    """Cycles, bytes and energy of one op (or, once added, of many).

    ``cycles`` is the time the op occupies the hardware in the profile's clock. It is at least
    ``compute_cycles``; the rest is stall (waiting on memory), launch overhead or pipeline
    fill/drain, which is why ``stall_cycles`` is derived rather than stored.
    ``ideal_cycles`` is the op's arithmetic at the hardware's peak rate for its precision, the
    yardstick for ``utilization``.
    """

    cycles: float
    compute_cycles: float
    clock_hz: float
    bound: Bound
    ideal_cycles: float = 0.0
    memory_cycles: float = 0.0
    overhead_cycles: float = 0.0
    macs: int = 0
    bytes_read: Mapping[str, float] = field(default_factory=dict)  # per memory level
    bytes_written: Mapping[str, float] = field(default_factory=dict)
    energy_j: Mapping[str, float] = field(default_factory=dict)  # per component
    precision: str = ""
    notes: tuple[str, ...] = ()

    @property
    def stall_cycles(self) -> float:
        return max(self.cycles - self.compute_cycles, 0.0)

    @property
    def latency_s(self) -> float:
        return self.cycles / self.clock_hz

    @property
    def utilization(self) -> float:
        return self.ideal_cycles / self.cycles if self.cycles > 0 else 0.0

    @property
    def total_energy_j(self) -> float:
        return float(sum(self.energy_j.values()))

    def bytes_at(self, level: str) -> float:
        return self.bytes_read.get(level, 0.0) + self.bytes_written.get(level, 0.0)

    def __add__(self, other: OpCost) -> OpCost:
        if other.clock_hz != self.clock_hz:
            raise ValueError("cannot add costs measured against different clocks")
        dominant = self if self.cycles >= other.cycles else other
        return OpCost(
            cycles=self.cycles + other.cycles,
            compute_cycles=self.compute_cycles + other.compute_cycles,
            clock_hz=self.clock_hz,
            bound=dominant.bound,
            ideal_cycles=self.ideal_cycles + other.ideal_cycles,
            memory_cycles=self.memory_cycles + other.memory_cycles,
            overhead_cycles=self.overhead_cycles + other.overhead_cycles,
            macs=self.macs + other.macs,
            bytes_read=_add_maps(self.bytes_read, other.bytes_read),
            bytes_written=_add_maps(self.bytes_written, other.bytes_written),
            energy_j=_add_maps(self.energy_j, other.energy_j),
            precision=self.precision if self.precision == other.precision else "mixed",
            notes=(),
        )

    @staticmethod
    def total_cycles(costs: Iterable[OpCost], clock_hz: float) -> float:
        """``total(costs, clock_hz).cycles`` alone, summed in the same order (the same float):
        a NAS loop asks an estimate for its latency only, and the full total sums every
        energy and byte."""
        cycles = 0.0
        for cost in costs:
            if cost.clock_hz != clock_hz:
                raise ValueError("cannot add costs measured against different clocks")
            cycles += cost.cycles
        return cycles

    @staticmethod
    def total(costs: Iterable[OpCost], clock_hz: float) -> OpCost:
        """The sum of ``costs`` in one pass (what repeated ``+`` gives, without building an
        intermediate cost per op): the bound of the longest, the common precision or
        "mixed", no notes."""
        cycles = compute = ideal = memory = overhead = 0.0
        macs = 0
        reads: dict[str, float] = {}
        writes: dict[str, float] = {}
        energy: dict[str, float] = {}
        bound, longest = Bound.FREE, 0.0
        precisions: set[str] = set()
        for cost in costs:
            if cost.clock_hz != clock_hz:
                raise ValueError("cannot add costs measured against different clocks")
            cycles += cost.cycles
            compute += cost.compute_cycles
            ideal += cost.ideal_cycles
            memory += cost.memory_cycles
            overhead += cost.overhead_cycles
            macs += cost.macs
            for target, part in ((reads, cost.bytes_read), (writes, cost.bytes_written)):
                for key, value in part.items():
                    target[key] = target.get(key, 0.0) + value
            for key, value in cost.energy_j.items():
                energy[key] = energy.get(key, 0.0) + value
            if cost.cycles > longest:
                bound, longest = cost.bound, cost.cycles
            if cost.precision:
                precisions.add(cost.precision)
        return OpCost(
            cycles=cycles,
            compute_cycles=compute,
            clock_hz=clock_hz,
            bound=bound,
            ideal_cycles=ideal,
            memory_cycles=memory,
            overhead_cycles=overhead,
            macs=macs,
            bytes_read=reads,
            bytes_written=writes,
            energy_j=energy,
            precision=precisions.pop() if len(precisions) == 1 else ("mixed" if precisions else ""),
        )

    @staticmethod
    def free(clock_hz: float) -> OpCost:
        """The cost of an op that does no work (a view, or one folded into its neighbour)."""
        return OpCost(cycles=0.0, compute_cycles=0.0, clock_hz=clock_hz, bound=Bound.FREE)

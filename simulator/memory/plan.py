"""A schedule of a graph and its activation memory: the value estimates and reports read.

``plan_memory(graph, schedule)`` is the one entry point: ``"traced"`` keeps the program order
torch.export recorded (each fused kernel as early as its inputs allow), ``"memory"`` searches
for the order with the least peak (``reorder.py``). Either way the result says which order ran
(op ids, fused ops after their kernel's head), how it was found, the bytes alive at every
step and at the peak, and the arena a greedy static planner would need for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from ..errors import HwsimError
from ..graph import OpGraph
from .arena import ArenaPlan, greedy_arena
from .lifetimes import Lifetimes, TensorLife, lifetimes
from .problem import (
    ByteScale,
    Fuses,
    InPlace,
    MemoryProblem,
    always_fused,
    from_graph,
    never_in_place,
    same_bytes,
)
from .reorder import DEFAULT_BEAM_WIDTH, Reordering, min_peak_order

SCHEDULES = ("traced", "memory")


@dataclass(frozen=True)
class MemoryPlan:
    """One schedule of a graph, with its activation memory.

    ``schedule`` is the name asked for; ``method`` how the order was found: ``"traced"``,
    ``"exact"`` (the least-peak order, proven by the search) or ``"beam"`` (the search had to
    prune; the better of its order and the traced one).
    """

    problem: MemoryProblem
    schedule: str
    method: str
    lifetimes: Lifetimes
    op_names: dict[str, str]  # op id -> display name, for reports
    search: Reordering | None = None  # how the search went (``"memory"`` only)

    @property
    def peak_bytes(self) -> int:
        return self.lifetimes.peak_bytes

    @property
    def step_order(self) -> tuple[int, ...]:
        return self.lifetimes.order

    @cached_property
    def op_order(self) -> tuple[str, ...]:
        """Op ids in execution order: each kernel's head, then the ops fused into it."""
        return tuple(op for step in self.step_order for op in self.problem.steps[step].ops)

    @property
    def order(self) -> tuple[str, ...]:
        """Op display names in execution order (what ``total.order`` reports)."""
        return tuple(self.op_names[op] for op in self.op_order)

    @property
    def peak_step(self) -> int:
        return self.lifetimes.peak_step

    @property
    def peak_kernel(self) -> str:
        """The kernel that runs when memory peaks."""
        if not self.step_order:
            return ""
        return self.problem.steps[self.step_order[self.peak_step]].name

    @property
    def alive_at_peak(self) -> tuple[TensorLife, ...]:
        return self.lifetimes.alive_at_peak

    @cached_property
    def arena(self) -> ArenaPlan:
        """Offsets a largest-first greedy planner (TFLite Micro's) gives this schedule."""
        return self.arena_with()

    def arena_bytes(self, alignment: int = 1) -> int:
        return self.arena_with(alignment=alignment).arena_bytes

    def arena_with(self, extra: Sequence[TensorLife] = (), alignment: int = 1) -> ArenaPlan:
        """The greedy placement of the schedule's tensors plus ``extra`` ones (a runtime's
        per-kernel scratch buffers, alive during their kernel's step), each rounded up to
        ``alignment``. A kernel that ran in place writes its output into its input's slot, so
        the two are placed as one block (the larger size, from the input's first step to the
        output's last) and share an offset. Offsets are given for the schedule's tensors,
        then ``extra``."""
        tensors = (*self.lifetimes.tensors, *extra)
        slot = list(range(len(tensors)))

        def root(i: int) -> int:
            while slot[i] != i:
                i = slot[i]
            return i

        for out, over in self.lifetimes.overwrites:
            slot[root(out)] = root(over)
        members: dict[int, list[int]] = {}
        for i in range(len(tensors)):
            members.setdefault(root(i), []).append(i)
        blocks = [
            TensorLife(
                name=tensors[r].name,
                nbytes=max(tensors[i].nbytes for i in group),
                start=min(tensors[i].start for i in group),
                end=max(tensors[i].end for i in group),
            )
            for r, group in members.items()
        ]
        placed = greedy_arena(blocks, alignment)
        offset = {r: placed.offsets[b] for b, r in enumerate(members)}
        sized = greedy_arena(tensors, alignment).sizes  # each tensor's own aligned size
        return ArenaPlan(
            offsets=tuple(offset[root(i)] for i in range(len(tensors))),
            sizes=sized,
            arena_bytes=placed.arena_bytes,
        )


def plan_memory(
    graph: OpGraph,
    schedule: str = "traced",
    *,
    byte_scale: ByteScale = same_bytes,
    in_place: InPlace = never_in_place,
    fuses: Fuses = always_fused,
    beam_width: int = DEFAULT_BEAM_WIDTH,
) -> MemoryPlan:
    """The activation memory of ``graph`` under ``schedule`` (``"traced"`` or ``"memory"``).

    ``byte_scale(op)``: device bytes per model byte of the tensors ``op`` writes (the
    precision it runs at). ``in_place(op)``: whether the runtime writes the kernel headed by
    ``op`` over an input it reads for the last time. ``fuses(op)``: whether a pointwise op
    the frontend fused runs inside its producer's kernel on the target.
    """
    if schedule not in SCHEDULES:
        raise HwsimError(f"unknown schedule {schedule!r}; known: {', '.join(SCHEDULES)}")
    problem = from_graph(graph, byte_scale, in_place, fuses)
    search = min_peak_order(problem, beam_width) if schedule == "memory" else None
    order = search.order if search else problem.traced_order
    names = {op.id: op.name for op in graph}
    return MemoryPlan(
        problem=problem,
        schedule=schedule,
        method=search.method if search else "traced",
        lifetimes=lifetimes(problem, order),
        op_names=names,
        search=search,
    )

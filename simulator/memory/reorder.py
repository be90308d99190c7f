"""The operator order with the least peak activation memory.

Liberis & Lane ("Neural networks on microcontrollers: saving memory at inference via operator
reordering", 2019) observe that what memory holds after some kernels have run depends only on
*which* kernels have run, not on their order: a buffer is resident when its producer has run
and a reader has not (or the model returns it). So the best peak reachable from a set of
executed kernels is a function of that set, and a dynamic program over the sets that are
prefixes of some topological order (the downward-closed sets of the DAG) finds the optimum.

Here the program runs forward, one level per number of executed kernels: each state is a set
(a bit mask), its cost the least peak of any order reaching it, and running an available
kernel ``v`` from set ``S`` costs ``resident(S) + out(v)`` (less ``out(v)`` when ``v`` runs in
place over an input it reads last). States of a level only lead to the next level, so
expanding levels in turn and keeping each state's cheapest arrival is exact.

Graphs that are mostly chains (MobileNets, ResNets, transformers) have few such sets per level;
wide graphs can have exponentially many. Past ``beam_width`` states in a level the search keeps
the ``beam_width`` cheapest ones (by peak so far, then bytes resident) and says so: the result
is then a heuristic, and is replaced by the traced order if that is no worse.
"""

from __future__ import annotations

from dataclasses import dataclass

from .lifetimes import lifetimes
from .problem import MemoryProblem

DEFAULT_BEAM_WIDTH = 1024


@dataclass(frozen=True)
class Reordering:
    """An order of the problem's steps and how it was found.

    ``method`` is ``"exact"`` when every state was explored, ``"beam"`` when some level was
    pruned to ``beam_width`` states (the order is then the better of the search's and the
    traced one, not a proven optimum).
    """

    order: tuple[int, ...]
    peak_bytes: int
    method: str
    states: int  # executed-sets the search expanded
    widest_level: int  # most executed-sets of one size (before pruning)
    beam_width: int


@dataclass(frozen=True)
class _Kernel:
    """What the search needs of a step, as bit masks over steps."""

    bit: int
    after: int  # steps that must run first
    out: int  # bytes it writes
    out_resident: bool  # its output stays after it runs (read later, or returned)
    reads: tuple[tuple[int, int, bool], ...]  # (readers mask, bytes, is model output)
    in_place: bool


def min_peak_order(problem: MemoryProblem, beam_width: int = DEFAULT_BEAM_WIDTH) -> Reordering:
    """The order of ``problem``'s steps with the least peak (see the module docstring)."""
    n = len(problem.steps)
    if n == 0:
        return Reordering((), lifetimes(problem, ()).peak_bytes, "exact", 0, 0, beam_width)
    kernels = _kernels(problem)
    successors: list[list[int]] = [[] for _ in range(n)]
    for v, kernel in enumerate(kernels):
        for a in range(n):
            if kernel.after >> a & 1:
                successors[a].append(v)
    inputs = sum(
        b.nbytes for b in problem.buffers if b.producer is None and (b.readers or b.is_output)
    )
    full = (1 << n) - 1
    ready = tuple(v for v, kernel in enumerate(kernels) if not kernel.after)
    # executed mask -> (peak so far, resident bytes, kernels ready to run); parent pointers
    level: dict[int, tuple[int, int, tuple[int, ...]]] = {0: (0, inputs, ready)}
    parent: dict[int, tuple[int, int]] = {}
    pruned = False
    states = widest = 0
    for _ in range(n):
        following: dict[int, tuple[int, int, tuple[int, ...]]] = {}
        for done, (peak, resident, available) in level.items():
            states += 1
            for v in available:
                kernel = kernels[v]
                after = done | kernel.bit
                step_peak, now = _run(kernel, after, resident)
                cost = max(peak, step_peak)
                best = following.get(after)
                if best is None or cost < best[0]:
                    unlocked = [s for s in successors[v] if not kernels[s].after & ~after]
                    following[after] = (cost, now, (*(a for a in available if a != v), *unlocked))
                    parent[after] = (done, v)
        widest = max(widest, len(following))
        if len(following) > beam_width:
            pruned = True
            kept = sorted(following.items(), key=lambda item: item[1][:2])[:beam_width]
            following = dict(kept)
        level = following
    order = _trace_back(parent, full, n)
    peak = level[full][0]
    if pruned:
        traced = lifetimes(problem, problem.traced_order).peak_bytes
        if traced <= peak:
            order, peak = problem.traced_order, traced
    method = "beam" if pruned else "exact"
    return Reordering(order, peak, method, states, widest, beam_width)


def _run(kernel: _Kernel, after: int, resident: int) -> tuple[int, int]:
    """Bytes while ``kernel`` runs (on top of ``resident``), and resident bytes after it."""
    freed = 0
    in_place = False
    for readers, nbytes, is_output in kernel.reads:
        if not is_output and not readers & ~after:
            freed += nbytes
            in_place = in_place or (kernel.in_place and nbytes >= kernel.out)
    during = resident + (0 if in_place else kernel.out)
    return during, resident + (kernel.out if kernel.out_resident else 0) - freed


def _kernels(problem: MemoryProblem) -> list[_Kernel]:
    kernels = []
    for v, step in enumerate(problem.steps):
        out = problem.output_bytes(v)
        out_buffer = problem.buffers[step.output] if step.output is not None else None
        reads = []
        for index in sorted(step.reads):
            buffer = problem.buffers[index]
            readers = sum(1 << r for r in buffer.readers)
            reads.append((readers, buffer.nbytes, buffer.is_output))
        kernels.append(
            _Kernel(
                bit=1 << v,
                after=sum(1 << a for a in step.after),
                out=out,
                out_resident=out_buffer is not None
                and (bool(out_buffer.readers) or out_buffer.is_output),
                reads=tuple(reads),
                in_place=step.in_place and out > 0,
            )
        )
    return kernels


def _trace_back(parent: dict[int, tuple[int, int]], full: int, n: int) -> tuple[int, ...]:
    order = []
    state = full
    while state:
        state, step = parent[state]
        order.append(step)
    assert len(order) == n
    return tuple(reversed(order))

"""Which tensors are alive at each step of a schedule, and the peak.

Peak activation memory is defined here, once: while a kernel runs, memory holds its inputs,
its output, and every tensor written earlier that a later kernel (or the caller, for model
outputs) still reads. The model's inputs count from the start until their last reader.
A kernel the runtime runs in place writes its output over an input it reads for the last time
(one at least as large), so that output takes no new bytes while the kernel runs.

This evaluates any order directly from the buffers' intervals; the reordering search in
``reorder.py`` computes the same figure incrementally, and the tests hold the two equal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from ..errors import HwsimError
from .problem import MemoryProblem


@dataclass(frozen=True)
class TensorLife:
    """One buffer over a schedule: alive from step ``start`` to step ``end``, inclusive."""

    name: str
    nbytes: int
    start: int
    end: int
    is_input: bool = False
    is_output: bool = False

    def alive_at(self, step: int) -> bool:
        return self.start <= step <= self.end

    @property
    def kind(self) -> str:
        """``input``, ``output`` or ``activation``: what a reader needs to know of it."""
        return "input" if self.is_input else "output" if self.is_output else "activation"


@dataclass(frozen=True)
class Lifetimes:
    """The tensors of one schedule and the bytes alive while each step runs.

    ``order`` holds step indices of the problem; ``live_bytes[k]`` is what memory holds while
    the ``k``-th step of the order runs.
    """

    order: tuple[int, ...]
    tensors: tuple[TensorLife, ...]
    live_bytes: tuple[int, ...]
    # (output, input) tensor indices of each kernel that ran in place: the output took the
    # input's storage, so a static planner gives the two one slot.
    overwrites: tuple[tuple[int, int], ...] = ()

    @property
    def peak_bytes(self) -> int:
        return max(self.live_bytes, default=sum(t.nbytes for t in self.tensors))

    @property
    def peak_step(self) -> int:
        """Position (in the order) of the first step where memory peaks."""
        return self.live_bytes.index(self.peak_bytes) if self.live_bytes else 0

    @cached_property
    def alive_at_peak(self) -> tuple[TensorLife, ...]:
        """The tensors memory holds at the peak, largest first."""
        step = self.peak_step
        alive = [t for t in self.tensors if t.alive_at(step) and t.nbytes]
        return tuple(sorted(alive, key=lambda t: -t.nbytes))


def check_order(problem: MemoryProblem, order: Sequence[int]) -> None:
    """Raise unless ``order`` runs every step once, each after the steps it reads from."""
    if sorted(order) != list(range(len(problem.steps))):
        raise HwsimError(f"a schedule must run each of the {len(problem.steps)} kernels once")
    position = {step: k for k, step in enumerate(order)}
    for step in order:
        for before in problem.steps[step].after:
            if position[before] > position[step]:
                raise HwsimError(
                    f"schedule runs {problem.steps[step].name!r} before "
                    f"{problem.steps[before].name!r}, whose output it reads"
                )


def lifetimes(problem: MemoryProblem, order: Sequence[int]) -> Lifetimes:
    """Every buffer's interval and the live bytes at each step of ``order``."""
    check_order(problem, order)
    position = {step: k for k, step in enumerate(order)}
    last = len(order) - 1
    tensors: list[TensorLife] = []
    for buffer in problem.buffers:
        start = 0 if buffer.producer is None else position[buffer.producer]
        reads = [position[r] for r in buffer.readers]
        end = last if buffer.is_output else max(reads, default=start)
        if buffer.producer is None and not reads and not buffer.is_output:
            end = start - 1  # an input nothing reads is never held
        tensors.append(
            TensorLife(
                name=buffer.name,
                nbytes=buffer.nbytes,
                start=start,
                end=end,
                is_input=buffer.producer is None,
                is_output=buffer.is_output,
            )
        )
    live = [0] * len(order)
    for tensor in tensors:
        for k in range(tensor.start, tensor.end + 1):
            live[k] += tensor.nbytes
    overwrites = []
    for k, step in enumerate(order):
        over = _overwritten(problem, step, tensors, k)
        if over is not None:
            live[k] -= problem.output_bytes(step)
            overwrites.append((problem.steps[step].output, over))
    return Lifetimes(
        order=tuple(order),
        tensors=tuple(tensors),
        live_bytes=tuple(live),
        overwrites=tuple((o, i) for o, i in overwrites if o is not None),
    )


def _overwritten(
    problem: MemoryProblem, step: int, tensors: Sequence[TensorLife], k: int
) -> int | None:
    """The input an in-place kernel writes its output over (so the output adds no bytes): one
    it reads for the last time, not a model output, at least as large; None if it has none."""
    spec = problem.steps[step]
    out = problem.output_bytes(step)
    if not spec.in_place or spec.output is None:
        return None
    for index in sorted(spec.reads):
        tensor = tensors[index]
        if tensor.end == k and not tensor.is_output and tensor.nbytes >= out:
            return index
    return None

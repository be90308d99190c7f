"""Placing a schedule's tensors at offsets in one arena, the way a static memory planner does.

The peak of live bytes is a lower bound on the arena a runtime needs: tensors must also sit at
fixed addresses for their whole lifetime, so a freed gap too small for the next tensor is
wasted. TensorFlow Lite Micro's ``GreedyMemoryPlanner`` (its default, see
``tensorflow/lite/micro/memory_planner/greedy_memory_planner.cc``) places tensors largest
first, each at the lowest offset where it overlaps no already placed tensor that is alive at
the same time (lifetimes are inclusive step ranges). This module implements that rule, so an
estimate can report the arena such a planner would ask for, and the lifetime chart can draw
each tensor where it would live.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .lifetimes import TensorLife


@dataclass(frozen=True)
class ArenaPlan:
    """Offsets (bytes) of each tensor, in the order given, and the arena size they need."""

    offsets: tuple[int, ...]
    sizes: tuple[int, ...]  # each tensor's size, rounded up to the alignment
    arena_bytes: int


def _aligned(nbytes: int, alignment: int) -> int:
    return -(-nbytes // alignment) * alignment


def greedy_arena(tensors: Sequence[TensorLife], alignment: int = 1) -> ArenaPlan:
    """Largest tensor first, each at the lowest offset free over its whole lifetime.

    Tensors never alive (an unread input) and empty ones get offset 0 and take no room.
    Ties in size keep the given order, as TFLite Micro's stable sort does.
    """
    sizes = tuple(_aligned(t.nbytes, alignment) for t in tensors)
    offsets = [0] * len(tensors)
    placed: list[int] = []  # indices, kept sorted by offset
    for i in sorted(range(len(tensors)), key=lambda i: -sizes[i]):
        if sizes[i] == 0 or tensors[i].end < tensors[i].start:
            continue
        candidate = 0
        for j in placed:  # in offset order: the first gap that fits wins
            if not _overlap(tensors[i], tensors[j]):
                continue
            if offsets[j] - candidate >= sizes[i]:
                break
            candidate = max(candidate, offsets[j] + sizes[j])
        offsets[i] = candidate
        placed.append(i)
        placed.sort(key=lambda j: offsets[j])
    arena = max((offsets[i] + sizes[i] for i in placed), default=0)
    return ArenaPlan(offsets=tuple(offsets), sizes=sizes, arena_bytes=arena)


def _overlap(a: TensorLife, b: TensorLife) -> bool:
    return a.start <= b.end and b.start <= a.end

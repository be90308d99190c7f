"""Activation memory per schedule: what is alive when, the peak, and the order that
minimises it. Core layer: depends only on ``ops``, ``graph`` and ``errors``."""

from __future__ import annotations

from .arena import ArenaPlan, greedy_arena
from .lifetimes import Lifetimes, TensorLife, lifetimes
from .plan import SCHEDULES, MemoryPlan, plan_memory
from .problem import (
    INPUTS,
    Buffer,
    ByteScale,
    Fuses,
    InPlace,
    MemoryProblem,
    Step,
    always_fused,
    from_graph,
    never_in_place,
    same_bytes,
)
from .reorder import DEFAULT_BEAM_WIDTH, Reordering, min_peak_order

__all__ = [
    "DEFAULT_BEAM_WIDTH",
    "INPUTS",
    "SCHEDULES",
    "ArenaPlan",
    "Buffer",
    "ByteScale",
    "Fuses",
    "InPlace",
    "Lifetimes",
    "MemoryPlan",
    "MemoryProblem",
    "Reordering",
    "Step",
    "TensorLife",
    "always_fused",
    "from_graph",
    "greedy_arena",
    "lifetimes",
    "min_peak_order",
    "never_in_place",
    "plan_memory",
    "same_bytes",
]

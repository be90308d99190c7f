"""The registry of per-class cost tables and the context a cost function sees."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..cost import OpCost
from ..errors import ProfileError
from ..ops import Op, OpKind
from ..profile import MemoryLevel, Profile

if TYPE_CHECKING:
    from ..graph import OpGraph


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
    # Class-specific options a user passes per estimate (the FPGA model reads ``quant``,
    # ``folding`` and ``target_fps``); other classes ignore them.
    options: Mapping[str, Any] = field(default_factory=dict)


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


CostFn = Callable[[Op, PricingContext], OpCost]
GraphFn = Callable[["OpGraph", PricingContext], GraphCost]

_CLASS_MODULES = {"cpu": "cpu", "gpu": "gpu", "systolic": "systolic", "fpga": "fpga"}
_TABLES: dict[str, dict[OpKind, CostFn]] = {}


def cost_table(hw_class: str) -> dict[OpKind, CostFn]:
    """The live table for a hardware class, loaded from its module on first use."""
    if hw_class not in _TABLES:
        if hw_class not in _CLASS_MODULES:
            raise ProfileError(f"no cost model for hardware class '{hw_class}'")
        module = importlib.import_module(f"{__package__}.{_CLASS_MODULES[hw_class]}")
        _TABLES[hw_class] = dict(module.COST_TABLE)
    return _TABLES[hw_class]


def graph_pricer(hw_class: str) -> GraphFn | None:
    """The class module's whole-graph hook ``price_graph(graph, ctx)``, if it has one."""
    cost_table(hw_class)
    module = importlib.import_module(f"{__package__}.{_CLASS_MODULES[hw_class]}")
    fn: GraphFn | None = getattr(module, "price_graph", None)
    return fn


def register_cost(hw_class: str, kind: OpKind, fn: CostFn) -> None:
    """Price ``kind`` on ``hw_class`` with ``fn`` from now on (adds or replaces a row)."""
    cost_table(hw_class)[kind] = fn

"""``OpCostCache``: each distinct op priced once per pricing context, for loops that price
thousands of similar graphs.

A NAS candidate repeats its cells, and candidates share most of their cells, so most ops a
search prices have been priced before: same kind, shapes, MACs, traffic after fusion, weight
statistics and module type, on the same profile. The cache keys a cost by exactly that:

- the op's *signature*: every ``Op`` field except its id and display name (``fused_into``
  only as fused or not: which kernel absorbs it does not change its price);
- the pricing context: the profile (a hashable value: ``with_params`` variants are distinct
  keys), the weight home, the forced precision, fusion, the class's options, and the cost
  function itself (so ``register_cost`` takes effect at once);
- what the op's price reads from the rest of the graph, as the class says through its
  ``cache_context`` hook (``HwClass.cache_context``): the systolic model's per-layer weight
  spill plan, for one. A hook that answers ``None`` marks the op uncacheable (its price reads
  the real weight values), and it is priced fresh every time.

Whole-graph models use it where their result is built from per-op prices (a deployed Edge
TPU: its plan's per-op facts, placement and link transfers, are in the class's context); FPGA
pipelines, which size their stages together, do not.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

from ..cost import OpCost
from ..graph import OpGraph
from ..ops import Op
from .base import PriceOpsFn, PricingContext, cost_fn

ContextFn = Callable[[Op, PricingContext], Hashable | None]


def _frozen(value: Any) -> Hashable:
    """A hashable stand-in for an attribute value, lists kept distinct from tuples (a cost
    model may tell ``[0, 0]`` from ``(0, 0)``)."""
    if isinstance(value, list):
        return ("list", tuple(_frozen(v) for v in value))
    if isinstance(value, tuple):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, dict):
        return ("dict", tuple((k, _frozen(v)) for k, v in value.items()))
    return value


def op_signature(op: Op) -> Hashable:
    """Everything about ``op`` a per-op cost function may read, without its identity."""
    return (
        op.kind,
        op.target,
        op.inputs,
        op.outputs,
        op.params,
        op.macs,
        op.flops,
        op.read_bytes,
        op.write_bytes,
        _frozen(op.attrs),
        op.weight_stats,
        op.folded,
        op.fused_into is not None,
        op.module_type,
        op.weight_bits,
        op.act_bits,
        op.module_calls,
    )


class OpCostCache:
    """Costs by (op signature, pricing context), filled as graphs are priced.

    ``maxsize`` bounds the entries (the oldest go first); ``hits`` and ``misses`` count
    lookups, so a caller can see what the cache saved.
    """

    def __init__(self, maxsize: int = 200_000) -> None:
        self.maxsize = maxsize
        self.hits = 0
        self.misses = 0
        self._costs: dict[Hashable, OpCost | None] = {}

    def __len__(self) -> int:
        return len(self._costs)

    def clear(self) -> None:
        self._costs.clear()

    def pricer(self, context: ContextFn) -> PriceOpsFn:
        """``price_ops`` through this cache with a class's context hook, in the shape of
        ``base.price_ops`` (what a whole-graph model is handed)."""
        return lambda graph, ctx: self.price_ops(graph, ctx, context)

    def price_ops(
        self, graph: OpGraph, ctx: PricingContext, context: ContextFn
    ) -> list[OpCost | None]:
        """What ``base.price_ops`` returns for ``graph``, reusing costs priced before."""
        where = (
            ctx.profile,
            ctx.weight_home,
            ctx.precision,
            ctx.fuse,
            ctx.options,
            ctx.cache_bytes,
        )
        out: list[OpCost | None] = []
        for op in graph:
            fn = cost_fn(op, ctx)
            if fn is None:
                out.append(None)
                continue
            extra = context(op, ctx)
            if extra is None:
                out.append(fn(op, ctx))
                continue
            key = (where, fn, op_signature(op), extra)
            cost = self._costs.get(key)
            if cost is None:
                self.misses += 1
                cost = fn(op, ctx)
                if len(self._costs) >= self.maxsize:
                    self._costs.pop(next(iter(self._costs)))
                self._costs[key] = cost
            else:
                self.hits += 1
            out.append(cost)
        return out


def no_context(op: Op, ctx: PricingContext) -> Hashable:
    """The hook of a class whose per-op prices read nothing from the rest of the graph
    beyond the weight home, which every key holds."""
    return ()

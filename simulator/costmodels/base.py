"""The registry of per-class cost tables and the context a cost function sees."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from ..cost import OpCost
from ..errors import ProfileError
from ..ops import Op, OpKind
from ..profile import MemoryLevel, Profile


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


CostFn = Callable[[Op, PricingContext], OpCost]

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


def register_cost(hw_class: str, kind: OpKind, fn: CostFn) -> None:
    """Price ``kind`` on ``hw_class`` with ``fn`` from now on (adds or replaces a row)."""
    cost_table(hw_class)[kind] = fn

"""Cost models: one table ``{op kind: cost function}`` per hardware class.

Each class lives in its own module (``cpu``, ``gpu``, ``systolic``, ``fpga``) with its typed
``arch`` section, and ``registry.HW_CLASSES`` ties them together, so a detailed model of one
class replaces one file. ``register_cost`` lets a user price a kind (or override one) without
forking.
"""

from __future__ import annotations

from .base import CostFn, PricingContext
from .registry import cost_table, register_cost

__all__ = ["CostFn", "PricingContext", "cost_table", "register_cost"]

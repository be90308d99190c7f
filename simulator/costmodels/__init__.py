"""Cost models: one table ``{op kind: cost function}`` per hardware class.

The tables live in one module per class (``cpu``, ``gpu``, ``systolic``, ``fpga``) so a detailed
model of one class replaces one file. ``register_cost`` lets a user price a kind (or override
one) without forking.
"""

from __future__ import annotations

from .base import CostFn, PricingContext, cost_table, register_cost

__all__ = ["CostFn", "PricingContext", "cost_table", "register_cost"]

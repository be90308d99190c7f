"""Latency feedback for neural architecture search (docs/nas.md).

``Predictor`` prices a candidate module in milliseconds; ``LatencyTable`` prices a
block-structured space's candidates from per-block costs at hundreds of thousands a second,
with a differentiable expectation for DNAS.
"""

from __future__ import annotations

from .predictor import Predictor
from .table import LatencyTable, Position

__all__ = ["LatencyTable", "Position", "Predictor"]

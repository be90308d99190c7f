"""Jitted loops the closed forms cannot avoid (numba, compiled on first use and cached)."""

from __future__ import annotations

from .scalesim_buffer import OfmapWrites, line_stalls, miss_lines, stalls_and_drain
from .tile_nonzeros import column_nonzeros, column_tile_nonzeros

__all__ = [
    "OfmapWrites",
    "column_nonzeros",
    "column_tile_nonzeros",
    "line_stalls",
    "miss_lines",
    "stalls_and_drain",
]

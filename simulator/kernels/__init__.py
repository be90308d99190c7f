"""Jitted loops the closed forms cannot avoid (numba, compiled on first use and cached)."""

from __future__ import annotations

from .scalesim_buffer import line_stalls, miss_lines
from .tile_nonzeros import column_nonzeros, column_tile_nonzeros

__all__ = ["column_nonzeros", "column_tile_nonzeros", "line_stalls", "miss_lines"]

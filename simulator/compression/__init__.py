"""Compression what-ifs: prune and quantize a traced graph's real weights, then price it.

Names are imported on first use (PEP 562): the specs are plain values, while the transforms
need torch, and an estimate without compression should not pay for importing it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_exports

if TYPE_CHECKING:
    from .recipe import load_recipe
    from .spec import (
        CompressionError,
        PruneSpec,
        QuantSpec,
        Rule,
        Variant,
        compile_layers,
        parse_prune,
        parse_quant,
        parse_variant,
    )
    from .transform import Applied, compress

_EXPORTS: dict[str, str] = {
    "load_recipe": ".recipe",
    **dict.fromkeys(
        (
            "CompressionError",
            "PruneSpec",
            "QuantSpec",
            "Rule",
            "Variant",
            "compile_layers",
            "parse_prune",
            "parse_quant",
            "parse_variant",
        ),
        ".spec",
    ),
    "Applied": ".transform",
    "compress": ".transform",
}

__all__ = [
    "Applied",
    "CompressionError",
    "PruneSpec",
    "QuantSpec",
    "Rule",
    "Variant",
    "compile_layers",
    "compress",
    "load_recipe",
    "parse_prune",
    "parse_quant",
    "parse_variant",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

"""Compression what-ifs: prune and quantize a traced graph's real weights, then price it."""

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

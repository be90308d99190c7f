"""JSON Schema for the fields every hardware profile has, whatever its class.

Profiles are validated before any object is built from them, so a typo in a user's YAML fails
with the file and field at fault instead of surfacing later as a wrong number. The ``arch``
section is checked by the class's own typed declaration (``archspec``); which classes exist is
the class registry's to say (``costmodels.registry``), not this file's.
"""

from __future__ import annotations

from typing import Any

from .archspec import NON_NEGATIVE, POSITIVE

PRECISIONS = ["fp64", "fp32", "tf32", "fp16", "bf16", "fp8", "int8", "int4", "binary"]
SPARSITY_PATTERNS = ["unstructured", "2:4", "4:8", "block1x4", "block4x4", "channel"]

_positive = POSITIVE
_non_negative = NON_NEGATIVE
_per_precision = {
    "type": "object",
    "propertyNames": {"enum": PRECISIONS},
    "additionalProperties": _positive,
    "minProperties": 1,
}

_memory_level: dict[str, Any] = {
    "type": "object",
    "required": ["name", "capacity_bytes", "read_energy_pj_per_byte"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"},
        "capacity_bytes": {"oneOf": [_positive, {"type": "null"}]},
        "bandwidth_bytes_per_s": _positive,
        "bandwidth_bytes_per_cycle": _positive,
        "efficiency": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
        "read_energy_pj_per_byte": _non_negative,
        "write_energy_pj_per_byte": _non_negative,
        "holds_weights": {"type": "boolean"},
    },
}

# Die area (docs/codesign.md): the process node, and overrides of the sourced per-class
# defaults in hwsim.area (each number at this profile's node).
_area: dict[str, Any] = {
    "type": "object",
    "required": ["tech_nm"],
    "additionalProperties": False,
    "properties": {
        "tech_nm": _positive,
        "mac_um2": {**_per_precision, "minProperties": 0},
        "sram_um2_per_byte": _positive,
        "register_um2_per_byte": _positive,
        "register_bytes_per_mac": _non_negative,
        "vector_lane_um2": _non_negative,
        "logic_overhead": {"type": "number", "minimum": 1},
        "uncore_fraction": _non_negative,
        "fixed_mm2": _non_negative,
    },
}

PROFILE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": [
        "name",
        "hw_class",
        "clock_hz",
        "peak_macs_per_cycle",
        "vector_ops_per_cycle",
        "default_precision",
        "memory",
        "energy",
    ],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "pattern": "^[A-Za-z0-9_.-]+$"},
        "hw_class": {"type": "string"},
        "description": {"type": "string"},
        "clock_hz": _positive,
        "peak_macs_per_cycle": _per_precision,
        "vector_ops_per_cycle": _positive,
        "default_precision": {"enum": PRECISIONS},
        "memory": {"type": "array", "minItems": 1, "items": _memory_level},
        "energy": {
            "type": "object",
            "required": ["mac_pj", "vector_op_pj", "static_power_w"],
            "additionalProperties": False,
            "properties": {
                "mac_pj": _per_precision,
                "vector_op_pj": _non_negative,
                "static_power_w": _non_negative,
            },
        },
        "overhead": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "per_op_s": _non_negative,
                "per_op_cycles": _non_negative,
            },
        },
        "sparsity": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "patterns": {
                    "type": "array",
                    "items": {"enum": SPARSITY_PATTERNS},
                    "uniqueItems": True,
                },
                "compressed_weights": {"type": "boolean"},
            },
        },
        "fuse_pointwise": {"type": "boolean"},
        "area": _area,
        "arch": {"type": "object"},  # checked by the class's ArchSpec
        "info": {  # facts for people (part number, TDP, ISA); no cost model reads them
            "type": "object",
            "additionalProperties": {
                "type": ["string", "number", "boolean", "array", "object", "null"]
            },
        },
    },
}

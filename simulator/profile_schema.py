"""JSON Schema for hardware profiles.

Profiles are validated before any object is built from them, so a typo in a user's YAML fails
with the file and field at fault instead of surfacing later as a wrong number.
"""

from __future__ import annotations

from typing import Any

PRECISIONS = ["fp64", "fp32", "tf32", "fp16", "bf16", "fp8", "int8", "int4", "binary"]
SPARSITY_PATTERNS = ["unstructured", "2:4", "4:8", "block1x4", "block4x4", "channel"]
HW_CLASSES = ["cpu", "gpu", "systolic", "fpga"]

_positive = {"type": "number", "exclusiveMinimum": 0}
_non_negative = {"type": "number", "minimum": 0}
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
        "hw_class": {"enum": HW_CLASSES},
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
        "arch": {"type": "object"},
    },
}

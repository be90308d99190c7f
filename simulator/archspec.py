"""Typed ``arch`` sections: what one hardware class's cost model reads from a profile.

The common fields of a profile (clock, peaks, memory levels, energies) mean the same on every
class; the ``arch`` section does not (an array shape, an SM count, a DSP budget). Each class
declares its section as a frozen dataclass of ``ArchSpec`` whose fields carry their JSON
Schema and a one-line doc. Loading checks the section against that schema before any value is
built, so a misspelt or unknown key, a bad enum value or a non-integer where an integer is
meant is a one-line ``ProfileError`` naming the file and key, never a silent default. The same
declarations produce the field tables in docs/profiles.md.

Facts a cost model does not read (a part number, a TDP, an ISA list) belong in the profile's
free-form ``info`` section, not here.
"""

from __future__ import annotations

import difflib
import functools
import json
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, ClassVar, TypeVar

import jsonschema

from .errors import ProfileError
from .frozen import deep_freeze

# Schema fragments shared by the arch declarations and the profile schema.
POSITIVE: dict[str, Any] = {"type": "number", "exclusiveMinimum": 0}
NON_NEGATIVE: dict[str, Any] = {"type": "number", "minimum": 0}
FRACTION: dict[str, Any] = {"type": "number", "exclusiveMinimum": 0, "maximum": 1}
# Counts (PEs, cores, SMs, LUTs) stay far below this; beyond it, products of counts overflow the
# 64-bit integers the jitted kernels use.
INT_MAX = 2**31 - 1
POSITIVE_INT: dict[str, Any] = {"type": "integer", "minimum": 1, "maximum": INT_MAX}
NON_NEGATIVE_INT: dict[str, Any] = {"type": "integer", "minimum": 0, "maximum": INT_MAX}
BOOLEAN: dict[str, Any] = {"type": "boolean"}
STRING: dict[str, Any] = {"type": "string"}


def enum(*values: str) -> dict[str, Any]:
    return {"enum": list(values)}


@dataclass(frozen=True)
class Capabilities:
    """What a class of hardware can do, read by the shared pricing code instead of checking
    the class's name."""

    packed_vector_lanes: bool = False  # SIMD lanes: narrower types pack more elements per op
    unpacks_narrow_weights: bool = False  # weights below the execution width stay packed
    unstructured_format: str = "bitmap"  # how unstructured sparse weights are stored: csr|bitmap


def spec(
    schema: Mapping[str, Any],
    doc: str,
    default: Any = MISSING,
    convert: Callable[[Any], Any] = deep_freeze,
) -> Any:
    """A field of an ``ArchSpec``: its JSON Schema, what it means, its default (absent:
    required) and how a YAML value becomes the field's value."""
    meta = {"schema": dict(schema), "doc": doc, "convert": convert}
    if default is MISSING:
        return field(metadata=meta)
    return field(default=default, metadata=meta)


A = TypeVar("A", bound="ArchSpec")


@dataclass(frozen=True)
class ArchSpec:
    """Base of every class's typed ``arch`` section (see the module doc)."""

    CAPABILITIES: ClassVar[Capabilities] = Capabilities()
    HW_CLASS: ClassVar[str] = ""

    @classmethod
    def schema(cls) -> dict[str, Any]:
        return _schema(cls)

    @classmethod
    def from_data(cls: type[A], data: Any, origin: str) -> A:
        """The section as a value, or a ``ProfileError`` naming the first bad key."""
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise ProfileError(f"{origin}: field 'arch': expected a mapping of keys to values")
        known = [f.name for f in fields(cls) if "schema" in f.metadata]
        for key in data:
            if key not in known:
                close = difflib.get_close_matches(str(key), known, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise ProfileError(
                    f"{origin}: field 'arch/{key}': unknown key for a {cls.HW_CLASS} "
                    f"profile{hint}; known keys: {', '.join(sorted(known))}"
                )
        problem = _section_error(cls, data)
        if problem is not None:
            raise ProfileError(f"{origin}: field 'arch/{problem[0]}': {problem[1]}")
        values = {
            f.name: f.metadata["convert"](_whole(data[f.name], f.metadata["schema"]))
            for f in fields(cls)
            if f.name in data and "convert" in f.metadata
        }
        arch = cls(**values)
        arch.check(origin)
        return arch

    def check(self, origin: str) -> None:
        """Invariants across fields that a schema cannot state; raise ``ProfileError``."""

    def host_profile(self) -> str | None:
        """The profile (name or file) of the host that runs the ops this hardware cannot,
        priced with that profile's class; ``None``: every op runs here or is unsupported."""
        return None

    @classmethod
    def field_docs(cls) -> list[tuple[str, str, str, str]]:
        """(key, type, default, meaning) of every field, for the docs."""
        rows = []
        for f in fields(cls):
            if "schema" not in f.metadata:
                continue
            rows.append(
                (f.name, _type_name(f.metadata["schema"]), _default(f.default), f.metadata["doc"])
            )
        return rows


def _whole(value: Any, schema: Mapping[str, Any]) -> Any:
    """An integer field given as ``64.0`` (the schema accepts whole floats) as the int 64, so
    counts stay exact integers in every formula."""
    if schema.get("type") == "integer" and isinstance(value, float):
        return int(value)
    return value


def _default(value: Any) -> str:
    if value is MISSING:
        return "required"
    if value is None:
        return "none"
    if isinstance(value, (tuple, Mapping)) and not value:
        return "empty"
    return repr(value)


def _type_name(schema: Mapping[str, Any]) -> str:
    if "enum" in schema:
        return " \\| ".join(str(v) for v in schema["enum"])
    kind = schema.get("type", "")
    bound = ""
    if "exclusiveMinimum" in schema:
        bound = f" > {schema['exclusiveMinimum']}"
    elif "minimum" in schema:
        bound = f" >= {schema['minimum']}"
    if "maximum" in schema and schema["maximum"] != INT_MAX:  # the overflow guard is implied
        bound += f", <= {schema['maximum']}"
    if "multipleOf" in schema:
        bound += f", a multiple of {schema['multipleOf']}"
    if kind in ("integer", "number", "string", "boolean"):
        return f"{kind}{bound}"
    if "oneOf" in schema or kind == "array":
        return "table (see the class's doc)"
    return "mapping"


_SCHEMAS: dict[type[ArchSpec], dict[str, Any]] = {}


def _schema(cls: type[ArchSpec]) -> dict[str, Any]:
    """The JSON Schema of ``cls``'s fields (built once per class: classes do not change)."""
    if cls in _SCHEMAS:
        return _SCHEMAS[cls]
    props = {f.name: f.metadata["schema"] for f in fields(cls) if "schema" in f.metadata}
    required = [
        f.name
        for f in fields(cls)
        if "schema" in f.metadata and f.default is MISSING and f.default_factory is MISSING
    ]
    return _SCHEMAS.setdefault(
        cls,
        {
            "type": "object",
            "additionalProperties": False,
            "properties": props,
            "required": required,
        },
    )


def _section_error(cls: type[ArchSpec], data: Mapping[str, Any]) -> tuple[str, str] | None:
    """(path, message) of the first problem in an ``arch`` section, else None. Each field is
    checked against its own schema and the verdict cached by the field's exact JSON text: a
    fit or sweep rebuilds one profile hundreds of times with one field changed, and a
    calibrated CPU section (thousands of table entries) took 0.2 s to validate whole."""
    missing = [k for k in _schema(cls)["required"] if k not in data]
    if missing:
        return "", f"'{missing[0]}' is a required property"
    properties = _schema(cls)["properties"]
    for key, value in data.items():
        schema = json.dumps(properties[key], sort_keys=True)
        message = _field_error(str(key), schema, json.dumps(value, default=_plain))
        if message is not None:
            return message
    return None


def _plain(value: Any) -> Any:
    """JSON for the frozen containers a profile's data may hold."""
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"not JSON data: {type(value).__name__}")


@functools.lru_cache(maxsize=4096)
def _field_error(key: str, schema: str, text: str) -> tuple[str, str] | None:
    """The first error of field ``key`` (JSON Schema ``schema``) whose value is the JSON
    ``text``; keyed by text, so 4 and 4.0, or 1 and true, are told apart as the schema tells
    them apart."""
    whole = {"type": "object", "properties": {key: json.loads(schema)}}
    validator = jsonschema.Draft202012Validator(whole)
    error = jsonschema.exceptions.best_match(validator.iter_errors({key: json.loads(text)}))
    if error is None:
        return None
    return "/".join(str(p) for p in error.absolute_path), error.message

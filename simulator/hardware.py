"""A hardware profile as a value: ``Profile``, its memory levels and energies, and how one is
built from validated data (and rebuilt with some parameters changed).

A profile is data, not code. Numbers common to every hardware class (clock, peaks per
precision, a memory hierarchy, energy per action) are typed fields; what only one class needs
lives in ``arch``, a typed frozen section declared by that class (``archspec.ArchSpec``).

A ``Profile`` is immutable and hashes by its numbers, so anything derived from it can be
cached on it or keyed by it: a sweep or a fit that varies a profile never reads a stale price.
``with_params`` is how a profile is varied: it edits the data the profile was built from and
builds again through the same validation a YAML file goes through, so a varied profile equals
a fresh one read from the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import cached_property
from typing import Any

import jsonschema

from .archspec import ArchSpec, Capabilities
from .errors import ProfileError
from .frozen import FrozenDict, deep_freeze, thaw
from .profile_schema import PROFILE_SCHEMA, SPARSITY_PATTERNS

_VALIDATOR = jsonschema.Draft202012Validator(PROFILE_SCHEMA)
_BANDWIDTH_FORMS = ("bandwidth_bytes_per_s", "bandwidth_bytes_per_cycle")


@dataclass(frozen=True)
class MemoryLevel:
    """One level of the memory hierarchy, innermost (closest to compute) first."""

    name: str
    capacity_bytes: float  # math.inf for a backing store
    bandwidth_bytes_per_cycle: float  # sustained, already scaled by the level's efficiency
    read_energy_pj_per_byte: float
    write_energy_pj_per_byte: float
    holds_weights: bool = True


@dataclass(frozen=True)
class EnergyTable:
    mac_pj: FrozenDict[str, float]
    vector_op_pj: float
    static_power_w: float


@dataclass(frozen=True)
class AreaSpec:
    """The profile's ``area`` section: its process node and any overrides of the per-class
    defaults ``hwsim.area`` holds (None: use the default; numbers at this node)."""

    tech_nm: float
    mac_um2: FrozenDict[str, float] = field(default_factory=FrozenDict)
    sram_um2_per_byte: float | None = None
    register_um2_per_byte: float | None = None
    register_bytes_per_mac: float | None = None
    vector_lane_um2: float | None = None
    logic_overhead: float | None = None
    uncore_fraction: float | None = None
    fixed_mm2: float = 0.0


@dataclass(frozen=True)
class Profile:
    """One piece of hardware, as the cost models see it (docs/profiles.md)."""

    name: str
    hw_class: str
    clock_hz: float
    peak_macs_per_cycle: FrozenDict[str, float]
    vector_ops_per_cycle: float
    default_precision: str
    memory: tuple[MemoryLevel, ...]
    energy: EnergyTable
    arch: ArchSpec
    per_op_overhead_cycles: float = 0.0
    # In the schema's canonical order, so every walk over them (and every tie) is the same
    # from run to run (a frozenset's order changes with the string hash seed).
    sparsity_patterns: tuple[str, ...] = ()
    compressed_weights: bool = False
    fuse_pointwise: bool = True
    area: AreaSpec | None = None  # die area model inputs (hwsim.area); None: not modelled
    info: FrozenDict[str, Any] = field(default_factory=FrozenDict)
    description: str = field(default="", compare=False)
    source: str = field(default="", compare=False)  # file the profile was read from
    # The validated data it was built from (for with_params and for writing YAML back).
    data: FrozenDict[str, Any] = field(default_factory=FrozenDict, compare=False, repr=False)

    def __hash__(self) -> int:
        return self._hash

    @cached_property
    def _hash(self) -> int:
        return hash(tuple(getattr(self, f.name) for f in fields(self) if f.compare))

    def __getstate__(self) -> dict[str, Any]:
        # Not the cached hash: string hashes differ between processes (a sweep's workers).
        return {k: v for k, v in self.__dict__.items() if k != "_hash"}

    @property
    def precisions(self) -> frozenset[str]:
        return frozenset(self.peak_macs_per_cycle)

    @property
    def capabilities(self) -> Capabilities:
        return self.arch.CAPABILITIES

    @property
    def backing(self) -> MemoryLevel:
        """The outermost level: where whatever fits nowhere closer lives."""
        return self.memory[-1]

    def level(self, name: str) -> MemoryLevel:
        for lvl in self.memory:
            if lvl.name == name:
                return lvl
        raise KeyError(name)

    def execution_precision(self, precision: str) -> str:
        """The precision an op of ``precision`` runs at here: its own if supported, else the
        profile's default (what the vendor toolchain converts the model to)."""
        return precision if precision in self.peak_macs_per_cycle else self.default_precision

    def with_params(self, params: Mapping[str, Any]) -> Profile:
        """A new, validated profile with dotted keys set: ``{"arch.rows": 32, "clock_hz":
        1e9, "memory.sram.capacity_bytes": 4e6, "energy.mac_pj.int8": 0.3}``. Memory levels
        are named by their ``name``. Setting one bandwidth form of a level replaces the other.
        An unknown key or a bad value is a ``ProfileError`` naming it."""
        data = thaw(self.data)
        for key, value in params.items():
            _set_dotted(data, str(key), value, self.name)
        origin = f"{self.source or self.name} (with {', '.join(map(str, params))})"
        return build_profile(data, origin, type(self.arch), source=self.source)

    def to_data(self) -> dict[str, Any]:
        """The profile as plain YAML-ready data (what ``with_params`` edits)."""
        return dict(thaw(self.data))


def _set_dotted(data: dict[str, Any], key: str, value: Any, name: str) -> None:
    parts = key.split(".")
    if not all(parts):
        raise ProfileError(f"{name}: parameter '{key}': empty path component")
    if parts[0] == "hw_class":
        raise ProfileError(f"{name}: parameter '{key}': the hardware class cannot be changed")
    node: Any = data
    path: list[str] = []
    if parts[0] == "memory":
        levels = data.get("memory") or []
        names = [lvl.get("name") for lvl in levels if isinstance(lvl, dict)]
        if len(parts) < 3:
            raise ProfileError(
                f"{name}: parameter '{key}': name a level and a field, e.g. "
                f"memory.{names[0] if names else 'sram'}.capacity_bytes"
            )
        if parts[1] not in names:
            raise ProfileError(
                f"{name}: parameter '{key}': no memory level '{parts[1]}' "
                f"(levels: {', '.join(map(str, names))})"
            )
        node = levels[names.index(parts[1])]
        path, parts = ["memory", parts[1]], parts[2:]
        if parts[0] in _BANDWIDTH_FORMS and len(parts) == 1:
            for other in _BANDWIDTH_FORMS:
                node.pop(other, None)
    for part in parts[:-1]:
        path.append(part)
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ProfileError(
                f"{name}: parameter '{key}': '{'.'.join(path)}' is a value, not a section"
            )
        node = child
    node[parts[-1]] = thaw(value)


# No hardware figure in a profile's units (Hz, bytes, pJ, W, s) lies outside these magnitudes;
# within them, the products and quotients the models form stay finite, so an estimate can never
# turn into infinity or NaN.
MAX_MAGNITUDE = 1e30
MIN_MAGNITUDE = 1e-30


def _bad_number(value: Any, path: str) -> tuple[str, str] | None:
    """(path, what is wrong) of the first NaN, infinity (YAML's .nan, .inf, 1e400) or
    out-of-range number in ``value``; the free-form ``info`` section is only checked for
    NaN and infinity, since no model reads it."""
    if isinstance(value, float) and not math.isfinite(value):
        return path, "must be a finite number (no NaN or inf)"
    if (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and value
        and not path.startswith("info")
        and not MIN_MAGNITUDE <= abs(value) <= MAX_MAGNITUDE
    ):
        shown = (
            f"{value:g}" if isinstance(value, float) else f"an integer of {len(str(value))} digits"
        )
        return path, (
            f"{shown} is out of range (a profile's numbers lie between "
            f"{MIN_MAGNITUDE:g} and {MAX_MAGNITUDE:g} in magnitude, or are 0)"
        )
    if isinstance(value, Mapping):
        for k, v in value.items():
            found = _bad_number(v, f"{path}/{k}" if path else str(k))
            if found is not None:
                return found
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            found = _bad_number(v, f"{path}/{i}")
            if found is not None:
                return found
    return None


def validate_profile_data(data: Mapping[str, Any], origin: str) -> None:
    """Raise ``ProfileError`` naming the first field that breaks the schema or the invariants
    the schema cannot express (the ``arch`` section is its class's to check)."""
    bad = _bad_number(data, "")
    if bad is not None:
        raise ProfileError(f"{origin}: field '{bad[0]}': {bad[1]}")
    for i, level in enumerate(data.get("memory") or []):
        if isinstance(level, dict):
            forms = [k for k in _BANDWIDTH_FORMS if k in level]
            if len(forms) != 1:
                raise ProfileError(
                    f"{origin}: field 'memory/{i}': give exactly one of bandwidth_bytes_per_s "
                    f"and bandwidth_bytes_per_cycle (found {len(forms)})"
                )
    error = jsonschema.exceptions.best_match(_VALIDATOR.iter_errors(data))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        raise ProfileError(f"{origin}: field '{where}': {error.message}")
    missing = set(data["peak_macs_per_cycle"]) - set(data["energy"]["mac_pj"])
    if missing:
        raise ProfileError(
            f"{origin}: field 'energy/mac_pj': no energy for precision(s) {sorted(missing)} "
            "that 'peak_macs_per_cycle' lists"
        )
    if data["default_precision"] not in data["peak_macs_per_cycle"]:
        raise ProfileError(
            f"{origin}: field 'default_precision': '{data['default_precision']}' is not one of "
            f"the precisions in 'peak_macs_per_cycle' {sorted(data['peak_macs_per_cycle'])}"
        )
    for i, level in enumerate(data["memory"][:-1]):
        if level["capacity_bytes"] is None:
            raise ProfileError(
                f"{origin}: field 'memory/{i}/capacity_bytes': only the last level (the backing "
                "store) may be unbounded (null)"
            )
    names = [lvl["name"] for lvl in data["memory"]]
    if len(set(names)) != len(names):
        raise ProfileError(f"{origin}: field 'memory': level names must be unique, got {names}")


def build_profile(
    data: Mapping[str, Any], origin: str, arch_type: type[ArchSpec], *, source: str | None = None
) -> Profile:
    """Validate ``data`` (common fields, then the class's ``arch``) and build the profile.
    ``origin`` names the data in error messages; ``source`` is recorded (default: origin)."""
    validate_profile_data(data, origin)
    if data["hw_class"] != arch_type.HW_CLASS:
        raise ProfileError(
            f"{origin}: field 'hw_class': '{data['hw_class']}' does not match the "
            f"{arch_type.HW_CLASS} arch section it is read with"
        )
    arch = arch_type.from_data(data.get("arch"), origin)
    clock = float(data["clock_hz"])
    levels = []
    for lvl in data["memory"]:
        per_cycle = lvl.get("bandwidth_bytes_per_cycle")
        bw = (
            float(per_cycle)
            if per_cycle is not None
            else float(lvl["bandwidth_bytes_per_s"]) / clock
        )
        cap = lvl.get("capacity_bytes")
        levels.append(
            MemoryLevel(
                name=lvl["name"],
                capacity_bytes=math.inf if cap is None else float(cap),
                bandwidth_bytes_per_cycle=bw * float(lvl.get("efficiency", 1.0)),
                read_energy_pj_per_byte=float(lvl["read_energy_pj_per_byte"]),
                write_energy_pj_per_byte=float(
                    lvl.get("write_energy_pj_per_byte", lvl["read_energy_pj_per_byte"])
                ),
                holds_weights=bool(lvl.get("holds_weights", True)),
            )
        )
    energy = data["energy"]
    overhead = data.get("overhead", {})
    sparsity = data.get("sparsity", {})
    return Profile(
        name=data["name"],
        hw_class=data["hw_class"],
        clock_hz=clock,
        peak_macs_per_cycle=FrozenDict(
            {k: float(v) for k, v in data["peak_macs_per_cycle"].items()}
        ),
        vector_ops_per_cycle=float(data["vector_ops_per_cycle"]),
        default_precision=data["default_precision"],
        memory=tuple(levels),
        energy=EnergyTable(
            mac_pj=FrozenDict({k: float(v) for k, v in energy["mac_pj"].items()}),
            vector_op_pj=float(energy["vector_op_pj"]),
            static_power_w=float(energy["static_power_w"]),
        ),
        arch=arch,
        per_op_overhead_cycles=float(overhead.get("per_op_cycles", 0.0))
        + float(overhead.get("per_op_s", 0.0)) * clock,
        sparsity_patterns=tuple(p for p in SPARSITY_PATTERNS if p in sparsity.get("patterns", ())),
        compressed_weights=bool(sparsity.get("compressed_weights", False)),
        fuse_pointwise=bool(data.get("fuse_pointwise", True)),
        area=_area_spec(data.get("area")),
        info=deep_freeze(data.get("info", {})),
        description=data.get("description", ""),
        source=origin if source is None else source,
        data=deep_freeze(data),
    )


def _area_spec(data: Mapping[str, Any] | None) -> AreaSpec | None:
    if data is None:
        return None
    values = {k: v for k, v in data.items() if k != "mac_um2"}
    mac = FrozenDict({k: float(v) for k, v in data.get("mac_um2", {}).items()})
    return AreaSpec(**{k: float(v) for k, v in values.items()}, mac_um2=mac)

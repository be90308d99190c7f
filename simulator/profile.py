"""Hardware profiles: loading, validating and describing one piece of hardware.

A profile is data, not code: YAML validated against ``PROFILE_SCHEMA`` and turned into a frozen
``Profile``. Numbers common to every hardware class (clock, peaks per precision, a memory
hierarchy, energy per action) are typed fields; what only one class needs (array shape, SM
count, DSP budget) lives in ``arch`` and is read by that class's cost model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from .errors import ProfileError
from .profile_schema import PROFILE_SCHEMA
from .scalesim_cfg import profile_data_from_cfg
from .yamlio import read_yaml

PRESET_PACKAGE = "hwsim.hw_profiles"


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
    mac_pj: Mapping[str, float]
    vector_op_pj: float
    static_power_w: float


@dataclass(frozen=True)
class Profile:
    name: str
    hw_class: str
    clock_hz: float
    peak_macs_per_cycle: Mapping[str, float]
    vector_ops_per_cycle: float
    default_precision: str
    memory: tuple[MemoryLevel, ...]
    energy: EnergyTable
    per_op_overhead_cycles: float = 0.0
    sparsity_patterns: frozenset[str] = frozenset()
    compressed_weights: bool = False
    fuse_pointwise: bool = True
    description: str = ""
    arch: Mapping[str, Any] = field(default_factory=dict)
    source: str = ""  # file the profile was read from

    @property
    def precisions(self) -> frozenset[str]:
        return frozenset(self.peak_macs_per_cycle)

    def level(self, name: str) -> MemoryLevel:
        for lvl in self.memory:
            if lvl.name == name:
                return lvl
        raise KeyError(name)

    def execution_precision(self, precision: str) -> str:
        """The precision an op of ``precision`` runs at here: its own if supported, else the
        profile's default (what the vendor toolchain converts the model to)."""
        return precision if precision in self.peak_macs_per_cycle else self.default_precision


def _read_yaml(path: Path) -> dict[str, Any]:
    data = read_yaml(path, "profile", ProfileError)
    if not isinstance(data, dict):
        raise ProfileError(f"{path}: a profile must be a YAML mapping of fields")
    return data


def validate_profile_data(data: Mapping[str, Any], origin: str) -> None:
    """Raise ``ProfileError`` naming the first field that breaks the schema or the invariants
    the schema cannot express."""
    for i, level in enumerate(data.get("memory") or []):
        if isinstance(level, dict):
            forms = [
                k for k in ("bandwidth_bytes_per_s", "bandwidth_bytes_per_cycle") if k in level
            ]
            if len(forms) != 1:
                raise ProfileError(
                    f"{origin}: field 'memory/{i}': give exactly one of bandwidth_bytes_per_s "
                    f"and bandwidth_bytes_per_cycle (found {len(forms)})"
                )
    validator = jsonschema.Draft202012Validator(PROFILE_SCHEMA)
    error = jsonschema.exceptions.best_match(validator.iter_errors(data))
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


def profile_from_data(data: Mapping[str, Any], origin: str) -> Profile:
    validate_profile_data(data, origin)
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
                capacity_bytes=float("inf") if cap is None else float(cap),
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
        peak_macs_per_cycle={k: float(v) for k, v in data["peak_macs_per_cycle"].items()},
        vector_ops_per_cycle=float(data["vector_ops_per_cycle"]),
        default_precision=data["default_precision"],
        memory=tuple(levels),
        energy=EnergyTable(
            mac_pj={k: float(v) for k, v in energy["mac_pj"].items()},
            vector_op_pj=float(energy["vector_op_pj"]),
            static_power_w=float(energy["static_power_w"]),
        ),
        per_op_overhead_cycles=float(overhead.get("per_op_cycles", 0.0))
        + float(overhead.get("per_op_s", 0.0)) * clock,
        sparsity_patterns=frozenset(sparsity.get("patterns", ())),
        compressed_weights=bool(sparsity.get("compressed_weights", False)),
        fuse_pointwise=bool(data.get("fuse_pointwise", True)),
        description=data.get("description", ""),
        arch=dict(data.get("arch", {})),
        source=origin,
    )


def preset_names() -> list[str]:
    root = resources.files(PRESET_PACKAGE)
    return sorted(p.name[: -len(".yaml")] for p in root.iterdir() if p.name.endswith(".yaml"))


def preset_path(name: str) -> Path:
    return Path(str(resources.files(PRESET_PACKAGE).joinpath(f"{name}.yaml")))


HOST_PROFILE = "host"  # the calibrated profile of the machine hwsim runs on


def load_host_profile() -> Profile:
    """This machine's calibrated profile, measured now (``hwsim calibrate``) if it was never
    measured; the CLI announces the calibration on stderr before calling this."""
    from .calibrate import host_profile_path, write_host_profile

    path = host_profile_path()
    if not path.exists():
        write_host_profile(path)
    return profile_from_data(_read_yaml(path), str(path))


def load_profile(hw: str | Path | Profile) -> Profile:
    """A profile from a preset name, a YAML path, or a ``Profile`` passed through."""
    if isinstance(hw, Profile):
        return hw
    text = str(hw)
    if text == HOST_PROFILE:
        return load_host_profile()
    path = Path(text)
    if path.suffix.lower() == ".cfg":  # a SCALE-Sim config
        if not path.exists():
            raise ProfileError(f"{path}: SCALE-Sim config file not found")
        return profile_from_data(profile_data_from_cfg(path), str(path))
    if path.suffix.lower() in (".yaml", ".yml") or path.exists():
        if not path.exists():
            raise ProfileError(f"{path}: profile file not found")
        return profile_from_data(_read_yaml(path), str(path))
    if text in preset_names():
        return profile_from_data(_read_yaml(preset_path(text)), f"{text}.yaml")
    raise ProfileError(
        f"unknown hardware profile '{text}': not a file, and not a preset "
        f"({', '.join(preset_names())}); see 'hwsim profiles'"
    )

"""The sweep spec: what a co-design study varies, on which workloads, under which limits.

A spec is a small YAML file (docs/codesign.md)::

    base: tpu_edge                 # a preset or a profile YAML (relative to the spec)
    workloads: [resnet50, model.pt2]
    params:                        # dotted keys, as Profile.with_params takes them
      arch.rows: [16, 32, 64]
      clock_hz: [5.0e8, 1.0e9]
    derived:                       # optional: keys computed from the swept ones
      peak_macs_per_cycle.int8: arch.rows * arch.cols
    variants: [dense, int8]        # optional, as hwsim compare --variants
    batch: [1]                     # optional
    sample: grid                   # grid | random:N | optuna:N
    seed: 0                        # optional: random and optuna sampling
    constraints: {area_mm2: "<= 25", power_w: "<= 5"}

It is read with the strict YAML loader and checked whole before anything runs: every error is
one line naming the key at fault. Each swept value is tried on the base profile on its own, so
an unknown key or a value the profile schema refuses fails here, not ten minutes into a run.
"""

from __future__ import annotations

import hashlib
import json
import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..area import has_area_model
from ..compression import parse_variant
from ..errors import HwsimError, ProfileError
from ..hardware import Profile
from ..profile import load_profile
from ..workloads import get_workload, is_workload_name, workload_names
from ..yamlio import read_yaml
from .derive import Formula, FormulaError, parse_formula


class SweepError(HwsimError):
    """A sweep spec or output directory the user has to fix."""


# What a constraint may bound: the row's objectives and its average power.
METRICS = ("latency_s", "energy_j", "area_mm2", "power_w")
_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    "<": operator.lt,
    ">=": operator.ge,
    ">": operator.gt,
}
_CONSTRAINT = re.compile(r"^\s*(<=|>=|<|>)\s*(\S+)\s*$")
_SAMPLE = re.compile(r"^(grid|random:(\d+)|optuna:(\d+))$")
_KEYS = (
    "base",
    "workloads",
    "params",
    "derived",
    "variants",
    "batch",
    "sample",
    "seed",
    "constraints",
)


@dataclass(frozen=True)
class Constraint:
    """``metric op bound``, e.g. ``area_mm2 <= 25``."""

    metric: str
    op: str
    bound: float

    def holds(self, value: float) -> bool:
        return _COMPARE[self.op](value, self.bound)

    def violation(self, value: float) -> float:
        """How far ``value`` is on the wrong side (0 when it holds); NSGA-II ranks by it."""
        if self.holds(value):
            return 0.0
        return abs(value - self.bound) / max(abs(self.bound), 1e-30)

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.bound:g}"


@dataclass(frozen=True)
class Sample:
    """How design points are drawn: the whole grid, N distinct grid points at random, or N
    trials of Optuna's NSGA-II on the objectives (latency, energy, area)."""

    kind: str  # grid | random | optuna
    n: int | None = None

    def __str__(self) -> str:
        return self.kind if self.n is None else f"{self.kind}:{self.n}"


@dataclass(frozen=True)
class SweepSpec:
    base: str  # preset name or resolved path
    workloads: tuple[str, ...]  # workload names or resolved paths
    params: tuple[tuple[str, tuple[Any, ...]], ...]  # swept key -> values, in spec order
    derived: tuple[Formula, ...] = ()  # keys computed from the swept ones, in order
    variants: tuple[str, ...] = ("dense",)
    batch: tuple[int, ...] = (1,)
    sample: Sample = Sample("grid")
    seed: int = 0
    constraints: tuple[Constraint, ...] = ()
    # What the base profile and the workload files hold (not only their names): a resumed
    # run whose profile YAML or model file was edited must not mix old rows with new ones.
    inputs: str = ""

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(key for key, _ in self.params)

    @property
    def columns(self) -> tuple[str, ...]:
        """The profile keys a row records: swept, then derived."""
        return (*self.keys, *(f.key for f in self.derived))

    @property
    def grid_size(self) -> int:
        return math.prod(len(values) for _, values in self.params)

    def digest(self) -> str:
        """Identifies the sweep's work: a resumed run must have the same one."""
        data = {
            "base": self.base,
            "workloads": self.workloads,
            "params": [[k, list(v)] for k, v in self.params],
            "derived": [[f.key, f.text] for f in self.derived],
            "variants": self.variants,
            "batch": self.batch,
            "sample": str(self.sample),
            "seed": self.seed,
            "inputs": self.inputs,
        }
        text = json.dumps(data, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def load_spec(path: Path) -> SweepSpec:
    """Read and check a spec file (see the module doc); ``SweepError`` names the bad key."""
    data = read_yaml(path, "sweep spec", SweepError)
    if not isinstance(data, Mapping):
        raise SweepError(f"{path}: a sweep spec is a mapping with keys {', '.join(_KEYS)}")
    return parse_spec(data, path)


def parse_spec(data: Mapping[str, Any], path: Path) -> SweepSpec:
    """The spec in ``data`` (read from ``path``; relative files resolve against its folder)."""
    for key in data:
        if key not in _KEYS:
            raise SweepError(f"{path}: key '{key}': unknown (known: {', '.join(_KEYS)})")
    for key in ("base", "workloads", "params"):
        if key not in data:
            raise SweepError(f"{path}: key '{key}': missing")
    here = path.parent
    base = _resolve(_string(data["base"], path, "base"), here)
    profile = _base_profile(base, path)
    workloads = tuple(
        _workload(_string(w, path, "workloads"), here, path)
        for w in _list(data["workloads"], path, "workloads")
    )
    params = _params(data["params"], profile, path)
    derived = _derived(data.get("derived", {}), params, profile, path)
    variants = tuple(
        _string(v, path, "variants")
        for v in _list(data.get("variants", ["dense"]), path, "variants")
    )
    _check_variants(variants, path)
    batch = tuple(_batch(b, path) for b in _list(data.get("batch", [1]), path, "batch"))
    sample = _sample(data.get("sample", "grid"), path)
    seed = data.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise SweepError(f"{path}: key 'seed': expected an integer, got {seed!r}")
    spec = SweepSpec(
        base=base,
        workloads=workloads,
        params=params,
        derived=derived,
        variants=variants,
        batch=batch,
        sample=sample,
        seed=seed,
        constraints=_constraints(data.get("constraints", {}), path),
        inputs=_inputs_digest(profile, workloads),
    )
    if any(c.metric == "area_mm2" for c in spec.constraints) and not has_area_model(profile):
        raise SweepError(
            f"{path}: key 'constraints.area_mm2': {profile.name} has no area model (an 'area' "
            "section, docs/codesign.md)"
        )
    if sample.kind == "random" and sample.n is not None and sample.n > spec.grid_size:
        raise SweepError(
            f"{path}: key 'sample': random:{sample.n} asks for more points than the grid has "
            f"({spec.grid_size}); use 'grid'"
        )
    return spec


def _inputs_digest(profile: Profile, workloads: tuple[str, ...]) -> str:
    """A digest of the base profile's data and of each workload file's bytes."""
    digest = hashlib.sha256(json.dumps(profile.to_data(), sort_keys=True, default=str).encode())
    for workload in workloads:
        if Path(workload).is_file():
            with Path(workload).open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()[:16]


def _resolve(text: str, here: Path) -> str:
    """A name stays a name; a path (it has a suffix or a slash) resolves against the spec."""
    if "/" in text or Path(text).suffix:
        candidate = Path(text) if Path(text).is_absolute() else here / text
        return str(candidate.resolve())
    return text


def _workload(text: str, here: Path, path: Path) -> str:
    """An existing model file (relative to the spec), a built-in workload's name or a family
    member's (``mobilenet_v1:0.5_160``): checked here, as the loader will resolve it, not
    after the workloads before it have been traced."""
    resolved = _resolve(text, here)
    if Path(resolved).is_file():
        return resolved
    if is_workload_name(text):
        try:
            get_workload(text)  # a family member's spec is parsed, nothing is built
        except ValueError as exc:
            raise SweepError(f"{path}: key 'workloads': {text}: {exc}") from None
        return text
    if resolved != text or "/" in text:
        raise SweepError(f"{path}: key 'workloads': {text}: no such file ({resolved})")
    raise SweepError(
        f"{path}: key 'workloads': {text}: neither a file nor a built-in workload "
        f"({', '.join(workload_names())})"
    )


def _string(value: Any, path: Path, key: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise SweepError(f"{path}: key '{key}': expected a name, got {value!r}")
    return str(value)


def _list(value: Any, path: Path, key: str) -> list[Any]:
    values = value if isinstance(value, list) else [value]
    if not values:
        raise SweepError(f"{path}: key '{key}': empty list")
    if len({json.dumps(v, sort_keys=True, default=str) for v in values}) != len(values):
        raise SweepError(f"{path}: key '{key}': values repeat")
    return values


def _base_profile(base: str, path: Path) -> Profile:
    try:
        return load_profile(base)
    except ProfileError as exc:
        raise SweepError(f"{path}: key 'base': {exc}") from None


def _params(value: Any, profile: Profile, path: Path) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    if not isinstance(value, Mapping) or not value:
        raise SweepError(
            f"{path}: key 'params': expected a mapping of dotted profile keys to lists of "
            "values, e.g. arch.rows: [16, 32]"
        )
    out = []
    for key, values in value.items():
        where = f"params.{key}"
        items = _list(values, path, where)
        for item in items:
            try:
                profile.with_params({str(key): item})
            except ProfileError as exc:
                raise SweepError(f"{path}: key '{where}': value {item!r}: {exc}") from None
        out.append((str(key), tuple(items)))
    return tuple(out)


def _derived(
    value: Any, params: tuple[tuple[str, tuple[Any, ...]], ...], profile: Profile, path: Path
) -> tuple[Formula, ...]:
    """Formulas over the swept keys, each checked on the grid's first point."""
    if not isinstance(value, Mapping):
        raise SweepError(f"{path}: key 'derived': expected a mapping of keys to formulas")
    known = {key for key, _ in params}
    first = {key: values[0] for key, values in params}
    out: list[Formula] = []
    for key, text in value.items():
        where = f"derived.{key}"
        if key in known:
            raise SweepError(f"{path}: key '{where}': also swept in params")
        try:
            formula = parse_formula(str(key), str(text), frozenset(known))
            first[str(key)] = formula(first)
            profile.with_params(first)
        except (FormulaError, ProfileError) as exc:
            raise SweepError(f"{path}: key '{where}': {exc}") from None
        except (ArithmeticError, TypeError) as exc:
            raise SweepError(f"{path}: key '{where}': {exc} at the first grid point") from None
        known.add(str(key))
        out.append(formula)
    return tuple(out)


def _check_variants(variants: tuple[str, ...], path: Path) -> None:
    for v in variants:
        try:
            parse_variant(v, ".*")
        except HwsimError as exc:
            raise SweepError(f"{path}: key 'variants': {exc}") from None


def _batch(value: Any, path: Path) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SweepError(f"{path}: key 'batch': expected positive integers, got {value!r}")
    return value


def _sample(value: Any, path: Path) -> Sample:
    match = _SAMPLE.match(str(value)) if isinstance(value, str) else None
    if match is None:
        raise SweepError(
            f"{path}: key 'sample': expected grid, random:N or optuna:N, got {value!r}"
        )
    kind = match.group(1).split(":")[0]
    n = match.group(2) or match.group(3)
    if n is not None and int(n) < 1:
        raise SweepError(f"{path}: key 'sample': N must be at least 1")
    return Sample(kind, int(n) if n is not None else None)


def _constraints(value: Any, path: Path) -> tuple[Constraint, ...]:
    if not isinstance(value, Mapping):
        raise SweepError(f"{path}: key 'constraints': expected a mapping like area_mm2: '<= 25'")
    out = []
    for metric, text in value.items():
        where = f"constraints.{metric}"
        if metric not in METRICS:
            raise SweepError(f"{path}: key '{where}': unknown metric (known: {', '.join(METRICS)})")
        match = _CONSTRAINT.match(str(text))
        bound = _number(match.group(2)) if match else None
        if match is None or bound is None:
            raise SweepError(
                f"{path}: key '{where}': expected a comparison like '<= 25', got {text!r}"
            )
        out.append(Constraint(str(metric), match.group(1), bound))
    return tuple(out)


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None

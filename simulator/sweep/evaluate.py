"""Pricing design points: what a sweep's workers run.

A worker receives the traced graphs once (``Payload``) and then chunks of design points. For
each point it builds the profile (``Profile.with_params``: the same validation a YAML file
goes through), its area once, and prices every (workload, variant, batch) graph through
``estimate.price``, the one pricing path the CLI uses too, so a row equals ``hwsim estimate
... --set KEY=VALUE``. Only the totals are read: the per-op table is never built.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import networkx as nx

from ..area import area_of, average_power_w, has_area_model
from ..errors import ProfileError
from ..estimate import price
from ..graph import OpGraph
from ..hardware import Profile
from .derive import Formula, apply
from .points import grid_digits
from .spec import SweepError


@dataclass(frozen=True)
class Case:
    """One graph a design point is priced on."""

    workload: str
    variant: str
    batch: int


@dataclass(frozen=True)
class Payload:
    """Everything a worker needs besides the points: shipped to each worker once."""

    base: Profile
    keys: tuple[str, ...]
    values: tuple[tuple[Any, ...], ...]  # per key, the spec's values (points index them)
    derived: tuple[Formula, ...]
    cases: tuple[tuple[Case, OpGraph], ...]


# The columns a chunk returns besides the swept keys, in order.
RESULT_COLUMNS = (
    "point",
    "workload",
    "variant",
    "batch",
    "latency_s",
    "energy_j",
    "area_mm2",
    "power_w",
    "throughput_fps",
    "complete",
)
AREA_COMPONENTS = ("mac_array", "registers", "vector", "sram", "uncore")


def pricing_graph(graph: OpGraph, *, keep_weights: bool) -> OpGraph:
    """The part of ``graph`` pricing reads: the ops and their order, edge bytes, and the real
    weight tensors only when a profile may ask for them (unstructured zero-skipping on a
    systolic array counts non-zeros per column tile). The exported program and the
    compression records (notes only) stay behind: they are most of a pickled graph."""
    dag = nx.DiGraph()
    for node, attrs in graph.dag.nodes(data=True):
        kept = {k: attrs[k] for k in ("op", "position") if k in attrs}
        if keep_weights and "weight" in attrs:
            kept["weight"] = attrs["weight"]
        dag.add_node(node, **kept)
    dag.add_edges_from(graph.dag.edges(data=True))
    return OpGraph(dag=dag, info=graph.info)


def price_points(payload: Payload, points: Sequence[int]) -> dict[str, list[Any]]:
    """Rows (as columns) for every point x case; the swept keys hold the points' values."""
    derived_keys = tuple(f.key for f in payload.derived)
    columns: dict[str, list[Any]] = {
        name: [] for name in (*payload.keys, *derived_keys, *RESULT_COLUMNS)
    }
    for name in AREA_COMPONENTS:
        columns[f"area_{name}_mm2"] = []
    sizes = [len(v) for v in payload.values]
    for point in points:
        digits = grid_digits(point, sizes)
        chosen = {k: v[d] for k, v, d in zip(payload.keys, payload.values, digits, strict=True)}
        try:
            params = apply(payload.derived, chosen)
            profile = payload.base.with_params(params)
        except (ProfileError, ArithmeticError, TypeError) as exc:
            raise SweepError(f"design point {chosen}: {exc}") from None
        area = area_of(profile).components if has_area_model(profile) else None
        area_total = sum(area.values()) if area is not None else math.nan
        for case, graph in payload.cases:
            est = price(graph, profile)
            total = est.total
            energy = total.total_energy_j
            latency = total.latency_s
            fps = est.throughput_fps
            rate = fps / graph.info.batch if fps else 0.0
            static = total.energy_j.get("static", 0.0)
            for key, value in params.items():
                columns[key].append(value)
            columns["point"].append(point)
            columns["workload"].append(case.workload)
            columns["variant"].append(case.variant)
            columns["batch"].append(case.batch)
            columns["latency_s"].append(latency)
            columns["energy_j"].append(energy)
            columns["area_mm2"].append(area_total)
            columns["power_w"].append(average_power_w(profile, energy, static, rate))
            columns["throughput_fps"].append(fps if fps is not None else math.nan)
            columns["complete"].append(est.complete)
            for name in AREA_COMPONENTS:
                columns[f"area_{name}_mm2"].append(
                    area.get(name, 0.0) if area is not None else math.nan
                )
    return columns


def objectives(columns: Mapping[str, Sequence[Any]], point: int) -> tuple[float, float, float]:
    """One design point's (latency, energy, area) over all its cases: the geometric mean of
    latency and of energy (each case weighs the same whatever its scale), and its area."""
    rows = [i for i, p in enumerate(columns["point"]) if p == point]

    def geomean(name: str) -> float:
        logs = (math.log(max(float(columns[name][i]), 1e-300)) for i in rows)
        return math.exp(sum(logs) / len(rows))

    return geomean("latency_s"), geomean("energy_j"), float(columns["area_mm2"][rows[0]])

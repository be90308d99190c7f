"""``hwsim compare``: one model, several compression variants, several hardware profiles.

The question it answers is the one users bring before deploying: what does 2:4, 80%
unstructured, int8 or int4 *buy* on each target. The model is traced once; each variant
compresses a copy of the graph once; each (variant, profile) pair is priced. Speedup and
energy ratio are against the dense (as-traced) model on the same profile, so they are never
mixed across hardware.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import pandas as pd

from .compression import Variant, compress, parse_variant
from .compression.sqnr import output_sqnr
from .costmodels.weight_storage import weight_format
from .estimate import Estimate, check_precision_agrees, check_schedule, price
from .graph import OpGraph
from .hardware import Profile
from .ops import MAC_KINDS
from .profile import load_profile


@dataclass(frozen=True)
class ComparisonRow:
    """One (hardware, variant) cell of the comparison; the JSON/CSV contract."""

    hw: str
    variant: str
    latency_s: float
    energy_j: float
    weight_bytes: float  # as stored on this hardware, sparse-format metadata included
    weight_formats: str  # e.g. "2:4 x20, dense x1"
    peak_activation_bytes: int  # at the schedule, as this hardware stores them (int8: 1 byte)
    macs: int
    speedup: float  # dense latency / this latency, same hardware
    energy_ratio: float  # this energy / dense energy, same hardware
    throughput_fps: float | None
    complete: bool
    sqnr_db: float | None = None  # accuracy proxy (end-to-end output SQNR), if asked for
    schedule: str = "traced"  # the operator order peak_activation_bytes is for


def _formats(est: Estimate) -> str:
    """How many MAC layers store their weights in each format on this hardware."""
    counts: dict[str, int] = {}
    for op, cost in est.costs:
        if op.kind in MAC_KINDS and op.weight is not None and cost is not None:
            fmt = weight_format(op, est.profile, cost.precision).fmt
            counts[fmt] = counts.get(fmt, 0) + 1
    return ", ".join(f"{fmt} x{n}" for fmt, n in sorted(counts.items(), key=lambda kv: -kv[1]))


def compare(
    graph: OpGraph,
    hws: Sequence[str | Profile],
    variants: Sequence[str | Variant],
    *,
    precision: str | None = None,
    layers: str = ".*",
    sqnr: bool = False,
    progress: Callable[[str], None] | None = None,
    schedule: str = "traced",
) -> pd.DataFrame:
    """Rows of :class:`ComparisonRow` for every (profile, variant), dense baseline first;
    peak activation memory is for ``schedule`` (as ``estimate`` reports it)."""
    check_schedule(schedule)
    profiles = [load_profile(hw) for hw in hws]
    parsed = [v if isinstance(v, Variant) else parse_variant(v, layers) for v in variants]
    for v in parsed:
        check_precision_agrees(precision, v.rules, f"variant '{v.name}'")
    if not any(v.is_dense for v in parsed):
        parsed.insert(0, Variant("dense"))
    dense = {p.name: price(graph, p, precision=precision, schedule=schedule) for p in profiles}
    rows = []
    for variant in parsed:
        if progress is not None:
            progress(f"variant {variant.name}")
        compressed = graph if variant.is_dense else compress(graph, variant.rules)
        proxy = None
        if sqnr:
            proxy = output_sqnr(graph, compressed).output_db if not variant.is_dense else None
        for profile in profiles:
            est = (
                dense[profile.name]
                if variant.is_dense
                else price(compressed, profile, precision=precision, schedule=schedule)
            )
            base = dense[profile.name]
            rows.append(
                ComparisonRow(
                    hw=profile.name,
                    variant=variant.name,
                    latency_s=est.latency_s,
                    energy_j=est.energy_j,
                    weight_bytes=est.model_weight_bytes,
                    weight_formats=_formats(est),
                    peak_activation_bytes=est.peak_activation_bytes,
                    macs=compressed.macs,
                    speedup=base.latency_s / est.latency_s if est.latency_s else float("nan"),
                    energy_ratio=est.energy_j / base.energy_j if base.energy_j else float("nan"),
                    throughput_fps=est.throughput_fps,
                    complete=est.complete,
                    sqnr_db=proxy,
                    schedule=schedule,
                )
            )
    return pd.DataFrame([asdict(r) for r in rows])

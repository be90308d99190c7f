"""Pictures of an estimate: ops on the profile's roofline, and per-layer latency bars.

Both work from an ``Estimate`` alone and use matplotlib's object API (a ``Figure`` with its own
canvas: no pyplot state, no display needed). ``PLOTS`` maps a kind to its figure maker, as the
cost models map op kinds to prices; ``save_plot`` writes one (PNG, SVG or PDF from the suffix).

- ``roofline``: each op at its arithmetic intensity (operations per byte at the memory level
  that bounds it) against the rate it reaches, under the profile's ceilings: the MAC peak at
  each precision the ops ran at, the vector unit, and one bandwidth slope per memory level. A
  point's area is its share of the latency; its colour, its bound.
- ``layers``: latency per op in execution order (the ``top`` slowest when there are many),
  coloured by bound, so where the time goes is one glance.
- ``timeline``: the Chrome trace (``trace_events``) drawn as a Gantt chart, one row per
  engine, for a picture of the schedule without opening Perfetto.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .cost import Bound, OpCost
from .errors import HwsimError
from .estimate import Estimate
from .ops import MAC_KINDS, Op
from .render import shorten_middle

if TYPE_CHECKING:
    from matplotlib.figure import Figure

BOUND_COLOURS = {
    Bound.COMPUTE: "#1f77b4",
    Bound.MEMORY: "#ff7f0e",
    Bound.LAUNCH: "#d62728",
    Bound.PIPELINE: "#9467bd",
    Bound.FREE: "#7f7f7f",
}
_LABELLED = 6  # slowest ops named on the roofline
_NAME_WIDTH = 44


def _priced(est: Estimate) -> list[tuple[Op, OpCost]]:
    return [(op, c) for op, c in est.costs if c is not None and c.cycles > 0]


def operations(op: Op) -> float:
    """Arithmetic operations of an op: two per MAC (multiply and add), else its FLOPs."""
    return 2.0 * op.macs if op.kind in MAC_KINDS else float(op.flops)


def binding_level(cost: OpCost, est: Estimate) -> tuple[str, float] | None:
    """(memory level, bytes) of the level whose traffic takes longest for this op; for an op
    that touches none of the profile's levels (served from buffers inside the engine, such as
    a systolic array's operand SRAMs), the buffer it moves most bytes through."""
    best: tuple[float, str, float] | None = None
    for level in est.profile.memory:
        moved = cost.bytes_at(level.name)
        if moved <= 0 or level.bandwidth_bytes_per_cycle <= 0:
            continue
        time = moved / level.bandwidth_bytes_per_cycle
        if best is None or time > best[0]:
            best = (time, level.name, moved)
    if best is not None:
        return best[1], best[2]
    moved_by = {name: cost.bytes_at(name) for name in {*cost.bytes_read, *cost.bytes_written}}
    busiest = max(moved_by, key=lambda name: moved_by[name], default=None)
    return (busiest, moved_by[busiest]) if busiest and moved_by[busiest] > 0 else None


def _figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure  # deferred: matplotlib takes a second to import

    return Figure(figsize=(width, height), layout="constrained")


def roofline_figure(est: Estimate) -> Figure:
    """Ops on the hierarchical roofline of the estimate's profile."""
    profile = est.profile
    clock = profile.clock_hz
    points = []
    for op, cost in _priced(est):
        binding = binding_level(cost, est)
        work = operations(op)
        if binding is None or work <= 0:
            continue
        points.append((op, cost, work / binding[1], work / cost.latency_s))
    fig = _figure(8.0, 5.5)
    ax = fig.add_subplot()
    ax.set_xscale("log")
    ax.set_yscale("log")
    if not points:
        ax.text(
            0.5, 0.5, "no op does arithmetic through memory", ha="center", transform=ax.transAxes
        )
        return fig
    xs = [p[2] for p in points]
    lo, hi = min(xs) / 4, max(xs) * 4
    precisions = sorted({c.precision for op, c, *_ in points if op.kind in MAC_KINDS})
    peaks = {
        p: 2 * profile.peak_macs_per_cycle[p] * clock
        for p in precisions
        if p in profile.peak_macs_per_cycle
    }
    top = max(peaks.values(), default=0.0)
    vector = profile.vector_ops_per_cycle * clock
    top = max(top, vector, max(p[3] for p in points))
    for name, peak in sorted(peaks.items(), key=lambda kv: -kv[1]):
        ax.axhline(peak, color="black", lw=1.2)
        ax.annotate(
            f"{name} MAC peak {_rate(peak, 'op/s')}",
            (hi, peak),
            ha="right",
            va="bottom",
            fontsize=8,
        )
    ax.axhline(vector, color="black", lw=1.0, ls="--")
    ax.annotate(
        f"vector {_rate(vector, 'op/s')}", (hi, vector), ha="right", va="bottom", fontsize=8
    )
    bottom = min(p[3] for p in points) / 4
    for level in profile.memory:
        bandwidth = level.bandwidth_bytes_per_cycle * clock
        if bandwidth <= 0:
            continue
        right = min(hi, top / bandwidth)
        ax.plot([lo, right], [bandwidth * lo, bandwidth * right], color="grey", lw=1.0)
        left = max(lo, bottom / bandwidth)
        if left < right:  # label the slope where it is on the plot
            x = (left * right) ** 0.5
            ax.annotate(
                f"{level.name} {_rate(bandwidth, 'B/s')}",
                (x, bandwidth * x),
                fontsize=8,
                color="dimgrey",
                ha="right",
                va="bottom",
            )
    total = est.latency_s or 1.0
    for bound in Bound:
        chosen = [p for p in points if p[1].bound is bound]
        if chosen:
            ax.scatter(
                [p[2] for p in chosen],
                [p[3] for p in chosen],
                s=[20 + 600 * p[1].latency_s / total for p in chosen],
                color=BOUND_COLOURS[bound],
                alpha=0.7,
                edgecolors="white",
                linewidths=0.5,
                label=f"{bound}-bound",
            )
    for op, _, x, y in sorted(points, key=lambda p: -p[1].cycles)[:_LABELLED]:
        ax.annotate(
            shorten_middle(op.name, 28),
            (x, y),
            fontsize=7,
            xytext=(4, 4),
            textcoords="offset points",
        )
    ax.set_xlim(lo, hi)
    ax.set_ylim(bottom, top * 2)
    ax.set_xlabel("arithmetic intensity (operations per byte at the binding memory level)")
    ax.set_ylabel("achieved operations per second")
    ax.set_title(_title(est))
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(True, which="major", alpha=0.3)
    return fig


def layers_figure(est: Estimate, top: int = 40) -> Figure:
    """Latency per op, in execution order, coloured by bound (the ``top`` slowest ops when
    there are more, the rest summed in one bar)."""
    priced = _priced(est)
    shown = priced
    rest: list[tuple[Op, OpCost]] = []
    if len(priced) > top:
        keep = {op.id for op, c in sorted(priced, key=lambda p: -p[1].cycles)[:top]}
        shown = [p for p in priced if p[0].id in keep]
        rest = [p for p in priced if p[0].id not in keep]
    scale, unit = _time_unit(max((c.latency_s for _, c in priced), default=0.0))
    labels = [shorten_middle(op.name, _NAME_WIDTH) for op, _ in shown]
    values = [c.latency_s * scale for _, c in shown]
    colours = [BOUND_COLOURS[c.bound] for _, c in shown]
    if rest:
        labels.append(f"{len(rest)} other ops")
        values.append(sum(c.latency_s for _, c in rest) * scale)
        colours.append("#c7c7c7")
    fig = _figure(9.0, 1.2 + 0.22 * max(len(labels), 4))
    ax = fig.add_subplot()
    rows = list(range(len(labels)))
    ax.barh(rows, values, color=colours)
    ax.set_yticks(rows, labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel(f"latency ({unit})")
    ax.set_title(_title(est))
    from matplotlib.patches import Patch

    used = [b for b in Bound if any(c.bound is b for _, c in shown)]
    handles = [Patch(color=BOUND_COLOURS[b], label=f"{b}-bound") for b in used]
    ax.legend(handles=handles, loc="lower right", fontsize=8)
    ax.grid(True, axis="x", alpha=0.3)
    return fig


def timeline_figure(est: Estimate) -> Figure:
    """The estimate's trace events as bars on one row per track, coloured by bound."""
    from .trace_events import trace_events

    events = trace_events(est)
    names = {e["tid"]: e["args"]["name"] for e in events if e.get("name") == "thread_name"}
    spans = [e for e in events if e["ph"] == "X"]
    tracks = [t for t in names if any(e["tid"] == t for e in spans)]
    scale, unit = _time_unit(est.latency_s)
    fig = _figure(10.0, 1.4 + 0.45 * max(len(tracks), 3))
    ax = fig.add_subplot()
    for row, track in enumerate(tracks):
        mine = [e for e in spans if e["tid"] == track]
        bounds = [Bound(e["args"]["bound"]) if "bound" in e["args"] else None for e in mine]
        ax.broken_barh(
            [(e["ts"] * 1e-6 * scale, e["dur"] * 1e-6 * scale) for e in mine],
            (row - 0.4, 0.8),
            facecolors=[BOUND_COLOURS[b] if b else "#8c564b" for b in bounds],
            edgecolor="white",
            linewidth=0.3,
        )
    ax.set_yticks(range(len(tracks)), [shorten_middle(names[t], 30) for t in tracks], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, est.latency_s * scale)
    ax.set_xlabel(f"time ({unit})")
    ax.set_title(_title(est))
    from matplotlib.patches import Patch

    used = {Bound(e["args"]["bound"]) for e in spans if "bound" in e["args"]}
    handles = [Patch(color=BOUND_COLOURS[b], label=f"{b}-bound") for b in Bound if b in used]
    handles.append(Patch(color="#8c564b", label="memory transfer / host"))
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize=8)
    ax.grid(True, axis="x", alpha=0.3)
    return fig


def _time_unit(seconds: float) -> tuple[float, str]:
    for scale, unit in ((1.0, "s"), (1e3, "ms"), (1e6, "µs")):
        if seconds * scale >= 1:
            return scale, unit
    return 1e9, "ns"


def _rate(value: float, unit: str) -> str:
    for factor, prefix in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M")):
        if value >= factor:
            return f"{value / factor:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}"


def _title(est: Estimate) -> str:
    return (
        f"{Path(est.graph.info.source).name} on {est.profile.name} "
        f"(batch {est.graph.info.batch}): {est.latency_s * 1e3:.3g} ms"
    )


PLOTS: dict[str, Callable[[Estimate], Figure]] = {
    "roofline": roofline_figure,
    "layers": layers_figure,
    "timeline": timeline_figure,
}


# What ``save_plot`` writes, by the output file's suffix (matplotlib's own backends).
FORMATS = (".png", ".svg", ".pdf")


class PlotError(HwsimError):
    """A plot kind or output file the plots cannot write."""


def check_plot(kind: str, path: str | Path) -> None:
    """Refuse an unknown kind or file format before any work is done (one line, exit 2)."""
    if kind not in PLOTS:
        raise PlotError(f"--kind '{kind}': expected one of {', '.join(PLOTS)}")
    if Path(path).suffix.lower() not in FORMATS:
        raise PlotError(
            f"{path}: the plot's format follows the suffix, one of {', '.join(FORMATS)}"
        )


def save_plot(est: Estimate, kind: str, path: str | Path, **options: Any) -> Path:
    """Draw plot ``kind`` of ``est`` and write it to ``path`` (format from the suffix)."""
    check_plot(kind, path)
    out = Path(path)
    PLOTS[kind](est, **options).savefig(out, dpi=150)
    return out


def plot_kinds() -> Sequence[str]:
    return tuple(PLOTS)

"""An estimate as a timeline: Chrome / Perfetto trace-event JSON of the per-op schedule.

Open the file in https://ui.perfetto.dev or chrome://tracing. Each estimate is a process; its
tracks are the engines that do the work:

- ``array``: MAC ops (conv, GEMM, attention) on the class's matrix engine (systolic array,
  tensor cores, SIMD FMA units, FPGA PEs);
- ``vector unit``: every other priced op (pointwise, norms, pooling, copies);
- ``DMA / memory link``: the part of each op's time its slowest memory level is busy moving bytes,
  drawn from the op's start (the cost models overlap transfers with compute); I/O DMA of a
  dataflow pipeline;
- ``CPU fallback / host``: work the accelerator hands to a host CPU (a DPU overlay's per-frame
  pre/post-processing) and, as instant markers, ops nothing could price (they are left out of
  the totals, never drawn as zero-time work).

The schedule is the one the estimate's total assumes, so the complete (``"ph": "X"``) events
on the compute tracks span exactly the estimated latency: ops run one after another on
op-by-op classes; when every layer has hardware of its own (a streaming FPGA pipeline), each
layer is its own engine and starts as
soon as its producers finish, FINN's critical-path schedule, with the I/O DMA around it and
any further frames of the batch after it. Times are microseconds (the format's unit).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from .cost import OpCost
from .estimate import Estimate
from .ops import MAC_KINDS, Op

ARRAY, VECTOR, DMA, HOST = "array", "vector unit", "DMA / memory link", "CPU fallback / host"
_TRACK_ORDER = {ARRAY: 1, VECTOR: 2, DMA: 3, HOST: 4}
# What the matrix engine of each class is called on its track.
_ARRAY_NAMES = {
    "systolic": "systolic array",
    "gpu": "tensor cores / SMs",
    "cpu": "SIMD FMA units",
    "fpga": "PE array",
}


@dataclass(frozen=True)
class Slot:
    """One op's place on the timeline, in cycles."""

    op: Op
    cost: OpCost
    start: float
    track: str


def engine(op: Op) -> str:
    """The track an op runs on: the matrix engine for MAC ops, else the vector unit."""
    return ARRAY if op.kind in MAC_KINDS else VECTOR


def _priced(est: Estimate) -> list[tuple[Op, OpCost]]:
    return [(op, cost) for op, cost in est.costs if cost is not None and cost.cycles > 0]


def sequential(est: Estimate) -> tuple[list[Slot], float]:
    """Ops one after another in graph order; returns the slots and the time they end."""
    t = 0.0
    slots = []
    for op, cost in _priced(est):
        slots.append(Slot(op, cost, t, engine(op)))
        t += cost.cycles
    return slots, t


def dataflow(est: Estimate) -> tuple[list[Slot], float, float]:
    """Each layer on its own engine, starting its first frame when its producers have done
    theirs (the critical-path schedule that is a streaming pipeline's latency) and busy until
    its last frame of the batch, one interval after another. Returns the slots (with the
    time each layer is busy), the first frame's makespan and the later frames' time."""
    assert est.graph_cost is not None
    details = est.graph_cost.layer_details
    batch = max(est.graph.info.batch, 1)
    fps = est.graph_cost.throughput_fps
    later = (batch - 1) * est.profile.clock_hz / fps if fps else 0.0
    priced = {op.id: (op, cost) for op, cost in _priced(est)}
    end: dict[str, float] = {}
    slots = []
    for op_id in est.graph.order:
        start = max((end.get(p, 0.0) for p in est.graph.producers(op_id)), default=0.0)
        entry = priced.get(op_id)
        if entry is None:
            end[op_id] = start
            continue
        op, cost = entry
        per_frame = float(details.get(op_id, {}).get("cycles_per_frame", cost.cycles / batch))
        busy = replace(cost, cycles=per_frame + later)
        slots.append(Slot(op, busy, start, f"{ARRAY}: {op.name}"))
        end[op_id] = start + per_frame
    return slots, max(end.values(), default=0.0), later


def is_dataflow(est: Estimate) -> bool:
    """Whether every layer has hardware of its own (a streaming pipeline, whose whole-graph
    price gives each layer a folding): then layers overlap instead of taking turns."""
    gc = est.graph_cost
    # A deployed array's plan (the Edge TPU) also has per-layer details, but its layers take
    # turns: only a streaming design's details carry a folding ("pe").
    return gc is not None and any("pe" in d for d in gc.layer_details.values())


def _us(cycles: float, est: Estimate) -> float:
    return cycles / est.profile.clock_hz * 1e6


def _event(
    name: str, track: str, start: float, dur: float, est: Estimate, pid: int, args: dict[str, Any]
) -> dict[str, Any]:
    return {
        "name": name,
        "cat": track.split(":")[0],
        "ph": "X",
        "ts": _us(start, est),
        "dur": _us(dur, est),
        "pid": pid,
        "tid": track,
        "args": args,
    }


def _op_args(op: Op, cost: OpCost) -> dict[str, Any]:
    return {
        "id": op.id,
        "op": str(op.kind),
        "target": op.target,
        "macs": op.macs,
        "cycles": cost.cycles,
        "compute_cycles": cost.compute_cycles,
        "memory_cycles": cost.memory_cycles,
        "overhead_cycles": cost.overhead_cycles,
        "bound": str(cost.bound),
        "utilization": cost.utilization,
        "precision": cost.precision,
        "bytes_read": dict(cost.bytes_read),
        "bytes_written": dict(cost.bytes_written),
        "energy_j": cost.total_energy_j,
        "notes": list(cost.notes),
    }


def _pipeline_io(est: Estimate) -> tuple[float, float]:
    """(DMA in, DMA out) cycles per frame of a streaming pipeline."""
    from .costmodels.fpga_streaming import io_cycles

    return io_cycles(est.graph, est.profile)


def trace_events(est: Estimate, pid: int = 1) -> list[dict[str, Any]]:
    """The trace events of one estimate (process ``pid``)."""
    total = est.total.cycles
    events: list[dict[str, Any]] = []
    pipelined = is_dataflow(est)
    if pipelined:
        slots, makespan, later = dataflow(est)
        io_in, io_out = _pipeline_io(est)
        slots = [Slot(s.op, s.cost, s.start + io_in, s.track) for s in slots]
        events.append(_event("DMA in", DMA, 0.0, io_in, est, pid, {"cycles": io_in}))
        end = io_in + makespan + later
        events.append(_event("DMA out", DMA, end, io_out, est, pid, {"cycles": io_out}))
    else:
        slots, end = sequential(est)
        if total > end * (1 + 1e-9):  # time the class adds outside its ops (host work)
            notes = list(est.graph_cost.notes) if est.graph_cost else []
            args = {"cycles": total - end, "notes": notes}
            events.append(
                _event("host pre/post-processing", HOST, end, total - end, est, pid, args)
            )
    for slot in slots:
        op, cost = slot.op, slot.cost
        events.append(
            _event(op.name, slot.track, slot.start, cost.cycles, est, pid, _op_args(op, cost))
        )
        moving = min(cost.memory_cycles, cost.cycles)
        if moving > 0 and not pipelined:
            args = {"bytes_read": dict(cost.bytes_read), "bytes_written": dict(cost.bytes_written)}
            events.append(_event(op.name, DMA, slot.start, moving, est, pid, args))
    events += _unpriced_markers(est, slots, pid)
    metadata, ids = _metadata(est, events, pid)
    return metadata + [{**e, "tid": ids[e["tid"]]} for e in events]


def _unpriced_markers(est: Estimate, slots: Sequence[Slot], pid: int) -> list[dict[str, Any]]:
    """Instant events where an op nothing could price would have run (after the op before)."""
    if not est.unsupported:
        return []
    ends = {s.op.id: s.start + s.cost.cycles for s in slots}
    reasons = {u.id: u.reason for u in est.unsupported}
    markers, t = [], 0.0
    for op, _ in est.costs:
        t = ends.get(op.id, t)
        if op.id in reasons:
            markers.append(
                {
                    "name": f"UNSUPPORTED {op.name}",
                    "cat": "unsupported",
                    "ph": "i",
                    "s": "t",
                    "ts": _us(t, est),
                    "pid": pid,
                    "tid": HOST,
                    "args": {"id": op.id, "target": op.target, "reason": reasons[op.id]},
                }
            )
    return markers


def _metadata(
    est: Estimate, events: Iterable[dict[str, Any]], pid: int
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The process and thread names, and each track's thread id. Thread ids are small integers
    named by ``thread_name`` events: Perfetto keys threads on integer ids (a string id makes a
    track but hides its name)."""
    tracks = sorted({e["tid"] for e in events}, key=lambda t: (_TRACK_ORDER.get(t, 1), t))
    ids = {track: index for index, track in enumerate(tracks, start=1)}
    label = (
        f"{est.graph.info.source} on {est.profile.name} (batch {est.graph.info.batch}): "
        f"{est.latency_s * 1e3:.3f} ms"
    )
    out: list[dict[str, Any]] = [
        {"name": "process_name", "ph": "M", "pid": pid, "args": {"name": label}},
        {"name": "process_sort_index", "ph": "M", "pid": pid, "args": {"sort_index": pid}},
    ]
    array = _ARRAY_NAMES.get(est.profile.hw_class, ARRAY)
    for track, tid in ids.items():
        shown = track.replace(ARRAY, array, 1) if track.startswith(ARRAY) else track
        out.append(
            {"name": "thread_name", "ph": "M", "pid": pid, "tid": tid, "args": {"name": shown}}
        )
        out.append(
            {
                "name": "thread_sort_index",
                "ph": "M",
                "pid": pid,
                "tid": tid,
                "args": {"sort_index": tid},
            }
        )
    return out, ids


def chrome_trace(estimates: Sequence[Estimate]) -> dict[str, Any]:
    """One trace with a process per estimate (profile and batch)."""
    events: list[dict[str, Any]] = []
    for pid, est in enumerate(estimates, start=1):
        events += trace_events(est, pid)
    return {
        "traceEvents": events,
        "displayTimeUnit": "ns",
        "otherData": {
            "generator": "hwsim",
            "latency_s": [e.latency_s for e in estimates],
        },
    }


def to_chrome_trace(estimates: Sequence[Estimate]) -> str:
    return json.dumps(chrome_trace(estimates), allow_nan=False)

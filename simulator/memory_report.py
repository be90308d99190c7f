"""What ``hwsim memory`` reports about a schedule: the peak, the tensors alive at it, every
tensor's lifetime and the bytes alive at each step, as plain values for JSON and as a table."""

from __future__ import annotations

import math
from typing import Any

from rich.table import Table

from .estimate import Estimate
from .memory import MemoryPlan, TensorLife


def tensor_row(tensor: TensorLife) -> dict[str, Any]:
    return {
        "name": tensor.name,
        "bytes": tensor.nbytes,
        "first_step": tensor.start,
        "last_step": tensor.end,
        "kind": tensor.kind,
    }


def memory_report(plan: MemoryPlan, sram_bytes: float | None = None) -> dict[str, Any]:
    """The schedule's memory as a JSON-ready dict.

    ``sram_bytes`` (the memory activations must fit in, when known) adds ``sram_bytes`` and
    ``fits`` (the peak fits) to the report.
    """
    report: dict[str, Any] = {
        "schedule": plan.schedule,
        "method": plan.method,
        "peak_activation_bytes": plan.peak_bytes,
        "peak_step": plan.peak_step,
        "peak_kernel": plan.peak_kernel,
        "arena_bytes": plan.arena.arena_bytes,
        "kernels": len(plan.step_order),
        "order": list(plan.order),
        "alive_at_peak": [tensor_row(t) for t in plan.alive_at_peak],
        "tensors": [tensor_row(t) for t in plan.lifetimes.tensors if t.end >= t.start],
        "live_bytes": list(plan.lifetimes.live_bytes),
    }
    if sram_bytes is not None:
        report["sram_bytes"] = sram_bytes
        report["fits"] = plan.peak_bytes <= sram_bytes
    return report


def memory_limit(est: Estimate) -> tuple[str, float | None]:
    """The memory the activations must fit, for the chart's line: a microcontroller's arena
    region (its memory-fit SRAM), else the profile's innermost level (None: unbounded)."""
    fit = est.memory_fit
    if fit is not None:
        return fit.uses[0].memory, fit.uses[0].available_bytes
    inner = est.profile.memory[0]
    return inner.name, inner.capacity_bytes if math.isfinite(inner.capacity_bytes) else None


def estimate_memory_report(est: Estimate) -> dict[str, Any]:
    """``hwsim memory``'s JSON: the schedule's report on this profile (tensors at the
    precision each op runs at, the runtime's in-place and fusion rules) and, for classes
    that check it, whether the model fits (the fields of ``total`` in ``estimate``)."""
    name, limit = memory_limit(est)
    total = est.to_dict()["total"]
    return {
        "model": est.graph.info.source,
        "hw": est.profile.name,
        "hw_class": est.profile.hw_class,
        **memory_report(est.memory),
        "limit_memory": name,
        "limit_bytes": limit,
        "fits": total["fits"],
        "binding_memory": total["binding_memory"],
        "memory_use": total["memory_use"],
    }


def _kib(nbytes: float) -> str:
    return f"{nbytes / 1024:,.1f} KiB"


def memory_table(report: dict[str, Any]) -> Table:
    """The tensors alive at the peak, largest first, with the peak and the fit in the title."""
    title = (
        f"{report['model']} on {report['hw']}: peak {_kib(report['peak_activation_bytes'])} "
        f"at step {report['peak_step']} ({report['peak_kernel']}), "
        f"{report['schedule']} order ({report['method']}), greedy arena "
        f"{_kib(report['arena_bytes'])}"
    )
    table = Table(title=title, header_style="bold")
    for col in ("tensor alive at the peak", "kind", "bytes", "first step", "last step"):
        table.add_column(col, justify="left" if col in ("kind",) or "tensor" in col else "right")
    for t in report["alive_at_peak"]:
        table.add_row(
            t["name"], t["kind"], f"{t['bytes']:,}", str(t["first_step"]), str(t["last_step"])
        )
    return table


def memory_lines(report: dict[str, Any]) -> list[str]:
    """What fills the device's memories, and whether the model fits (classes that check it)."""
    use = report["memory_use"]
    if use is None:
        limit = report["limit_bytes"]
        return [] if limit is None else [f"{report['limit_memory']}: {_kib(limit)}"]
    lines = []
    for name, u in use.items():
        parts = ", ".join(f"{k} {_kib(v)}" for k, v in u["parts"].items() if v)
        lines.append(f"{name}: {_kib(u['used_bytes'])} of {_kib(u['available_bytes'])} ({parts})")
    if report["fits"]:
        return ["fits the device", *lines]
    short = "; ".join(
        f"{b['memory']} needs {_kib(b['needed_bytes'])}, has {_kib(b['available_bytes'])}"
        for b in report["binding_memory"]
    )
    return [f"DOES NOT FIT: {short}", *lines]

"""What ``hwsim memory`` reports about a schedule: the peak, the tensors alive at it, every
tensor's lifetime and the bytes alive at each step, as plain values for JSON and tables."""

from __future__ import annotations

from typing import Any

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

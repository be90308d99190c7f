"""Check hwsim's CPU latency estimate against torch latency measured on this machine.

The ``cpu_x86_avx2`` profile describes the 2-vCPU machine the tests run on, so its estimates can
be checked here directly: for every built-in workload this script times eager fp32 inference
at batch 1 with 1 and 2 torch threads (each in a fresh process, by ``cpu_validation.py --one``),
predicts it with hwsim, and reports the error (MAPE), whether the ranking holds (Kendall tau),
and how long one estimate takes next to one forward pass. The profile models 2 cores and has
no thread option, so predictions are compared with the 2-thread measurement; the 1-thread one
is printed for reference.

Run: ``python benchmarks/cpu_latency.py``. Rows also go to ``benchmarks/results/cpu_latency.csv``.
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from cpu_validation import in_fresh_process, median_s  # timing shared by both CPU benchmarks
from result_rows import write_rows
from scipy.stats import kendalltau

import hwsim
from hwsim.workloads import get_workload, workload_names

PROFILE = "cpu_x86_avx2"
THREAD_COUNTS = (1, 2)
ESTIMATE_CALLS = 20
RESULTS_CSV = Path(__file__).resolve().parent / "results" / "cpu_latency.csv"


@dataclass(frozen=True)
class Row:
    """One workload's measured and predicted latency; the CSV's columns, in order."""

    workload: str
    measured_1t_ms: float
    measured_2t_ms: float
    predicted_ms: float
    predicted_over_measured_2t: float
    runs_1t: int
    runs_2t: int
    estimate_call_ms: float
    estimate_over_forward_2t: float
    cpu: str
    torch_version: str
    date: str


def cpu_model_name() -> str:
    """The first ``model name`` in /proc/cpuinfo, or ``unknown`` where there is none."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return "unknown"
    for line in lines:
        key, _, value = line.partition(":")
        if key.strip() == "model name":
            return value.strip()
    return "unknown"


def measure_forward_s(name: str, threads: int) -> tuple[float, int]:
    """Median eager inference latency of workload ``name`` with ``threads`` torch threads, and
    the timed runs it took: measured in a fresh process, as ``cpu_validation`` measures (a
    model timed after others in one process inherits their allocator state)."""
    result, _ = in_fresh_process("--one", name, "--threads", str(threads))
    assert isinstance(result, dict)
    return float(result["measured_ms"]) / 1e3, int(result["runs"])


def benchmark_workload(name: str, cpu: str, date: str) -> Row:
    """Measure, predict and time the predictor for one built-in workload at batch 1."""
    workload = get_workload(name)
    model = workload.build()
    inputs = workload.make_inputs(1)
    measured = {t: measure_forward_s(name, t) for t in THREAD_COUNTS}
    graph = hwsim.trace(model, example_inputs=inputs)
    predicted_s = hwsim.estimate(graph, PROFILE).latency_s
    estimate_s = median_s(lambda: hwsim.estimate(graph, PROFILE), ESTIMATE_CALLS)
    (t1_s, runs_1t), (t2_s, runs_2t) = measured[1], measured[2]
    return Row(
        workload=name,
        measured_1t_ms=t1_s * 1e3,
        measured_2t_ms=t2_s * 1e3,
        predicted_ms=predicted_s * 1e3,
        predicted_over_measured_2t=predicted_s / t2_s,
        runs_1t=runs_1t,
        runs_2t=runs_2t,
        estimate_call_ms=estimate_s * 1e3,
        estimate_over_forward_2t=estimate_s / t2_s,
        cpu=cpu,
        torch_version=torch.__version__,
        date=date,
    )


def render_table(rows: Sequence[Row]) -> str:
    """The per-workload comparison as aligned plain text."""
    header = (
        f"{'workload':<20}{'meas 1T ms':>12}{'meas 2T ms':>12}{'pred ms':>10}"
        f"{'pred/2T':>9}{'est ms':>9}{'est/fwd':>9}"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(
            f"{r.workload:<20}{r.measured_1t_ms:>12.2f}{r.measured_2t_ms:>12.2f}"
            f"{r.predicted_ms:>10.2f}{r.predicted_over_measured_2t:>9.2f}"
            f"{r.estimate_call_ms:>9.2f}{r.estimate_over_forward_2t:>9.3f}"
        )
    return "\n".join(lines)


def render_summary(rows: Sequence[Row]) -> str:
    """MAPE and Kendall tau of predicted vs 2-thread latency, and the predictor's speed."""
    predicted = [r.predicted_ms for r in rows]
    measured = [r.measured_2t_ms for r in rows]
    mape = statistics.mean(abs(p - m) / m for p, m in zip(predicted, measured, strict=True))
    tau = kendalltau(predicted, measured)
    speed = [r.estimate_over_forward_2t for r in rows]
    return "\n".join(
        [
            f"MAPE vs measured 2T: {mape:.1%}",
            f"Kendall tau (predicted vs measured 2T): {tau.statistic:.3f} (p={tau.pvalue:.3g})",
            "one estimate / one 2T forward pass: "
            f"median {statistics.median(speed):.3f}, min {min(speed):.3f}, max {max(speed):.3f}",
        ]
    )


def main() -> None:
    cpu = cpu_model_name()
    date = dt.date.today().isoformat()
    print(f"cpu: {cpu} | torch {torch.__version__} | profile {PROFILE} | batch 1, fp32, eager")
    # 2-thread timings collapse when another process holds a core; the load shows if one did.
    print(f"load average (1 min) at start: {os.getloadavg()[0]:.2f}")
    rows = [benchmark_workload(name, cpu, date) for name in workload_names()]
    print(render_table(rows))
    print(render_summary(rows))
    print(f"load average (1 min) at end: {os.getloadavg()[0]:.2f}")
    write_rows(RESULTS_CSV, [asdict(r) for r in rows])
    print(f"wrote {RESULTS_CSV}")


if __name__ == "__main__":
    main()

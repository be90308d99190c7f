"""Measure GPU latency with CUDA events and set hwsim's GPU estimates beside it.

What it measures, on the GPU it runs on:

1. Every built-in workload at batch 1, 8 and 64 in fp16 and bf16, in eager PyTorch and
   replayed as a CUDA graph (``torch.cuda.CUDAGraph``). Eager is compared with the eager
   preset; the graph with the same preset switched to ``arch.cuda_graph: true`` (PyTorch's
   graph capture does not fuse kernels, so fusion stays off).
2. A sweep of fp16 GEMM shapes whose tile count crosses whole waves of the GPU's SMs, so
   wave quantization shows as steps in the measured time.

Each timing is the median of several CUDA-event-timed loops after warm-up. The issue's
targets: per-model MAPE within 20%, GEMM sweep within 15%.

Run on a machine with an NVIDIA GPU: ``python benchmarks/gpu_latency.py [--hw gpu_h100]``.
The preset is picked from the GPU's name when ``--hw`` is not given. Rows, with the GPU name,
driver, CUDA and torch versions, go to ``benchmarks/results/gpu_latency.csv``.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import datetime as dt
import statistics
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

import hwsim
from hwsim import estimate
from hwsim.graph import OpGraph
from hwsim.profile import Profile, load_profile
from hwsim.workloads import get_workload, workload_names

RESULTS_CSV = Path(__file__).resolve().parent / "results" / "gpu_latency.csv"
BATCHES = (1, 8, 64)
DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}
WARMUP = 10
REPEATS = 5  # timed loops; the median is kept
MIN_LOOP_S = 0.2  # each timed loop lasts at least this long
PRESET_BY_GPU_NAME = (("H100", "gpu_h100"), ("H200", "gpu_h100"), ("A100", "gpu_a100"))
SWEEP_N, SWEEP_K = 256, 4096  # one 128-row tile column; K long enough to be compute-bound


@dataclass(frozen=True)
class Row:
    """One measurement and its prediction, in the CSV's column order."""

    kind: str  # "model" or "gemm"
    name: str
    batch: int  # for GEMMs, M
    dtype: str
    mode: str  # "eager" or "cuda_graph"
    measured_ms: float
    predicted_ms: float
    error_pct: float
    gpu: str
    driver: str
    cuda: str
    torch_version: str
    date: str


def driver_version() -> str:
    """The NVIDIA driver version, from nvidia-smi; 'unknown' where it cannot be asked."""
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip().splitlines()[0] if out.stdout.strip() else "unknown"


def time_ms(step: Callable[[], object]) -> float:
    """Median milliseconds per call of ``step``, timed with CUDA events after warm-up."""
    for _ in range(WARMUP):
        step()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    step()
    end.record()
    torch.cuda.synchronize()
    calls = max(1, int(MIN_LOOP_S * 1e3 / max(start.elapsed_time(end), 1e-3)))
    samples = []
    for _ in range(REPEATS):
        start.record()
        for _ in range(calls):
            step()
        end.record()
        torch.cuda.synchronize()
        samples.append(start.elapsed_time(end) / calls)
    return statistics.median(samples)


def graphed(step: Callable[[], object]) -> Callable[[], object]:
    """``step`` captured once into a CUDA graph; the returned callable replays it."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(3):  # warm-up on a side stream, as torch.cuda.graphs asks
            step()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        step()
    return graph.replay


def with_cuda_graph(profile: Profile) -> Profile:
    """The eager preset replayed as a CUDA graph: no host cost per kernel, fusion unchanged."""
    return dataclasses.replace(
        profile, name=f"{profile.name}+graph", arch={**profile.arch, "cuda_graph": True}
    )


def predicted_ms(graph: OpGraph, profile: Profile, precision: str) -> float:
    return estimate(graph, profile, precision=precision).latency_s * 1e3


def measure_models(profile: Profile, row: Callable[..., Row]) -> list[Row]:
    rows = []
    graph_profile = with_cuda_graph(profile)
    for name in workload_names():
        workload = get_workload(name)
        for batch in BATCHES:
            traced = hwsim.trace(name, batch=batch)
            for label, dtype in DTYPES.items():
                model = workload.build().to("cuda", dtype).eval()
                inputs = tuple(
                    t.to("cuda", dtype) if t.is_floating_point() else t.to("cuda")
                    for t in workload.make_inputs(batch)
                )

                def step(model: nn.Module = model, inputs: tuple = inputs) -> object:
                    with torch.inference_mode():
                        return model(*inputs)

                rows.append(
                    row(
                        "model",
                        name,
                        batch,
                        label,
                        "eager",
                        time_ms(step),
                        predicted_ms(traced, profile, label),
                    )
                )
                rows.append(
                    row(
                        "model",
                        name,
                        batch,
                        label,
                        "cuda_graph",
                        time_ms(graphed(step)),
                        predicted_ms(traced, graph_profile, label),
                    )
                )
                del model, inputs
                torch.cuda.empty_cache()
    return rows


class MatMul(nn.Module):
    """``x @ w``: one cuBLAS GEMM, traced and timed alike."""

    def __init__(self, weight: torch.Tensor) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight, requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.weight


def sweep_rows(sms: int) -> list[int]:
    """M values whose 128-row tile counts step across one, two and three waves of SMs."""
    tiles = {1, sms // 2, sms - 1, sms, sms + 1, 2 * sms - 1, 2 * sms, 2 * sms + 1, 3 * sms}
    tiles |= set(range(sms // 4, 3 * sms, max(sms // 4, 1)))
    return [128 * t for t in sorted(t for t in tiles if t > 0)]


def measure_gemms(profile: Profile, row: Callable[..., Row]) -> list[Row]:
    rows = []
    sms = torch.cuda.get_device_properties(0).multi_processor_count
    weight = torch.randn(SWEEP_K, SWEEP_N, dtype=torch.float16)
    module = MatMul(weight.to("cuda"))
    for m in sweep_rows(sms):
        x = torch.randn(m, SWEEP_K, dtype=torch.float16, device="cuda")
        traced = hwsim.trace(MatMul(weight), example_inputs=(torch.zeros(m, SWEEP_K).half(),))

        def step(x: torch.Tensor = x) -> object:
            with torch.inference_mode():
                return module(x)

        rows.append(
            row(
                "gemm",
                f"{m}x{SWEEP_N}x{SWEEP_K}",
                m,
                "fp16",
                "eager",
                time_ms(step),
                predicted_ms(traced, profile, "fp16"),
            )
        )
    return rows


def preset_for(gpu_name: str, requested: str | None) -> str:
    if requested:
        return requested
    for key, preset in PRESET_BY_GPU_NAME:
        if key in gpu_name:
            return preset
    sys.exit(f"no hwsim preset is known for '{gpu_name}'; pass --hw with a GPU profile")


def mape(rows: list[Row]) -> float:
    return statistics.fmean(abs(r.error_pct) for r in rows) if rows else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hw", help="hwsim GPU preset or YAML (default: from the GPU's name)")
    parser.add_argument("--skip-models", action="store_true", help="run the GEMM sweep only")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit(
            "no CUDA device: this script measures a real GPU. Without one, compare against "
            "published figures with benchmarks/gpu_published.py instead."
        )
    gpu = torch.cuda.get_device_name(0)
    profile = load_profile(preset_for(gpu, args.hw))
    facts = {
        "gpu": gpu,
        "driver": driver_version(),
        "cuda": str(torch.version.cuda),
        "torch_version": torch.__version__,
        "date": dt.date.today().isoformat(),
    }

    def row(kind: str, name: str, batch: int, dtype: str, mode: str, ms: float, pred: float) -> Row:
        error = 100.0 * (pred - ms) / ms
        return Row(kind, name, batch, dtype, mode, ms, pred, error, **facts)

    print(f"{gpu}, driver {facts['driver']}, CUDA {facts['cuda']}, torch {torch.__version__}")
    print(f"predictions from '{profile.name}'")
    rows = [] if args.skip_models else measure_models(profile, row)
    rows += measure_gemms(profile, row)
    print(
        f"{'kind':<6}{'name':<22}{'batch':>6} {'dtype':<5}{'mode':<11}"
        f"{'measured ms':>12}{'hwsim ms':>10}{'error':>8}"
    )
    for r in rows:
        print(
            f"{r.kind:<6}{r.name:<22}{r.batch:>6} {r.dtype:<5}{r.mode:<11}"
            f"{r.measured_ms:>12.4f}{r.predicted_ms:>10.4f}{r.error_pct:>7.0f}%"
        )
    for mode in ("eager", "cuda_graph"):
        models = [r for r in rows if r.kind == "model" and r.mode == mode]
        if models:
            print(f"models, {mode}: MAPE {mape(models):.1f}% (target 20%)")
    print(f"GEMM sweep: MAPE {mape([r for r in rows if r.kind == 'gemm']):.1f}% (target 15%)")
    RESULTS_CSV.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS_CSV.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([field.name for field in dataclasses.fields(Row)])
        writer.writerows(dataclasses.astuple(r) for r in rows)


if __name__ == "__main__":
    main()

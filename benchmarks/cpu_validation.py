"""Validate the calibrated CPU model (``--hw host``) against torch latency on this machine.

Models: the 7 built-in workloads plus width/depth/kernel-size variants of the kind a NAS
explores, built from ``transformers`` configs or small ``nn.Module``s here (random weights,
nothing downloaded). Each model is timed at each thread count in a fresh Python process
(``--one MODEL --threads T``, which prints JSON): eager fp32, batch 1, warm-up runs, then the
median of the timed runs. A forward pass's time depends on the state of the process's memory
allocator, on whether glibc serves each activation from reused heap pages or from fresh ones
(written at ~1 GB/s here against ~8 GB/s): a model timed after others inherits their state
(ResNet-18 took 112 ms at 1 thread after five other models in one process, 70 ms in a fresh
one), and even in a fresh process the state depends on what building the model allocated (the
built-in CNNs run one batch-2 forward to set their batch-norm statistics, which leaves glibc's
thresholds high enough that a batch-1 forward faults no page; the variants fault 6-38 MB of
fresh pages per forward). So each child first calls ``settle_allocator()``, as ``hwsim
calibrate`` does before its micro-benchmarks, and the model is measured in that defined state:
activations come from reused pages. The child counts page faults per timed run to show it
(``--one MODEL --unsettled`` times a model as it comes, for comparison). The VM's speed drifts
by up to 25% between processes minutes apart (and a model's latency moved by ~15% between two
fresh processes on a busy day), so each forward is followed by one of a small speed-reference
network (``calibrate_e2e.time_interleaved``): the model's ratio to it moves by ~2% between
processes. The whole set of models is timed in ``PASSES`` interleaved passes; a model's
measured latency is the median of its ratio over the passes times the reference's median
latency over every process of the run at that thread count (the machine's typical speed
during the run), and its plain median latency per pass is kept beside it. The 1-minute load
average is read just before each child starts and kept in the CSV.

Predictions are ``hwsim.estimate(graph, profile, threads=t)`` on the calibrated host profile
(``hwsim calibrate``), which comes from micro-benchmarks only; nothing measured here feeds it.

A second table times hwsim's numba kernels at densities 0.5, 0.25 and 0.1 (and int8/int4,
2:4, 4:8) on layer shapes other than the calibration shapes, each shape in a fresh process
(``--kernels NxKxM``) after ``settle_allocator()`` and with ``hwsim.kernels.timing``, exactly
as calibration times its shapes, and compares the measured speedup over the dense kernel with
the one the model predicts (``cpu.kernel_cycles``).

Run: ``python benchmarks/cpu_validation.py [models] [kernels] [--thread-counts 1,2] [--profile
P]`` after ``hwsim calibrate``; ``repredict --profile P`` prices the measured rows again on
``P`` without timing anything.
Results go to ``benchmarks/results/cpu_validation.csv`` and
``benchmarks/results/cpu_kernel_speedups.csv``.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import functools
import itertools
import json
import math
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from result_rows import write_rows
from scipy.stats import kendalltau
from torch import nn

import hwsim
from hwsim.calibrate import scheduler_stalls, settle_allocator
from hwsim.calibrate_e2e import time_interleaved
from hwsim.costmodels.cpu import kernel_cycles
from hwsim.costmodels.gemm_view import GemmShape
from hwsim.kernels import timing
from hwsim.workloads import get_workload, workload_names
from hwsim.workloads.mbconv_space import MBConv

THREADS = (1, 2)
PASSES = 3  # interleaved passes over all models; each model's median ratio is compared
WARMUP_RUNS = 3
TARGET_TIMED_S = 1.5
MIN_RUNS, MAX_RUNS = 5, 200
KERNEL_BUDGET_S = 8.0  # per shape, as many fresh operand copies as fit (3 to 9)
RESULTS = Path(__file__).resolve().parent / "results"


# ---- NAS-style variants -----------------------------------------------------------------------


class NasNet(nn.Module):
    """A MobileNetV2-style supernet child: width multiplier, blocks per stage, kernel, expansion."""

    def __init__(self, width: float, depth: int, kernel: int, expand: int) -> None:
        super().__init__()

        def ch(c: int) -> int:
            return max(8, int(c * width + 4) // 8 * 8)

        stages = [(24, 2), (40, 2), (80, 2), (112, 1), (192, 2)]
        layers: list[nn.Module] = [
            nn.Conv2d(3, ch(16), 3, 2, 1, bias=False),
            nn.BatchNorm2d(ch(16)),
            nn.ReLU6(),
        ]
        cin = ch(16)
        for cout, stride in stages:
            for i in range(depth):
                layers.append(MBConv(cin, ch(cout), stride if i == 0 else 1, expand, kernel))
                cin = ch(cout)
        layers += [nn.Conv2d(cin, 1280, 1, bias=False), nn.BatchNorm2d(1280), nn.ReLU6()]
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(1280, 1000)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean((2, 3)))


def _hf(kind: str, **kw: object) -> nn.Module:
    from transformers import (
        BertConfig,
        BertModel,
        MobileNetV2Config,
        MobileNetV2ForImageClassification,
        ResNetConfig,
        ResNetForImageClassification,
        ViTConfig,
        ViTForImageClassification,
    )

    from hwsim.workloads.hf import IMAGENET_HEAD, SDPA, TensorOutput

    if kind == "resnet":
        model: nn.Module = ResNetForImageClassification(ResNetConfig(**kw, **IMAGENET_HEAD))
        return TensorOutput(model, "logits").eval()
    if kind == "mobilenet_v2":
        config = MobileNetV2Config(image_size=224, tf_padding=False, **kw, **IMAGENET_HEAD)
        return TensorOutput(MobileNetV2ForImageClassification(config), "logits").eval()
    if kind == "vit":
        config = ViTConfig(patch_size=16, image_size=224, **kw, **IMAGENET_HEAD, **SDPA)
        return TensorOutput(ViTForImageClassification(config), "logits").eval()
    config = BertConfig(vocab_size=30522, **kw, **SDPA)
    return TensorOutput(BertModel(config, add_pooling_layer=False), "last_hidden_state").eval()


def _image() -> tuple[torch.Tensor, ...]:
    return (torch.randn(1, 3, 224, 224),)


def _tokens() -> tuple[torch.Tensor, ...]:
    return (torch.randint(0, 30000, (1, 128)),)


VARIANTS: dict[str, tuple[Callable[[], nn.Module], Callable[[], tuple[torch.Tensor, ...]]]] = {
    "mobilenet_v2_w0.5": (functools.partial(_hf, "mobilenet_v2", depth_multiplier=0.5), _image),
    "mobilenet_v2_w1.4": (functools.partial(_hf, "mobilenet_v2", depth_multiplier=1.4), _image),
    "resnet_basic_d1_w0.5": (
        functools.partial(
            _hf, "resnet", layer_type="basic", depths=[1, 1, 1, 1], hidden_sizes=[32, 64, 128, 256]
        ),
        _image,
    ),
    "resnet_bottleneck_d2": (
        functools.partial(
            _hf,
            "resnet",
            layer_type="bottleneck",
            depths=[2, 2, 2, 2],
            hidden_sizes=[256, 512, 1024, 2048],
        ),
        _image,
    ),
    "nas_w1.0_d2_k5_e6": (lambda: NasNet(1.0, 2, 5, 6).eval(), _image),
    "nas_w0.75_d3_k3_e3": (lambda: NasNet(0.75, 3, 3, 3).eval(), _image),
    "vit_small_d6": (
        functools.partial(
            _hf,
            "vit",
            hidden_size=384,
            num_hidden_layers=6,
            num_attention_heads=6,
            intermediate_size=1536,
        ),
        _image,
    ),
    "bert_small_l4": (
        functools.partial(
            _hf,
            "bert",
            hidden_size=256,
            num_hidden_layers=4,
            num_attention_heads=4,
            intermediate_size=1024,
        ),
        _tokens,
    ),
}


def model_names() -> list[str]:
    return [*workload_names(), *VARIANTS]


def traced(name: str) -> hwsim.OpGraph:
    """The graph hwsim prices for ``name`` (``build_model``'s module and inputs, traced)."""
    model, inputs = build_model(name)
    return hwsim.trace(model, example_inputs=inputs)


def build_model(name: str) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    """The model and its batch-1 inputs, by built-in workload or variant name."""
    if name in VARIANTS:
        build, inputs = VARIANTS[name]
        return build(), inputs()
    workload = get_workload(name)
    return workload.build(), tuple(workload.make_inputs(1))


# ---- timing (child processes) -----------------------------------------------------------------


def median_s(call: Callable[[], object], runs: int) -> float:
    """Median wall time of ``runs`` calls of ``call``."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _minor_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def time_forward(name: str, threads: int, settled: bool = True) -> dict[str, object]:
    """Eager latency of model ``name`` on ``threads`` threads in this (fresh) process.

    Settled (the default): ``calibrate_e2e.time_interleaved``, after ``settle_allocator()``,
    each forward followed by one of the speed reference, so the result carries the model's
    median latency and its median ratio to the reference (which moves ~2% between processes
    where the latency moves ~15%). Unsettled: the median of plain forwards, for comparison."""
    model, inputs = build_model(name)
    if settled:
        torch.set_num_threads(threads)
        waited = wait_for_free_cores() if threads > 1 else 0.0
        faults = _minor_faults()
        timing = time_interleaved(name, model, inputs, threads, TARGET_TIMED_S)
        faults = _minor_faults() - faults
        stalls_after = scheduler_stalls() if threads > 1 else 0
        return {
            "model": name,
            "threads": threads,
            "settled": True,
            "measured_ms": timing.median_ms,
            "ratio": timing.ratio,
            "reference_ms": timing.reference_ms,
            "runs": timing.runs,
            "faults_per_run": faults / (timing.runs + WARMUP_RUNS + 1),
            "stalls": stalls_after,
            "waited_s": waited,
        }
    torch.set_num_threads(threads)
    with torch.inference_mode():
        warm = median_s(lambda: model(*inputs), WARMUP_RUNS)
        runs = min(MAX_RUNS, max(MIN_RUNS, math.ceil(TARGET_TIMED_S / warm)))
        faults = _minor_faults()
        measured = median_s(lambda: model(*inputs), runs)
        faults = _minor_faults() - faults
    return {
        "model": name,
        "threads": threads,
        "settled": False,
        "measured_ms": measured * 1e3,
        "runs": runs,
        "faults_per_run": faults / runs,
    }


FREE_WAIT_S = 30.0  # how long a 2-thread child waits for a clean probe before timing anyway


def wait_for_free_cores(limit_s: float = FREE_WAIT_S) -> float:
    """Seconds spent waiting (0.5 s apart) until a ``scheduler_stalls`` probe on the current
    torch threads is clean: no other process shares the team's cores (at most ``limit_s``)."""
    start = time.perf_counter()
    while scheduler_stalls() and time.perf_counter() - start < limit_s:
        time.sleep(0.5)
    return time.perf_counter() - start


def _shape(text: str) -> tuple[int, int, int]:
    n, k, m = (int(x) for x in text.split("x"))
    return n, k, m


def time_kernels(n: int, k: int, m: int) -> list[dict[str, object]]:
    """Measured speedups over the dense kernel of every case on N x K x M, timed as
    calibration times its shapes (settled allocator, ``hwsim.kernels.timing``)."""
    settle_allocator()
    rng = np.random.default_rng(1)
    w = rng.standard_normal((n, k)).astype(np.float32)
    b = rng.standard_normal((k, m)).astype(np.float32)
    cases = timing.kernel_cases(w, DENSITIES, seed=2)
    return [
        {"kernel": t.case.fmt, "stored": t.case.stored, "measured_speedup": t.speedup}
        for t in timing.time_cases(cases, b, KERNEL_BUDGET_S)
    ][1:]


def in_fresh_process(*args: str) -> tuple[object, float]:
    """Run this script with ``args`` in a new Python process; its JSON result and the 1-minute
    load average read just before it started."""
    load = os.getloadavg()[0]
    done = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise RuntimeError(f"{' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1]), load


# A child at 2 threads whose scheduler-stall probes (``calibrate.scheduler_stalls``, before
# and after its timing) found another process on a core is run again, up to this many times:
# with a third runnable thread on this 2-core VM every parallel region of a forward waits
# whole scheduler ticks (docs/validation.md), which no ratio to the reference undoes.
CHILD_TRIES = 4


# The speed reference is the same network in every child: the VM's drift moves it by up to
# +-30%, scheduler stalls by 5-50x (a 2-thread child next to another busy process: 228 ms
# against ~8 ms). A child whose reference took longer than this multiple of the fastest one
# seen at its thread count in the run (at first, of the calibration's 1-thread reference:
# 2 threads are never slower than 1 on free cores) was stalled during its timing, whatever
# its probes said, and is run again.
STALLED_REFERENCE = 2.0


def time_uncontended(
    name: str, threads: int, fastest_ref_ms: float
) -> tuple[dict[str, object], float, int]:
    """``--one name --threads threads`` in fresh processes until one is clean (its probe after
    timing found no stall and its reference took at most ``STALLED_REFERENCE`` x
    ``fastest_ref_ms``), at most ``CHILD_TRIES``: its result, the load average before it, and
    the tries it took."""
    tries = 0
    while True:
        tries += 1
        result, load = in_fresh_process("--one", name, "--threads", str(threads))
        assert isinstance(result, dict)
        ref = float(str(result["reference_ms"]))
        clean = not result["stalls"] and ref <= STALLED_REFERENCE * fastest_ref_ms
        if threads == 1 or clean or tries == CHILD_TRIES:
            return result, load, tries
        time.sleep(1.0)


# ---- comparison (parent process) --------------------------------------------------------------


def _per_pass(row: dict[str, object], key: str) -> list[float]:
    """``row[key]`` of each pass, ``key`` with ``{}`` where the pass number goes."""
    passes = itertools.takewhile(lambda p: key.format(p) in row, itertools.count(1))
    return [float(str(row[key.format(p)])) for p in passes]


def validate_models(
    profile: hwsim.Profile, threads: Sequence[int] = THREADS, passes: int = PASSES
) -> list[dict[str, object]]:
    """Each model at each thread count in ``PASSES`` passes over all models (a model's passes
    minutes apart), compared on the median of its passes: the VM's speed drifts by up to 25%
    between processes minutes apart, and one pass carries that drift per model."""
    names = model_names()
    rows: dict[str, dict[str, object]] = {}
    graphs = {}
    for name in names:
        graphs[name] = traced(name)
        rows[name] = {"model": name, "macs_g": graphs[name].macs / 1e9}
    fastest = dict.fromkeys(threads, calibration_reference_ms(profile) or math.inf)
    for p in range(1, passes + 1):
        for name in names:
            row = rows[name]
            for t in threads:
                result, load, tries = time_uncontended(name, t, fastest[t])
                fastest[t] = min(fastest[t], float(str(result["reference_ms"])))
                row[f"stalls_{t}t_pass{p}"] = result["stalls"]
                row[f"tries_{t}t_pass{p}"] = tries
                row[f"waited_s_{t}t_pass{p}"] = result["waited_s"]
                row[f"measured_{t}t_pass{p}_ms"] = result["measured_ms"]
                row[f"ratio_to_reference_{t}t_pass{p}"] = result["ratio"]
                row[f"reference_{t}t_pass{p}_ms"] = result["reference_ms"]
                row[f"runs_{t}t_pass{p}"] = result["runs"]
                row[f"faults_per_run_{t}t_pass{p}"] = result["faults_per_run"]
                row[f"load_{t}t_pass{p}"] = load
            print(
                f"pass {p} {name:<24}"
                + "".join(
                    f"  {t}T {row[f'measured_{t}t_pass{p}_ms']:8.2f} ms"
                    f" (load {row[f'load_{t}t_pass{p}']:.2f}"
                    + (
                        f", tries {row[f'tries_{t}t_pass{p}']}"
                        f", reference {row[f'reference_{t}t_pass{p}_ms']:.2f} ms"
                        f", stalls {row[f'stalls_{t}t_pass{p}']}"
                        if t > 1
                        else ""
                    )
                    + ")"
                    for t in threads
                ),
                flush=True,
            )
    compare(list(rows.values()), graphs, profile, threads)
    return list(rows.values())


def compare(
    rows: Sequence[dict[str, object]],
    graphs: dict[str, hwsim.OpGraph],
    profile: hwsim.Profile,
    threads: Sequence[int],
) -> None:
    """Each row's measured latency (the median of its per-pass ratios to the speed reference
    times the reference's median over every pass) against ``profile``'s prediction."""
    reference = {
        t: statistics.median(x for r in rows for x in _per_pass(r, f"reference_{t}t_pass{{}}_ms"))
        for t in threads
    }
    for row in rows:
        name = str(row["model"])
        for t in threads:
            ratios = _per_pass(row, f"ratio_to_reference_{t}t_pass{{}}")
            ratio = statistics.median(ratios)
            measured = ratio * reference[t]
            row[f"ratio_moved_{t}t"] = max(ratios) / min(ratios) - 1  # between its passes
            row[f"reference_{t}t_typical_ms"] = reference[t]
            predicted = hwsim.estimate(graphs[name], profile, threads=t).latency_s * 1e3
            row[f"measured_{t}t_ms"] = measured
            row[f"predicted_{t}t_ms"] = predicted
            row[f"ratio_{t}t"] = predicted / measured
            row[f"faults_per_run_{t}t"] = max(_per_pass(row, f"faults_per_run_{t}t_pass{{}}"))
            row[f"load_{t}t"] = max(_per_pass(row, f"load_{t}t_pass{{}}"))
        print(
            f"{name:<24}"
            + "".join(
                f"  {t}T meas {row[f'measured_{t}t_ms']:8.2f} pred {row[f'predicted_{t}t_ms']:8.2f}"
                for t in threads
            ),
            flush=True,
        )
    at_calibration_speed(rows, profile, threads)


def merge_passes(paths: Sequence[Path]) -> list[dict[str, object]]:
    """The per-pass columns of several runs' CSVs as the passes of one run, numbered in the
    order given: a campaign too long for one quiet window (each kept under 15 minutes) runs
    as several one-pass runs, compared afterwards exactly as one multi-pass run is."""
    pass_column = re.compile(r"^(.*_pass)(\d+)(.*)$")
    merged: dict[str, dict[str, object]] = {}
    offset = 0
    for path in paths:
        with path.open(newline="") as f:
            rows = list(csv.DictReader(f))
        passes = 0
        for row in rows:
            out = merged.setdefault(row["model"], {"model": row["model"], "macs_g": row["macs_g"]})
            for key, value in row.items():
                match = pass_column.match(key)
                if match:
                    p = int(match[2])
                    passes = max(passes, p)
                    out[f"{match[1]}{p + offset}{match[3]}"] = value
        offset += passes
    return list(merged.values())


def repredict(profile: hwsim.Profile, threads: Sequence[int]) -> list[dict[str, object]]:
    """The rows of ``cpu_validation.csv`` as measured, priced again on ``profile``: measure
    once, compare several profiles (the micro-benchmark calibration and the same with the
    end-to-end stage) on the same measurements.

    Also each measurement at the calibration's machine speed: a row's ``measured_{t}t_ms``
    is its ratio to the speed reference times the reference's median latency over this run;
    ``hwsim calibrate``'s end-to-end stage times the same reference network
    (``info.end_to_end``), and its median there is the machine's speed when the profile was
    made. The VM's speed drifts by up to +-30% within minutes; this column says how much of
    a miss is that drift rather than the model."""
    with (RESULTS / "cpu_validation.csv").open() as f:
        rows: list[dict[str, object]] = list(csv.DictReader(f))
    for row in rows:
        graph = traced(str(row["model"]))
        for t in threads:
            measured = float(str(row[f"measured_{t}t_ms"]))
            predicted = hwsim.estimate(graph, profile, threads=t).latency_s * 1e3
            row[f"predicted_{t}t_ms"] = predicted
            row[f"ratio_{t}t"] = predicted / measured
        print(
            f"{row['model']:<24}"
            + "".join(
                f"  {t}T meas {float(str(row[f'measured_{t}t_ms'])):8.2f} "
                f"pred {float(str(row[f'predicted_{t}t_ms'])):8.2f}"
                for t in threads
            ),
            flush=True,
        )
    at_calibration_speed(rows, profile, threads)
    return rows


def calibration_reference_ms(profile: hwsim.Profile) -> float | None:
    """The speed reference's median latency in the end-to-end stage of ``hwsim calibrate``
    that made ``profile`` (``info.end_to_end``), or None."""
    e2e = profile.info.get("end_to_end") or ()
    return statistics.median(float(r["reference_ms"]) for r in e2e) if e2e else None


def at_calibration_speed(
    rows: Sequence[dict[str, object]], profile: hwsim.Profile, threads: Sequence[int]
) -> None:
    """Each 1-thread row also at the calibration's machine speed: its median ratio to the
    speed reference times the reference's latency in the calibration's end-to-end stage
    (``calibration_reference_ms``), i.e. measured and predicted in the same units of machine
    speed. Both the calibration and each measured row are timed against the same reference
    network in the same processes, so a drift of the VM's speed between the calibration and
    this run (up to +-30% within minutes) cancels; what remains is the model's error. No
    parameter moves."""
    calibration_ref = calibration_reference_ms(profile)
    if calibration_ref is None or 1 not in threads:
        return
    for row in rows:
        ratio = statistics.median(_per_pass(row, "ratio_to_reference_1t_pass{}"))
        at_cal = ratio * calibration_ref
        row["measured_1t_at_calibration_speed_ms"] = at_cal
        row["ratio_1t_at_calibration_speed"] = float(str(row["predicted_1t_ms"])) / at_cal
    run_ref = float(str(rows[0]["reference_1t_typical_ms"]))
    meas = [float(str(r["measured_1t_at_calibration_speed_ms"])) for r in rows]
    pred = [float(str(r["predicted_1t_ms"])) for r in rows]
    mape = statistics.mean(abs(p - m) / m for p, m in zip(pred, meas, strict=True))
    print(
        f"speed reference: {run_ref:.2f} ms typical in this run, {calibration_ref:.2f} ms "
        f"in the calibration's end-to-end stage; at the calibration's speed, 1 thread: "
        f"MAPE {mape:.1%}  Kendall tau {kendalltau(pred, meas).statistic:.3f}"
    )


def summary(rows: Sequence[dict[str, object]], t: int) -> tuple[float, float]:
    meas = [float(r[f"measured_{t}t_ms"]) for r in rows]  # type: ignore[arg-type]
    pred = [float(r[f"predicted_{t}t_ms"]) for r in rows]  # type: ignore[arg-type]
    mape = statistics.mean(abs(p - m) / m for p, m in zip(pred, meas, strict=True))
    return mape, float(kendalltau(pred, meas).statistic)


# ---- kernel speedups --------------------------------------------------------------------------

# Layer shapes (N out channels, K reduction, M output pixels), none of them a calibration shape.
KERNEL_SHAPES = ((64, 576, 3136), (512, 512, 49), (256, 2304, 196), (1024, 256, 196))
DENSITIES = (0.5, 0.25, 0.1)


def predicted_speedup(profile: hwsim.Profile, fmt: str, shape: GemmShape, stored: float) -> float:
    """The model's speedup of kernel ``fmt`` over the dense fp32 kernel on ``shape``."""
    if fmt == "int8":
        cycles = kernel_cycles(profile, "dense", shape, precision="int8")
    elif fmt == "int4":
        cycles = kernel_cycles(profile, "int4", shape, precision="int8")
    else:
        cycles = kernel_cycles(profile, fmt, shape, stored)
    return kernel_cycles(profile, "dense", shape) / cycles


def validate_kernels(profile: hwsim.Profile) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for n, k, m in KERNEL_SHAPES:
        shape = GemmShape(m=m, n=n, k=k)
        measured, load = in_fresh_process("--kernels", f"{n}x{k}x{m}")
        assert isinstance(measured, list)
        for case in measured:
            fmt, stored = str(case["kernel"]), float(case["stored"])
            speedup = float(case["measured_speedup"])
            predicted = predicted_speedup(profile, fmt, shape, stored)
            rows.append(
                {
                    "shape_nkm": f"{n}x{k}x{m}",
                    "kernel": fmt,
                    "stored": round(stored, 3),
                    "measured_speedup": speedup,
                    "predicted_speedup": predicted,
                    "error": predicted / speedup - 1,
                    "load_1m": load,
                }
            )
            print(
                f"{n}x{k}x{m:<6} {fmt:<7} stored {stored:5.3f}  measured {speedup:6.2f}x  "
                f"predicted {predicted:6.2f}x  ({predicted / speedup - 1:+.0%})",
                flush=True,
            )
    return rows


def report(rows: Sequence[dict[str, object]], threads: Sequence[int]) -> None:
    for t in threads:
        mape, tau = summary(rows, t)
        print(f"{t} thread(s): MAPE {mape:.1%}  Kendall tau {tau:.3f}")


def write_csv(rows: Sequence[dict[str, object]], path: Path, extra: dict[str, object]) -> None:
    write_rows(path, [{**r, **extra} for r in rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("parts", nargs="*", help="models and/or kernels (default: both)")
    parser.add_argument("--one", metavar="MODEL", help="time one model here, print JSON")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--unsettled", action="store_true", help="--one without settling")
    parser.add_argument("--kernels", metavar="NxKxM", help="time one kernel shape, print JSON")
    parser.add_argument(
        "--thread-counts", default=",".join(map(str, THREADS)), help="models: e.g. 1 or 1,2"
    )
    parser.add_argument("--profile", default="host", help="the profile to predict with")
    parser.add_argument("--passes", type=int, default=PASSES, help="models: passes over all")
    parser.add_argument(
        "--merge", nargs="+", type=Path, metavar="CSV", help="compare these runs as passes of one"
    )
    parser.add_argument("-o", "--output", type=Path, default=RESULTS / "cpu_validation.csv")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(time_forward(args.one, args.threads, settled=not args.unsettled)))
        return
    if args.kernels:
        print(json.dumps(time_kernels(*_shape(args.kernels))))
        return
    profile = hwsim.load_profile(args.profile)
    counts = [int(t) for t in args.thread_counts.split(",")]
    extra = {"cpu": profile.description, "torch": torch.__version__, "date": str(dt.date.today())}
    print(f"profile {profile.source} | load average at start {os.getloadavg()[0]:.2f}")
    parts = args.parts or ["models", "kernels"]
    known = {"models", "kernels", "repredict"}
    if set(parts) - known:
        parser.error(f"unknown part(s) {sorted(set(parts) - known)}")
    if args.merge:
        rows = merge_passes(args.merge)
        compare(rows, {str(r["model"]): traced(str(r["model"])) for r in rows}, profile, counts)
        report(rows, counts)
        write_csv(rows, args.output, extra)
        return
    if "repredict" in parts:
        rows = repredict(profile, counts)
        report(rows, counts)
        write_csv(rows, RESULTS / "cpu_validation.csv", {})
        return
    if "kernels" in parts:
        write_csv(validate_kernels(profile), RESULTS / "cpu_kernel_speedups.csv", extra)
    if "models" in parts:
        rows = validate_models(profile, counts, args.passes)
        report(rows, counts)
        write_csv(rows, args.output, extra)
    print(f"load average at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

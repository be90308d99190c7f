"""The end-to-end stage of ``hwsim calibrate``: time a few built-in reference models on this
machine and fit the per-op overhead terms of the host profile to them with ``hwsim.fit``.

Micro-benchmarks time each op kind alone, on tiny or cold tensors; a forward pass runs
hundreds of ops back to back through Python, and the overhead it pays per op and per module
call is not the sum of the micro-benchmarks' (interpreter and allocator state, caches shared
with the model's own data). So after the micro-benchmarks this stage times
``REFERENCE_MODELS`` (built-in CNN families whose networks no validation in this repository
uses: MobileNet v1 at several widths and resolutions, EfficientNet-Lite) in fresh processes
at 1 thread, as ``benchmarks/cpu_validation.py`` times its models, and fits two of
``PARAMS`` (``fit_timings``) with the same fitting code as ``hwsim fit`` (least squares on log
latency, the rows-per-parameter rule, leave-one-out error). The fitted values and the rows
are written into the profile.

Run as a module (``python -m hwsim.calibrate_e2e NAME THREADS``) it times one model in the
current process and prints JSON: that is what each fresh process runs.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .calibrate import settle_allocator, write_host_profile
from .fit import Case, FitError, FitResult, Measurement, fit, params_of
from .fit.solver import MIN_EFFECT, ROWS_PER_PARAM, effects
from .frontend.trace import trace
from .graph import OpGraph
from .profile import load_profile
from .workloads import get_workload

# Built-in networks no validation of this repository uses (docs/validation.md): MobileNet v1
# from 0.25 wide at 128 (dispatch-bound, ~2 ms) to 1.0 at 224 (compute-bound), and
# EfficientNet-Lite0 and 2 (many module calls per MAC).
REFERENCE_MODELS = (
    "mobilenet_v1:0.25_128",
    "mobilenet_v1:0.5_160",
    "mobilenet_v1:1.0_224",
    "efficientnet_lite:0",
    "efficientnet_lite:2",
    "mobilenet_v1:0.75_192",
)
# In order of preference; the first the rows can set, one per ``ROWS_PER_PARAM`` rows.
PARAMS = ("dispatch_scale", "conv_efficiency", "module_call_s")
THREADS = 1
WARMUP_RUNS = 5
TARGET_TIMED_S = 1.5
MIN_RUNS = 10
SOURCE = "hwsim calibrate (end-to-end stage)"

Progress = Callable[[str], None]


# Timed in alternation with every reference model (``time_interleaved``): a small cell network
# with every kind of op (3x3 and 1x1 convs, pooling, skip, zero), about 8 ms at 1 thread.
SPEED_REFERENCE = (
    "nas201:|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|"
)


@dataclass(frozen=True)
class ModelTiming:
    """One model timed in one process, forward by forward in alternation with
    ``SPEED_REFERENCE``: medians of each, and the median of their per-pair ratio."""

    name: str
    threads: int
    median_ms: float
    p10_ms: float
    p90_ms: float
    runs: int
    reference_ms: float
    ratio: float


def time_interleaved(
    name: str,
    model: torch.nn.Module,
    inputs: Sequence[torch.Tensor],
    threads: int,
    target_s: float = TARGET_TIMED_S,
) -> ModelTiming:
    """Time ``model`` on ``threads`` threads in this process, after ``settle_allocator``,
    each forward followed by one of ``SPEED_REFERENCE``. On the shared 2-vCPU test VM a
    model's median latency moves by ~15% between fresh processes minutes apart; its ratio
    to the reference, timed in the same moments, by ~2% (benchmarks/nas201_latency.py).
    ``WARMUP_RUNS`` untimed pairs, then as many as fill ``target_s``."""
    settle_allocator()
    reference = get_workload(SPEED_REFERENCE)
    ref_model, ref_inputs = reference.build(), reference.make_inputs(1)
    torch.set_num_threads(threads)
    pairs = time_pairs(model, inputs, ref_model, ref_inputs, target_s)
    return ModelTiming(
        name=name,
        threads=threads,
        median_ms=pairs.median_ms,
        p10_ms=pairs.decile_ms(1),
        p90_ms=pairs.decile_ms(9),
        runs=len(pairs.times),
        reference_ms=statistics.median(pairs.ref_times) * 1e3,
        ratio=pairs.ratio,
    )


@dataclass(frozen=True)
class PairedTimes:
    """Seconds of each forward of a model and of the reference forward that followed it."""

    times: tuple[float, ...]
    ref_times: tuple[float, ...]
    minor_faults: int  # page faults over the timed pairs: fresh pages the forwards touched

    @property
    def ratio(self) -> float:
        """Median over pairs of model / reference: what moves least with the machine."""
        return statistics.median(t / r for t, r in zip(self.times, self.ref_times, strict=True))

    @property
    def median_ms(self) -> float:
        return statistics.median(self.times) * 1e3

    def decile_ms(self, k: int) -> float:
        """The model's ``k``-th decile (the lower order statistic), in ms."""
        return sorted(self.times)[(k * len(self.times)) // 10] * 1e3


def time_pairs(
    model: torch.nn.Module,
    inputs: Sequence[torch.Tensor],
    ref_model: torch.nn.Module,
    ref_inputs: Sequence[torch.Tensor],
    target_s: float = TARGET_TIMED_S,
    min_runs: int = MIN_RUNS,
    warmup_runs: int = WARMUP_RUNS,
) -> PairedTimes:
    """Forward of ``model``, forward of ``ref_model``, in alternation on the current torch
    threads: ``warmup_runs`` untimed pairs, then as many timed pairs (at least ``min_runs``)
    as fill ``target_s``."""
    import resource

    with torch.inference_mode():
        for _ in range(warmup_runs):
            model(*inputs)
            ref_model(*ref_inputs)
        start = time.perf_counter()
        model(*inputs)
        ref_model(*ref_inputs)
        runs = max(min_runs, math.ceil(target_s / (time.perf_counter() - start)))
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        times, ref_times = [], []
        for _ in range(runs):
            start = time.perf_counter()
            model(*inputs)
            middle = time.perf_counter()
            ref_model(*ref_inputs)
            times.append(middle - start)
            ref_times.append(time.perf_counter() - middle)
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    return PairedTimes(tuple(times), tuple(ref_times), faults)


def time_here(name: str, threads: int) -> ModelTiming:
    """``time_interleaved`` of built-in model ``name``."""
    settle_allocator()
    workload = get_workload(name)
    return time_interleaved(name, workload.build(), workload.make_inputs(1), threads)


def typical_ms(timings: Sequence[ModelTiming]) -> list[float]:
    """Each timing's latency at the machine's typical speed over the run: its ratio to the
    reference times the reference's median latency over every process of the run."""
    reference = statistics.median(t.reference_ms for t in timings)
    return [t.ratio * reference for t in timings]


def time_in_fresh_process(name: str, threads: int) -> ModelTiming:
    """``time_here`` in a new Python process (the state of this one is not a model's)."""
    done = subprocess.run(
        [sys.executable, "-m", "hwsim.calibrate_e2e", name, str(threads)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "OMP_NUM_THREADS": str(threads)},
    )
    if done.returncode:
        raise RuntimeError(f"timing {name} failed:\n{done.stderr[-2000:]}")
    return ModelTiming(**json.loads(done.stdout.strip().splitlines()[-1]))


# The keys a machine-speed factor moves: every time the micro-benchmarks measured (dispatch,
# efficiencies, bandwidths and eager-loop rates) scales with the speed of the VM at the moment.
SPEED_KEYS = (
    ("arch.dispatch_scale", 1),
    ("arch.efficiency_scale.gemm", -1),
    ("arch.efficiency_scale.conv", -1),
    ("arch.efficiency_scale.depthwise", -1),
    ("arch.bandwidth_scale", -1),
)


def speed_params(factor: float) -> dict[str, float]:
    """``with_params`` assignments that make every micro-benchmarked time ``factor`` times
    longer: dispatch times x ``factor``, efficiencies, bandwidths and loop rates / ``factor``
    (``SPEED_KEYS``)."""
    return {key: factor**sign for key, sign in SPEED_KEYS}


def speed_factor(timings: Sequence[ModelTiming], micro_reference_ms: float | None) -> float:
    """How much slower the machine ran during the end-to-end stage than during the
    micro-benchmarks: the speed reference's median over the stage's processes over its
    latency timed just before and after the micro-benchmarks (1.0 when not timed)."""
    if not micro_reference_ms:
        return 1.0
    return statistics.median(t.reference_ms for t in timings) / micro_reference_ms


def fit_timings(
    profile_path: Path,
    timings: Sequence[ModelTiming],
    progress: Progress | None = None,
    graphs: Mapping[str, OpGraph] | None = None,
    micro_reference_ms: float | None = None,
) -> FitResult:
    """Fit the first of ``PARAMS`` the timed rows can set (``solver.effects``: a typical
    change moves some row's prediction by ``MIN_EFFECT``), one per ``ROWS_PER_PARAM`` rows,
    to ``timings``.

    ``dispatch_scale``: the per-op time a forward pays back to back is not the
    micro-benchmark's loop of one op. ``conv_efficiency``: the micro-benchmarks time convs on
    operands cold in cache (rotated through twice the L3) at one moment of the machine's
    speed; a network's convs run with weights and activations partly cached, at the speed
    the reference network measures. ``module_call_s`` is measured by the micro-benchmarks as
    an ``nn.Identity`` call; the reference networks enter few containers (MobileNet v1: 2
    calls), so it keeps its micro-benchmark value unless the rows depend on it. ``graphs``:
    models traced already, by name (the others are traced here).

    ``micro_reference_ms``: the speed reference's latency around the micro-benchmarks. The
    VM's speed moves by up to +-30% within minutes, and the micro-benchmarks and the timed
    rows run minutes apart; so every micro-benchmarked time is first brought to the speed of
    the timed rows (``speed_factor``, ``speed_params``) and the fit starts from there (the
    fitted terms replace their speed-corrected values; the others keep them)."""
    say = progress or (lambda _: None)
    cases = [
        Case(
            Measurement(SOURCE, i + 1, t.name, ms, threads=t.threads),
            graphs[t.name] if graphs and t.name in graphs else trace(t.name),
        )
        for i, (t, ms) in enumerate(zip(timings, typical_ms(timings), strict=True))
    ]
    base = load_profile(profile_path)
    factor = speed_factor(timings, micro_reference_ms)
    if factor != 1.0:
        say(f"end to end: the machine ran {factor:.3f}x as slow as during the micro-benchmarks")
        base = base.with_params(speed_params(factor))
    table = params_of(base.hw_class)
    moved = effects(base, [table[n] for n in PARAMS], cases, THREADS)
    chosen = [n for n in PARAMS if moved[n] >= MIN_EFFECT][: len(cases) // ROWS_PER_PARAM]
    if not chosen:
        raise FitError(
            f"end to end: no reference model depends on {', '.join(PARAMS)}; "
            "run 'hwsim calibrate --no-end-to-end'"
        )
    say(f"end to end: fitting {', '.join(chosen)}")
    return fit(base, cases, params=chosen)


def reference_ms() -> float:
    """The speed reference's median latency now, timed alone in a fresh process."""
    return time_in_fresh_process(SPEED_REFERENCE, THREADS).reference_ms


def fit_overheads(
    profile_path: Path,
    models: Sequence[str] = REFERENCE_MODELS,
    progress: Progress | None = None,
    micro_reference_ms: float | None = None,
) -> tuple[FitResult, list[ModelTiming]]:
    """Time ``models`` in fresh processes and fit the overhead terms of the profile at
    ``profile_path`` to them (``fit_timings``)."""
    say = progress or (lambda _: None)
    timings = []
    for name in models:
        say(f"end to end: timing {name} ({THREADS} thread)")
        timings.append(time_in_fresh_process(name, THREADS))
        say(f"  {json.dumps(timings[-1].__dict__)}")
    return fit_timings(profile_path, timings, progress, None, micro_reference_ms), timings


def profile_lines(
    result: FitResult,
    timings: Sequence[ModelTiming],
    micro_reference_ms: float | None = None,
) -> tuple[list[str], list[str]]:
    """Lines to add under ``arch:`` (the fitted terms, and the speed correction of the others
    when ``micro_reference_ms`` is given, nested as their ``arch.`` keys say) and under
    ``info:`` (the record)."""
    date = time.strftime("%Y-%m-%d")
    cv = result.cross_validation
    held = f", held out ({cv.method}) {cv.agreement.summary()}" if cv else ""
    factor = speed_factor(timings, micro_reference_ms)
    values: dict[str, tuple[float, str]] = {}
    if factor != 1.0:
        speed = (
            "the micro-benchmarks' figure at the end-to-end stage's machine speed "
            f"(x{factor:.4g} as slow)"
        )
        values = {key: (value, speed) for key, value in speed_params(factor).items()}
    for fp in result.params:
        comment = (
            f"{fp.param.name}, fitted end to end on {date} "
            f"(hwsim calibrate, {len(timings)} reference models{held})"
        )
        for key in fp.keys:
            values[key] = (fp.value, comment)
    tree: dict[str, Any] = {}
    for key, entry in values.items():
        *parents, leaf = key.split(".")[1:]
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = entry
    arch: list[str] = []

    def emit(node: Mapping[str, Any], depth: int) -> None:
        for name, item in node.items():
            if isinstance(item, Mapping):
                arch.append(f"{'  ' * depth}{name}:")
                emit(item, depth + 1)
            else:
                arch.append(f"{'  ' * depth}{name}: {item[0]:.4g}  # {item[1]}")

    emit(tree, 1)
    info = []
    if micro_reference_ms:
        info.append(
            f"  speed_reference:  # {SPEED_REFERENCE.split(':')[0]} speed reference, 1 thread"
        )
        info.append(f"    micro_benchmarks_ms: {micro_reference_ms:.4g}  # before and after them")
        ref = statistics.median(t.reference_ms for t in timings)
        info.append(f"    end_to_end_ms: {ref:.4g}  # median over the stage's processes")
    info += [
        "  end_to_end:  # hwsim calibrate's reference models, measured here: typical_ms = ratio"
        " to the speed reference x its median over the run"
    ]
    rows = zip(timings, typical_ms(timings), result.before_ms, result.after_ms, strict=True)
    for t, typical, before, after in rows:
        info.append(
            f"    - {{model: '{t.name}', threads: {t.threads}, typical_ms: {typical:.4g}, "
            f"median_ms: {t.median_ms:.4g}, p10_ms: {t.p10_ms:.4g}, p90_ms: {t.p90_ms:.4g}, "
            f"runs: {t.runs}, ratio: {t.ratio:.4g}, reference_ms: {t.reference_ms:.4g}, "
            f"micro_benchmarks_ms: {before:.4g}, fitted_ms: {after:.4g}}}"
        )
    return arch, info


def _without_arch_keys(lines: list[str], arch: Sequence[str]) -> list[str]:
    """``lines`` of a profile less the ``arch:`` entries that the fitted top-level terms in
    ``arch`` replace (the micro-benchmark's ``module_call_s``, if it is refitted)."""
    fitted = {
        line.split(":")[0]
        for line in arch
        if not line.startswith("   ") and not line.split("#")[0].rstrip().endswith(":")
    }
    out, in_arch = [], False
    for line in lines:
        if line and not line.startswith((" ", "#")):
            in_arch = line.startswith("arch:")
        if in_arch and not line.startswith("   ") and line.split(":")[0] in fitted:
            continue
        out.append(line)
    return out


def refine_profile(
    path: Path, progress: Progress | None = None, micro_reference_ms: float | None = None
) -> FitResult:
    """Fit the overhead terms end to end and write them into the host profile at ``path``
    (under ``arch``, with the measured rows under ``info``), checked as a profile first."""
    result, timings = fit_overheads(path, progress=progress, micro_reference_ms=micro_reference_ms)
    arch, info = profile_lines(result, timings, micro_reference_ms)
    lines = _without_arch_keys(path.read_text().splitlines(), arch)
    at = next(i for i, line in enumerate(lines) if line.startswith("  fold_batchnorm:")) + 1
    lines[at:at] = arch
    at = next(i for i, line in enumerate(lines) if line.startswith("info:")) + 1
    lines[at:at] = info
    tmp = path.with_suffix(".e2e.tmp.yaml")
    tmp.write_text("\n".join(lines) + "\n")
    try:
        load_profile(tmp)
    except Exception:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(path)
    return result


def calibrate_host(
    path: Path | None = None,
    *,
    budget_s: float = 40.0,
    threads: list[int] | None = None,
    quick: bool = False,
    end_to_end: bool = True,
    progress: Progress | None = None,
) -> Path:
    """``hwsim calibrate``: the micro-benchmarks (``calibrate.write_host_profile``), then,
    unless ``quick`` or not ``end_to_end``, this stage."""
    e2e = end_to_end and not quick
    before = reference_ms() if e2e else None
    written = write_host_profile(
        path, budget_s=budget_s, threads=threads, progress=progress, quick=quick
    )
    if before is not None:
        refine_profile(written, progress, (before + reference_ms()) / 2)
    return written


def main() -> None:
    """``python -m hwsim.calibrate_e2e NAME THREADS``: time one model here, print JSON."""
    print(json.dumps(time_here(sys.argv[1], int(sys.argv[2])).__dict__))


if __name__ == "__main__":
    main()

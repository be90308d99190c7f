"""The ``hwsim`` command line.

Every ``HwsimError`` and usage error becomes one line on stderr and exit status 2; anything
else is a bug in hwsim: one line and exit status 3, the traceback with ``--debug``
(``main``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from .errors import HwsimError, InputShapeError

if TYPE_CHECKING:
    from .compression import Rule
    from .compression.sqnr import Sqnr
    from .graph import OpGraph
    from .hardware import Profile

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Latency, energy and memory of (compressed) PyTorch models on CPUs, GPUs, systolic "
    "arrays, FPGAs and microcontrollers.",
    epilog="Exit status: 0 done; 2 bad input or flags (one line on stderr names it); 3 an "
    "internal error (one line; rerun with --debug for the traceback); 130 interrupted.",
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    debug: Annotated[
        bool,
        typer.Option(
            "--debug",
            help="On an internal error, show the traceback (also HWSIM_DEBUG=1; "
            "accepted anywhere on the command line).",
        ),
    ] = False,
) -> None:
    """``--debug`` is read by ``main`` before typer parses the line (so it may follow the
    command too); declaring it here lists it in ``hwsim --help``."""


# Piped output keeps full-width tables instead of rich's 80-column fallback.
_err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


def _out() -> Console:
    return Console(width=None if sys.stdout.isatty() else 160)


def _split(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _batches(text: str | None) -> list[int | None]:
    if text is None:
        return [None]
    try:
        values = [int(t) for t in _split(text)]
    except ValueError:
        raise InputShapeError(f"--batch '{text}': expected integers such as 1 or 1,8,64") from None
    if not values or any(v < 1 for v in values):
        raise InputShapeError(f"--batch '{text}': batch sizes must be positive integers")
    return list(values)


# Arguments and options that estimate and compare share, declared once.
TargetArg = Annotated[
    str,
    typer.Argument(
        help="Model file (.pt2, .onnx, TorchScript, .pt), SCALE-Sim topology (.csv) or "
        "built-in workload name."
    ),
]
HwOpt = Annotated[
    str, typer.Option("--hw", help="Profile preset(s) or YAML path(s), comma-separated.")
]
InputShapeOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--input-shape",
        help="Input shape like 1,3,224,224 (repeat or use ';' for several; "
        "':int64' suffix sets dtype); fixes an ONNX model's dynamic dimensions.",
    ),
]
PrecisionOpt = Annotated[
    str | None, typer.Option(help="Run every op at this precision (e.g. int8, fp16).")
]
FormatOpt = Annotated[str, typer.Option("--format", help="table | json | csv")]
NoCacheOpt = Annotated[
    bool,
    typer.Option(
        "--no-cache",
        help="Trace again, neither reading nor writing the graph cache "
        "(~/.cache/hwsim/graphs; safe to delete; docs/speed.md).",
    ),
]
TrustPickleOpt = Annotated[
    bool,
    typer.Option(
        "--trust-pickle", help="Allow loading a pickled nn.Module (runs code from the file)."
    ),
]
ArchOpt = Annotated[
    str | None,
    typer.Option(help="Built-in workload whose architecture a bare state_dict belongs to."),
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="Set a profile parameter, e.g. --set arch.rows=32 --set clock_hz=1e9 "
        "--set memory.sram.capacity_bytes=4e6 (repeatable; docs/profiles.md).",
    ),
]


def _trace(
    target: str,
    *,
    batch: int | None = None,
    input_shape: Sequence[str] | None = None,
    trust_pickle: bool = False,
    arch: str | None = None,
    no_cache: bool = False,
) -> OpGraph:
    """Trace ``target`` with a spinner on stderr (a cached graph returns at once)."""
    from .frontend.trace import trace

    with _err.status(f"tracing {target}" + (f" at batch {batch}" if batch else ""), spinner="dots"):
        return trace(
            target,
            batch=batch,
            input_shapes=input_shape,
            trust_pickle=trust_pickle,
            arch=arch,
            cache=not no_cache,
        )


ScheduleOpt = Annotated[
    str,
    typer.Option(
        "--schedule",
        help="Operator order activation memory is reported for: traced (the program's) or "
        "memory (the order with the least peak; docs/mcu.md).",
    ),
]


def _params(assignments: Sequence[str] | None) -> dict[str, Any]:
    """``--set KEY=VALUE`` pairs; values read as YAML scalars or lists (32, 1e9, true, [a])."""
    from .errors import ProfileError
    from .yamlio import parse_value

    params: dict[str, Any] = {}
    for item in assignments or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ProfileError(f"--set '{item}': expected KEY=VALUE, e.g. arch.rows=32")
        params[key.strip()] = parse_value(value.strip(), f"--set {key.strip()}", ProfileError)
    return params


def _profiles(hw: str, assignments: Sequence[str] | None) -> list[Profile]:
    """The ``--hw`` profiles with any ``--set`` parameters applied."""
    from .errors import ProfileError
    from .profile import load_profile

    names = _split(hw)
    if not names:
        raise ProfileError("--hw: no profile given")
    _calibrate_host_if_needed(names)
    params = _params(assignments)
    profiles = [load_profile(name) for name in names]
    if not params:
        return profiles
    try:
        return [p.with_params(params) for p in profiles]
    except ProfileError as exc:
        raise ProfileError(f"--set: {exc}") from None


@app.command()
def estimate(
    target: TargetArg,
    hw: HwOpt,
    batch: Annotated[str | None, typer.Option(help="Batch size(s), e.g. 1 or 1,8,64.")] = None,
    input_shape: InputShapeOpt = None,
    precision: PrecisionOpt = None,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="table | json | csv | chrome-trace (the per-op schedule as Chrome/Perfetto "
            "trace JSON on stdout; open it in ui.perfetto.dev).",
        ),
    ] = "table",
    trust_pickle: TrustPickleOpt = False,
    arch: ArchOpt = None,
    all_ops: Annotated[
        bool, typer.Option("--all-ops", help="Also list free views in the table.")
    ] = False,
    top: Annotated[
        int | None, typer.Option(min=1, help="Show only the N slowest ops in the table.")
    ] = None,
    prune: Annotated[
        str | None,
        typer.Option(
            help="What-if pruning of the real weights: 0.8 (unstructured), 2:4, 4:8, "
            "block4x4:0.75, block1x4:0.5, channel:0.5."
        ),
    ] = None,
    quant: Annotated[
        str | None,
        typer.Option(help="What-if quantization: int8, int4, binary, fp16, bf16 or wNaM (w4a8)."),
    ] = None,
    layers: Annotated[
        str | None,
        typer.Option(help="Apply --prune/--quant only to ops whose name matches this regex."),
    ] = None,
    recipe: Annotated[
        Path | None,
        typer.Option(help="YAML recipe of per-layer prune/quant rules (docs/compression.md)."),
    ] = None,
    sqnr: Annotated[
        bool,
        typer.Option(
            "--sqnr", help="Accuracy proxy: output SQNR of the compressed model, per layer too."
        ),
    ] = False,
    folding: Annotated[
        Path | None,
        typer.Option(help="FPGA streaming only: a folding JSON (FINN's format or op names)."),
    ] = None,
    target_fps: Annotated[
        float | None,
        typer.Option(
            "--target-fps", help="FPGA streaming only: fold for this frame rate, as small as can."
        ),
    ] = None,
    threads: Annotated[
        int | None,
        typer.Option(help="CPU profiles only: threads to run on (default: the profile's cores)."),
    ] = None,
    set_: SetOpt = None,
    schedule: ScheduleOpt = "traced",
    no_cache: NoCacheOpt = False,
) -> None:
    """Estimate per-op latency and energy of TARGET on one or more hardware profiles."""
    from .estimate import (
        check_options_apply,
        check_precision_agrees,
        check_schedule,
        compression_rules,
        estimate_many,
        user_options,
    )
    from .render import print_tables, to_csv, to_json

    _check_format(fmt, ("table", "json", "csv", "chrome-trace"))
    check_schedule(schedule)
    profiles = _profiles(hw, set_)
    check_options_apply(
        user_options(threads=threads, folding=folding, target_fps=target_fps), profiles
    )
    rules = compression_rules(prune=prune, quant=quant, layers=layers, recipe=recipe)
    check_precision_agrees(precision, rules, f"--recipe {recipe}" if recipe else f"--quant {quant}")
    if sqnr and not rules:
        raise typer.BadParameter("needs --prune, --quant or --recipe", param_hint="--sqnr")
    estimates = []
    for b in _batches(batch):
        graph = _trace(
            target,
            batch=b,
            input_shape=input_shape,
            trust_pickle=trust_pickle,
            arch=arch,
            no_cache=no_cache,
        )
        priced, proxy = _compressed(graph, rules, sqnr)
        for est in estimate_many(
            priced,
            profiles,
            precision=precision,
            threads=threads,
            folding=folding,
            target_fps=target_fps,
            schedule=schedule,
        ):
            estimates.append(dataclasses.replace(est, sqnr=proxy) if proxy else est)
    for warning in dict.fromkeys(w for est in estimates for w in est.warnings):
        _err.print(f"warning: {warning}", highlight=False, markup=False)
    if fmt == "json":
        sys.stdout.write(to_json(estimates) + "\n")
    elif fmt == "csv":
        sys.stdout.write(to_csv(estimates))
    elif fmt == "chrome-trace":
        from .trace_events import to_chrome_trace

        sys.stdout.write(to_chrome_trace(estimates) + "\n")
    else:
        print_tables(estimates, _err, all_ops=all_ops, top=top)


def _compressed(graph: OpGraph, rules: Sequence[Rule], sqnr: bool) -> tuple[OpGraph, Sqnr | None]:
    """The graph the rules make (the traced one if none) and, if asked, its SQNR."""
    if not rules:
        return graph, None
    from .compression import compress
    from .compression.sqnr import output_sqnr

    with _err.status("compressing the weights", spinner="dots"):
        compressed = compress(graph, rules)
    if not sqnr:
        return compressed, None
    with _err.status("running the accuracy proxy", spinner="dots"):
        return compressed, output_sqnr(graph, compressed)


def _check_format(fmt: str, formats: Sequence[str] = ("table", "json", "csv")) -> None:
    if fmt not in formats:
        raise typer.BadParameter(
            f"'{fmt}' is not one of {', '.join(formats)}", param_hint="--format"
        )


def _calibrate_host_if_needed(names: list[str]) -> None:
    """First use of ``--hw host``: measure this machine, saying so on stderr."""
    from .profile import HOST_PROFILE, host_profile_path

    if HOST_PROFILE in names and not host_profile_path().exists():
        _err.print("calibrating this machine for --hw host (first use, about a minute)...")
        _err.print(f"wrote {_calibrate()}")


def _calibrate(**options: Any) -> Path:
    """Calibrate with a progress bar on stderr (drawn only on a terminal)."""
    from .calibrate_e2e import calibrate_host
    from .progress import progress_bar

    with progress_bar("calibrating", console=_err) as step:
        return calibrate_host(progress=step, **options)


@app.command()
def compare(
    target: TargetArg,
    hw: HwOpt,
    variants: Annotated[
        str,
        typer.Option(
            help="Comma-separated variants: dense, 2:4, 0.8, block4x4:0.75, channel:0.5, int8, "
            "int4, fp16, w4a8, and '+' to combine (int8+2:4)."
        ),
    ] = "dense,2:4,0.8,int8,int8+2:4",
    layers: Annotated[
        str, typer.Option(help="Compress only ops whose name matches this regex.")
    ] = ".*",
    batch: Annotated[int | None, typer.Option(help="Batch size.")] = None,
    input_shape: InputShapeOpt = None,
    precision: PrecisionOpt = None,
    sqnr: Annotated[
        bool, typer.Option("--sqnr", help="Add the accuracy proxy (output SQNR in dB).")
    ] = False,
    fmt: FormatOpt = "table",
    trust_pickle: TrustPickleOpt = False,
    arch: ArchOpt = None,
    set_: SetOpt = None,
    schedule: ScheduleOpt = "traced",
    no_cache: NoCacheOpt = False,
) -> None:
    """Latency, energy, weight bytes and speedup of compression variants on several profiles."""
    from .compare import compare as run_compare
    from .compression import parse_variant
    from .estimate import check_schedule
    from .progress import progress_bar
    from .render import comparison_rows_table

    _check_format(fmt)
    check_schedule(schedule)
    profiles = _profiles(hw, set_)
    graph = _trace(
        target,
        batch=batch,
        input_shape=input_shape,
        trust_pickle=trust_pickle,
        arch=arch,
        no_cache=no_cache,
    )
    parsed = [parse_variant(v, layers) for v in _split(variants)]
    steps = len(parsed) + (not any(v.is_dense for v in parsed))  # compare adds the dense baseline
    with progress_bar("pricing variants", steps, console=_err) as step:
        frame = run_compare(
            graph,
            profiles,
            parsed,
            precision=precision,
            layers=layers,
            sqnr=sqnr,
            progress=step,
            schedule=schedule,
        )
    if fmt == "json":
        rows = json.loads(frame.to_json(orient="records"))
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
    elif fmt == "csv":
        sys.stdout.write(frame.to_csv(index=False))
    else:
        _err.print(comparison_rows_table(frame, f"{graph.info.source} (batch {graph.info.batch})"))


def _count(text: str, flag: str) -> int:
    """A positive integer option, or one line naming it (typer's own message is a box)."""
    from .llm import LlmError

    try:
        value = int(text)
    except ValueError:
        raise LlmError(f"{flag} '{text}': expected a positive integer") from None
    if value < 1:
        raise LlmError(f"{flag} '{text}': expected a positive integer")
    return value


def _bytes(text: str, flag: str) -> float:
    from .llm import LlmError

    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise LlmError(f"{flag} '{text}': expected a positive number of bytes, e.g. 8.5e10")
    return value


@app.command()
def llm(
    model: Annotated[
        str, typer.Argument(help="Built-in model (llama3_8b, mixtral_8x7b...) or a config.json.")
    ],
    hw: Annotated[str, typer.Option("--hw", help="One profile preset or YAML path.")],
    prompt: Annotated[str, typer.Option(help="Prompt tokens per sequence.")],
    gen: Annotated[str, typer.Option(help="Generated tokens per sequence.")],
    batch: Annotated[str, typer.Option(help="Sequences served together.")] = "1",
    tp: Annotated[str, typer.Option(help="Tensor-parallel devices.")] = "1",
    quant: Annotated[
        str, typer.Option(help="Linear layers: fp16, bf16, fp8, int8, int4 or w4a16.")
    ] = "fp16",
    kv_dtype: Annotated[
        str | None, typer.Option(help="KV cache: fp16, bf16, fp8 or int8 (default: as --quant).")
    ] = None,
    decode_kernel: Annotated[
        str, typer.Option(help="Decode attention: splitkv (FlashAttention-2) or mmha.")
    ] = "splitkv",
    capacity: Annotated[
        str | None, typer.Option(help="Device memory in bytes (default: the profile's).")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="table | json")] = "table",
    set_: SetOpt = None,
) -> None:
    """Serve a language model: time to first token, time per output token, tokens/s, memory."""
    from .errors import ProfileError
    from .llm import LlmError, ServingRequest, serve
    from .llm.report import serving_table

    if fmt not in ("table", "json"):
        raise LlmError(f"--format '{fmt}': expected table or json")
    profiles = _profiles(hw, set_)
    if len(profiles) != 1:
        raise ProfileError(f"--hw '{hw}': hwsim llm prices one profile at a time")
    (profile,) = profiles
    request = ServingRequest(
        prompt=_count(prompt, "--prompt"),
        gen=_count(gen, "--gen"),
        batch=_count(batch, "--batch"),
        tp=_count(tp, "--tp"),
        quant=quant,
        kv_dtype=kv_dtype,
        decode_kernel=decode_kernel,
        capacity_bytes=None if capacity is None else _bytes(capacity, "--capacity"),
    )
    with _err.status(f"pricing {model} on {profile.name}", spinner="dots"):
        est = serve(model, profile, request)
    if fmt == "json":
        sys.stdout.write(json.dumps(est.to_dict(), indent=2) + "\n")
    else:
        _err.print(serving_table(est))


@app.command()
def memory(
    target: TargetArg,
    hw: Annotated[str, typer.Option("--hw", help="One profile preset or YAML path.")],
    schedule: ScheduleOpt = "traced",
    plot: Annotated[
        Path | None,
        typer.Option(help="Write the lifetime chart here (.png, .svg or .pdf)."),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="table | json")] = "table",
    input_shape: InputShapeOpt = None,
    trust_pickle: TrustPickleOpt = False,
    arch: ArchOpt = None,
    set_: SetOpt = None,
    no_cache: NoCacheOpt = False,
) -> None:
    """Activation memory of TARGET on a profile: the peak, the tensors alive at it, and
    whether the model fits the device (docs/mcu.md)."""
    from .errors import ProfileError
    from .estimate import check_schedule, estimate_many
    from .memory_chart import check_chart_path, save_chart
    from .memory_report import estimate_memory_report, memory_lines, memory_table

    if fmt not in ("table", "json"):
        raise typer.BadParameter(f"'{fmt}' is not one of table, json", param_hint="--format")
    check_schedule(schedule)
    if plot is not None:
        check_chart_path(plot)
    profiles = _profiles(hw, set_)
    if len(profiles) != 1:
        raise ProfileError(f"--hw '{hw}': hwsim memory takes one profile")
    graph = _trace(
        target, input_shape=input_shape, trust_pickle=trust_pickle, arch=arch, no_cache=no_cache
    )
    (est,) = estimate_many(graph, profiles, schedule=schedule)
    report = estimate_memory_report(est)
    if plot is not None:
        save_chart(
            est.memory,
            plot,
            report["limit_bytes"],
            title=f"{report['model']} on {report['hw']}",
            limit_name=report["limit_memory"],
        )
        _err.print(f"wrote {plot}")
    if fmt == "json":
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
        return
    _err.print(memory_table(report))
    for line in memory_lines(report):
        _err.print(line, highlight=False, markup=False)


@app.command()
def sweep(
    spec: Annotated[Path, typer.Argument(help="Sweep spec YAML (docs/codesign.md).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Output directory.")],
    workers: Annotated[
        int | None,
        typer.Option(help="Local Dask worker processes (default: CPU count; 0: this process)."),
    ] = None,
    scheduler: Annotated[
        str | None, typer.Option(help="Address of an existing Dask scheduler to run on.")
    ] = None,
) -> None:
    """Sweep profile parameters over workloads: results.parquet/.csv, Pareto fronts, a report."""
    import os

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from .sweep import load_spec, run_sweep, write_report
    from .sweep.store import done_points

    parsed = load_spec(spec)
    count = (os.cpu_count() or 1) if workers is None else workers
    if count < 0:
        raise typer.BadParameter("must be 0 or more", param_hint="--workers")
    columns = ("{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    try:
        with Progress(*columns, console=_err, disable=not sys.stderr.isatty()) as bar:
            task = bar.add_task("tracing", total=None)
            result = run_sweep(
                parsed,
                output,
                workers=count,
                scheduler=scheduler,
                progress=lambda done, total: bar.update(
                    task, description="design points", completed=done, total=total
                ),
                status=lambda message: bar.update(task, description=message),
            )
    except KeyboardInterrupt:
        _err.print(
            f"interrupted: {len(done_points(output))} design points are on disk in "
            f"{output / 'parts'}; run the same command again to resume",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
        raise SystemExit(130) from None
    write_report(parsed, result.rows, output)
    front = int(result.rows["pareto"].sum())
    feasible = int(result.rows["feasible"].sum())
    _err.print(
        f"{result.points} design points ({result.priced} priced now), {len(result.rows)} rows, "
        f"{feasible} feasible, {front} on a Pareto front: {output / 'results.parquet'}, "
        "results.csv, report.html",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
    if result.rows["area_mm2"].isna().any():
        _err.print(
            f"warning: {parsed.base} has no area model (an 'area' section, docs/codesign.md): "
            "area_mm2 is empty",
            highlight=False,
        )


@app.command()
def plot(
    target: TargetArg,
    hw: Annotated[str, typer.Option("--hw", help="One profile preset or YAML path.")],
    kind: Annotated[
        str,
        typer.Option(
            help="roofline (ops on the profile's roofline), layers (latency per op coloured by "
            "bound) or timeline (the chrome-trace schedule as a Gantt chart)."
        ),
    ],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="Image to write (.png, .svg or .pdf).")
    ],
    batch: Annotated[int | None, typer.Option(help="Batch size.")] = None,
    input_shape: InputShapeOpt = None,
    precision: PrecisionOpt = None,
    top: Annotated[
        int,
        typer.Option(min=1, help="layers: draw the N slowest ops, the rest summed in one bar."),
    ] = 40,
    trust_pickle: TrustPickleOpt = False,
    arch: ArchOpt = None,
    set_: SetOpt = None,
    no_cache: NoCacheOpt = False,
) -> None:
    """Draw where the time of TARGET on a profile goes (docs/pictures.md)."""
    from .errors import ProfileError
    from .estimate import estimate_many
    from .plots import check_plot, save_plot

    check_plot(kind, output)
    profiles = _profiles(hw, set_)
    if len(profiles) != 1:
        raise ProfileError(f"--hw '{hw}': hwsim plot draws one profile")
    graph = _trace(
        target,
        batch=batch,
        input_shape=input_shape,
        trust_pickle=trust_pickle,
        arch=arch,
        no_cache=no_cache,
    )
    (est,) = estimate_many(graph, profiles, precision=precision)
    with _err.status(f"drawing {output}", spinner="dots"):
        save_plot(est, kind, output, **({"top": top} if kind == "layers" else {}))
    _err.print(f"wrote {output}")


@app.command()
def calibrate(
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Where to write (default: the --hw host profile)."),
    ] = None,
    budget: Annotated[
        float, typer.Option(help="Seconds of measurement to spread over the benchmarks.")
    ] = 40.0,
    threads: Annotated[
        str | None, typer.Option(help="Thread counts to measure, e.g. 1,2 (default: 1..cores).")
    ] = None,
    quick: Annotated[
        bool, typer.Option("--quick", help="A coarse grid (for tests and smoke checks).")
    ] = False,
    end_to_end: Annotated[
        bool,
        typer.Option(
            "--end-to-end/--no-end-to-end",
            help="Then time built-in reference models and fit the per-op overheads to them.",
        ),
    ] = True,
) -> None:
    """Measure this CPU and write the profile that '--hw host' uses."""

    if not (math.isfinite(budget) and budget > 0):
        raise typer.BadParameter(
            f"{budget}: expected a positive number of seconds", param_hint="--budget"
        )
    try:
        counts = [int(t) for t in _split(threads)] if threads else None
    except ValueError:
        counts = []
    if counts is not None and (not counts or min(counts) < 1):
        raise typer.BadParameter("expected positive integers like 1,2", param_hint="--threads")
    path = _calibrate(
        path=output, budget_s=budget, threads=counts, quick=quick, end_to_end=end_to_end
    )
    _err.print(f"wrote {path}")


MeasArg = Annotated[
    list[Path],
    typer.Argument(
        help="Measurement CSV(s): model, latency_ms [, input_shape, batch, quant, prune, "
        "threads, precision, source, note] (docs/fit.md)."
    ),
]
ThreadsOpt = Annotated[
    int | None,
    typer.Option(help="CPU profiles: threads for rows that give none (default: the profile's)."),
]


def _cases(files: Sequence[Path]) -> list[Any]:
    """Every row of the measurement files, each distinct model traced once."""
    from .fit import read_measurements, trace_cases

    rows = [m for f in files for m in read_measurements(f)]
    with _err.status("tracing", spinner="dots") as status:
        return list(trace_cases(rows, progress=lambda msg: status.update(msg)))


@app.command()
def validate(
    meas: MeasArg,
    hw: Annotated[str, typer.Option("--hw", help="Profile preset or YAML path.")],
    threads: ThreadsOpt = None,
    fmt: FormatOpt = "table",
    plot: Annotated[
        Path | None,
        typer.Option(help="Draw predicted against measured (log-log, 1:1 line, +-25%) here."),
    ] = None,
) -> None:
    """Compare a profile's predictions with measured latencies (MAPE, Kendall tau, Spearman)."""
    from .fit import plot_validation
    from .fit import validate as run_validate
    from .fit.report import validation_table

    _check_format(fmt)
    profile = _profiles(hw, None)[0]
    result = run_validate(_cases(meas), profile, threads)
    if plot is not None:
        plot_validation(result, plot)
    if fmt == "json":
        sys.stdout.write(json.dumps(result.to_dict(), indent=2) + "\n")
    elif fmt == "csv":
        sys.stdout.write(result.to_csv())
    else:
        _err.print(validation_table(result))


@app.command()
def fit(
    meas: MeasArg,
    hw: Annotated[str, typer.Option("--hw", help="Base profile preset or YAML path.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the profile.")],
    params: Annotated[
        str | None,
        typer.Option(help="Parameters to fit, comma-separated (default: the class's choice)."),
    ] = None,
    threads: ThreadsOpt = None,
) -> None:
    """Fit a few physical parameters of a profile to measured latencies; write the profile."""
    from .fit import fit as run_fit
    from .fit import write_fitted_profile
    from .fit.report import fit_summary

    base = _profiles(hw, None)[0]
    cases = _cases(meas)
    with _err.status("fitting", spinner="dots") as status:
        result = run_fit(
            base,
            cases,
            params=_split(params) if params else None,
            threads=threads,
            progress=lambda msg: status.update(msg),
        )
    path = write_fitted_profile(result, output)
    _err.print(fit_summary(result))
    _err.print(f"wrote {path}")


@app.command()
def profiles(
    name: Annotated[
        str | None, typer.Argument(help="Show this preset (or YAML file) in full.")
    ] = None,
) -> None:
    """List the hardware profile presets, or show one."""
    from rich.table import Table

    from .profile import load_profile, preset_names, preset_path

    if name is not None:
        profile = load_profile(name)
        path = Path(profile.source) if Path(profile.source).exists() else preset_path(profile.name)
        sys.stdout.write(path.read_text())
        return
    table = Table(title="hardware profiles", header_style="bold")
    for col in ("name", "class", "clock", "peak MACs/cycle", "memory", "description"):
        table.add_column(col)
    for preset in preset_names():
        p = load_profile(preset)
        peaks = ", ".join(f"{k} {v:,.0f}" for k, v in p.peak_macs_per_cycle.items())
        memory = " > ".join(lvl.name for lvl in p.memory)
        table.add_row(
            p.name, p.hw_class, f"{p.clock_hz / 1e6:,.0f} MHz", peaks, memory, p.description
        )
    _out().print(table)


@app.command()
def workloads() -> None:
    """List the built-in workloads."""
    from rich.table import Table

    from .workloads import FAMILY_EXAMPLES, get_workload, reference_names, workload_names

    table = Table(title="built-in workloads", header_style="bold")
    for col in ("name", "set", "published MACs", "source", "description"):
        table.add_column(col)
    for names, label in ((workload_names(), "core"), (reference_names(), "coral")):
        for name in names:
            w = get_workload(name)
            macs = "—" if w.published_macs is None else f"{w.published_macs / 1e6:,.0f} M"
            table.add_row(name, label, macs, w.macs_source, w.description)
    _out().print(table)
    families = Table(title="families (name a member as prefix:spec)", header_style="bold")
    for col in ("example", "published MACs", "description"):
        families.add_column(col)
    for example in FAMILY_EXAMPLES.values():
        w = get_workload(example)
        families.add_row(example, f"{w.published_macs / 1e6:,.0f} M", w.description)
    _out().print(families)


@app.command()
def export(
    name: Annotated[str, typer.Argument(help="Built-in workload to export.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the .pt2 file.")],
    batch: Annotated[int, typer.Option(help="Batch size of the example inputs.")] = 1,
) -> None:
    """Export a built-in workload to a torch.export .pt2 archive (random weights)."""
    from .frontend.export_workload import export_workload

    export_workload(name, output, batch=batch)
    _err.print(f"wrote {output}")


# Exit statuses (docs/security.md): 0 done, 2 the user's input or flags are at fault (one line
# naming what), 3 a bug in hwsim (one line; --debug or HWSIM_DEBUG=1 shows the traceback),
# 130 interrupted.
EXIT_USER_ERROR = 2
EXIT_INTERNAL_ERROR = 3
EXIT_INTERRUPTED = 130


def main(argv: Sequence[str] | None = None) -> None:
    """Run the CLI on ``argv`` (default: the command line) and exit with the policy's status.

    Whatever goes wrong ends as one line on stderr: a ``HwsimError`` or a usage error (exit 2)
    names the input at fault; any other exception is a bug in hwsim (exit 3), reported by type
    and message with a hint to rerun with ``--debug`` for the traceback."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = os.environ.get("HWSIM_DEBUG", "") not in ("", "0")
    if "--debug" in _options_part(args):
        debug = True
        cut = _options_end(args)
        args = [a for a in args[:cut] if a != "--debug"] + args[cut:]
    # torch logs its own internal failures on stderr (a fake-tensor op that failed, with its
    # traceback; notes on specialized shapes) even where hwsim reports the failure as one
    # line; they are shown with --debug only. logging.disable, not a logger's level: torch is
    # imported later, by the command, and sets its loggers' levels when it is.
    disabled = logging.root.manager.disable
    if not debug:
        logging.disable(logging.ERROR)
    try:
        code = app(args=args or ["--help"], prog_name="hwsim", standalone_mode=False)
        if not args:
            code = EXIT_USER_ERROR
        elif code == EXIT_INTERRUPTED:  # typer turns Ctrl-C inside a command into this
            code = _fail("error: interrupted", EXIT_INTERRUPTED)
    except HwsimError as exc:
        code = _fail(f"error: {_one_line(str(exc))}", EXIT_USER_ERROR)
    except typer.TyperException as exc:  # typer's usage errors: BadParameter, NoSuchOption...
        code = _fail(_usage_line(exc), EXIT_USER_ERROR)
    except KeyboardInterrupt:
        code = _fail("error: interrupted", EXIT_INTERRUPTED)
    except BrokenPipeError:  # `hwsim ... | head`: the reader left, nothing to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 1
    except Exception as exc:
        if debug:
            traceback.print_exc()
        hint = "" if debug else " (rerun with --debug for the traceback)"
        message = _one_line(f"{type(exc).__name__}: {exc}")
        code = _fail(f"error: internal error: {message}{hint}", EXIT_INTERNAL_ERROR)
    finally:
        logging.disable(disabled)
    raise SystemExit(code if isinstance(code, int) else 0)


def _options_end(args: Sequence[str]) -> int:
    """Index of a ``--`` separator (what follows it is a value, never an option)."""
    return list(args).index("--") if "--" in args else len(args)


def _options_part(args: Sequence[str]) -> Sequence[str]:
    return args[: _options_end(args)]


def _one_line(text: str, limit: int = 500) -> str:
    """A message as one line (an exception's text may hold newlines or be huge)."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _usage_line(exc: typer.TyperException) -> str:
    """typer/click's usage error as one line, naming the command and its --help."""
    ctx = getattr(exc, "ctx", None)
    command = ctx.command_path if ctx is not None else "hwsim"
    return f"error: {command}: {_one_line(exc.format_message())} (see '{command} --help')"


def _fail(line: str, code: int) -> int:
    _err.print(line, highlight=False, markup=False, soft_wrap=True)
    return code

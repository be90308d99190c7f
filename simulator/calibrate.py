"""Calibrate a CPU profile for the machine this runs on (``hwsim calibrate``, ``--hw host``).

Facts come from the operating system (/proc/cpuinfo flags, /sys cache sizes, core count); rates
come from micro-benchmarks, never from the models hwsim is later validated on:

- per-op dispatch of eager PyTorch (tiny tensors, one op kind at a time), called directly and
  through the ``nn.Module`` a model would call; convs on both of eager PyTorch's paths (its
  native im2col + GEMM and oneDNN, ``costmodels.cpu.takes_onednn``), whose fixed costs differ
  several-fold;
- a STREAM-like triad ``a = b + s*c`` (``torch.add(..., out=)``) over working sets sized to
  each cache level and to DRAM;
- achieved efficiency of ``torch.nn.functional.linear`` over a grid of GEMM shapes, of dense
  ``conv2d`` over a grid of conv shapes (1x1 and 3x3) and of depthwise ``conv2d``, and the rate
  of eager batch-norm, clamp and SiLU loops, all on operands rotated through twice the
  last-level cache (``cold_call``), as a model's ops find theirs (the conv grids less the
  dispatch of each point's path, which the cost model prices apart); the window-tap rates of
  eager avg and max pooling;
- hwsim's numba kernels (``hwsim.kernels``): the dense fp32, int8 and int4 reference, and
  CSR/BSR sparse and N:M kernels over a density sweep, on three calibration shapes, timed by
  ``hwsim.kernels.timing`` as the validation times them.

Each torch measurement is repeated for every thread count from 1 to the number of cores; on
more than one thread each is taken between clean scheduler-stall probes (``uncontended``:
another process on the cores makes every parallel region wait whole scheduler ticks). All
run after ``settle_allocator()``, in the allocator state of a model's steady-state forward
pass (see the note above it). The result
is a profile (``build_profile_text``) whose every number carries a comment saying where it came
from; ``load_profile("host")`` reads it from ``host_profile_path()``.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import math
import os
import statistics
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .costmodels.cpu import takes_onednn
from .costmodels.cpu_arch import EAGER_LOOP_SHAPES
from .profile import host_profile_path, load_profile

PEAK_FMA_UNITS = 2  # assumed: two SIMD FMA pipes per core (Zen 2-4, Skylake to Sapphire Rapids)

Progress = Callable[[str], None]


@dataclass(frozen=True)
class HostFacts:
    """What the operating system says about this CPU."""

    model_name: str
    cores: int
    clock_hz: float
    flags: frozenset[str]
    cache_bytes: dict[int, tuple[int, int]]  # level -> (bytes per instance, cpus sharing one)

    @property
    def vector_bits(self) -> int:
        if "avx512f" in self.flags:
            return 512
        if "avx2" in self.flags or "avx" in self.flags:
            return 256
        return 128  # SSE / NEON

    @property
    def int8_dot_product(self) -> bool:
        return bool(self.flags & {"avx512_vnni", "avx_vnni", "asimddp", "amx_int8"})

    @property
    def isa(self) -> list[str]:
        wanted = ["sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512_vnni", "avx_vnni"]
        wanted += ["avx512_bf16", "amx_int8", "asimd", "asimddp", "fphp"]
        return [f for f in wanted if f in self.flags]


def _cpuinfo() -> dict[str, str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        out.setdefault(key.strip(), value.strip())
    return out


def _cache_bytes() -> dict[int, tuple[int, int]]:
    out: dict[int, tuple[int, int]] = {}
    root = Path("/sys/devices/system/cpu/cpu0/cache")
    for index in sorted(root.glob("index*")):
        try:
            if (index / "type").read_text().strip() == "Instruction":
                continue
            level = int((index / "level").read_text())
            size = (index / "size").read_text().strip()
            shared = (index / "shared_cpu_list").read_text().strip()
        except (OSError, ValueError):
            continue
        scale = {"K": 1024, "M": 1 << 20}.get(size[-1], 1)
        sharing = sum(
            int(b) - int(a) + 1
            for a, _, b in (p.partition("-") if "-" in p else (p, "", p) for p in shared.split(","))
        )
        out[level] = (int(size.rstrip("KM")) * scale, sharing)
    return out or {1: (32768, 1), 2: (524288, 1), 3: (8 << 20, os.cpu_count() or 1)}


def host_facts() -> HostFacts:
    info = _cpuinfo()
    flags = frozenset((info.get("flags") or info.get("Features") or "").split())
    mhz = float(info.get("cpu MHz", "0") or 0)
    return HostFacts(
        model_name=info.get("model name", "unknown CPU"),
        cores=len(os.sched_getaffinity(0)),
        clock_hz=mhz * 1e6 if mhz else 2.0e9,
        flags=flags,
        cache_bytes=_cache_bytes(),
    )


def peak_macs_per_core_cycle(facts: HostFacts) -> dict[str, float]:
    """fp32 and int8 MACs per cycle of one core from the vector width and ISA."""
    lanes = facts.vector_bits // 32
    fp32 = PEAK_FMA_UNITS * lanes
    # int8: with VNNI/SDOT one instruction does 4 MACs per 32-bit lane; AVX2's
    # vpmaddubsw + vpmaddwd pair reaches 2.
    return {"fp32": fp32, "int8": fp32 * (4 if facts.int8_dot_product else 2)}


# ---- timing ---------------------------------------------------------------------------------


def _time_s(
    call: Callable[[], object],
    budget_s: float,
    max_runs: int = 200,
    stat: Callable[[list[float]], float] = statistics.median,
) -> float:
    """Median (or ``stat``) seconds of ``call`` after one warm-up, run for about ``budget_s``."""
    call()
    start = time.perf_counter()
    call()
    first = time.perf_counter() - start
    runs = max(3, min(max_runs, int(budget_s / max(first, 1e-7))))
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return stat(times)


# ---- scheduler stalls of a multi-thread team ---------------------------------------------------

# A parallel region of eager PyTorch (libgomp) ends at a barrier that the calling thread
# spin-waits at. When both threads of a 2-thread team sit on one core, the worker runs its
# share only once the spinning caller is preempted at a scheduler tick (4 ms at this VM's
# HZ=250), so every region costs whole ticks: a tiny batch-norm (one region) 8 ms where it
# takes 5 us, a native conv (three) 24 ms, while ops too small to open a region (relu) stay
# at 1-2 us. The team lands on one core when another process keeps the other core busy: the
# woken worker is placed beside the caller, and a spinning caller never lets a core go idle
# for the balancer to move it. Another user's busy process during the 2-thread stage wrote
# exactly such figures (8.0, 16.0, 24.0 ms) into the profile (benchmarks/thread_stalls.py
# reproduces them by pinning the team to one core); 1 thread has no barrier and never stalls.
# So every multi-thread measurement is bracketed by ``scheduler_stalls`` probes and repeated
# while they find the team sharing a core.
STALL_S = 1e-3  # a tiny batch-norm this slow waited for the scheduler (it takes 3-15 us)
STALL_PROBE_CALLS = 100
STALL_TRIES = 20  # probes (0.5 s apart) and repeats before a contended figure is kept
STALL_PAUSE_S = 0.5


def scheduler_stalls(calls: int = STALL_PROBE_CALLS) -> int:
    """How many of ``calls`` tiny batch-norms on the current torch thread count took
    ``STALL_S`` or longer: each one waited for a core (0 when the team had its cores)."""
    import torch
    import torch.nn.functional as F

    x, ones, zeros = torch.randn(1, 8, 4, 4), torch.ones(8), torch.zeros(8)
    stalls = 0
    with torch.inference_mode():
        for _ in range(calls):
            start = time.perf_counter()
            F.batch_norm(x, zeros, ones, ones, zeros, False, 0.1, 1e-5)
            stalls += time.perf_counter() - start >= STALL_S
    return stalls


@dataclass
class StallLog:
    """What the probes around one thread count's measurements found."""

    probes: int = 0
    stalled_probes: int = 0  # probes that found at least one stalled call
    repeats: int = 0  # measurements run again because a probe after them stalled
    contended: int = 0  # measurements kept although their probes still stalled


def uncontended(measure: Callable[[], Any], threads: int, log: StallLog) -> Any:
    """``measure()`` at a moment no other process shares the team's cores: on more than one
    thread, wait (``STALL_PAUSE_S`` apart) until a ``scheduler_stalls`` probe is clean, measure,
    probe again, and repeat the measurement if that probe stalled; after ``STALL_TRIES``
    attempts the last result is kept and counted in ``log.contended``."""
    if threads < 2:
        return measure()
    result = None
    for _ in range(STALL_TRIES):
        log.probes += 1
        if scheduler_stalls():
            log.stalled_probes += 1
            time.sleep(STALL_PAUSE_S)
            continue
        result = measure()
        log.probes += 1
        if not scheduler_stalls():
            return result
        log.stalled_probes += 1
        log.repeats += 1
    log.contended += 1
    return result if result is not None else measure()


# glibc malloc serves a block above its mmap threshold (128 KiB at start) from fresh pages and
# unmaps it on free; freeing such a block raises the threshold to its size (at most 32 MiB) and
# the heap's trim threshold to twice that. Whether a forward pass then reuses heap pages or
# faults in fresh ones (written at ~1 GB/s here against ~8 GB/s) depends on what the process
# allocated before: in fresh processes the built-in workloads fault almost nothing per
# steady-state forward, NAS-style variants 6-28 MB, and a 6.4 MB eager batch-norm
# micro-benchmark faulted in its whole output on every call. Calibration, and the validation
# of each model, therefore start from one defined state in which blocks up to 31 MiB reuse
# heap pages.
_SETTLE_BYTES = 31 << 20  # under glibc's 32 MiB cap on the dynamic threshold (64-bit)


def settle_allocator() -> None:
    """Free one 31 MiB block, so that glibc serves blocks up to that size from reused heap
    pages rather than fresh ones (harmless under other allocators)."""
    block = np.empty(_SETTLE_BYTES // 8)
    del block


@contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        with torch.inference_mode():
            yield
    finally:
        torch.set_num_threads(before)


# Grids of shape classes. Chosen to span what CNNs and transformers run, not taken from any
# model that the validation benchmark uses.
# Small M and N (a token batch, a narrow layer) are sampled densely: they scale worst with
# threads.
GEMM_M = (1, 16, 64, 128, 256, 1024)
GEMM_N = (64, 128, 256, 1024, 4096)
GEMM_K = (64, 256, 1024, 4096)
CONV_SIDES = (7, 14, 28, 56, 112)
# Square, expanding (x3, x4) and projecting (/3, /4) channel classes.
CONV_CHANNELS = (
    (16, 16),
    (32, 96),
    (96, 32),
    (64, 64),
    (64, 256),
    (256, 64),
    (128, 128),
    (256, 256),
    (160, 640),
    (640, 160),
    (512, 512),
)
CONV_KERNELS = (1, 3)
# Strided classes (a stage's first conv or downsampling shortcut): input side, channels, kernel.
CONV_STRIDED_SIDES = (14, 28, 56, 112)
CONV_STRIDED_CHANNELS = ((16, 32), (32, 64), (64, 128), (128, 256), (256, 512))
DW_CHANNELS = (32, 128, 384, 960)
DW_SIDES = (7, 14, 28, 56, 112)  # input side
DW_KERNELS = (3, 5)
DW_STRIDES = (1, 2)
MAX_POINT_MACS = 4e8  # skip grid points slower than ~10 ms: they add time, not information
# N, K, M of the kernel calibration: an early 3x3 conv (32 -> 32 at 56x56), a middle one
# (128 -> 256 at 14x14) and a late 1x1 (512 -> 1024 at 7x7). They span the kernels' mean
# inner-loop length (M in tiles of 128 columns), by which the model interpolates between them.
KERNEL_SHAPES = ((32, 288, 3136), (256, 1152, 196), (1024, 512, 49))
KERNEL_DENSITIES = (0.7, 0.4, 0.2, 0.08, 0.03)
SPARSE_FORMATS = ("csr", "bsr1x4", "bsr4x4")


@dataclass
class ThreadCalibration:
    """Everything measured at one thread count."""

    threads: int
    dispatch_s: dict[str, float] = field(default_factory=dict)
    module_dispatch_s: dict[str, float] = field(default_factory=dict)
    stream_bytes_per_s: dict[str, float] = field(default_factory=dict)
    loop_ops_per_s: dict[str, float] = field(default_factory=dict)
    gemm: list[list[float]] = field(default_factory=list)  # m, n, k, efficiency
    conv: list[list[float]] = field(default_factory=list)  # m, n, k, taps, stride, efficiency
    depthwise: list[list[float]] = field(default_factory=list)  # chans, pixels, taps, stride, eff
    stalls: StallLog = field(default_factory=StallLog)


# A tiny conv takes eager PyTorch's native path unless a rule hands it to oneDNN
# (``costmodels.cpu.takes_onednn``); a 5x5 kernel does, at any size.
ONEDNN_KERNEL = 5


def measure_dispatch(budget_s: float) -> dict[str, float]:
    """Seconds per direct call (``torch.*`` / ``F.*``) of each eager op kind on tiny tensors:
    the dispatch floor an op pays when a forward calls it as a function (``x + y``,
    ``torch.flatten``, the matmuls inside an attention module's ``forward``). Convs twice:
    ``conv`` on the native path (a 3x3 over 8 x 4 x 4) and ``conv_onednn`` through oneDNN (the
    same at 5x5), whose fixed cost per call is several times the native path's."""
    import torch
    import torch.nn.functional as F

    x = torch.randn(1, 8, 4, 4)
    w, w5 = torch.randn(8, 8, 3, 3), torch.randn(8, 8, ONEDNN_KERNEL, ONEDNN_KERNEL)
    v, wv, b8 = torch.randn(1, 8), torch.randn(8, 8), torch.randn(8)
    idx = torch.zeros(4, dtype=torch.long)
    ones, zeros = torch.ones(8), torch.zeros(8)
    calls: dict[str, Callable[[], object]] = {
        "pointwise": lambda: torch.relu(x),
        "conv": lambda: torch.conv2d(x, w, padding=1),
        "conv_onednn": lambda: torch.conv2d(x, w5, padding=ONEDNN_KERNEL // 2),
        "gemm": lambda: F.linear(v, wv, b8),
        "attention": lambda: F.scaled_dot_product_attention(x, x, x),
        "norm": lambda: F.batch_norm(x, zeros, ones, ones, zeros, False, 0.1, 1e-5),
        "layer_norm": lambda: F.layer_norm(v, (8,), ones, zeros),
        "pool": lambda: F.adaptive_avg_pool2d(x, 1),
        "softmax": lambda: torch.softmax(v, -1),
        "reduce": lambda: x.mean((2, 3)),
        "copy": lambda: torch.cat([x, x], 1),
        "embedding": lambda: F.embedding(idx, v),
    }
    return {k: _time_s(c, budget_s / len(calls), max_runs=400) for k, c in calls.items()}


def measure_module_dispatch(budget_s: float) -> dict[str, float]:
    """Seconds per ``nn.Module`` call of each op kind on tiny tensors: what an eager model pays
    for an op that a layer module (``nn.Conv2d``, ``nn.BatchNorm2d``, ``nn.ReLU6``...) runs.
    Beyond the op, ``Module.__call__`` checks for hooks, calls ``forward``, and the layer's
    ``forward`` reads its attributes and re-checks its arguments in Python (batch-norm the
    most: training flag, momentum, running statistics): 1.4-2.6x the direct call of the same op
    on the 2-vCPU test VM."""
    import torch
    from torch import nn

    x, v = torch.randn(1, 8, 4, 4), torch.randn(1, 8)
    idx = torch.zeros(4, dtype=torch.long)
    modules: dict[str, tuple[nn.Module, torch.Tensor]] = {
        "pointwise": (nn.ReLU6(), x),
        "conv": (nn.Conv2d(8, 8, 3, padding=1, bias=False), x),
        "conv_onednn": (
            nn.Conv2d(8, 8, ONEDNN_KERNEL, padding=ONEDNN_KERNEL // 2, bias=False),
            x,
        ),
        "gemm": (nn.Linear(8, 8), v),
        "norm": (nn.BatchNorm2d(8), x),
        "layer_norm": (nn.LayerNorm(8), v),
        "pool": (nn.AdaptiveAvgPool2d(1), x),
        "softmax": (nn.Softmax(-1), v),
        "embedding": (nn.Embedding(8, 8), idx),
    }
    each = budget_s / len(modules)
    return {
        k: _time_s(functools.partial(m.eval(), arg), each, max_runs=400)
        for k, (m, arg) in modules.items()
    }


def measure_module_call(budget_s: float) -> float:
    """Seconds of one call of an ``nn.Module`` whose forward is Python code that calls no op
    (``nn.Identity``): what every container and model-defined module costs per call beyond
    the ops it runs (``Module.__call__``'s hook checks, the ``forward`` frame)."""
    import torch
    from torch import nn

    x = torch.randn(1, 8)
    return _time_s(functools.partial(nn.Identity(), x), budget_s, max_runs=2000)


# A windowed pooling as cell networks and ResNet stems use it: 3x3, stride 1, padding 1.
POOL_WINDOW = 3


def measure_pool_taps(
    facts: HostFacts, budget_s: float, dispatch_s: dict[str, float]
) -> dict[str, float]:
    """Window taps per second of eager ``avg_pool2d`` (``pool``: 3x3, stride 1, padding 1,
    padding not counted) and ``max_pool2d`` (``max_pool``, the same window) on a cold
    64 x 56 x 56 input, their dispatch taken out: NCHW pooling walks each window tap by tap,
    so its time follows taps, not bytes; a max pooling also keeps the index of each maximum
    and runs 2-3x slower per tap than the average."""
    import torch.nn.functional as F

    c, h, w = EAGER_LOOP_SHAPES[""]
    pools = {
        "pool": functools.partial(
            F.avg_pool2d, kernel_size=POOL_WINDOW, stride=1, padding=1, count_include_pad=False
        ),
        "max_pool": functools.partial(F.max_pool2d, kernel_size=POOL_WINDOW, stride=1, padding=1),
    }
    taps = c * h * w * POOL_WINDOW**2
    out = {}
    for key, pool in pools.items():
        t = _time_s(cold_call(facts, pool, (1, c, h, w)), budget_s / len(pools))
        out[key] = taps / max(t - dispatch_s.get("pool", 0.0), 0.5 * t)
    return out


def stream_sizes(facts: HostFacts, threads: int) -> dict[str, int]:
    """Triad working-set bytes per level: half of what ``threads`` cores' share of the level
    holds, and for DRAM twice the last-level cache (at least 64 MiB)."""
    out: dict[str, int] = {}
    last = 0
    for level in sorted(facts.cache_bytes):
        size, sharing = facts.cache_bytes[level]
        share = size if sharing > 1 else size * threads  # a shared level is not multiplied
        out[f"l{level}"] = max(share // 2, 3 * 4096)
        last = max(last, size)
    out["dram"] = max(2 * last, 64 << 20)
    return out


def last_level_cache_bytes(facts: HostFacts) -> int:
    """Size of the largest cache (the last level, shared or not), at least 8 MiB."""
    return max([size for size, _ in facts.cache_bytes.values()] + [8 << 20])


@functools.lru_cache(maxsize=1)
def _cold_pool(elements: int) -> Any:
    """One flat fp32 tensor of ``elements`` random values from which cold operands are cut
    (kept between calls: filling it takes longer than most measurements)."""
    import torch

    return torch.rand(elements)


KEPT_OUTPUTS = 4  # outputs a cold call keeps alive: its output block was last used 4 calls ago


def cold_call(
    facts: HostFacts, fn: Callable[..., object], *shapes: tuple[int, ...]
) -> Callable[[], object]:
    """A call of ``fn`` on operands of ``shapes`` that, like a model's op, finds them cold.

    Calibration used to call each op on the same tensors, so they stayed in cache: ReLU6 on a
    2.4 MB tensor ran at 45 GB/s there and at 16 GB/s with rotating buffers, batch-norm inside
    a model ran at 8.8 GB/s where calibration had measured 20. Here each call takes the next
    of R operand sets, views into one pool at successive offsets, R sets spanning twice the
    last-level cache (at most 256 sets: tiny ops are bound by dispatch, not by memory). The
    last ``KEPT_OUTPUTS`` outputs stay alive, so the allocator hands each call a block freed a
    few ops ago, as in a forward pass, not the one it just wrote; the first calls, which
    would fault in those blocks' fresh pages, run here, before any timing."""
    import collections

    set_elems = sum(math.prod(s) for s in shapes)
    llc_elems = 2 * last_level_cache_bytes(facts) // 4
    sets = max(2, min(256, math.ceil(llc_elems / set_elems)))
    pool = _cold_pool(max(3 * llc_elems // 2, 2 * set_elems))
    span = pool.numel() - set_elems
    operands = []
    for i in range(sets):
        start = (i * set_elems) % max(span, 1)
        views = []
        for s in shapes:
            views.append(pool[start : start + math.prod(s)].view(s))
            start += math.prod(s)
        operands.append(tuple(views))
    cycle = itertools.cycle(operands)
    kept: collections.deque[object] = collections.deque(maxlen=KEPT_OUTPUTS)

    def call() -> None:
        kept.append(fn(*next(cycle)))

    for _ in range(KEPT_OUTPUTS):
        call()
    return call


def measure_eager_loops(
    facts: HostFacts, budget_s: float, dispatch_s: dict[str, float]
) -> dict[str, float]:
    """Bytes per second eager PyTorch's own loops reach on cold operands (``cold_call``) of an
    800 KB (64 x 56 x 56 fp32) and a 6.4 MB tensor (128 x 112 x 112, key suffix ``_large``):
    batch-norm (``norm``), clamp (``pointwise``) and SiLU (``transcendental``: an exp per
    element, as sigmoid, tanh and GELU), read plus write, with an output allocated per call as
    in a model, less the kind's direct dispatch (priced separately). They run slower than the
    triad."""
    import torch
    import torch.nn.functional as F

    out = {}
    for suffix, (c, h, w) in EAGER_LOOP_SHAPES.items():
        ones, zeros = torch.ones(c), torch.zeros(c)
        moved = 2 * c * h * w * 4
        loops: tuple[tuple[str, str, Callable[[torch.Tensor], object]], ...] = (
            (
                "norm",
                "norm",
                functools.partial(
                    F.batch_norm, running_mean=zeros, running_var=ones, weight=ones, bias=zeros
                ),
            ),
            ("pointwise", "pointwise", functools.partial(torch.clamp, min=0, max=6)),
            ("transcendental", "pointwise", F.silu),
        )
        each = budget_s / len(loops) / len(EAGER_LOOP_SHAPES)
        for key, kind, loop in loops:
            t = _time_s(cold_call(facts, loop, (1, c, h, w)), each)
            out[f"eager_{key}{suffix}"] = moved / max(t - dispatch_s.get(kind, 0.0), 0.5 * t)
    return out


def measure_stream(
    facts: HostFacts, threads: int, budget_s: float, dispatch_s: dict[str, float]
) -> dict[str, float]:
    """Triad bytes per second (two reads and a write) at each level's working set, with the
    op's dispatch time (priced separately) taken out; and the eager loops' cold rates."""
    import torch

    out = {}
    sizes = stream_sizes(facts, threads)
    out.update(measure_eager_loops(facts, budget_s / 2, dispatch_s))
    for name, ws in sizes.items():
        n = ws // 12
        a, b, c = torch.empty(n), torch.rand(n), torch.rand(n)
        call = functools.partial(torch.add, b, c, alpha=3.0, out=a)
        t = _time_s(call, budget_s / 2 / len(sizes))
        out[name] = 12 * n / max(t - dispatch_s["pointwise"], 0.25 * t)
    return out


def _peak_per_s(facts: HostFacts, threads: int, precision: str = "fp32") -> float:
    return peak_macs_per_core_cycle(facts)[precision] * threads * facts.clock_hz


def measure_gemm(facts: HostFacts, threads: int, budget_s: float, quick: bool) -> list[list[float]]:
    import torch

    pts = [(m, n, k) for m in GEMM_M for n in GEMM_N for k in GEMM_K if m * n * k <= MAX_POINT_MACS]
    if quick:
        pts = pts[::9]
    peak = _peak_per_s(facts, threads)
    rows = []
    for m, n, k in pts:
        linear = cold_call(facts, torch.nn.functional.linear, (m, k), (n, k))
        t = _time_s(linear, budget_s / len(pts))
        rows.append([m, n, k, round(m * n * k / t / peak, 4)])
    return rows


def conv_compute_s(
    t: float, dispatch_s: Mapping[str, float], input_shape: Sequence[int], kernel: int, **route: Any
) -> float:
    """Seconds of a timed conv less the dispatch of the path eager PyTorch runs it on
    (``takes_onednn``: ``conv_onednn`` or ``conv``), which the cost model prices apart; at
    least a tenth of ``t`` (a oneDNN call on a small shape is mostly its fixed cost)."""
    onednn = takes_onednn(input_shape, (kernel, kernel), **route)
    fixed = dispatch_s.get("conv_onednn" if onednn else "conv", dispatch_s.get("conv", 0.0))
    return max(t - fixed, 0.1 * t)


def _conv_time_s(
    facts: HostFacts,
    threads: int,
    budget_s: float,
    input_shape: tuple[int, int, int, int],
    weight_shape: tuple[int, int, int, int],
    stride: int,
    groups: int,
    dispatch_s: Mapping[str, float] | None,
) -> float:
    """One grid point's conv on cold operands ("same" padding), less its path's dispatch
    (``conv_compute_s``) when ``dispatch_s`` is given."""
    import torch

    kk = weight_shape[-1]
    conv = functools.partial(torch.conv2d, stride=stride, padding=kk // 2, groups=groups)
    t = _time_s(cold_call(facts, conv, input_shape, weight_shape), budget_s)
    if not dispatch_s:
        return t
    return conv_compute_s(
        t,
        dispatch_s,
        input_shape,
        kk,
        strided=stride > 1,
        dilated=False,
        groups=groups,
        threads=threads,
    )


def measure_conv(
    facts: HostFacts,
    threads: int,
    budget_s: float,
    quick: bool,
    dispatch_s: Mapping[str, float] | None = None,
) -> list[list[float]]:
    """Efficiency of dense convs on the grid, on cold operands, with the dispatch of each
    point's path taken out (``conv_compute_s``) when ``dispatch_s`` is given."""

    pts = [
        (side, cin, cout, kk, 1)
        for side in CONV_SIDES
        for cin, cout in CONV_CHANNELS
        for kk in CONV_KERNELS
    ]
    pts += [
        (side, cin, cout, kk, 2)
        for side in CONV_STRIDED_SIDES
        for cin, cout in CONV_STRIDED_CHANNELS
        for kk in CONV_KERNELS
    ]
    pts = [p for p in pts if (p[0] // p[4]) ** 2 * p[1] * p[2] * p[3] ** 2 <= MAX_POINT_MACS]
    if quick:
        pts = pts[::9]
    peak = _peak_per_s(facts, threads)
    rows = []
    for side, cin, cout, kk, stride in pts:
        shapes = (1, cin, side, side), (cout, cin, kk, kk)
        t = _conv_time_s(facts, threads, budget_s / len(pts), *shapes, stride, 1, dispatch_s)
        pixels = ((side + 2 * (kk // 2) - kk) // stride + 1) ** 2
        macs = pixels * cin * cout * kk * kk
        eff = round(macs / t / peak, 4)
        rows.append([pixels, cout, cin * kk * kk, kk * kk, stride, eff])
    return rows


def measure_depthwise(
    facts: HostFacts,
    threads: int,
    budget_s: float,
    quick: bool,
    dispatch_s: Mapping[str, float] | None = None,
) -> list[list[float]]:
    """Efficiency of depthwise convs on the grid (oneDNN runs every one), as ``measure_conv``."""

    pts = [
        (c, s, k, st)
        for c in DW_CHANNELS
        for s in DW_SIDES
        for k in DW_KERNELS
        for st in DW_STRIDES
    ]
    if quick:
        pts = pts[::9]
    peak = _peak_per_s(facts, threads)
    rows = []
    for c, side, kk, stride in pts:
        shapes = (1, c, side, side), (c, 1, kk, kk)
        t = _conv_time_s(facts, threads, budget_s / len(pts), *shapes, stride, c, dispatch_s)
        pixels = ((side + 2 * (kk // 2) - kk) // stride + 1) ** 2
        rows.append([c, pixels, kk * kk, stride, round(c * pixels * kk * kk / t / peak, 4)])
    return rows


def measure_kernels_on(
    facts: HostFacts, shape: tuple[int, int, int], budget_s: float, quick: bool
) -> dict[str, Any]:
    """Efficiency of hwsim's numba kernels (single thread) on one ``shape`` (N, K, M): dense
    fp32 as a fraction of one core's peak, int8 and int4 as a fraction of the int8 peak, and
    each sparse format's speedup over the dense kernel against the fraction of weights it
    stores. Timed as ``kernels.timing`` does for the validation: medians over fresh copies of
    the operands of per-copy best times and speedups. int8 and int4 are derived from their
    speedup over the dense kernel, so the model's int8 speedup is the measured one."""
    from .kernels import timing

    n, k, m = shape if not quick else (32, 64, 64)
    rng = np.random.default_rng(0)
    w = rng.standard_normal((n, k)).astype(np.float32)
    b = rng.standard_normal((k, m)).astype(np.float32)
    densities = KERNEL_DENSITIES if not quick else KERNEL_DENSITIES[::2]
    timings = timing.time_cases(timing.kernel_cases(w, densities, SPARSE_FORMATS), b, budget_s)
    dense_s = timings[0].seconds
    peak = peak_macs_per_core_cycle(facts)
    macs = n * k * m
    out: dict[str, Any] = {
        "shape": [n, k, m],
        "dense_fp32": round(macs / dense_s / (peak["fp32"] * facts.clock_hz), 4),
    }
    for t in timings[1:]:
        if t.case.fmt in ("int8", "int4"):
            out[t.case.fmt] = round(
                macs / (dense_s / t.speedup) / (peak["int8"] * facts.clock_hz), 4
            )
        else:
            out.setdefault(t.case.fmt, []).append([round(t.case.stored, 4), round(t.speedup, 3)])
    return out


def measure_kernels(facts: HostFacts, budget_s: float, quick: bool) -> dict[str, Any]:
    """``measure_kernels_on`` each of ``KERNEL_SHAPES``: the middle shape's figures at the top
    level (read by models that know one shape), all of them under ``by_shape``."""
    shapes = KERNEL_SHAPES if not quick else KERNEL_SHAPES[:1]
    by_shape = [measure_kernels_on(facts, s, budget_s / len(shapes), quick) for s in shapes]
    main = by_shape[len(by_shape) // 2]
    return {**main, "by_shape": by_shape}


@dataclass
class HostCalibration:
    """Everything micro-benchmarks measured on this machine."""

    facts: HostFacts
    threads: list[ThreadCalibration]
    kernels: dict[str, Any]
    module_call_s: float


def measure_threads(
    facts: HostFacts, threads: int, share: float, quick: bool, say: Progress
) -> ThreadCalibration:
    """Every torch measurement on the current ``threads`` torch threads, each one
    ``uncontended`` (on more than one thread, at a moment no other process shares a core)."""
    cal = ThreadCalibration(threads=threads)
    log = cal.stalls

    def clean(measure: Callable[[], Any]) -> Any:
        return uncontended(measure, threads, log)

    say(f"{threads} thread(s): dispatch and triad bandwidth")
    cal.dispatch_s = clean(lambda: measure_dispatch(share * 0.04))
    cal.module_dispatch_s = clean(lambda: measure_module_dispatch(share * 0.03))
    cal.stream_bytes_per_s = clean(
        lambda: measure_stream(facts, threads, share * 0.1, cal.dispatch_s)
    )
    cal.loop_ops_per_s = clean(lambda: measure_pool_taps(facts, share * 0.03, cal.dispatch_s))
    say(f"{threads} thread(s): GEMM, conv and depthwise shape classes")
    cal.gemm = clean(lambda: measure_gemm(facts, threads, share * 0.3, quick))
    cal.conv = clean(lambda: measure_conv(facts, threads, share * 0.4, quick, cal.dispatch_s))
    cal.depthwise = clean(
        lambda: measure_depthwise(facts, threads, share * 0.15, quick, cal.dispatch_s)
    )
    if log.stalled_probes:
        say(
            f"{threads} thread(s): another process held a core in {log.stalled_probes} of "
            f"{log.probes} probes; {log.repeats} measurement(s) repeated, "
            f"{log.contended} kept contended"
        )
    return cal


def calibrate(
    budget_s: float = 40.0,
    threads: list[int] | None = None,
    progress: Progress | None = None,
    quick: bool = False,
) -> HostCalibration:
    """Measure this machine: ``budget_s`` is split across the measurements (the whole run takes
    about that long plus numba's one-off compile on a fresh machine)."""
    say = progress or (lambda _: None)
    settle_allocator()
    facts = host_facts()
    counts = threads or list(range(1, facts.cores + 1))
    share = budget_s / (len(counts) + 0.7)
    say("compiling and timing the numba kernels")
    kernels = measure_kernels(facts, share * 0.7, quick)
    with _torch_threads(1):
        module_call_s = measure_module_call(share * 0.01)
    results = []
    for t in counts:
        with _torch_threads(t):
            results.append(measure_threads(facts, t, share, quick, say))
    return HostCalibration(facts, results, kernels, module_call_s)


# ---- writing the profile --------------------------------------------------------------------


def _num(x: float) -> str:
    if float(x).is_integer() and abs(x) < 1e15:
        return str(int(x))
    return f"{x:.4g}" if abs(x) >= 1e-3 and abs(x) < 1e6 else f"{x:.4e}"


def build_profile_text(calibration: HostCalibration, name: str = "host") -> str:
    """The host profile as commented YAML (validated by ``load_profile`` like any preset)."""
    facts, cals, kernels = calibration.facts, calibration.threads, calibration.kernels
    date = dt.date.today().isoformat()
    measured = f"# measured by hwsim calibrate on {date}"
    full = max(cals, key=lambda c: c.threads)
    peak = peak_macs_per_core_cycle(facts)
    lanes = facts.vector_bits // 32
    cores = facts.cores
    isa_note = f"{facts.vector_bits}-bit vectors ({', '.join(facts.isa) or 'no SIMD flags'})"
    dot = "int8 dot product" if facts.int8_dot_product else "no int8 dot product"
    lines = [
        f"# {facts.model_name}: written by 'hwsim calibrate' on {date}.",
        "# Facts from /proc/cpuinfo and /sys/devices/system/cpu; rates from micro-benchmarks",
        "# (simulator/calibrate.py), never from the models hwsim is validated on.",
        "# Energy figures are not measured: they repeat the cpu_x86_avx2 preset's assumptions.",
        f"name: {name}",
        "hw_class: cpu",
        f"description: calibrated profile of this machine ({facts.model_name}, {cores} cores)",
        f"clock_hz: {_num(facts.clock_hz)}  # /proc/cpuinfo 'cpu MHz'",
        "peak_macs_per_cycle:",
        f"  fp32: {_num(peak['fp32'] * cores)}  # {cores} cores x {PEAK_FMA_UNITS} FMA pipes "
        f"(assumed) x {lanes} fp32 lanes: {isa_note}",
        f"  int8: {_num(peak['int8'] * cores)}  # {dot} (/proc/cpuinfo flags)",
        f"vector_ops_per_cycle: {_num(peak['fp32'] * cores)}  # as fp32 MACs: one lane op per "
        "FMA slot (assumed)",
        "default_precision: fp32",
        "memory:",
    ]
    caps = {}
    for level in sorted(facts.cache_bytes):
        size, sharing = facts.cache_bytes[level]
        caps[f"l{level}"] = size if sharing > 1 else size * cores
    energy_pj = {"l1": 0.75, "l2": 2.7, "l3": 7.5, "dram": 120}
    for lvl, bw in full.stream_bytes_per_s.items():
        if lvl.startswith("eager_"):
            continue
        cap = caps.get(lvl)
        lines += [
            f"  - name: {lvl}",
            f"    capacity_bytes: {_num(cap) if cap else 'null'}  # /sys cache size"
            if cap
            else "    capacity_bytes: null  # backing store",
            f"    bandwidth_bytes_per_s: {_num(bw)}  # triad, {full.threads} threads, "
            f"{measured[2:]}",
            f"    read_energy_pj_per_byte: {energy_pj.get(lvl, 7.5)}  # assumed, as cpu_x86_avx2",
        ]
    lines += [
        "energy:",
        "  mac_pj:",
        "    fp32: 56  # assumed, as cpu_x86_avx2 (all-in energy per MAC of a server core)",
        "    int8: 28  # assumed: same power at twice the fp32 MAC rate",
        "  vector_op_pj: 56  # assumed, as cpu_x86_avx2",
        "  static_power_w: 2.2  # assumed, as cpu_x86_avx2",
        "overhead:",
        f"  per_op_s: {_num(full.dispatch_s['pointwise'])}  # eager relu on a tiny tensor, "
        f"{measured[2:]}",
        "sparsity:",
        "  patterns: [unstructured, block1x4, block4x4, '2:4', '4:8']  # hwsim's numba kernels",
        "  compressed_weights: true  # the sparse kernels store only non-zeros",
        "fuse_pointwise: false  # eager PyTorch runs each pointwise op as its own kernel",
        "arch:",
        f"  cores: {cores}  # os.sched_getaffinity",
        f"  threads: {cores}  # default thread count: one per core",
        f"  vector_bits: {facts.vector_bits}  # /proc/cpuinfo flags",
        "  fold_batchnorm: false  # eager PyTorch runs batch-norm as its own op",
        f"  module_call_s: {_num(calibration.module_call_s)}  # one nn.Identity call, 1 thread, "
        f"{measured[2:]}",
        f"  # Achieved fraction of the peak of 'threads' cores, {measured[2:]}.",
        "  # gemm: [m, n, k, eff] of F.linear; conv: [pixels, out channels, in channels x taps,",
        "  # taps, stride, eff] of conv2d; depthwise: [channels, pixels, taps, stride, eff], all",
        "  # on cold operands; dispatch_s / module_dispatch_s: seconds per direct / nn.Module",
        "  # call on tiny tensors; stream_bytes_per_s: triad bandwidth per level, and eager loops",
        "  # (eager_*) on cold operands.",
        "  efficiency:",
    ]
    for cal in cals:
        lines.append(f"    - threads: {cal.threads}  # {measured[2:]}")
        if cal.threads > 1:
            st = cal.stalls
            lines.append(
                f"      # scheduler-stall probes (calibrate.uncontended): {st.stalled_probes} of "
                f"{st.probes} found another process on a core; {st.repeats} measurement(s) "
                f"repeated, {st.contended} kept contended"
            )
        lines.append("      dispatch_s:  # " + measured[2:])
        lines += [f"        {k}: {_num(v)}" for k, v in cal.dispatch_s.items()]
        lines.append("      module_dispatch_s:  # " + measured[2:])
        lines += [f"        {k}: {_num(v)}" for k, v in cal.module_dispatch_s.items()]
        lines.append("      stream_bytes_per_s:  # " + measured[2:])
        lines += [f"        {k}: {_num(v)}" for k, v in cal.stream_bytes_per_s.items()]
        lines.append(
            "      loop_ops_per_s:  # pool / max_pool: 3x3 avg_pool2d / max_pool2d window taps, "
            + measured[2:]
        )
        lines += [f"        {k}: {_num(v)}" for k, v in cal.loop_ops_per_s.items()]
        for key in ("gemm", "conv", "depthwise"):
            lines.append(f"      {key}:  # {measured[2:]}")
            lines += [f"        - [{', '.join(_num(x) for x in row)}]" for row in getattr(cal, key)]
    lines.append(f"  # hwsim's numba kernels, one thread, {measured[2:]}: dense fp32/int8/int4 as")
    lines.append("  # a fraction of one core's peak; sparse formats as [stored fraction, speedup")
    lines.append(
        "  # over the dense fp32 kernel] on the calibration shape [N, K, M]; by_shape: the"
    )
    lines.append("  # same on each calibration shape (interpolated by the mean inner-loop length).")
    lines.append("  kernels:")
    for key, value in kernels.items():
        if key == "by_shape":
            lines.append(f"    by_shape:  # {measured[2:]}")
            lines += [f"      - {{{', '.join(_kernel_items(entry))}}}" for entry in value]
        else:
            lines.append(f"    {_kernel_items({key: value})[0]}  # {measured[2:]}")
    lines += [
        "info:  # facts for people; no cost model reads them",
        f"  fma_units_per_core: {PEAK_FMA_UNITS}  # assumed",
        f"  isa: [{', '.join(facts.isa)}]  # /proc/cpuinfo flags",
        f"  int8_dot_product: {str(facts.int8_dot_product).lower()}  # /proc/cpuinfo flags",
    ]
    return "\n".join(lines) + "\n"


def _kernel_items(entry: dict[str, Any]) -> list[str]:
    """``key: value`` flow-YAML items of one kernel entry (numbers, lists, lists of rows)."""
    items = []
    for key, value in entry.items():
        if isinstance(value, list) and value and isinstance(value[0], list):
            rows = ", ".join(f"[{', '.join(_num(x) for x in r)}]" for r in value)
            items.append(f"'{key}': [{rows}]")
        elif isinstance(value, list):
            items.append(f"{key}: [{', '.join(_num(x) for x in value)}]")
        else:
            items.append(f"{key}: {_num(value)}")
    return items


def write_host_profile(
    path: Path | None = None,
    budget_s: float = 40.0,
    threads: list[int] | None = None,
    progress: Progress | None = None,
    quick: bool = False,
) -> Path:
    """Calibrate, validate the result as a profile, and write it (``host_profile_path()``)."""
    target = path or host_profile_path()
    text = build_profile_text(calibrate(budget_s, threads, progress, quick))
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp.yaml")
    tmp.write_text(text)
    load_profile(tmp)  # raises ProfileError naming the field if the result is not valid
    tmp.replace(target)
    return target

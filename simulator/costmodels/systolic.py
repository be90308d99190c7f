"""Systolic arrays (TPU-like): SCALE-Sim's accounting in closed form.

A conv is lowered to GEMM operand matrices the way SCALE-Sim does it (im2col: ``M`` output
pixels x ``K = R*S*C`` window, ``K x N`` filters); a depthwise or grouped conv is one small GEMM
per group. With the stationary operand spanning ``Sr x Sc`` and ``T`` values streamed through,
an ``R x C`` array runs ``ceil(Sr/R) * ceil(Sc/C)`` folds (column folds outer, row folds inner).

==========  ===============  ==============

dataflow    (Sr, Sc, T)      cycles per fold
==========  ===============  =====================
ws          (K, N, M)        2R + C + T - 2
os          (M, N, K)        R + C + T - 2
is          (K, M, N)        2R + C + T - 2
==========  ===============  =====================

(WS and IS pay ``R`` cycles to load the stationary tile, ``R + C - 2`` of skew and ``T`` of
streaming; OS keeps partial sums in place and drains them while the next fold fills.)

Memory: three double-buffered SRAMs (ifmap, filter, ofmap). Reads and writes per operand follow
SCALE-Sim's demand matrices (WS re-reads the ifmap once per column fold and writes partial sums
once per row fold, and so on); see ``docs/systolic.md``. Off-chip traffic and stalls come in two
flavours:

- native profiles (YAML): weights stay in the filter SRAM when the model's weights fit, layer by
  layer in graph order, as the Edge TPU compiler caches parameters; layers past that point
  *spill* and stream their weights from the backing store on every inference. Activations stay
  on chip when they fit their SRAM. Off-chip bytes share one port; a layer stalls for the time
  that port needs beyond its compute, plus the first weight tile it cannot prefetch.
- SCALE-Sim profiles (``.cfg``, ``arch.scalesim``): every operand comes from DRAM through its
  own port, as in SCALE-Sim. In USER bandwidth mode the read buffers fetch half-buffer chunks
  back to back whenever a request's address (any im2col copy of it) is outside the buffer's
  window (``hwsim.kernels.miss_lines`` walks the requests in SCALE-Sim's order), and the
  layer stalls line by line as SCALE-Sim counts it (``hwsim.kernels.line_stalls``); in CALC
  mode nothing stalls.

Non-MAC ops run on the vector unit after the array (a roofline). A pointwise op the frontend
fused into an array layer (a conv's ReLU, a residual add) is applied to the layer's outputs as
they drain: the layer's ofmap write above is the tensor's only write, and the fused op pays
only its other operands and the vector work the drain cannot hide (``_drained``).

Sparsity (profile ``sparsity.patterns``): ``2:4`` / ``4:8`` is SCALE-Sim v3's row-wise N:M
scheme (the reduction axis compresses by N/M when the real weights conform); ``unstructured``
zero-skipping compresses every filter column separately, so the densest column of each column
tile sets the pace (counted from the real weights by ``hwsim.kernels``). ``compressed_weights``
shrinks off-chip weight traffic to the non-zeros plus a 1-bit mask.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..cost import Bound, OpCost
from ..errors import ProfileError
from ..frozen import FrozenDict
from ..graph import OpGraph
from ..hardware import MemoryLevel, Profile
from ..ops import MAC_KINDS, Op, OpKind
from . import roofline as rl
from .assemble import op_cost
from .base import CostFn, PricingContext
from .gemm_view import GemmShape, gemm_shapes
from .systolic_arch import OPERANDS, ScaleSimPorts, SystolicArch
from .systolic_plan import clear_plans, device_plan, fixed_cache_bytes

if TYPE_CHECKING:  # the kernels import numba, which loads only when a USER layer is priced
    from ..kernels import OfmapWrites


@dataclass(frozen=True)
class ArraySpec:
    """What the systolic model needs from a profile, in words (one operand element)."""

    rows: int
    cols: int
    dataflow: str  # ws | os | is
    word_bytes: float
    sram_words: FrozenDict[str, float]  # capacity per operand buffer (both halves)
    scalesim: ScaleSimPorts | None = None  # SCALE-Sim port model: mode, *_bw words/cycle


@functools.lru_cache(maxsize=256)
def array_spec(profile: Profile) -> ArraySpec:
    """The array of a systolic profile in words (cached per profile value)."""
    arch = profile.arch
    assert isinstance(arch, SystolicArch), f"{profile.name} is not a systolic profile"
    on_chip = profile.memory[0].capacity_bytes if len(profile.memory) > 1 else math.inf
    default = {"ifmap": on_chip / 4, "filter": on_chip / 2, "ofmap": on_chip / 4}
    sram = {}
    for name in OPERANDS:
        given = arch.sram_bytes(name)
        sram[name] = (default[name] if given is None else given) / arch.word_bytes
    return ArraySpec(
        arch.rows, arch.cols, arch.dataflow, arch.word_bytes, FrozenDict(sram), arch.scalesim
    )


@dataclass(frozen=True)
class LayerTiming:
    """SCALE-Sim's per-layer accounting for one GEMM (all groups), in cycles and words."""

    folds: int
    fold_cycles: int
    compute_cycles: float  # folds x cycles per fold, no stalls
    stall_cycles: float
    prefetch_cycles: float  # before the first fold (SCALE-Sim's "incl. prefetch") and drain
    mapping_efficiency: float  # mean over folds of used PEs / all PEs
    compute_utilization: float  # SCALE-Sim's definition (MACs / PE-cycles of each fold)
    sram_reads: Mapping[str, float]
    sram_writes: Mapping[str, float]
    dram_reads: Mapping[str, float]
    dram_writes: Mapping[str, float]
    dram_cycles: float  # time the off-chip port(s) are busy

    @property
    def total_cycles(self) -> float:
        """SCALE-Sim's "Total Cycles": compute plus stalls."""
        return self.compute_cycles + self.stall_cycles

    @property
    def total_cycles_incl_prefetch(self) -> float:
        return self.total_cycles + self.prefetch_cycles


def spatial_temporal(g: GemmShape, dataflow: str) -> tuple[int, int, int]:
    """(Sr, Sc, T): rows and columns of the stationary operand, and the streamed length."""
    return {"ws": (g.k, g.n, g.m), "os": (g.m, g.n, g.k), "is": (g.k, g.m, g.n)}[dataflow]


def fold_cycles(rows: int, cols: int, t: int, dataflow: str) -> int:
    if dataflow == "os":
        return rows + cols + t - 2
    return 2 * rows + cols + t - 2


def array_cycles(g: GemmShape, rows: int, cols: int, dataflow: str) -> float:
    """Cycles of ``g`` on the array with no stalls: folds x (fill + stream + drain)."""
    sr, sc, t = spatial_temporal(g, dataflow)
    folds = math.ceil(sr / rows) * math.ceil(sc / cols)
    return g.groups * folds * fold_cycles(rows, cols, t, dataflow)


def _used(size: int, tile: int) -> np.ndarray:
    """How much of each of ``ceil(size/tile)`` tiles is used."""
    n = math.ceil(size / tile)
    used = np.full(n, tile, dtype=np.float64)
    used[-1] = size - tile * (n - 1)
    return used


@dataclass(frozen=True)
class _Demand:
    """When and how much of one operand each fold asks for (folds in SCALE-Sim's order)."""

    words: np.ndarray  # per fold
    offset: float  # lines into the fold where the demand starts
    duration: float  # lines it is spread over


def _demands(
    sr: int, sc: int, t: int, rows: int, cols: int, df: str, fit: Mapping[str, float]
) -> dict[str, _Demand]:
    """Per-fold words each operand fetches from DRAM (data re-read while still in the buffer
    costs nothing) and when the array first needs them."""
    rf, cf = math.ceil(sr / rows), math.ceil(sc / cols)
    r_used = np.tile(_used(sr, rows), cf)  # fold order: column folds outer, row folds inner
    c_used = np.repeat(_used(sc, cols), rf)
    first_row_fold = np.tile(np.arange(rf) == 0, cf)
    if df == "ws":  # ifmap (T x K) streams; filter tile stationary; partial sums per row fold
        ifmap = r_used * t
        if sr * t <= fit["ifmap"]:
            ifmap = np.where(np.repeat(np.arange(cf) == 0, rf), r_used * t, 0.0)
        return {
            "ifmap": _Demand(ifmap, rows, t),
            "filter": _Demand(r_used * c_used, 0.0, rows),
            "ofmap": _Demand(c_used * t, 2 * rows - 1, t),
        }
    if df == "os":  # ifmap rows and filter columns both stream for T lines
        ifmap = r_used * t
        if sr * t <= fit["ifmap"]:
            ifmap = np.where(np.repeat(np.arange(cf) == 0, rf), r_used * t, 0.0)
        filt = c_used * t
        if cols * t <= fit["filter"]:
            filt = np.where(first_row_fold, c_used * t, 0.0)
        return {
            "ifmap": _Demand(ifmap, 0.0, t),
            "filter": _Demand(filt, 0.0, t),
            "ofmap": _Demand(r_used * c_used, t - 1, rows),
        }
    # is: ifmap tile stationary, filter rows stream, outputs per row fold
    filt = r_used * t
    if sr * t <= fit["filter"]:
        filt = np.where(np.repeat(np.arange(cf) == 0, rf), r_used * t, 0.0)
    return {
        "ifmap": _Demand(r_used * c_used, 0.0, rows),
        "filter": _Demand(filt, rows, t),
        "ofmap": _Demand(c_used * t, 2 * rows - 1, t),
    }


@dataclass(frozen=True)
class ConvGeometry:
    """A conv's ifmap as SCALE-Sim addresses it (no padding): ``h x w x c`` pixels, ``r x s``
    windows at ``stride``, ``out_w`` outputs per row. im2col entry (output ``m``, window
    ``k = (ri, si, ci)``) reads pixel ``((oy*stride + ri)*w + ox*stride + si)*c + ci``."""

    h: int
    w: int
    c: int
    r: int
    s: int
    stride: int
    out_w: int


def _ifmap_addresses(m: int, k: int, geometry: ConvGeometry | None) -> tuple[np.ndarray, int]:
    """The ``m x k`` im2col matrix of ifmap addresses (-1 past the edge), and the number of
    distinct addresses when they repeat (0 when every entry is its own address)."""
    if geometry is None or geometry.r * geometry.s * geometry.c != k:
        return np.arange(m * k, dtype=np.int64).reshape(m, k), 0
    gm = geometry
    oy, ox = np.divmod(np.arange(m, dtype=np.int64), gm.out_w)
    ri, rest = np.divmod(np.arange(k, dtype=np.int64), gm.s * gm.c)
    si, ci = np.divmod(rest, gm.c)
    iy = (oy * gm.stride)[:, None] + ri[None, :]
    ix = (ox * gm.stride)[:, None] + si[None, :]
    addr = (iy * gm.w + ix) * gm.c + ci[None, :]
    return np.where((iy < gm.h) & (ix < gm.w), addr, -1), gm.h * gm.w * gm.c


def _blocks(x: np.ndarray, width: int) -> np.ndarray:
    """SCALE-Sim's prefetch matrix before flattening: ``x``'s columns cut into blocks of
    ``width`` (the last padded with -1) and the blocks stacked vertically."""
    rows, cols = x.shape
    n = max(math.ceil(cols / width), 1)
    padded = np.full((rows, n * width), -1, dtype=np.int64)
    padded[:, :cols] = x
    return padded.reshape(rows, n, width).transpose(1, 0, 2).reshape(n * rows, width)


# (dataflow, operand): (matrix the operand streams from, block width, anti-diagonal stream,
# blocks per column fold, prefix lines before a fold's first request). The matrices are the
# im2col ifmap (M x K) and the filter (K x N), transposed where SCALE-Sim transposes them.
_PORTS = {
    ("ws", "ifmap"): ("ifmap", "rows", True, False, "rows"),
    ("ws", "filter"): ("filter", "cols", False, True, "none"),
    ("os", "ifmap"): ("ifmap_t", "rows", True, False, "none"),
    ("os", "filter"): ("filter", "cols", True, True, "none"),
    ("is", "ifmap"): ("ifmap_t", "cols", False, True, "none"),
    ("is", "filter"): ("filter_t", "rows", True, False, "rows"),
}


# SCALE-Sim's USER-bandwidth replay walks every buffer request of a layer, 0.05-0.4 us each on
# a shared 2-core VM: a layer of more requests than this would run for minutes (SCALE-Sim
# itself takes hours) and hold gigabytes of address matrices. CALC mode prices any layer in
# closed form.
USER_REPLAY_LIMIT = 20_000_000
# The whole model's replay is bounded too: a topology of many layers, each under the layer
# limit, would still run for an hour (a layer at the limit takes about a second here).
USER_REPLAY_MODEL_LIMIT = 100_000_000


def user_replay_requests(g: GemmShape, spec: ArraySpec) -> int:
    """Buffer requests the USER-mode replay of ``g`` walks (``kernels.miss_lines``'s loop
    count, both read buffers): a streamed operand's prefetch matrix once per fold of the other
    dimension, a stationary one once."""
    rows, cols, df = spec.rows, spec.cols, spec.dataflow
    sr, sc, _ = spatial_temporal(g, df)
    folds = {"row": math.ceil(sr / rows), "col": math.ceil(sc / cols)}
    shapes = {"ifmap": (g.m, g.k), "ifmap_t": (g.k, g.m), "filter": (g.k, g.n)}
    shapes["filter_t"] = (g.n, g.k)
    total = 0
    for operand in ("ifmap", "filter"):
        matrix, width, diagonal, by_col, _ = _PORTS[(df, operand)]
        w = rows if width == "rows" else cols
        height, length = shapes[matrix]
        grid = height * math.ceil(length / w) * w
        total += grid * (folds["row" if by_col else "col"] if diagonal else 1)
    return total


def _user_misses(
    g: GemmShape,
    spec: ArraySpec,
    geometry: ConvGeometry | None,
) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """Demand line of every DRAM fetch of the ifmap and filter buffers (SCALE-Sim USER mode),
    and the words of each buffer's prefetch matrix (empty entries included)."""
    rows, cols, df = spec.rows, spec.cols, spec.dataflow
    sr, sc, t = spatial_temporal(g, df)
    ifmap, n_ifmap = _ifmap_addresses(g.m, g.k, geometry)
    filt = np.arange(g.k * g.n, dtype=np.int64).reshape(g.k, g.n)
    matrices = {"ifmap": ifmap, "ifmap_t": ifmap.T, "filter": filt, "filter_t": filt.T}
    from ..kernels import miss_lines

    out, sizes = {}, {}
    for operand in ("ifmap", "filter"):
        matrix, width, diagonal, by_col, prefix = _PORTS[(df, operand)]
        w = rows if width == "rows" else cols
        grid = _blocks(matrices[matrix], w)
        sizes[operand] = int(grid.size)
        out[operand] = miss_lines(
            grid,
            diagonal=diagonal,
            by_col_fold=by_col,
            rows=rows,
            row_folds=math.ceil(sr / rows),
            col_folds=math.ceil(sc / cols),
            prefix=rows if prefix == "rows" else 0,
            fold_lines=fold_cycles(rows, cols, t, df),
            buffer_words=int(spec.sram_words[operand]),
            n_addr=n_ifmap if operand == "ifmap" else 0,
        )
    return out, sizes


def _ofmap_writes(sr: int, sc: int, t: int, spec: ArraySpec, bandwidth: float) -> OfmapWrites:
    """SCALE-Sim's ofmap demand, fold by fold: WS and IS write ``T`` rows of outputs (partial
    sums per row fold) after ``2R - 1`` empty lines; OS drains its ``R`` rows after ``T - 1``,
    bottom edge first, so a short row fold's empty rows come first."""
    from ..kernels import OfmapWrites

    rows, cols, df = spec.rows, spec.cols, spec.dataflow
    rf, cf = math.ceil(sr / rows), math.ceil(sc / cols)
    fold_cols = np.repeat(_used(sc, cols), rf).astype(np.int64)
    if df == "os":
        first_row = np.tile(rows - _used(sr, rows), cf).astype(np.int64)
        prefix, n_rows = t - 1, rows
    else:
        first_row = np.zeros(rf * cf, dtype=np.int64)
        prefix, n_rows = 2 * rows - 1, t
    return OfmapWrites(
        fold_cols=fold_cols,
        fold_first_row=first_row,
        fold_lines=fold_cycles(rows, cols, t, df),
        prefix=prefix,
        rows=n_rows,
        buffer_words=int(spec.sram_words["ofmap"]),
        bandwidth=max(int(bandwidth), 1),
    )


@functools.lru_cache(maxsize=1 << 16)
def gemm_timing(
    g: GemmShape,
    spec: ArraySpec,
    *,
    ifmap_unique_words: float | None = None,
    filter_offchip: bool = True,
    ifmap_offchip: bool = True,
    ofmap_offchip: bool = True,
    offchip_words_per_cycle: float = math.inf,
    filter_dram_scale: float = 1.0,
    ifmap_valid_fraction: float = 1.0,
    ifmap_geometry: ConvGeometry | None = None,
) -> LayerTiming:
    """SCALE-Sim's accounting of ``g`` (all its groups) on the array ``spec``.

    A pure function of values, cached: layers that repeat in a model, and profile variants
    that change only what this does not read (clock, energies), are accounted once."""
    rows, cols, df = spec.rows, spec.cols, spec.dataflow
    sr, sc, t = spatial_temporal(g, df)
    rf, cf = math.ceil(sr / rows), math.ceil(sc / cols)
    folds = rf * cf
    f_len = fold_cycles(rows, cols, t, df)
    groups = g.groups
    compute = float(groups * folds * f_len)
    mapping = (sr / (rf * rows)) * (sc / (cf * cols))
    util_len = f_len if df == "os" else f_len + cols - 1  # SCALE-Sim's per-fold denominator
    utilization = sr * sc * t / (rows * cols * util_len * folds)
    m, n, k = g.m, g.n, g.k
    if df == "ws":
        reads = {"ifmap": cf * m * k, "filter": k * n}
        writes = rf * m * n
    elif df == "os":
        reads = {"ifmap": cf * m * k, "filter": rf * k * n}
        writes = m * n + folds * (rows + cols)
    else:
        reads = {"ifmap": m * k, "filter": cf * k * n}
        writes = rf * m * n
    sram_reads = {f"{o}_sram": float(groups * reads[o]) for o in ("ifmap", "filter")}
    sram_writes = {"ofmap_sram": float(groups * writes)}

    fit = {o: spec.sram_words[o] / 2 for o in OPERANDS}
    demand = _demands(sr, sc, t, rows, cols, df, fit)
    unique_ifmap = float(m * k) if ifmap_unique_words is None else ifmap_unique_words
    im2col = unique_ifmap / float(m * k) if m * k else 1.0  # unique words per im2col word
    dram_reads = {
        "ifmap": groups * float(demand["ifmap"].words.sum()) * im2col if ifmap_offchip else 0.0,
        "filter": groups * float(k * n) * filter_dram_scale if filter_offchip else 0.0,
    }
    if filter_offchip and demand["filter"].words.sum() > k * n:  # filter tiles re-fetched
        dram_reads["filter"] = groups * float(demand["filter"].words.sum()) * filter_dram_scale
    dram_writes = {"ofmap": groups * float(m * n) if ofmap_offchip else 0.0}

    stall = prefetch = 0.0
    ss = spec.scalesim
    if ss is not None:  # SCALE-Sim: one DRAM port per operand
        ports = {"ifmap": ss.ifmap_bw, "filter": ss.filter_bw, "ofmap": ss.ofmap_bw}
        dram_cycles = max(
            (dram_reads["ifmap"] / ports["ifmap"]),
            (dram_reads["filter"] / ports["filter"]),
            (dram_writes["ofmap"] / ports["ofmap"]),
        )
        if ss.mode == "USER":
            misses, grid_words = _user_misses(g, spec, ifmap_geometry)
            chunks, fetched = {}, {}
            total_words = {"ifmap": float(m * k) * ifmap_valid_fraction, "filter": float(k * n)}
            for o in ("ifmap", "filter"):
                words = spec.sram_words[o]
                active = math.ceil(words / 2)
                chunks[o] = math.ceil((words - active) / ports[o])
                first = min(math.ceil(active / ports[o]), math.ceil(total_words[o] / ports[o]))
                fetched[o] = (first + len(misses[o]) * chunks[o]) * ports[o]
            from ..kernels import stalls_and_drain

            lag, drained = stalls_and_drain(
                misses["ifmap"],
                chunks["ifmap"] + 1,
                misses["filter"],
                chunks["filter"] + 1,
                _ofmap_writes(sr, sc, t, spec, ports["ofmap"]),
            )
            stall = groups * lag
            dram_reads = {o: groups * fetched[o] for o in ("ifmap", "filter")}
            dram_writes = {"ofmap": groups * float(sum(sram_writes.values()))}
            dram_cycles = groups * max(len(misses[o]) * (chunks[o] + 1) for o in misses)
            # SCALE-Sim's "incl. prefetch" runs from the first fill of the read buffers' active
            # halves (before line 0) to the write buffer's last drain.
            first_fill = max(
                min(
                    math.ceil(math.ceil(spec.sram_words[o] / 2) / ports[o]),
                    math.ceil(grid_words[o] / ports[o]),
                )
                for o in ("ifmap", "filter")
            )
            prefetch = groups * (first_fill + drained + 1 - (folds * f_len + lag))
        else:  # CALC: the active half is filled in whole sets of 1/100 of the buffer
            unique = {"ifmap": unique_ifmap * ifmap_valid_fraction, "filter": float(k * n)}
            fills = []
            for o in ("ifmap", "filter"):
                per_set = max(math.floor(spec.sram_words[o] / 100), 1)
                sets = min(math.ceil(unique[o] / per_set), 50)
                fills.append(math.ceil(sets * per_set / ports[o]))
            last = float(demand["ofmap"].words.sum())
            half = spec.sram_words["ofmap"] - math.ceil(spec.sram_words["ofmap"] / 2)
            tail = ((last - 1) % half + 1) if half > 0 and last > 0 else last
            prefetch = groups * (max(fills) + math.ceil(tail / ports["ofmap"]))
    else:  # native: one shared off-chip port
        # Words over words per cycle: the port's width is already divided by the word size.
        off = dram_reads["ifmap"] + dram_reads["filter"] + dram_writes["ofmap"]
        dram_cycles = off / offchip_words_per_cycle if off else 0.0
        first_tile = 0.0
        if filter_offchip:
            tile = min(rows, sr) * min(cols, sc) if df != "os" else min(cols, sc) * min(t, k)
            first_tile = groups * tile * filter_dram_scale
        stall = max(0.0, dram_cycles - compute) + first_tile / offchip_words_per_cycle
    return LayerTiming(
        folds=groups * folds,
        fold_cycles=f_len,
        compute_cycles=compute,
        stall_cycles=stall,
        prefetch_cycles=prefetch,
        mapping_efficiency=mapping,
        compute_utilization=utilization,
        sram_reads=sram_reads,
        sram_writes=sram_writes,
        dram_reads=dram_reads,
        dram_writes=dram_writes,
        dram_cycles=dram_cycles,
    )


# --- weights: which layers stay on chip, and what sparsity buys -----------------------------


def spilled_ops(ctx: PricingContext) -> frozenset[str] | None:
    """Ids of the ops whose weights do not fit the parameter cache: weights are cached layer
    by layer in graph order until it is full (the Edge TPU compiler's policy); the rest
    stream from off-chip memory on every inference (``systolic_plan``). ``None`` when the
    graph is unknown."""
    if ctx.graph is None:
        return None
    return device_plan(ctx.graph, ctx.profile, ctx.precision, ctx.cache_bytes).streamed()


def weight_cache_bytes(profile: Profile) -> float | None:
    """Bytes of weights the parameter cache keeps layer by layer in graph order, when that
    does not depend on the model (``systolic_plan.fixed_cache_bytes``); None for a SCALE-Sim
    profile, whose weights always come from DRAM."""
    if array_spec(profile).scalesim is not None:
        return None
    return fixed_cache_bytes(profile)


def clear_caches() -> None:
    """Drop the value-keyed caches of this module (``registry.clear_caches``)."""
    gemm_timing.cache_clear()
    array_spec.cache_clear()
    _per_byte_pj.cache_clear()
    clear_plans()


def cache_context(op: Op, ctx: PricingContext) -> tuple[Any, ...] | None:
    """What a layer's price reads from the rest of the graph (the per-op cost cache's key):
    whether its weights spill (the plan depends on every layer before it; a spilled layer's
    note names it), and, where the array skips unstructured zeros, the real weight values,
    which no key holds (None: price it afresh); for a pointwise op, whether it drains from
    the array (``drains_from_array``: its producer's kind is not in its signature). With a
    shared SRAM, every op's price also reads whether the model's activation working set
    stays on chip (``_activations_fit``)."""
    arch = ctx.profile.arch
    assert isinstance(arch, SystolicArch)
    shared: tuple[Any, ...] = ()
    if arch.shared_sram and ctx.graph is not None:
        plan = device_plan(ctx.graph, ctx.profile, ctx.precision, ctx.cache_bytes)
        room = ctx.profile.memory[0].capacity_bytes - arch.sram_reserved_bytes
        shared = ("activations on chip", plan.activation_bytes <= room)
    if op.kind not in MAC_KINDS:
        return (*shared, "drains") if drains_from_array(op, ctx) else shared
    if "unstructured" in ctx.profile.sparsity_patterns and op.kind is not OpKind.ATTENTION:
        return None
    if array_spec(ctx.profile).scalesim is not None or not op.params:
        return shared
    spilled_ids = spilled_ops(ctx)
    spilled = (
        op.id in spilled_ids
        if spilled_ids is not None
        else ctx.weight_home is ctx.profile.memory[-1]
    )
    return (*shared, "spilled", op.name) if spilled else shared


def _real_weight(op: Op, ctx: PricingContext) -> Any:
    if ctx.graph is None or op.id not in ctx.graph.dag:
        return None
    return ctx.graph.dag.nodes[op.id].get("weight")


def _nm_ratio(op: Op, patterns: tuple[str, ...]) -> tuple[int, int] | None:
    """The N:M scheme the array can exploit on ``op``'s weights, if they conform."""
    stats = op.weight_stats
    if stats is None:
        return None
    for pattern in ("2:4", "4:8"):
        if pattern in patterns and stats.kept_fraction(pattern) is not None:
            n, m = pattern.split(":")
            return int(n), int(m)
    return None


@dataclass(frozen=True)
class SparseMapping:
    """How zero-skipping changes the reduction length each column tile needs."""

    k_per_col_tile: tuple[int, ...]  # effective K of each column tile (per group)
    imbalance: float  # mean over tiles of (densest column / mean column) non-zeros
    scheme: str


def sparse_mapping(op: Op, ctx: PricingContext, g: GemmShape, cols: int) -> SparseMapping | None:
    patterns = ctx.profile.sparsity_patterns
    if not patterns or (op.kind is not OpKind.CONV and op.kind is not OpKind.GEMM):
        return None
    n_tiles = math.ceil(g.n / cols)
    nm = _nm_ratio(op, patterns)
    if nm is not None:
        n_keep, m_block = nm
        k_eff = math.ceil(g.k / m_block) * n_keep
        return SparseMapping((min(k_eff, g.k),) * n_tiles, 1.0, f"{n_keep}:{m_block}")
    if "unstructured" not in patterns:
        return None
    weight = _real_weight(op, ctx)
    if weight is None or g.groups != 1:
        return None
    from ..kernels import column_tile_nonzeros

    matrix = weight.detach().reshape(weight.shape[0], -1).float().numpy()
    if matrix.shape != (g.n, g.k):
        return None
    tile_max, tile_mean = column_tile_nonzeros(matrix, cols)
    k_tiles = tuple(max(int(x), 1) for x in tile_max)
    means = np.maximum(tile_mean, 1e-9)
    return SparseMapping(k_tiles, float(np.mean(tile_max / means)), "unstructured")


# --- the cost function ----------------------------------------------------------------------


def _ifmap_unique(op: Op) -> float | None:
    if op.kind is OpKind.CONV and op.inputs:
        return float(op.inputs[0].numel)
    return None


def _conv_geometry(op: Op, g: GemmShape) -> ConvGeometry | None:
    """SCALE-Sim's ifmap addressing of a plain conv (one group, batch 1, no padding or
    dilation); ``None`` where it does not apply, and every im2col entry counts as distinct."""
    if op.kind is not OpKind.CONV or g.groups != 1 or not op.inputs or not op.outputs:
        return None
    shape, out = op.inputs[0].shape, op.outputs[0].shape
    kernel, stride = op.attr("kernel"), op.attr("stride", (1, 1))
    padding, dilation = op.attr("padding", 0), op.attr("dilation", (1, 1))
    plain = padding in (0, (0, 0), "valid") and dilation in (1, (1,), (1, 1))
    if len(shape) != 4 or shape[0] != 1 or len(out) != 4 or not plain:
        return None
    if not (isinstance(kernel, tuple) and isinstance(stride, tuple) and len(kernel) == 2):
        return None
    if len(set(stride)) != 1 or g.m != out[2] * out[3]:
        return None
    _, c, h, w = shape
    return ConvGeometry(h, w, c, int(kernel[0]), int(kernel[1]), int(stride[0]), int(out[3]))


def _valid_fraction(op: Op) -> float:
    value = op.attr("scalesim_valid_fraction", 1.0)
    return float(value) if isinstance(value, (int, float)) else 1.0


def _activations_fit(
    op: Op, ctx: PricingContext, spec: ArraySpec, precision: str
) -> tuple[bool, bool]:
    """Do the op's input and its output stay on chip? With a shared SRAM the compiler placed
    the model's whole activation working set first (both or neither); otherwise each must
    fit its own buffer, independently of the other."""
    arch = ctx.profile.arch
    assert isinstance(arch, SystolicArch)
    if arch.shared_sram and ctx.graph is not None:
        plan = device_plan(ctx.graph, ctx.profile, ctx.precision, ctx.cache_bytes)
        room = ctx.profile.memory[0].capacity_bytes - arch.sram_reserved_bytes
        fits = plan.activation_bytes <= room
        return fits, fits
    act_bytes = rl.activation_scale(op, precision)
    in_fits = op.input_bytes * act_bytes <= spec.sram_words["ifmap"] * spec.word_bytes
    out_fits = op.output_bytes * act_bytes <= spec.sram_words["ofmap"] * spec.word_bytes
    return in_fits, out_fits


def _depthwise_timing(
    op: Op, spec: ArraySpec, macs_per_cycle: float, spilled: bool, bw_words: float
) -> LayerTiming:
    """A depthwise conv on the channel-parallel path: each array column takes one channel,
    so channels are padded to a multiple of the columns, and the path does
    ``macs_per_cycle`` MACs per cycle. Every input, weight and output word moves once
    (a line buffer holds the window); streamed weights overlap the compute but the first
    column's weights cannot."""
    channels = op.outputs[0].shape[1] if op.outputs and len(op.outputs[0].shape) > 1 else 1
    lanes = math.ceil(channels / spec.cols) * spec.cols
    compute = math.ceil(op.macs / macs_per_cycle * lanes / channels)
    weights = float(op.params[0].numel) if op.params else 0.0
    inputs = float(sum(t.numel for t in op.inputs))
    outputs = float(sum(t.numel for t in op.outputs))
    dram = weights if spilled else 0.0
    dram_cycles = dram / bw_words if dram else 0.0
    first = weights / max(channels, 1) * min(channels, spec.cols) if spilled else 0.0
    stall = max(0.0, dram_cycles - compute) + first / bw_words if spilled else 0.0
    return LayerTiming(
        folds=math.ceil(channels / spec.cols),
        fold_cycles=math.ceil(compute / max(math.ceil(channels / spec.cols), 1)),
        compute_cycles=float(compute),
        stall_cycles=stall,
        prefetch_cycles=0.0,
        mapping_efficiency=channels / lanes,
        compute_utilization=op.macs / (compute * spec.rows * spec.cols) if compute else 0.0,
        sram_reads={"ifmap_sram": inputs, "filter_sram": weights},
        sram_writes={"ofmap_sram": outputs},
        dram_reads={"ifmap": 0.0, "filter": dram},
        dram_writes={"ofmap": 0.0},
        dram_cycles=dram_cycles,
    )


def _layer(
    op: Op, ctx: PricingContext, spec: ArraySpec, spilled: bool, precision: str
) -> tuple[LayerTiming, list[str]]:
    profile = ctx.profile
    backing = profile.memory[-1]
    native = spec.scalesim is None
    filter_dram_scale = 1.0
    notes: list[str] = []
    stats = op.weight_stats
    if profile.compressed_weights and stats is not None and stats.density < 1.0:
        filter_dram_scale = stats.density + 1.0 / (8.0 * spec.word_bytes)
    in_fits, out_fits = _activations_fit(op, ctx, spec, precision)
    bw_words = backing.bandwidth_bytes_per_cycle / spec.word_bytes
    user = spec.scalesim is not None and spec.scalesim.mode == "USER"
    arch = profile.arch
    assert isinstance(arch, SystolicArch)
    if native and op.is_depthwise and arch.depthwise_macs_per_cycle is not None:
        timing = _depthwise_timing(op, spec, arch.depthwise_macs_per_cycle, spilled, bw_words)
        notes.append(
            f"depthwise path: {op.outputs[0].shape[1]} channels over {spec.cols} columns at "
            f"{arch.depthwise_macs_per_cycle:g} MACs/cycle"
        )
        return timing, notes
    if user:
        _check_replay_size(op, spec)
    total: LayerTiming | None = None
    for g in gemm_shapes(op):
        sparse = sparse_mapping(op, ctx, g, spec.cols) if op.kind in MAC_KINDS else None
        pieces = [g]
        if sparse is not None:
            n_tiles = len(sparse.k_per_col_tile)
            widths = [min(spec.cols, g.n - i * spec.cols) for i in range(n_tiles)]
            pieces = [
                GemmShape(m=g.m, n=w, k=k, groups=g.groups)
                for w, k in zip(widths, sparse.k_per_col_tile, strict=True)
            ]
            notes.append(
                f"{sparse.scheme} zero-skipping: K {g.k} -> {max(sparse.k_per_col_tile)}"
                + (f", load imbalance {sparse.imbalance:.2f}" if sparse.imbalance != 1.0 else "")
            )
        for piece in pieces:
            share = piece.n / g.n
            unique = _ifmap_unique(op)
            timing = gemm_timing(
                piece,
                spec,
                ifmap_unique_words=None if unique is None else unique / g.groups * share,
                filter_offchip=spilled,
                ifmap_offchip=not (native and in_fits),
                ofmap_offchip=not (native and out_fits),
                offchip_words_per_cycle=bw_words,
                filter_dram_scale=filter_dram_scale,
                ifmap_valid_fraction=_valid_fraction(op),
                ifmap_geometry=_conv_geometry(op, piece) if user and piece is g else None,
            )
            total = timing if total is None else _add_timing(total, timing)
    assert total is not None
    if native and spilled and op.params:
        streamed = total.dram_reads["filter"] * spec.word_bytes
        notes.append(
            f"{op.name}: weights spill, {streamed / 1e3:,.1f} kB streamed from {backing.name}"
        )
    return total, notes


def check_replay_budget(graph: OpGraph, ctx: PricingContext) -> None:
    """Refuse, before any op is priced, a model whose USER-mode replay would walk more than
    ``USER_REPLAY_MODEL_LIMIT`` buffer requests over all its layers (``HwClass.check``)."""
    spec = array_spec(ctx.profile)
    if spec.scalesim is None or spec.scalesim.mode != "USER":
        return
    total, largest = 0, ("", 0)
    for op in graph.ops:
        if COST_TABLE.get(op.kind) is _mac_op and op.kind in ctx.table:
            requests = _check_replay_size(op, spec)
            total += requests
            largest = max(largest, (op.name, requests), key=lambda named: named[1])
    if total > USER_REPLAY_MODEL_LIMIT:
        raise ProfileError(
            f"{graph.info.source}: SCALE-Sim USER-bandwidth replay of the whole model would walk "
            f"{total:.3g} buffer requests (largest layer '{largest[0]}': {largest[1]:.3g}), "
            f"over the limit of {USER_REPLAY_MODEL_LIMIT:.0e} (about a second per 2e7); price it "
            "with 'InterfaceBandwidth : CALC' in the .cfg, or on a larger array"
        )


def _check_replay_size(op: Op, spec: ArraySpec) -> int:
    """Refuse, naming the layer, a USER-mode replay that would run for minutes; else the
    layer's buffer requests."""
    requests = sum(user_replay_requests(g, spec) for g in gemm_shapes(op))
    if requests > USER_REPLAY_LIMIT:
        raise ProfileError(
            f"layer '{op.name}': SCALE-Sim USER-bandwidth replay would walk {requests:.3g} "
            f"buffer requests, over the limit of {USER_REPLAY_LIMIT:.0e} (minutes of work); "
            "price it with 'InterfaceBandwidth : CALC' in the .cfg, or on a larger array"
        )
    return requests


def _add_timing(a: LayerTiming, b: LayerTiming) -> LayerTiming:
    def add(x: Mapping[str, float], y: Mapping[str, float]) -> dict[str, float]:
        return {key: x.get(key, 0.0) + y.get(key, 0.0) for key in {*x, *y}}

    weight_a, weight_b = a.compute_cycles, b.compute_cycles
    both = max(weight_a + weight_b, 1e-9)
    return LayerTiming(
        folds=a.folds + b.folds,
        fold_cycles=max(a.fold_cycles, b.fold_cycles),
        compute_cycles=a.compute_cycles + b.compute_cycles,
        stall_cycles=a.stall_cycles + b.stall_cycles,
        prefetch_cycles=a.prefetch_cycles + b.prefetch_cycles,
        mapping_efficiency=(a.mapping_efficiency * weight_a + b.mapping_efficiency * weight_b)
        / both,
        compute_utilization=(a.compute_utilization * weight_a + b.compute_utilization * weight_b)
        / both,
        sram_reads=add(a.sram_reads, b.sram_reads),
        sram_writes=add(a.sram_writes, b.sram_writes),
        dram_reads=add(a.dram_reads, b.dram_reads),
        dram_writes=add(a.dram_writes, b.dram_writes),
        dram_cycles=a.dram_cycles + b.dram_cycles,
    )


@functools.lru_cache(maxsize=256)
def _per_byte_pj(profile: Profile, dram_key: str) -> dict[str, tuple[float, float]]:
    """(read, write) pJ per byte of each operand buffer and of the off-chip memory."""
    per_byte = {
        f"{operand}_sram": (
            _sram_energy(profile, operand, False),
            _sram_energy(profile, operand, True),
        )
        for operand in OPERANDS
    }
    backing = profile.memory[-1]
    per_byte[dram_key] = (backing.read_energy_pj_per_byte, backing.write_energy_pj_per_byte)
    return per_byte


def _sram_energy(profile: Profile, operand: str, write: bool) -> float:
    assert isinstance(profile.arch, SystolicArch)
    given = profile.arch.sram_energy(operand, write)
    if given is not None:
        return given
    level = profile.memory[0]
    return level.write_energy_pj_per_byte if write else level.read_energy_pj_per_byte


def layer_timing(op: Op, ctx: PricingContext) -> LayerTiming:
    """The per-layer SCALE-Sim accounting of a conv/GEMM/attention op (for reports)."""
    spec = array_spec(ctx.profile)
    plan = spilled_ops(ctx)
    spilled = op.id in plan if plan is not None else ctx.weight_home is ctx.profile.memory[-1]
    return _layer(op, ctx, spec, spilled or spec.scalesim is not None, rl.op_precision(op, ctx))[0]


def _mac_op(op: Op, ctx: PricingContext) -> OpCost:
    profile = ctx.profile
    spec = array_spec(profile)
    precision = rl.op_precision(op, ctx)
    plan = spilled_ops(ctx)
    if spec.scalesim is not None:
        spilled = True
    elif plan is not None:
        spilled = op.id in plan
    else:
        spilled = ctx.weight_home is profile.memory[-1] and bool(op.params)
    timing, notes = _layer(op, ctx, spec, spilled and bool(op.params), precision)
    # Arrays with a higher peak than rows x cols at this precision pack several MACs per PE
    # (the depthwise path's rate is its own).
    arch = profile.arch
    assert isinstance(arch, SystolicArch)
    per_pe = max(profile.peak_macs_per_cycle[precision] / (spec.rows * spec.cols), 1e-9)
    if op.is_depthwise and arch.depthwise_macs_per_cycle is not None and spec.scalesim is None:
        per_pe = 1.0
    compute = timing.compute_cycles / per_pe
    stall = timing.stall_cycles
    ideal = op.macs / profile.peak_macs_per_cycle[precision]
    overhead = profile.per_op_overhead_cycles
    cycles = compute + stall + overhead
    word = spec.word_bytes
    backing = profile.memory[-1]
    dram_key = "dram" if spec.scalesim is not None else backing.name
    reads = {key: value * word for key, value in timing.sram_reads.items()}
    writes = {key: value * word for key, value in timing.sram_writes.items()}
    dram_read = (timing.dram_reads["ifmap"] + timing.dram_reads["filter"]) * word
    dram_write = timing.dram_writes["ofmap"] * word
    if dram_read:
        reads[dram_key] = dram_read
    if dram_write:
        writes[dram_key] = dram_write
    per_byte = _per_byte_pj(profile, dram_key)
    notes.extend(rl.precision_notes(op, ctx, precision))
    if spec.scalesim is not None:
        notes.append(
            f"scalesim: compute {timing.compute_cycles:,.0f}, stall {timing.stall_cycles:,.0f}, "
            f"total incl. prefetch {timing.total_cycles_incl_prefetch:,.0f} cycles; mapping "
            f"{timing.mapping_efficiency:.1%}, compute util {timing.compute_utilization:.1%}"
        )
    memory = timing.dram_cycles
    if spec.scalesim is not None and stall > 0:  # stalled on its ports for all of its time
        memory = max(memory, compute + stall)
    return op_cost(
        op,
        ctx,
        precision=precision,
        cycles=cycles,
        compute=compute,
        memory=memory,
        overhead=overhead,
        ideal=ideal,
        reads=reads,
        writes=writes,
        notes=tuple(notes),
        per_byte_pj=per_byte,
    )


def _vector_op(op: Op, ctx: PricingContext) -> OpCost:
    """Non-MAC ops on the vector unit after the array (roofline), with activations on chip
    where the compiler placed them all there (a shared SRAM); a pointwise op fused into an
    array op is applied to the array's outputs as they drain (``_drained``)."""
    arch = ctx.profile.arch
    assert isinstance(arch, SystolicArch)
    level = None
    if arch.shared_sram and ctx.graph is not None:
        spec = array_spec(ctx.profile)
        if all(_activations_fit(op, ctx, spec, rl.op_precision(op, ctx))):
            level = ctx.profile.memory[0]
    if drains_from_array(op, ctx):
        return _drained(op, ctx, level)
    return rl.price(op, ctx, activation_level=level)


def drains_from_array(op: Op, ctx: PricingContext) -> bool:
    """Whether ``op`` is a pointwise op fused into a layer the array runs (``_mac_op``), so
    that it is applied to the layer's outputs on their way out of the array. A pointwise op
    fused into a vector op (a norm) is not: that head writes nothing (``fuse_pointwise``) and
    the roofline's write of the fused op's output is the tensor's only write."""
    if not (ctx.fuse and op.fused_into) or ctx.graph is None or op.fused_into not in ctx.graph.dag:
        return False
    return ctx.graph[op.fused_into].kind in ARRAY_KINDS


def _drained(op: Op, ctx: PricingContext, level: MemoryLevel | None) -> OpCost:
    """A pointwise op fused into an array layer, applied as the layer's outputs drain.

    The layer's price (``_mac_op``) already writes its whole ofmap (SCALE-Sim's ofmap
    demand), so the tensor the fused op takes from it and the tensor it writes back in its
    place cost no traffic here: the fused op moves only its other operands (a residual add's
    second input: ``read_bytes`` after fusion) and any output beyond the drained tensor (a
    broadcast multiply that widens it). The array writes at most one output per column per
    cycle (the ofmap demand's rows of at most ``cols`` words; the depthwise path's one
    channel per column), so the layer runs for at least ``drained / cols`` cycles, and that
    much of the vector unit's work overlaps it; only the rest is the fused op's own time.
    Its arithmetic energy is charged in full.
    """
    profile = ctx.profile
    spec = array_spec(profile)
    precision = rl.op_precision(op, ctx)
    t = rl.traffic(op, ctx, precision)
    carried = max(op.input_bytes - op.read_bytes, 0)  # the producer's tensor, model bytes
    out = op.outputs[0] if op.outputs else None
    element = out.nbytes / out.numel if out is not None and out.numel else 1.0
    extra_write = min(op.write_bytes, max(op.output_bytes - carried, 0))
    scale = rl.activation_scale(op, precision)
    moved = rl.Traffic(t.activation_read, extra_write * scale, t.weight_read)
    reads, writes = rl.memory_bytes(op, ctx, moved, level)
    memory = rl.memory_cycles(profile, reads, writes)
    work = rl.ideal_cycles(op, profile, precision)
    exposed = max(work - carried / element / spec.cols, 0.0)
    cycles = max(exposed, memory)
    return op_cost(
        op,
        ctx,
        precision=precision,
        cycles=cycles,
        compute=exposed,
        memory=memory,
        overhead=0.0,
        ideal=exposed,
        reads=reads,
        writes=writes,
        notes=(
            f"fused: applied as the array's outputs drain ({work:,.0f} cycles of vector "
            f"work, {exposed:,.0f} beyond the drain)",
        ),
        bound=Bound.FREE if cycles == 0 else None,
    )


# The layers the array runs (``_mac_op``); every other op runs on the vector unit.
ARRAY_KINDS = frozenset({OpKind.CONV, OpKind.GEMM, OpKind.ATTENTION})

COST_TABLE: dict[OpKind, CostFn] = {
    **{kind: _vector_op for kind in rl.ROOFLINE_TABLE if kind is not OpKind.VIEW},
    OpKind.VIEW: rl.free,
    **{kind: _mac_op for kind in ARRAY_KINDS},
}

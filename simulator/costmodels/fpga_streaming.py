"""FPGAs as FINN-style streaming dataflow: one piece of hardware per layer, all running at once.

Every layer gets its own compute unit, folded by PE (output parallelism) x SIMD (input
parallelism). The formulas follow the FINN compiler's analytical estimates (Umuroglu et al.,
FPGA 2017; Blott et al., "FINN-R", TRETS 2018), re-derived here:

- A matrix layer (conv as im2col, linear) with MH outputs and MW inputs per output takes
  ``ceil(MH/PE) * ceil(MW/SIMD) * pixels`` cycles per frame; a depthwise (vector) layer
  ``ceil(C/PE) * ceil(k*k/SIMD) * pixels``; per-channel layers (thresholds, adds)
  ``ceil(C/PE) * pixels``, and a k x k pool ``ceil(C/PE) * k*k * output pixels``. A conv
  with a window wider than 1x1 also needs a sliding-window generator, whose cycles are its
  line-buffer fill plus, per output row, the slower of writing ``OFM_w * k*k * C/SIMD``
  words and reading ``stride * IFM_w * C/SIMD``.
- Throughput is the clock over the slowest stage, which includes the input and output DMA
  (``bytes / port width`` plus a per-frame burst latency): small networks are I/O-bound.
- Latency is the critical path through the graph, summing each layer's cycles (FINN's
  ``critical_path_cycles``), plus the DMA in and out.
- Resources per layer: LUTs for low-bit arithmetic (FINN-R's LUT model: multipliers, adder
  tree, accumulator, threshold comparators), DSPs for products wider than
  ``arch.lut_arithmetic_max_bits`` with packing (two int8 or four int4 MACs per DSP48E2),
  weight memories as LUTRAM when shallow and otherwise BRAM36 (or URAM when BRAM runs out),
  sized from depth ``MH*MW/(PE*SIMD)`` and width ``PE*SIMD*bits``.

The folding comes from a folding file (FINN's JSON format, or keyed by op name), from a target
frame rate (the smallest folding that meets it), or else is the fastest folding that fits the
device.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from ..cost import Bound, OpCost
from ..errors import ProfileError
from ..graph import OpGraph
from ..hardware import Profile
from ..ops import MAC_KINDS, PRECISION_BITS, Op, OpKind
from . import roofline as rl
from .assemble import op_cost
from .base import GraphCost, PricingContext
from .fpga_arch import RESOURCES, FpgaOptions, FpgaStreamingArch, load_folding
from .gemm_view import gemm_shapes

# BRAM36 aspect ratios (depth, width) from UG473/UG573; the best one packs a memory tightest.
_BRAM36_SHAPES = ((32768, 1), (16384, 2), (8192, 4), (4096, 9), (2048, 18), (1024, 36), (512, 72))
_URAM_DEPTH, _URAM_WIDTH = 4096, 72  # URAM288: 4K x 72 (UG573)
_LUTRAM_MAX_DEPTH = 128  # shallow memories go to LUTRAM, as FINN's "auto" ram_style does
# FINN-R's LUT model coefficients (Blott et al. 2018, fitted on synthesis results).
_LUT_BASE, _LUT_SCALE = 300, 1.1
# A FINN folding-file key: node type, qualifiers, index (MVAU_hls_0, Pool_Batch_0).
_FINN_NODE = re.compile(r"[A-Z][A-Za-z0-9]*(_[A-Za-z]+)*_[0-9]+")
# The FINN folding-file node types hwsim maps onto its layers, in graph order.
_FINN_ROLES = {
    "MVAU": "mvau",
    "MatrixVectorActivation": "mvau",
    "VVAU": "vvau",
    "VectorVectorActivation": "vvau",
    "ConvolutionInputGenerator": "window",
    "StreamingMaxPool": "pool",
    "Pool": "pool",
    "Thresholding": "stream",
    "AddStreams": "stream",
}


@dataclass(frozen=True)
class Window:
    """The sliding-window generator in front of a k x k conv (padded input dims)."""

    ifm_h: int
    ifm_w: int
    ofm_h: int
    ofm_w: int
    k_h: int
    k_w: int
    stride: int
    channels: int


@dataclass(frozen=True)
class Layer:
    """One op as a streaming stage: ``rows`` fold by PE, ``cols`` by SIMD, ``vectors`` times
    per frame. An op that lowers to several products (a recurrent layer's input and hidden
    products, an einsum chain) runs the ``more`` ones, (rows, cols, vectors) each, on the same
    unit after the first."""

    op: Op
    role: str  # mvau | vvau | attention | pool | resample | stream
    rows: int
    cols: int
    vectors: int
    weight_bits: int
    act_bits: int
    weight_elems: int = 0  # weights this stage stores on chip
    buffer_bits: int = 0  # line buffers / K,V buffers besides the weights
    window: Window | None = None
    more: tuple[tuple[int, int, int], ...] = ()

    @property
    def is_mac(self) -> bool:
        return self.role in ("mvau", "vvau", "attention")

    @property
    def products(self) -> tuple[tuple[int, int, int], ...]:
        return ((self.rows, self.cols, self.vectors), *self.more)

    @property
    def pe_extent(self) -> int:
        """What PE must divide: every product's rows."""
        return math.gcd(*(r for r, _, _ in self.products))

    @property
    def simd_extent(self) -> int:
        """What SIMD must divide: every product's columns."""
        return math.gcd(*(c for _, c, _ in self.products))


@dataclass(frozen=True)
class Fold:
    pe: int
    simd: int
    swg_simd: int = 1


def streaming_arch(profile: Profile) -> FpgaStreamingArch:
    arch = profile.arch
    assert isinstance(arch, FpgaStreamingArch), f"{profile.name} is not a streaming FPGA"
    return arch


# --- turning ops into stages -----------------------------------------------------------------


def _bits(op: Op, ctx: PricingContext) -> tuple[int, int]:
    """(weight, activation) bits of a stage: the op's own quantization (from the model file
    or ``--quant``) where it has one, else the width of its execution precision."""
    if op.weight_bits is not None or op.act_bits is not None:
        act = op.act_bits or op.weight_bits
        assert act is not None
        return op.weight_bits or act, act
    bits = PRECISION_BITS.get(rl.op_precision(op, ctx), 8)
    return bits, bits


def _per_frame(numel: int, batch: int) -> int:
    return max(numel // max(batch, 1), 1)


def _layer(op: Op, ctx: PricingContext, batch: int) -> Layer | None:
    """The streaming stage for ``op``; ``None`` for free ops (views, fused pointwise)."""
    if op.kind in (OpKind.VIEW, OpKind.UNSUPPORTED) or op.fused_into or not op.outputs:
        return None
    w_bits, a_bits = _bits(op, ctx)
    out = op.outputs[0].shape
    if op.kind is OpKind.CONV and op.weight is not None and not op.attr("transposed"):
        w = op.weight.shape
        channels, taps = op.inputs[0].shape[1], math.prod(w[2:])
        pixels = math.prod(out[2:]) if len(out) > 2 else 1
        window = None
        if len(w) == 4 and taps > 1 and len(out) == 4:
            stride = _first(op.attr("stride"), 1)
            window = Window(
                ifm_h=(out[2] - 1) * stride + w[2],
                ifm_w=(out[3] - 1) * stride + w[3],
                ofm_h=out[2],
                ofm_w=out[3],
                k_h=w[2],
                k_w=w[3],
                stride=stride,
                channels=channels,
            )
        buffer = 0 if window is None else ((w[2] - 1) * window.ifm_w + w[3]) * channels * a_bits
        common = {
            "vectors": pixels,
            "weight_bits": w_bits,
            "act_bits": a_bits,
            "weight_elems": op.weight.numel,
            "buffer_bits": buffer,
            "window": window,
        }
        if op.is_depthwise:
            return Layer(op, "vvau", rows=w[0], cols=taps, **common)  # type: ignore[arg-type]
        return Layer(op, "mvau", rows=w[0], cols=math.prod(w[1:]), **common)  # type: ignore[arg-type]
    shapes = [g for g in gemm_shapes(op) if g.macs] if op.kind is OpKind.GEMM else []
    if shapes:
        # MH = N outputs, MW = K inputs, M x groups vectors per batch (the GEMM view: right for
        # einsum, weight-first products and recurrent layers, whose output shape is not M x N).
        products = [(g.n, g.k, _per_frame(g.m * g.groups, batch)) for g in shapes]
        weights = sum(t.numel for t in op.params if len(t.shape) >= 2)
        # Activation x activation: the stage buffers one operand of each product.
        buffer = 0 if weights else sum(n * k for n, k, _ in products) * a_bits
        (n, k, vectors), *more = products
        return Layer(op, "mvau", n, k, vectors, w_bits, a_bits, weights, buffer, more=tuple(more))
    if op.kind is OpKind.ATTENTION:
        seq_q, seq_k = op.int_attr("seq_q"), op.int_attr("seq_k")
        dim, heads = op.int_attr("head_dim"), _per_frame(op.int_attr("heads_x_batch"), batch)
        kv_buffer = 2 * seq_k * dim * heads * a_bits
        return Layer(op, "attention", seq_k, 2 * dim, seq_q * heads, w_bits, a_bits, 0, kv_buffer)
    # A scalar output (a loss, a sum of everything) is one channel.
    channels = out[1] if len(out) >= 3 and op.kind is not OpKind.EMBEDDING else (out or (1,))[-1]
    channels = max(int(channels), 1)
    numel = _per_frame(max(op.outputs[0].numel, op.inputs[0].numel if op.inputs else 0), batch)
    vectors = max(numel // channels, 1)
    if op.kind is OpKind.POOL and op.inputs and len(op.inputs[0].shape) == 4:
        kernel = op.attr("kernel")
        k_h = _first(kernel, 1)
        if isinstance(kernel, (tuple, list)) and len(kernel) == 2 and len(out) == 4:
            # FINN's Pool get_exp_cycles: (C * k_h * k_w / PE) * OFM_h * OFM_w. Equal to the
            # input pixels when the windows do not overlap (2x2 stride 2); more when they do
            # (ResNet's 3x3 stride-2 max pool reads each window's 9 pixels per output).
            vectors = int(kernel[0]) * int(kernel[1]) * out[2] * out[3]
        buffer = (k_h - 1) * op.inputs[0].shape[3] * channels * a_bits
        return Layer(op, "pool", channels, 1, vectors, w_bits, a_bits, 0, buffer)
    if op.kind is OpKind.RESAMPLE:
        # As a pooling stage: one tap per lane per cycle (C * taps / PE per output pixel), and
        # for an image a line buffer of the input rows an output row's taps reach beyond the
        # current one.
        taps = op.int_attr("taps")
        buffer = 0
        if op.inputs and len(op.inputs[0].shape) == 4:
            rows = max(round(taps ** (1 / max(op.int_attr("axes"), 1))) - 1, 0)
            buffer = rows * op.inputs[0].shape[3] * channels * a_bits
        vectors = max(taps * _per_frame(op.outputs[0].numel, batch) // channels, 1)
        return Layer(op, "resample", channels, 1, vectors, w_bits, a_bits, 0, buffer)
    return Layer(op, "stream", channels, 1, vectors, w_bits, a_bits)


def _first(value: object, default: int) -> int:
    if isinstance(value, (tuple, list)) and value:
        return int(value[0])
    return int(value) if isinstance(value, int) and value else default


# --- cycles and resources of one stage -------------------------------------------------------


def window_cycles(win: Window, simd: int) -> int:
    """Sliding-window generator cycles per frame (FINN's RTL SWG estimate, dilation 1)."""
    fold = math.ceil(win.channels / simd)
    fill = ((win.k_h - 1) * win.ifm_w + win.k_w) * fold
    per_row = max(win.ofm_w * win.k_h * win.k_w * fold, win.stride * win.ifm_w * fold)
    return fill + win.ofm_h * per_row


def stage_cycles(layer: Layer, fold: Fold) -> int:
    """Cycles per frame of a stage: its own compute, or its window generator if slower."""
    cycles = sum(
        math.ceil(rows / fold.pe) * math.ceil(cols / fold.simd) * vectors
        for rows, cols, vectors in layer.products
    )
    if layer.window is not None:
        cycles = max(cycles, window_cycles(layer.window, fold.swg_simd))
    return cycles


def _bram36(depth: int, width: int) -> int:
    return min(math.ceil(depth / d) * math.ceil(width / w) for d, w in _BRAM36_SHAPES)


def _uram(depth: int, width: int) -> int:
    """URAM288 count: a narrow memory is packed into 72-bit words (a weight streamer reads one
    wide word every 72/width cycles), a wide one is tiled."""
    if width <= _URAM_WIDTH:
        return math.ceil(depth * width / (_URAM_DEPTH * _URAM_WIDTH))
    return math.ceil(depth / _URAM_DEPTH) * math.ceil(width / _URAM_WIDTH)


def _memory(depth: int, width: int) -> dict[str, float]:
    """Where a memory of ``depth`` words x ``width`` bits goes, and what it uses."""
    if depth * width == 0:
        return {}
    if depth <= _LUTRAM_MAX_DEPTH:
        return {"LUT": width * math.ceil(depth / 64)}  # a LUT6 is a 64 x 1 RAM
    return {"BRAM": _bram36(depth, width)}


def stage_resources(layer: Layer, fold: Fold, arch: FpgaStreamingArch) -> dict[str, float]:
    """LUT/FF/DSP/BRAM of one stage (before any weight memory moves to URAM)."""
    w, a = layer.weight_bits, layer.act_bits
    res = dict.fromkeys(RESOURCES, 0.0)
    if layer.is_mac:
        lanes = fold.pe * fold.simd
        wide = max(w, a) > arch.lut_arithmetic_max_bits
        mult = 0 if wide else fold.simd * (2 * math.ceil((w + a) / 6) - 1) * (w + a)
        adder = (w + a) * (2 * fold.simd - 1)
        acc = math.ceil(math.log2(max(*(c for _, c, _ in layer.products), 2))) + w + a
        thresholds = (2 ** min(a, 8) - 1) * acc  # comparators of a fused activation
        res["LUT"] = _LUT_BASE + _LUT_SCALE * fold.pe * (mult + adder + acc + thresholds)
        if wide:
            res["DSP"] = math.ceil(lanes / dsp_packing(max(w, a), arch))
        if layer.weight_elems:
            depth = math.ceil(layer.weight_elems / lanes)
            for key, value in _memory(depth, lanes * w).items():
                res[key] += value
    else:
        res["LUT"] = 100 + 8 * fold.pe * a  # assumed: a compare/add per bit per lane
    if layer.buffer_bits:
        simd = fold.swg_simd if layer.window is not None else fold.pe
        width = max(simd * a, 1)
        for key, value in _memory(math.ceil(layer.buffer_bits / width), width).items():
            res[key] += value
        if layer.window is not None:
            res["LUT"] += 200  # window generator control, assumed
    res["FF"] = res["LUT"] * arch.ff_per_lut
    return res


def dsp_packing(bits: int, arch: FpgaStreamingArch) -> int:
    """MACs one DSP slice computes per cycle at ``bits`` (operand sharing, WP486/WP521)."""
    if bits <= 4:
        return arch.dsp_packing_int4
    if bits <= 8:
        return arch.dsp_packing_int8
    return 1


# --- folding -------------------------------------------------------------------------------


def _divisors(n: int) -> list[int]:
    small = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0]
    return sorted({*small, *(n // d for d in small)})


def _swg_simd(layer: Layer, simd: int) -> int:
    return math.gcd(simd, layer.window.channels) if layer.window is not None else 1


def frontier(layer: Layer) -> list[tuple[int, Fold]]:
    """Foldings that are not beaten on both speed and size, fastest last.

    Size is the number of lanes PE x SIMD (resources grow with it); FINN requires PE to
    divide the rows and SIMD the columns.
    """
    simds = _divisors(layer.simd_extent) if layer.simd_extent > 1 else [1]
    options = []
    for pe in _divisors(layer.pe_extent):
        for simd in simds:
            fold = Fold(pe, simd, _swg_simd(layer, simd) if layer.role == "mvau" else pe)
            if layer.role == "vvau" and layer.window is not None:
                fold = Fold(pe, simd, math.gcd(pe, layer.window.channels))
            options.append((pe * simd, stage_cycles(layer, fold), fold))
    options.sort(key=lambda t: (t[0], t[1]))
    best: list[tuple[int, Fold]] = []
    for _, cycles, fold in options:
        if not best or cycles < best[-1][0]:
            best.append((cycles, fold))
    return best


def _fold_for(front: list[tuple[int, Fold]], interval: float) -> Fold:
    """The smallest folding on the frontier that runs within ``interval`` cycles."""
    for cycles, fold in front:
        if cycles <= interval:
            return fold
    return front[-1][1]


def _finn_entries(folding: Mapping[str, Any]) -> dict[str, list[Mapping[str, Any]]]:
    """FINN node entries grouped by hwsim role, in node-index order."""
    grouped: dict[str, list[tuple[int, Mapping[str, Any]]]] = {}
    for key, value in folding.items():
        parts = key.split("_")
        if not isinstance(value, Mapping) or not parts[-1].isdigit() or parts[0] not in _FINN_ROLES:
            continue
        grouped.setdefault(_FINN_ROLES[parts[0]], []).append((int(parts[-1]), value))
    return {
        role: [v for _, v in sorted(items, key=lambda t: t[0])] for role, items in grouped.items()
    }


def assign_folding(
    layers: list[Layer], folding: Mapping[str, Any]
) -> tuple[dict[str, Fold], list[str]]:
    """PE/SIMD per op id from a folding config, and notes on what did not match."""
    notes: list[str] = []
    given: dict[str, dict[str, int]] = {}
    by_name = {layer.op.name: layer for layer in layers} | {layer.op.id: layer for layer in layers}
    for key, value in folding.items():
        if key in by_name and isinstance(value, Mapping):
            given[by_name[key].op.id] = {k: int(v) for k, v in value.items() if k in ("PE", "SIMD")}
        elif isinstance(value, Mapping) and key != "Defaults" and not _FINN_NODE.fullmatch(key):
            close = difflib.get_close_matches(key, [layer.op.name for layer in layers], n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ProfileError(
                f"folding entry '{key}' names no layer of this model and is no FINN node{hint}"
            )
    finn = _finn_entries(folding)
    for role, entries in finn.items():
        if role == "window":
            targets = [layer for layer in layers if layer.window is not None]
        else:
            targets = [layer for layer in layers if layer.role == role]
        for layer, entry in zip(targets, entries, strict=False):
            slot = given.setdefault(layer.op.id, {})
            if role == "window":
                slot["SWG"] = int(entry.get("SIMD", 1))
            else:
                slot.update({k: int(entry[k]) for k in ("PE", "SIMD") if k in entry})
        if len(entries) != len(targets):
            notes.append(
                f"folding file has {len(entries)} {role} entries for {len(targets)} such layers; "
                "extra entries are ignored"
            )
    folds = {}
    for layer in layers:
        if layer.op.id not in given:
            continue
        slot = given[layer.op.id]
        pe, simd = slot.get("PE", 1), slot.get("SIMD", 1) if layer.simd_extent > 1 else 1
        if layer.pe_extent % pe or layer.simd_extent % simd:
            raise ProfileError(
                f"folding for '{layer.op.name}': PE={pe} must divide {layer.pe_extent} and "
                f"SIMD={simd} must divide {layer.simd_extent}"
            )
        swg = slot.get("SWG", _swg_simd(layer, simd) if layer.role == "mvau" else pe)
        folds[layer.op.id] = Fold(pe, simd, swg)
    return folds, notes


# --- the whole design -----------------------------------------------------------------------


@dataclass(frozen=True)
class Design:
    folds: dict[str, Fold]
    cycles: dict[str, int]  # per frame, per op id
    resources: dict[str, dict[str, float]]  # per op id
    used: dict[str, float]

    @property
    def interval(self) -> int:
        return max(self.cycles.values(), default=1)


def _device(profile: Profile) -> dict[str, float]:
    return streaming_arch(profile).budget()


def _build(layers: list[Layer], folds: dict[str, Fold], profile: Profile) -> Design:
    arch = streaming_arch(profile)
    cycles = {layer.op.id: stage_cycles(layer, folds[layer.op.id]) for layer in layers}
    resources = {layer.op.id: stage_resources(layer, folds[layer.op.id], arch) for layer in layers}
    shell = arch.shell
    used = {
        res: float(shell.get(res, 0)) + sum(r[res] for r in resources.values()) for res in RESOURCES
    }
    _spill_to_uram(layers, folds, resources, used, _device(profile))
    return Design(folds, cycles, resources, used)


def _spill_to_uram(
    layers: list[Layer],
    folds: dict[str, Fold],
    resources: dict[str, dict[str, float]],
    used: dict[str, float],
    device: dict[str, float],
) -> None:
    """Move the biggest weight memories from BRAM to URAM while BRAM is over budget."""
    if used["BRAM"] <= device["BRAM"] or device["URAM"] <= 0:
        return
    for layer in sorted(layers, key=lambda lay: -resources[lay.op.id]["BRAM"]):
        res = resources[layer.op.id]
        if used["BRAM"] <= device["BRAM"] or not layer.weight_elems or res["BRAM"] == 0:
            continue
        fold = folds[layer.op.id]
        lanes = fold.pe * fold.simd
        depth, width = math.ceil(layer.weight_elems / lanes), lanes * layer.weight_bits
        uram = _uram(depth, width)
        if used["URAM"] + uram > device["URAM"]:
            continue
        moved = _bram36(depth, width) if depth > _LUTRAM_MAX_DEPTH else 0
        res["BRAM"] -= moved
        res["URAM"] += uram
        used["BRAM"] -= moved
        used["URAM"] += uram


def fit(used: Mapping[str, float], device: Mapping[str, float]) -> tuple[bool, str]:
    """Whether ``used`` fits ``device``, and the resource closest to (or over) its limit."""
    ratios = {
        res: (used[res] / device[res]) if device[res] else (math.inf if used[res] else 0.0)
        for res in RESOURCES
    }
    binding = max(RESOURCES, key=lambda res: ratios[res])
    return ratios[binding] <= 1.0, binding


def io_cycles(graph: OpGraph, profile: Profile) -> tuple[float, float]:
    """DMA cycles per frame to bring the input in and take the output out."""
    arch = streaming_arch(profile)
    width = arch.dma_bytes_per_cycle or profile.memory[-1].bandwidth_bytes_per_cycle
    latency = arch.dma_latency_cycles
    batch = max(graph.info.batch, 1)
    in_bits = arch.input_bits
    in_bytes = sum(t.numel for t in graph.info.inputs) / batch * in_bits / 8
    outputs = [op.outputs[0] for op in graph if op.outputs and not graph.consumers(op.id)]
    out_bytes = sum(t.numel for t in outputs) / batch * in_bits / 8
    return in_bytes / width + latency, out_bytes / width + latency


def design(
    layers: list[Layer], profile: Profile, options: FpgaOptions, io_floor: float
) -> tuple[Design, list[str]]:
    """Fold every layer: from the folding file, to a target frame rate, or fastest that fits."""
    notes: list[str] = []
    fronts = {layer.op.id: frontier(layer) for layer in layers}
    folding = options.folding
    target = options.target_fps or streaming_arch(profile).target_fps
    if folding is not None:
        folds, notes = assign_folding(layers, load_folding(folding))
        given = [stage_cycles(lay, folds[lay.op.id]) for lay in layers if lay.op.id in folds]
        interval = max([*given, io_floor])
        missing = [layer for layer in layers if layer.op.id not in folds]
        for layer in missing:
            folds[layer.op.id] = _fold_for(fronts[layer.op.id], interval)
        if missing:
            notes.append(
                f"{len(missing)} layer(s) not in the folding file were folded to keep pace "
                "with the slowest listed layer"
            )
        return _build(layers, folds, profile), notes
    if target:
        interval = max(profile.clock_hz / float(target), io_floor)
        folds = {lay.op.id: _fold_for(fronts[lay.op.id], interval) for lay in layers}
        return _build(layers, folds, profile), notes
    # The II is set by some layer's cycles, or by the DMA: no faster folding pays off.
    candidates = sorted(
        {c for front in fronts.values() for c, _ in front if c > io_floor} | {max(io_floor, 1.0)}
    )
    device = _device(profile)

    def at(interval: float) -> Design:
        return _build(
            layers, {lay.op.id: _fold_for(fronts[lay.op.id], interval) for lay in layers}, profile
        )

    lo, hi = 0, len(candidates) - 1
    best = at(candidates[hi])
    if not fit(best.used, device)[0]:
        notes.append("does not fit even at the smallest folding (PE = SIMD = 1)")
        return best, notes
    while lo < hi:  # smallest interval whose design fits; resources shrink as it grows
        mid = (lo + hi) // 2
        trial = at(candidates[mid])
        if fit(trial.used, device)[0]:
            best, hi = trial, mid
        else:
            lo = mid + 1
    return at(candidates[lo]) if fit(at(candidates[lo]).used, device)[0] else best, notes


def _precision_key(bits: int, profile: Profile) -> str:
    for key, width in (("binary", 1), ("int4", 4), ("int8", 8), ("fp16", 16), ("fp32", 32)):
        if bits <= width and key in profile.peak_macs_per_cycle:
            return key
    return profile.default_precision


def _critical_path(graph: OpGraph, cycles: Mapping[str, float]) -> float:
    longest: dict[str, float] = {}
    for op_id in graph.order:
        before = max((longest[p] for p in graph.producers(op_id)), default=0.0)
        longest[op_id] = before + cycles.get(op_id, 0.0)
    return max(longest.values(), default=0.0)


def graph_cost(graph: OpGraph, ctx: PricingContext) -> GraphCost:
    """The streaming design for ``graph``: folding, cycles, resources, FPS and latency."""
    profile = ctx.profile
    batch = max(graph.info.batch, 1)
    ops = list(graph)
    layers = [lay for lay in (_layer(op, ctx, batch) for op in ops) if lay is not None]
    io_in, io_out = io_cycles(graph, profile)
    options = ctx.options if isinstance(ctx.options, FpgaOptions) else FpgaOptions()
    built, notes = design(layers, profile, options, max(io_in, io_out))
    interval = float(max(built.interval, io_in, io_out))
    fps = profile.clock_hz / interval
    device = _device(profile)
    fits, binding = fit(built.used, device)
    frame = _critical_path(graph, {k: float(v) for k, v in built.cycles.items()}) + io_in + io_out
    latency = frame + (batch - 1) * interval

    on_chip, backing = profile.memory[0], profile.memory[-1]
    busy = sum(built.cycles.values()) or 1
    static_per_frame = profile.energy.static_power_w * interval / profile.clock_hz
    by_id = {layer.op.id: layer for layer in layers}
    costs: list[OpCost | None] = []
    details: dict[str, dict[str, Any]] = {}
    for op in ops:
        layer = by_id.get(op.id)
        if layer is None:
            costs.append(None if op.kind is OpKind.UNSUPPORTED else OpCost.free(profile.clock_hz))
            continue
        cycles = float(built.cycles[op.id] * batch)
        precision = _precision_key(max(layer.weight_bits, layer.act_bits), profile)
        weight_bytes = layer.weight_elems * layer.weight_bits / 8 * batch
        peak = profile.peak_macs_per_cycle[precision]
        ideal = op.macs / peak if op.kind in MAC_KINDS else 0.0
        fold = built.folds[op.id]
        slowest = built.cycles[op.id] == built.interval and built.interval >= max(io_in, io_out)
        costs.append(
            op_cost(
                op,
                ctx,
                precision=precision,
                label=f"w{layer.weight_bits}a{layer.act_bits}",
                cycles=cycles,
                compute=cycles,
                memory=0.0,
                overhead=0.0,
                bound=Bound.COMPUTE,
                ideal=min(ideal, cycles),
                reads={on_chip.name: weight_bytes} if weight_bytes else {},
                writes={},
                notes=("slowest stage: sets the frame rate",) if slowest else (),
                static_j=static_per_frame * batch * built.cycles[op.id] / busy,
            )
        )
        details[op.id] = {
            "pe": fold.pe,
            "simd": fold.simd if any(c > 1 for _, c, _ in layer.products) else None,
            "window_simd": fold.swg_simd if layer.window is not None else None,
            "stage": layer.role,
            "cycles_per_frame": built.cycles[op.id],
            "resources": {k: v for k, v in built.resources[op.id].items() if v},
        }

    io_bytes_in = sum(t.numel for t in graph.info.inputs) * streaming_arch(profile).input_bits / 8
    priced = [c for c in costs if c is not None]
    summed = _sum(priced, profile.clock_hz)
    io_energy = io_bytes_in * backing.read_energy_pj_per_byte * 1e-12
    total = replace(
        summed,
        cycles=latency,
        compute_cycles=min(summed.compute_cycles, latency),
        ideal_cycles=min(summed.ideal_cycles, latency),
        bound=Bound.MEMORY if max(io_in, io_out) >= built.interval else Bound.COMPUTE,
        bytes_read={**summed.bytes_read, backing.name: io_bytes_in},
        energy_j={**summed.energy_j, backing.name: io_energy},
        precision=summed.precision,
    )
    if max(io_in, io_out) >= built.interval:
        notes.append(
            f"I/O-bound: the DMA needs {max(io_in, io_out):,.0f} cycles per frame, the slowest "
            f"layer {built.interval:,} cycles"
        )
    if not fits:
        notes.append(
            f"does not fit {streaming_arch(profile).part or profile.name}: {binding} "
            f"{built.used[binding]:,.0f} used of {device[binding]:,.0f}"
        )
    return GraphCost(
        costs=tuple(costs),
        total=total,
        throughput_fps=fps,
        fits=fits,
        binding_resource=None if fits else binding,
        resources={res: {"used": built.used[res], "available": device[res]} for res in RESOURCES},
        layer_details=details,
        notes=tuple(notes),
    )


def _sum(costs: Iterable[OpCost], clock_hz: float) -> OpCost:
    total = OpCost.free(clock_hz)
    for cost in costs:
        total = total + cost
    return total

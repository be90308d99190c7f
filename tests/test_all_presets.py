"""Every preset against figures that do not come from hwsim.

Two kinds of check, neither of which holds by construction:

- Every built-in workload on every preset: complete, the MACs priced are the ones
  ``torch.utils.flop_counter`` counts, and latency and energy clear physical floors worked out
  from the preset's YAML numbers (peak MAC rate, weight bytes over the backing store's
  bandwidth, the eager per-op host cost, energy per MAC and static power).
- One small model per preset, priced by hand from the YAML numbers: the arithmetic is in each
  docstring (for the YAML as committed) and the test redoes it from the file, so a changed
  YAML number changes the expected figure, not the test.

The YAML is read with ``yaml.safe_load``, not hwsim's loader, and its numbers are ``float()``ed
(YAML 1.1 reads ``2.45e9`` as a string).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from torch import nn

import hwsim
from hwsim.ops import OpKind
from hwsim.workloads import workload_names

PRESETS_DIR = Path(__file__).resolve().parents[1] / "hw_profiles"
PJ = 1e-12


@cache
def spec(name: str) -> dict[str, Any]:
    return yaml.safe_load((PRESETS_DIR / f"{name}.yaml").read_text())


PRESETS = sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


def of_class(hw_class: str, **arch_fields: Any) -> list[str]:
    return [
        n
        for n in PRESETS
        if spec(n)["hw_class"] == hw_class
        and all(spec(n).get("arch", {}).get(k) == v for k, v in arch_fields.items())
    ]


@dataclass(frozen=True)
class Level:
    """A memory level as the YAML states it, bandwidth sustained (peak x efficiency)."""

    name: str
    capacity_bytes: float
    bytes_per_s: float
    read_pj: float
    write_pj: float
    holds_weights: bool


def clock(name: str) -> float:
    return float(spec(name)["clock_hz"])


def levels(name: str) -> list[Level]:
    out = []
    for lvl in spec(name)["memory"]:
        if "bandwidth_bytes_per_s" in lvl:
            peak = float(lvl["bandwidth_bytes_per_s"])
        else:
            peak = float(lvl["bandwidth_bytes_per_cycle"]) * clock(name)
        read = float(lvl["read_energy_pj_per_byte"])
        out.append(
            Level(
                name=lvl["name"],
                capacity_bytes=math.inf
                if lvl["capacity_bytes"] is None
                else float(lvl["capacity_bytes"]),
                bytes_per_s=peak * float(lvl.get("efficiency", 1.0)),
                read_pj=read,
                write_pj=float(lvl.get("write_energy_pj_per_byte", read)),
                holds_weights=bool(lvl.get("holds_weights", True)),
            )
        )
    return out


def peaks(name: str) -> dict[str, float]:
    return {k: float(v) for k, v in spec(name)["peak_macs_per_cycle"].items()}


def mac_pj(name: str, precision: str) -> float:
    return float(spec(name)["energy"]["mac_pj"][precision])


def energy_number(name: str, key: str) -> float:
    return float(spec(name)["energy"][key])


def per_op_s(name: str) -> float:
    return float(spec(name).get("overhead", {}).get("per_op_s", 0.0))


def arch(name: str, key: str, default: Any = None) -> Any:
    return spec(name).get("arch", {}).get(key, default)


def op_cost(est: hwsim.Estimate, kind: OpKind) -> hwsim.OpCost:
    (cost,) = [c for op, c in est.costs if op.kind is kind]
    assert cost is not None
    return cost


def _linear(k: int, n: int, batch: int) -> hwsim.OpGraph:
    return hwsim.trace(nn.Linear(k, n, bias=False).eval(), example_inputs=(torch.zeros(batch, k),))


class Add(nn.Module):
    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a + b


def _add(x: torch.Tensor) -> hwsim.OpGraph:
    return hwsim.trace(Add(), example_inputs=(x, x))


# --- every workload on every preset --------------------------------------------------------------


def _eager(name: str) -> bool:
    """Eager PyTorch: every op is dispatched from the host on its own (no fusion, no graph)."""
    return not spec(name).get("fuse_pointwise", True) and not arch(name, "cuda_graph", False)


def _resident_weight_bytes(graph: hwsim.OpGraph, name: str, est: hwsim.Estimate) -> float:
    """Weights an inference reads on the device: every parameter but lookup tables (a few rows
    are read) and the weights of ops that fell back to the host CPU (``layers[].device``), at
    fp32 where the preset computes fp32, else at its default precision's width."""
    bits = {"int4": 4, "int8": 8, "fp8": 8, "fp16": 16, "bf16": 16}
    precision = spec(name)["default_precision"]
    width = 4.0 if "fp32" in peaks(name) else bits.get(precision, 32) / 8
    on_host = {layer["id"] for layer in est.to_dict()["layers"] if layer.get("device") == "cpu"}
    params = sum(
        op.param_count for op in graph if op.kind is not OpKind.EMBEDDING and op.id not in on_host
    )
    return params * width


@pytest.mark.parametrize("workload", workload_names())
def test_workload_on_every_preset_clears_its_physical_floors(graph_of, counted_macs, workload):
    """For every preset, with numbers read from its YAML:

    - every op is priced, and the MACs priced are FlopCounterMode's FLOPs / 2;
    - latency >= MACs / (the highest peak MAC rate of any precision the preset has);
    - weights that do not fit the on-chip levels that may hold them stream from the backing
      store every inference: latency >= (weight bytes - on-chip capacity) / its bandwidth
      (a streaming FPGA design holds every weight on chip: one that fits has room for them;
      a microcontroller reads them from its flash: one that fits has room for them there);
    - eager execution dispatches every op that is not a view from the host, one at a time:
      latency >= ops x the preset's per-op overhead;
    - energy >= MACs x the cheapest MAC energy + static power over one frame interval
      (1 / throughput) + the streamed weight bytes x the backing store's energy per byte.
    """
    graph = graph_of(workload)
    macs = counted_macs(workload)
    for name in PRESETS:
        est = hwsim.estimate(graph, name)
        where = (workload, name)
        assert est.complete, where
        assert est.total.macs == macs, where
        latency = est.latency_s
        assert latency >= macs / (max(peaks(name).values()) * clock(name)), where
        mem = levels(name)
        on_chip = sum(lvl.capacity_bytes for lvl in mem[:-1] if lvl.holds_weights)
        weights = _resident_weight_bytes(graph, name, est)
        total = est.to_dict()["total"]
        fits = total["fits"]
        if total["memory_use"] is not None:  # a microcontroller reads weights from its flash
            held = sum(lvl.capacity_bytes for lvl in mem if lvl.holds_weights)
            assert not fits or weights <= held, where
            streamed = 0.0
        elif fits is None:  # weights that do not fit on chip stream in every inference
            streamed = max(weights - on_chip, 0.0)
            assert latency >= streamed / mem[-1].bytes_per_s, where
        else:  # a streaming FPGA design keeps all weights on chip, or does not fit at all
            assert not fits or weights <= on_chip, where
            streamed = 0.0
        if _eager(name):
            ops = sum(1 for op in graph if op.kind is not OpKind.VIEW)
            assert latency >= ops * per_op_s(name) * (1 - 1e-9), where
        fps = est.throughput_fps
        assert fps is not None and fps > 0, where
        floor = (
            macs * min(float(v) for v in spec(name)["energy"]["mac_pj"].values()) * PJ
            + energy_number(name, "static_power_w") / fps
            + streamed * mem[-1].read_pj * PJ
        )
        assert est.energy_j >= floor * (1 - 1e-9), where


def test_tpu_edge_streams_resnet50_weights_but_keeps_mobilenet_on_chip(graph_of):
    """ResNet-50 has 25.6 M parameters (25.6 MB as int8) > 8 MiB of Edge TPU SRAM; MobileNetV2
    has 3.5 M (3.5 MB), which fits."""
    assert hwsim.estimate(graph_of("resnet50"), "tpu_edge").weight_home == "host"
    assert hwsim.estimate(graph_of("mobilenet_v2"), "tpu_edge").weight_home == "sram"


# --- CPU presets ---------------------------------------------------------------------------------

CPU_PRESETS = of_class("cpu")


def _cpu_gemm_efficiency(name: str) -> float:
    """The preset's achieved fraction of peak for GEMMs; a preset without one runs at peak."""
    eff = arch(name, "efficiency") or {}
    return float(eff.get("gemm", 1.0))


def _cpu_dispatch_s(name: str, kind: str) -> float:
    """Seconds to dispatch one op of ``kind``: the preset's measured table, else per_op_s."""
    table = (arch(name, "efficiency") or {}).get("dispatch_s", {})
    return float(table.get(kind, per_op_s(name)))


@pytest.mark.parametrize("name", CPU_PRESETS)
def test_cpu_linear_runs_at_the_vector_peak(name):
    """Linear 384 -> 384 (no bias) on 128 fp32 rows: 128 x 384 x 384 = 18,874,368 MACs. The
    384 output columns fill whole vectors (8, 4 or 16 fp32 lanes), so the time is MACs over
    the fp32 MAC rate times the preset's GEMM efficiency, plus one eager dispatch:

    - cpu_x86_avx2: 18,874,368 / 32 = 589,824 cycles + 2 us x 2.45 GHz = 4,900: 594,724
      cycles = 242.74 us.
    - cpu_arm_a76: 18,874,368 / 32 = 589,824 + 5 us x 2.4 GHz = 12,000: 601,824 = 250.76 us.
    - cpu_arm_a76_xnnpack: 18,874,368 / (32 x 0.7) = 842,606 + 5 us x 2.42 GHz = 12,100:
      854,706 = 353.18 us.
    - cpu_x86_avx512_vnni: 18,874,368 / (128 x 0.6) = 245,760 + 7 us x 2.3 GHz = 16,100:
      261,860 = 113.85 us.

    Memory takes far less: the 576 KiB of weights and 2 x 192 KiB of activations live in L2 (the
    first level of 576 KiB or more; the first whose half holds 384 KiB), so 786,432 B are read
    and 196,608 B written through L1 and L2: at most 983,040 / 51.2 B/cycle (Zen 3's L2) =
    19,200 cycles. Energy: MACs x fp32 mac_pj + 983,040 B x (L1 + L2 pJ/B) + static power x
    latency; on cpu_x86_avx2, 1.0570 mJ + 3.39 uJ + 2.2 W x 242.74 us = 1.5944 mJ."""
    macs = 128 * 384 * 384
    est = hwsim.estimate(_linear(384, 384, 128), name)
    compute = macs / (peaks(name)["fp32"] * _cpu_gemm_efficiency(name))
    cycles = compute + _cpu_dispatch_s(name, "gemm") * clock(name)
    assert est.latency_s == pytest.approx(cycles / clock(name), rel=1e-9)
    l1, l2 = levels(name)[:2]
    moved = 786_432 + 196_608
    cost = op_cost(est, OpKind.GEMM)
    assert cost.bytes_read == pytest.approx({l1.name: 786_432, l2.name: 786_432})
    assert cost.bytes_written == pytest.approx({l1.name: 196_608, l2.name: 196_608})
    energy = (
        macs * mac_pj(name, "fp32") * PJ
        + moved * (l1.read_pj + l2.read_pj) * PJ
        + energy_number(name, "static_power_w") * est.latency_s
    )
    assert est.energy_j == pytest.approx(energy, rel=1e-9)


@pytest.mark.parametrize("name", CPU_PRESETS)
def test_cpu_large_add_runs_at_sustained_dram_bandwidth(name):
    """a + b on two 4 Mi-element fp32 tensors: 32 MiB read and 16 MiB written, 50,331,648 B
    that fit no cache (not even half of the largest), so every byte crosses each level and
    DRAM at its sustained bandwidth (peak x efficiency) sets the time, plus one dispatch:

    - cpu_x86_avx2: 50,331,648 / (20 GB/s x 0.8) = 3,145.73 us + 2 us.
    - cpu_arm_a76: 50,331,648 / (17.068 GB/s x 0.65) = 4,536.75 us + 5 us.
    - cpu_arm_a76_xnnpack: 50,331,648 / (34.128 GB/s x 0.65) = 2,268.91 us + 5 us.
    - cpu_x86_avx512_vnni: 50,331,648 / (20.48 GB/s x 0.8) = 3,072.00 us + 2 us.

    The 4,194,304 adds at 32 or 128 per cycle and the faster levels take a fraction of that.
    Energy: adds x vector_op_pj + 50,331,648 B x the pJ/B of every level + static x latency."""
    x = torch.zeros(1, 4 << 20)
    est = hwsim.estimate(_add(x), name)
    moved = 3 * x.numel() * 4
    mem = levels(name)
    latency = moved / mem[-1].bytes_per_s + _cpu_dispatch_s(name, "pointwise")
    assert est.latency_s == pytest.approx(latency, rel=1e-9)
    energy = (
        x.numel() * energy_number(name, "vector_op_pj") * PJ
        + moved * sum(lvl.read_pj for lvl in mem) * PJ
        + energy_number(name, "static_power_w") * latency
    )
    assert est.energy_j == pytest.approx(energy, rel=1e-9)


# --- GPU presets ---------------------------------------------------------------------------------

GPU_PRESETS = of_class("gpu")


@pytest.mark.parametrize("name", GPU_PRESETS)
def test_gpu_tiny_kernel_costs_its_launch(name):
    """ReLU on 1,024 fp32 values: 8 KiB through L2, a couple of cycles of work. Eager, the host
    launches the kernel (per_op_s: 5 us on A100/H100, 10 us on Orin) and the device's gap
    (kernel_gap_s, 2 us) plus work is shorter, so the launch is the latency. Replayed from a
    CUDA graph (the _trt presets) only the device side is left: the preset's kernel gap +
    8,192 B / L2 bandwidth (A100: 5,120 B/cycle x 1.41 GHz, 1.13 ns; H100: 7 TB/s, 1.17 ns;
    Orin: 1,024 B/cycle x 1.3 GHz, 6.2 ns), and once per inference the preset's
    inference_overhead_s (launching the graph, copies, sync; 0 on the eager presets)."""
    est = hwsim.estimate(hwsim.trace(nn.ReLU(), example_inputs=(torch.zeros(1, 1024),)), name)
    device = float(arch(name, "kernel_gap_s")) + 8192 / levels(name)[0].bytes_per_s
    host = 0.0 if arch(name, "cuda_graph") else per_op_s(name)
    once = float(arch(name, "inference_overhead_s", 0.0))
    assert est.latency_s == pytest.approx(max(host, device) + once, rel=1e-3)
    assert est.total.bound is hwsim.Bound.LAUNCH  # a fixed cost per kernel, either way


@pytest.mark.parametrize("name", GPU_PRESETS)
def test_gpu_large_add_runs_at_sustained_dram_bandwidth(name):
    """a + b on two (16, 1024, 1024) fp16 tensors: 64 MiB read and 32 MiB written through L2
    from DRAM (96 MiB is more than half of any L2), so DRAM at its datasheet bandwidth x
    efficiency sets the time, plus the preset's device gap (kernel_gap_s; the host's launch
    overlaps it) and its once-per-inference inference_overhead_s (0 on the eager presets):

    - A100: 100,663,296 / (2.039 TB/s x 0.85) = 58.08 us + gap + once.
    - H100: 100,663,296 / (3.35 TB/s x 0.85) = 35.35 us + gap + once.
    - Orin: 100,663,296 / (204.8 GB/s x 0.75) = 655.36 us + gap + once.

    Energy: 16,777,216 adds x vector_op_pj + the bytes x (L2 + DRAM pJ/B) + static x latency."""
    x = torch.zeros(16, 1024, 1024, dtype=torch.float16)
    est = hwsim.estimate(_add(x), name)
    moved = 3 * x.numel() * 2
    l2, dram = levels(name)
    once = float(arch(name, "inference_overhead_s", 0.0))
    latency = moved / dram.bytes_per_s + float(arch(name, "kernel_gap_s")) + once
    assert est.latency_s == pytest.approx(latency, rel=1e-9)
    # Memory-bound unless the fixed times outweigh it (the bound rule: launch-bound then).
    fixed = float(arch(name, "kernel_gap_s")) + once
    memory_bound = moved / dram.bytes_per_s > fixed
    assert est.total.bound is (hwsim.Bound.MEMORY if memory_bound else hwsim.Bound.LAUNCH)
    energy = (
        x.numel() * energy_number(name, "vector_op_pj") * PJ
        + moved * (l2.read_pj + dram.read_pj) * PJ
        + energy_number(name, "static_power_w") * latency
    )
    assert est.energy_j == pytest.approx(energy, rel=1e-9)


@cache
def _fp16_gemm(m: int, n: int, k: int) -> hwsim.OpGraph:
    model = nn.Linear(k, n, bias=False).half().eval()
    return hwsim.trace(model, example_inputs=(torch.zeros(m, k, dtype=torch.float16),))


@pytest.mark.parametrize("name", GPU_PRESETS)
def test_gpu_large_gemm_is_not_faster_than_the_tensor_core_main_loop(name):
    """A 4096 x 4096 x 4096 fp16 matmul (68.7 G MACs) cannot beat the tensor cores' fp16 peak
    at the main-loop efficiency the preset assumes (A100: 110,592 MACs/cycle x 0.85 x 1.41
    GHz = 132.5 TMAC/s, 518.5 us), and its 96 MiB of operands cannot arrive faster than DRAM
    delivers them."""
    m = n = k = 4096
    est = hwsim.estimate(_fp16_gemm(m, n, k), name)
    rate = peaks(name)["fp16"] * float(arch(name, "mainloop_efficiency")) * clock(name)
    assert est.latency_s >= m * n * k / rate
    assert est.latency_s >= 3 * 4096 * 4096 * 2 / levels(name)[-1].bytes_per_s


# --- systolic presets ----------------------------------------------------------------------------


def _ws_cycles(m: int, n: int, k: int, rows: int, cols: int) -> int:
    """SCALE-Sim's weight-stationary closed form: ceil(K/R) x ceil(N/C) folds of 2R + C + M - 2
    cycles (load the tile, skew, stream M rows)."""
    return math.ceil(k / rows) * math.ceil(n / cols) * (2 * rows + cols + m - 2)


def _tpu_edge_call_s(input_bytes: float, output_bytes: float) -> float:
    """What one call costs tpu_edge beyond its layer, from its YAML: the fixed invoke, and the
    input, one op's instruction stream and the output over the USB link."""
    link = arch("tpu_edge", "host_link")
    moved = input_bytes + float(link["instruction_bytes_per_op"]) + output_bytes
    return float(link["invoke_s"]) + moved / levels("tpu_edge")[-1].bytes_per_s


def test_tpu_edge_linear_with_weights_in_its_parameter_cache():
    """Linear 256 -> 256 on one row, as int8 (the Edge TPU's only precision): the 64 KiB of
    weights stay in the parameter cache (8 MiB of SRAM less 0.2 MiB reserved less 512 B of
    activations), the activations in SRAM. On the 64 x 64 array: 4 x 4 folds of
    2 x 64 + 64 + 1 - 2 = 191 cycles = 3,056 cycles at 500 MHz = 6.112 us. The call adds
    the invoke (0.27 ms) and 256 B of input, 1,747 B of instructions and 256 B of output over
    the USB link. SRAM traffic: the ifmap (1 x 256) is re-read per column fold (4 x 256 B),
    the weights once (65,536 B), partial sums written per row fold (4 x 256 B): 67,584 B x
    5 pJ, with 65,536 MACs x 0.4 pJ, the link's bytes x 400 pJ and 0.5 W of static."""
    est = hwsim.estimate(_linear(256, 256, 1), "tpu_edge")
    cycles = _ws_cycles(1, 256, 256, int(arch("tpu_edge", "rows")), int(arch("tpu_edge", "cols")))
    assert cycles == 3056
    call_s = _tpu_edge_call_s(256, 256)
    assert est.latency_s == pytest.approx(cycles / clock("tpu_edge") + call_s, rel=1e-9)
    sram, host = levels("tpu_edge")[0], levels("tpu_edge")[-1]
    link = arch("tpu_edge", "host_link")
    inbound = 256 + float(link["instruction_bytes_per_op"])
    energy = (
        256 * 256 * mac_pj("tpu_edge", "int8") * PJ
        + (4 * 256 + 65_536 + 4 * 256) * sram.read_pj * PJ
        + (inbound * host.read_pj + 256 * host.write_pj) * PJ
        + energy_number("tpu_edge", "static_power_w") * est.latency_s
    )
    assert est.energy_j == pytest.approx(energy, rel=1e-9)
    gemm = op_cost(est, OpKind.GEMM)
    assert gemm.bytes_read["host"] == pytest.approx(inbound)  # no weights cross the link
    assert est.graph_cost.layer_details[est.graph.ops[0].id]["weights"] == "cached"


def test_tpu_edge_weights_past_the_parameter_cache_stream_over_usb():
    """Linear 2048 -> 4096 on one row: 8 MiB of int8 weights, more than the parameter cache
    (8 MiB less 0.2 MiB reserved less the activations), so they cross USB 3.0 every call at
    the link's sustained rate (500 MB/s x the YAML's efficiency). The array needs
    32 x 64 folds x 191 = 391,168 cycles, hidden under the transfer, plus the first 64 x 64
    tile, which cannot be prefetched. The call adds the invoke and 2,048 B of input, the
    instructions and 4,096 B of output over the same link: the link, not the 4 TOPS,
    decides."""
    est = hwsim.estimate(_linear(2048, 4096, 1), "tpu_edge")
    host = levels("tpu_edge")[-1]
    per_cycle = host.bytes_per_s / clock("tpu_edge")
    weights = 2048 * 4096
    assert _ws_cycles(1, 4096, 2048, 64, 64) < weights / per_cycle  # the link is the bound
    cycles = weights / per_cycle + 64 * 64 / per_cycle
    expected = cycles / clock("tpu_edge") + _tpu_edge_call_s(2048, 4096)
    assert est.latency_s == pytest.approx(expected, rel=1e-9)
    assert op_cost(est, OpKind.GEMM).bytes_read["host"] == pytest.approx(
        weights + 2048 + float(arch("tpu_edge", "host_link")["instruction_bytes_per_op"])
    )


def test_tpu_v1_reads_weights_from_its_ddr3_weight_memory():
    """Jouppi et al. (ISCA 2017, Sec. 2): TPU v1 weights are staged through the Weight FIFO
    from off-chip DDR3 at 34 GB/s; nothing on chip keeps them between inferences (the Unified
    Buffer holds activations only). Linear 256 -> 256 on 1,024 rows as int8: one fold of the
    256 x 256 array, 2 x 256 + 256 + 1,024 - 2 = 1,790 cycles. The 65,536 B of weights take
    65,536 / (34e9 / 700e6 = 48.57 B/cycle) = 1,349.3 cycles, and the array cannot start
    before its one weight tile is in: 1,790 + 1,349.3 = 3,139.3 cycles = 4.485 us at 700 MHz.
    Energy: 67,108,864 MACs x 0.15 pJ + (262,144 ifmap + 65,536 weight + 262,144 ofmap) B of
    Unified Buffer at 8 pJ + 65,536 B of DDR3 at 250 pJ + 28 W x 4.485 us."""
    est = hwsim.estimate(_linear(256, 256, 1024), "tpu_v1")
    dram = levels("tpu_v1")[-1]
    per_cycle = dram.bytes_per_s / clock("tpu_v1")
    cycles = _ws_cycles(1024, 256, 256, 256, 256) + 65_536 / per_cycle
    assert est.latency_s == pytest.approx(cycles / clock("tpu_v1"), rel=1e-9)
    buffer = levels("tpu_v1")[0]
    energy = (
        1024 * 256 * 256 * mac_pj("tpu_v1", "int8") * PJ
        + (262_144 + 65_536 + 262_144) * buffer.read_pj * PJ
        + 65_536 * dram.read_pj * PJ
        + energy_number("tpu_v1", "static_power_w") * est.latency_s
    )
    assert est.energy_j == pytest.approx(energy, rel=1e-9)


def test_eyeriss_weights_beyond_its_scratchpads_stream_from_dram():
    """Linear 256 -> 256 on one row in 16-bit words (fp32 runs as Eyeriss's 16-bit fixed
    point): 131,072 B of weights, more than the 75,264 B of filter scratchpads, stream from
    DRAM at 0.48 GB/s = 2.4 B/cycle at 200 MHz: 54,613.3 cycles. The 12 x 14 array needs
    ceil(256/12) x ceil(256/14) = 22 x 19 folds of 2 x 12 + 14 + 1 - 2 = 37 cycles = 15,466,
    hidden under the transfer, plus the first 12 x 14 tile of 2-byte weights, 336 B / 2.4 =
    140 cycles: 54,753.3 cycles = 273.77 us."""
    est = hwsim.estimate(_linear(256, 256, 1), "eyeriss")
    per_cycle = levels("eyeriss")[-1].bytes_per_s / clock("eyeriss")
    weights = 256 * 256 * 2
    assert _ws_cycles(1, 256, 256, 12, 14) == 15_466
    cycles = weights / per_cycle + 12 * 14 * 2 / per_cycle
    assert est.latency_s == pytest.approx(cycles / clock("eyeriss"), rel=1e-9)
    assert op_cost(est, OpKind.GEMM).bytes_read["dram"] == weights


# --- FPGA presets --------------------------------------------------------------------------------

STREAMING_PRESETS = of_class("fpga", style="streaming")


@pytest.mark.parametrize("name", STREAMING_PRESETS)
def test_fpga_streaming_linear_follows_finn_cycle_estimate(name):
    """Linear 1024 -> 256 at w8a8 folded PE 4 x SIMD 32: FINN's MVAU estimate (MH/PE) x
    (MW/SIMD) = 64 x 32 = 2,048 cycles per frame. The 1,024 input bytes arrive by DMA in
    1,024 / port width + burst latency (PYNQ-Z1: 128 + 20; ZCU104: 64 + 20; U250: 16 + 40
    cycles) and 256 output bytes leave the same way, both under 2,048, so the layer sets the
    frame rate: 100 MHz / 2,048 = 48,828 fps on the PYNQ-Z1. A frame's latency is the DMA in,
    the layer, and the DMA out (PYNQ-Z1: 148 + 2,048 + 52 = 2,248 cycles = 22.48 us). The 128
    int8 lanes take 128 DSP48E1 on the PYNQ-Z1 (one MAC each) and 64 DSP48E2 elsewhere (two,
    WP486). Energy per frame: 262,144 MACs x int8 mac_pj + 262,144 weight bytes read from
    BRAM + static power over the 2,048-cycle interval + 1,024 input bytes from DDR."""
    graph = _linear(1024, 256, 1)
    est = hwsim.estimate(graph, name, quant="w8a8", folding={"MVAU_hls_0": {"PE": 4, "SIMD": 32}})
    f = clock(name)
    port, burst = float(arch(name, "dma_bytes_per_cycle")), float(arch(name, "dma_latency_cycles"))
    dma_in, dma_out = 1024 / port + burst, 256 / port + burst
    assert max(dma_in, dma_out) < 2048
    assert est.throughput_fps == pytest.approx(f / 2048, rel=1e-12)
    assert est.latency_s == pytest.approx((dma_in + 2048 + dma_out) / f, rel=1e-12)
    (layer,) = [layer for layer in est.layers() if layer["op"] == "gemm"]
    assert layer["resources"]["DSP"] == 128 / int(arch(name, "dsp_packing_int8"))
    assert est.to_dict()["total"]["fits"] is True
    bram, ddr = levels(name)[0], levels(name)[-1]
    energy = (
        262_144 * mac_pj(name, "int8") * PJ
        + 262_144 * bram.read_pj * PJ
        + energy_number(name, "static_power_w") * 2048 / f
        + 1024 * ddr.read_pj * PJ
    )
    assert est.energy_j == pytest.approx(energy, rel=1e-9)


def test_fpga_streaming_fp32_layer_costs_fp32_mac_energy():
    """The ZCU104 preset lists fp32 (576 MACs/cycle at 25 pJ, three DSP48E2 per MAC). Linear
    256 -> 64 left in fp32 and folded PE 4 x SIMD 32: (64/4) x (256/32) = 128 cycles per
    frame, above the DMA's 256/16 + 20 = 36 cycles in and 64/16 + 20 = 24 out. Energy per
    frame: 16,384 MACs x 25 pJ = 409.6 nJ, the 65,536 B of fp32 weights read from on-chip RAM
    at 2 pJ/B = 131.1 nJ, 1.5 W x 128 cycles / 200 MHz = 960 nJ of static power, and the 256
    8-bit input pixels from DDR at 120 pJ/B = 30.7 nJ: 1,531.4 nJ."""
    name = "fpga_zcu104"
    est = hwsim.estimate(_linear(256, 64, 1), name, folding={"MVAU_hls_0": {"PE": 4, "SIMD": 32}})
    f = clock(name)
    assert est.throughput_fps == pytest.approx(f / 128, rel=1e-12)
    bram, ddr = levels(name)[0], levels(name)[-1]
    energy = (
        256 * 64 * mac_pj(name, "fp32") * PJ
        + 256 * 64 * 4 * bram.read_pj * PJ
        + energy_number(name, "static_power_w") * 128 / f
        + 256 * ddr.read_pj * PJ
    )
    assert est.energy_j == pytest.approx(energy, rel=1e-9)


def test_dpu_conv_by_hand():
    """Conv 32 -> 64, 3x3, padding 1, on 28 x 28, on a B4096 DPU core (PP 8 x ICP 16 x OCP 16,
    PG338) at 300 MHz: 28 rows x ceil(28/8) = 4 pixel tiles x ceil(32/16) = 2 input x
    ceil(64/16) = 4 output channel tiles x 9 taps = 8,064 cycles for 14,450,688 MACs (7,056 at
    full lanes: the last pixel tile of each row is half empty). The int8 input (25,088 B),
    weights (18,432 B) and output (50,176 B) cross DDR at 19.2 GB/s x 0.7 = 44.8 B/cycle:
    2,091.4 cycles, under the compute. With the 5 us layer setup (1,500 cycles) the layer
    takes 9,564 cycles, and the frame adds the host's 3.2e-8 s per input pixel x 784 =
    25.088 us (7,526.4 cycles): 17,090.4 cycles = 56.968 us, 17,554 fps on one core.
    Energy: 14,450,688 MACs x 2.5 pJ + 93,696 B x (2 pJ bank + 120 pJ DDR) + 1.5 W x 56.968 us."""
    name = "fpga_zcu104_dpu"
    conv = nn.Conv2d(32, 64, 3, padding=1, bias=False).eval()
    est = hwsim.estimate(hwsim.trace(conv, example_inputs=(torch.zeros(1, 32, 28, 28),)), name)
    pp, icp, ocp = (
        int(arch(name, k))
        for k in ("pixel_parallel", "input_channel_parallel", "output_channel_parallel")
    )
    compute = 28 * math.ceil(28 / pp) * math.ceil(32 / icp) * math.ceil(64 / ocp) * 9
    assert compute == 8064
    moved = 32 * 28 * 28 + 64 * 32 * 9 + 64 * 28 * 28
    bank, ddr = levels(name)
    f = clock(name)
    layer = max(compute, moved / (ddr.bytes_per_s / f)) + per_op_s(name) * f
    host_s = float(arch(name, "host_s_per_input_pixel")) * 28 * 28
    latency = layer / f + host_s
    assert est.latency_s == pytest.approx(latency, rel=1e-9)
    assert est.throughput_fps == pytest.approx(1 / latency, rel=1e-9)
    energy = (
        64 * 28 * 28 * 32 * 9 * mac_pj(name, "int8") * PJ
        + moved * (bank.read_pj + ddr.read_pj) * PJ
        + energy_number(name, "static_power_w") * latency
    )
    assert est.energy_j == pytest.approx(energy, rel=1e-9)

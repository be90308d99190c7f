"""Cost models and the Estimate, checked against hand calculations on small profiles."""

from __future__ import annotations

import math
import textwrap

import pytest
import torch
from torch import nn

import hwsim
from hwsim.cost import Bound, OpCost
from hwsim.costmodels.gemm_view import GemmShape
from hwsim.costmodels.gpu_tiles import SmBudget, Tile, plan_gemm, tiled_kernel
from hwsim.ops import OpKind

SYSTOLIC = """
name: tiny_array
hw_class: systolic
clock_hz: 1.0e9
peak_macs_per_cycle: {int8: 4096}
vector_ops_per_cycle: 64
default_precision: int8
memory:
  - {name: sram, capacity_bytes: 1.0e6, bandwidth_bytes_per_cycle: 256,
     read_energy_pj_per_byte: 1.0, write_energy_pj_per_byte: 2.0}
  - {name: dram, capacity_bytes: null, bandwidth_bytes_per_cycle: 8, read_energy_pj_per_byte: 100.0}
energy: {mac_pj: {int8: 0.25}, vector_op_pj: 0.5, static_power_w: 1.0}
arch: {rows: 64, cols: 64, dataflow: ws}
"""

CPU = """
name: tiny_cpu
hw_class: cpu
clock_hz: 2.0e9
peak_macs_per_cycle: {fp32: 32}
vector_ops_per_cycle: 16
default_precision: fp32
memory:
  - {name: l1, capacity_bytes: 32768, bandwidth_bytes_per_cycle: 64, read_energy_pj_per_byte: 0.5}
  - {name: dram, capacity_bytes: null, bandwidth_bytes_per_s: 16.0e9, read_energy_pj_per_byte: 20.0}
energy: {mac_pj: {fp32: 4.6}, vector_op_pj: 1.0, static_power_w: 0.0}
overhead: {per_op_s: 1.0e-6}
arch: {cores: 2, vector_bits: 256}
"""


@pytest.fixture
def profile(tmp_path):
    def write(text: str, name: str) -> hwsim.Profile:
        path = tmp_path / f"{name}.yaml"
        path.write_text(textwrap.dedent(text))
        return hwsim.load_profile(path)

    return write


def _linear_graph(k: int, n: int, batch: int = 1) -> hwsim.OpGraph:
    return hwsim.trace(nn.Linear(k, n, bias=False), example_inputs=(torch.zeros(batch, k),))


def test_systolic_folds_fill_and_drain(profile):
    """A 1x128 @ 128x128 GEMM on a 64x64 weight-stationary array (SCALE-Sim's analytical
    model): ceil(128/64) x ceil(128/64) = 4 folds of 2*64 + 64 + 1 - 2 = 191 cycles = 764.
    The fp32 model runs as int8 (the array's only precision); its 16 KiB of weights stay in the
    filter SRAM, so nothing moves off chip and the op is compute bound."""
    est = hwsim.estimate(_linear_graph(128, 128), profile(SYSTOLIC, "tiny_array"))
    cost = next(c for o, c in est.costs if o.kind is OpKind.GEMM)
    assert cost.compute_cycles == 764
    assert cost.bound is Bound.COMPUTE
    assert cost.precision == "int8"
    assert any("run as int8" in n for n in cost.notes)
    assert cost.utilization == pytest.approx((128 * 128 / 4096) / 764)
    # energy: 16,384 MACs x 0.25 pJ; static 1 W x 764 ns. SRAM accesses follow SCALE-Sim's WS
    # demand matrices: the ifmap (M x K = 1 x 128) is re-read once per column fold (2 x 128 B),
    # the weights once (16,384 B), and partial sums are written once per row fold (2 x 128 B),
    # at the level's 1 pJ/B read and 2 pJ/B write.
    assert cost.energy_j["compute"] == pytest.approx(16_384 * 0.25e-12)
    assert cost.energy_j["ifmap_sram"] == pytest.approx(2 * 128 * 1e-12)
    assert cost.energy_j["filter_sram"] == pytest.approx(16_384 * 1e-12)
    assert cost.energy_j["ofmap_sram"] == pytest.approx(2 * 128 * 2e-12)
    assert cost.energy_j["static"] == pytest.approx(764e-9)
    assert est.weight_home == "sram"


def test_systolic_depthwise_is_one_gemm_per_group(profile):
    """Depthwise 3x3 over 32 channels of 16x16: per group K=9, N=1, M=256 -> 1 fold of
    2*64 + 64 + 256 - 2 = 446 cycles, times 32 groups = 14,272; a dense conv of the same MACs
    would need a fraction of that."""
    conv = nn.Conv2d(32, 32, 3, padding=1, groups=32, bias=False)
    graph = hwsim.trace(conv, example_inputs=(torch.zeros(1, 32, 16, 16),))
    est = hwsim.estimate(graph, profile(SYSTOLIC, "tiny_array"))
    cost = est.total
    assert cost.compute_cycles == 32 * 446
    assert cost.utilization < 0.01


def test_weights_that_do_not_fit_stream_from_dram(profile):
    """1024x1024 int8 weights = 1 MiB > 1 MB of SRAM: they live in DRAM and every inference
    streams them at 8 B/cycle -> 131,072 memory cycles, which bounds the op."""
    est = hwsim.estimate(_linear_graph(1024, 1024), profile(SYSTOLIC, "tiny_array"))
    assert est.weight_home == "dram"
    (_, cost) = next((o, c) for o, c in est.costs if o.kind is OpKind.GEMM)
    assert cost.bound is Bound.MEMORY
    assert cost.bytes_read["dram"] == 1024 * 1024
    assert cost.memory_cycles == pytest.approx(1024 * 1024 / 8)


def test_cpu_pointwise_is_memory_bound_with_dispatch(profile):
    """Adding two 1M-element fp32 tensors moves 8 MB in and 4 MB out of DRAM at 16 GB/s
    (8 B/cycle at 2 GHz): 1.5M cycles, plus 1 us (2,000 cycles) of dispatch."""

    class Add(nn.Module):
        def forward(self, a, b):
            return a + b

    x = torch.zeros(1, 1 << 20)
    graph = hwsim.trace(Add(), example_inputs=(x, x))
    est = hwsim.estimate(graph, profile(CPU, "tiny_cpu"))
    cost = est.total
    assert cost.memory_cycles == pytest.approx(12 * (1 << 20) / 8)
    assert cost.overhead_cycles == pytest.approx(2000)
    assert cost.cycles == pytest.approx(12 * (1 << 20) / 8 + 2000)
    assert cost.bound is Bound.MEMORY
    assert est.latency_s == pytest.approx(cost.cycles / 2e9)


def test_cpu_lane_padding(profile):
    """N=12 output columns on 8-lane fp32 vectors use 2 vectors: 12/16 of the lanes work."""
    est = hwsim.estimate(_linear_graph(256, 12, batch=64), profile(CPU, "tiny_cpu"))
    (_, cost) = next((o, c) for o, c in est.costs if o.kind is OpKind.GEMM)
    assert cost.compute_cycles == pytest.approx(64 * 256 * 12 / 32 / (12 / 16))


def test_gpu_wave_quantization():
    """One 64x64 tile (K=1024) occupies one SM out of 108: the whole GPU waits for one SM,
    so time = 64*64*1024 / (peak/108) and utilization is 1/108."""
    peak = 110_592.0
    sm = SmBudget(sms=108, macs_per_cycle=peak / 108, smem_bytes=167936, register_bytes=262144)
    small = GemmShape(m=64, n=64, k=1024)
    cycles = plan_gemm(small, sm, 2, split_k=False).cycles
    assert cycles == pytest.approx(64 * 64 * 1024 / (peak / 108))
    assert small.macs / peak / cycles == pytest.approx(1 / 108)
    # 216 tiles of 128x128 fill exactly one wave (2 resident per SM); 217 need a second one.
    tile = Tile(128, 128, 32)
    full = tiled_kernel(GemmShape(m=128 * 216, n=128, k=1024), tile, 1, sm, 2)
    over = tiled_kernel(GemmShape(m=128 * 217, n=128, k=1024), tile, 1, sm, 2)
    assert over.cycles > full.cycles * 1.2


def test_unsupported_op_is_listed_not_counted(profile):
    class Odd(nn.Module):
        def forward(self, x):
            return torch.erfinv(x) + 1

    graph = hwsim.trace(Odd(), example_inputs=(torch.zeros(8, 8),))
    est = hwsim.estimate(graph, profile(CPU, "tiny_cpu"))
    assert not est.complete
    assert [u.target for u in est.unsupported] == ["aten.erfinv"]
    row = est.table.set_index("target").loc["aten.erfinv"]
    assert row["bound"] == "unsupported"
    assert math.isnan(row["cycles"])
    assert est.to_dict()["total"]["complete"] is False
    assert est.to_dict()["unsupported"][0]["target"] == "aten.erfinv"


def test_register_cost_overrides_a_kind(profile):
    from hwsim.costmodels import registry

    def flat(op, ctx):
        return OpCost(
            cycles=123.0, compute_cycles=123.0, clock_hz=ctx.profile.clock_hz, bound=Bound.COMPUTE
        )

    saved = dict(registry.cost_table("cpu"))
    try:
        hwsim.register_cost("cpu", OpKind.GEMM, flat)
        est = hwsim.estimate(_linear_graph(16, 16), profile(CPU, "tiny_cpu"))
        assert est.total.cycles == 123.0
    finally:
        registry.cost_table("cpu").clear()
        registry.cost_table("cpu").update(saved)


def test_opcost_adds_up():
    a = OpCost(
        cycles=10,
        compute_cycles=4,
        clock_hz=1e9,
        bound=Bound.MEMORY,
        ideal_cycles=2,
        bytes_read={"dram": 5.0},
        energy_j={"compute": 1.0},
    )
    b = OpCost(
        cycles=30,
        compute_cycles=30,
        clock_hz=1e9,
        bound=Bound.COMPUTE,
        ideal_cycles=15,
        bytes_read={"dram": 1.0, "sram": 2.0},
        energy_j={"compute": 2.0, "static": 1.0},
    )
    total = a + b
    assert total.cycles == 40 and total.stall_cycles == 6
    assert total.bound is Bound.COMPUTE  # the op with most cycles dominates
    assert total.bytes_read == {"dram": 6.0, "sram": 2.0}
    assert total.total_energy_j == 4.0
    assert total.utilization == pytest.approx(17 / 40)


def test_trace_once_estimate_many(profile):
    graph = _linear_graph(64, 64)
    cpu = hwsim.estimate(graph, profile(CPU, "tiny_cpu"))
    array = hwsim.estimate(graph, profile(SYSTOLIC, "tiny_array"))
    assert cpu.graph is array.graph
    assert cpu.profile.hw_class == "cpu" and array.profile.hw_class == "systolic"


def test_forced_precision_must_be_supported(profile):
    with pytest.raises(hwsim.ProfileError, match="precision 'fp16' is not supported"):
        hwsim.estimate(_linear_graph(8, 8), profile(CPU, "tiny_cpu"), precision="fp16")


def test_json_contract_fields(profile):
    est = hwsim.estimate(_linear_graph(32, 16), profile(CPU, "tiny_cpu"))
    d = est.to_dict()
    for key in ("latency_s", "cycles", "energy_j", "macs", "weight_bytes"):
        assert key in d["total"]
    layer = d["layers"][0]
    for key in (
        "name",
        "op",
        "macs",
        "cycles",
        "compute_cycles",
        "stall_cycles",
        "latency_s",
        "energy_j",
        "bound",
        "utilization",
        "weight_density",
    ):
        assert key in layer
    assert d["total"]["macs"] == 32 * 16
    assert d["total"]["weight_bytes"] == 32 * 16 * 4  # no bias
    assert d["unsupported"] == []

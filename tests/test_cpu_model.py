"""The calibrated CPU model: calibration output, efficiency tables, threads, eager batch-norm,
sparse kernels, and the recorded validation against torch on the test machine."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn

import hwsim
from hwsim.calibrate import HostFacts, cold_call, measure_kernels_on, write_host_profile
from hwsim.costmodels.cpu import efficiency, is_layer_module, kernel_cycles
from hwsim.costmodels.gemm_view import GemmShape
from hwsim.kernels import timing
from hwsim.ops import OpKind
from hwsim.workloads import workload_names

RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results"

CPU = """
name: tiny_calibrated
hw_class: cpu
clock_hz: 1.0e9
peak_macs_per_cycle: {fp32: 32, int8: 64}
vector_ops_per_cycle: 32
default_precision: fp32
memory:
  - {name: l1, capacity_bytes: 65536, bandwidth_bytes_per_cycle: 64, read_energy_pj_per_byte: 1}
  - {name: dram, capacity_bytes: null, bandwidth_bytes_per_s: 8.0e9, read_energy_pj_per_byte: 9}
energy: {mac_pj: {fp32: 1, int8: 0.5}, vector_op_pj: 1, static_power_w: 0}
overhead: {per_op_s: 1.0e-6}
sparsity: {patterns: [unstructured], compressed_weights: true}
fuse_pointwise: false
arch:
  cores: 2
  vector_bits: 256
  fold_batchnorm: false
  efficiency:
    - threads: 1
      dispatch_s: {conv: 1.0e-5, norm: 2.0e-5, pointwise: 1.0e-6}
      stream_bytes_per_s: {l1: 3.2e10, dram: 4.0e9}
      gemm: [[64, 64, 64, 0.5], [1024, 1024, 1024, 0.8]]
      conv: [[256, 16, 144, 9, 0.25], [4096, 256, 2304, 9, 0.9]]
      depthwise: [[16, 256, 9, 0.1]]
    - threads: 2
      dispatch_s: {conv: 1.0e-5, norm: 2.0e-5, pointwise: 1.0e-6}
      stream_bytes_per_s: {l1: 6.4e10, dram: 8.0e9}
      gemm: [[64, 64, 64, 0.5]]
      conv: [[256, 16, 144, 9, 0.25]]
      depthwise: [[16, 256, 9, 0.1]]
  kernels:
    dense_fp32: 0.2
    int8: 0.1
    csr: [[0.1, 10.0], [0.5, 1.5]]
"""


@pytest.fixture
def calibrated(tmp_path) -> hwsim.Profile:
    path = tmp_path / "tiny_calibrated.yaml"
    path.write_text(textwrap.dedent(CPU))
    return hwsim.load_profile(path)


def _conv_bn_graph() -> hwsim.OpGraph:
    model = nn.Sequential(nn.Conv2d(16, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16)).eval()
    return hwsim.trace(model, example_inputs=(torch.zeros(1, 16, 16, 16),))


def test_efficiency_is_exact_on_a_measured_point_and_between_neighbours(calibrated):
    """(256, 256, 256) is (8, 8, 8) in log2, 12 squared log2 steps from both measured points
    (6, 6, 6) and (10, 10, 10): equal inverse-square weights, so (0.5 + 0.8) / 2 = 0.65."""
    assert efficiency(calibrated, 1, "gemm", 64, 64, 64) == 0.5
    assert efficiency(calibrated, 1, "gemm", 256, 256, 256) == pytest.approx(0.65)


def test_conv_on_one_thread_with_unfolded_batchnorm(calibrated):
    """Conv 16->16 3x3 on 16x16: m=256, n=16, k=144, the measured point (eff 0.25). One thread
    has half the 32 MACs/cycle: 589,824 MACs / (16 x 0.25) = 147,456 cycles. Eager batch-norm
    reads and writes the 16 KiB output once more at the 1-thread l1 triad (32 B/cycle):
    32,768 / 32 = 1,024 cycles, and dispatches a conv (10 us) and a norm (20 us)."""
    est = hwsim.estimate(_conv_bn_graph(), calibrated, threads=1)
    (_, cost) = next((o, c) for o, c in est.costs if o.kind is OpKind.CONV)
    assert cost.compute_cycles == pytest.approx(589_824 / (16 * 0.25))
    assert cost.overhead_cycles == pytest.approx(10_000 + 20_000)
    assert cost.cycles == pytest.approx(147_456 + 1_024 + 30_000)
    assert "batch-norm runs unfolded (eager)" in cost.notes


class _ConvAdd(nn.Module):
    """A conv module, then a residual add and a ReLU6 module: the add is a function call in
    this module's ``forward``, the conv and the ReLU6 are layer-module calls."""

    def __init__(self) -> None:
        super().__init__()
        self.conv, self.act = nn.Conv2d(16, 16, 3, padding=1, bias=False), nn.ReLU6()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv(x) + x)


def test_ops_from_layer_modules_pay_the_module_call(calibrated, tmp_path):
    """With ``module_dispatch_s`` {conv: 25 us, pointwise: 4 us} beside the direct ``dispatch_s``
    {conv: 10 us, pointwise: 1 us}, at 1 GHz: the ``nn.Conv2d`` op pays 25,000 cycles, the
    ``nn.ReLU6`` 4,000, and the ``+`` written in ``forward`` (module type ``_ConvAdd``, not a
    torch.nn layer) the direct 1,000."""
    text = textwrap.dedent(CPU).replace(
        "      stream_bytes_per_s: {l1: 3.2e10, dram: 4.0e9}",
        "      module_dispatch_s: {conv: 2.5e-5, pointwise: 4.0e-6}\n"
        "      stream_bytes_per_s: {l1: 3.2e10, dram: 4.0e9}",
    )
    path = tmp_path / "modules.yaml"
    path.write_text(text)
    profile = hwsim.load_profile(path)
    graph = hwsim.trace(_ConvAdd().eval(), example_inputs=(torch.zeros(1, 16, 16, 16),))
    est = hwsim.estimate(graph, profile, threads=1)
    overhead = {o.module_type: c.overhead_cycles for o, c in est.costs if c is not None}
    assert overhead == pytest.approx({"Conv2d": 25_000, "ReLU6": 4_000, "_ConvAdd": 1_000})
    assert is_layer_module("BatchNorm2d") and not is_layer_module("Sequential")
    assert not is_layer_module("") and not is_layer_module("BertSelfAttention")


def test_cold_call_rotates_operands_through_twice_the_last_level_cache():
    """A 16 MiB last-level cache: twice that is 8,388,608 fp32 values; a 64 x 64 x 64 input
    holds 262,144, so 32 operand sets at successive offsets, each seen again only 32 calls
    later (64 calls: 32 distinct inputs, twice each)."""
    facts = HostFacts("test CPU", 1, 1e9, frozenset(), {3: (16 << 20, 1)})
    seen: list[int] = []

    def record(x: torch.Tensor) -> torch.Tensor:
        seen.append(x.data_ptr())
        return x + 1

    call = cold_call(facts, record, (64, 64, 64))
    seen.clear()  # the priming calls
    for _ in range(64):
        call()
    assert len(set(seen)) == 32 and seen[:32] == seen[32:]
    assert seen[1] - seen[0] == 262_144 * 4


def test_two_threads_halve_compute_at_equal_efficiency(calibrated):
    """Both thread counts measured the conv point at 0.25, so 2 threads of the 32 MACs/cycle
    (all of it) take half the 147,456 cycles of 1 thread (16 MACs/cycle): 73,728."""
    one = hwsim.estimate(_conv_bn_graph(), calibrated, threads=1)
    two = hwsim.estimate(_conv_bn_graph(), calibrated, threads=2)
    assert one.total.compute_cycles == pytest.approx(147_456)
    assert two.total.compute_cycles == pytest.approx(73_728)


def test_sparse_weights_use_the_kernel_curve_when_it_is_faster(calibrated):
    """A linear 500 -> 512 at batch 64 keeping every tenth input of each row: exactly 10% of
    the weights stored. 64 x 512 x 500 = 16,384,000 MACs. The CSR kernel's measured speedup
    at 0.1 stored is 10x over the dense kernel, which runs single-threaded at 0.2 of one
    core's 16 MACs/cycle: 16,384,000 / (16 x 0.2) / 10 = 512,000 cycles. The dense op on the
    profile's 2 threads (all 32 MACs/cycle, measured at 0.5 there) takes
    16,384,000 / (32 x 0.5) = 1,024,000: the sparse kernel wins, at half the time."""
    linear = nn.Linear(500, 512, bias=False)
    with torch.no_grad():
        mask = torch.zeros_like(linear.weight)
        mask[:, ::10] = 1
        linear.weight.copy_(torch.randn(512, 500) * mask)
    graph = hwsim.trace(linear, example_inputs=(torch.zeros(64, 500),))
    est = hwsim.estimate(graph, calibrated)
    (op, cost) = next((o, c) for o, c in est.costs if o.kind is OpKind.GEMM)
    assert op.weight_stats.density == 0.1
    assert cost.compute_cycles == pytest.approx(512_000)
    assert any("sparse csr" in n for n in cost.notes)
    unpruned = hwsim.trace(nn.Linear(500, 512, bias=False), example_inputs=(torch.zeros(64, 500),))
    (dense,) = [c for o, c in hwsim.estimate(unpruned, calibrated).costs if o.kind is OpKind.GEMM]
    assert dense is not None and dense.compute_cycles == pytest.approx(1_024_000)


def test_one_stray_zero_keeps_the_dense_op(tmp_path):
    """A linear 500 -> 512 at batch 1 with one exact zero among its 256,000 weights (what a
    random initialization can produce): density 1 - 1/256,000. The profile measured the
    eager GEMV at this shape at 0.01 efficiency: 256,000 / (32 x 0.01) = 800,000 cycles on
    2 threads. The CSR curve was measured up to 0.5 stored (1.5x there); this op stores
    nearly all, outside that range, where the curve's extrapolation (time growing with what it
    stores: 1.5 x 0.5 / (1 - 1/256,000) = 0.75x of hwsim's dense kernel) would still price the
    kernel, single-threaded at 0.2 of one core's 16 MACs/cycle, at 256,000 / 3.2 / 0.75 =
    106,667 cycles, below the eager op. A stray zero is not a pruned
    layer: the op prices exactly as the unpruned one, about 800,000 cycles (within 1%: the
    efficiency table's lookup), with no sparse kernel."""
    gemv = "gemm: [[1, 500, 512, 0.01], [64, 64, 64, 0.5]"
    text = textwrap.dedent(CPU).replace("gemm: [[64, 64, 64, 0.5]", gemv)
    assert text.count(gemv) == 2
    path = tmp_path / "gemv.yaml"
    path.write_text(text)
    profile = hwsim.load_profile(path)
    torch.manual_seed(0)
    linear = nn.Linear(500, 512, bias=False)
    unpruned = hwsim.trace(linear, example_inputs=(torch.zeros(1, 500),))
    with torch.no_grad():
        linear.weight[3, 7] = 0.0
    stray = hwsim.trace(linear, example_inputs=(torch.zeros(1, 500),))
    est = hwsim.estimate(stray, profile)
    (op, cost) = next((o, c) for o, c in est.costs if o.kind is OpKind.GEMM)
    (dense,) = [c for o, c in hwsim.estimate(unpruned, profile).costs if o.kind is OpKind.GEMM]
    assert op.weight_stats.density == pytest.approx(1 - 1 / 256_000)
    assert not any("sparse" in n for n in cost.notes)
    assert cost.compute_cycles == dense.compute_cycles == pytest.approx(800_000, rel=0.01)


def test_calibrate_writes_a_valid_profile_on_a_tiny_budget(tmp_path):
    """The quick grid at 1 thread: every ninth GEMM point (106 points of the grid under the
    MAC cap: 12 kept), the eager loops and triad, and the kernels on one 32 x 64 x 64 shape
    with densities 0.7, 0.2, 0.03 for each sparse format; a profile that prices a conv."""
    path = write_host_profile(tmp_path / "host.yaml", budget_s=0.5, threads=[1], quick=True)
    profile = hwsim.load_profile(path)
    assert profile.hw_class == "cpu" and profile.name == "host"
    entry = profile.arch.efficiency[0]
    assert entry.threads == 1
    assert entry.dispatch_s is not None and entry.module_dispatch_s is not None
    assert isinstance(entry.conv, tuple) and isinstance(entry.depthwise, tuple)
    assert isinstance(entry.gemm, tuple) and len(entry.gemm) == 12
    assert all(row[-1] > 0 for row in entry.gemm)
    assert entry.stream_bytes_per_s is not None
    assert {"eager_norm_large", "l1", "dram"} <= set(entry.stream_bytes_per_s)
    (kernels,) = profile.arch.kernels["by_shape"]
    assert kernels["shape"] == (32, 64, 64) and kernels["2:4"][0][0] == 0.5
    assert [round(d, 1) for d, _ in kernels["csr"]] == [0.7, 0.2, 0.0]
    assert "measured by hwsim calibrate on" in path.read_text()
    est = hwsim.estimate(_conv_bn_graph(), profile)
    assert est.complete and est.latency_s > 0


def test_kernel_calibration_derives_int8_from_its_speedup(monkeypatch):
    """Fake timings on the early calibration shape, 32 x 288 x 3136 = 28,901,376 MACs, on a
    2 GHz AVX2 core (2 FMA pipes x 8 lanes = 16 fp32 MACs/cycle, 32 int8 without a dot
    product): dense 10 ms is 28,901,376 / 0.01 / (16 x 2e9) = 0.0903 of peak; int8 at 1.5x the
    dense kernel is 28,901,376 / (0.01 / 1.5) / (32 x 2e9) = 0.0677; each sparse case is kept
    as [stored fraction, speedup] in density order."""
    speedups = {"dense": 1.0, "int8": 1.5, "int4": 0.8, "2:4": 1.2, "4:8": 1.3}

    def fake_time_cases(cases, columns, budget_s):
        return [
            timing.CaseTiming(c, 0.01 / speedups.get(c.fmt, 2.0), speedups.get(c.fmt, 2.0))
            for c in cases
        ]

    monkeypatch.setattr(timing, "time_cases", fake_time_cases)
    facts = HostFacts("test CPU", 2, 2e9, frozenset({"avx2", "fma"}), {1: (32768, 1)})
    out = measure_kernels_on(facts, (32, 288, 3136), 1.0, quick=False)
    assert out["shape"] == [32, 288, 3136]
    assert out["dense_fp32"] == 0.0903 and out["int8"] == 0.0677
    assert out["int4"] == round(28_901_376 / (0.01 / 0.8) / (32 * 2e9), 4)
    assert [d for d, _ in out["csr"]] == sorted((d for d, _ in out["csr"]), reverse=True)
    assert len(out["csr"]) == 5 and all(s == 2.0 for _, s in out["bsr4x4"])
    assert out["2:4"] == [[0.5, 1.2]] and out["4:8"] == [[0.5, 1.3]]


_ALLOCATION_CYCLES = """
import resource, sys
import numpy as np
from hwsim.calibrate import settle_allocator
if sys.argv[1] == "settle":
    settle_allocator()
def cycle():
    a = np.empty(800_000); a.fill(1.0)
    b = np.empty(800_000); b.fill(1.0)
cycle()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    cycle()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="glibc malloc behaviour")
def test_settled_allocator_reuses_pages_for_activation_sized_blocks():
    """Two 6.4 MB arrays (1,563 pages of 4 KiB each) written and freed per cycle, ten cycles,
    in a fresh process. Unsettled, glibc maps at least one of them afresh each cycle (the
    first free raised the mmap threshold only to its own size): over 10 x 1,563 = 15,630
    faults (up to 31,260). After ``settle_allocator`` both come from reused heap pages: none."""

    def faults(mode: str) -> int:
        done = subprocess.run(
            [sys.executable, "-c", _ALLOCATION_CYCLES, mode],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "NUMPY_MADVISE_HUGEPAGE": "0"},  # count 4 KiB pages
        )
        return int(done.stdout.split()[-1])

    assert faults("fresh") > 10 * 1563
    assert faults("settle") < 100


def test_host_profile_is_found_by_name(tmp_path, monkeypatch):
    """``$HWSIM_HOST_PROFILE`` names the file ``--hw host`` loads."""
    target = tmp_path / "cache" / "host.yaml"
    write_host_profile(target, budget_s=0.3, threads=[1], quick=True)
    monkeypatch.setenv("HWSIM_HOST_PROFILE", str(target))
    assert hwsim.load_profile("host").source == str(target)


def _recorded() -> list[dict[str, str]]:
    with (RESULTS / "cpu_validation.csv").open() as f:
        return list(csv.DictReader(f))


def test_recorded_validation_covers_at_least_twelve_models():
    """benchmarks/cpu_validation.py's recorded run has every model at 1 and 2 threads. The
    accuracy targets are reported in docs/cpu.md, not asserted: the recorded run was taken on
    a shared, loaded machine."""
    rows = _recorded()
    assert len(rows) >= 12
    assert all(float(r["measured_1t_ms"]) > 0 and float(r["predicted_1t_ms"]) > 0 for r in rows)


def test_recorded_models_ran_settled_on_a_quiet_machine():
    """Each model was timed twice per thread count, in two passes over all models, each time
    in its own process after ``settle_allocator``: under 256 page faults (1 MiB) per timed
    forward, where unsettled variants fault in 5.7-28.3 MB (1,390-6,910 pages); the recorded
    latency is the median (for two passes, the mean) of the passes. The 1-minute load before
    each child stayed under 1.5 on the 2 vCPUs (the validation's own 2-thread runs lift it to
    about 1.2)."""
    rows = _recorded()
    for t in ("1t", "2t"):
        for r in rows:
            passes = [float(r[f"measured_{t}_pass{p}_ms"]) for p in (1, 2)]
            assert float(r[f"measured_{t}_ms"]) == pytest.approx(sum(passes) / 2)
            assert all(float(r[f"faults_per_run_{t}_pass{p}"]) < 256 for p in (1, 2))
            assert all(float(r[f"load_{t}_pass{p}"]) < 1.5 for p in (1, 2))


def _recorded_workloads() -> list[str]:
    """Built-in workloads the recorded run timed (the MLPerf Tiny networks, added later for
    the microcontroller model, are not in it)."""
    recorded = {r["model"] for r in _recorded()}
    return [name for name in workload_names() if name in recorded]


@pytest.mark.parametrize("workload", _recorded_workloads())
def test_recorded_host_profile_predicts_the_measured_latency(graph_of, workload):
    """The profile the validation ran with is kept beside its CSV. On it, each built-in
    workload's prediction at 1 and 2 threads lies within 35% of the latency torch measured on
    the machine (the measurement, not hwsim's recorded prediction, is the reference). When
    recorded, the built-ins ranged from 0.68x (mobilenet_v3_large, 2 threads) to 1.01x
    (bert_base, 1 thread); docs/cpu.md has every model and the error of each."""
    profile = hwsim.load_profile(RESULTS / "cpu_host_profile.yaml")
    row = next(r for r in _recorded() if r["model"] == workload)
    for threads in (1, 2):
        est = hwsim.estimate(graph_of(workload), profile, threads=threads)
        measured_s = float(row[f"measured_{threads}t_ms"]) / 1e3
        assert 0.65 <= est.latency_s / measured_s <= 1.35, (threads, est.latency_s, measured_s)


def test_stride_picks_neighbours_measured_at_the_same_stride(tmp_path):
    """A stride step weighs as much as a factor 8 in a size: a stride-2 conv at the unstrided
    point's size is 2 log2 steps (4x pixels) from the strided point and 3 from the unstrided
    one, so inverse-square weights 1/4 and 1/9; a table without a stride column ignores it."""
    text = textwrap.dedent(CPU).replace(
        "conv: [[256, 16, 144, 9, 0.25], [4096, 256, 2304, 9, 0.9]]",
        "conv: [[256, 16, 144, 9, 1, 0.25], [1024, 16, 144, 9, 2, 0.05]]",
    )
    path = tmp_path / "strided.yaml"
    path.write_text(text)
    profile = hwsim.load_profile(path)
    expected = (0.05 / 4 + 0.25 / 9) / (1 / 4 + 1 / 9)
    assert efficiency(profile, 1, "conv", 256, 16, 144, 9, 2) == pytest.approx(expected)
    assert efficiency(profile, 1, "conv", 256, 16, 144, 9, 1) == 0.25
    assert efficiency(profile, 2, "conv", 256, 16, 144, 9, 2) == 0.25  # 4 columns: no stride


def test_kernel_figures_interpolate_between_calibration_shapes(tmp_path):
    """With ``by_shape``, the dense efficiency and the speedup curves are read from the
    calibration shape with the same mean inner-loop length (M in tiles of 128), and
    interpolated in its log between shapes."""
    text = textwrap.dedent(CPU) + textwrap.indent(
        textwrap.dedent("""\
            by_shape:
              - {shape: [32, 288, 3136], dense_fp32: 0.4, 'csr': [[0.1, 8.0], [0.5, 2.0]]}
              - {shape: [1024, 512, 49], dense_fp32: 0.1, 'csr': [[0.1, 4.0], [0.5, 1.0]]}
        """),
        "    ",
    )
    path = tmp_path / "shapes.yaml"
    path.write_text(text)
    profile = hwsim.load_profile(path)
    wide, narrow = GemmShape(m=3136, n=64, k=576), GemmShape(m=49, n=512, k=512)
    assert kernel_cycles(profile, "dense", wide) == pytest.approx(wide.macs / (16 * 0.4))
    assert kernel_cycles(profile, "dense", narrow) == pytest.approx(narrow.macs / (16 * 0.1))
    dense = kernel_cycles(profile, "dense", narrow)
    assert kernel_cycles(profile, "csr", narrow, 0.5) == pytest.approx(dense / 1.0)
    # Tile length 98 (one tile) lies between 49 and 3136 / 25 = 125.44: a fraction
    # ln(98 / 49) / ln(125.44 / 49) = 0.6931 / 0.9400 = 0.7374 of the way, so the dense
    # efficiency is 0.1 + 0.7374 x (0.4 - 0.1) = 0.3212.
    middle = GemmShape(m=98, n=256, k=256)
    assert kernel_cycles(profile, "dense", middle) == pytest.approx(
        middle.macs / (16 * 0.3212), rel=1e-3
    )


def test_transcendental_pointwise_runs_at_the_eager_silu_rate(calibrated, tmp_path):
    """16 x 32 x 32 fp32 in and out: 131,072 bytes moved, past the 64 KiB l1, so the triad
    floor is the 1-thread DRAM rate: 131,072 / 4 GB/s = 32,768 cycles at 1 GHz. SiLU at the
    eager transcendental rate (1 GB/s) takes 131,072 cycles; ReLU6 at the eager pointwise rate
    (32 GB/s, 4,096 cycles) stays on the DRAM floor."""
    text = textwrap.dedent(CPU).replace(
        "stream_bytes_per_s: {l1: 3.2e10, dram: 4.0e9}",
        "stream_bytes_per_s: {l1: 3.2e10, dram: 4.0e9, eager_pointwise: 3.2e10, "
        "eager_transcendental: 1.0e9}",
    )
    path = tmp_path / "silu.yaml"
    path.write_text(text)
    profile = hwsim.load_profile(path)
    x = torch.zeros(1, 16, 32, 32)
    costs = {}
    for name, module in (("silu", nn.SiLU()), ("relu6", nn.ReLU6())):
        graph = hwsim.trace(nn.Sequential(module), example_inputs=(x,))
        est = hwsim.estimate(graph, profile, threads=1)
        (_, cost) = next((o, c) for o, c in est.costs if o.kind is OpKind.POINTWISE)
        costs[name] = cost.memory_cycles
    moved = 2 * x.numel() * 4
    assert costs["silu"] == pytest.approx(moved / 1.0e9 * 1e9) == pytest.approx(131_072)
    assert costs["relu6"] == pytest.approx(32_768)


def test_pool_window_larger_than_the_input_covers_only_the_input():
    """``AvgPool2d(1280, ceil_mode=True)`` on 7x7 (EfficientNet's pooler in transformers) sums
    49 taps per output, not 1280 x 1280."""
    model = nn.AvgPool2d(1280, ceil_mode=True)
    graph = hwsim.trace(model, example_inputs=(torch.zeros(1, 8, 7, 7),))
    (op,) = [o for o in graph.ops if o.kind is OpKind.POOL]
    assert op.flops == 8 * 49

"""FPGA models against boards that were measured: FINN streaming dataflow and the Vitis AI DPU.

Golden numbers are measurements published by Xilinx/AMD, never hwsim output:

- FINN examples (github.com/Xilinx/finn-examples), notebooks ``0_mnist_with_fc_networks`` and
  ``1_cifar10_with_cnv_networks`` at commit 44fdb99 (Feb 2023): ``accel.throughput_test()`` on
  a PYNQ-Z1 at fclk 100 MHz, batch 1000, reports tfc-w1a1 at 837,019 images/s (DRAM in
  656 MB/s = 784 B per image) and cnv-w1a1 at 3,020.5 images/s.
- Vitis AI 2.5 model zoo (github.com/Xilinx/Vitis-AI, models/AI-Model-Zoo/README.md,
  "Performance on ZCU104", 2 x B4096 @ 300 MHz): tf2_resnet50_imagenet_224_224_7.76G at
  93.23 fps and tf_mobilenetv2_1.0_imagenet_224_224_602M at 284.18 fps, single thread.

The networks are rebuilt from their public definitions (Brevitas ``bnn_pynq`` CNV and TFC) and
folded with the folding configs finn-examples builds them with (tests/golden/fpga/).
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from torch import nn

import hwsim
from hwsim.costmodels.fpga_streaming import Window, window_cycles
from hwsim.errors import ProfileError
from hwsim.graph import OpGraph

GOLDEN = Path(__file__).parent / "golden" / "fpga"


class CNV(nn.Module):
    """Brevitas bnn_pynq CNV: 6 unpadded 3x3 convs (64, 64, 128, 128, 256, 256) with a 2x2 max
    pool after the 2nd and 4th, then FC 256-512-512-10, on 3x32x32 CIFAR-10 images."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for cout, pool in ((64, False), (64, True), (128, False), (128, True), (256, False)):
            layers += [nn.Conv2d(cin, cout, 3, bias=False), nn.BatchNorm2d(cout), nn.Hardtanh()]
            layers += [nn.MaxPool2d(2)] if pool else []
            cin = cout
        layers += [nn.Conv2d(256, 256, 3, bias=False), nn.BatchNorm2d(256), nn.Hardtanh()]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Linear(256, 512, bias=False),
            nn.BatchNorm1d(512),
            nn.Hardtanh(),
            nn.Linear(512, 512, bias=False),
            nn.BatchNorm1d(512),
            nn.Hardtanh(),
            nn.Linear(512, 10, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


class Bottleneck(nn.Module):
    """ResNet-50 v1.5 bottleneck (stride in the 3x3 conv), in the order FINN's graph lists its
    MVAUs: the first 1x1 conv, then the projection shortcut if any, then the 3x3 and last 1x1."""

    def __init__(self, cin: int, mid: int, stride: int) -> None:
        super().__init__()

        def conv(ci: int, co: int, k: int, s: int, relu: bool = True) -> nn.Sequential:
            act = [nn.ReLU()] if relu else []
            return nn.Sequential(
                nn.Conv2d(ci, co, k, s, k // 2, bias=False), nn.BatchNorm2d(co), *act
            )

        self.conv1 = conv(cin, mid, 1, 1)
        self.shortcut = conv(cin, 4 * mid, 1, stride, relu=False) if cin != 4 * mid else None
        self.conv2 = conv(mid, mid, 3, stride)
        self.conv3 = conv(mid, 4 * mid, 1, 1, relu=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv1(x)
        skip = x if self.shortcut is None else self.shortcut(x)
        return torch.relu(self.conv3(self.conv2(y)) + skip)


class ResNet50V15(nn.Module):
    """The finn-examples ResNet-50 w1a2 (v1.5): 7x7/2 stem, 3x3/2 max pool, bottleneck stages
    of 3, 4, 6, 3 blocks (widths 64-512, x4 out), global average pool, FC 2048-1000: 54 MVAUs."""

    def __init__(self) -> None:
        super().__init__()
        stem = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        layers: list[nn.Module] = [stem, nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1)]
        cin = 64
        for mid, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
            for i in range(blocks):
                layers.append(Bottleneck(cin, mid, stride if i == 0 else 1))
                cin = 4 * mid
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(2048, 1000, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


def tfc() -> nn.Module:
    """Brevitas bnn_pynq TFC: three hidden FC layers of 64 on 784 MNIST pixels, then 10."""
    layers: list[nn.Module] = [nn.Flatten()]
    for cin, cout in ((784, 64), (64, 64), (64, 64)):
        layers += [nn.Linear(cin, cout, bias=False), nn.BatchNorm1d(cout), nn.Hardtanh()]
    return nn.Sequential(*layers, nn.Linear(64, 10, bias=False)).eval()


@pytest.fixture(scope="module")
def cnv_graph() -> OpGraph:
    return hwsim.trace(CNV().eval(), example_inputs=(torch.randn(1, 3, 32, 32),))


@pytest.fixture(scope="module")
def tfc_graph() -> OpGraph:
    return hwsim.trace(tfc(), example_inputs=(torch.randn(1, 1, 28, 28),))


@pytest.fixture(scope="module")
def resnet50_v15_graph() -> OpGraph:
    return hwsim.trace(ResNet50V15().eval(), example_inputs=(torch.randn(1, 3, 224, 224),))


def within(value: float, reference: float, tolerance: float) -> bool:
    return abs(value / reference - 1) <= tolerance


# --- validation against measured boards ------------------------------------------------------


def test_cnv_w1a1_on_pynq_z1_matches_finn_examples_measurement(cnv_graph: OpGraph) -> None:
    """cnv-w1a1 with its finn-examples folding on a PYNQ-Z1 at 100 MHz: measured 3,020.5 FPS.
    The slowest stages are the two 512x512 FC layers at PE 1: 512 x 512/SIMD cycles each."""
    est = hwsim.estimate(
        cnv_graph, "fpga_pynq_z1", quant="w1a1", folding=GOLDEN / "cnv-w1a1_folding.json"
    )
    total = est.to_dict()["total"]
    assert within(total["throughput_fps"], 3020.5, 0.10), total["throughput_fps"]
    assert total["fits"] is True
    convs = [layer for layer in est.layers() if layer["op"] == "conv"]
    assert [(c["pe"], c["simd"]) for c in convs] == [
        (16, 3),
        (32, 32),
        (16, 32),
        (16, 32),
        (4, 32),
        (1, 32),
    ]
    assert all(c["resources"].get("DSP", 0) == 0 for c in convs)  # binary: XNOR-popcount


def test_tfc_w1a1_on_pynq_z1_is_input_bound_as_measured(tfc_graph: OpGraph) -> None:
    """tfc-w1a1 on a PYNQ-Z1 at 100 MHz: measured 837,019 images/s. Its layers need only 64
    cycles per image, but 784 input bytes through the 64-bit DMA take ~100: I/O-bound."""
    est = hwsim.estimate(
        tfc_graph, "fpga_pynq_z1", quant="w1a1", folding=GOLDEN / "tfc-w1a1_folding.json"
    )
    total = est.to_dict()["total"]
    assert within(total["throughput_fps"], 837_019, 0.10), total["throughput_fps"]
    assert any("I/O-bound" in note for note in total["notes"])
    assert max(layer.get("cycles_per_frame", 0) for layer in est.layers()) == 64


def test_resnet50_w1a2_on_u250_matches_finn_examples_measurement(
    resnet50_v15_graph: OpGraph,
) -> None:
    """ResNet-50 w1a2 with the public U250 folding at 187 MHz (finn-examples notebook
    2_imagenet_with_cnns, commit 0079069): throughput_test ran a batch of 100 in 539.10 ms
    (185.5 images/s); one image took 24.3 ms (%%timeit of accel.execute). A batch is one pipeline
    fill plus 99 initiation intervals, so the steady state is 99 / (539.10 - 24.3) ms = 192.3
    images/s. The slowest stages are the sixteen 3x3 convs: (MH/2) x (9*MH/64) x pixels =
    903,168 cycles, or 207.0 images/s."""
    u250_at_187mhz = replace(hwsim.load_profile("fpga_u250"), clock_hz=187e6)
    est = hwsim.estimate(
        resnet50_v15_graph,
        u250_at_187mhz,
        quant="w1a2",
        folding=GOLDEN / "resnet50-w1a2_folding.json",
    )
    total = est.to_dict()["total"]
    steady_state_fps = 99 / (539.10e-3 - 24.3e-3)
    assert within(total["throughput_fps"], steady_state_fps, 0.10), total["throughput_fps"]
    assert total["fits"] is True
    mvaus = [layer for layer in est.layers() if layer.get("stage") == "mvau"]
    assert len(mvaus) == 54
    assert max(layer["cycles_per_frame"] for layer in mvaus) == 32 * 9 * 56 * 56


@pytest.mark.parametrize(
    ("workload", "measured_fps"), [("resnet50", 93.23), ("mobilenet_v2", 284.18)]
)
def test_dpu_b4096_on_zcu104_matches_vitis_ai_model_zoo(
    graph_of, workload: str, measured_fps: float
) -> None:
    """Vitis AI 2.5 model zoo, ZCU104 2 x B4096 @ 300 MHz, single-thread end-to-end FPS."""
    est = hwsim.estimate(graph_of(workload), "fpga_zcu104_dpu")
    assert within(est.to_dict()["total"]["throughput_fps"], measured_fps, 0.30)


# --- the streaming model's parts --------------------------------------------------------------


def test_matrix_layer_cycles_follow_the_folding(cnv_graph: OpGraph) -> None:
    """FINN's MVAU estimate (MH/PE) x (MW/SIMD) x pixels: CNV's first conv, 64 outputs of
    3x3x3 inputs on 30x30 pixels at PE 16, SIMD 3, is 4 x 9 x 900 = 32,400 cycles."""
    est = hwsim.estimate(
        cnv_graph, "fpga_pynq_z1", quant="w1a1", folding=GOLDEN / "cnv-w1a1_folding.json"
    )
    first = next(layer for layer in est.layers() if layer["op"] == "conv")
    assert first["cycles_per_frame"] == 4 * 9 * 900


def test_window_generator_cycles() -> None:
    """Line-buffer fill plus, per output row, the slower of writing and reading: a 3x3 window
    over 32x32x3 at SIMD 3 fills (2 x 32 + 3) words, then writes 30 x 9 words per row."""
    win = Window(ifm_h=32, ifm_w=32, ofm_h=30, ofm_w=30, k_h=3, k_w=3, stride=1, channels=3)
    assert window_cycles(win, 3) == (2 * 32 + 3) + 30 * (30 * 9)


def test_target_fps_picks_the_smallest_folding_that_meets_it(cnv_graph: OpGraph) -> None:
    slow = hwsim.estimate(cnv_graph, "fpga_pynq_z1", quant="w1a1", target_fps=500)
    fast = hwsim.estimate(cnv_graph, "fpga_pynq_z1", quant="w1a1", target_fps=3000)
    assert slow.throughput_fps is not None and fast.throughput_fps is not None
    assert slow.throughput_fps >= 500 and fast.throughput_fps >= 3000
    lut = [e.to_dict()["total"]["resources"]["LUT"]["used"] for e in (slow, fast)]
    assert lut[0] < lut[1]


def test_fastest_design_that_fits_fits(cnv_graph: OpGraph) -> None:
    est = hwsim.estimate(cnv_graph, "fpga_pynq_z1", quant="w1a1")
    total = est.to_dict()["total"]
    assert total["fits"] is True
    assert total["throughput_fps"] > 3020  # at least as fast as FINN's hand folding
    for res in total["resources"].values():
        assert res["used"] <= res["available"]


def test_a_model_too_big_for_the_device_says_what_runs_out(graph_of) -> None:
    """ResNet-50's 25.6 M int8 weights (25.6 MB) cannot stay on a ZCU104's 4.75 MB on chip."""
    total = hwsim.estimate(graph_of("resnet50"), "fpga_zcu104", quant="w8a8").to_dict()["total"]
    assert total["fits"] is False
    assert total["binding_resource"] == "BRAM"
    assert any("does not fit" in note for note in total["notes"])


def test_latency_is_the_pipeline_not_the_sum(graph_of) -> None:
    """A pipeline's frame latency is its critical path: ResNet-50's shortcut convs run beside
    the main branch, so the latency is less than the sum of the stages."""
    est = hwsim.estimate(graph_of("resnet50"), "fpga_u250", quant="w1a2")
    layer_sum = sum(layer["latency_s"] for layer in est.layers())
    assert est.latency_s < layer_sum
    assert est.throughput_fps is not None
    assert est.throughput_fps > 1 / est.latency_s  # frames overlap in the pipeline


def test_binary_uses_luts_and_int8_uses_packed_dsps(tfc_graph: OpGraph) -> None:
    """Two int8 MACs per DSP48E2 (WP486), four int4; binary products are XNORs in LUTs."""
    fold = {"MVAU_hls_0": {"PE": 16, "SIMD": 49}}
    dsps = {}
    for quant in ("w1a1", "w4a4", "w8a8"):
        est = hwsim.estimate(tfc_graph, "fpga_zcu104", quant=quant, folding=fold)
        first = next(layer for layer in est.layers() if layer["op"] == "gemm")
        dsps[quant] = first["resources"].get("DSP", 0)
    assert dsps == {"w1a1": 0, "w4a4": 16 * 49 / 4, "w8a8": 16 * 49 / 2}


def test_folding_file_by_op_name(tfc_graph: OpGraph, tmp_path: Path) -> None:
    first = next(op for op in tfc_graph if op.kind is hwsim.OpKind.GEMM)
    path = tmp_path / "fold.json"
    path.write_text(json.dumps({first.name: {"PE": 8, "SIMD": 16}}))
    est = hwsim.estimate(tfc_graph, "fpga_pynq_z1", quant="w1a1", folding=path)
    layer = next(layer for layer in est.layers() if layer["id"] == first.id)
    assert (layer["pe"], layer["simd"]) == (8, 16)
    assert layer["cycles_per_frame"] == (64 // 8) * (784 // 16)


def test_bad_folding_names_the_layer(tfc_graph: OpGraph) -> None:
    with pytest.raises(ProfileError, match="PE=7 must divide 64"):
        hwsim.estimate(tfc_graph, "fpga_pynq_z1", folding={"MVAU_hls_0": {"PE": 7, "SIMD": 1}})


def test_fpga_presets_match_their_datasheets() -> None:
    """DS190 (XC7Z020: 53,200 LUTs, 220 DSP48E1, 140 BRAM36), DS962 (XCU250: 12,288 DSPs,
    2,688 BRAM36, 1,280 URAM), PG338 (B4096: PP 8 x ICP 16 x OCP 16 = 2,048 MACs/cycle)."""
    pynq, u250, dpu = (
        hwsim.load_profile(n) for n in ("fpga_pynq_z1", "fpga_u250", "fpga_zcu104_dpu")
    )
    assert (pynq.arch.luts, pynq.arch.dsps, pynq.arch.bram36) == (53200, 220, 140)
    assert (u250.arch.dsps, u250.arch.bram36, u250.arch.uram) == (12288, 2688, 1280)
    assert u250.peak_macs_per_cycle["int8"] == u250.arch.dsps * u250.arch.dsp_packing_int8
    parallel = [
        dpu.arch.pixel_parallel,
        dpu.arch.input_channel_parallel,
        dpu.arch.output_channel_parallel,
    ]
    assert math.prod(parallel) == dpu.peak_macs_per_cycle["int8"] == 2048
    assert {p.arch.style for p in (pynq, u250)} == {"streaming"}
    assert dpu.arch.style == "overlay"


# --- the overlay ------------------------------------------------------------------------------


def test_dpu_reports_per_layer_time_with_tiling_waste(graph_of) -> None:
    """B4096 tiles 8 pixels x 16 input x 16 output channels: MobileNet-v2's first conv has 3
    input channels, so 13 of every 16 input lanes idle."""
    est = hwsim.estimate(graph_of("mobilenet_v2"), "fpga_zcu104_dpu")
    layers = [layer for layer in est.layers() if layer["op"] == "conv"]
    assert all(layer["latency_s"] > 0 for layer in layers)
    assert layers[0]["utilization"] < 0.25
    total = est.to_dict()["total"]
    assert total["fits"] is None and total["resources"] is None
    assert math.isclose(total["throughput_fps"], 1 / total["latency_s"], rel_tol=1e-9)


# --- the command line -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tfc_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("fpga") / "tfc.pt2"
    torch.export.save(torch.export.export(tfc(), (torch.zeros(1, 1, 28, 28),)), str(path))
    return path


def test_cli_quant_reports_fps_folding_and_resources(hwsim_cli, tfc_file) -> None:
    code, out, _ = hwsim_cli(
        "estimate",
        str(tfc_file),
        "--hw",
        "fpga_zcu104",
        "--quant",
        "w4a4",
        "--format",
        "json",
    )
    assert code == 0
    data = json.loads(out)
    total = data["total"]
    assert total["throughput_fps"] > 0 and total["latency_s"] > 0
    assert total["fits"] is True and total["binding_resource"] is None
    assert set(total["resources"]) == {"LUT", "FF", "DSP", "BRAM", "URAM"}
    gemms = [layer for layer in data["layers"] if layer["op"] == "gemm"]
    assert all({"pe", "simd", "resources", "cycles_per_frame"} <= set(g) for g in gemms)
    assert all(g["precision"] == "w4a4" for g in gemms)


def test_cli_says_when_the_design_does_not_fit(hwsim_cli, tfc_file) -> None:
    code, _, err = hwsim_cli(
        "estimate",
        str(tfc_file),
        "--hw",
        "fpga_pynq_z1",
        "--quant",
        "w8a8",
        "--target-fps",
        "1e9",
    )
    assert code == 0
    assert "DOES NOT FIT" in err


def test_cli_bad_quant_is_one_error_line(hwsim_cli, tfc_file) -> None:
    code, _, err = hwsim_cli("estimate", str(tfc_file), "--hw", "fpga_zcu104", "--quant", "w4")
    assert code == 2
    assert err.strip().startswith("error: --quant 'w4'")


def test_cli_precision_still_works_on_fpga(hwsim_cli, tfc_file) -> None:
    code, out, _ = hwsim_cli(
        "estimate",
        str(tfc_file),
        "--hw",
        "fpga_zcu104_dpu",
        "--precision",
        "int8",
        "--format",
        "json",
    )
    assert code == 0
    assert json.loads(out)["total"]["throughput_fps"] > 0


# --- stages from the GEMM view, and outputs of any rank ---------------------------------------


class _WeightFirst(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(6, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.matmul(self.w, x)


class _Lstm(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(5, 8, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lstm(x)[0]


def _stage(graph: OpGraph, folding: dict[str, object]) -> dict[str, object]:
    est = hwsim.estimate(graph, "fpga_zcu104", quant="w8a8", folding=folding)
    return next(layer for layer in est.layers() if layer["op"] == "gemm")


def test_weight_first_matmul_folds_the_weight_rows() -> None:
    """W (6, 10) @ x (1, 10, 7): an MVAU of MH = 6 weight rows and MW = 10, run for 7 token
    vectors. PE = 3 divides MH (not the 7 output columns): (6/3) x (10/5) x 7 = 28 cycles."""
    graph = hwsim.trace(_WeightFirst(), example_inputs=(torch.randn(1, 10, 7),))
    name = next(op.name for op in graph if op.kind is hwsim.OpKind.GEMM)
    stage = _stage(graph, {name: {"PE": 3, "SIMD": 5}})
    assert stage["cycles_per_frame"] == 2 * 2 * 7


def test_recurrent_stage_runs_its_products_one_mac_per_lane_cycle() -> None:
    """FINN's MVAU takes MH x MW x vectors cycles at PE = SIMD = 1, one per MAC: LSTM(5 -> 8)
    over 9 steps is 9 x 32 x 5 + 9 x 32 x 8 = 3744 MACs per sequence, so 3744 cycles."""
    graph = hwsim.trace(_Lstm().eval(), example_inputs=(torch.randn(1, 9, 5),))
    name = next(op.name for op in graph if op.kind is hwsim.OpKind.GEMM)
    stage = _stage(graph, {name: {"PE": 1, "SIMD": 1}})
    assert stage["cycles_per_frame"] == 3744


@pytest.mark.parametrize("hw", ["fpga_zcu104", "fpga_pynq_z1", "fpga_u250", "fpga_zcu104_dpu"])
def test_scalar_outputs_price_on_every_fpga(hw: str) -> None:
    """A model ending in a scalar (a loss, a sum, a data-dependent selection summed up)."""

    class Scalar(nn.Module):
        def forward(self, z: torch.Tensor) -> torch.Tensor:
            return (z[z > 0]).sum() + z.mean()

    graph = hwsim.trace(Scalar(), example_inputs=(torch.randn(4, 8),))
    est = hwsim.estimate(graph, hw)
    assert est.unsupported == []
    assert math.isfinite(est.latency_s) and est.latency_s > 0


_BAD_FOLDINGS = {
    "binary": (b"\x00\x9f\x92\x96" * 64, "not text"),
    "deep": (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    "nan": (b'{"MVAU_hls_0": {"PE": NaN}}', "not valid JSON"),
    "word": (b'{"MVAU_hls_0": {"PE": "four"}}', "'MVAU_hls_0' PE: expected a positive integer"),
    "zero": (b'{"MVAU_hls_0": {"SIMD": 0}}', "SIMD: expected a positive integer, got 0"),
    "negative": (b'{"MVAU_hls_0": {"PE": -2}}', "got -2"),
    "fraction": (b'{"MVAU_hls_0": {"PE": 2.5}}', "got 2.5"),
    "boolean": (b'{"MVAU_hls_0": {"PE": true}}', "got True"),
    "list": (b"[1, 2]", "a JSON object of layer name -> settings"),
    "typo": (b'{"1.weight_typo": {"PE": 1}}', "names no layer of this model"),
}


@pytest.mark.parametrize("case", sorted(_BAD_FOLDINGS))
def test_cli_bad_folding_file_is_one_line(hwsim_cli, tfc_file, tmp_path, case) -> None:
    content, expected = _BAD_FOLDINGS[case]
    path = tmp_path / f"{case}.json"
    path.write_bytes(content)
    code, _, err = hwsim_cli(
        "estimate", str(tfc_file), "--hw", "fpga_zcu104", "--folding", str(path)
    )
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert lines[0].startswith("error: ") and expected in lines[0], lines[0]


def test_cli_folding_that_is_a_directory_is_one_line(hwsim_cli, tfc_file, tmp_path) -> None:
    code, _, err = hwsim_cli(
        "estimate", str(tfc_file), "--hw", "fpga_zcu104", "--folding", str(tmp_path)
    )
    assert (
        code == 2 and err.strip() == f"error: {tmp_path}: cannot read folding file (Is a directory)"
    )

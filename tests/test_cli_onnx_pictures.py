"""The command line of issue 19: ONNX files on every command that reads a model, --input-shape
for dynamic dimensions, --no-cache, --format chrome-trace, hwsim plot, the 100-column table."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from test_cli import fails_with
from test_onnx import hand_cnn

import hwsim
from hwsim.ops import OpKind

# hand_cnn at batch 1, counted by hand in test_onnx.test_hand_written_model_macs_by_hand.
HAND_MACS = 260_096


@pytest.fixture(scope="module")
def onnx_file(tmp_path_factory) -> str:
    return hand_cnn(tmp_path_factory.mktemp("onnx") / "hand.onnx")


def _cache_entries() -> set[Path]:
    root = Path(os.environ["XDG_CACHE_HOME"]) / "hwsim" / "graphs"
    return set(root.rglob("*.hwg")) if root.exists() else set()


def test_estimate_reads_onnx_with_an_input_shape(hwsim_cli, onnx_file):
    code, out, _ = hwsim_cli(
        "estimate", onnx_file, "--hw", "tpu_edge", "--input-shape", "1,3,32,32", "--format", "json"
    )
    assert code == 0
    data = json.loads(out)
    assert data["total"]["macs"] == HAND_MACS
    code, out, _ = hwsim_cli(
        "estimate", onnx_file, "--hw", "tpu_edge", "--batch", "2", "--format", "json"
    )
    assert code == 0 and json.loads(out)["total"]["macs"] == 2 * HAND_MACS


def test_onnx_dynamic_dimension_without_a_shape_is_one_line(hwsim_cli, onnx_file):
    line = fails_with(hwsim_cli, "estimate", onnx_file, "--hw", "tpu_edge")
    assert "dynamic dimension" in line and "--input-shape" in line


def test_compare_and_memory_read_onnx(hwsim_cli, onnx_file):
    code, out, _ = hwsim_cli(
        "compare", onnx_file, "--hw", "tpu_edge", "--variants", "dense,int8",
        "--batch", "1", "--format", "json",
    )  # fmt: skip
    assert code == 0
    rows = json.loads(out)
    assert {r["variant"] for r in rows} == {"dense", "int8"}
    assert all(r["macs"] == HAND_MACS for r in rows)
    code, out, _ = hwsim_cli(
        "memory", onnx_file, "--hw", "mcu_stm32f746", "--input-shape", "1,3,32,32",
        "--format", "json",
    )  # fmt: skip
    assert code == 0
    # By hand, int8 on the microcontroller: conv1 reads the 3 x 32 x 32 input (3,072 bytes)
    # while writing 8 x 32 x 32 (8,192); every later op holds less (Relu is conv1's clamp,
    # MaxPool 8,192 + 2,048, the depthwise conv 2,048 + 2,048): a peak of 11,264 bytes.
    assert json.loads(out)["peak_activation_bytes"] == 3_072 + 8_192


def test_no_cache_neither_reads_nor_writes_the_cache(hwsim_cli, onnx_file):
    args = ("estimate", onnx_file, "--hw", "tpu_edge", "--input-shape", "1,3,16,16")
    before = _cache_entries()
    code, _, _ = hwsim_cli(*args, "--no-cache", "--format", "json")
    assert code == 0 and _cache_entries() == before
    code, cold, _ = hwsim_cli(*args, "--format", "json")
    written = _cache_entries() - before
    assert code == 0 and len(written) == 1
    code, warm, _ = hwsim_cli(*args, "--format", "json")  # read back from the entry
    assert code == 0 and _cache_entries() - before == written
    assert json.loads(warm)["total"] == json.loads(cold)["total"]


@pytest.mark.parametrize("hw", ["tpu_edge", "gpu_a100", "fpga_u250"])
def test_chrome_trace_spans_the_estimate(hwsim_cli, onnx_file, hw):
    """The Done-when check: valid JSON of complete events spanning the latency within 1%, on
    named tracks per engine."""
    base = ("estimate", onnx_file, "--hw", hw, "--input-shape", "1,3,32,32")
    code, out, _ = hwsim_cli(*base, "--format", "json")
    assert code == 0
    latency_us = json.loads(out)["total"]["latency_s"] * 1e6
    code, out, _ = hwsim_cli(*base, "--format", "chrome-trace")
    assert code == 0
    events = json.loads(out)["traceEvents"]
    spans = [e for e in events if e["ph"] == "X"]
    start = min(e["ts"] for e in spans)
    end = max(e["ts"] + e["dur"] for e in spans)
    assert end - start == pytest.approx(latency_us, rel=0.01)
    names = {e["tid"]: e["args"]["name"] for e in events if e["name"] == "thread_name"}
    assert {e["tid"] for e in spans} <= set(names)
    assert "DMA / memory link" in names.values()


@pytest.mark.parametrize("kind", ["roofline", "layers", "timeline"])
def test_plot_writes_the_image(hwsim_cli, onnx_file, tmp_path, kind):
    out = tmp_path / f"{kind}.png"
    code, _, err = hwsim_cli(
        "plot", onnx_file, "--hw", "tpu_edge", "--kind", kind, "-o", str(out),
        "--input-shape", "1,3,32,32",
    )  # fmt: skip
    assert code == 0 and f"wrote {out}" in err
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--kind", "pie", "-o", "x.png"], "--kind 'pie'"),
        (["--kind", "layers", "-o", "x.bmp"], "suffix"),
        (["--kind", "layers", "-o", "x.png", "--hw", "tpu_edge,gpu_a100"], "one profile"),
    ],
)
def test_plot_bad_input_is_one_line(hwsim_cli, onnx_file, tmp_path, extra, expected):
    args = ["plot", onnx_file, "--hw", "tpu_edge", "--input-shape", "1,3,32,32", *extra]
    args = [str(tmp_path / a) if a.startswith("x.") else a for a in args]
    assert expected in fails_with(hwsim_cli, *args)


def test_table_fits_100_columns_one_line_per_op(graph_of):
    """MobileNetV2's long module paths on a console 160 columns wide (what the CLI uses when
    piped): every line of the per-layer table fits 100 columns, one row per op."""
    from rich.console import Console

    from hwsim.render import print_tables

    est = hwsim.estimate(graph_of("mobilenet_v2"), "tpu_edge")
    console = Console(width=160, record=True, color_system=None)
    print_tables([est], console, all_ops=False, top=None)
    lines = console.export_text().splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("layer"))
    total = next(i for i, line in enumerate(lines) if line.lstrip().startswith("total"))
    assert max(len(line.rstrip()) for line in lines[: total + 1]) <= 100
    rows = [line for line in lines[header + 2 : total] if line.strip()]
    assert len(rows) == sum(1 for op in est.graph if op.kind is not OpKind.VIEW)

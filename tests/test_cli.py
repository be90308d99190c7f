"""The command line: output formats, file inputs, and one-line errors for bad input."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import pytest
import torch
from tiny_model import Tiny

from hwsim.errors import OutputError
from hwsim.outfile import write_output

TINY_MACS = 1 * 8 * 16 * 16 * 27 + 8 * 4  # conv outputs x taps + fc


def fails_with(hwsim_cli, *args: str) -> str:
    code, out, err = hwsim_cli(*args)
    assert code == 2, (out, err)
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err  # one line, no traceback
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.fixture(scope="module")
def tiny_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    model = Tiny().eval()
    x = torch.zeros(1, 3, 16, 16)
    torch.export.save(torch.export.export(model, (x,)), str(root / "tiny.pt2"))
    torch.jit.save(torch.jit.trace(model, x), str(root / "tiny_ts.pt"))
    torch.save(model, root / "tiny_pickle.pt")
    torch.save(model.state_dict(), root / "tiny_state.pt")
    (root / "corrupt.pt2").write_bytes(b"PK\x03\x04 this is not really a zip")
    (root / "text.pt").write_text("hello")
    return root


def test_pt2_json(hwsim_cli, tiny_files):
    code, out, _ = hwsim_cli(
        "estimate",
        str(tiny_files / "tiny.pt2"),
        "--hw",
        "cpu_x86_avx2",
        "--format",
        "json",
    )
    assert code == 0
    data = json.loads(out)
    assert data["total"]["macs"] == TINY_MACS
    assert data["total"]["latency_s"] > 0
    assert {layer["op"] for layer in data["layers"]} >= {"conv", "gemm", "pointwise"}


def test_pt2_with_batch(hwsim_cli, tiny_files):
    code, out, _ = hwsim_cli(
        "estimate",
        str(tiny_files / "tiny.pt2"),
        "--hw",
        "cpu_x86_avx2",
        "--batch",
        "4",
        "--format",
        "json",
    )
    assert code == 0
    assert json.loads(out)["total"]["macs"] == 4 * TINY_MACS


def test_torchscript_needs_and_takes_an_input_shape(hwsim_cli, tiny_files):
    path = str(tiny_files / "tiny_ts.pt")
    line = fails_with(hwsim_cli, "estimate", path, "--hw", "tpu_edge")
    assert path in line and "--input-shape" in line
    code, out, _ = hwsim_cli(
        "estimate",
        path,
        "--hw",
        "tpu_edge",
        "--input-shape",
        "1,3,16,16",
        "--format",
        "json",
    )
    assert code == 0
    assert json.loads(out)["total"]["macs"] == TINY_MACS


def test_pickled_module_needs_trust(hwsim_cli, tiny_files):
    path = str(tiny_files / "tiny_pickle.pt")
    line = fails_with(hwsim_cli, "estimate", path, "--hw", "gpu_a100")
    assert path in line and "--trust-pickle" in line and "torch.export" in line
    code, out, _ = hwsim_cli(
        "estimate",
        path,
        "--hw",
        "gpu_a100",
        "--trust-pickle",
        "--input-shape",
        "1,3,16,16",
        "--format",
        "json",
    )
    assert code == 0
    assert json.loads(out)["total"]["macs"] == TINY_MACS


def test_bare_state_dict_is_refused_with_arch_hint(hwsim_cli, tiny_files):
    path = str(tiny_files / "tiny_state.pt")
    line = fails_with(hwsim_cli, "estimate", path, "--hw", "gpu_a100")
    assert path in line and "--arch" in line


def test_state_dict_that_does_not_fit_arch(hwsim_cli, tiny_files):
    line = fails_with(
        hwsim_cli,
        "estimate",
        str(tiny_files / "tiny_state.pt"),
        "--hw",
        "gpu_a100",
        "--arch",
        "resnet18",
    )
    assert "--arch resnet18" in line


@pytest.mark.parametrize(
    ("target", "hw", "extra", "expected"),
    [
        ("missing.pt2", "tpu_edge", [], "missing.pt2: no such file"),
        ("corrupt.pt2", "tpu_edge", [], "corrupt.pt2"),
        ("text.pt", "tpu_edge", [], "text.pt"),
        ("not_a_workload", "tpu_edge", [], "neither a file nor a built-in workload"),
        ("tiny.pt2", "no_such_chip", [], "unknown hardware profile 'no_such_chip'"),
        ("tiny.pt2", "missing_profile.yaml", [], "missing_profile.yaml: profile file not found"),
        ("tiny.pt2", "tpu_edge", ["--input-shape", "1,3,x,16"], "--input-shape '1,3,x,16'"),
        ("tiny.pt2", "tpu_edge", ["--input-shape", "1,3,8"], "torch.export failed"),
        ("tiny.pt2", "tpu_edge", ["--batch", "0"], "--batch '0'"),
        ("tiny.pt2", "cpu_x86_avx2", ["--precision", "int4"], "precision 'int4' is not supported"),
    ],
)
def test_bad_input_is_one_line(hwsim_cli, tiny_files, target, hw, extra, expected):
    target_path = str(tiny_files / target) if target.endswith((".pt", ".pt2")) else target
    line = fails_with(hwsim_cli, "estimate", target_path, "--hw", hw, *extra)
    assert expected in line


def test_bad_format_is_a_usage_error(hwsim_cli, tiny_files):
    code, _, err = hwsim_cli(
        "estimate",
        str(tiny_files / "tiny.pt2"),
        "--hw",
        "tpu_edge",
        "--format",
        "xml",
    )
    assert code == 2 and "xml" in err


def test_several_profiles_and_csv(hwsim_cli, tiny_files):
    code, out, _ = hwsim_cli(
        "estimate",
        str(tiny_files / "tiny.pt2"),
        "--hw",
        "cpu_x86_avx2,tpu_edge,fpga_zcu104",
        "--format",
        "csv",
    )
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {r["hw"] for r in rows} == {"cpu_x86_avx2", "tpu_edge", "fpga_zcu104"}
    convs = [r for r in rows if r["op"] == "conv"]
    assert len(convs) == 3 and all(float(r["cycles"]) > 0 for r in convs)


def test_table_goes_to_stderr(hwsim_cli, tiny_files):
    code, out, err = hwsim_cli("estimate", str(tiny_files / "tiny.pt2"), "--hw", "gpu_h100,eyeriss")
    assert code == 0 and out == ""
    assert "conv" in err and "latency" in err and "comparison" in err


def test_profiles_list_and_show(hwsim_cli):
    code, out, _ = hwsim_cli("profiles")
    assert code == 0
    for name in ("cpu_x86_avx2", "gpu_a100", "tpu_edge", "fpga_zcu104"):
        assert name in out
    code, out, _ = hwsim_cli("profiles", "tpu_v1")
    assert code == 0 and "hw_class: systolic" in out and "#" in out


def test_export_then_estimate_the_file(hwsim_cli, tmp_path):
    """The .pt2 written by `hwsim export` traces to the same MACs as the workload name."""
    path = tmp_path / "r18.pt2"
    code, _, _ = hwsim_cli("export", "resnet18", "-o", str(path))
    assert code == 0 and path.exists()
    code, out, _ = hwsim_cli("estimate", str(path), "--hw", "tpu_edge", "--format", "json")
    assert code == 0
    assert json.loads(out)["total"]["macs"] == 1_814_073_344


def test_llm_json_on_stdout_is_the_serving_estimate(hwsim_cli):
    """`hwsim llm --format json` prints what the library returns (the issue's JSON contract):
    GPT-2's fp16 weights are its 124,439,808 parameters x 2 bytes."""
    code, out, _ = hwsim_cli(
        "llm", "gpt2", "--hw", "gpu_h100_trt", "--prompt", "64", "--gen", "8", "--batch", "2",
        "--format", "json",
    )  # fmt: skip
    assert code == 0
    data = json.loads(out)
    assert data["memory"]["weights_bytes"] == 2 * 124_439_808
    assert {"ttft_s", "tpot_s", "e2e_s", "tokens_per_s", "fits", "max_batch", "phases"} <= set(data)
    assert data["batch"] == 2 and data["gen_tokens"] == 8


def test_llm_table_goes_to_stderr(hwsim_cli):
    code, out, err = hwsim_cli("llm", "gpt2", "--hw", "gpu_a100", "--prompt", "32", "--gen", "4")
    assert code == 0 and out == ""
    assert "TTFT" in err and "TPOT" in err and "prefill" in err and "decode" in err


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("nope", "--hw", "gpu_h100", "--prompt", "8", "--gen", "2"), "unknown model 'nope'"),
        (("gpt2", "--hw", "gpu_h100", "--prompt", "x", "--gen", "2"), "--prompt 'x'"),
        (("gpt2", "--hw", "gpu_h100", "--prompt", "8", "--gen", "0"), "--gen '0'"),
        (("gpt2", "--hw", "gpu_orin", "--prompt", "8", "--gen", "2", "--tp", "2"), "link"),
        (("gpt2", "--hw", "gpu_h100", "--prompt", "8", "--gen", "2", "--quant", "fp4"), "--quant"),
        (("gpt2", "--hw", "gpu_h100", "--prompt", "8", "--gen", "2", "--format", "csv"), "table"),
        (("gpt2", "--hw", "gpu_h100,gpu_a100", "--prompt", "8", "--gen", "2"), "one profile"),
        (("gpt2", "--hw", "gpu_h100", "--prompt", "8", "--gen", "2", "--capacity", "-1"), "bytes"),
    ],
)
def test_llm_bad_input_is_one_line(hwsim_cli, args, expected):
    assert expected in fails_with(hwsim_cli, "llm", *args)


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("missing/x.pt2", "no such directory"),
        (".", "is a directory"),
        ("a" * 300 + ".pt2", "cannot write (File name too long)"),
    ],
)
def test_export_to_an_unwritable_path_fails_before_exporting(hwsim_cli, tmp_path, where, expected):
    line = fails_with(hwsim_cli, "export", "resnet18", "-o", str(tmp_path / where))
    assert expected in line


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs Linux's /dev/full")
def test_export_to_a_full_disk_is_one_line(hwsim_cli):
    """torch's own file writer aborted the process (SIGABRT, exit 134) here."""
    line = fails_with(hwsim_cli, "export", "resnet18", "-o", "/dev/full")
    assert line == "error: /dev/full: cannot write (No space left on device)"


def test_failed_write_leaves_no_partial_file(tmp_path):
    readonly = tmp_path / "ro"
    readonly.mkdir(mode=0o555)
    if os.access(readonly, os.W_OK):  # root writes anywhere: use a path no one may create
        readonly = Path("/sys")
    target = readonly / "x.pt2"
    with pytest.raises(OutputError, match="cannot write"):
        write_output(target, memoryview(b"PK"))
    assert not target.exists()

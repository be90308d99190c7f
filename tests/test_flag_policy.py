"""Flags that conflict, do not apply, or are out of range: each is one line and exit 2, never
silently ignored (docs/security.md lists the policy)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from tiny_model import Tiny

import hwsim
from hwsim.compression import Rule, parse_prune, parse_quant
from hwsim.compression.spec import CompressionError
from hwsim.compression.sqnr import output_sqnr
from hwsim.errors import ModelLoadError, ProfileError
from hwsim.workloads import get_workload


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("flags") / "tiny.pt2"
    x = torch.zeros(1, 3, 16, 16)
    torch.export.save(torch.export.export(Tiny().eval(), (x,)), str(path))
    return path


def one_line(hwsim_cli, *args: str) -> str:
    code, out, err = hwsim_cli(*args)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), (code, out, err)
    return lines[0]


# --- conflicting flags ------------------------------------------------------------------------


def test_precision_that_contradicts_the_quantization_is_an_error(hwsim_cli, tiny):
    """fp16 execution of int8-quantized weights, labelled int8, was priced with exit 0."""
    line = one_line(
        hwsim_cli, "estimate", str(tiny), "--hw", "cpu_x86_avx512_vnni",
        "--precision", "fp32", "--quant", "int8",
    )  # fmt: skip
    assert "--precision fp32 conflicts with --quant int8: quantized ops run at int8" in line


def test_precision_that_agrees_with_the_quantization_runs(hwsim_cli, tiny):
    code, out, _ = hwsim_cli(
        "estimate", str(tiny), "--hw", "cpu_x86_avx512_vnni",
        "--precision", "int8", "--quant", "int8", "--format", "json",
    )  # fmt: skip
    assert code == 0
    priced = [layer for layer in json.loads(out)["layers"] if layer["op"] in ("conv", "gemm")]
    assert {layer["precision"] for layer in priced} == {"int8"}


def test_quant_precision_follows_the_op_rule():
    """w4a16 keeps fp16 activations: the op computes in fp16; w4a8 multiplies int8 operands."""
    assert [parse_quant(q).precision for q in ("int8", "w4a8", "w4a4", "w4a16", "bf16")] == [
        "int8",
        "int8",
        "int4",
        "fp16",
        "bf16",
    ]


def test_compare_precision_against_quantized_variants(hwsim_cli, tiny):
    line = one_line(hwsim_cli, "compare", str(tiny), "--hw", "cpu_x86_avx2", "--precision", "fp32")
    assert "conflicts with variant 'int8'" in line
    code, _, _ = hwsim_cli(
        "compare", str(tiny), "--hw", "cpu_x86_avx2", "--precision", "fp32",
        "--variants", "dense,2:4", "--format", "json",
    )  # fmt: skip
    assert code == 0


def test_api_applies_the_same_rule(tiny):
    with pytest.raises(CompressionError, match="conflicts with --quant w4a4"):
        hwsim.estimate(tiny, "tpu_edge", precision="int8", quant="w4a4")


def test_recipe_rule_that_skips_and_compresses_is_an_error(hwsim_cli, tiny, tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("rules:\n  - layers: conv\n    skip: true\n    prune: '2:4'\n")
    line = one_line(hwsim_cli, "estimate", str(tiny), "--hw", "tpu_edge", "--recipe", str(recipe))
    assert "rules[0]: 'skip: true' keeps the matched ops as they are" in line
    with pytest.raises(CompressionError, match="cannot also prune or quantize"):
        Rule(skip=True, prune=parse_prune("0.5"))


def test_recipe_layers_must_be_a_regex_string(hwsim_cli, tiny, tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("rules:\n  - layers: [conv, fc]\n    quant: int8\n")
    line = one_line(hwsim_cli, "estimate", str(tiny), "--hw", "tpu_edge", "--recipe", str(recipe))
    assert "rules[0].layers: expected a regex string" in line


# --- flags that do not apply -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "what"),
    [("tiny", "the torch.export archive"), ("resnet18", "the built-in workload 'resnet18'")],
)
def test_arch_with_a_model_that_has_one_is_an_error(hwsim_cli, tiny, target, what):
    path = str(tiny) if target == "tiny" else target
    line = one_line(hwsim_cli, "estimate", path, "--hw", "tpu_edge", "--arch", "resnet18")
    assert "--arch resnet18: only a bare state_dict needs an architecture" in line
    assert what in line


def test_arch_with_a_module_is_an_error_in_the_api():
    with pytest.raises(ModelLoadError, match=r"an nn\.Module has its own"):
        hwsim.trace(Tiny(), arch="resnet18")


@pytest.mark.parametrize(
    ("flag", "hw", "expected"),
    [
        (["--threads", "2"], "gpu_a100", "--threads applies to CPU profiles only"),
        (["--target-fps", "100"], "fpga_zcu104_dpu", "--target-fps applies to streaming FPGA"),
        (["--folding", "f.json"], "cpu_x86_avx2", "--folding applies to streaming FPGA"),
    ],
)
def test_option_no_given_profile_takes_is_an_error(hwsim_cli, tiny, tmp_path, flag, hw, expected):
    if flag[0] == "--folding":
        (tmp_path / "f.json").write_text("{}")
        flag = [flag[0], str(tmp_path / "f.json")]
    line = one_line(hwsim_cli, "estimate", str(tiny), "--hw", hw, *flag)
    assert expected in line


def test_option_some_profiles_take_warns_on_the_others(hwsim_cli, tiny):
    code, _, err = hwsim_cli(
        "estimate", str(tiny), "--hw", "cpu_x86_avx2,gpu_a100", "--threads", "1",
        "--format", "json",
    )  # fmt: skip
    assert code == 0
    assert err.strip() == "warning: --threads does not apply to gpu_a100 (gpu): ignored"


# --- threads above the profile's cores, on every route ---------------------------------------


def test_threads_above_the_cores_on_the_cli(hwsim_cli, tiny):
    line = one_line(hwsim_cli, "estimate", str(tiny), "--hw", "cpu_x86_avx2", "--threads", "64")
    assert line == (
        "error: --threads 64: cpu_x86_avx2 has 2 cores "
        "(the CPU model runs at most one thread per core)"
    )
    line = one_line(
        hwsim_cli, "estimate", str(tiny), "--hw", "gpu_a100,cpu_x86_avx2", "--threads", "64"
    )
    assert "cpu_x86_avx2 has 2 cores" in line
    line = one_line(
        hwsim_cli, "estimate", str(tiny), "--hw", "cpu_x86_avx2",
        "--set", "arch.cores=1", "--set", "arch.threads=1", "--threads", "2",
    )  # fmt: skip
    assert "has 1 cores" in line


def test_threads_above_the_cores_in_the_api(tiny):
    graph = hwsim.trace(tiny)
    with pytest.raises(ProfileError, match="has 2 cores"):
        hwsim.estimate(graph, "cpu_x86_avx2", threads=3)
    with pytest.raises(ProfileError, match="has 2 cores"):
        hwsim.estimate_many(graph, ["gpu_a100", "cpu_x86_avx2"], threads=3)
    with pytest.raises(ProfileError, match="has 4 cores"):
        hwsim.estimate(graph, "cpu_x86_avx2", threads=8, params={"arch.cores": 4})


# --- values out of range ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--target-fps", "nan"], "--target-fps must be a positive number, got nan"),
        (["--target-fps", "inf"], "got inf"),
        (["--target-fps", "0"], "got 0.0"),
        (["--target-fps", "1e400"], "got inf"),
        (["--threads", "0"], "--threads must be a positive integer, got 0"),
        (["--batch", "0"], "--batch '0': batch sizes must be positive integers"),
        (["--batch", "2,-1"], "batch sizes must be positive integers"),
        (["--top", "0"], "Invalid value for '--top'"),
    ],
)
def test_estimate_values_out_of_range(hwsim_cli, tiny, args, expected):
    hw = "fpga_zcu104" if "--target-fps" in args else "cpu_x86_avx2"
    assert expected in one_line(hwsim_cli, "estimate", str(tiny), "--hw", hw, *args)


@pytest.mark.parametrize(
    "args",
    [
        ["compare", "{tiny}", "--hw", "tpu_edge", "--batch", "0"],
        ["export", "resnet18", "-o", "{tmp}/x.pt2", "--batch", "0"],
        ["calibrate", "--budget", "nan", "-o", "{tmp}/host.yaml"],
        ["calibrate", "--budget", "-1", "-o", "{tmp}/host.yaml"],
        ["calibrate", "--threads", "two", "-o", "{tmp}/host.yaml"],
    ],
)
def test_other_commands_values_out_of_range(hwsim_cli, tiny, tmp_path, args):
    """Each fails before any work: calibrate never measures (or writes) anything."""
    filled = [a.format(tiny=tiny, tmp=tmp_path) for a in args]
    one_line(hwsim_cli, *filled)
    assert list(tmp_path.iterdir()) == []


# --- the accuracy proxy: repeatable, and bounded ---------------------------------------------


def test_builtin_workloads_draw_the_same_weights_every_build():
    """--sqnr on a built-in workload differed from run to run: its weights were unseeded."""
    first, second = (get_workload("mobilenet_v3_large").build() for _ in range(2))
    for (name, a), b in zip(first.state_dict().items(), second.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_sqnr_refuses_a_real_run_of_terabytes():
    """At batch 10^6 ResNet-18's activations are terabytes; the proxy runs real tensors."""
    graph = hwsim.trace("resnet18", batch=1_000_000)
    with pytest.raises(CompressionError, match="the proxy does not depend on the batch"):
        output_sqnr(graph, graph)

"""hwsim fit / hwsim validate: measurement files, recovering known parameters, the written
profile, the refusal rule, and one-line errors for bad measurement files."""

from __future__ import annotations

import hashlib
import json
import math

import pytest
import torch
import yaml
from torch import nn

import hwsim
from hwsim.fit import (
    Case,
    FitError,
    Measurement,
    fit,
    predict_ms,
    read_measurements,
    write_fitted_profile,
)
from hwsim.fit.metrics import agreement
from hwsim.fit.params import params_of


def fails_with(hwsim_cli, *args: str) -> str:
    """The CLI exits 2 with one line on stderr (no traceback); that line."""
    code, out, err = hwsim_cli(*args)
    assert code == 2, (out, err)
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    return lines[0]


class Stack(nn.Module):
    """``depth`` conv + ReLU pairs at ``width`` channels on a ``side`` x ``side`` map: depth
    sets the op count (dispatch), width and side the MACs (compute)."""

    def __init__(self, width: int, depth: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(3, width, 3, padding=1)]
        for _ in range(depth):
            layers += [nn.ReLU(), nn.Conv2d(width, width, 3, padding=1)]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.body(x)
        return out


SHAPES = ((8, 1, 16), (8, 6, 16), (32, 1, 32), (32, 4, 32), (64, 2, 32), (16, 8, 8))


@pytest.fixture(scope="module")
def stack_graphs():
    return [
        hwsim.trace(Stack(w, d).eval(), example_inputs=(torch.zeros(1, 3, s, s),))
        for w, d, s in SHAPES
    ]


def _cases(graphs, latencies_ms, threads=None):
    return [
        Case(Measurement("synthetic.csv", i + 1, f"stack{i}", ms, threads=threads), g)
        for i, (g, ms) in enumerate(zip(graphs, latencies_ms, strict=True))
    ]


def test_fit_recovers_known_cpu_parameters(stack_graphs):
    """Latencies made with a known profile (conv efficiency x0.6, dispatch x2.5 on the A76
    preset) are fitted from the preset back to those values."""
    base = hwsim.load_profile("cpu_arm_a76")
    truth = base.with_params({"arch.efficiency_scale.conv": 0.6, "arch.dispatch_scale": 2.5})
    cases = _cases(stack_graphs, [1.0] * len(stack_graphs), threads=1)
    measured = predict_ms(cases, truth, 1)
    cases = _cases(stack_graphs, measured, threads=1)
    result = fit(base, cases, params=["conv_efficiency", "dispatch_scale"])
    values = {fp.param.name: fp.value for fp in result.params}
    assert values["conv_efficiency"] == pytest.approx(0.6, rel=0.02)
    assert values["dispatch_scale"] == pytest.approx(2.5, rel=0.02)
    assert result.before.mape > 0.3  # the preset was far off
    assert result.after.mape < 0.01
    assert result.cross_validation is not None
    assert result.cross_validation.method == "leave-one-out"
    assert result.cross_validation.folds == len(cases)
    assert result.cross_validation.agreement.mape < 0.02


def test_fit_recovers_a_gpu_kernel_gap(stack_graphs):
    """On a CUDA-graph GPU preset small convs are bound by the per-kernel gap: latencies made
    with a 9 us gap give 9 us back, from a base at 2 us."""
    base = hwsim.load_profile("gpu_a100_trt").with_params({"arch.kernel_gap_s": 2e-6})
    truth = base.with_params({"arch.kernel_gap_s": 9e-6})
    cases = _cases(stack_graphs, predict_ms(_cases(stack_graphs, [1.0] * 6), truth, None))
    result = fit(base, cases, params=["kernel_gap_s"], cross_validate=False)
    assert result.params[0].value == pytest.approx(9e-6, rel=0.02)
    assert result.params[0].start == pytest.approx(2e-6)


def test_refuses_more_parameters_than_the_rows_support(stack_graphs):
    base = hwsim.load_profile("cpu_arm_a76")
    cases = _cases(stack_graphs[:5], [1.0, 2.0, 3.0, 4.0, 5.0], threads=1)
    with pytest.raises(FitError, match="at least 3 rows per fitted parameter, so at most 1"):
        fit(base, cases, params=["conv_efficiency", "dispatch_scale"])


def test_refuses_a_parameter_no_row_depends_on(stack_graphs):
    """The models run fp32: no prediction depends on the int8 efficiency."""
    base = hwsim.load_profile("cpu_arm_a76")
    cases = _cases(stack_graphs, [1.0] * 6, threads=1)
    with pytest.raises(FitError, match="no measured row depends on 'int8_efficiency'"):
        fit(base, cases, params=["int8_efficiency"])


def test_default_choice_respects_the_rule(stack_graphs):
    base = hwsim.load_profile("cpu_arm_a76")
    truth = base.with_params({"arch.efficiency_scale.conv": 0.7})
    cases = _cases(stack_graphs, [1.0] * 6, threads=1)
    cases = _cases(stack_graphs, predict_ms(cases, truth, 1), threads=1)
    result = fit(base, cases, cross_validate=False)
    assert len(result.params) <= len(cases) // 3
    assert "int8_efficiency" not in result.fitted_names()  # nothing runs int8
    assert result.after.mape <= result.before.mape


def test_fitted_profile_round_trips(stack_graphs, tmp_path):
    """The written YAML loads as a profile that predicts what the fitted profile predicts,
    and records the parameters, the training file's SHA-256 and the held-out error."""
    base = hwsim.load_profile("cpu_arm_a76")
    truth = base.with_params({"arch.efficiency_scale.conv": 0.5})
    meas = tmp_path / "meas.csv"
    cases = _cases(stack_graphs, [1.0] * 6, threads=1)
    rows = [f"s{i},{ms},1" for i, ms in enumerate(predict_ms(cases, truth, 1))]
    meas.write_text("model,latency_ms,threads\n" + "\n".join(rows) + "\n")
    measured = read_measurements(meas)
    cases = [Case(m, g) for m, g in zip(measured, stack_graphs, strict=True)]
    result = fit(base, cases, params=["conv_efficiency"])
    out = write_fitted_profile(result, tmp_path / "a76_fitted.yaml")
    loaded = hwsim.load_profile(out)
    assert loaded.name == "a76_fitted"
    assert predict_ms(cases, loaded, 1) == pytest.approx(predict_ms(cases, result.fitted, 1))
    record = yaml.safe_load(out.read_text())["info"]["fit"]
    assert record["base"] == "cpu_arm_a76"
    assert record["params"]["conv_efficiency"]["value"] == pytest.approx(0.5, rel=0.02)
    assert record["training"][0]["sha256"] == hashlib.sha256(meas.read_bytes()).hexdigest()
    assert record["training"][0]["rows"] == 6
    assert record["cross_validation"]["method"] == "leave-one-out"
    assert len(record["residuals"]) == 6


def test_agreement_by_hand():
    """Three rows with errors of 10%, 20% and 0%: MAPE 10%; two within 10% (a 10% miss
    counts as within), all three within 25%; predictions in the measured order: tau and
    Spearman 1; ratios 1.1, 0.8, 1.0: median 1.0."""
    a = agreement([10.0, 20.0, 40.0], [11.0, 16.0, 40.0])
    assert a.mape == pytest.approx(0.1)
    assert a.kendall_tau == pytest.approx(1.0)
    assert a.spearman == pytest.approx(1.0)
    assert a.within_10pct == pytest.approx(2 / 3)
    assert a.within_25pct == pytest.approx(1.0)
    assert a.median_ratio == pytest.approx(1.0)
    reversed_order = agreement([1.0, 2.0, 3.0], [3.0, 2.0, 1.0])
    assert reversed_order.kendall_tau == pytest.approx(-1.0)
    assert agreement([5.0], [5.0]).kendall_tau is None


def test_every_class_parameter_names_real_keys():
    """Each declared parameter sets keys its class's presets accept (with_params validates
    them) and that change the profile."""
    for preset, hw_class in (
        ("cpu_arm_a76", "cpu"),
        ("gpu_a100_trt", "gpu"),
        ("tpu_edge", "systolic"),
    ):
        profile = hwsim.load_profile(preset)
        for param in params_of(hw_class).values():
            value = param.value_in(profile)
            other = param.lower if not math.isclose(value, param.lower) else param.upper
            assert profile.with_params(param.assignments(profile, other)) != profile, param.name


# ---- the command line -------------------------------------------------------------------------


@pytest.fixture()
def tiny_pt2(tmp_path):
    path = tmp_path / "tiny.pt2"
    model = Stack(8, 2).eval()
    torch.export.save(torch.export.export(model, (torch.zeros(1, 3, 16, 16),)), str(path))
    return path


def _write(tmp_path, text: str):
    path = tmp_path / "meas.csv"
    path.write_text(text)
    return str(path)


def test_validate_json_contract(hwsim_cli, tiny_pt2, tmp_path):
    meas = _write(
        tmp_path,
        f"model,latency_ms,batch,threads,note\n{tiny_pt2.name},0.5,1,1,a\n"
        f"{tiny_pt2.name},1.5,4,1,b\n{tiny_pt2.name},1.0,2,1,c\n",
    )
    code, out, err = hwsim_cli("validate", meas, "--hw", "cpu_arm_a76", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert set(data) >= {"rows", "mape", "kendall_tau", "spearman", "within_10pct", "within_25pct"}
    first = data["rows"][0]
    assert first["model"] == tiny_pt2.name and first["note"] == "a" and first["batch"] == "1"
    assert first["ratio"] == pytest.approx(first["predicted_ms"] / first["measured_ms"])
    assert first["measured_ms"] == 0.5
    # batch 4 prices 4 images: slower than batch 1 on the same profile
    assert data["rows"][1]["predicted_ms"] > first["predicted_ms"]


def test_validate_plot(hwsim_cli, tiny_pt2, tmp_path):
    meas = _write(tmp_path, f"model,latency_ms\n{tiny_pt2.name},0.5\n{tiny_pt2.name},0.7\n")
    plot = tmp_path / "v.png"
    code, _, err = hwsim_cli("validate", meas, "--hw", "cpu_arm_a76", "--plot", str(plot))
    assert code == 0, err
    assert plot.read_bytes()[:4] == b"\x89PNG"


def test_fit_cli_writes_a_profile_that_loads(hwsim_cli, tiny_pt2, tmp_path):
    rows = "".join(f"{tiny_pt2.name},{0.2 * b},{b},1\n" for b in (1, 2, 4, 8, 16, 32))
    meas = _write(tmp_path, "model,latency_ms,batch,threads\n" + rows)
    out = tmp_path / "fitted.yaml"
    code, _, err = hwsim_cli(
        "fit", meas, "--hw", "cpu_arm_a76", "-o", str(out), "--params", "conv_efficiency"
    )
    assert code == 0, err
    assert "held out (leave-one-out)" in err
    code, _, err = hwsim_cli("validate", meas, "--hw", str(out))
    assert code == 0, err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "empty; expected a header"),
        ("model,latency\nresnet18,3\n", "header, column 'latency': unknown column"),
        ("model,threads\nresnet18,1\n", "required column 'latency_ms' is missing"),
        ("model,latency_ms\n", "no data rows"),
        ("model,latency_ms\nresnet18,abc\n", "row 1, column 'latency_ms': 'abc' is not a positive"),
        ("model,latency_ms\nresnet18,-2\n", "row 1, column 'latency_ms'"),
        ("model,latency_ms\nresnet18,nan\n", "row 1, column 'latency_ms'"),
        ("model,latency_ms,batch\nresnet18,3,1\nresnet18,3,0\n", "row 2, column 'batch'"),
        ("model,latency_ms,threads\nresnet18,3,two\n", "row 1, column 'threads'"),
        ("model,latency_ms,quant\nresnet18,3,int9\n", "row 1, column 'quant'"),
        ("model,latency_ms,prune\nresnet18,3,1.5\n", "row 1, column 'prune'"),
        ("model,latency_ms,input_shape\nresnet18,3,1;a\n", "row 1, column 'input_shape'"),
        ("model,latency_ms\n,3\n", "row 1, column 'model': empty"),
        ("model,latency_ms\nresnet18,3,4\n", "row 1: 3 values for 2 columns"),
        ("model,latency_ms,model\nresnet18,3,x\n", "column 'model': appears twice"),
        ("model,latency_ms\nno_such_net,3\n", "row 1, column 'model': no_such_net"),
        ("model,latency_ms\nnas201:|bad~0|,3\n", "row 1, column 'model': workload"),
    ],
)
def test_bad_measurement_files_fail_in_one_line(hwsim_cli, tmp_path, text, expected):
    meas = _write(tmp_path, text)
    line = fails_with(hwsim_cli, "validate", meas, "--hw", "cpu_arm_a76")
    assert expected in line


def test_missing_measurement_file(hwsim_cli, tmp_path):
    line = fails_with(
        hwsim_cli,
        "fit",
        str(tmp_path / "none.csv"),
        "--hw",
        "cpu_arm_a76",
        "-o",
        str(tmp_path / "x.yaml"),
    )
    assert "no such file" in line


def test_threads_on_a_gpu_row_is_named(hwsim_cli, tiny_pt2, tmp_path):
    meas = _write(tmp_path, f"model,latency_ms,threads\n{tiny_pt2.name},0.5,2\n")
    line = fails_with(hwsim_cli, "validate", meas, "--hw", "gpu_a100_trt")
    assert "row 1, column 'threads'" in line


def test_unsupported_precision_is_named(hwsim_cli, tiny_pt2, tmp_path):
    meas = _write(tmp_path, f"model,latency_ms,precision\n{tiny_pt2.name},0.5,fp8\n")
    line = fails_with(hwsim_cli, "validate", meas, "--hw", "cpu_arm_a76")
    assert "row 1, column 'precision'" in line


def test_fit_refusal_is_one_line(hwsim_cli, tiny_pt2, tmp_path):
    meas = _write(tmp_path, f"model,latency_ms\n{tiny_pt2.name},0.5\n{tiny_pt2.name},0.6\n")
    line = fails_with(hwsim_cli, "fit", meas, "--hw", "cpu_arm_a76", "-o", str(tmp_path / "x.yaml"))
    assert "at least 3 rows per parameter" in line

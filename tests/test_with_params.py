"""Varying a profile in memory (``Profile.with_params``, ``--set``) gives what a fresh process
reading the same numbers from YAML gives, on every class; bad keys and values are one line.

The fresh process is the independent reference: it shares no cache with this one, reads the
varied profile as a file, and prices the variants before the base (the opposite order of this
process), so a cache keyed by anything but the profile's value shows up as a mismatch.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from torch import nn

import hwsim
from hwsim.errors import ProfileError


class Net(nn.Module):
    """Convs, a depthwise conv, pointwise ops, pooling and a linear: every class prices them."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 32, 3, stride=2, padding=1)
        self.dw = nn.Conv2d(32, 32, 3, padding=1, groups=32)
        self.pw = nn.Conv2d(32, 64, 1)
        self.fc = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.stem(x))
        x = torch.relu(self.pw(torch.relu(self.dw(x))))
        return self.fc(x.mean((2, 3)))


# Per class, parameter sets that change the price through different code paths (arch tables,
# array shape and buffers, SM count, device budgets, clocks, memory levels, energies).
VARIANTS: dict[str, list[dict[str, object]]] = {
    "cpu_x86_avx2": [
        {"arch.efficiency.gemm": 0.05, "arch.efficiency.conv": 0.05},
        {"clock_hz": 1.5e9, "memory.dram.bandwidth_bytes_per_s": 5e9},
        {"arch.threads": 2, "overhead.per_op_s": 2e-5},
    ],
    "gpu_a100": [
        {"arch.sms": 20, "arch.mainloop_efficiency": 0.5},
        {"memory.l2.capacity_bytes": 1e6, "arch.kernel_gap_s": 1e-5},
    ],
    "tpu_edge": [
        {"arch.rows": 16, "arch.cols": 16, "peak_macs_per_cycle.int8": 256},
        {"memory.sram.capacity_bytes": 2e3, "arch.filter_sram_bytes": 1e3},
        {"arch.dataflow": "os", "energy.mac_pj.int8": 0.9},
    ],
    "eyeriss": [{"arch.word_bytes": 1, "clock_hz": 4e8}],
    "fpga_zcu104": [{"arch.dsps": 64, "arch.luts": 20000}, {"clock_hz": 1e8}],
    "fpga_zcu104_dpu": [{"arch.pixel_parallel": 4, "arch.host_s_per_input_pixel": 0.0}],
}

_CHILD = """
import json, sys, hwsim
graph = hwsim.trace(sys.argv[1])
out = {}
for path in reversed(sys.argv[2:]):  # variants first, the base last
    est = hwsim.estimate(graph, path)
    out[path] = [est.latency_s, est.energy_j, est.weight_home]
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("model") / "net.pt2"
    torch.manual_seed(0)
    program = torch.export.export(Net().eval(), (torch.randn(1, 3, 32, 32),))
    torch.export.save(program, path)
    return path


def _figures(est: hwsim.Estimate) -> list[object]:
    return [est.latency_s, est.energy_j, est.weight_home]


def test_varied_profiles_equal_a_fresh_process_reading_the_same_yaml(
    model_file: Path, tmp_path: Path
) -> None:
    graph = hwsim.trace(model_file)
    here: dict[str, list[object]] = {}
    paths: list[str] = []
    for name, variants in VARIANTS.items():
        base = hwsim.load_profile(name)
        base_path = tmp_path / f"{name}.yaml"
        base_path.write_text(yaml.safe_dump(base.to_data(), sort_keys=False))
        paths.append(str(base_path))
        here[str(base_path)] = _figures(hwsim.estimate(graph, base))  # base first: warm caches
        for i, params in enumerate(variants):
            varied = base.with_params(params)
            path = tmp_path / f"{name}_{i}.yaml"
            path.write_text(yaml.safe_dump(varied.to_data(), sort_keys=False))
            paths.append(str(path))
            here[str(path)] = _figures(hwsim.estimate(graph, varied))
            assert here[str(path)] != here[str(base_path)], (name, params)  # it changed
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, str(model_file), *paths],
        capture_output=True,
        text=True,
        check=True,
    )
    fresh = json.loads(result.stdout.strip().splitlines()[-1])
    assert fresh == here


def test_a_profile_is_a_value() -> None:
    """Equal numbers hash and compare equal whatever the source; a change is a new value."""
    a, b = hwsim.load_profile("tpu_edge"), hwsim.load_profile("tpu_edge")
    assert a == b and hash(a) == hash(b) and a is not b
    varied = a.with_params({"arch.rows": 32})
    assert varied != a and varied.arch.rows == 32 and a.arch.rows == 64
    assert varied.with_params({"arch.rows": 64}) == a


def test_the_stale_cache_cases_of_the_spine_issue(model_file: Path) -> None:
    """Issue 11's two reproductions. A CPU GEMM/conv efficiency of 0.05 is 1/0.05 = 20x slower
    MAC work than the preset's default of 1.0 (the MAC ops of this net dominate), so the
    varied latency is far above the base's; the same holds priced after the base in one
    process. On an Edge-TPU-like array, unstructured zero-skipping on a 90%-pruned model prices
    below the same profile without it, and the profile without it still prices as before."""
    graph = hwsim.trace(model_file)
    cpu = hwsim.load_profile("cpu_x86_avx2")
    fast = hwsim.estimate(graph, cpu)
    slow = hwsim.estimate(
        graph, cpu.with_params({"arch.efficiency.gemm": 0.05, "arch.efficiency.conv": 0.05})
    )
    assert slow.latency_s > 5 * fast.latency_s
    pruned = hwsim.estimate(graph, "tpu_edge", prune="0.9").graph
    # An 8x8 array, so that reductions of 27-288 span several row folds that zeros can skip.
    tpu = hwsim.load_profile("tpu_edge").with_params(
        {"arch.rows": 8, "arch.cols": 8, "peak_macs_per_cycle.int8": 64}
    )
    dense_format = hwsim.estimate(pruned, tpu)
    skipping = tpu.with_params(
        {"sparsity.patterns": ["unstructured"], "sparsity.compressed_weights": True}
    )
    assert hwsim.estimate(pruned, skipping).latency_s < dense_format.latency_s
    assert hwsim.estimate(pruned, tpu).latency_s == dense_format.latency_s


def test_bandwidth_forms_replace_each_other() -> None:
    """Setting bandwidth_bytes_per_cycle on a level given per second replaces it: 64 B/cycle
    at tpu_edge's USB efficiency (read from its YAML) is 64 x that efficiency per cycle."""
    base = hwsim.load_profile("tpu_edge")
    efficiency = base.to_data()["memory"][-1]["efficiency"]
    varied = base.with_params({"memory.host.bandwidth_bytes_per_cycle": 64})
    assert varied.level("host").bandwidth_bytes_per_cycle == pytest.approx(64 * efficiency)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"arch.rowz": 3}, "arch/rowz': unknown key for a systolic profile (did you mean 'rows'"),
        ({"arch.rows": 0}, "arch/rows"),
        ({"arch.rows": 64.5}, "arch/rows"),
        ({"arch.dataflow": "xx"}, "arch/dataflow"),
        ({"clock_hz": float("nan")}, "clock_hz': must be a finite number"),
        ({"clock_hz": float("inf")}, "clock_hz': must be a finite number"),
        ({"memory.nosuch.capacity_bytes": 1}, "no memory level 'nosuch' (levels: sram, host)"),
        ({"memory.sram": 1}, "name a level and a field"),
        ({"hw_class": "gpu"}, "cannot be changed"),
        ({"clock_hz.x": 1}, "'clock_hz' is a value, not a section"),
        ({"arch.word_bytes": 0}, "arch/word_bytes"),
        ({"nosuch": 1}, "nosuch"),
    ],
)
def test_bad_params_name_the_key(params: dict[str, object], expected: str) -> None:
    with pytest.raises(ProfileError) as err:
        hwsim.load_profile("tpu_edge").with_params(params)
    assert expected in str(err.value)
    assert "\n" not in str(err.value)


def test_set_on_the_command_line_equals_with_params(hwsim_cli, model_file: Path) -> None:
    code, out, _ = hwsim_cli(
        "estimate",
        str(model_file),
        "--hw",
        "tpu_edge",
        "--set",
        "arch.rows=32",
        "--set",
        "arch.cols=32",
        "--set",
        "clock_hz=1e9",
        "--format",
        "json",
    )
    assert code == 0
    varied = hwsim.load_profile("tpu_edge").with_params(
        {"arch.rows": 32, "arch.cols": 32, "clock_hz": 1e9}
    )
    expected = hwsim.estimate(hwsim.trace(model_file), varied)
    doc = json.loads(out)
    assert doc["total"]["latency_s"] == pytest.approx(expected.latency_s, rel=1e-12)


@pytest.mark.parametrize(
    ("assignment", "expected"),
    [
        ("arch.rowz=3", "did you mean 'rows'"),
        ("arch.rows=0", "arch/rows"),
        ("clock_hz=.nan", "finite"),
        ("arch.rows", "expected KEY=VALUE"),
        ("arch.rows=[1,", "not a valid value"),
    ],
)
def test_bad_set_is_one_line(hwsim_cli, model_file: Path, assignment: str, expected: str) -> None:
    args = ("estimate", str(model_file), "--hw", "tpu_edge", "--set", assignment)
    code, _out, err = hwsim_cli(*args)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1, err
    assert lines[0].startswith("error: ") and expected in lines[0]

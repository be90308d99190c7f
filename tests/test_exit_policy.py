"""The exit-status policy of ``hwsim`` (docs/security.md): 0 done, 2 the input or flags are at
fault, 3 a bug in hwsim, 130 interrupted; whatever goes wrong is one line on stderr, and the
traceback only with ``--debug`` or ``HWSIM_DEBUG=1``."""

from __future__ import annotations

import math
import subprocess
import sys
from dataclasses import replace

import pytest
import torch
from torch import nn

from hwsim.costmodels.registry import hw_class
from hwsim.ops import OpKind

HINT = "(rerun with --debug for the traceback)"


def lines_of(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = tmp_path_factory.mktemp("exit") / "tiny.pt2"
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()).eval()
    torch.export.save(torch.export.export(model, (torch.zeros(1, 3, 8, 8),)), str(path))
    return path


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["estimate", "resnet18"], "error: hwsim estimate: Missing option '--hw'."),
        (["estimate", "x", "--hw", "tpu_edge", "--top", "two"], "Invalid value for '--top'"),
        (["estimate", "x", "--hw", "tpu_edge", "--nope"], "No such option: --nope"),
        (["estimat", "x"], "error: hwsim: No such command 'estimat'."),
        (["estimate", "x", "--hw", "tpu_edge", "--format", "xml"], "'xml' is not one of"),
    ],
)
def test_usage_errors_are_one_line_with_exit_2(hwsim_cli, args, expected):
    """typer printed these as a usage line, a hint and a framed box (five lines)."""
    code, out, err = hwsim_cli(*args)
    assert code == 2 and out == ""
    (line,) = lines_of(err)
    assert expected in line and line.endswith("--help')")


def test_help_exits_0_and_no_command_shows_it_with_2(hwsim_cli):
    code, out, _ = hwsim_cli("--help")
    assert code == 0 and "Exit status: 0 done; 2 bad input" in out and "--debug" in out
    code, out, _ = hwsim_cli()
    assert code == 2 and "estimate" in out


@pytest.fixture
def broken_conv(monkeypatch):
    """A cost-model bug on demand: the CPU table's conv entry replaced for one test."""

    def install(fn):
        monkeypatch.setitem(hw_class("cpu").table, OpKind.CONV, fn)

    return install


def _boom(op, ctx):
    raise RuntimeError("boom\nsecond line of the message")


def test_a_bug_is_one_line_with_exit_3(hwsim_cli, tiny, broken_conv):
    broken_conv(_boom)
    code, _, err = hwsim_cli("estimate", str(tiny), "--hw", "cpu_x86_avx2")
    assert code == 3
    assert lines_of(err) == [
        f"error: internal error: RuntimeError: boom second line of the message {HINT}"
    ]


@pytest.mark.parametrize("where", ["first", "last"])
def test_debug_shows_the_traceback(hwsim_cli, tiny, broken_conv, where):
    broken_conv(_boom)
    args = ["estimate", str(tiny), "--hw", "cpu_x86_avx2"]
    args = ["--debug", *args] if where == "first" else [*args, "--debug"]
    code, _, err = hwsim_cli(*args)
    assert code == 3
    assert err.startswith("Traceback (most recent call last):") and "in _boom" in err
    assert (
        lines_of(err)[-1] == "error: internal error: RuntimeError: boom second line of the message"
    )


def test_debug_from_the_environment(hwsim_cli, tiny, broken_conv, monkeypatch):
    broken_conv(_boom)
    monkeypatch.setenv("HWSIM_DEBUG", "1")
    code, _, err = hwsim_cli("estimate", str(tiny), "--hw", "cpu_x86_avx2")
    assert code == 3 and "Traceback" in err


def test_a_non_finite_price_is_refused_not_printed(hwsim_cli, tiny, broken_conv):
    """No NaN or infinity reaches an output: a cost function that produced one is a bug."""
    table = hw_class("cpu").table
    good = table[OpKind.CONV]
    broken_conv(lambda op, ctx: replace(good(op, ctx), cycles=math.inf))
    code, out, err = hwsim_cli("estimate", str(tiny), "--hw", "cpu_x86_avx2", "--format", "json")
    assert code == 3 and out == ""
    (line,) = lines_of(err)
    assert line.startswith("error: internal error: FloatingPointError: cpu_x86_avx2: op ")


def test_interrupt_exits_130(hwsim_cli, tiny, broken_conv):
    def interrupt(op, ctx):
        raise KeyboardInterrupt

    broken_conv(interrupt)
    code, _, err = hwsim_cli("estimate", str(tiny), "--hw", "cpu_x86_avx2")
    assert code == 130 and lines_of(err) == ["error: interrupted"]


def test_the_installed_entry_point_follows_the_policy():
    """The console script, not just ``cli.main``: a usage error and user errors, exit 2. The
    third fails inside torch.export, where torch logged the failed fake-tensor op with its
    traceback (a dozen 'E1202 ...' lines) above hwsim's line: shown with --debug only."""
    shape = ["estimate", "resnet8_cifar10", "--hw", "tpu_edge", "--input-shape", "1,3,200,200"]
    runs = [
        [sys.executable, "-c", "from hwsim.cli import main; main()", *args]
        for args in (["estimate", "x"], ["estimate", "no_such.pt2", "--hw", "tpu_edge"], shape)
    ]
    for argv in runs:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        assert done.returncode == 2, done.stderr
        assert len(lines_of(done.stderr)) == 1 and done.stderr.startswith("error: ")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("chart.xyz", "the chart's format follows the file's suffix: .png, .svg or .pdf"),
        ("chart", "the chart's format follows the file's suffix"),
        ("missing/chart.png", "no such directory"),
    ],
)
def test_memory_plot_path_is_checked_before_tracing(hwsim_cli, tiny, tmp_path, name, expected):
    """matplotlib's ValueError and FileNotFoundError were internal errors (exit 3), after the
    model was traced."""
    code, out, err = hwsim_cli(
        "memory", str(tiny), "--hw", "mcu_stm32h743", "--plot", str(tmp_path / name)
    )
    (line,) = lines_of(err)
    assert code == 2 and out == "" and expected in line


def test_memory_plot_write_failure_is_one_line(hwsim_cli, tiny, tmp_path):
    """A chart that cannot be written is one line and no partial file; /dev/full as a chart
    was reported written with exit 0 (matplotlib's PNG writer dropped the ENOSPC)."""
    target = tmp_path / "chart.png"
    target.mkdir()  # the name exists and is a directory
    code, _, err = hwsim_cli("memory", str(tiny), "--hw", "mcu_stm32h743", "--plot", str(target))
    (line,) = lines_of(err)
    assert code == 2 and "is a directory" in line

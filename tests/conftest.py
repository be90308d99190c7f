"""Shared fixtures: each built-in workload is traced once per test session (tracing is the
slow part; estimating a traced graph takes milliseconds), and its MACs are counted once by
``torch.utils.flop_counter``, an independent counter, on the same built model."""

from __future__ import annotations

import os
import sys
import tempfile

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

# The graph cache of this test session lives in a fresh directory, never the user's.
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="hwsim-test-cache-")

import hwsim
from hwsim import cli
from hwsim.graph import OpGraph
from hwsim.workloads import get_workload

_GRAPHS: dict[str, OpGraph] = {}
_FLOP_COUNTER_MACS: dict[str, float] = {}
_MODELS: dict[str, torch.nn.Module] = {}


def _cpu_sdpa_flop(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    """FlopCounterMode has formulas for the CUDA attention kernels only and counts the CPU
    kernel as zero; its work is the same QKᵀ and AV matmuls."""
    return int(sdpa_flop_count(query_shape, key_shape, value_shape))


def _trace_and_count(name: str) -> None:
    """Build the workload once: count its MACs with FlopCounterMode (a multiply-accumulate is
    two FLOPs), then trace the same module as ``hwsim.trace(name)`` would."""
    workload = get_workload(name)
    model, inputs = workload.build().eval(), workload.make_inputs(1)
    mapping = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _cpu_sdpa_flop}
    with FlopCounterMode(display=False, custom_mapping=mapping) as counter, torch.no_grad():
        model(*inputs)
    _FLOP_COUNTER_MACS[name] = counter.get_total_flops() / 2
    _GRAPHS[name] = hwsim.trace(model, example_inputs=inputs)
    _MODELS[name] = model


def traced(name: str) -> OpGraph:
    if name not in _GRAPHS:
        _trace_and_count(name)
    return _GRAPHS[name]


def flop_counter_macs(name: str) -> float:
    if name not in _FLOP_COUNTER_MACS:
        _trace_and_count(name)
    return _FLOP_COUNTER_MACS[name]


@pytest.fixture(scope="session")
def graph_of():
    return traced


def built(name: str) -> torch.nn.Module:
    if name not in _MODELS:
        _trace_and_count(name)
    return _MODELS[name]


@pytest.fixture(scope="session")
def model_of():
    """The built (eval-mode) module that ``graph_of`` traced, weights and all."""
    return built


@pytest.fixture(scope="session")
def counted_macs():
    """MACs of one forward pass of a built-in workload, by torch.utils.flop_counter."""
    return flop_counter_macs


@pytest.fixture
def hwsim_cli(monkeypatch, capsys):
    """Run ``hwsim ARGS...`` in-process through ``cli.main`` (so the one-line error handling
    and exit codes are the real ones) and return (exit code, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["hwsim", *args])
        with pytest.raises(SystemExit) as exit_info:
            cli.main()
        out, err = capsys.readouterr()
        code = exit_info.value.code
        return (code if isinstance(code, int) else 1), out, err

    return run

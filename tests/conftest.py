"""Shared fixtures: each built-in workload is traced once per test session (tracing is the
slow part; estimating a traced graph takes milliseconds)."""

from __future__ import annotations

import sys

import pytest

import hwsim
from hwsim import cli
from hwsim.graph import OpGraph

_GRAPHS: dict[str, OpGraph] = {}


def traced(name: str) -> OpGraph:
    if name not in _GRAPHS:
        _GRAPHS[name] = hwsim.trace(name)
    return _GRAPHS[name]


@pytest.fixture(scope="session")
def graph_of():
    return traced


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

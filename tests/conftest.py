"""Shared fixtures: each built-in workload is traced once per test session (tracing is the
slow part; estimating a traced graph takes milliseconds)."""

from __future__ import annotations

import pytest

import hwsim
from hwsim.graph import OpGraph

_GRAPHS: dict[str, OpGraph] = {}


def traced(name: str) -> OpGraph:
    if name not in _GRAPHS:
        _GRAPHS[name] = hwsim.trace(name)
    return _GRAPHS[name]


@pytest.fixture(scope="session")
def graph_of():
    return traced

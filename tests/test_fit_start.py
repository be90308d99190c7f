"""A fit recovers a parameter whose start is on its bound (a time that defaults to 0)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import hwsim
from hwsim.fit import Case, Measurement, fit, predict_ms


def _cases(latencies_ms: list[float]) -> list[Case]:
    graphs = [
        hwsim.trace(
            nn.Sequential(nn.Linear(64, 64), nn.ReLU()), example_inputs=(torch.zeros(b, 64),)
        )
        for b in (1, 8, 64)
    ]
    return [
        Case(Measurement("synthetic.csv", i + 1, f"mlp{i}", ms), g)
        for i, (g, ms) in enumerate(zip(graphs, latencies_ms, strict=True))
    ]


@pytest.mark.parametrize("start", [0.0, 20e-6])
def test_fit_moves_a_time_off_its_zero_default(start):
    """Latencies made with ``inference_overhead_s`` = 300 us give 300 us back, from its
    default of 0 (the lower bound) as from inside the range. Before the fit started inside
    its bounds, a start at 0 stayed at 0 (the solver's first step was 1e-9 and its step
    test, relative to the value, called that converged)."""
    base = hwsim.load_profile("gpu_a100_trt").with_params({"arch.inference_overhead_s": start})
    truth = base.with_params({"arch.inference_overhead_s": 300e-6})
    cases = _cases(predict_ms(_cases([1.0] * 3), truth, None))
    result = fit(base, cases, params=["inference_overhead_s"], cross_validate=False)
    assert result.params[0].value == pytest.approx(300e-6, rel=0.01)

"""The end-to-end stage of ``hwsim calibrate``: timed reference models in, fitted overhead
terms out (``calibrate_e2e.fit_timings``), on timings synthesized from a known profile so
the right answer is known without timing anything."""

from __future__ import annotations

from pathlib import Path

import pytest

import hwsim
from hwsim.calibrate_e2e import (
    REFERENCE_MODELS,
    ModelTiming,
    fit_timings,
    profile_lines,
    speed_params,
)
from hwsim.fit import predict_ms
from hwsim.fit.measurements import Case, Measurement
from hwsim.frontend.trace import trace

HOST = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "cpu_host_profile.yaml"
MODELS = REFERENCE_MODELS[:3]


@pytest.fixture(scope="module")
def graphs():
    return {n: trace(n) for n in MODELS}


def _timings(profile: hwsim.Profile, speed: float, graphs) -> list[ModelTiming]:
    """What the stage would record on a machine that runs as ``profile`` predicts: each
    model's ratio to a speed reference whose median latency is ``speed`` ms in every
    process (so the typical latency is exactly the prediction)."""
    cases = [
        Case(Measurement("t", i + 1, n, 1.0, threads=1), graphs[n]) for i, n in enumerate(MODELS)
    ]
    return [
        ModelTiming(n, 1, ms, ms, ms, 10, speed, ms / speed)
        for n, ms in zip(MODELS, predict_ms(cases, profile, 1), strict=True)
    ]


def test_recovers_a_known_dispatch_scale(graphs):
    """Timings made with dispatch x1.8 are fitted back to 1.8 from the micro-benchmark
    profile; ``module_call_s`` (MobileNet v1 enters 2 containers: no row depends on it) is
    not fitted and keeps its value."""
    truth = hwsim.load_profile(HOST).with_params({"arch.dispatch_scale": 1.8})
    result = fit_timings(HOST, _timings(truth, 7.0, graphs), graphs=graphs)
    assert result.fitted_names() == ["dispatch_scale"]
    assert result.params[0].value == pytest.approx(1.8, rel=0.02)
    assert result.before.median_ratio < 0.9  # the micro-benchmarks alone were too fast
    assert result.after.mape < 0.01


def test_profile_lines_record_the_rows(graphs):
    """The lines written into the profile carry the fitted value and every timed row."""
    truth = hwsim.load_profile(HOST).with_params({"arch.dispatch_scale": 1.5})
    timings = _timings(truth, 5.0, graphs)
    result = fit_timings(HOST, timings, graphs=graphs)
    arch, info = profile_lines(result, timings)
    assert arch[0].startswith("  dispatch_scale: 1.5")
    assert len(info) == 1 + len(MODELS)
    assert all(f"'{n}'" in line for n, line in zip(MODELS, info[1:], strict=True))


def test_speed_params_scale_every_micro_benchmarked_time():
    """A machine 1.25x as slow: dispatch times x1.25; efficiencies and bandwidths / 1.25."""
    assert speed_params(1.25) == pytest.approx(
        {
            "arch.dispatch_scale": 1.25,
            "arch.efficiency_scale.gemm": 0.8,
            "arch.efficiency_scale.conv": 0.8,
            "arch.efficiency_scale.depthwise": 0.8,
            "arch.bandwidth_scale": 0.8,
        }
    )


def test_micro_benchmarks_are_brought_to_the_stage_speed(graphs):
    """The rows come from a machine 1.25x as slow as the micro-benchmarks saw it, and the
    speed reference says so (4.0 ms around the micro-benchmarks, 5.0 ms during the stage).
    Brought to the stage's speed, the base profile predicts the rows already (before the fit,
    MAPE under 1%), the fit keeps dispatch_scale at 1.25, and the terms it does not fit keep
    their speed correction, 1 / 1.25 = 0.8, in the profile it writes."""
    truth = hwsim.load_profile(HOST).with_params(speed_params(1.25))
    timings = _timings(truth, 5.0, graphs)
    result = fit_timings(HOST, timings, graphs=graphs, micro_reference_ms=4.0)
    assert result.before.mape < 0.01
    assert result.fitted_names() == ["dispatch_scale"]
    assert result.params[0].value == pytest.approx(1.25, rel=0.02)
    arch, info = profile_lines(result, timings, micro_reference_ms=4.0)
    assert arch[0].startswith("  dispatch_scale: 1.25")
    assert arch[1] == "  efficiency_scale:"
    assert [line.split("#")[0].strip() for line in arch[2:]] == [
        "gemm: 0.8",
        "conv: 0.8",
        "depthwise: 0.8",
        "bandwidth_scale: 0.8",
    ]
    assert info[:3] == [
        info[0],
        "    micro_benchmarks_ms: 4  # before and after them",
        "    end_to_end_ms: 5  # median over the stage's processes",
    ]

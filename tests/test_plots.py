"""Plots: a roofline point per op that does arithmetic through memory, a bar per op (or the
slowest ones and the rest), written as real image files."""

from __future__ import annotations

import pytest

import hwsim
from hwsim.plots import (
    PLOTS,
    PlotError,
    layers_figure,
    operations,
    roofline_figure,
    save_plot,
    timeline_figure,
)


@pytest.mark.parametrize("hw", ["tpu_edge", "gpu_a100", "cpu_x86_avx2", "fpga_zcu104_dpu"])
def test_roofline_has_a_point_per_op(graph_of, hw):
    est = hwsim.estimate(graph_of("resnet18"), hw)
    fig = roofline_figure(est)
    points = sum(len(c.get_offsets()) for c in fig.axes[0].collections)
    expected = [op for op, c in est.costs if c is not None and c.cycles > 0 and operations(op) > 0]
    assert 0 < points <= len(expected)
    # Every plotted rate is the op's arithmetic over its latency, never above the class peak x2.
    ys = [y for c in fig.axes[0].collections for _, y in c.get_offsets()]
    peak = 2 * max(est.profile.peak_macs_per_cycle.values()) * est.profile.clock_hz
    assert max(ys) <= peak * 1.0001


def test_layers_bars_are_the_slowest_ops_and_the_rest(graph_of):
    est = hwsim.estimate(graph_of("mobilenet_v2"), "gpu_a100")
    priced = [c for _, c in est.costs if c is not None and c.cycles > 0]
    fig = layers_figure(est, top=10)
    bars = fig.axes[0].patches
    assert len(bars) == 11
    widths = sorted((b.get_width() for b in bars[:-1]), reverse=True)
    slowest = sorted((c.latency_s * 1e6 for c in priced), reverse=True)[:10]
    assert widths == pytest.approx(slowest)  # in µs: the bars are the ten slowest ops
    rest = sum(c.latency_s for c in priced) * 1e6 - sum(widths)
    assert bars[-1].get_width() == pytest.approx(rest)


@pytest.mark.parametrize("hw", ["tpu_edge", "fpga_u250", "fpga_zcu104_dpu"])
def test_timeline_draws_every_trace_event(graph_of, hw):
    from hwsim.trace_events import trace_events

    est = hwsim.estimate(graph_of("resnet18"), hw)
    fig = timeline_figure(est)
    drawn = sum(len(c.get_paths()) for c in fig.axes[0].collections)
    assert drawn == sum(1 for e in trace_events(est) if e["ph"] == "X")
    assert fig.axes[0].get_xlim()[1] == pytest.approx(est.latency_s * 1e3, rel=1e-9)  # ms


@pytest.mark.parametrize("kind", sorted(PLOTS))
def test_save_writes_an_image(graph_of, tmp_path, kind):
    est = hwsim.estimate(graph_of("resnet18"), "tpu_edge")
    png = save_plot(est, kind, tmp_path / f"{kind}.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = save_plot(est, kind, tmp_path / f"{kind}.svg")
    assert b"<svg" in svg.read_bytes()[:500]
    with pytest.raises(PlotError, match="--kind 'pie'"):
        save_plot(est, "pie", tmp_path / "x.png")
    with pytest.raises(PlotError, match="suffix"):
        save_plot(est, kind, tmp_path / "x.bmp")

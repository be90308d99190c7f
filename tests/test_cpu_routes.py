"""Eager PyTorch's two conv paths and its max pooling, as the CPU model prices them: which
convs oneDNN runs (``takes_onednn``, checked against what torch itself dispatches), the
dispatch each path pays, and the tap rate of max pooling."""

from __future__ import annotations

import textwrap

import pytest
import torch
from test_cpu_model import CPU
from torch import nn

import hwsim
from hwsim.costmodels.cpu import takes_onednn
from hwsim.ops import OpKind

# (input shape, weight shape, stride, groups, threads, oneDNN?), each by ATen's
# ConvParams::use_mkldnn: (strided or dilated or batch >= 16 or kernel not 1x1 or threads > 1)
# and (groups > 1 or both kernel dims > 3 or batch > 1 or input elements > 20480).
CASES = [
    # 1x1, unstrided, 1 thread: native ("THNN is faster when single-threaded")
    ((1, 64, 56, 56), (32, 64, 1, 1), 1, 1, 1, False),
    # the same on 2 threads: oneDNN (200,704 input elements)
    ((1, 64, 56, 56), (32, 64, 1, 1), 1, 1, 2, True),
    # a strided 1x1 shortcut over 100,352 elements: oneDNN
    ((1, 32, 56, 56), (64, 32, 1, 1), 2, 1, 1, True),
    # 3x3 over 256 x 7 x 7 = 12,544 elements: native (ResNet's last stage at half width)
    ((1, 256, 7, 7), (256, 256, 3, 3), 1, 1, 1, False),
    # 3x3 just above and just below 20,480 elements (20,736 and 19,600)
    ((1, 16, 36, 36), (16, 16, 3, 3), 1, 1, 1, True),
    ((1, 16, 35, 35), (16, 16, 3, 3), 1, 1, 1, False),
    # a 5x5 kernel or a grouped (depthwise) conv at any size: oneDNN
    ((1, 8, 4, 4), (8, 8, 5, 5), 1, 1, 1, True),
    ((1, 8, 4, 4), (8, 1, 3, 3), 1, 8, 1, True),
]


@pytest.mark.parametrize(("shape", "weight", "stride", "groups", "threads", "onednn"), CASES)
def test_takes_onednn_matches_what_torch_dispatches(shape, weight, stride, groups, threads, onednn):
    """The rule gives the hand-derived answer, and torch's profiler sees the conv run as
    ``aten::mkldnn_convolution`` exactly when it does (else ``aten::_slow_conv2d_forward``)."""
    kernel = weight[2:]
    rule = takes_onednn(
        shape, kernel, strided=stride > 1, dilated=False, groups=groups, threads=threads
    )
    assert rule is onednn
    if not torch.backends.mkldnn.is_available():
        pytest.skip("torch built without oneDNN")
    x, w = torch.randn(shape), torch.randn(weight)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.no_grad(), torch.profiler.profile() as prof:
            torch.conv2d(x, w, stride=stride, padding=kernel[0] // 2, groups=groups)
    finally:
        torch.set_num_threads(before)
    names = {e.name for e in prof.events()}
    assert ("aten::mkldnn_convolution" in names) is onednn
    assert ("aten::_slow_conv2d_forward" in names) is (not onednn)


def _profile(tmp_path, dispatch: str, loops: str = "") -> hwsim.Profile:
    text = textwrap.dedent(CPU).replace(
        "      dispatch_s: {conv: 1.0e-5, norm: 2.0e-5, pointwise: 1.0e-6}\n"
        "      stream_bytes_per_s: {l1: 3.2e10, dram: 4.0e9}",
        f"      dispatch_s: {dispatch}\n      stream_bytes_per_s: {{l1: 3.2e10, dram: 4.0e9}}"
        + (f"\n      loop_ops_per_s: {loops}" if loops else ""),
        1,
    )
    path = tmp_path / "routes.yaml"
    path.write_text(text)
    return hwsim.load_profile(path)


def _conv_overhead(profile: hwsim.Profile, groups: int) -> float:
    conv = nn.Conv2d(16, 16, 3, padding=1, groups=groups, bias=False)
    graph = hwsim.trace(conv.eval(), example_inputs=(torch.zeros(1, 16, 16, 16),))
    est = hwsim.estimate(graph, profile, threads=1)
    (cost,) = [c for o, c in est.costs if o.kind is OpKind.CONV]
    return cost.overhead_cycles


def test_conv_dispatch_follows_the_path_torch_takes(tmp_path):
    """At 1 GHz with ``dispatch_s`` {conv: 10 us, conv_onednn: 40 us}: a dense 3x3 conv over
    16 x 16 x 16 (4,096 elements) stays native and pays 10,000 cycles; the depthwise conv of
    the same shape goes to oneDNN and pays 40,000. A profile calibrated before the oneDNN
    entry existed prices both as ``conv``."""
    both = _profile(tmp_path, "{conv: 1.0e-5, conv_onednn: 4.0e-5, pointwise: 1.0e-6}")
    assert _conv_overhead(both, groups=1) == pytest.approx(10_000)
    assert _conv_overhead(both, groups=16) == pytest.approx(40_000)
    older = _profile(tmp_path, "{conv: 1.0e-5, pointwise: 1.0e-6}")
    assert _conv_overhead(older, groups=16) == pytest.approx(10_000)


def test_max_pooling_runs_at_its_own_tap_rate(tmp_path):
    """3x3 windows, stride 1, padding 1, over 16 x 32 x 32: 16 x 1,024 outputs x 9 taps =
    147,456 taps. At 1 GHz, avg pooling at 1e9 taps/s takes 147,456 cycles; max pooling at
    its own 2.5e8 taps/s takes 589,824."""
    profile = _profile(tmp_path, "{pointwise: 1.0e-6}", loops="{pool: 1.0e9, max_pool: 2.5e8}")
    compute = {}
    for name, pool in (("avg", nn.AvgPool2d(3, 1, 1)), ("max", nn.MaxPool2d(3, 1, 1))):
        graph = hwsim.trace(pool, example_inputs=(torch.zeros(1, 16, 32, 32),))
        est = hwsim.estimate(graph, profile, threads=1)
        (cost,) = [c for o, c in est.costs if o.kind is OpKind.POOL]
        compute[name] = cost.compute_cycles
    assert compute == pytest.approx({"avg": 147_456, "max": 589_824})

"""Cost-model terms a fit moves: calls of Python modules (counted by the frontend per op),
per-precision CPU efficiency, the GPU's once-per-inference overhead; checked against eager
torch's own call counts and by hand."""

from __future__ import annotations

import pytest
import torch

import hwsim
from hwsim.workloads import nas201

BEST = (
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|"
    "+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
)
NO_SKIP = "|nor_conv_3x3~0|+|avg_pool_3x3~0|nor_conv_1x1~1|+|none~0|nor_conv_3x3~1|avg_pool_3x3~2|"


def test_module_calls_count_every_eager_call_the_graph_sees():
    """Eager calls of nn.Modules, counted by a global forward pre-hook, equal the calls the
    frontend records (``Op.module_calls``) plus the batch-norm calls folded into convs; this
    cell has no skip_connect, whose nn.Identity adds a call but no op."""
    model = nas201.build(NO_SKIP)
    calls = [0]

    def count(module, inputs):
        calls[0] += 1

    handle = torch.nn.modules.module.register_module_forward_pre_hook(count)
    try:
        with torch.no_grad():
            model(*nas201.example_input())
    finally:
        handle.remove()
    graph = hwsim.trace(model, example_inputs=nas201.example_input())
    recorded = sum(op.module_calls for op in graph.ops)
    folded = sum(len(op.folded) for op in graph.ops)
    assert recorded + folded == calls[0]


def test_container_calls_priced_per_eager_call():
    """With ``arch.module_call_s`` = 10 us the CPU estimate grows by 10 us per eager call of a
    module whose forward is Python (containers, the network's own modules), counted here by a
    forward pre-hook on the eager model; torch.nn layers (conv, batch-norm, ReLU, pooling,
    linear) are priced by their own module dispatch and are not counted."""
    model = nas201.build(NO_SKIP)
    layer_types = (
        torch.nn.Conv2d,
        torch.nn.BatchNorm2d,
        torch.nn.ReLU,
        torch.nn.AvgPool2d,
        torch.nn.AdaptiveAvgPool2d,
        torch.nn.Linear,
    )
    python_calls = [0]

    def count(module, inputs):
        python_calls[0] += not isinstance(module, layer_types)

    handle = torch.nn.modules.module.register_module_forward_pre_hook(count)
    try:
        with torch.no_grad():
            model(*nas201.example_input())
    finally:
        handle.remove()
    graph = hwsim.trace(model, example_inputs=nas201.example_input())
    base = hwsim.load_profile("cpu_arm_a76")
    with_calls = base.with_params({"arch.module_call_s": 10e-6})
    extra = hwsim.estimate(graph, with_calls, threads=1).latency_s
    extra -= hwsim.estimate(graph, base, threads=1).latency_s
    assert extra == pytest.approx(python_calls[0] * 10e-6, rel=1e-6)


def test_int8_precision_efficiency_scales_mac_time():
    """``precision_efficiency.int8`` = 0.5 halves the int8 rate: a compute-bound int8 conv
    takes twice as long; fp32 ops are untouched."""
    base = hwsim.load_profile("cpu_arm_a76").with_params({"arch.efficiency": {"conv": 0.5}})
    half = base.with_params({"arch.precision_efficiency.int8": 0.5})
    graph = hwsim.trace("nas201:" + BEST)
    convs = [op.id for op in graph.ops if op.kind is hwsim.OpKind.CONV]
    for precision, factor in (("int8", 2.0), ("fp32", 1.0)):
        slow = hwsim.estimate(graph, half, threads=1, precision=precision).table.set_index("id")
        fast = hwsim.estimate(graph, base, threads=1, precision=precision).table.set_index("id")
        ratio = slow.loc[convs, "compute_cycles"] / fast.loc[convs, "compute_cycles"]
        assert ratio.to_numpy() == pytest.approx(factor)


def test_gpu_inference_overhead_is_charged_once_on_the_first_kernel():
    """``arch.inference_overhead_s`` = 300 us adds 300 us to the total, all of it on the first
    op that launches a kernel (the stem conv), whose notes say so."""
    graph = hwsim.trace("nas201:" + BEST)
    base = hwsim.load_profile("gpu_a100_trt")
    slow = base.with_params({"arch.inference_overhead_s": 300e-6})
    before = hwsim.estimate(graph, base).table.set_index("id")
    after = hwsim.estimate(graph, slow).table.set_index("id")
    extra = after["latency_s"] - before["latency_s"]
    assert extra.sum() == pytest.approx(300e-6, rel=1e-9)
    assert extra.iloc[0] == pytest.approx(300e-6, rel=1e-9)
    assert "once per inference" in after["notes"].iloc[0]

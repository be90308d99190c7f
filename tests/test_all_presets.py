"""Every built-in workload on every preset: complete, consistent estimates.

These are invariants rather than golden latencies (the per-class detail is validated in the
class models' own tests): totals are sums of layers, nothing is unpriced, MACs are the graph's,
and weights too big for on-chip memory are placed off chip.
"""

from __future__ import annotations

import math

import pytest

import hwsim
from hwsim.workloads import workload_names

PRESETS = hwsim.preset_names()


def test_required_presets_exist():
    required = {
        "cpu_x86_avx2",
        "cpu_arm_a76",
        "gpu_a100",
        "gpu_h100",
        "gpu_orin",
        "tpu_edge",
        "tpu_v1",
        "eyeriss",
        "fpga_zcu104",
    }
    assert required <= set(PRESETS)


@pytest.mark.parametrize("workload", workload_names())
def test_workload_on_every_preset(graph_of, workload):
    graph = graph_of(workload)
    assert graph.unsupported == []
    for name in PRESETS:
        est = hwsim.estimate(graph, name)
        total = est.to_dict()["total"]
        assert est.complete, (workload, name)
        layers = est.layers()
        layer_sum = sum(layer["latency_s"] for layer in layers)
        if est.graph_cost is None:
            assert math.isclose(layer_sum, total["latency_s"], rel_tol=1e-9)
        elif est.profile.arch.style == "streaming":  # pipeline: the critical path
            assert total["latency_s"] <= layer_sum * (1 + 1e-9) + 1e-3, (workload, name)
        assert math.isclose(
            sum(total["energy_breakdown_j"].values()), total["energy_j"], rel_tol=1e-9
        )
        assert total["macs"] == graph.macs
        assert 0 < total["utilization"] <= 1.0 + 1e-9, (workload, name)
        assert all(layer["cycles"] >= layer["compute_cycles"] - 1e-6 for layer in layers)
        assert total["latency_s"] > 0


def test_tpu_edge_streams_resnet50_weights_but_keeps_mobilenet_on_chip(graph_of):
    """ResNet-50 has 25.6 M parameters (25.6 MB as int8) > 8 MiB of Edge TPU SRAM; MobileNetV2
    has 3.5 M (3.5 MB), which fits."""
    assert hwsim.estimate(graph_of("resnet50"), "tpu_edge").weight_home == "host"
    assert hwsim.estimate(graph_of("mobilenet_v2"), "tpu_edge").weight_home == "sram"


def test_batch_amortises_gpu_launches(graph_of):
    """Per-image latency on an H100 falls with batch: launches and weight reads are shared."""
    one = hwsim.estimate(graph_of("resnet18"), "gpu_h100")
    eight = hwsim.estimate(hwsim.trace("resnet18", batch=8), "gpu_h100")
    assert eight.latency_s / 8 < one.latency_s / 2

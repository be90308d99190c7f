"""NAS latency feedback: the Predictor, the per-op cost cache and the block LatencyTable.

References: a fresh ``hwsim.estimate`` of the same model traced by torch.export (for the
Predictor), a fresh uncached pricing (for the cache), the Predictor on the composed network
(for the table), and autograd against the hand-derived gradient of FBNet's expectation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import hwsim
from hwsim.costmodels import register_cost
from hwsim.costmodels.cache import OpCostCache
from hwsim.costmodels.registry import cost_table
from hwsim.costmodels.systolic_arch import SystolicArch
from hwsim.costmodels.systolic_plan import device_plan
from hwsim.errors import ProfileError
from hwsim.estimate import price
from hwsim.nas import LatencyTable, Position, Predictor
from hwsim.ops import OpKind
from hwsim.workloads import mbconv_space

GOLDEN = str(Path(__file__).parent / "golden" / "scalesim" / "configs" / "a8x8_ws_user_bw2.cfg")
PER_OP_CLASSES = (
    "cpu_x86_avx2",
    "gpu_a100",
    "gpu_orin_trt",
    "tpu_edge",
    "eyeriss",
    "tpu_v1",
    "mcu_stm32h743",
)


class Edge(nn.Module):
    """ReLU-conv-BN, the NAS-Bench-201 conv edge."""

    def __init__(self, c: int, k: int) -> None:
        super().__init__()
        self.op = nn.Sequential(nn.ReLU(), nn.Conv2d(c, c, k, padding=k // 2, bias=False))
        self.bn = nn.BatchNorm2d(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.bn(self.op(x))
        return out


class CellNet(nn.Module):
    """Repeated cells (the Predictor's cache sees each cell's ops again), a wider stage."""

    def __init__(self, kernels: tuple[int, int]) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.cells = nn.ModuleList(
            nn.ModuleList([Edge(8, kernels[0]), Edge(8, kernels[1])]) for _ in range(3)
        )
        self.down = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for a, b in self.cells:
            x = a(x) + b(x) + x
        return self.fc(self.down(x).mean((2, 3)))


def _nets() -> list[nn.Module]:
    torch.manual_seed(0)
    return [CellNet(k).eval() for k in ((1, 3), (3, 3), (3, 1))]


X = torch.zeros(1, 3, 16, 16)


@pytest.mark.parametrize("hw", [*PER_OP_CLASSES, "fpga_zcu104", "fpga_zcu104_dpu", GOLDEN])
def test_predictor_equals_a_fresh_estimate_of_the_exported_model(hw):
    predictor = Predictor(hw)
    for net in _nets():
        reference = hwsim.estimate(hwsim.trace(net, example_inputs=(X,)), hw)
        assert predictor.latency(net, torch.empty(1, 3, 16, 16, device="meta")) == pytest.approx(
            reference.latency_s, rel=1e-12
        )
    assert predictor.latency_many(_nets(), X).shape == (3,)


def _variants() -> list[hwsim.Profile]:
    """Every per-op class, with ``with_params`` variants that move the weights off chip and
    change clocks, arrays and vector rates."""
    load = hwsim.load_profile
    return [
        *(load(hw) for hw in PER_OP_CLASSES),
        load(GOLDEN),
        load("cpu_x86_avx2").with_params({"clock_hz": 1.7e9}),
        load("tpu_edge").with_params({"arch.rows": 16, "arch.cols": 16}),
        load("tpu_edge").with_params({"memory.sram.capacity_bytes": 3000}),
        load("eyeriss").with_params({"memory.glb.capacity_bytes": 2000}),
        load("gpu_a100").with_params({"clock_hz": 1.0e9}),
    ]


def test_cached_costs_equal_fresh_ones_on_every_class_and_variant():
    """One cache shared by all profiles and graphs: every cost it returns equals a fresh
    pricing of the same op, including layers that spill only on the small-SRAM variants."""
    cache = OpCostCache()
    graphs = [Predictor("cpu_x86_avx2").graph(net, X) for net in _nets()]
    for _ in range(2):  # the second round is served from the cache
        for profile in _variants():
            for graph in graphs:
                cached = price(graph, profile, cache=cache)
                fresh = price(graph, profile)
                assert cached.costs == fresh.costs, profile.name
    assert cache.hits > cache.misses


class SplitCellNet(CellNet):
    """A hard-swish after the first cell: the Edge TPU compiler maps none, so a deployment
    runs the rest of the model on the host CPU (fused ops included) and the first cell's
    output goes back over the link."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for index, (a, b) in enumerate(self.cells):
            x = a(x) + b(x) + x
            if index == 0:
                x = nn.functional.hardswish(x)
        return self.fc(self.down(x).mean((2, 3)))


class HoldingCellNet(CellNet):
    """CellNet's ops, and a wide copy of the stem's output held to the end: the same cells
    under a larger activation working set."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        held = torch.cat([x] * 8, 1)
        for a, b in self.cells:
            x = a(x) + b(x) + x
        return self.fc(self.down(x).mean((2, 3))) + held.mean()


def test_cached_deployed_costs_equal_fresh_ones():
    """The deployed Edge TPU prices each op from the whole model's plan (placement, link
    transfers, the parameter cache the activations leave); through the per-op cache, every
    cost equals a fresh pricing: models run whole on the device and split with the host, a
    parameter cache that holds some layers and not others, and one the activations do not
    fit."""
    torch.manual_seed(0)
    nets = [*_nets(), SplitCellNet((3, 1)).eval(), SplitCellNet((1, 3)).eval()]
    nets.append(HoldingCellNet((1, 3)).eval())
    graphs = [Predictor("cpu_x86_avx2").graph(net, X) for net in nets]
    base = hwsim.load_profile("tpu_edge")
    arch = base.arch
    assert isinstance(arch, SystolicArch)
    whole, holding = (device_plan(g, base, None) for g in (graphs[0], graphs[-1]))
    tight = arch.sram_reserved_bytes + whole.activation_bytes + whole.cached_bytes / 2
    between = arch.sram_reserved_bytes + (whole.activation_bytes + holding.activation_bytes) / 2
    profiles = [
        base,
        hwsim.load_profile("tpu_edge_devboard"),
        base.with_params({"memory.sram.capacity_bytes": tight}),
        base.with_params({"memory.sram.capacity_bytes": between}),  # one net's fit, one not
        base.with_params({"memory.sram.capacity_bytes": 3000}),
    ]
    split = device_plan(graphs[0], profiles[2], None)
    assert split.cached_bytes > 0 and split.streamed_bytes > 0
    assert device_plan(graphs[3], base, None).host_from is not None
    cache = OpCostCache()
    for _ in range(2):  # the second round is served from the cache
        for profile in profiles:
            for graph in graphs:
                cached = price(graph, profile, cache=cache)
                fresh = price(graph, profile)
                assert cached.costs == fresh.costs, profile.name
                assert cached.latency_s == fresh.latency_s
    assert cache.hits > cache.misses


def test_cache_prices_a_repeated_cell_once():
    predictor = Predictor("gpu_a100")
    predictor.latency(_nets()[0], X)
    # 3 cells x 2 edges: 6 identical convs and their fused ops, priced once each.
    assert predictor.cache.hits >= 10
    misses = predictor.cache.misses
    predictor.latency(_nets()[0], X)
    assert predictor.cache.misses == misses


def test_registering_a_cost_function_bypasses_stale_entries():
    cache = OpCostCache()
    graph = Predictor("gpu_a100").graph(_nets()[0], X)
    profile = hwsim.load_profile("gpu_a100")
    before = price(graph, profile, cache=cache).latency_s
    original = cost_table("gpu")[OpKind.CONV]
    try:
        register_cost("gpu", OpKind.CONV, lambda op, ctx: hwsim.OpCost.free(ctx.profile.clock_hz))
        after = price(graph, profile, cache=cache)
        assert after.costs == price(graph, profile).costs
        assert after.latency_s < before
    finally:
        register_cost("gpu", OpKind.CONV, original)
    assert price(graph, profile, cache=cache).latency_s == before


def test_predictor_takes_estimate_options_and_rejects_ones_that_do_not_apply():
    one = Predictor("cpu_x86_avx2", threads=1).latency(_nets()[0], X)
    two = Predictor("cpu_x86_avx2", threads=2).latency(_nets()[0], X)
    assert two < one
    with pytest.raises(ProfileError, match="has 2 cores"):
        Predictor("cpu_x86_avx2", threads=4)
    net = _nets()[0]
    traced = hwsim.trace(net, example_inputs=(X,))
    for options in ({"precision": "fp16"}, {"prune": "2:4"}, {"quant": "int8", "layers": "cells"}):
        fast = Predictor("gpu_a100", **options).latency(net, X)
        assert fast == pytest.approx(hwsim.estimate(traced, "gpu_a100", **options).latency_s)
    with pytest.raises(ProfileError, match="--threads applies to CPU profiles only"):
        Predictor("gpu_a100", threads=2)


# --- the block table ----------------------------------------------------------------------

C = 8
SHAPE = (1, C, 12, 12)


def _conv_bn_relu(k: int) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(C, C, k, padding=k // 2, bias=False), nn.BatchNorm2d(C), nn.ReLU()
    )


def _relu_conv_bn(k: int) -> nn.Module:
    return nn.Sequential(
        nn.ReLU(), nn.Conv2d(C, C, k, padding=k // 2, bias=False), nn.BatchNorm2d(C)
    )


def _bn_relu_conv() -> nn.Module:
    return nn.Sequential(nn.BatchNorm2d(C), nn.ReLU(), nn.Conv2d(C, C, 1))


class Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = _conv_bn_relu(3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def _joining_space() -> list[Position]:
    """Blocks that start with a ReLU or a batch-norm (they fuse or fold into the previous
    block's conv), blocks that end in a conv, skips and residuals."""
    torch.manual_seed(0)
    searched = [
        Position(
            (
                _relu_conv_bn(3),
                _conv_bn_relu(1),
                _bn_relu_conv(),
                nn.Conv2d(C, C, 1),
                nn.Identity(),
                Residual(),
            ),
            SHAPE,
        )
        for _ in range(4)
    ]
    head = Position((nn.Sequential(nn.ReLU(), nn.AdaptiveAvgPool2d(1)),), SHAPE)
    return [Position((nn.Conv2d(C, C, 3, padding=1),), SHAPE), *searched, head]


def _all_choices(table: LatencyTable, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(0, len(p.candidates), n) for p in table.positions], axis=1)


# The deployed Edge TPU profiles are not sums of blocks (the table refuses them, below).
BLOCKWISE = tuple(hw for hw in PER_OP_CLASSES if hw != "tpu_edge")


@pytest.mark.parametrize("hw", BLOCKWISE)
def test_table_agrees_with_the_predictor_on_composed_networks(hw):
    """Boundary fusion and folding, skips passing boundaries through, weight homes and (on the
    systolic profiles) layer-by-layer spills: the table's sum equals the Predictor's price of
    the composed network within 2% (in fact to rounding)."""
    table = LatencyTable(_joining_space(), hw)
    assert table.pairs, "the space has blocks that join across boundaries"
    predictor = Predictor(hw)
    batch = _all_choices(table, 25)
    predicted = table.predict(batch)
    for row, value in zip(batch, predicted, strict=True):
        reference = predictor.latency(table.compose(row), torch.empty(SHAPE, device="meta"))
        assert value == pytest.approx(reference, rel=0.02)
        assert table.predict(row) == pytest.approx(reference, rel=1e-9)


@pytest.mark.parametrize(
    "hw",
    [
        "eyeriss",
        hwsim.load_profile("eyeriss").with_params({"arch.filter_sram_bytes": 20_000}),
        "tpu_v1",
    ],
)
def test_table_follows_the_spill_plan_across_blocks(hw):
    """MobileNet-like blocks on arrays whose filter SRAM holds only part of the weights: which
    layers spill depends on every block before them."""
    space = mbconv_space.positions(resolution=64)[:6]
    table = LatencyTable(space, hw)
    assert table.weight_cache is not None
    predictor = Predictor(hw)
    for row in _all_choices(table, 6, seed=1):
        reference = predictor.latency(
            table.compose(row), torch.empty(table.input_shape, device="meta")
        )
        assert table.predict(row) == pytest.approx(reference, rel=1e-9)


def test_expected_latency_is_exact_for_one_hot_choices_and_differentiable():
    table = LatencyTable(_joining_space(), "gpu_a100")
    for row in _all_choices(table, 10, seed=2):
        one_hot = [
            torch.nn.functional.one_hot(torch.tensor(int(c)), len(p.candidates)).double()
            for c, p in zip(row, table.positions, strict=True)
        ]
        assert float(table.expected(one_hot)) == pytest.approx(table.predict(row), rel=1e-9)

    logits = [
        torch.randn(len(p.candidates), dtype=torch.float64, requires_grad=True)
        for p in table.positions
    ]
    probs = [torch.softmax(z, 0) for z in logits]
    expected = table.expected(probs)
    expected.backward()
    # The expectation is linear in each position's probabilities (every term holds at most
    # one factor of them), so along position p the gradient differs between two choices by
    # exactly the difference of the expected latencies given each choice.
    p = 2
    given = []
    for c in range(len(table.positions[p].candidates)):
        fixed = [q.detach() for q in probs]
        fixed[p] = torch.nn.functional.one_hot(torch.tensor(c), len(fixed[p])).double()
        given.append(float(table.expected(fixed)))
    grad = torch.autograd.grad(table.expected(probs), probs[p])[0].numpy()
    given_arr = np.array(given)
    assert grad - grad[0] == pytest.approx(given_arr - given_arr[0], abs=1e-15)
    assert np.ptp(given_arr) > 0
    assert all(z.grad is not None and torch.isfinite(z.grad).all() for z in logits)
    # And autograd's gradient through the softmax against central finite differences.
    assert torch.autograd.gradcheck(
        lambda *z: table.expected([torch.softmax(zi, 0) for zi in z]),
        tuple(z.detach().requires_grad_() for z in logits),
        eps=1e-6,
        atol=1e-12,
        rtol=1e-6,
    )


def test_table_is_fast_and_refuses_whole_graph_models():
    table = LatencyTable(mbconv_space.positions(resolution=64), "cpu_x86_avx2")
    batch = _all_choices(table, 20_000)
    assert table.predict(batch).shape == (20_000,)
    with pytest.raises(ProfileError, match=r"use hwsim\.Predictor"):
        LatencyTable(_joining_space(), "fpga_zcu104")
    for deployed in ("tpu_edge", "tpu_edge_devboard"):
        with pytest.raises(ProfileError, match=rf"^{deployed}: .*partitions the whole model"):
            LatencyTable(_joining_space(), deployed)
    with pytest.raises(ValueError, match="one index per position"):
        table.predict([0, 1])

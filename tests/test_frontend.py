"""The frontend: ATen ops normalised into kinds, MACs, folding, fusion, weight statistics."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils import prune

import hwsim
from hwsim.ops import OpKind


class ConvBnRelu(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(16)
        self.dw = nn.Conv2d(16, 16, 3, padding=1, groups=16)
        self.fc = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn(self.conv(x)))
        y = self.dw(y) + y
        return self.fc(y.mean((2, 3)))


@pytest.fixture(scope="module")
def small_graph():
    return hwsim.trace(ConvBnRelu(), example_inputs=(torch.zeros(2, 3, 8, 8),))


def _by_name(graph, name):
    return next(op for op in graph if op.name == name)


def test_conv_and_gemm_macs_by_hand(small_graph):
    """conv: 2 x 16 x 8 x 8 outputs x (3 x 3 x 3) taps = 55,296 MACs;
    depthwise: 2 x 16 x 8 x 8 x (1 x 3 x 3) = 18,432; fc: 2 x 10 x 16 = 320."""
    assert _by_name(small_graph, "conv").macs == 55_296
    assert _by_name(small_graph, "dw").macs == 18_432
    assert _by_name(small_graph, "fc").macs == 320
    assert small_graph.macs == 55_296 + 18_432 + 320


def test_depthwise_is_first_class(small_graph):
    dw = _by_name(small_graph, "dw")
    assert dw.kind is OpKind.CONV
    assert dw.attr("groups") == 16
    assert dw.is_depthwise
    assert not _by_name(small_graph, "conv").is_depthwise


def test_batchnorm_folds_into_conv(small_graph):
    conv = _by_name(small_graph, "conv")
    assert conv.folded == ("aten.batch_norm",)
    assert all(op.kind is not OpKind.NORM for op in small_graph)
    # The folded conv gains a bias of 16 channels: 16x3x3x3 + 16 parameters.
    assert conv.param_count == 16 * 27 + 16


def test_relu_fuses_into_conv_and_moves_traffic(small_graph):
    conv = _by_name(small_graph, "conv")
    relu = next(op for op in small_graph if op.target == "aten.relu")
    assert relu.fused_into == conv.id
    # relu's output is read twice (dw and the residual add), so relu writes it: 2x16x8x8 fp32.
    assert relu.write_bytes == 2 * 16 * 8 * 8 * 4
    assert relu.read_bytes == 0  # its input never leaves the conv's kernel
    assert conv.write_bytes == 0
    add = next(op for op in small_graph if op.target == "aten.add")
    assert add.fused_into == _by_name(small_graph, "dw").id
    assert add.read_bytes == 2 * 16 * 8 * 8 * 4  # only the residual operand


def test_unfused_graph_keeps_full_traffic():
    graph = hwsim.trace(ConvBnRelu(), example_inputs=(torch.zeros(2, 3, 8, 8),), fuse=False)
    relu = next(op for op in graph if op.target == "aten.relu")
    assert relu.fused_into is None
    assert relu.read_bytes == relu.write_bytes == 2 * 16 * 8 * 8 * 4


def test_batch_option_scales_macs():
    one = hwsim.trace(ConvBnRelu(), example_inputs=(torch.zeros(1, 3, 8, 8),))
    four = hwsim.trace(ConvBnRelu(), example_inputs=(torch.zeros(1, 3, 8, 8),), batch=4)
    assert four.macs == 4 * one.macs
    assert four.info.batch == 4


def test_unmapped_aten_op_is_kept_as_unsupported():
    class Odd(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.erfinv(x.clamp(-0.5, 0.5)) * 2

    graph = hwsim.trace(Odd(), example_inputs=(torch.zeros(4, 8),))
    odd = [op for op in graph if op.kind is OpKind.UNSUPPORTED]
    assert [op.target for op in odd] == ["aten.erfinv"]


def test_register_aten_op_teaches_a_new_op():
    from hwsim.frontend import aten_table

    class Odd(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.special.i0(x)

    try:
        hwsim.register_aten_op("aten.special_i0", OpKind.POINTWISE)
        graph = hwsim.trace(Odd(), example_inputs=(torch.zeros(4, 8),))
        assert [op.kind for op in graph] == [OpKind.POINTWISE]
    finally:
        aten_table.aten_table().pop("special_i0", None)


def test_weight_stats_of_pruned_and_2_4_weights():
    """Pruned weights are computed in-graph (weight_orig * mask); the frontend folds that
    constant subgraph and reads statistics from the real product."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(64, 64))
    model[2] = nn.Linear(32, 64)
    prune.l1_unstructured(model[0], "weight", amount=0.75)
    with torch.no_grad():  # exact 2:4 on the second layer: zero 2 of every 4 along inputs
        model[2].weight.view(64, -1, 4)[:, :, :2] = 0
    graph = hwsim.trace(model, example_inputs=(torch.zeros(1, 64),))
    first, second = (op for op in graph if op.kind is OpKind.GEMM)
    assert first.weight_stats.density == pytest.approx(0.25, abs=1 / 2048)
    assert first.weight.shape == (32, 64)  # the weight, not the bias
    assert second.weight_stats.density == pytest.approx(0.5)
    assert second.weight_stats.nm_2_4 == 1.0
    assert second.weight_stats.is_2_4
    assert all(op.kind is not OpKind.POINTWISE or op.target == "aten.relu" for op in graph)


def test_dead_output_channels_and_blocks():
    conv = nn.Conv2d(8, 8, 1, bias=False)
    with torch.no_grad():
        conv.weight[:3] = 0  # three dead output channels
    graph = hwsim.trace(conv, example_inputs=(torch.zeros(1, 8, 4, 4),))
    stats = next(iter(graph)).weight_stats
    assert stats.zero_output_channels == 3
    assert stats.output_channels == 8
    # 1x4 blocks: 8 rows x 2 blocks; the 3 dead rows make 6 of 16 blocks empty.
    assert stats.block_1x4_density == pytest.approx(10 / 16)


def test_attention_counts_two_batched_gemms():
    """sdpa with B=2, H=4, L=S=16, E=8: 2 x 4 x 16 x 16 x (8 + 8) = 32,768 MACs."""

    class Attn(nn.Module):
        def forward(self, q, k, v):
            return nn.functional.scaled_dot_product_attention(q, k, v)

    q = torch.zeros(2, 4, 16, 8)
    graph = hwsim.trace(Attn(), example_inputs=(q, q, q))
    (attn,) = [op for op in graph if op.kind is OpKind.ATTENTION]
    assert attn.macs == 32_768


def test_copy_and_view_kinds():
    class Move(nn.Module):
        def forward(self, x):
            y = torch.cat([x, x], dim=1)
            return y.permute(0, 2, 1).contiguous().reshape(2, -1)

    graph = hwsim.trace(Move(), example_inputs=(torch.zeros(2, 3, 5),))
    kinds = {op.target: op.kind for op in graph}
    assert kinds["aten.cat"] is OpKind.COPY
    assert kinds["aten.permute"] is OpKind.VIEW
    assert OpKind.COPY in {kinds.get("aten.clone"), kinds.get("aten.contiguous")}

"""Pointwise ops fused into an array layer: applied as the layer's outputs drain, so the
tensor the layer writes is written once (the layer's ofmap), and a fused op pays only its
other operands and the vector work the drain cannot hide. Figures by hand from the profiles'
YAML values."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import hwsim
from hwsim.cost import Bound

X = torch.randn(1, 64, 8, 8)  # a 1x1 conv of 64 -> 64 channels: M = 64 pixels, K = N = 64


class ConvRelu(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(64, 64, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(x))


class ConvAdd(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(64, 64, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) + x


class LinearNormRelu(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(64, 64)
        self.norm = nn.LayerNorm(64)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.norm(self.fc(x)))


def _costs(model: nn.Module, x: torch.Tensor, hw: str) -> dict[str, hwsim.OpCost]:
    est = hwsim.estimate(hwsim.trace(model.eval(), example_inputs=(x,)), hw)
    return {op.target: cost for op, cost in est.costs if cost is not None}


def _written(cost: hwsim.OpCost) -> float:
    return sum(cost.bytes_written.values())


def test_fused_relu_writes_nothing_and_hides_in_the_drain_on_tpu_v1():
    """tpu_v1: 256 columns, 256 vector ops per cycle, int8. The conv writes its 8x8x64 ofmap
    once: one row fold (K = 64 <= 256 rows), so 64 pixels x 64 outputs = 4,096 words into the
    accumulators. The ReLU does 4,096 ops = 16 cycles at 256 per cycle, while the array takes
    at least 4,096 / 256 columns = 16 cycles to drain them: nothing left, no bytes moved."""
    costs = _costs(ConvRelu(), X, "tpu_v1")
    conv, relu = costs["aten.conv2d"], costs["aten.relu"]
    assert conv.bytes_written.get("ofmap_sram") == pytest.approx(4096)
    assert _written(relu) == 0 and sum(relu.bytes_read.values()) == 0
    assert relu.cycles == 0 and relu.bound is Bound.FREE
    # Its arithmetic is still done and still costs energy: 4,096 ops x 0.1 pJ.
    assert relu.energy_j["compute"] == pytest.approx(4096 * 0.1e-12)


def test_fused_residual_add_reads_its_second_operand_only():
    """tpu_v1: the add takes the conv's outputs as they drain and reads the residual, the
    model's 64x8x8 input at int8 = 4,096 B, from the Unified Buffer at 256 B per cycle:
    16 cycles. Its 4,096 adds at 256 per cycle (16 cycles) overlap the 16-cycle drain. It
    writes nothing: its output replaces the conv's ofmap, which the conv writes."""
    add = _costs(ConvAdd(), X, "tpu_v1")["aten.add"]
    assert {k: v for k, v in add.bytes_read.items() if v} == {"unified_buffer": 4096}
    assert _written(add) == 0
    assert add.cycles == pytest.approx(16)


def test_fused_relu_beyond_the_drain_on_eyeriss():
    """eyeriss: 14 columns drain at most 14 outputs per cycle; its ReLU unit does 4 per cycle
    (the profile's assumption). 4,096 outputs: 4,096 / 4 = 1,024 cycles of ReLU, of which
    4,096 / 14 = 292.57 overlap the drain, leaving 731.43 cycles; no bytes moved."""
    relu = _costs(ConvRelu(), X, "eyeriss")["aten.relu"]
    assert relu.cycles == pytest.approx(4096 / 4 - 4096 / 14)
    assert _written(relu) == 0


def test_relu_fused_into_a_norm_still_writes_its_output():
    """A pointwise op fused into a vector op is not drained from the array: the layer norm
    writes nothing (the fusion pass moves the write to the ReLU), so the ReLU's write of its
    1x64 output at int8 (64 B) is that tensor's only write, as before."""
    costs = _costs(LinearNormRelu(), torch.randn(1, 64), "tpu_v1")
    assert _written(costs["aten.layer_norm"]) == 0
    assert _written(costs["aten.relu"]) == pytest.approx(64)

"""Interpolating resizes (bilinear, bicubic...) do arithmetic: counted by hand from both
frontends, mapped from ONNX by their ``mode``, and priced on every preset."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn
from torch.nn import functional as F

import hwsim
from hwsim.ops import OpKind
from hwsim.profile import preset_names


class Interpolate(nn.Module):
    def __init__(self, mode: str) -> None:
        super().__init__()
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        corners = {} if self.mode == "nearest" else {"align_corners": False}
        return F.interpolate(x, scale_factor=2, mode=self.mode, **corners)


def _resize_op(model: nn.Module, x: torch.Tensor) -> hwsim.Op:
    (op,) = [o for o in hwsim.trace(model.eval(), example_inputs=(x,), cache=False)]
    return op


@pytest.mark.parametrize(
    ("mode", "shape", "kind", "flops"),
    [
        # 1x3x8x8 -> 1x3x16x16 = 768 outputs. Bilinear: two lerps along x, one along y, each
        # a + w (b - a) = 3 FLOPs: 9 per output, 6,912 in all.
        ("bilinear", (1, 3, 8, 8), OpKind.RESAMPLE, 768 * 9),
        # Bicubic: four 4-tap sums along x and one along y, each 4 multiplies and 3 adds:
        # 5 x 7 = 35 per output, 26,880.
        ("bicubic", (1, 3, 8, 8), OpKind.RESAMPLE, 768 * 35),
        # 1x3x8 -> 1x3x16 = 48 outputs, one lerp each.
        ("linear", (1, 3, 8), OpKind.RESAMPLE, 48 * 3),
        # 1x2x4x4x4 -> 1x2x8x8x8 = 1,024 outputs, 4 + 2 + 1 = 7 lerps each.
        ("trilinear", (1, 2, 4, 4, 4), OpKind.RESAMPLE, 1024 * 21),
        # Nearest neighbour picks one input per output: a copy, no arithmetic.
        ("nearest", (1, 3, 8, 8), OpKind.COPY, 0),
    ],
)
def test_torch_interpolation_counted_by_hand(mode, shape, kind, flops):
    op = _resize_op(Interpolate(mode), torch.zeros(*shape))
    assert (op.kind, op.flops) == (kind, flops)


def _resize_model(path, mode: str | None, op_type: str = "Resize") -> str:
    """x: 1x4x6x6 resized by scales (1, 1, 2, 2) to 1x4x12x12 = 576 outputs."""
    attrs = {} if mode is None else {"mode": mode}
    scales = np.array([1, 1, 2, 2], np.float32)
    if op_type == "Resize":
        inputs, opset = ["x", "", "scales"], 13
    else:
        inputs, opset = ["x", "scales"], 9
    graph = helper.make_graph(
        [helper.make_node(op_type, inputs, ["y"], name="resize", **attrs)],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 6, 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 12, 12])],
        [numpy_helper.from_array(scales, "scales")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx.save(model, str(path))
    return str(path)


@pytest.mark.parametrize(
    ("op_type", "mode", "kind", "flops"),
    [
        ("Resize", None, OpKind.COPY, 0),  # ONNX's default mode is nearest
        ("Resize", "nearest", OpKind.COPY, 0),
        ("Resize", "linear", OpKind.RESAMPLE, 576 * 9),  # H and W change: bilinear
        ("Resize", "cubic", OpKind.RESAMPLE, 576 * 35),  # bicubic over H and W
        ("Upsample", "linear", OpKind.RESAMPLE, 576 * 9),
        ("Upsample", "nearest", OpKind.COPY, 0),
    ],
)
def test_onnx_resize_by_its_mode(tmp_path, op_type, mode, kind, flops):
    """The same counts as torch's: only the two spatial axes change size, so a linear Resize
    is bilinear (9 FLOPs per output) and a cubic one bicubic (35)."""
    (op,) = list(hwsim.trace(_resize_model(tmp_path / "r.onnx", mode, op_type), cache=False))
    assert (op.kind, op.flops) == (kind, flops)


def test_onnx_resize_of_an_unknown_mode_is_listed_unsupported(tmp_path):
    (op,) = list(hwsim.trace(_resize_model(tmp_path / "r.onnx", "lanczos"), cache=False))
    assert op.kind is OpKind.UNSUPPORTED
    assert "lanczos" in str(op.attr("unsupported_reason"))


def test_tpu_v1_prices_bilinear_by_hand():
    """tpu_v1, int8: 1x16x32x32 -> 64x64 is 65,536 outputs x 9 = 589,824 FLOPs at 256 vector
    ops per cycle = 2,304 cycles; its bytes (16,384 in, 65,536 out) take 320 cycles at 256 B
    per cycle from the Unified Buffer, so it is compute-bound: 2,304 / 700 MHz = 3.29 us. As
    a copy (nearest) it would take the 320 cycles."""
    x = torch.zeros(1, 16, 32, 32)
    graph = hwsim.trace(Interpolate("bilinear").eval(), example_inputs=(x,), cache=False)
    ((_, cost),) = list(hwsim.estimate(graph, "tpu_v1").costs)
    assert cost.compute_cycles == pytest.approx(2304)
    assert cost.cycles == pytest.approx(2304)


@pytest.mark.parametrize("preset", preset_names())
def test_every_preset_prices_interpolation_above_a_copy(preset):
    """No class counts an interpolation as free data movement: on every preset the bilinear
    resize costs more compute than the nearest one of the same shape (a copy), and is priced
    (not listed as unsupported)."""
    x = torch.zeros(1, 16, 32, 32)
    compute = {}
    for mode in ("nearest", "bilinear"):
        graph = hwsim.trace(Interpolate(mode).eval(), example_inputs=(x,), cache=False)
        est = hwsim.estimate(graph, preset)
        assert est.complete, (preset, mode)
        ((_, cost),) = list(est.costs)
        assert cost is not None
        compute[mode] = cost.compute_cycles
    assert compute["bilinear"] > compute["nearest"], preset

"""Compression already in the model file is detected and the estimate prices it.

Half-precision weights show in their dtypes; quantized weights show as a constant subgraph
that dequantizes (or fake-quantizes) an integer tensor, and quantized activations as a
quantize -> dequantize pair or a fake-quant op in front of the consumer.
"""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.ao.quantization as tq
import torch.ao.quantization.fx._decomposed  # registers the quantized_decomposed ops
from torch import nn

import hwsim
from hwsim.costmodels.roofline import device_weight_bytes
from hwsim.frontend.aten_table import QUANT_OPS, lookup
from hwsim.ops import OpKind


def _gemms(graph):
    return [op for op in graph if op.kind in (OpKind.GEMM, OpKind.CONV)]


def _row(est, name):
    table = est.table
    return table[table["name"] == name].iloc[0]


@pytest.mark.parametrize(
    ("dtype", "precision"), [(torch.float16, "fp16"), (torch.bfloat16, "bf16")]
)
def test_half_precision_weights_report_their_precision(dtype, precision):
    """A ``.half()`` / ``.to(torch.bfloat16)`` model computes and stores at 2 bytes/element."""
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4 * 6 * 6, 5)).to(dtype)
    graph = hwsim.trace(model, example_inputs=(torch.zeros(1, 3, 8, 8, dtype=dtype),))
    ops = _gemms(graph)
    assert [op.kind for op in ops] == [OpKind.CONV, OpKind.GEMM]
    assert all(op.precision == precision and op.weight_bits is None for op in ops)
    a100 = hwsim.load_profile("gpu_a100")
    conv, fc = ops
    assert device_weight_bytes(conv, a100, None) == (4 * 3 * 3 * 3 + 4) * 2
    assert device_weight_bytes(fc, a100, None) == (5 * 144 + 5) * 2
    est = hwsim.estimate(graph, a100)
    assert _row(est, fc.name)["precision"] == precision


def _qat_model() -> nn.Module:
    """Eager-mode QAT (``prepare_qat``), calibrated once in train mode, then ``.eval()``."""
    torch.manual_seed(0)
    model = nn.Sequential(
        tq.QuantStub(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 4), tq.DeQuantStub()
    )
    model.train()
    model.qconfig = tq.get_default_qat_qconfig("fbgemm")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tq.prepare_qat(model, inplace=True)
    model(torch.randn(4, 16))
    return model.eval()


@pytest.fixture(scope="module")
def qat_graph():
    return hwsim.trace(_qat_model(), example_inputs=(torch.zeros(2, 16),))


def test_qat_fake_quant_weights_are_int8(qat_graph):
    """QAT exports each weight through ``fused_moving_avg_obs_fake_quant`` (-128..127)."""
    first, second = _gemms(qat_graph)
    assert (first.weight_bits, second.weight_bits) == (8, 8)
    assert first.precision == second.precision == "int8"
    # The QuantStub's fake-quant (0..127, stored as uint8) feeds the first linear.
    assert first.act_bits == 8
    assert second.act_bits is None  # fed by a plain relu


def test_qat_fake_quant_ops_are_pointwise_work(qat_graph):
    fake = [op for op in qat_graph if op.target == "aten.fused_moving_avg_obs_fake_quant"]
    assert len(fake) == 3  # quant stub + one per linear output; weight ones are folded
    assert all(op.kind is OpKind.POINTWISE and op.flops > 0 for op in fake)
    assert not any(op.kind is OpKind.UNSUPPORTED for op in qat_graph)


def test_qat_estimate_prices_int8_weights(qat_graph):
    """On an AVX2 CPU (int8 supported) the linear runs int8 and its fp32 weights and bias
    are priced at 1 byte/element: 16x8 + 8 = 136 bytes, 8x4 + 4 = 36 bytes. The three
    activation fake-quant ops stay fp32 and each reads its observer's buffers: two int64
    flags (observer and fake-quant enabled, 16 B), the running min and max and the scale
    (fp32, 12 B) and an int32 zero point (4 B): 3 x 32 = 96 bytes."""
    cpu = hwsim.load_profile("cpu_x86_avx2")
    first, second = _gemms(qat_graph)
    assert device_weight_bytes(first, cpu, None) == 16 * 8 + 8
    assert device_weight_bytes(second, cpu, None) == 8 * 4 + 4
    est = hwsim.estimate(qat_graph, cpu)
    assert _row(est, first.name)["precision"] == "int8"
    assert est.model_weight_bytes == 136 + 36 + 3 * (2 * 8 + 3 * 4 + 4)


class ManualFakeQuant(nn.Module):
    """Fake-quant called by hand: 8-bit activations, 4-bit (-8..7) per-channel weights."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(16, 8)
        self.register_buffer("scale", torch.full((8,), 0.05))
        self.register_buffer("zero_point", torch.zeros(8, dtype=torch.int32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.fake_quantize_per_tensor_affine(x, 0.1, 0, -128, 127)
        w = torch.fake_quantize_per_channel_affine(
            self.fc.weight, self.scale, self.zero_point, 0, -8, 7
        )
        return nn.functional.linear(x, w, self.fc.bias)


def test_manual_fake_quant_detects_int4_weights():
    """w4a8: the weights are 4-bit but the multiplies take int8 operands, so the op computes
    in int8 and stores its weights packed only where something unpacks them."""
    graph = hwsim.trace(ManualFakeQuant(), example_inputs=(torch.zeros(2, 16),))
    (fc,) = _gemms(graph)
    assert (fc.weight_bits, fc.act_bits, fc.precision) == (4, 8, "int8")
    fq = next(op for op in graph if op.target == "aten.fake_quantize_per_tensor_affine")
    assert fq.kind is OpKind.POINTWISE
    # A100 runs int8 tensor cores and its kernels unpack 4-bit weights: (16x8 + 8) / 2 bytes.
    a100 = hwsim.load_profile("gpu_a100")
    assert device_weight_bytes(fc, a100, None) == (16 * 8 + 8) / 2
    # The Edge TPU's array reads whole int8 words: 1 byte/element.
    tpu = hwsim.load_profile("tpu_edge")
    assert device_weight_bytes(fc, tpu, None) == 16 * 8 + 8
    row = _row(hwsim.estimate(graph, tpu), fc.name)
    assert row["precision"] == "int8"
    assert "not supported" not in row["notes"]


class DecomposedQdq(nn.Module):
    """The PT2E pattern after ``convert_pt2e``: an int8 weight buffer dequantized per
    channel, and the activation through a quantize -> dequantize pair."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.register_buffer("w_int8", torch.randint(-128, 128, (4, 16), dtype=torch.int8))
        self.register_buffer("scale", torch.full((4,), 0.01))
        self.register_buffer("zero_point", torch.zeros(4, dtype=torch.int64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        qd = torch.ops.quantized_decomposed
        q = qd.quantize_per_tensor(x, 0.1, 0, -128, 127, torch.int8)
        x = qd.dequantize_per_tensor(q, 0.1, 0, -128, 127, torch.int8)
        w = qd.dequantize_per_channel(
            self.w_int8, self.scale, self.zero_point, 0, -128, 127, torch.int8
        )
        return nn.functional.linear(x, w)


def test_pt2e_dequantize_pattern_detects_int8():
    graph = hwsim.trace(DecomposedQdq(), example_inputs=(torch.zeros(2, 16),))
    (fc,) = _gemms(graph)
    assert (fc.weight_bits, fc.act_bits, fc.precision) == (8, 8, "int8")
    assert fc.weight_stats is not None  # read from the dequantized real values
    qdq = [op for op in graph if op.kind is OpKind.POINTWISE]
    assert {op.target for op in qdq} == {"aten.quantize_per_tensor", "aten.dequantize_per_tensor"}
    cpu = hwsim.load_profile("cpu_x86_avx2")
    assert device_weight_bytes(fc, cpu, None) == 4 * 16  # the fp32 dequantized weight, int8
    assert _row(hwsim.estimate(graph, cpu), fc.name)["precision"] == "int8"


def test_plain_fp32_model_has_no_quant_facts():
    graph = hwsim.trace(nn.Linear(16, 8), example_inputs=(torch.zeros(2, 16),))
    (fc,) = _gemms(graph)
    assert (fc.weight_bits, fc.act_bits, fc.precision) == (None, None, "fp32")
    assert device_weight_bytes(fc, hwsim.load_profile("cpu_x86_avx2"), None) == (128 + 8) * 4


def test_every_quant_op_is_pointwise():
    assert all(lookup(name)[0] is OpKind.POINTWISE for name in QUANT_OPS)


class _StaticQuantized(nn.Module):
    """Eager post-training static quantization: QuantStub -> conv+relu -> add -> DeQuantStub."""

    def __init__(self) -> None:
        super().__init__()
        self.quant, self.dequant = tq.QuantStub(), tq.DeQuantStub()
        self.conv, self.relu = nn.Conv2d(3, 8, 3), nn.ReLU()
        self.skip = nn.quantized.FloatFunctional()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.conv(self.quant(x)))
        return self.dequant(self.skip.add(y, y))


def _converted() -> nn.Module:
    torch.manual_seed(0)
    model = _StaticQuantized().eval()
    model.qconfig = tq.get_default_qconfig("fbgemm")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tq.fuse_modules(model, [["conv", "relu"]], inplace=True)
        tq.prepare(model, inplace=True)
        model(torch.randn(1, 3, 8, 8))
        tq.convert(model, inplace=True)
    return model


def test_eager_converted_modules_are_read_as_int8():
    """``torch.ao.quantization.convert`` packs weights export cannot trace; the frontend
    rewrites them into the PT2E pattern: the fused conv is int8 with int8 inputs, its 8x3x3x3
    weights and 8 biases priced at 1 byte each, and the user's model is left as it was."""
    model = _converted()
    graph = hwsim.trace(model, example_inputs=(torch.zeros(1, 3, 8, 8),))
    (conv,) = _gemms(graph)
    assert (conv.weight_bits, conv.act_bits, conv.precision) == (8, 8, "int8")
    assert device_weight_bytes(conv, hwsim.load_profile("cpu_x86_avx2"), None) == 8 * 27 + 8
    assert type(model.conv).__name__ == "ConvReLU2d"  # untouched


def test_dynamic_quantized_linear_is_read_as_int8():
    """``quantize_dynamic``: qint8 weights, activations quantized per batch at run time."""
    model = nn.Sequential(nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 4)).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dynamic = tq.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)
    graph = hwsim.trace(dynamic, example_inputs=(torch.zeros(2, 16),))
    assert [(op.weight_bits, op.act_bits, op.precision) for op in _gemms(graph)] == [
        (8, 8, "int8"),
        (8, 8, "int8"),
    ]


def test_unsupported_quantized_module_is_one_clear_error():
    model = nn.Sequential(nn.quantized.Hardswish(0.1, 0))
    with pytest.raises(hwsim.TraceError, match="0: quantized module Hardswish is not supported"):
        hwsim.trace(model, example_inputs=(torch.zeros(1, 4),))

"""The ONNX frontend: hand-written models counted by hand, torch exports priced like their .pt2,
quantized (QDQ) models, unsupported ops listed, and files that must be refused."""

from __future__ import annotations

import os
import warnings

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn
from torch.nn import functional as F

import hwsim
from hwsim.errors import InputShapeError, ModelLoadError
from hwsim.frontend import onnx_load
from hwsim.frontend.onnx_table import aten_equivalent, register_onnx_op
from hwsim.ops import OpKind
from hwsim.profile import load_profile, preset_names


def _save(model: onnx.ModelProto, path) -> str:
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return str(path)


def _init(name: str, array: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(array, name)


def hand_cnn(path, *, w_fc_zero_column: bool = True) -> str:
    """x[N,3,32,32] -> Conv 3x3 (8 out, pad 1) -> Relu -> MaxPool 2x2/2 -> depthwise Conv 3x3
    (group 8, pad 1) -> Flatten -> Gemm (B [2048, 10], transB=0) + C -> Softmax."""
    rng = np.random.default_rng(0)
    w1 = rng.standard_normal((8, 3, 3, 3)).astype(np.float32)
    w2 = rng.standard_normal((8, 1, 3, 3)).astype(np.float32)
    w3 = rng.standard_normal((2048, 10)).astype(np.float32)
    if w_fc_zero_column:
        w3[:, 7] = 0.0  # output 7 of the Gemm reads nothing: one dead output channel
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node(
            "MaxPool", ["r1"], ["p1"], name="pool", kernel_shape=[2, 2], strides=[2, 2]
        ),
        helper.make_node("Conv", ["p1", "w2"], ["c2"], name="dw", group=8, pads=[1, 1, 1, 1]),
        helper.make_node("Flatten", ["c2"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "w3", "b3"], ["logits"], name="fc"),
        helper.make_node("Softmax", ["logits"], ["y"], name="softmax", axis=-1),
    ]
    graph = helper.make_graph(
        nodes,
        "hand_cnn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 32, 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])],
        [_init("w1", w1), _init("w2", w2), _init("w3", w3), _init("b3", np.zeros(10, np.float32))],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return _save(model, path)


def test_hand_written_model_macs_by_hand(tmp_path):
    """At batch 1: conv1 8 x 32 x 32 outputs x (3 x 3 x 3) taps = 221,184 MACs; the depthwise
    conv 8 x 16 x 16 x (1 x 3 x 3) = 18,432; the Gemm 10 outputs x K = 8 x 16 x 16 = 2,048:
    20,480. Total 260,096."""
    graph = hwsim.trace(hand_cnn(tmp_path / "m.onnx"), input_shapes="1,3,32,32", cache=False)
    ops = {op.id: op for op in graph}
    assert ops["conv1"].macs == 221_184
    assert ops["dw"].macs == 18_432
    assert ops["fc"].macs == 20_480
    assert graph.macs == 260_096
    assert ops["dw"].is_depthwise and ops["dw"].attr("groups") == 8
    assert ops["pool"].kind is OpKind.POOL and ops["pool"].attr("kernel") == (2, 2)
    assert ops["flatten"].kind is OpKind.VIEW
    assert ops["relu1"].fused_into == "conv1"
    assert ops["softmax"].kind is OpKind.SOFTMAX


def test_weights_are_read_in_torch_layout(tmp_path):
    """The Gemm's B is [K=2048, N=10] with transB=0: hwsim holds it [10, 2048] as nn.Linear
    does, so the all-zero column 7 of B is one dead output channel."""
    graph = hwsim.trace(hand_cnn(tmp_path / "m.onnx"), input_shapes="1,3,32,32", cache=False)
    fc = next(op for op in graph if op.id == "fc")
    assert fc.weight is not None and fc.weight.shape == (10, 2048)
    assert fc.weight_stats is not None
    assert fc.weight_stats.zero_output_channels == 1
    assert fc.weight_stats.density == pytest.approx(0.9)
    assert tuple(graph.weight("fc").shape) == (10, 2048)
    assert isinstance(graph.weight("fc"), torch.Tensor)


def test_dynamic_dimension_needs_a_shape(tmp_path):
    path = hand_cnn(tmp_path / "m.onnx")
    with pytest.raises(InputShapeError, match=r"input 'x' has dynamic dimension\(s\) N"):
        hwsim.trace(path, cache=False)
    batched = hwsim.trace(path, batch=4, cache=False)
    assert batched.info.batch == 4
    assert batched.macs == 4 * 260_096
    with pytest.raises(InputShapeError, match="has 4 dimensions"):
        hwsim.trace(path, input_shapes="1,3,32", cache=False)


def test_unsupported_op_is_listed_not_dropped(tmp_path):
    nodes = [
        helper.make_node("Relu", ["x"], ["r"], name="relu"),
        helper.make_node("Mystery", ["r"], ["m"], name="mystery", domain="com.example"),
        helper.make_node("MatMul", ["m", "w"], ["y"], name="mm"),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [_init("w", np.ones((16, 8), np.float32))],
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)],
    )
    path = str(tmp_path / "custom.onnx")
    onnx.save(model, path)
    g = hwsim.trace(path, cache=False)
    kinds = {op.id: op.kind for op in g}
    assert kinds["mystery"] is OpKind.UNSUPPORTED
    # The op after it has no known input shape either: it is listed too, never guessed.
    assert kinds["mm"] is OpKind.UNSUPPORTED
    est = hwsim.estimate(g, "tpu_edge")
    assert {u.id for u in est.unsupported} == {"mystery", "mm"}
    assert not est.complete


def test_register_onnx_op_prices_a_custom_op(tmp_path):
    nodes = [helper.make_node("Scale2", ["x"], ["y"], name="s", domain="com.example")]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 16])],
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)],
    )
    # Shape inference knows nothing of a custom op: its output shape comes from the file.
    model.graph.value_info.append(helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 16]))
    path = str(tmp_path / "custom.onnx")
    onnx.save(model, path)
    register_onnx_op("Scale2", OpKind.POINTWISE, domain="com.example")
    op = next(iter(hwsim.trace(path, cache=False)))
    assert op.kind is OpKind.POINTWISE and op.target == "onnx.com.example:Scale2"


def qdq_model(path) -> str:
    """x -> QuantizeLinear -> DequantizeLinear -> Conv(DequantizeLinear(int8 W)): the QDQ format
    ONNX Runtime's quantizer writes."""
    w_int8 = np.arange(-8, 8, dtype=np.int8).reshape(4, 4, 1, 1)
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "s", "zp"], ["xq"], name="q"),
        helper.make_node("DequantizeLinear", ["xq", "s", "zp"], ["xd"], name="dq"),
        helper.make_node("DequantizeLinear", ["wq", "ws"], ["w"], name="dqw"),
        helper.make_node("Conv", ["xd", "w"], ["y"], name="conv"),
    ]
    graph = helper.make_graph(
        nodes,
        "qdq",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])],
        [
            _init("s", np.array(0.1, np.float32)),
            _init("zp", np.array(0, np.int8)),
            _init("wq", w_int8),
            _init("ws", np.array(0.05, np.float32)),
        ],
    )
    return _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def test_qdq_model_prices_int8(tmp_path):
    graph = hwsim.trace(qdq_model(tmp_path / "q.onnx"), cache=False)
    conv = next(op for op in graph if op.id == "conv")
    assert conv.weight_bits == 8 and conv.act_bits == 8
    assert conv.precision == "int8"
    # The dequantized weight is what statistics see: one zero (int8 0) in 16 values.
    assert conv.weight_stats is not None and conv.weight_stats.density == pytest.approx(15 / 16)
    assert not any(op.id == "dqw" for op in graph)  # weight dequantization is a constant
    assert {op.id for op in graph if op.kind is OpKind.POINTWISE} == {"q", "dq"}


# --- refusing files -----------------------------------------------------------------------


def _external_model(tmp_path, location: str) -> str:
    weight = _init("w", np.ones((16, 8), np.float32))
    weight.ClearField("float_data")
    weight.ClearField("raw_data")
    weight.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", str(16 * 8 * 4))):
        entry = weight.external_data.add()
        entry.key, entry.value = key, value
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")],
        "ext",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 8])],
        [weight],
    )
    path = tmp_path / "model" / "m.onnx"
    path.parent.mkdir(exist_ok=True)
    with path.open("wb") as f:
        f.write(helper.make_model(graph).SerializeToString())
    return str(path)


def test_external_data_beside_the_model_is_read(tmp_path):
    path = _external_model(tmp_path, "w.bin")
    (tmp_path / "model" / "w.bin").write_bytes(np.full((16, 8), 2.0, np.float32).tobytes())
    graph = hwsim.trace(path, cache=False)
    assert graph.macs == 4 * 8 * 16
    assert graph.weight("mm").flatten()[0].item() == 2.0


@pytest.mark.parametrize("location", ["../secret.bin", "/etc/passwd", "sub/../../secret.bin"])
def test_external_data_outside_the_model_directory_is_refused(tmp_path, location):
    (tmp_path / "secret.bin").write_bytes(b"\0" * 512)
    with pytest.raises(ModelLoadError, match=r"outside the model's directory|not a file in"):
        hwsim.trace(_external_model(tmp_path, location), cache=False)


def test_external_data_through_a_symlink_out_is_refused(tmp_path):
    (tmp_path / "secret.bin").write_bytes(b"\0" * 512)
    path = _external_model(tmp_path, "link.bin")
    os.symlink(tmp_path / "secret.bin", tmp_path / "model" / "link.bin")
    with pytest.raises(ModelLoadError, match="not a file in the model's directory"):
        hwsim.trace(path, cache=False)


def test_external_data_shorter_than_the_tensor_is_refused(tmp_path):
    path = _external_model(tmp_path, "w.bin")
    (tmp_path / "model" / "w.bin").write_bytes(b"\0" * 100)
    with pytest.raises(ModelLoadError, match="needs 512 bytes"):
        hwsim.trace(path, cache=False)


def test_oversized_and_corrupt_files_are_refused(tmp_path, monkeypatch):
    path = hand_cnn(tmp_path / "m.onnx")
    monkeypatch.setattr(onnx_load, "MAX_MODEL_BYTES", 1000)
    with pytest.raises(ModelLoadError, match="more than an ONNX file can hold"):
        hwsim.trace(path, batch=1, cache=False)
    monkeypatch.undo()
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage that is not protobuf \xff\xff\xff")
    with pytest.raises(ModelLoadError, match="not a readable ONNX model"):
        hwsim.trace(str(bad), cache=False)


# --- torch exports: the same model through both frontends -------------------------------


class SmallCnn(nn.Module):
    """Conv+BN+ReLU, a depthwise block with ReLU6 and a residual add, SiLU, pooling, Linear."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16))
        self.dw = nn.Sequential(
            nn.Conv2d(16, 16, 3, 1, 1, groups=16, bias=False), nn.BatchNorm2d(16), nn.ReLU6()
        )
        self.pw = nn.Conv2d(16, 32, 1)
        self.fc = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.stem(x))
        y = self.dw(y) + y
        y = F.silu(self.pw(y))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(y, 1), 1))


class SmallBlock(nn.Module):
    """A transformer block: LayerNorm, Q/K/V projections on 3-D input, SDPA, GELU MLP."""

    def __init__(self, dim: int = 32, heads: int = 4) -> None:
        super().__init__()
        self.heads = heads
        self.norm = nn.LayerNorm(dim)
        self.q, self.k, self.v = (nn.Linear(dim, dim) for _ in range(3))
        self.out = nn.Linear(dim, dim)
        self.fc1, self.fc2 = nn.Linear(dim, 4 * dim), nn.Linear(4 * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, s, d = x.shape
        h = self.norm(x)

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.reshape(b, s, self.heads, d // self.heads).transpose(1, 2)

        a = F.scaled_dot_product_attention(split(self.q(h)), split(self.k(h)), split(self.v(h)))
        x = x + self.out(a.transpose(1, 2).reshape(b, s, d))
        return x + self.fc2(F.gelu(self.fc1(x)))


def _export_both(model: nn.Module, example: torch.Tensor, tmp_path, name: str):
    torch.manual_seed(0)
    model = model.eval()
    with torch.no_grad():
        for module in model.modules():  # BN statistics that are not the identity
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    pt2 = tmp_path / f"{name}.pt2"
    torch.export.save(torch.export.export(model, (example,)), str(pt2))
    onnx_path = tmp_path / f"{name}.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (example,),
            str(onnx_path),
            dynamo=False,
            opset_version=17,
            training=torch.onnx.TrainingMode.PRESERVE,  # keep BatchNormalization nodes
        )
    return hwsim.trace(str(pt2), cache=False), hwsim.trace(str(onnx_path), cache=False)


@pytest.mark.parametrize(
    ("model", "shape"),
    [(SmallCnn, (1, 3, 32, 32)), (SmallBlock, (2, 16, 32))],
    ids=["cnn", "transformer"],
)
def test_torch_export_prices_like_its_pt2(tmp_path, model, shape):
    """The same weights through torch.export and through ONNX: equal MACs and parameters, the
    same op kinds once the exporter's primitives are fused back, and latency within 1% on
    every preset profile."""
    pt2, onnx_graph = _export_both(model(), torch.randn(shape), tmp_path, model.__name__)
    assert onnx_graph.macs == pt2.macs
    assert onnx_graph.param_count == pt2.param_count
    assert sorted(str(op.kind) for op in onnx_graph if op.kind is not OpKind.VIEW) == sorted(
        str(op.kind) for op in pt2 if op.kind is not OpKind.VIEW
    )
    for name in preset_names():
        profile = load_profile(name)
        a, b = hwsim.estimate(pt2, profile), hwsim.estimate(onnx_graph, profile)
        assert b.complete, name
        assert b.latency_s == pytest.approx(a.latency_s, rel=0.01), name


def test_fused_patterns_name_their_parts(tmp_path):
    _, graph = _export_both(SmallBlock(), torch.randn(2, 16, 32), tmp_path, "block")
    targets = {op.target for op in graph}
    assert {"onnx.Attention", "onnx.Gelu", "onnx.MatMul+Add"} <= targets
    attention = next(op for op in graph if op.target == "onnx.Attention")
    assert dict(attention.attrs)["seq_q"] == 16 and dict(attention.attrs)["head_dim"] == 8
    assert "fused_nodes" in dict(attention.attrs)
    assert aten_equivalent("onnx.Gelu") == "gelu"
    assert aten_equivalent("onnx.MatMul+Add") == "linear"
    assert aten_equivalent("aten.add") == "add"


def test_module_names_follow_the_torch_scopes(tmp_path):
    pt2, onnx_graph = _export_both(SmallCnn(), torch.randn(1, 3, 32, 32), tmp_path, "cnn")
    mac_names = {op.name for op in onnx_graph if op.macs}
    assert mac_names == {op.name for op in pt2 if op.macs}

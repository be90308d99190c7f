"""The graph cache: a second trace of the same file skips tracing and returns the same graph;
anything that could make the entry wrong (other bytes, shapes, options, a file someone else
can write, a damaged file) is a miss, never an error."""

from __future__ import annotations

import math
import os

import networkx as nx
import numpy as np
import pytest
import torch
from torch import nn

import hwsim
from hwsim.compression import compress
from hwsim.compression.spec import Rule, parse_prune
from hwsim.compression.sqnr import output_sqnr
from hwsim.frontend import graph_cache, torch_trace
from hwsim.graph import OpGraph, RawTensor
from hwsim.ops import GraphInfo, Op, OpKind, TensorSpec, WeightStats


@pytest.fixture
def cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("HWSIM_NO_CACHE", raising=False)
    return tmp_path / "cache" / "hwsim" / "graphs"


@pytest.fixture
def mlp_file(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4)).eval()
    with torch.no_grad():
        model[0].weight[:, :8] = 0.0
    path = tmp_path / "mlp.pt2"
    torch.export.save(torch.export.export(model, (torch.randn(2, 16),)), str(path))
    return path


def _no_tracing(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("traced although the graph was cached")

    monkeypatch.setattr(torch_trace, "trace_torch", refuse)


def _same_graph(a: OpGraph, b: OpGraph) -> None:
    assert list(a) == list(b)
    assert a.info.inputs == b.info.inputs and a.info.batch == b.info.batch
    assert sorted(a.dag.edges(data="bytes")) == sorted(b.dag.edges(data="bytes"))
    for op in a:
        wa, wb = a.weight(op.id), b.weight(op.id)
        assert (wa is None) == (wb is None)
        if wa is not None:
            assert torch.equal(wa, wb)


def test_second_trace_is_read_from_the_cache(cache_home, mlp_file, monkeypatch):
    first = hwsim.trace(str(mlp_file))
    assert len(list(cache_home.glob("*.hwg"))) == 1
    _no_tracing(monkeypatch)
    second = hwsim.trace(str(mlp_file))
    _same_graph(first, second)
    assert second.program is None  # not stored; traced again only if someone asks for it


def test_other_options_and_other_bytes_miss(cache_home, mlp_file, monkeypatch):
    hwsim.trace(str(mlp_file))
    _no_tracing(monkeypatch)
    with pytest.raises(AssertionError, match="traced although"):
        hwsim.trace(str(mlp_file), batch=8)
    with pytest.raises(AssertionError, match="traced although"):
        hwsim.trace(str(mlp_file), fuse=False)
    with pytest.raises(AssertionError, match="traced although"):
        hwsim.trace(str(mlp_file), cache=False)
    mlp_file.write_bytes(mlp_file.read_bytes() + b"\0")  # other bytes: another model
    with pytest.raises(AssertionError, match="traced although"):
        hwsim.trace(str(mlp_file))


def test_entries_others_can_write_are_ignored(cache_home, mlp_file, monkeypatch):
    hwsim.trace(str(mlp_file))
    (entry,) = cache_home.glob("*.hwg")
    entry.chmod(0o664)
    _no_tracing(monkeypatch)
    with pytest.raises(AssertionError, match="traced although"):
        hwsim.trace(str(mlp_file))


def test_a_damaged_entry_is_a_miss_and_is_replaced(cache_home, mlp_file):
    first = hwsim.trace(str(mlp_file))
    (entry,) = cache_home.glob("*.hwg")
    entry.write_bytes(entry.read_bytes()[:200])
    again = hwsim.trace(str(mlp_file))  # traced anew, no error
    _same_graph(first, again)
    assert entry.stat().st_size > 200  # and written back whole


def test_deleting_the_cache_is_safe(cache_home, mlp_file):
    hwsim.trace(str(mlp_file))
    for entry in cache_home.iterdir():
        entry.unlink()
    cache_home.rmdir()
    assert hwsim.trace(str(mlp_file)).macs == 2 * (16 * 32 + 32 * 4)


def test_no_cache_environment_variable(cache_home, mlp_file, monkeypatch):
    monkeypatch.setenv("HWSIM_NO_CACHE", "1")
    hwsim.trace(str(mlp_file))
    assert not cache_home.exists()


def test_cached_graph_traces_again_for_the_accuracy_proxy(cache_home, mlp_file):
    hwsim.trace(str(mlp_file))
    cached = hwsim.trace(str(mlp_file))
    assert cached.program is None
    rules = [Rule(prune=parse_prune("0.5"))]
    proxy = output_sqnr(cached, compress(cached, rules))
    assert math.isfinite(proxy.output_db) and proxy.output_db > 0


def test_every_op_field_round_trips(cache_home):
    """An op with every field set to something unusual comes back equal."""
    op = Op(
        id="a",
        name="block.conv",
        kind=OpKind.CONV,
        target="aten.conv2d",
        inputs=(TensorSpec((1, 4, 8, 8), "float16"),),
        outputs=(TensorSpec((1, 4, 8, 8), "float16"),),
        params=(TensorSpec((4, 4, 1, 1), "bfloat16"), TensorSpec((4,), "float32")),
        macs=1024,
        flops=2048,
        read_bytes=512,
        write_bytes=0,
        attrs=(
            ("stride", (1, 1)),
            ("padding", [0, 0]),
            ("mode", "same"),
            ("x", None),
            ("inf", math.inf),
            ("nested", ((1, [2]), "s")),
        ),
        weight_stats=WeightStats(0.5, 1.0, 1.0, 0.75, 0.5, 1, 4),
        folded=("aten.batch_norm",),
        fused_into=None,
        module_type="Conv2d",
        weight_bits=4,
        act_bits=8,
    )
    relu = Op(
        id="b",
        name="relu",
        kind=OpKind.POINTWISE,
        target="aten.relu",
        inputs=(),
        outputs=(),
        fused_into="a",
    )
    dag = nx.DiGraph()
    weight = torch.arange(16, dtype=torch.float32).reshape(4, 4, 1, 1).to(torch.bfloat16)
    dag.add_node("a", op=op, position=0, weight=weight)
    dag.add_node("b", op=relu, position=1, weight=None)
    dag.add_edge("a", "b", bytes=512)
    graph = OpGraph(dag, GraphInfo("x.pt2", (TensorSpec((1, 4, 8, 8), "float16"),), 1, ("n",)))
    assert graph_cache.store("k" * 64, graph)
    back = graph_cache.load("k" * 64, source="y.pt2")
    assert back is not None
    assert list(back) == [op, relu]
    assert back.info.source == "y.pt2" and back.info.notes == ("n",)
    assert isinstance(back.dag.nodes["a"]["weight"], RawTensor)
    assert torch.equal(back.weight("a"), weight)
    assert back.weight("a").dtype == torch.bfloat16


def test_what_the_format_cannot_hold_is_not_cached(cache_home):
    op = Op(
        id="a",
        name="a",
        kind=OpKind.POINTWISE,
        target="t",
        inputs=(),
        outputs=(),
        attrs=(("dtype", torch.float32),),
    )
    dag = nx.DiGraph()
    dag.add_node("a", op=op, position=0)
    assert not graph_cache.store("k" * 64, OpGraph(dag, GraphInfo("m", (), 1)))


def test_onnx_external_data_change_is_a_miss(cache_home, tmp_path):
    from onnx import TensorProto, helper

    weight = helper.make_tensor("w", TensorProto.FLOAT, [16, 8], np.ones(128, np.float32))
    weight.ClearField("float_data")
    weight.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "w.bin"), ("offset", "0"), ("length", "512")):
        entry = weight.external_data.add()
        entry.key, entry.value = key, value
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")],
        "ext",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 8])],
        [weight],
    )
    path = tmp_path / "m.onnx"
    path.write_bytes(helper.make_model(graph).SerializeToString())
    (tmp_path / "w.bin").write_bytes(np.full(128, 1.0, np.float32).tobytes())
    assert hwsim.trace(str(path)).weight("mm").sum().item() == 128
    assert hwsim.trace(str(path)).weight("mm").sum().item() == 128  # from the cache
    (tmp_path / "w.bin").write_bytes(np.full(128, 2.0, np.float32).tobytes())
    assert hwsim.trace(str(path)).weight("mm").sum().item() == 256


def test_cache_directory_is_private(cache_home, mlp_file):
    hwsim.trace(str(mlp_file))
    assert cache_home.stat().st_mode & 0o077 == 0
    (entry,) = cache_home.glob("*.hwg")
    assert entry.stat().st_mode & 0o077 == 0
    assert os.access(entry, os.R_OK)


def test_a_weightless_archive_is_traced_not_cached(cache_home, tmp_path):
    """Weights exported under FakeTensorMode have no bytes to store: the graph is returned
    as traced and no entry is written (the next trace traces again)."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode():
        model = nn.Linear(64, 32)
        x = torch.empty(4, 64)
    path = tmp_path / "fake.pt2"
    torch.export.save(torch.export.export(model, (x,), strict=False), str(path))
    assert hwsim.trace(str(path)).macs == 4 * 64 * 32
    assert not (cache_home.exists() and any(cache_home.rglob("*.hwg")))

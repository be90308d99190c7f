"""Chrome / Perfetto traces: valid JSON whose complete events span the estimated latency."""

from __future__ import annotations

import json
from itertools import pairwise

import pytest

import hwsim
from hwsim.trace_events import ARRAY, DMA, HOST, VECTOR, to_chrome_trace


def _events(estimates):
    trace = json.loads(to_chrome_trace(estimates))
    return trace["traceEvents"]


def _complete(events, pid=1):
    return [e for e in events if e["ph"] == "X" and e["pid"] == pid]


def _compute(events, pid=1):
    return [e for e in _complete(events, pid) if e["cat"] != DMA]


def _track_names(events, pid=1):
    """Thread id -> the track's name, from the ``thread_name`` metadata a viewer shows."""
    return {
        e["tid"]: e["args"]["name"]
        for e in events
        if e["ph"] == "M" and e["name"] == "thread_name" and e["pid"] == pid
    }


@pytest.mark.parametrize(
    "hw", ["tpu_edge", "gpu_a100", "cpu_x86_avx2", "eyeriss", "fpga_zcu104_dpu", "fpga_u250"]
)
@pytest.mark.parametrize("batch", [1, 3])
def test_events_span_the_estimated_latency(graph_of, hw, batch):
    graph = graph_of("resnet18") if batch == 1 else hwsim.trace("resnet18", batch=batch)
    est = hwsim.estimate(graph, hw)
    events = _complete(_events([est]))
    start = min(e["ts"] for e in events)
    end = max(e["ts"] + e["dur"] for e in events)
    assert start == 0.0
    assert end - start == pytest.approx(est.latency_s * 1e6, rel=1e-9)


@pytest.mark.parametrize("hw", ["tpu_edge", "gpu_a100", "cpu_x86_avx2"])
def test_op_by_op_classes_take_turns(graph_of, hw):
    """Ops run one after another: compute events tile [0, latency] without overlapping, one per
    priced op, on the array (MAC ops) or the vector unit (the rest)."""
    est = hwsim.estimate(graph_of("mobilenet_v2"), hw)
    events = sorted(_compute(_events([est])), key=lambda e: e["ts"])
    priced = [(op, c) for op, c in est.costs if c is not None and c.cycles > 0]
    assert len(events) == len(priced)
    for (op, cost), event in zip(priced, events, strict=True):
        assert event["args"]["id"] == op.id
        assert event["cat"] == (ARRAY if op.macs else VECTOR)
        assert event["dur"] == pytest.approx(cost.latency_s * 1e6)
    for a, b in pairwise(events):
        assert b["ts"] == pytest.approx(a["ts"] + a["dur"])
    # Memory transfers sit inside the op they belong to.
    windows = {e["name"]: e for e in events}
    for dma in (e for e in _complete(_events([est])) if e["cat"] == DMA):
        op = windows[dma["name"]]
        assert op["ts"] <= dma["ts"] and dma["ts"] + dma["dur"] <= op["ts"] + op["dur"] + 1e-9


def test_streaming_pipeline_runs_layers_on_engines_of_their_own(graph_of):
    est = hwsim.estimate(graph_of("resnet18"), "fpga_u250")
    events = _events([est])
    names = _track_names(events)
    tracks = {names[e["tid"]] for e in _compute(events)}
    assert len(tracks) > 10 and all(t.startswith("PE array: ") for t in tracks)
    dma = sorted((e for e in _complete(events) if e["cat"] == DMA), key=lambda e: e["ts"])
    assert [e["name"] for e in dma] == ["DMA in", "DMA out"]
    assert dma[0]["ts"] == 0.0


def test_overlay_host_time_is_on_the_host_track(graph_of):
    est = hwsim.estimate(graph_of("resnet18"), "fpga_zcu104_dpu")
    host = [e for e in _complete(_events([est])) if e["cat"] == HOST]
    assert len(host) == 1 and host[0]["dur"] > 0


def test_unsupported_ops_are_markers_not_time(tmp_path):
    from onnx import TensorProto, helper

    nodes = [
        helper.make_node("Relu", ["x"], ["r"], name="relu"),
        helper.make_node("Mystery", ["r"], ["y"], name="mystery", domain="com.example"),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)]
    )
    path = tmp_path / "m.onnx"
    path.write_bytes(model.SerializeToString())
    est = hwsim.estimate(hwsim.trace(str(path), cache=False), "tpu_edge")
    events = _events([est])
    markers = [e for e in events if e["ph"] == "i"]
    assert [m["args"]["id"] for m in markers] == ["mystery"]
    assert _track_names(events)[markers[0]["tid"]] == HOST
    assert all(e["args"].get("id") != "mystery" for e in _complete(events))


def test_several_estimates_are_several_processes(graph_of):
    graph = graph_of("mobilenet_v2")
    estimates = [hwsim.estimate(graph, hw) for hw in ("tpu_edge", "gpu_a100")]
    events = _events(estimates)
    names = {e["pid"]: e["args"]["name"] for e in events if e.get("name") == "process_name"}
    assert sorted(names) == [1, 2]
    assert "tpu_edge" in names[1] and "gpu_a100" in names[2]
    for pid, est in enumerate(estimates, start=1):
        done = max(e["ts"] + e["dur"] for e in _complete(events, pid))
        assert done == pytest.approx(est.latency_s * 1e6, rel=1e-9)


@pytest.mark.parametrize(("hw", "array"), [("tpu_edge", "systolic array"), ("gpu_a100", None)])
def test_tracks_are_integer_threads_named_per_engine(graph_of, hw, array):
    """Perfetto keys threads on integer ids and names them from ``thread_name`` metadata; every
    event's thread is named, and the engines are the array, the vector unit and the memory."""
    est = hwsim.estimate(graph_of("mobilenet_v2"), hw)
    events = _events([est])
    names = _track_names(events)
    assert all(isinstance(e["tid"], int) for e in events if "tid" in e)
    assert {e["tid"] for e in events if e["ph"] != "M"} <= set(names)
    shown = set(names.values())
    assert {VECTOR, DMA} <= shown and len(shown) == 3
    if array is not None:
        assert array in shown

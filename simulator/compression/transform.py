"""Apply compression rules to a traced graph, producing a new graph (the input is untouched).

Pruning and quantization act on the real weight tensors the frontend kept, so the new graph's
weight statistics are measured from the compressed values exactly as they would be for a
model that arrived already compressed: every cost model then prices them through the same
path as detection. Channel pruning is structural: where an op's output channels can be
removed (every reader is channel-wise or a GEMM/conv that consumes them), the op and its
readers shrink; where a residual add or concat ties the channels to another branch, the
channels are zeroed instead and the note says why.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import networkx as nx
import numpy as np
import torch

from ..frontend.weight_stats import reduction_matrix, weight_stats
from ..graph import OpGraph
from ..ops import MAC_KINDS, Op, OpKind, TensorSpec
from .prune import channel_keep, prune
from .quantize import quantize_weight, to_float_format
from .spec import CompressionError, Rule

# Ops that run on integer activations in an integer deployment; softmax, norms and embedding
# tables stay in floating point in the toolchains we model (TFLite, TensorRT, FINN).
_INT_ACT_KINDS = frozenset({OpKind.POINTWISE, OpKind.POOL, OpKind.COPY, OpKind.RESAMPLE})
_FLOAT_DTYPES = {"fp16": "float16", "bf16": "bfloat16"}
# Readers through which an op's output channels pass one to one.
_CHANNELWISE = frozenset({OpKind.POINTWISE, OpKind.POOL, OpKind.NORM, OpKind.VIEW, OpKind.RESAMPLE})


@dataclass(frozen=True)
class Applied:
    """What compression did to one op: kept on its graph node for reports and the proxy."""

    prune: str | None = None  # the spec's label
    quant: str | None = None
    weight: torch.Tensor | None = None  # full-shape compressed weight (pruned + quantized)
    act_bits: int | None = None
    float_format: str | None = None
    channels_kept: np.ndarray | None = None  # bool per output channel, channel pruning only
    note: str = ""

    @property
    def label(self) -> str:
        return "+".join(x for x in (self.quant, self.prune) if x)


def compress(graph: OpGraph, rules: Sequence[Rule]) -> OpGraph:
    """``graph`` with each op compressed by the first rule whose ``layers`` matches its name."""
    if not rules:
        return graph
    dag = graph.dag.copy()
    shrink: list[tuple[str, np.ndarray]] = []
    used: set[int] = set()
    for op_id in graph.order:
        op = graph[op_id]
        index = next((i for i, r in enumerate(rules) if r.matches(op.name)), None)
        if index is not None:
            used.add(index)
        rule = rules[index] if index is not None else None
        if rule is None or rule.skip or op.kind is OpKind.UNSUPPORTED:
            continue
        node = dag.nodes[op_id]
        new_op, applied = _compress_op(op, graph.weight(op_id), rule)
        node["op"] = new_op
        if applied is not None:
            node["compression"] = applied
            if applied.weight is not None:
                node["weight"] = applied.weight
            if applied.channels_kept is not None:
                shrink.append((op_id, applied.channels_kept))
    _check_all_used(graph, rules, used)
    out = graph.with_dag(dag)
    for op_id, kept in shrink:
        _remove_channels(out, op_id, kept)
    return out


def _check_all_used(graph: OpGraph, rules: Sequence[Rule], used: set[int]) -> None:
    """A rule that matches nothing is almost always a typo in its regex: say so."""
    for i, rule in enumerate(rules):
        if i not in used:
            names = [op.name for op in graph if op.kind in MAC_KINDS][:3]
            raise CompressionError(
                f"rule {i} (layers '{rule.layers}') matches no op of {graph.info.source}; "
                f"op names look like: {', '.join(names)}"
            )


def _compress_op(op: Op, weight: torch.Tensor | None, rule: Rule) -> tuple[Op, Applied | None]:
    quant = rule.quant
    fmt = quant.float_format if quant is not None else None
    if op.kind not in MAC_KINDS or weight is None:
        if fmt is not None:
            return _to_float(op, fmt), Applied(quant=fmt, float_format=fmt)
        if quant is not None and quant.act_bits is not None and op.kind in _INT_ACT_KINDS:
            bits = quant.act_bits if quant.act_bits <= 8 else None
            return dataclasses.replace(op, act_bits=bits), None
        return op, None
    new_weight = weight.detach()
    kept = None
    note = ""
    prune_spec = rule.prune
    if prune_spec is not None and prune_spec.pattern == "channel" and op.is_depthwise:
        # A depthwise conv's channels are its input's: they go when its producer's go.
        prune_spec, note = None, "depthwise: channels follow the producer's channel pruning"
    if prune_spec is not None:
        new_weight = prune(new_weight, prune_spec)
        if prune_spec.pattern == "channel":
            kept = channel_keep(reduction_matrix(weight), prune_spec.sparsity)
    if quant is not None and quant.weight_bits is not None:
        new_weight = quantize_weight(new_weight, quant.weight_bits)
    if fmt is not None:
        new_weight = to_float_format(new_weight, fmt)
    new_op = dataclasses.replace(op, weight_stats=weight_stats(new_weight))
    if fmt is not None:
        new_op = _to_float(new_op, fmt)
    elif quant is not None:
        new_op = dataclasses.replace(new_op, weight_bits=quant.weight_bits, act_bits=quant.act_bits)
    applied = Applied(
        prune=prune_spec.label if prune_spec else None,
        quant=quant.label if quant else None,
        weight=new_weight,
        act_bits=quant.act_bits if quant else None,
        float_format=fmt,
        channels_kept=kept,
        note=note,
    )
    return new_op, applied


def _float_spec(spec: TensorSpec, dtype: str) -> TensorSpec:
    return TensorSpec(spec.shape, dtype) if spec.dtype == "float32" else spec


def _to_float(op: Op, fmt: str) -> Op:
    """The op as ``model.half()`` / ``.bfloat16()`` would run it: 2-byte tensors."""
    dtype = _FLOAT_DTYPES[fmt]
    inputs = tuple(_float_spec(s, dtype) for s in op.inputs)
    outputs = tuple(_float_spec(s, dtype) for s in op.outputs)
    old_in = sum(s.nbytes for s in op.inputs)
    old_out = sum(s.nbytes for s in op.outputs)
    new_in = sum(s.nbytes for s in inputs)
    new_out = sum(s.nbytes for s in outputs)
    return dataclasses.replace(
        op,
        inputs=inputs,
        outputs=outputs,
        params=tuple(_float_spec(s, dtype) for s in op.params),
        read_bytes=round(op.read_bytes * new_in / old_in) if old_in else op.read_bytes,
        write_bytes=round(op.write_bytes * new_out / old_out) if old_out else op.write_bytes,
    )


# --- structural channel removal ---------------------------------------------------------------


def _channel_readers(graph: OpGraph, op_id: str) -> tuple[list[str], list[str], str | None]:
    """(channel-wise ops, consuming GEMM/convs, the op that blocks removal or None)."""
    passing: list[str] = []
    consuming: list[str] = []
    frontier = list(graph.consumers(op_id))
    seen: set[str] = set()
    while frontier:
        reader_id = frontier.pop()
        if reader_id in seen:
            continue
        seen.add(reader_id)
        reader = graph[reader_id]
        single = len(graph.producers(reader_id)) == 1
        channelwise = reader.kind in _CHANNELWISE and single and len(reader.inputs) <= 1
        if channelwise or reader.is_depthwise:
            passing.append(reader_id)
            frontier.extend(graph.consumers(reader_id))
        elif reader.kind in (OpKind.CONV, OpKind.GEMM) and reader.weight is not None and single:
            consuming.append(reader_id)
        else:
            return passing, consuming, reader_id
    return passing, consuming, None


def _shrink_spec(spec: TensorSpec, total: int, kept: int) -> TensorSpec:
    """The tensor with its channel axis cut from ``total`` to ``kept``: axis 1 of NCHW, else
    the last axis (a flatten folds channels into it, channel-major)."""
    shape = list(spec.shape)
    if len(shape) > 2 and shape[1] == total:
        shape[1] = kept
    elif shape and shape[-1] % total == 0:
        shape[-1] = shape[-1] // total * kept
    else:
        return spec
    return TensorSpec(tuple(shape), spec.dtype)


def _shrink_param(spec: TensorSpec, total: int, kept: int) -> TensorSpec:
    """A per-channel parameter (weight rows, bias, norm scale) cut along its first axis."""
    if not spec.shape or spec.shape[0] != total:
        return spec
    return TensorSpec((kept, *spec.shape[1:]), spec.dtype)


def _scaled(op: Op, ratio: float, **changes: object) -> Op:
    return dataclasses.replace(
        op,
        macs=round(op.macs * ratio),
        flops=round(op.flops * ratio),
        read_bytes=round(op.read_bytes * ratio),
        write_bytes=round(op.write_bytes * ratio),
        **changes,  # type: ignore[arg-type]
    )


def _shrunk_sources(op: Op, ratio: float, elements: int | None = None) -> object:
    """The op's stored weights after removing channels: every per-channel one (weight rows,
    bias, a folded batch-norm's scale and shift) shrinks by ``ratio``, or, given
    ``elements``, only the weight of that size (a consumer loses input columns, not bias)."""
    if op.param_sources is None:
        return None
    return tuple(
        (name, round(n * ratio) if elements is None or n == elements else n)
        for name, n in op.param_sources
    )


def _remove_channels(graph: OpGraph, op_id: str, kept: np.ndarray) -> None:
    """Cut ``op_id``'s pruned output channels out of it and its readers (in place on the new
    graph's dag), or leave them as zeros with a note when a reader ties them to a branch."""
    dag: nx.DiGraph = graph.dag
    node = dag.nodes[op_id]
    op: Op = node["op"]
    total, n_kept = int(kept.size), int(kept.sum())
    passing, consuming, blocker = _channel_readers(graph, op_id)
    applied: Applied = node["compression"]
    if blocker is not None:
        note = (
            f"channel pruning left {total - n_kept} zeroed channels in place: the output feeds "
            f"{graph[blocker].name} ({graph[blocker].target}), which ties them to another branch"
        )
        node["compression"] = dataclasses.replace(applied, note=note)
        return
    ratio = n_kept / total
    idx = torch.from_numpy(np.flatnonzero(kept))
    weight: torch.Tensor = graph.weight(op_id)
    node["weight"] = weight.index_select(0, idx)
    node["op"] = _scaled(
        op,
        ratio,
        param_sources=_shrunk_sources(op, ratio),
        params=tuple(_shrink_param(p, total, n_kept) for p in op.params),
        outputs=tuple(_shrink_spec(s, total, n_kept) for s in op.outputs),
        weight_stats=weight_stats(node["weight"]),
    )
    for reader_id in passing:
        reader: Op = dag.nodes[reader_id]["op"]
        changes: dict[str, object] = {
            "inputs": tuple(_shrink_spec(s, total, n_kept) for s in reader.inputs),
            "outputs": tuple(_shrink_spec(s, total, n_kept) for s in reader.outputs),
            "params": tuple(_shrink_param(p, total, n_kept) for p in reader.params),
            "param_sources": _shrunk_sources(reader, ratio),
        }
        if reader.is_depthwise:
            changes["attrs"] = tuple((k, n_kept if k == "groups" else v) for k, v in reader.attrs)
            dw = graph.weight(reader_id)
            if dw is not None:
                dag.nodes[reader_id]["weight"] = dw.index_select(0, idx)
        dag.nodes[reader_id]["op"] = _scaled(reader, ratio, **changes)
    for reader_id in consuming:
        _shrink_input_channels(graph, reader_id, kept)
    for u, _, data in dag.edges(data=True):
        if u == op_id or u in passing:
            data["bytes"] = round(data["bytes"] * ratio)
    node["compression"] = dataclasses.replace(
        applied, note=f"channel pruning removed {total - n_kept} of {total} output channels"
    )


def _shrink_input_channels(graph: OpGraph, op_id: str, kept: np.ndarray) -> None:
    """A GEMM/conv reading pruned channels loses the matching slice of its reduction axis."""
    node = graph.dag.nodes[op_id]
    op: Op = node["op"]
    total, n_kept = int(kept.size), int(kept.sum())
    weight: torch.Tensor | None = graph.weight(op_id)
    if op.weight is None or op.weight.shape[1] % total:
        return
    per_channel = op.weight.shape[1] // total  # > 1 when a flatten folded H x W in
    cols = np.repeat(kept, per_channel) if op.kind is OpKind.GEMM else kept
    idx = torch.from_numpy(np.flatnonzero(cols))
    new_k = int(cols.sum())
    ratio = new_k / op.weight.shape[1]
    w_spec = TensorSpec((op.weight.shape[0], new_k, *op.weight.shape[2:]), op.weight.dtype)
    changes: dict[str, object] = {
        "param_sources": _shrunk_sources(op, ratio, op.weight.numel),
        "params": (w_spec, *op.params[1:]),
        "inputs": tuple(_shrink_spec(s, total, n_kept) for s in op.inputs),
    }
    if op.kind is OpKind.GEMM:
        changes["attrs"] = tuple((k, new_k if k == "k" else v) for k, v in op.attrs)
    if weight is not None:
        node["weight"] = weight.index_select(1, idx)
        changes["weight_stats"] = weight_stats(node["weight"])
        # The accuracy proxy runs full shapes: zero columns read exactly what removal removes.
        applied: Applied = node.get("compression") or Applied(note="input channels pruned")
        full = applied.weight if applied.weight is not None else weight
        mask = torch.from_numpy(cols).to(full.dtype).reshape(1, -1, *([1] * (full.dim() - 2)))
        node["compression"] = dataclasses.replace(applied, weight=full * mask)
    new = _scaled(op, ratio, **changes)
    node["op"] = dataclasses.replace(new, write_bytes=op.write_bytes)

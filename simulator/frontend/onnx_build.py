"""Turn each op of an ``OnnxGraph`` into an ``Op``: the ONNX counterpart of ``builder``.

Constants are not ops (their values become weights and statistics); every other node becomes
one ``Op`` through its row in ``onnx_table``, or an ``unsupported`` op that reports list by
name when there is no row or its shapes are unknown. Names follow the module scopes torch's
exporter writes into node names (``/model/layer.0/conv/Conv`` -> ``model.layer.0.conv``), so
an ONNX export and the ``.pt2`` of one model name their layers alike.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import Any

import networkx as nx
import numpy as np
import onnx

from ..graph import OpGraph
from ..ops import MAC_KINDS, GraphInfo, Op, OpKind, TensorSpec
from .handlers import Work
from .onnx_graph import OnnxGraph, attributes
from .onnx_table import FUSED_DOMAIN, OnnxNode, OnnxRow, row_for, target_name
from .onnx_types import integer_bits, raw_tensor
from .weight_stats import weight_stats

_QUANT_OPS = frozenset({"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear"})


def _scope(node_name: str) -> tuple[str, str]:
    """(module path, leaf) of a node name torch's exporter wrote as ``/a/b.0/c/OpType_3``;
    older exporters repeat the full path at each level (``/features/features.0/Conv``)."""
    if not node_name.startswith("/"):
        return "", node_name
    parts = [p for p in node_name.split("/") if p]
    if len(parts) < 2:
        return "", parts[-1] if parts else node_name
    scope, leaf = parts[:-1], parts[-1]
    nested = len(scope) > 1 and all(b.startswith(f"{a}.") for a, b in pairwise(scope))
    return (scope[-1] if nested else ".".join(scope)), leaf


def _transposed(spec: TensorSpec) -> TensorSpec:
    shape = spec.shape
    return TensorSpec((*shape[:-2], shape[-1], shape[-2]), spec.dtype) if len(shape) >= 2 else spec


class _OpBuilder:
    def __init__(self, g: OnnxGraph) -> None:
        self.g = g
        self.kinds: dict[int, OpKind] = {}

    def is_op(self, node: onnx.NodeProto) -> bool:
        outputs = [o for o in node.output if o]
        return not outputs or outputs[0] not in self.g.constants

    def used(self, name: str) -> bool:
        return bool(self.g.consumers.get(name)) or name in self.g.outputs

    def weight_bits(self, name: str) -> int | None:
        """The storage width of a weight: its own integer dtype, or that of the tensor a
        (de)quantize node in its constant subgraph reads, never looking past a quant node."""
        found: list[int] = []
        stack, seen = [name], set()
        while stack:
            current = stack.pop()
            if current in seen or current not in self.g.constants:
                continue
            seen.add(current)
            producer = self.g.constants.producer(current)
            if producer is None:
                bits = integer_bits(self.g.dtypes.get(current, ""))
                if bits is not None and current == name:
                    found.append(bits)
                continue
            if producer.op_type in _QUANT_OPS:
                bits = self.quant_bits(producer)
                if bits is not None:
                    found.append(bits)
                continue
            stack.extend(i for i in producer.input if i)
        return min(found, default=None)

    def sources(self, names: Sequence[str]) -> tuple[tuple[str, int], ...]:
        """The stored tensors ``names`` (constant operands) are computed from, as (name,
        elements), each once: initializers and ``Constant`` outputs, and the outputs of
        ``Identity`` nodes, which exporters use to give one de-duplicated initializer the
        names of the several parameters that share its value. Arguments (a shape, gather
        indices, position ids) are not followed: they are no weights."""
        found: dict[str, int] = {}
        stack, seen = list(names), set()
        while stack:
            current = stack.pop()
            if current in seen or current not in self.g.constants:
                continue
            seen.add(current)
            producer = self.g.constants.producer(current)
            if producer is not None and producer.op_type in ("Shape", "Size"):
                continue  # a shape, not stored data
            if producer is None or producer.op_type in ("Identity", "Constant"):
                spec = self.g.spec(current)
                found[current] = spec.numel if spec is not None else 0
                continue
            row = row_for(producer.domain, producer.op_type)
            arguments = row.literal_inputs if row is not None else frozenset()
            stack.extend(n for i, n in enumerate(producer.input) if n and i not in arguments)
        return tuple(sorted(found.items()))

    def quant_bits(self, node: onnx.NodeProto) -> int | None:
        """The integer width a (de)quantize node stores its tensor at."""
        if node.op_type == "DequantizeLinear":
            return integer_bits(self.g.dtypes.get(node.input[0], ""))
        zero_point = node.input[2] if len(node.input) > 2 else ""
        return integer_bits(self.g.dtypes.get(zero_point, "uint8")) if zero_point else 8

    def act_bits(self, names: Sequence[str]) -> int | None:
        """The width of a quantized activation input: integer data, or the output of a
        DequantizeLinear reached through free view ops."""
        found = []
        for name in names:
            bits = integer_bits(self.g.dtypes.get(name, ""))
            index = self.g.producers.get(name)
            while bits is None and index is not None:
                node = self.g.nodes[index]
                if node.op_type == "DequantizeLinear":
                    bits = self.quant_bits(node)
                    break
                if self.kinds.get(index) is not OpKind.VIEW or not node.input:
                    break
                index = self.g.producers.get(node.input[0])
            if bits is not None and bits <= 16:
                found.append(bits)
        return min(found, default=None)


def build_onnx_graph(g: OnnxGraph) -> OpGraph:
    """One ``Op`` per non-constant node, in the file's (topological) order."""
    b = _OpBuilder(g)
    op_nodes = [i for i, n in enumerate(g.nodes) if b.is_op(n)]
    built: dict[int, tuple[Op, Any]] = {}
    for i in op_nodes:
        built[i] = _build_op(b, i, g.nodes[i])
    ids = _unique_ids(g, op_nodes)
    names = _display_names(g, op_nodes, {i: op for i, (op, _) in built.items()})
    dag = nx.DiGraph()
    for position, i in enumerate(op_nodes):
        op, weight = built[i]
        op = _renamed(op, ids[i], names[i])
        dag.add_node(op.id, op=op, position=position, weight=weight)
    for i in op_nodes:
        node = g.nodes[i]
        for name in node.input:
            src = g.producers.get(name) if name else None
            if src is None or src not in built or name in g.constants:
                continue
            spec = g.spec(name)
            nbytes = spec.nbytes if spec else 0
            edge = (ids[src], ids[i])
            if dag.has_edge(*edge):
                dag.edges[edge]["bytes"] += nbytes
            else:
                dag.add_edge(*edge, bytes=nbytes)
    first = g.inputs[0].shape if g.inputs else ()
    info = GraphInfo(source=g.source, inputs=g.inputs, batch=first[0] if first else 1)
    return OpGraph(dag=dag, info=info)


def _renamed(op: Op, op_id: str, name: str) -> Op:
    return dataclasses.replace(op, id=op_id, name=name)


def _build_op(b: _OpBuilder, index: int, node: onnx.NodeProto) -> tuple[Op, Any]:
    g = b.g
    row = row_for(node.domain, node.op_type)
    attrs = attributes(node)
    fused = tuple(attrs.pop("fused_nodes", ())) if node.domain == FUSED_DOMAIN else ()
    operands = tuple(g.spec(name) if name else None for name in node.input)
    activations: list[str] = []
    weights: list[tuple[int, str]] = []
    literals: dict[int, np.ndarray] = {}
    for position, name in enumerate(node.input):
        if not name:
            continue
        spec = operands[position]
        if name not in g.constants:
            activations.append(name)
        elif (row and position in row.literal_inputs) or spec is None or spec.numel <= 1:
            value = g.constants.value(name)
            if value is not None:
                literals[position] = value
        else:
            weights.append((position, name))
    transpose = (
        row is not None and row.transposed_weight is not None and row.transposed_weight(attrs)
    )
    outputs = [node.output[0]] if node.output else []
    outputs += [o for o in node.output[1:] if o and b.used(o)]
    in_specs = [g.spec(a) for a in activations]
    out_specs = [g.spec(o) for o in outputs]
    params = []
    for position, name in weights:
        spec = g.spec(name)
        if spec is not None:
            flip = transpose and row is not None and position == row.weight_input
            params.append(_transposed(spec) if flip else spec)
    target = target_name(node.domain, node.op_type)
    reason = _unsupported_reason(row, in_specs, out_specs, activations, outputs)
    known_in = tuple(s for s in in_specs if s is not None)
    known_out = tuple(s for s in out_specs if s is not None)
    work = Work()
    kind = OpKind.UNSUPPORTED
    if reason is None and row is not None:
        view = OnnxNode(node.op_type, known_in, tuple(params), known_out, operands, attrs, literals)
        kind = row.refine(view, node.input[0] in g.constants) if row.refine else row.kind
        try:
            work = row.handler(view)
        except (ValueError, KeyError, IndexError, TypeError, ZeroDivisionError) as exc:
            kind, reason = OpKind.UNSUPPORTED, f"cannot count its work ({exc})"
    b.kinds[index] = kind
    stats, weight = None, None
    weight_bits = None
    if kind in MAC_KINDS and weights:
        position, name = weights[0]
        value = g.constants.value(name)
        if value is not None:
            flip = transpose and row is not None and position == row.weight_input
            value = np.swapaxes(value, -1, -2) if flip and value.ndim >= 2 else value
            weight = raw_tensor(np.ascontiguousarray(value))
            stats = weight_stats(weight)
        weight_bits = b.weight_bits(name)
    extra: tuple[tuple[str, object], ...] = (("fused_nodes", fused),) if fused else ()
    if reason is not None:
        extra += (("unsupported_reason", reason),)
    moves_data = kind is not OpKind.VIEW
    op = Op(
        id=node.name,
        name=node.name,
        kind=kind,
        target=target,
        inputs=known_in,
        outputs=known_out,
        params=tuple(params),
        macs=work.macs,
        flops=work.flops,
        read_bytes=sum(s.nbytes for s in known_in) if moves_data else 0,
        write_bytes=sum(s.nbytes for s in known_out) if moves_data else 0,
        attrs=work.attrs + extra,
        weight_stats=stats,
        weight_bits=weight_bits,
        act_bits=None if node.op_type in _QUANT_OPS else b.act_bits(activations),
        param_sources=b.sources(
            [name for i, name in weights if row is None or i not in row.buffer_inputs]
        ),
    )
    return op, weight


def _unsupported_reason(
    row: OnnxRow | None,
    in_specs: Sequence[TensorSpec | None],
    out_specs: Sequence[TensorSpec | None],
    activations: Sequence[str],
    outputs: Sequence[str],
) -> str | None:
    if row is None:
        return "no row in hwsim's ONNX op table (hwsim.register_onnx_op adds one)"
    unknown = [a for a, s in zip(activations, in_specs, strict=True) if s is None]
    unknown += [o for o, s in zip(outputs[:1], out_specs[:1], strict=True) if s is None]
    if unknown:
        return f"the shape of '{unknown[0]}' is unknown after shape inference"
    return None


def _unique_ids(g: OnnxGraph, op_nodes: Sequence[int]) -> dict[int, str]:
    counts = Counter(g.nodes[i].name for i in op_nodes)
    ids: dict[int, str] = {}
    taken: set[str] = set()
    for i in op_nodes:
        node = g.nodes[i]
        base = node.name if node.name and counts[node.name] == 1 else f"{node.op_type}_{i}"
        candidate, n = base, 1
        while candidate in taken:
            candidate, n = f"{base}_{n}", n + 1
        taken.add(candidate)
        ids[i] = candidate
    return ids


def _display_names(g: OnnxGraph, op_nodes: Sequence[int], ops: Mapping[int, Op]) -> dict[int, str]:
    """The bare module path for the one op that owns a module's parameters (a Conv2d's conv);
    every other op is ``path/leaf``, as the torch frontend names them."""
    scopes = {i: _scope(g.nodes[i].name) for i in op_nodes}
    real = Counter(scopes[i][0] for i in op_nodes if ops[i].kind is not OpKind.VIEW)
    names = {}
    for i in op_nodes:
        path, leaf = scopes[i]
        leaf = leaf or f"{g.nodes[i].op_type}_{i}"
        if path and real[path] == 1 and ops[i].params:
            names[i] = path
        else:
            names[i] = f"{path}/{leaf}" if path else leaf
    return names

"""Small hand-made ``OpGraph``s for the memory tests: every tensor is int8, so a tensor of
``n`` elements is ``n`` bytes and hand counts read directly off the spec."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import networkx as nx

from hwsim.graph import OpGraph
from hwsim.ops import GraphInfo, Op, OpKind, TensorSpec

INPUT = "x"  # the model input, in ``reads``


@dataclass(frozen=True)
class Node:
    """One op: its id, what it reads (op ids or ``INPUT``), its output size, its kind."""

    id: str
    reads: tuple[str, ...]
    out: int
    kind: OpKind = OpKind.CONV
    fused_into: str | None = None


def spec(n: int) -> TensorSpec:
    return TensorSpec(shape=(n,), dtype="int8")


def build(nodes: Sequence[Node], input_bytes: int) -> OpGraph:
    """The graph of ``nodes`` (listed in traced order) with one model input."""
    sizes = {node.id: node.out for node in nodes}
    sizes[INPUT] = input_bytes
    dag = nx.DiGraph()
    for position, node in enumerate(nodes):
        op = Op(
            id=node.id,
            name=node.id,
            kind=node.kind,
            target="test",
            inputs=tuple(spec(sizes[r]) for r in node.reads),
            outputs=(spec(node.out),),
            fused_into=node.fused_into,
        )
        dag.add_node(node.id, op=op, position=position)
        for src in node.reads:
            if src == INPUT:
                continue
            if dag.has_edge(src, node.id):
                dag.edges[src, node.id]["bytes"] += sizes[src]
            else:
                dag.add_edge(src, node.id, bytes=sizes[src])
    info = GraphInfo(source="test", inputs=(spec(input_bytes),), batch=1)
    return OpGraph(dag=dag, info=info)

"""``OpGraph``: the traced model as a DAG of frozen ``Op`` values.

The graph is what every cost model walks; it is built once per model and shared read-only
across estimates, so a NAS loop or a sweep traces once and prices many times.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np

from .ops import MAC_KINDS, GraphInfo, Op, OpKind, cached_value


@dataclass(frozen=True)
class RawTensor:
    """A weight held as a numpy array until something needs it as a torch tensor.

    The ONNX frontend and the graph cache never import torch (importing it takes seconds), so
    they store weights this way; ``OpGraph.weight`` turns one into a tensor on first use.
    ``dtype`` is torch's name for it: numpy has no bfloat16, so a bfloat16 weight is held as
    its raw 16-bit patterns (``uint16``) and reinterpreted.
    """

    data: np.ndarray
    dtype: str

    def to_torch(self) -> Any:
        import torch  # deferred: loading a graph must not pay for importing torch

        data = self.data if self.data.flags.writeable else self.data.copy()
        tensor = torch.from_numpy(data)
        return tensor.view(torch.bfloat16) if self.dtype == "bfloat16" else tensor

    def to_float32(self) -> np.ndarray:
        """The values as float32, bfloat16 widened bit-exactly, for statistics."""
        if self.dtype == "bfloat16":
            return (self.data.astype(np.uint32) << 16).view(np.float32)
        return self.data.astype(np.float32, copy=False)


@dataclass(frozen=True)
class OpGraph:
    """Ops keyed by id in a ``networkx.DiGraph`` (node attribute ``op``); an edge carries the
    ``bytes`` of the tensor flowing along it. A MAC op's node may carry its real weight
    (attribute ``weight``: a torch tensor or a ``RawTensor``); read it with ``weight(op_id)``.
    """

    dag: nx.DiGraph
    info: GraphInfo
    # The torch.export program the graph came from (None for SCALE-Sim topologies and ONNX
    # models): the accuracy proxy runs it with compressed weights. Not part of the graph's
    # identity. A graph read back from the cache has none; ``retrace`` rebuilds it then.
    program: Any = field(default=None, compare=False, repr=False)
    retrace: Callable[[], OpGraph] | None = field(default=None, compare=False, repr=False)

    def with_dag(self, dag: nx.DiGraph) -> OpGraph:
        """The same model with rewritten ops: passes and compression keep info and program."""
        return OpGraph(dag=dag, info=self.info, program=self.program, retrace=self.retrace)

    def weight(self, op_id: str) -> Any:
        """The real weight tensor of ``op_id`` (a ``torch.Tensor``), None when it has none."""
        value = self.dag.nodes[op_id].get("weight")
        return value.to_torch() if isinstance(value, RawTensor) else value

    def exported_program(self) -> Any:
        """The torch.export program, traced again (once) for a graph read from the cache."""
        if self.program is None and self.retrace is not None:
            return self._retraced.program
        return self.program

    @cached_value
    def _retraced(self) -> OpGraph:
        assert self.retrace is not None
        return self.retrace()

    @cached_value
    def order(self) -> tuple[str, ...]:
        """Execution order: the topological order that takes the lowest ``position`` first.
        Frontends number ops in call order, so sorting by position usually is that order
        already; it is checked edge by edge (O(E)) and the general sort runs otherwise."""
        nodes = self.dag.nodes
        position = {n: int(d.get("position", 0)) for n, d in nodes.items()}
        by_position = sorted(position, key=position.__getitem__)
        distinct = len(set(position.values())) == len(position)
        if distinct and all(position[u] < position[v] for u, v in self.dag.edges):
            return tuple(by_position)
        return tuple(nx.lexicographical_topological_sort(self.dag, key=self._position))

    def _position(self, node_id: str) -> int:
        return int(self.dag.nodes[node_id].get("position", 0))

    def __getitem__(self, op_id: str) -> Op:
        # networkx's node dict read directly: the NodeView lookup is a Python call, and cost
        # models and passes read ops by id tens of times per op.
        op: Op = self.dag._node[op_id]["op"]
        return op

    def __iter__(self) -> Iterator[Op]:
        return iter(self.ops)

    def __len__(self) -> int:
        return self.dag.number_of_nodes()

    @cached_value
    def ops(self) -> tuple[Op, ...]:
        """The ops in execution order (a graph is not edited once built: passes and
        compression copy the DAG and make a new graph)."""
        return tuple(self[i] for i in self.order)

    @property
    def unsupported(self) -> list[Op]:
        return [op for op in self if op.kind is OpKind.UNSUPPORTED]

    @property
    def macs(self) -> int:
        """Multiply-accumulates of conv and GEMM-class ops (FlopCounterMode's FLOPs / 2)."""
        return sum(op.macs for op in self if op.kind in MAC_KINDS)

    @property
    def flops(self) -> int:
        return sum(op.flops for op in self)

    @property
    def param_count(self) -> int:
        """The model's parameters, each stored tensor once: a tied weight (GPT-2's embedding
        and head) counts once, a buffer that is no weight (position ids, a causal mask,
        running statistics) not at all, and batch-norm folded into a conv still counts its
        own scale and shift, as ``sum(p.numel() for p in model.parameters())`` does. Ops
        with no program behind them (a SCALE-Sim topology) count their operands."""
        stored: dict[str, int] = {}
        loose = 0
        for op in self:
            if op.param_sources is None:
                loose += op.param_count
                continue
            for name, elements in op.param_sources:
                stored[name] = max(stored.get(name, 0), elements)
        unread = sum(n for name, n in self.info.unread_params if name not in stored)
        return loose + sum(stored.values()) + unread

    @property
    def weight_bytes(self) -> int:
        return sum(op.weight_bytes for op in self)

    def producers(self, op_id: str) -> list[str]:
        return list(self.dag.predecessors(op_id))

    def consumers(self, op_id: str) -> list[str]:
        return list(self.dag.successors(op_id))

    def real_consumers(self, op_id: str) -> list[str]:
        """Consumers of an op's output, looking through free views to the ops that read it."""
        found: list[str] = []
        for succ in self.dag.successors(op_id):
            if self[succ].kind is OpKind.VIEW:
                found.extend(self.real_consumers(succ))
            else:
                found.append(succ)
        return found

    def real_producer(self, op_id: str) -> str:
        """The op that materialised the tensor a view chain ends in."""
        node = op_id
        while self[node].kind is OpKind.VIEW:
            preds = self.producers(node)
            if len(preds) != 1:
                break
            node = preds[0]
        return node

    def reads_model_input(self, op_id: str) -> bool:
        """An op reads a model input when its operands hold more bytes than its edges carry."""
        carried = sum(int(self.dag.edges[p, op_id]["bytes"]) for p in self.producers(op_id))
        return self[op_id].input_bytes > carried

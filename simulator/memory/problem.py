"""The scheduling problem behind peak activation memory: kernels, the buffers they write, and
which buffers each kernel reads.

An ``OpGraph`` has more nodes than a runtime has kernels: views are free (their output is
their input's storage, under another shape) and a pointwise op fused into its producer runs
inside that producer's kernel, so the tensor between them never reaches memory. This module
folds both away once. What is left is what every memory question needs:

- a **step** per kernel (a fusion group: its head and the pointwise ops fused into it), with
  the steps it must follow;
- a **buffer** per tensor that reaches memory: a step's output, or the model's inputs. A
  buffer is read by every step that reads it directly *or through any chain of views*, since a
  view aliases its storage: the tensor stays alive while any view of it is still read.

Sizes are device bytes: the caller's ``byte_scale(op)`` turns the model's bytes of the tensors
an op writes into the bytes the target stores them at (an fp32 model run as int8 stores a
quarter). Weights are not buffers; they live elsewhere (flash, or a weight region).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property

import networkx as nx

from ..graph import OpGraph
from ..ops import Op, OpKind

ByteScale = Callable[[Op], float]
InPlace = Callable[[Op], bool]
Fuses = Callable[[Op], bool]

INPUTS = "inputs"  # the name of the model-inputs buffer


def same_bytes(op: Op) -> float:
    """Tensors stored at the model's own dtypes."""
    return 1.0


def never_in_place(op: Op) -> bool:
    """A runtime that gives every output its own buffer (TFLite Micro's planner does)."""
    return False


def always_fused(op: Op) -> bool:
    """A runtime that runs every pointwise op the frontend fused inside its producer's kernel."""
    return True


@dataclass(frozen=True)
class Buffer:
    """One tensor that occupies memory: a step's output, or the model's inputs.

    ``readers`` are step indices, views looked through. A model output (a buffer the model
    returns, directly or as a view) stays alive to the end of the schedule, since the caller
    reads it after the last kernel.
    """

    name: str
    nbytes: int
    producer: int | None  # step index; None for the model's inputs
    readers: frozenset[int]
    is_output: bool = False


@dataclass(frozen=True)
class Step:
    """One kernel: the op ids it runs (head first, then the ops fused into it)."""

    ops: tuple[str, ...]
    name: str  # the head op's display name
    reads: frozenset[int]  # buffer indices
    output: int | None  # the buffer it writes; None when it writes nothing
    after: frozenset[int]  # steps that must run first
    in_place: bool = False  # may write its output over an input buffer it reads last

    @property
    def head(self) -> str:
        return self.ops[0]


@dataclass(frozen=True)
class MemoryProblem:
    """Steps in traced order and the buffers between them."""

    steps: tuple[Step, ...]
    buffers: tuple[Buffer, ...]

    def __len__(self) -> int:
        return len(self.steps)

    @cached_property
    def traced_order(self) -> tuple[int, ...]:
        """The traced program order, each kernel as early as its inputs allow: a fused add
        runs where its last operand is ready, not where the head conv was traced."""
        # Kahn's algorithm taking the lowest-numbered ready step first (networkx's
        # lexicographical_topological_sort, without building a graph per model).
        waiting = [len(step.after) for step in self.steps]
        readers: list[list[int]] = [[] for _ in self.steps]
        for b, step in enumerate(self.steps):
            for a in step.after:
                readers[a].append(b)
        ready = [i for i, count in enumerate(waiting) if count == 0]
        heapq.heapify(ready)
        order = []
        while ready:
            step_index = heapq.heappop(ready)
            order.append(step_index)
            for b in readers[step_index]:
                waiting[b] -= 1
                if waiting[b] == 0:
                    heapq.heappush(ready, b)
        if len(order) != len(self.steps):
            raise nx.NetworkXUnfeasible("the kernels' dependencies have a cycle")
        return tuple(order)

    def output_bytes(self, step: int) -> int:
        out = self.steps[step].output
        return self.buffers[out].nbytes if out is not None else 0


def from_graph(
    graph: OpGraph,
    byte_scale: ByteScale = same_bytes,
    in_place: InPlace = never_in_place,
    fuses: Fuses = always_fused,
) -> MemoryProblem:
    """The kernels and buffers of ``graph``.

    ``byte_scale(op)`` is device bytes per model byte of the tensors ``op`` writes (applied to
    the op that writes a kernel's output; the model's inputs take the largest scale of the ops
    reading them). ``in_place(op)`` says whether the runtime writes the kernel headed by ``op``
    over an input it reads for the last time. ``fuses(op)``: whether a pointwise op the
    frontend fused into its producer really runs inside that kernel on the target (an eager
    runtime runs none; TFLite Micro runs activations inside the conv, but an add as its own
    kernel); one that does not starts its own kernel, which later ops of the chain join.
    """
    return _Builder(graph, byte_scale, in_place, fuses).build()


class _Builder:
    """One pass over the graph: fusion groups become steps, views resolve to storage."""

    def __init__(
        self, graph: OpGraph, byte_scale: ByteScale, in_place: InPlace, fuses: Fuses
    ) -> None:
        self.graph = graph
        self.byte_scale = byte_scale
        self.in_place = in_place
        self.groups: list[list[str]] = []
        self.group_of: dict[str, int] = {}
        for op_id in graph.order:
            op = graph[op_id]
            if op.kind is OpKind.VIEW:
                continue
            group = self._chain_group(op_id) if op.fused_into and fuses(op) else None
            if group is None:
                group = len(self.groups)
                self.groups.append([])
            self.groups[group].append(op_id)
            self.group_of[op_id] = group
        self._storage: dict[str, tuple[frozenset[int], bool]] = {}

    def _chain_group(self, op_id: str) -> int | None:
        """The kernel of the producer (through views) that ``op_id`` was fused after: the one
        in the same fusion chain (its head is the chain's root, or it is fused to it)."""
        root = self.graph[op_id].fused_into
        for pred in self.graph.producers(op_id):
            source = self.graph.real_producer(pred)
            if source in self.group_of and (self.graph[source].fused_into or source) == root:
                return self.group_of[source]
        return None

    def storage(self, node: str) -> tuple[frozenset[int], bool]:
        """The groups whose output buffers the tensor of ``node`` lives in, and whether it is
        (a view of) a model input. A view's storage is the storage of everything it reads."""
        if node in self._storage:
            return self._storage[node]
        if self.graph[node].kind is not OpKind.VIEW:
            found = (frozenset({self.group_of[node]}), False)
        else:
            groups: set[int] = set()
            reads_input = self.graph.reads_model_input(node)
            for pred in self.graph.producers(node):
                pred_groups, pred_input = self.storage(pred)
                groups |= pred_groups
                reads_input = reads_input or pred_input
            found = (frozenset(groups), reads_input)
        self._storage[node] = found
        return found

    def group_reads(self, members: Iterable[str], group: int) -> tuple[frozenset[int], bool]:
        """Groups whose buffers a kernel reads, and whether it reads the model's inputs."""
        groups: set[int] = set()
        reads_input = False
        for op_id in members:
            reads_input = reads_input or self.graph.reads_model_input(op_id)
            for pred in self.graph.producers(op_id):
                pred_groups, pred_input = self.storage(pred)
                groups |= pred_groups - {group}
                reads_input = reads_input or pred_input
        return frozenset(groups), reads_input

    def written(self, members: list[str]) -> int:
        """Device bytes a kernel writes: the outputs of the members no other member reads
        (one, the tail of the fused chain; the tensors inside the chain never reach memory)."""
        inside = set(members)
        leaving = [self.graph[m] for m in members if not set(self.graph.real_consumers(m)) & inside]
        return sum(math.ceil(op.output_bytes * self.byte_scale(op)) for op in leaving)

    def build(self) -> MemoryProblem:
        reads = [self.group_reads(members, g) for g, members in enumerate(self.groups)]
        outputs = self._model_outputs()
        readers_of: dict[int, set[int]] = {}  # group -> the groups that read its output
        for r, (groups, _) in enumerate(reads):
            for g in groups:
                readers_of.setdefault(g, set()).add(r)
        # Buffers: one per group that writes something, then the model inputs (if read).
        buffer_of: dict[int, int] = {}
        buffers: list[Buffer] = []
        for g, members in enumerate(self.groups):
            nbytes = self.written(members)
            if nbytes <= 0:
                continue
            readers = frozenset(readers_of.get(g, ()))
            buffer_of[g] = len(buffers)
            name = self.graph[members[0]].name
            buffers.append(Buffer(name, nbytes, g, readers, g in outputs[0]))
        input_readers = frozenset(r for r, (_, reads_in) in enumerate(reads) if reads_in)
        input_index = None
        if input_readers or outputs[1]:
            input_index = len(buffers)
            buffers.append(self._inputs_buffer(input_readers, outputs[1]))
        steps = []
        for g, members in enumerate(self.groups):
            groups, reads_in = reads[g]
            read_buffers = {buffer_of[p] for p in groups if p in buffer_of}
            if reads_in and input_index is not None:
                read_buffers.add(input_index)
            head = self.graph[members[0]]
            steps.append(
                Step(
                    ops=tuple(members),
                    name=head.name,
                    reads=frozenset(read_buffers),
                    output=buffer_of.get(g),
                    after=groups,
                    in_place=self.in_place(head),
                )
            )
        return MemoryProblem(steps=tuple(steps), buffers=tuple(buffers))

    def _inputs_buffer(self, readers: frozenset[int], is_output: bool) -> Buffer:
        model_bytes = sum(t.nbytes for t in self.graph.info.inputs)
        reader_ops = [self.graph[self.groups[r][0]] for r in readers]
        scale = max((self.byte_scale(op) for op in reader_ops), default=1.0)
        return Buffer(INPUTS, math.ceil(model_bytes * scale), None, readers, is_output)

    def _model_outputs(self) -> tuple[frozenset[int], bool]:
        """Groups whose buffers the model returns, and whether it returns (a view of) an input:
        nodes nothing reads that produce a tensor."""
        groups: set[int] = set()
        returns_input = False
        for node in self.graph.dag.nodes:
            op = self.graph[node]
            if self.graph.dag.out_degree(node) or not op.outputs:
                continue
            node_groups, node_input = self.storage(node)
            groups |= node_groups
            returns_input = returns_input or node_input
        return frozenset(groups), returns_input

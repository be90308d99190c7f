"""The reordering search against brute force, and the graph-level construction against an
oracle written straight from the definition, on random DAGs of up to 12 ops.

Brute force evaluates every topological order with ``lifetimes`` (an interval count); the
search (``min_peak_order``) computes peaks incrementally over sets of executed kernels. They
share no arithmetic, so agreement on many random DAGs (with model outputs, dead outputs and
in-place kernels) checks the dynamic program. The graph-level test builds ``OpGraph``s with
views and compares every step's live bytes with ``Oracle``, which reads the hand-made
node list, not the graph.
"""

from __future__ import annotations

from functools import cache

import networkx as nx
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from memory_graphs import INPUT, Node, build

from hwsim.memory import (
    Buffer,
    MemoryProblem,
    Step,
    greedy_arena,
    lifetimes,
    min_peak_order,
    plan_memory,
)
from hwsim.ops import OpKind

MAX_ORDERS = 2000  # brute force enumerates at most this many topological orders
PROPERTY_SETTINGS = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.filter_too_much]
)


def count_orders(n: int, after: list[frozenset[int]]) -> int:
    """Topological orders of a DAG on ``n`` nodes, by dynamic programming over done-sets."""
    need = [sum(1 << a for a in deps) for deps in after]

    @cache
    def ways(done: int) -> int:
        if done == (1 << n) - 1:
            return 1
        return sum(
            ways(done | 1 << v) for v in range(n) if not done >> v & 1 and need[v] & ~done == 0
        )

    return ways(0)


def all_orders(n: int, after: list[frozenset[int]]) -> list[tuple[int, ...]]:
    dag = nx.DiGraph()
    dag.add_nodes_from(range(n))
    dag.add_edges_from((a, b) for b in range(n) for a in after[b])
    return [tuple(order) for order in nx.all_topological_sorts(dag)]


@st.composite
def problems(draw: st.DrawFn) -> MemoryProblem:
    """A random kernel DAG: each kernel reads the model input or earlier outputs (most often
    the previous one, so most DAGs have a brute-forceable number of orders), writes 0-100
    bytes, may be a model output, and may run in place."""
    n = draw(st.integers(1, 12))
    input_bytes = draw(st.integers(1, 100))
    outs = [draw(st.integers(0, 100)) for _ in range(n)]
    reads: list[set[int]] = []  # -1 is the model input
    for i in range(n):
        chosen: set[int] = set()
        if i and draw(st.booleans()) | draw(st.booleans()):
            chosen.add(i - 1)
        extra = draw(st.lists(st.integers(-1, i - 1), max_size=2)) if i else [-1]
        chosen |= set(extra)
        reads.append(chosen)
    outputs = [draw(st.integers(0, 6)) == 0 for _ in range(n)]
    in_place = [draw(st.booleans()) for _ in range(n)]
    buffers = [
        Buffer(f"k{i}", outs[i], i, frozenset(r for r in range(n) if i in reads[r]), outputs[i])
        for i in range(n)
    ]
    input_readers = frozenset(r for r in range(n) if -1 in reads[r])
    buffers.append(Buffer("inputs", input_bytes, None, input_readers, False))
    steps = tuple(
        Step(
            ops=(f"k{i}",),
            name=f"k{i}",
            reads=frozenset(n if r == -1 else r for r in reads[i]),
            output=i,
            after=frozenset(r for r in reads[i] if r >= 0),
            in_place=in_place[i],
        )
        for i in range(n)
    )
    return MemoryProblem(steps=steps, buffers=tuple(buffers))


@PROPERTY_SETTINGS
@given(problems())
def test_search_equals_brute_force(problem: MemoryProblem) -> None:
    after = [step.after for step in problem.steps]
    n = len(problem.steps)
    assume(count_orders(n, after) <= MAX_ORDERS)
    best = min(lifetimes(problem, order).peak_bytes for order in all_orders(n, after))
    found = min_peak_order(problem)
    assert found.method == "exact"
    assert found.peak_bytes == best
    assert lifetimes(problem, found.order).peak_bytes == best


@PROPERTY_SETTINGS
@given(problems())
def test_arena_holds_every_tensor_apart(problem: MemoryProblem) -> None:
    """Tensors alive at the same step never share bytes, and the arena is at least the peak."""
    life = lifetimes(problem, problem.traced_order)
    plan = greedy_arena(life.tensors)
    live = [i for i, t in enumerate(life.tensors) if t.nbytes and t.end >= t.start]
    for a in live:
        for b in live:
            ta, tb = life.tensors[a], life.tensors[b]
            if a < b and ta.start <= tb.end and tb.start <= ta.end:
                apart = (
                    plan.offsets[a] + ta.nbytes <= plan.offsets[b]
                    or plan.offsets[b] + tb.nbytes <= plan.offsets[a]
                )
                assert apart, (ta, tb)
    no_in_place = all(not step.in_place for step in problem.steps)
    if no_in_place:
        assert plan.arena_bytes >= life.peak_bytes


@st.composite
def node_lists(draw: st.DrawFn) -> tuple[list[Node], int]:
    """Up to 12 ops in traced order; about one in four is a view of one earlier tensor."""
    n = draw(st.integers(1, 12))
    nodes: list[Node] = []
    for i in range(n):
        earlier = [INPUT, *(node.id for node in nodes)]
        is_view = i > 0 and draw(st.integers(0, 3)) == 0
        if is_view:
            source = draw(st.sampled_from(earlier[1:]))
            nodes.append(Node(f"v{i}", (source,), 1, kind=OpKind.VIEW))
            continue
        reads = {earlier[-1]} if draw(st.booleans()) else set()
        reads |= set(draw(st.lists(st.sampled_from(earlier), min_size=1 - len(reads), max_size=2)))
        nodes.append(Node(f"n{i}", tuple(sorted(reads)), draw(st.integers(1, 100))))
    return nodes, draw(st.integers(1, 100))


class Oracle:
    """Bytes alive at each position of an order of a node list's non-view ops, from the
    definition: a tensor's storage is its producer's (a view's is its source's); it is alive
    from its producer (the model input: from the start) until the last op reading it or any
    view of it, and to the end if the model returns it or a view of it."""

    def __init__(self, nodes: list[Node], input_bytes: int) -> None:
        by_id = {node.id: node for node in nodes}

        def storage(name: str) -> set[str]:
            if name == INPUT:
                return {INPUT}
            node = by_id[name]
            if node.kind is not OpKind.VIEW:
                return {name}
            return set().union(*(storage(r) for r in node.reads))

        read_anywhere = {r for node in nodes for r in node.reads}
        self.returned = set().union(*(storage(n.id) for n in nodes if n.id not in read_anywhere))
        self.size = {node.id: node.out for node in nodes if node.kind is not OpKind.VIEW}
        self.size[INPUT] = input_bytes
        self.readers = {
            name: [
                node.id
                for node in nodes
                if node.kind is not OpKind.VIEW and any(name in storage(r) for r in node.reads)
            ]
            for name in self.size
        }

    def live(self, order: list[str]) -> list[int]:
        position = {op: k for k, op in enumerate(order)}
        totals = [0] * len(order)
        for name, nbytes in self.size.items():
            start = 0 if name == INPUT else position[name]
            readers = [position[r] for r in self.readers[name]]
            if name == INPUT and not readers and name not in self.returned:
                continue
            end = len(order) - 1 if name in self.returned else max([start, *readers])
            for k in range(start, end + 1):
                totals[k] += nbytes
        return totals


@PROPERTY_SETTINGS
@given(node_lists())
def test_graph_construction_matches_the_definition(spec: tuple[list[Node], int]) -> None:
    nodes, input_bytes = spec
    graph = build(nodes, input_bytes)
    ops = [node.id for node in nodes if node.kind is not OpKind.VIEW]
    traced = plan_memory(graph)
    assert list(traced.op_order) == ops
    assert list(traced.lifetimes.live_bytes) == Oracle(nodes, input_bytes).live(ops)


@PROPERTY_SETTINGS
@given(node_lists())
def test_memory_schedule_equals_brute_force_on_graphs(spec: tuple[list[Node], int]) -> None:
    """The least peak over every order of the graph's ops, each counted by the oracle."""
    nodes, input_bytes = spec
    graph = build(nodes, input_bytes)
    plan = plan_memory(graph, "memory")
    dag = nx.DiGraph()
    for step in plan.problem.steps:
        dag.add_node(step.head)
    for step in plan.problem.steps:
        dag.add_edges_from((plan.problem.steps[a].head, step.head) for a in step.after)
    after = [step.after for step in plan.problem.steps]
    assume(count_orders(len(after), after) <= MAX_ORDERS)
    oracle = Oracle(nodes, input_bytes)
    best = min(max(oracle.live(list(order)), default=0) for order in nx.all_topological_sorts(dag))
    assert plan.method == "exact"
    assert plan.peak_bytes == best

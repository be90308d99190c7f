"""Inference-time graph rewrites every deployment toolchain performs.

Batch-norm after a conv or linear is folded into its weights, and pointwise ops that a kernel
can apply in its epilogue are fused into their producer, so the graph prices what actually
runs, not what the training code wrote.
"""

from __future__ import annotations

from ..graph import OpGraph
from ..ops import Op, OpKind, TensorSpec, evolve

_BATCH_NORMS = frozenset(
    {
        "aten._native_batch_norm_legit_no_training",
        "aten._native_batch_norm_legit",
        "aten.native_batch_norm",
        "aten.batch_norm",
        "onnx.BatchNormalization",
    }
)
# Kernels that can apply elementwise work to their output before writing it.
FUSION_HEADS = frozenset(
    {OpKind.CONV, OpKind.GEMM, OpKind.ATTENTION, OpKind.NORM, OpKind.POINTWISE}
)


def fold_batchnorm(graph: OpGraph) -> OpGraph:
    """Fold inference batch-norm into the conv/linear it directly follows.

    The folded op gains a bias (if it had none) and records what it absorbed; the batch-norm
    node disappears and its readers read the conv instead.
    """
    return _fold_batchnorm(graph.with_dag(graph.dag.copy()))


def _fold_batchnorm(graph: OpGraph) -> OpGraph:
    """``fold_batchnorm`` editing ``graph``'s DAG in place (the graph must not have been
    shared yet); the result is a new ``OpGraph`` over the same DAG."""
    dag = graph.dag
    for op_id in graph.order:
        op = graph[op_id]
        if op.target not in _BATCH_NORMS:
            continue
        preds = list(dag.predecessors(op_id))
        if len(preds) != 1:
            continue
        producer: Op = dag.nodes[preds[0]]["op"]
        if producer.kind not in (OpKind.CONV, OpKind.GEMM) or dag.out_degree(preds[0]) != 1:
            continue
        out_channels = (
            producer.outputs[0].shape[1]
            if producer.kind is OpKind.CONV
            else (producer.outputs[0].shape[-1])
        )
        params = producer.params
        if len(params) < 2 and params:
            params = (*params, TensorSpec(shape=(out_channels,), dtype=params[0].dtype))
        # The batch-norm's own module call goes with it into ``folded``; calls of modules
        # that begin at it (a container around it) begin at its producer now.
        dag.nodes[preds[0]]["op"] = evolve(
            producer,
            params=params,
            folded=(*producer.folded, op.target),
            param_sources=_merged(producer.param_sources, op.param_sources),
            module_calls=producer.module_calls + max(op.module_calls - 1, 0),
        )
        for succ in list(dag.successors(op_id)):
            dag.add_edge(preds[0], succ, **dag.edges[op_id, succ])
        dag.remove_node(op_id)
    return graph.with_dag(dag)


def _merged(
    a: tuple[tuple[str, int], ...] | None, b: tuple[tuple[str, int], ...] | None
) -> tuple[tuple[str, int], ...] | None:
    """The stored weights behind a folded op: its own and the batch-norm's scale and shift,
    which the model still stores though the deployed conv carries them in its bias."""
    if a is None and b is None:
        return None
    return tuple(dict([*(a or ()), *(b or ())]).items())


def fuse_pointwise(graph: OpGraph) -> OpGraph:
    """Mark each pointwise op that its producer's kernel can absorb, and move the traffic.

    A pointwise op fuses when one of its inputs comes (through views) from a fusion head whose
    output nothing else reads. The head then never writes that tensor, and the fused op reads
    only its other operands. ``fused_into`` names the kernel head, so chains (conv -> add ->
    relu) all point at the conv.
    """
    return _fuse_pointwise(graph.with_dag(graph.dag.copy()))


def _fuse_pointwise(graph: OpGraph) -> OpGraph:
    """``fuse_pointwise`` editing ``graph``'s DAG in place (the graph must not have been
    shared yet); the result is a new ``OpGraph`` over the same DAG."""
    dag = graph.dag
    view = graph.with_dag(dag)
    for op_id in graph.order:
        op: Op = dag.nodes[op_id]["op"]
        if op.kind is not OpKind.POINTWISE or not op.inputs:
            continue
        for pred in dag.predecessors(op_id):
            head_id = view.real_producer(pred)
            head: Op = dag.nodes[head_id]["op"]
            if head.kind not in FUSION_HEADS or view.real_consumers(head_id) != [op_id]:
                continue
            if head.kind is OpKind.POINTWISE and head.fused_into is None:
                continue
            root = head.fused_into or head_id
            dag.nodes[head_id]["op"] = evolve(head, write_bytes=0)
            carried = int(dag.edges[pred, op_id]["bytes"])
            dag.nodes[op_id]["op"] = evolve(
                op, fused_into=root, read_bytes=max(op.read_bytes - carried, 0)
            )
            break
    return graph.with_dag(dag)


def run_inference_passes(graph: OpGraph, *, fold_bn: bool = True, fuse: bool = True) -> OpGraph:
    """Both passes on the graph a frontend has just built and not handed to anyone yet: its
    DAG is edited in place rather than copied per pass (a NAS loop builds a graph per
    candidate, and the copies were a tenth of the passes' time)."""
    if fold_bn:
        graph = _fold_batchnorm(graph)
    if fuse:
        graph = _fuse_pointwise(graph)
    return graph

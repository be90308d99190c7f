"""One forward step of a decoder LLM on one device, as an ``OpGraph`` the cost models price.

A step is either the prefill of a batch of prompts (every prompt token at once, causal) or a
decode step (one new token per sequence against its KV cache). Both are the same layer stack;
they differ in the tokens each op processes and in the attention kernel:

- **Prefill attention** is one fused FlashAttention-style kernel over the prompt. It is causal,
  so the query at position ``i`` attends to ``i`` keys (at most the sliding window); the op
  carries the exact MAC count, and its ``seq_k`` is the mean number of keys per query, which
  is what a kernel that skips the blocks above the diagonal computes.
- **Decode attention** reads the KV cache once. By default it is FlashAttention-2's split-KV kernel
  (``flash_attn_with_kvcache``, which vLLM runs): the query heads that share a KV head are
  processed together (``seq_q`` = the group size) in the kernel's 64-row query block
  (``q_block``), and the keys are cut into ``kv_splits`` slices run by separate CTAs so a small
  batch still fills the GPU; a combine kernel then merges the fp32 partial outputs. The op
  reads K and V in the cache's dtype. The ``kv_per_query_head`` variant is a masked-MHA kernel
  on the CUDA cores (``cuda_cores``: a dot product per key, no query tile) that does not share
  a KV head between its query heads (TensorRT-LLM's generation kernel before its XQA kernels):
  each query head reads its KV head's cache, ``n_heads / n_kv_heads`` times the bytes.
  Either way the cached keys and values are persistent state (``state_read_bytes``): written
  steps ago, read from memory each step, not from a cache the previous kernel just filled.

Under tensor parallelism (Megatron-style, as vLLM and TensorRT-LLM shard Llama) each device
holds 1/T of the query heads, KV heads (replicated when there are fewer KV heads than
devices), MLP columns, experts' columns and vocabulary; the all-reduces between devices are
priced by ``parallel.py``, not here.

Mixture of experts: every token goes to ``experts_per_token`` experts, and a step reads the
weights of the experts its tokens touch. The expert GEMM ops hold all experts' weights (what
the device stores) and record in ``gathered_bytes`` the expected bytes of the distinct experts
a step's tokens touch (``routing.py``), which is what the cost models read, as they do for an
embedding lookup.

The graph is built unfused, with pointwise ops as their own nodes, and goes through the
frontend's fusion pass, so each profile fuses them (an inference engine) or runs them as
kernels of their own (eager) exactly as it does for a traced model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import networkx as nx

from ..frontend.passes import fuse_pointwise
from ..graph import OpGraph
from ..ops import DTYPE_BITS, GraphInfo, Op, OpKind, TensorSpec
from .config import LlmConfig, LlmError
from .formats import Quant
from .routing import expected_distinct_experts
from .splitkv import QUERY_BLOCK

# FLOPs per element, as the frontend's ATen table counts them (aten_table.py).
RMS_NORM_FLOPS = 6
LAYER_NORM_FLOPS = 8
SWIGLU_FLOPS = 5  # silu (4) times the up projection (1)
GELU_FLOPS = 8
ROPE_FLOPS = 3  # x * cos + rotate(x) * sin
SOFTMAX_FLOPS = 5

# Op ids whose cost depends on the KV length, one per layer: the decode integral prices them
# at every length and everything else once (serving.py).
KV_DEPENDENT = frozenset({"attention", "attention_combine"})


@dataclass(frozen=True)
class Layout:
    """What one of ``tp`` tensor-parallel devices holds of each sharded dimension."""

    tp: int
    heads: int
    kv_heads: int
    ffn: int
    vocab: int

    @staticmethod
    def of(cfg: LlmConfig, tp: int) -> Layout:
        if tp < 1:
            raise LlmError(f"--tp must be a positive integer, got {tp}")
        if cfg.n_heads % tp:
            raise LlmError(f"{cfg.name}: {cfg.n_heads} attention heads do not split over --tp {tp}")
        if cfg.ffn_hidden % tp:
            raise LlmError(f"{cfg.name}: MLP width {cfg.ffn_hidden} does not split over --tp {tp}")
        if cfg.n_kv_heads % tp == 0:
            kv_heads = cfg.n_kv_heads // tp
        elif tp % cfg.n_kv_heads == 0:
            kv_heads = 1  # each KV head is replicated on tp / n_kv_heads devices (vLLM's rule)
        else:
            raise LlmError(
                f"{cfg.name}: {cfg.n_kv_heads} key/value heads neither split over nor replicate "
                f"evenly on --tp {tp}"
            )
        return Layout(
            tp=tp,
            heads=cfg.n_heads // tp,
            kv_heads=kv_heads,
            ffn=cfg.ffn_hidden // tp,
            vocab=math.ceil(cfg.vocab / tp),
        )


@dataclass(frozen=True)
class Step:
    """``batch`` sequences each add ``new_tokens`` tokens after ``past`` cached ones."""

    batch: int
    new_tokens: int
    past: int = 0
    kv_splits: int = 1  # split-KV slices of the decode attention kernel
    # The decode kernel reads the cache once per query head (a masked-MHA kernel without
    # grouped-query sharing) instead of once per KV head.
    kv_per_query_head: bool = False

    @property
    def tokens(self) -> int:
        return self.batch * self.new_tokens

    @property
    def is_decode(self) -> bool:
        return self.new_tokens == 1 and self.past > 0


def _bytes(dtype: str) -> float:
    return DTYPE_BITS[dtype] / 8


def _op(
    op_id: str,
    kind: OpKind,
    target: str,
    inputs: Sequence[TensorSpec],
    outputs: Sequence[TensorSpec],
    params: Sequence[TensorSpec] = (),
    *,
    macs: int = 0,
    flops: int = 0,
    attrs: tuple[tuple[str, object], ...] = (),
    weight_bits: int | None = None,
    act_bits: int | None = None,
) -> Op:
    return Op(
        id=op_id,
        name=op_id,
        kind=kind,
        target=f"llm.{target}",
        inputs=tuple(inputs),
        outputs=tuple(outputs),
        params=tuple(params),
        macs=macs,
        flops=flops,
        read_bytes=sum(t.nbytes for t in inputs),
        write_bytes=sum(t.nbytes for t in outputs),
        attrs=attrs,
        weight_bits=weight_bits,
        act_bits=act_bits,
    )


class _Dag:
    """Adds ops in execution order; an edge carries the bytes its consumer reads."""

    def __init__(self) -> None:
        self.dag = nx.DiGraph()

    def add(self, op: Op, *reads: tuple[str, float]) -> Op:
        self.dag.add_node(op.id, op=op, position=self.dag.number_of_nodes())
        for producer, nbytes in reads:
            self.dag.add_edge(producer, op.id, bytes=int(nbytes))
        return op


@dataclass(frozen=True)
class _Ctx:
    """Everything the op builders of one step share."""

    cfg: LlmConfig
    quant: Quant
    kv_dtype: str
    layout: Layout
    step: Step

    @property
    def act(self) -> str:
        return self.quant.act_dtype

    @property
    def gemm_in(self) -> str:
        return self.quant.gemm_input_dtype

    def rows(self, width: int, dtype: str | None = None, rows: int | None = None) -> TensorSpec:
        return TensorSpec((self.step.tokens if rows is None else rows, width), dtype or self.act)


def _linear(
    c: _Ctx,
    op_id: str,
    x: TensorSpec,
    out_features: int,
    *,
    bias: bool,
    out_dtype: str | None = None,
    quantized: bool = True,
    out_rows: int | None = None,
    experts: int = 0,
    gathered_experts: float | None = None,
    attrs: tuple[tuple[str, object], ...] = (),
) -> Op:
    """A linear layer (one per expert when ``experts``): weight ``[out, in]`` in the quant's
    format, bias in the activation format; ``out_rows`` rows out (a token per routed expert)."""
    q = c.quant
    in_features = x.shape[-1]
    rows = x.shape[0] if out_rows is None else out_rows
    lead = (experts,) if experts else ()
    w_dtype = q.weight_dtype if quantized else c.act
    params = [TensorSpec((*lead, out_features, in_features), w_dtype)]
    if bias:
        params.append(TensorSpec((*lead, out_features), c.act))
    if gathered_experts is not None:
        per_expert = out_features * in_features * _bytes(w_dtype)
        attrs = (*attrs, ("gathered_bytes", gathered_experts * per_expert))
    macs = rows * out_features * in_features
    return _op(
        op_id,
        OpKind.GEMM,
        "linear",
        (x,),
        (c.rows(out_features, out_dtype, rows),),
        params,
        macs=macs,
        flops=2 * macs,
        attrs=(("k", in_features), *attrs),
        weight_bits=q.weight_bits if quantized else None,
        act_bits=q.act_bits if quantized else None,
    )


def _norm(c: _Ctx, op_id: str, x: TensorSpec, out_dtype: str) -> Op:
    layer = c.cfg.norm == "layer"
    params = [TensorSpec((c.cfg.hidden,), c.act)] * (2 if layer else 1)
    per_element = LAYER_NORM_FLOPS if layer else RMS_NORM_FLOPS
    out = TensorSpec(x.shape, out_dtype)
    return _op(
        op_id,
        OpKind.NORM,
        "layer_norm" if layer else "rms_norm",
        (x,),
        (out,),
        params,
        flops=per_element * x.numel,
    )


def _pointwise(
    op_id: str, target: str, inputs: Sequence[TensorSpec], out: TensorSpec, per_element: int
) -> Op:
    return _op(op_id, OpKind.POINTWISE, target, inputs, (out,), flops=per_element * out.numel)


def _attention_keys(c: _Ctx) -> tuple[int, int]:
    """(keys summed over one sequence's new queries, K/V rows read per sequence and KV head)."""
    s = c.step
    keys = sum(c.cfg.attended(p) for p in range(s.past + 1, s.past + s.new_tokens + 1))
    return keys, c.cfg.attended(s.past + s.new_tokens)


def attention_op(c: _Ctx, op_id: str) -> Op:
    """The fused attention kernel of one layer (module docstring: prefill and decode)."""
    cfg, lay, s = c.cfg, c.layout, c.step
    hd, heads, kv_heads = cfg.head_dim, lay.heads, lay.kv_heads
    keys, cached = _attention_keys(c)
    macs = s.batch * heads * keys * 2 * hd
    flops = 2 * macs + SOFTMAX_FLOPS * s.batch * heads * keys
    if s.is_decode:
        # FlashAttention-2 packs a KV head's query heads into the query block (seqlen_q =
        # group size) unless a sliding window is set (flash_api.cpp, seqlenq_ngroups_swapped).
        swapped = cfg.sliding_window is None and not s.kv_per_query_head
        seq_q = heads // kv_heads if swapped else 1
        rows = kv_heads if swapped else heads
        if s.kv_per_query_head:
            kv_heads = heads  # every query head streams its KV head's cache on its own
        io = c.kv_dtype
        # Every cached row but the new token's, which rope_kv has just written.
        past = s.batch * kv_heads * (cached - 1) * hd * _bytes(io)
        kernel: tuple[tuple[str, object], ...] = (
            (("cuda_cores", True),) if s.kv_per_query_head else (("q_block", QUERY_BLOCK),)
        )
        q = TensorSpec((s.batch, heads, 1, hd), io)
        out = (
            TensorSpec((s.kv_splits, s.batch, heads, hd), "float32")
            if s.kv_splits > 1
            else TensorSpec((s.batch, heads, 1, hd), c.gemm_in)
        )
        attrs: tuple[tuple[str, object], ...] = (
            ("seq_q", seq_q),
            ("seq_k", math.ceil(cached / s.kv_splits)),
            ("head_dim", hd),
            ("heads_x_batch", s.batch * rows * s.kv_splits),
            ("kv_splits", s.kv_splits),
            ("kv_len", cached),
            ("state_read_bytes", 2 * past),
            *kernel,
        )
    else:
        io = c.act
        q = TensorSpec((s.batch, heads, s.new_tokens, hd), io)
        out = TensorSpec((s.batch, heads, s.new_tokens, hd), c.gemm_in)
        attrs = (
            ("seq_q", s.new_tokens),
            ("seq_k", math.ceil(keys / s.new_tokens)),
            ("head_dim", hd),
            ("heads_x_batch", s.batch * heads),
            ("causal", True),
            ("kv_len", cached),
        )
    kv = TensorSpec((s.batch, kv_heads, cached, hd), io)
    return _op(
        op_id,
        OpKind.ATTENTION,
        "attention",
        (q, kv, kv),
        (out,),
        macs=macs,
        flops=flops,
        attrs=attrs,
    )


def combine_op(c: _Ctx, op_id: str) -> Op:
    """Merge the split-KV partial outputs (fp32, with their log-sum-exp) into one."""
    s, hd, heads = c.step, c.cfg.head_dim, c.layout.heads
    partial = TensorSpec((s.kv_splits, s.batch, heads, hd + 1), "float32")
    out = TensorSpec((s.batch, heads, hd), c.gemm_in)
    return _op(
        op_id,
        OpKind.REDUCE,
        "attention_combine",
        (partial,),
        (out,),
        flops=2 * partial.numel,
        attrs=(("kv_splits", s.kv_splits),),
    )


def _attention_block(g: _Dag, c: _Ctx, p: str, resid: Op) -> Op:
    cfg, lay = c.cfg, c.layout
    x = resid.outputs[0]
    norm = g.add(_norm(c, p + "attn_norm", x, c.gemm_in), (resid.id, x.nbytes))
    q_width, kv_width = lay.heads * cfg.head_dim, lay.kv_heads * cfg.head_dim
    qkv = g.add(
        _linear(c, p + "qkv", norm.outputs[0], q_width + 2 * kv_width, bias=cfg.qkv_bias),
        (norm.id, norm.outputs[0].nbytes),
    )
    fresh = qkv.outputs[0]
    q_spec = c.rows(q_width)
    kv_spec = c.rows(2 * kv_width, c.kv_dtype)
    if cfg.learned_positions:  # no rotary embedding: K and V go to the cache, Q to attention
        kv_in = c.rows(2 * kv_width)
        write = g.add(
            _op(p + "kv_write", OpKind.COPY, "kv_cache_write", (kv_in,), (kv_spec,)),
            (qkv.id, kv_in.nbytes),
        )
        reads = [(qkv.id, q_spec.nbytes), (write.id, kv_spec.nbytes)]
    else:  # rotary embedding on Q and K, fused with the KV-cache write
        rope = g.add(
            _op(
                p + "rope_kv",
                OpKind.POINTWISE,
                "rope_kv_cache_write",
                (fresh,),
                (q_spec, kv_spec),
                flops=ROPE_FLOPS * c.step.tokens * (q_width + kv_width),
            ),
            (qkv.id, fresh.nbytes),
        )
        reads = [(rope.id, q_spec.nbytes + kv_spec.nbytes)]
    attn = g.add(attention_op(c, p + "attention"), *reads)
    if c.step.kv_splits > 1:
        attn = g.add(combine_op(c, p + "attention_combine"), (attn.id, attn.outputs[0].nbytes))
    attn_out = c.rows(q_width, c.gemm_in)
    o_proj = g.add(
        _linear(c, p + "o_proj", attn_out, cfg.hidden, bias=cfg.o_bias),
        (attn.id, attn_out.nbytes),
    )
    add = _pointwise(p + "attn_residual", "add", (x, o_proj.outputs[0]), c.rows(cfg.hidden), 1)
    return g.add(add, (resid.id, x.nbytes), (o_proj.id, o_proj.outputs[0].nbytes))


def _dense_mlp(g: _Dag, c: _Ctx, p: str, norm: Op) -> Op:
    cfg, f = c.cfg, c.layout.ffn
    x = norm.outputs[0]
    if cfg.mlp == "gated_silu":
        up = g.add(_linear(c, p + "gate_up", x, 2 * f, bias=cfg.mlp_bias), (norm.id, x.nbytes))
        act_op = _pointwise(
            p + "act", "silu_mul", (up.outputs[0],), c.rows(f, c.gemm_in), SWIGLU_FLOPS
        )
    else:
        up = g.add(_linear(c, p + "fc", x, f, bias=cfg.mlp_bias), (norm.id, x.nbytes))
        act_op = _pointwise(p + "act", "gelu", (up.outputs[0],), c.rows(f, c.gemm_in), GELU_FLOPS)
    act = g.add(act_op, (up.id, up.outputs[0].nbytes))
    down = _linear(c, p + "down", act.outputs[0], cfg.hidden, bias=cfg.mlp_bias)
    return g.add(down, (act.id, act.outputs[0].nbytes))


def _moe_mlp(g: _Dag, c: _Ctx, p: str, norm: Op) -> Op:
    cfg, f, t = c.cfg, c.layout.ffn, c.step.tokens
    k, experts = cfg.experts_per_token, cfg.n_experts
    x = norm.outputs[0]
    touched = expected_distinct_experts(experts, k, t)
    router = g.add(
        _linear(c, p + "router", x, experts, bias=False, quantized=False), (norm.id, x.nbytes)
    )
    topk = g.add(
        _op(
            p + "topk",
            OpKind.SOFTMAX,
            "topk_softmax",
            router.outputs,
            router.outputs,
            flops=SOFTMAX_FLOPS * t * experts,
        ),
        (router.id, router.outputs[0].nbytes),
    )
    expert_attrs: tuple[tuple[str, object], ...] = (("experts_touched", touched),)
    up = g.add(
        _linear(
            c,
            p + "experts_gate_up",
            x,
            2 * f,
            bias=cfg.mlp_bias,
            out_rows=t * k,
            experts=experts,
            gathered_experts=touched,
            attrs=expert_attrs,
        ),
        (norm.id, x.nbytes),
        (topk.id, topk.outputs[0].nbytes),
    )
    act = g.add(
        _pointwise(
            p + "experts_act",
            "silu_mul",
            (up.outputs[0],),
            c.rows(f, c.gemm_in, t * k),
            SWIGLU_FLOPS,
        ),
        (up.id, up.outputs[0].nbytes),
    )
    down = g.add(
        _linear(
            c,
            p + "experts_down",
            act.outputs[0],
            cfg.hidden,
            bias=cfg.mlp_bias,
            experts=experts,
            gathered_experts=touched,
            attrs=expert_attrs,
        ),
        (act.id, act.outputs[0].nbytes),
    )
    weighted = _pointwise(
        p + "experts_combine", "weighted_sum", down.outputs, c.rows(cfg.hidden), 2 * k
    )
    return g.add(weighted, (down.id, down.outputs[0].nbytes))


def _layer(g: _Dag, c: _Ctx, index: int, resid: Op) -> Op:
    p = f"layers.{index}."
    mid = _attention_block(g, c, p, resid)
    x = mid.outputs[0]
    norm = g.add(_norm(c, p + "mlp_norm", x, c.gemm_in), (mid.id, x.nbytes))
    mlp = _moe_mlp(g, c, p, norm) if c.cfg.is_moe else _dense_mlp(g, c, p, norm)
    add = _pointwise(p + "mlp_residual", "add", (x, mlp.outputs[0]), c.rows(c.cfg.hidden), 1)
    return g.add(add, (mid.id, x.nbytes), (mlp.id, mlp.outputs[0].nbytes))


def _embedding(g: _Dag, c: _Ctx, ids: TensorSpec) -> Op:
    cfg, lay = c.cfg, c.layout
    out = c.rows(cfg.hidden)
    # Vocabulary-parallel: a device looks up the rows of its own slice of the vocabulary.
    table = TensorSpec((lay.vocab, cfg.hidden), c.act)
    embed = g.add(
        _op(
            "embed",
            OpKind.EMBEDDING,
            "embedding",
            (ids,),
            (out,),
            (table,),
            attrs=(("gathered_bytes", out.nbytes / lay.tp),),
        )
    )
    if not cfg.learned_positions:
        return embed
    pos_table = TensorSpec((cfg.max_positions, cfg.hidden), c.act)
    pos = g.add(
        _op(
            "embed_positions",
            OpKind.EMBEDDING,
            "embedding",
            (ids,),
            (out,),
            (pos_table,),
            attrs=(("gathered_bytes", out.nbytes),),
        )
    )
    add = _pointwise("embed_add", "add", (out, out), out, 1)
    return g.add(add, (embed.id, out.nbytes), (pos.id, out.nbytes))


def _head(g: _Dag, c: _Ctx, resid: Op) -> None:
    """Final norm, then the lm_head on each sequence's last token only (engines gather the
    last positions first), then sampling over the device's slice of the logits."""
    cfg, lay, b = c.cfg, c.layout, c.step.batch
    x = resid.outputs[0]
    norm = g.add(_norm(c, "final_norm", x, c.act), (resid.id, x.nbytes))
    last = c.rows(cfg.hidden, rows=b)
    tied = (("tied_to", "embed"),) if cfg.tied_embeddings else ()
    head = _linear(
        c,
        "lm_head",
        last,
        lay.vocab,
        bias=False,
        out_dtype="float32",
        quantized=False,
        attrs=tied,
    )
    g.add(head, (norm.id, last.nbytes))
    logits = head.outputs[0]
    sample = _op(
        "sample",
        OpKind.REDUCE,
        "argmax",
        (logits,),
        (TensorSpec((b,), "int64"),),
        flops=logits.numel,
    )
    g.add(sample, (head.id, logits.nbytes))


def step_graph(cfg: LlmConfig, quant: Quant, kv_dtype: str, layout: Layout, step: Step) -> OpGraph:
    """The whole model's forward step on one device (module docstring)."""
    c = _Ctx(cfg, quant, kv_dtype, layout, step)
    g = _Dag()
    ids = TensorSpec((step.batch, step.new_tokens), "int64")
    x = _embedding(g, c, ids)
    for i in range(cfg.n_layers):
        x = _layer(g, c, i, x)
    _head(g, c, x)
    phase = "decode" if step.is_decode else "prefill"
    info = GraphInfo(
        source=f"{cfg.name} {phase}",
        inputs=(ids,),
        batch=step.batch,
        notes=(
            f"{phase}: batch {step.batch}, {step.new_tokens} new token(s) per sequence after "
            f"{step.past} cached, tensor-parallel {layout.tp}",
        ),
    )
    return fuse_pointwise(OpGraph(dag=g.dag, info=info))


def attention_sweep_graph(
    cfg: LlmConfig, quant: Quant, kv_dtype: str, layout: Layout, steps: Sequence[Step]
) -> OpGraph:
    """One layer's KV-length-dependent ops (attention, and its combine) for each decode step,
    side by side in one graph: one estimate prices every KV length of the decode integral."""
    g = _Dag()
    for s in steps:
        c = _Ctx(cfg, quant, kv_dtype, layout, s)
        attn = g.add(attention_op(c, f"past{s.past}.attention"))
        if s.kv_splits > 1:
            g.add(combine_op(c, f"past{s.past}.attention_combine"), (attn.id, 0))
    info = GraphInfo(source=f"{cfg.name} decode attention", inputs=(), batch=steps[0].batch)
    return OpGraph(dag=g.dag, info=info)


def stored_weight_bytes(op: Op) -> float:
    """Bytes ``op``'s parameters occupy in memory: the main weight at its stored width (packed
    integers where the op records one), the rest (bias, norms) at their dtype."""
    if not op.params:
        return 0.0
    main = op.params[0]
    bits = op.weight_bits or DTYPE_BITS[main.dtype]
    return main.numel * bits / 8 + sum(t.nbytes for t in op.params[1:])


def model_weight_bytes(graph: OpGraph) -> float:
    """The weights one device stores: every op's parameters, a tied lm_head counted once."""
    return sum(stored_weight_bytes(op) for op in graph if op.attr("tied_to") is None)

"""How many KV slices FlashAttention-2's decode kernel cuts the keys into.

A decode step has one query per sequence, so ``batch x heads`` CTAs leave most SMs idle at
small batch. FlashAttention-2's split-KV kernel (``flash_attn_with_kvcache``) cuts the keys
into slices run by separate CTAs and merges them afterwards; ``set_params_splitkv`` in
Dao-AILab/flash-attention ``csrc/flash_attn/flash_api.cpp`` picks the number of slices with
``num_splits_heuristic``. This module restates that rule (it is not a copy of the code):

- keys come in blocks of 256, 128 or 64 for head sizes up to 64, up to 128, and beyond;
  queries in blocks of 64 (``kBlockM`` of ``run_mha_fwd_splitkv_dispatch``, the kernel
  ``flash_attn_with_kvcache`` runs on a paged cache, as vLLM's is, or when it splits: the GPU
  model tiles the decode attention with it);
- the work items are ``batch x heads x query blocks``; the SM count is doubled (two 128-thread
  CTAs per SM); at most 128 slices, and no more than SMs or key blocks;
- if the work items already fill 80% of those SMs, one slice;
- otherwise, among the slice counts that change the blocks per slice, take the smallest whose
  wave efficiency (``n / ceil(n)`` for ``n = items x slices / SMs`` waves) reaches 85% of the
  best.
"""

from __future__ import annotations

import math

MAX_SPLITS = 128
QUERY_BLOCK = 64
CTAS_PER_SM = 2


def key_block(head_dim: int) -> int:
    return 256 if head_dim <= 64 else 128 if head_dim <= 128 else 64


def kv_splits(*, batch: int, heads: int, seq_q: int, seq_k: int, head_dim: int, sms: int) -> int:
    """FlashAttention-2's number of KV slices for a decode attention (module docstring)."""
    items = batch * heads * math.ceil(seq_q / QUERY_BLOCK)
    slots = sms * CTAS_PER_SM
    if items >= 0.8 * slots:
        return 1
    blocks = math.ceil(seq_k / key_block(head_dim))
    limit = min(MAX_SPLITS, slots, blocks)
    efficiency: dict[int, float] = {}
    for splits in range(1, limit + 1):
        if splits > 1 and math.ceil(blocks / splits) == math.ceil(blocks / (splits - 1)):
            continue  # the same blocks per slice as one slice fewer: not a distinct choice
        waves = items * splits / slots
        efficiency[splits] = waves / math.ceil(waves)
    best = max(efficiency.values())
    return min(s for s, e in efficiency.items() if e >= 0.85 * best)

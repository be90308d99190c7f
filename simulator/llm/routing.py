"""How many experts a mixture-of-experts layer reads in one step.

Each token is routed to ``k`` of ``E`` experts. A step with ``T`` tokens reads the weights of
every expert at least one of its tokens chose, once (grouped-GEMM MoE kernels, such as vLLM's
``fused_moe``, load each expert's weights once per step). With routing modelled as uniform and
independent across tokens, an expert escapes one token with probability ``1 - k/E``, so the
expected number of distinct experts is ``E * (1 - (1 - k/E) ** T)``: ``k`` for one token, all
``E`` for a large batch. Real routers are skewed toward popular experts, which touches fewer
distinct experts at small batch; the uniform figure is an upper bound there.
"""

from __future__ import annotations


def expected_distinct_experts(experts: int, per_token: int, tokens: int) -> float:
    """Expected number of distinct experts ``tokens`` tokens touch (module docstring)."""
    if tokens <= 0:
        return 0.0
    return experts * (1.0 - (1.0 - per_token / experts) ** tokens)

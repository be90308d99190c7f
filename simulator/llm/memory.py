"""What one device must hold to serve a batch, against what it has.

- **Weights**: every parameter the device's shard stores, at its stored width.
- **KV cache**: a key and a value vector per KV head per layer for every token of every
  sequence, prompt and generated, in pages of ``block_tokens`` tokens (vLLM's paged cache: a
  sequence occupies whole blocks, 16 tokens by default); a sliding window caps the tokens kept.
- **Activations**: the peak of live activations during the prefill, the larger of the two
  phases, read from the step graph (``OpGraph.peak_activation_bytes``).
- **Workspace**: the fp32 partial outputs and log-sum-exps the split-KV decode kernel
  allocates (``splits x batch x heads x (head_dim + 1)`` floats, flash_api.cpp).

Everything but the weights grows in proportion to the batch, so the largest batch that fits
is ``(capacity - weights) / (bytes per sequence)``, and the KV pool left beside a batch holds
``kv_capacity_tokens`` tokens.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from ..profile import Profile


def device_capacity_bytes(profile: Profile) -> float | None:
    """The device's memory: its backing store's capacity when the profile bounds it, else the
    GPU presets' ``arch.hbm_bytes``; None when the profile says neither."""
    backing = profile.memory[-1].capacity_bytes
    if math.isfinite(backing):
        return float(backing)
    arch = profile.arch
    value = arch.get("hbm_bytes") if isinstance(arch, Mapping) else getattr(arch, "hbm_bytes", None)
    return float(value) if value else None


def paged_tokens(tokens: int, block_tokens: int) -> int:
    """Tokens' worth of cache a sequence of ``tokens`` occupies in whole blocks."""
    return math.ceil(tokens / block_tokens) * block_tokens


@dataclass(frozen=True)
class MemoryPlan:
    """Bytes on one device for a batch of ``batch`` sequences."""

    batch: int
    weights_bytes: float
    kv_cache_bytes: float
    activation_bytes: float
    workspace_bytes: float
    capacity_bytes: float | None
    kv_block_tokens: int
    kv_bytes_per_token: float  # per device

    @property
    def total_bytes(self) -> float:
        per_batch = self.kv_cache_bytes + self.activation_bytes + self.workspace_bytes
        return self.weights_bytes + per_batch

    @property
    def fits(self) -> bool | None:
        return None if self.capacity_bytes is None else self.total_bytes <= self.capacity_bytes

    @property
    def per_sequence_bytes(self) -> float:
        return (self.kv_cache_bytes + self.activation_bytes + self.workspace_bytes) / self.batch

    @property
    def max_batch(self) -> int | None:
        """The largest batch of these sequences whose memory fits (0: not even the weights
        leave room for one)."""
        if self.capacity_bytes is None:
            return None
        room = self.capacity_bytes - self.weights_bytes
        return max(int(room // self.per_sequence_bytes), 0) if room > 0 else 0

    @property
    def kv_capacity_tokens(self) -> int | None:
        """Tokens the paged KV pool holds once weights, activations and workspace are placed."""
        if self.capacity_bytes is None:
            return None
        pool = self.capacity_bytes - self.weights_bytes - self.activation_bytes
        pool -= self.workspace_bytes
        block = self.kv_block_tokens * self.kv_bytes_per_token
        return max(int(pool // block), 0) * self.kv_block_tokens

    def to_dict(self) -> dict[str, float | int | bool | None]:
        return {
            "weights_bytes": self.weights_bytes,
            "kv_cache_bytes": self.kv_cache_bytes,
            "activation_bytes": self.activation_bytes,
            "workspace_bytes": self.workspace_bytes,
            "total_bytes": self.total_bytes,
            "capacity_bytes": self.capacity_bytes,
            "kv_block_tokens": self.kv_block_tokens,
            "kv_bytes_per_token": self.kv_bytes_per_token,
            "kv_cache_capacity_tokens": self.kv_capacity_tokens,
        }

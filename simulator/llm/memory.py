"""What one device must hold to serve a batch, against what it has.

- **Weights**: every parameter the device's shard stores, at its stored width.
- **KV cache**: a key and a value vector per KV head per layer for every token of every
  sequence, prompt and generated, in pages of ``block_tokens`` tokens (vLLM's paged cache: a
  sequence occupies whole blocks, 16 tokens by default); a sliding window caps the tokens kept.
- **Activations**: the peak of live activations during the prefill, the larger of the two
  phases: the prefill estimate's peak over its traced order, each tensor at the precision it
  runs at, in place where the hardware's runtime is (``Estimate.peak_activation_bytes``).
- **Workspace**: the fp32 partial outputs and log-sum-exps the split-KV decode kernel
  allocates (``splits x batch x heads x (head_dim + 1)`` floats, flash_api.cpp).

The KV cache and the activations grow in proportion to the batch; the workspace does not
quite (a larger batch fills the SMs with fewer slices), so the largest batch that fits is found
by stepping down from ``(capacity - weights) / (KV and activation bytes per sequence)`` until
the workspace fits too (``largest_batch``). The KV pool left beside a batch holds
``kv_capacity_tokens`` tokens.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from ..costmodels.gpu_arch import GpuArch
from ..profile import Profile


def device_capacity_bytes(profile: Profile) -> float | None:
    """The device's memory: a GPU's ``arch.memory_capacity_bytes``, else the backing store's
    capacity when the profile bounds it; None when the profile states neither."""
    if isinstance(profile.arch, GpuArch) and profile.arch.memory_capacity_bytes is not None:
        return profile.arch.memory_capacity_bytes
    backing = profile.backing.capacity_bytes
    return float(backing) if math.isfinite(backing) else None


def largest_batch(
    capacity_bytes: float,
    weights_bytes: float,
    per_sequence_bytes: float,
    workspace_bytes: Callable[[int], float],
) -> int:
    """The largest ``b`` with ``weights + b x per_sequence + workspace(b) <= capacity`` (0: not
    even one sequence fits). The workspace is never negative, so no batch above
    ``(capacity - weights) / per_sequence`` fits, and the first that fits stepping down from
    there is the largest."""
    room = capacity_bytes - weights_bytes
    if room <= 0:
        return 0
    batch = int(room // per_sequence_bytes)
    while batch > 0 and batch * per_sequence_bytes + workspace_bytes(batch) > room:
        batch -= 1
    return batch


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
    max_batch: int | None  # the largest batch of these sequences that fits (largest_batch)

    @property
    def total_bytes(self) -> float:
        per_batch = self.kv_cache_bytes + self.activation_bytes + self.workspace_bytes
        return self.weights_bytes + per_batch

    @property
    def fits(self) -> bool | None:
        return None if self.capacity_bytes is None else self.total_bytes <= self.capacity_bytes

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

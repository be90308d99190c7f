"""Example inputs shared by the workloads.

Values are zeros: hwsim prices shapes and dtypes, never data, and zeros keep every build
deterministic without seeding a generator.
"""

from __future__ import annotations

import torch

IMAGE_SIZE = 224  # the resolution every published ImageNet MAC count is quoted at
SEQUENCE_LENGTH = 128  # a common fine-tuning length for BERT; the hand MAC count assumes it


def image_batch(batch: int) -> tuple[torch.Tensor, ...]:
    """An NCHW float32 batch of 224x224 RGB images."""
    return (torch.zeros(batch, 3, IMAGE_SIZE, IMAGE_SIZE),)


def token_batch(batch: int) -> tuple[torch.Tensor, ...]:
    """A (batch, 128) batch of int64 token ids, the dtype embedding lookups expect."""
    return (torch.zeros(batch, SEQUENCE_LENGTH, dtype=torch.int64),)

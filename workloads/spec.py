"""What a built-in workload is: how to build it, how to feed it, what it should cost."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class Workload:
    """How to build a reference model and feed it.

    Models have random weights, seeded by ``get_workload`` so every build draws the same ones
    (nothing is ever downloaded); the published MAC count is what the architecture must
    reproduce, so users can check hwsim's bookkeeping against a number they already know.
    """

    name: str
    description: str
    build: Callable[[], nn.Module]  # returns the model in eval mode
    make_inputs: Callable[[int], tuple[torch.Tensor, ...]]  # batch size -> example inputs
    # Multiply-accumulates at batch 1 of conv and GEMM-class ops; None for a reference model
    # whose source gives no figure at the resolution it is built at.
    published_macs: float | None
    macs_source: str  # where the published figure comes from (or why there is none)

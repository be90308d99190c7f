"""Random weights whose activations keep their scale, as a trained network's do.

transformers initialises conv weights (and EfficientNet's batch-norm scales) at std 0.02
whatever their fan-in, and batch-norm statistics default to mean 0, variance 1. Through a
MobileNetV2 that shrinks the signal about 10x per block, to 1e-16 by the last layers (1e-30
in EfficientNet, below batch-norm's eps), where fp16 underflows and any rounding study
measures nothing. So convs are re-drawn with He (fan-in) scaling, batch-norm scales and
shifts are reset to 1 and 0, and one seeded forward pass in training mode sets each
batch-norm's statistics to its input's, as training would have. Costs are unaffected (they
depend on shapes and zero patterns, and these weights have no zeros); the accuracy proxy is
not.
"""

from __future__ import annotations

import torch
from torch import nn

from .inputs import IMAGE_SIZE


def settle_batchnorm(
    model: nn.Module, example_shape: tuple[int, ...] = (2, 3, IMAGE_SIZE, IMAGE_SIZE)
) -> nn.Module:
    """``model`` in eval mode with He-scaled convs and batch-norm statistics from one seeded
    random batch of ``example_shape`` (by default two 224x224 RGB images); the global random
    state is left as it was."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a cumulative average: one batch sets the statistics exactly
        if norm.affine:  # transformers draws EfficientNet's scales at std 0.02 too
            nn.init.ones_(norm.weight)
            nn.init.zeros_(norm.bias)
    with torch.random.fork_rng(), torch.no_grad():
        torch.manual_seed(0)
        for conv in (m for m in model.modules() if isinstance(m, nn.Conv2d)):
            nn.init.kaiming_normal_(conv.weight, mode="fan_in", nonlinearity="relu")
        model.train()
        model(torch.randn(*example_shape))
    for norm in norms:
        norm.momentum = 0.1
    return model.eval()

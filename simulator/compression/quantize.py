"""Fake quantization: round a tensor to what an N-bit deployment would compute with.

Weights are quantized symmetrically per output channel (the scheme int8 CPU/GPU/NPU
toolchains use), binary weights as sign times the channel's mean magnitude (XNOR-Net);
activations per tensor from the sample's own range (post-training, min/max calibration), so
the accuracy proxy sees the rounding a deployment would, not an idealised one.
"""

from __future__ import annotations

import torch

_FLOATS = {"fp16": torch.float16, "bf16": torch.bfloat16}


def _channel_view(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(x.shape[0], -1) if x.dim() > 1 else x.reshape(1, -1)


def quantize_weight(weight: torch.Tensor, bits: int) -> torch.Tensor:
    w = weight.detach().float()
    rows = _channel_view(w)
    if bits == 1:
        scale = rows.abs().mean(dim=1, keepdim=True)
        return (torch.sign(rows) * scale).reshape(w.shape).to(weight.dtype)
    levels = 2 ** (bits - 1) - 1
    scale = rows.abs().amax(dim=1, keepdim=True).clamp_min(1e-12) / levels
    q = torch.clamp(torch.round(rows / scale), -levels, levels) * scale
    return q.reshape(w.shape).to(weight.dtype)


def quantize_activation(x: torch.Tensor, bits: int) -> torch.Tensor:
    """Unsigned when the tensor has no negatives (after ReLU), else symmetric; 16 bits
    means an fp16 activation."""
    if not x.is_floating_point():
        return x
    if bits == 16:
        return x.to(torch.float16).to(x.dtype)
    lo, hi = float(x.min()), float(x.max())
    if lo >= 0.0:
        scale = max(hi, 1e-12) / (2**bits - 1)
        return torch.clamp(torch.round(x / scale), 0, 2**bits - 1) * scale
    levels = max(2 ** (bits - 1) - 1, 1)
    scale = max(abs(lo), abs(hi), 1e-12) / levels
    return torch.clamp(torch.round(x / scale), -levels, levels) * scale


def to_float_format(x: torch.Tensor, fmt: str) -> torch.Tensor:
    """Round through fp16/bf16 and back, keeping the original dtype for the rest of the run."""
    if not x.is_floating_point():
        return x
    return x.to(_FLOATS[fmt]).to(x.dtype)

"""Magnitude pruning of one real weight tensor, per pattern.

Every pattern works on the weight as the kernels see it, [output channels, reduction] with
input channels innermost (``weight_stats.reduction_matrix``), so the zeros land in the groups
and blocks the hardware statistics later check: a 2:4 mask made here is 2:4 to the tensor-core
test, a 4x4-block mask is all-zero blocks to the BSR kernel. Scores are magnitudes (L1 of a
group or block, L2 of a channel), the criterion ``torch.nn.utils.prune`` and NVIDIA's ASP use.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from ..frontend.weight_stats import reduction_matrix
from .spec import PruneSpec


def _from_matrix(mask: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    """Undo ``reduction_matrix``: [O, (kh, kw, Cin)] back to the tensor's own layout."""
    if like.dim() <= 2:
        return torch.from_numpy(mask.reshape(like.shape))
    spatial = tuple(like.shape[2:])
    restored = mask.reshape(like.shape[0], *spatial, like.shape[1])
    order = (0, like.dim() - 1, *range(1, like.dim() - 1))
    return torch.from_numpy(np.ascontiguousarray(restored.transpose(order)))


def _drop_lowest(scores: np.ndarray, fraction: float) -> np.ndarray:
    """Keep-mask over ``scores`` removing exactly the ``fraction`` with the smallest scores
    (a linear-time partition; the same input always gives the same mask)."""
    flat = scores.ravel()
    drop = round(fraction * flat.size)
    keep = np.ones(flat.size, dtype=bool)
    if drop:
        keep[np.argpartition(flat, drop - 1)[:drop]] = False
    return keep.reshape(scores.shape)


def _unstructured(mat: np.ndarray, spec: PruneSpec) -> np.ndarray:
    return _drop_lowest(np.abs(mat), spec.sparsity)


def _n_of_m(mat: np.ndarray, spec: PruneSpec) -> np.ndarray:
    rows, cols = mat.shape
    pad = (-cols) % spec.m
    groups = np.pad(np.abs(mat), ((0, 0), (0, pad))).reshape(rows, -1, spec.m)
    order = np.argsort(-groups, axis=2, kind="stable")
    keep = np.zeros_like(groups, dtype=bool)
    np.put_along_axis(keep, order[:, :, : spec.n], True, axis=2)
    return keep.reshape(rows, -1)[:, :cols]


def _blocks(mat: np.ndarray, spec: PruneSpec) -> np.ndarray:
    r, c = (int(x) for x in spec.pattern.removeprefix("block").split("x"))
    rows, cols = mat.shape
    padded = np.pad(np.abs(mat), ((0, (-rows) % r), (0, (-cols) % c)))
    pr, pc = padded.shape
    scores = padded.reshape(pr // r, r, pc // c, c).sum(axis=(1, 3))
    keep = _drop_lowest(scores, spec.sparsity)
    full = np.repeat(np.repeat(keep, r, axis=0), c, axis=1)
    return full[:rows, :cols]


def channel_keep(mat: np.ndarray, sparsity: float) -> np.ndarray:
    """Output channels kept (bool per row) when ``sparsity`` of them, the smallest in L2
    norm, are removed; at least one channel always survives."""
    rows = mat.shape[0]
    drop = min(round(sparsity * rows), rows - 1)
    return _drop_lowest(np.linalg.norm(mat, axis=1), drop / rows if rows else 0.0)


def _channels(mat: np.ndarray, spec: PruneSpec) -> np.ndarray:
    keep = channel_keep(mat, spec.sparsity)
    return np.repeat(keep[:, None], mat.shape[1], axis=1)


_MASKERS: dict[str, Callable[[np.ndarray, PruneSpec], np.ndarray]] = {
    "unstructured": _unstructured,
    "n:m": _n_of_m,
    "block1x4": _blocks,
    "block4x4": _blocks,
    "channel": _channels,
}


def prune_mask(weight: torch.Tensor, spec: PruneSpec) -> torch.Tensor:
    """Boolean keep-mask of ``weight``'s shape for ``spec`` (already-zero weights stay zero)."""
    mat = reduction_matrix(weight)
    mask = _MASKERS[spec.pattern](mat, spec) & (mat != 0)
    return _from_matrix(mask, weight)


def prune(weight: torch.Tensor, spec: PruneSpec) -> torch.Tensor:
    """A pruned copy of ``weight``; the input tensor is never modified."""
    return weight.detach() * prune_mask(weight, spec).to(weight.dtype)

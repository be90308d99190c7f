"""Sparsity statistics of real weight tensors.

Whether pruning pays off depends on the *pattern* of zeros, not just how many there are: a 2:4
tensor core needs every group of four to hold at most two non-zeros, a block-sparse kernel skips
only all-zero blocks, and a dead output channel can be removed outright. These figures are read
from the actual values once, at trace time, so every cost model prices the same facts.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..graph import RawTensor
from ..ops import WeightStats


def float_values(weight: Any) -> np.ndarray:
    """A weight's values as a float32 array, from a torch tensor, a ``RawTensor`` or an array
    (duck-typed, so that statistics of an ONNX model never import torch)."""
    if isinstance(weight, RawTensor):
        return weight.to_float32()
    if isinstance(weight, np.ndarray):
        return weight.astype(np.float32, copy=False)
    return np.asarray(weight.detach().float().cpu().numpy())


def reduction_matrix(weight: Any) -> np.ndarray:
    """The weight as [output channels, reduction], reduction innermost the way sparse GEMM
    kernels group it: for a conv that is (kh, kw, Cin) — input channels contiguous, which is
    the axis NVIDIA's 2:4 pruning groups along."""
    w = float_values(weight)
    if w.ndim > 2:
        w = w.transpose(0, *range(2, w.ndim), 1)
    if w.ndim == 0:
        return w.reshape(1, 1)
    return w.reshape(w.shape[0], -1)


def _group_fraction(nonzero: np.ndarray, group: int, keep: int) -> float:
    """Fraction of ``group``-wide runs along the reduction axis holding <= ``keep`` non-zeros.

    A reduction length that is not a multiple of the group is padded with zeros, as kernels do.
    """
    rows, cols = nonzero.shape
    pad = (-cols) % group
    if pad:
        nonzero = np.pad(nonzero, ((0, 0), (0, pad)))
    counts = nonzero.reshape(rows, -1, group).sum(axis=2)
    return float((counts <= keep).mean())


def _block_density(nonzero: np.ndarray, block_rows: int, block_cols: int) -> float:
    """Fraction of (block_rows x block_cols) tiles that contain at least one non-zero."""
    rows, cols = nonzero.shape
    padded = np.pad(nonzero, ((0, (-rows) % block_rows), (0, (-cols) % block_cols)))
    r, c = padded.shape
    tiles = padded.reshape(r // block_rows, block_rows, c // block_cols, block_cols)
    return float(tiles.any(axis=(1, 3)).mean())


def _dense_stats(rows: int, cols: int) -> WeightStats:
    """The statistics of a weight with no zeros, from its shape alone: only a ragged last
    group of each row (padded with zeros) can hold few enough non-zeros to conform to N:M.
    Equal to what the general path computes (it divides the same integers), in microseconds:
    a freshly initialised network, what a NAS loop prices thousands of, is all dense."""

    def group_fraction(group: int, keep: int) -> float:
        groups = -(-cols // group)
        last = cols - group * (groups - 1)
        return (rows if last <= keep else 0) / (rows * groups)

    return WeightStats(
        density=1.0,
        nm_2_4=group_fraction(4, 2),
        nm_4_8=group_fraction(8, 4),
        block_1x4_density=1.0,
        block_4x4_density=1.0,
        zero_output_channels=0,
        output_channels=rows,
    )


def weight_stats(weight: Any) -> WeightStats:
    values = float_values(weight)
    # numpy, not torch: a torch reduction wakes its thread pool, which costs milliseconds on
    # a loaded machine, per weight.
    if values.ndim >= 1 and values.size and np.count_nonzero(values) == values.size:
        rows = int(values.shape[0])
        return _dense_stats(rows, values.size // rows)
    return mask_stats(reduction_matrix(weight) != 0)


def mask_stats(nonzero: np.ndarray) -> WeightStats:
    """The statistics of a weight's non-zero mask (rows: output channels; columns: the
    reduction), the general path that ``_dense_stats`` shortcuts for masks with no zeros."""
    return WeightStats(
        density=float(nonzero.mean()) if nonzero.size else 1.0,
        nm_2_4=_group_fraction(nonzero, 4, 2),
        nm_4_8=_group_fraction(nonzero, 8, 4),
        block_1x4_density=_block_density(nonzero, 1, 4),
        block_4x4_density=_block_density(nonzero, 4, 4),
        zero_output_channels=int((~nonzero.any(axis=1)).sum()),
        output_channels=int(nonzero.shape[0]),
    )

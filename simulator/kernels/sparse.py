"""Sparse-weight x dense-activation GEMM kernels: CSR, BSR (1x4, 4x4) and N:M (2:4, 4:8).

Same contract, loop order and column tiling as the dense reference in ``gemm.py``
(``Y = W @ B``, W: N x K, B: K x M): each stored weight scales one row of ``B`` into one row of
``Y``, so the work is proportional to the stored values plus the index overhead of the format.
Results equal the dense kernel's on the same weights (up to float summation order).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import scipy.sparse

_M_TILE = 128


@dataclass(frozen=True)
class CSRWeights:
    indptr: np.ndarray  # (N + 1,) int32
    indices: np.ndarray  # (nnz,) int32 reduction index of each value
    data: np.ndarray  # (nnz,) float32
    shape: tuple[int, int]


@dataclass(frozen=True)
class BSRWeights:
    indptr: np.ndarray  # (N / R + 1,) int32
    indices: np.ndarray  # (blocks,) int32 block column
    data: np.ndarray  # (blocks, R, C) float32
    shape: tuple[int, int]


@dataclass(frozen=True)
class NMWeights:
    values: np.ndarray  # (N, K / M, n) float32, the kept values of each group
    offsets: np.ndarray  # (N, K / M, n) int8, their positions inside the group
    n: int
    m: int
    shape: tuple[int, int]


def to_csr(w: np.ndarray) -> CSRWeights:
    mat = scipy.sparse.csr_matrix(np.asarray(w, np.float32))
    mat.eliminate_zeros()
    return CSRWeights(
        mat.indptr.astype(np.int32), mat.indices.astype(np.int32), mat.data, tuple(w.shape)
    )


def to_bsr(w: np.ndarray, block: tuple[int, int]) -> BSRWeights:
    """Block-sparse rows of ``block`` = (R, C); only blocks with a non-zero are stored."""
    rows, cols = block
    if w.shape[0] % rows or w.shape[1] % cols:
        raise ValueError(f"shape {w.shape} is not a multiple of the block {block}")
    mat = scipy.sparse.bsr_matrix(np.asarray(w, np.float32), blocksize=block)
    keep = np.abs(mat.data).reshape(len(mat.data), -1).max(axis=1) > 0
    block_rows = w.shape[0] // rows
    row_of_block = np.repeat(np.arange(block_rows), np.diff(mat.indptr))
    counts = np.bincount(row_of_block[keep], minlength=block_rows)
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    return BSRWeights(
        indptr,
        mat.indices[keep].astype(np.int32),
        np.ascontiguousarray(mat.data[keep], np.float32),
        tuple(w.shape),
    )


def to_nm(w: np.ndarray, n: int, m: int) -> NMWeights:
    """Compress weights with at most ``n`` non-zeros in each group of ``m`` along K."""
    w = np.asarray(w, np.float32)
    rows, k_len = w.shape
    if k_len % m:
        raise ValueError(f"reduction length {k_len} is not a multiple of {m}")
    groups = w.reshape(rows, k_len // m, m)
    if ((groups != 0).sum(axis=2) > n).any():
        raise ValueError(f"weights are not {n}:{m} sparse: a group of {m} has more than {n}")
    order = np.argsort(groups == 0, axis=2, kind="stable")[:, :, :n]
    offsets = np.sort(order, axis=2)
    values = np.take_along_axis(groups, offsets, axis=2)
    return NMWeights(np.ascontiguousarray(values), offsets.astype(np.int8), n, m, (rows, k_len))


def prune_nm(w: np.ndarray, n: int, m: int) -> np.ndarray:
    """Keep the ``n`` largest-magnitude weights of each group of ``m`` along K."""
    rows, k_len = w.shape
    groups = np.asarray(w, np.float32).reshape(rows, k_len // m, m).copy()
    drop = np.argsort(np.abs(groups), axis=2, kind="stable")[:, :, : m - n]
    np.put_along_axis(groups, drop, 0.0, axis=2)
    return groups.reshape(rows, k_len)


def prune_random(
    w: np.ndarray, density: float, block: tuple[int, int] = (1, 1), seed: int = 0
) -> np.ndarray:
    """Zero all but a random ``density`` fraction of the ``block``-shaped blocks of ``w``."""
    rows, cols = block
    rng = np.random.default_rng(seed)
    grid = rng.random((w.shape[0] // rows, w.shape[1] // cols)) < density
    mask = np.kron(grid, np.ones(block, dtype=bool))
    return np.where(mask, w, 0.0).astype(np.float32)


@numba.njit(cache=True, nogil=True, fastmath=True)
def _csr(indptr, indices, data, n_out, b):  # type: ignore[no-untyped-def]  # pragma: no cover
    m_len = b.shape[1]
    y = np.zeros((n_out, m_len), dtype=np.float32)
    for m0 in range(0, m_len, _M_TILE):
        m1 = min(m0 + _M_TILE, m_len)
        for n in range(n_out):
            row = y[n, m0:m1]
            for p in range(indptr[n], indptr[n + 1]):
                v = data[p]
                src = b[indices[p], m0:m1]
                for i in range(m1 - m0):
                    row[i] += v * src[i]
    return y


@numba.njit(cache=True, nogil=True, fastmath=True)
def _bsr(indptr, indices, data, n_out, b):  # type: ignore[no-untyped-def]  # pragma: no cover
    m_len = b.shape[1]
    rows, cols = data.shape[1], data.shape[2]
    y = np.zeros((n_out, m_len), dtype=np.float32)
    for m0 in range(0, m_len, _M_TILE):
        m1 = min(m0 + _M_TILE, m_len)
        for br in range(n_out // rows):
            for p in range(indptr[br], indptr[br + 1]):
                k0 = indices[p] * cols
                for r in range(rows):
                    row = y[br * rows + r, m0:m1]
                    for c in range(cols):
                        v = data[p, r, c]
                        src = b[k0 + c, m0:m1]
                        for i in range(m1 - m0):
                            row[i] += v * src[i]
    return y


@numba.njit(cache=True, nogil=True, fastmath=True)
def _nm(values, offsets, group, b):  # type: ignore[no-untyped-def]  # pragma: no cover
    n_out, n_groups, keep = values.shape
    m_len = b.shape[1]
    y = np.zeros((n_out, m_len), dtype=np.float32)
    for m0 in range(0, m_len, _M_TILE):
        m1 = min(m0 + _M_TILE, m_len)
        for n in range(n_out):
            row = y[n, m0:m1]
            for g in range(n_groups):
                for j in range(keep):
                    v = values[n, g, j]
                    src = b[g * group + offsets[n, g, j], m0:m1]
                    for i in range(m1 - m0):
                        row[i] += v * src[i]
    return y


def _cols(b: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(b, np.float32)


def csr_gemm(w: CSRWeights, b: np.ndarray) -> np.ndarray:
    """``W @ B`` with W in CSR."""
    return np.asarray(_csr(w.indptr, w.indices, w.data, w.shape[0], _cols(b)))


def bsr_gemm(w: BSRWeights, b: np.ndarray) -> np.ndarray:
    """``W @ B`` with W in block-sparse rows."""
    return np.asarray(_bsr(w.indptr, w.indices, w.data, w.shape[0], _cols(b)))


def nm_gemm(w: NMWeights, b: np.ndarray) -> np.ndarray:
    """``W @ B`` with W compressed N:M."""
    return np.asarray(_nm(w.values, w.offsets, w.m, _cols(b)))

"""Dense and quantized GEMM/conv kernels: the reference the sparse kernels are measured against.

Every kernel computes ``Y = W @ B`` with the weights ``W`` as (N output channels x K) and the
activations ``B`` as (K x M) columns, which is exactly a convolution after im2col (K = C*kh*kw,
M = output pixels). The loop order (output channel, reduction, columns) keeps the innermost loop
a contiguous run over ``M`` that LLVM vectorises; columns are processed in tiles of
``_M_TILE`` so a tile of ``B`` stays in L2, and the rows are taken as 1-D views (numba then
vectorises the inner loop without per-element 2-D index checks: about 8x faster here). The
sparse kernels (``sparse.py``) use the same order and tiling, so a speedup measured between
them is what skipping the zeros buys.

Quantized kernels multiply int8 (or int4, two per byte) by int8 into int32 exactly, then
requantize with a per-tensor or per-channel float64 multiplier, rounding half to even
(``np.rint``), as integer inference runtimes do.
"""

from __future__ import annotations

import numba
import numpy as np

_M_TILE = 128


@numba.njit(cache=True, nogil=True, fastmath=True)
def _dense_f32(w: np.ndarray, b: np.ndarray) -> np.ndarray:  # pragma: no cover - jitted
    n_out, k_len = w.shape
    m_len = b.shape[1]
    y = np.zeros((n_out, m_len), dtype=np.float32)
    for m0 in range(0, m_len, _M_TILE):
        m1 = min(m0 + _M_TILE, m_len)
        for n in range(n_out):
            row = y[n, m0:m1]
            for k in range(k_len):
                v = w[n, k]
                src = b[k, m0:m1]
                for i in range(m1 - m0):
                    row[i] += v * src[i]
    return y


@numba.njit(cache=True, nogil=True)
def _dense_i8(w: np.ndarray, b: np.ndarray) -> np.ndarray:  # pragma: no cover - jitted
    n_out, k_len = w.shape
    m_len = b.shape[1]
    y = np.zeros((n_out, m_len), dtype=np.int32)
    for m0 in range(0, m_len, _M_TILE):
        m1 = min(m0 + _M_TILE, m_len)
        for n in range(n_out):
            row = y[n, m0:m1]
            for k in range(k_len):
                v = np.int32(w[n, k])
                src = b[k, m0:m1]
                for i in range(m1 - m0):
                    row[i] += v * np.int32(src[i])
    return y


@numba.njit(cache=True, nogil=True)
def _dense_i4(packed: np.ndarray, b: np.ndarray) -> np.ndarray:  # pragma: no cover - jitted
    n_out, half = packed.shape
    m_len = b.shape[1]
    y = np.zeros((n_out, m_len), dtype=np.int32)
    for m0 in range(0, m_len, _M_TILE):
        m1 = min(m0 + _M_TILE, m_len)
        for n in range(n_out):
            row = y[n, m0:m1]
            for j in range(half):
                byte = np.int32(packed[n, j])
                lo = byte & 0xF
                hi = (byte >> 4) & 0xF
                lo = lo - 16 if lo >= 8 else lo
                hi = hi - 16 if hi >= 8 else hi
                even, odd = b[2 * j, m0:m1], b[2 * j + 1, m0:m1]
                for i in range(m1 - m0):
                    row[i] += lo * np.int32(even[i]) + hi * np.int32(odd[i])
    return y


@numba.njit(cache=True, nogil=True)
def _requantize(
    acc: np.ndarray, multiplier: np.ndarray, zero_point: int
) -> np.ndarray:  # pragma: no cover
    n_out, m_len = acc.shape
    out = np.empty((n_out, m_len), dtype=np.int8)
    for n in range(n_out):
        scale = multiplier[n]
        for m in range(m_len):
            q = np.rint(acc[n, m] * scale) + zero_point
            out[n, m] = np.int8(min(max(q, -128.0), 127.0))
    return out


@numba.njit(cache=True, nogil=True)
def _im2col(
    x: np.ndarray, kh: int, kw: int, stride: int, pad: int
) -> np.ndarray:  # pragma: no cover - jitted
    channels, height, width = x.shape
    oh = (height + 2 * pad - kh) // stride + 1
    ow = (width + 2 * pad - kw) // stride + 1
    cols = np.zeros((channels * kh * kw, oh * ow), dtype=x.dtype)
    for c in range(channels):
        for i in range(kh):
            for j in range(kw):
                row = (c * kh + i) * kw + j
                for y in range(oh):
                    src_y = y * stride + i - pad
                    if src_y < 0 or src_y >= height:
                        continue
                    for z in range(ow):
                        src_x = z * stride + j - pad
                        if 0 <= src_x < width:
                            cols[row, y * ow + z] = x[c, src_y, src_x]
    return cols


def dense_gemm(w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """fp32 ``W (N x K) @ B (K x M)``."""
    return np.asarray(
        _dense_f32(np.ascontiguousarray(w, np.float32), np.ascontiguousarray(b, np.float32))
    )


def int8_gemm(w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact int32 ``W @ B`` of int8 weights (N x K) and int8 activations (K x M)."""
    return np.asarray(_dense_i8(np.ascontiguousarray(w, np.int8), np.ascontiguousarray(b, np.int8)))


def pack_int4(w: np.ndarray) -> np.ndarray:
    """Pack int4 values (int8 array in [-8, 7], N x K with K even) two per byte: element
    ``2j`` in the low nibble, ``2j + 1`` in the high one."""
    w = np.asarray(w, dtype=np.int8)
    if w.shape[1] % 2:
        raise ValueError(f"int4 packing needs an even reduction length, got {w.shape[1]}")
    if w.min(initial=0) < -8 or w.max(initial=0) > 7:
        raise ValueError("int4 weights must lie in [-8, 7]")
    nibbles = w.astype(np.uint8) & 0xF
    return np.ascontiguousarray(nibbles[:, 0::2] | (nibbles[:, 1::2] << 4))


def unpack_int4(packed: np.ndarray) -> np.ndarray:
    """The int8 values ``pack_int4`` packed."""
    lo = (packed & 0xF).astype(np.int8)
    hi = (packed >> 4).astype(np.int8)
    out = np.empty((packed.shape[0], packed.shape[1] * 2), dtype=np.int8)
    out[:, 0::2] = np.where(lo >= 8, lo - 16, lo)
    out[:, 1::2] = np.where(hi >= 8, hi - 16, hi)
    return out


def int4_gemm(packed: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact int32 ``W @ B`` of packed int4 weights (N x K/2 bytes) and int8 activations."""
    return np.asarray(
        _dense_i4(np.ascontiguousarray(packed, np.uint8), np.ascontiguousarray(b, np.int8))
    )


def quantize(x: np.ndarray, scale: float | np.ndarray, bits: int = 8) -> np.ndarray:
    """Symmetric quantization ``clip(rint(x / scale))`` to signed ``bits`` (int8 storage);
    ``scale`` is a scalar or one value per row (per output channel)."""
    limit = 2 ** (bits - 1) - 1
    s = np.asarray(scale, dtype=np.float64)
    s = s.reshape(-1, *([1] * (np.ndim(x) - 1))) if s.ndim else s
    return np.clip(np.rint(np.asarray(x, np.float64) / s), -limit - 1, limit).astype(np.int8)


def requant_multiplier(
    x_scale: float, w_scale: float | np.ndarray, y_scale: float, n_out: int
) -> np.ndarray:
    """Per-output-channel float64 multiplier ``x_scale * w_scale / y_scale``."""
    w = np.broadcast_to(np.asarray(w_scale, dtype=np.float64), (n_out,))
    return np.ascontiguousarray(float(x_scale) * w / float(y_scale))


def requantize(acc: np.ndarray, multiplier: np.ndarray, zero_point: int = 0) -> np.ndarray:
    """int8 ``clip(rint(acc * multiplier[n]) + zero_point)``, rounding half to even."""
    return np.asarray(
        _requantize(np.ascontiguousarray(acc, np.int32), multiplier.astype(np.float64), zero_point)
    )


def im2col(x: np.ndarray, kh: int, kw: int, stride: int = 1, pad: int = 0) -> np.ndarray:
    """Columns (C*kh*kw x OH*OW) of one image ``x`` (C x H x W), rows ordered (c, i, j)."""
    return np.asarray(_im2col(np.ascontiguousarray(x), kh, kw, stride, pad))


def conv_out_hw(h: int, w: int, k: int, stride: int, pad: int) -> tuple[int, int]:
    return (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1


def conv2d(x: np.ndarray, w: np.ndarray, stride: int = 1, pad: int = 0) -> np.ndarray:
    """fp32 convolution of one image (C x H x W) by weights (N x C x kh x kw), via im2col."""
    n_out, _, kh, kw = w.shape
    oh, ow = conv_out_hw(x.shape[1], x.shape[2], kh, stride, pad)
    cols = im2col(np.asarray(x, np.float32), kh, kw, stride, pad)
    return dense_gemm(w.reshape(n_out, -1), cols).reshape(n_out, oh, ow)


def int8_conv2d(
    x_q: np.ndarray,
    w_q: np.ndarray,
    multiplier: np.ndarray,
    stride: int = 1,
    pad: int = 0,
    zero_point: int = 0,
) -> np.ndarray:
    """Quantized convolution: int8 image x int8 weights -> int32 -> requantized int8."""
    n_out, _, kh, kw = w_q.shape
    oh, ow = conv_out_hw(x_q.shape[1], x_q.shape[2], kh, stride, pad)
    cols = im2col(np.asarray(x_q, np.int8), kh, kw, stride, pad)
    acc = int8_gemm(w_q.reshape(n_out, -1), cols)
    return requantize(acc, multiplier, zero_point).reshape(n_out, oh, ow)

"""The numba kernels against numpy/torch references: dense, quantized (bit-exact) and sparse."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hwsim.kernels import gemm, sparse

RNG = np.random.default_rng(0)
N, K, M = 24, 64, 150  # M spans two column tiles


def _w() -> np.ndarray:
    return RNG.standard_normal((N, K)).astype(np.float32)


def _b() -> np.ndarray:
    return RNG.standard_normal((K, M)).astype(np.float32)


def test_dense_gemm_matches_numpy():
    w, b = _w(), _b()
    np.testing.assert_allclose(gemm.dense_gemm(w, b), w @ b, rtol=1e-4, atol=1e-4)


def test_conv2d_via_im2col_matches_torch():
    x = RNG.standard_normal((5, 11, 13)).astype(np.float32)
    w = RNG.standard_normal((7, 5, 3, 3)).astype(np.float32)
    ref = torch.nn.functional.conv2d(
        torch.from_numpy(x)[None], torch.from_numpy(w), stride=2, padding=1
    )
    np.testing.assert_allclose(gemm.conv2d(x, w, stride=2, pad=1), ref[0].numpy(), atol=1e-4)


def test_int8_gemm_is_exact():
    w = RNG.integers(-128, 128, (N, K), dtype=np.int8)
    b = RNG.integers(-128, 128, (K, M), dtype=np.int8)
    ref = w.astype(np.int64) @ b.astype(np.int64)
    np.testing.assert_array_equal(gemm.int8_gemm(w, b), ref)


def test_int4_packing_round_trips_and_gemm_is_exact():
    w = RNG.integers(-8, 8, (N, K), dtype=np.int8)
    b = RNG.integers(-128, 128, (K, M), dtype=np.int8)
    packed = gemm.pack_int4(w)
    assert packed.shape == (N, K // 2) and packed.dtype == np.uint8
    np.testing.assert_array_equal(gemm.unpack_int4(packed), w)
    np.testing.assert_array_equal(
        gemm.int4_gemm(packed, b), w.astype(np.int64) @ b.astype(np.int64)
    )


@pytest.mark.parametrize("per_channel", [False, True])
def test_int8_conv_requantization_is_bit_exact(per_channel):
    """int8 conv = exact int32 accumulation (checked against torch's float64 conv of the
    integers) and requantization rint(acc * sx*sw/sy), identical to a numpy reference."""
    x = RNG.standard_normal((4, 9, 9)).astype(np.float32)
    w = RNG.standard_normal((6, 4, 3, 3)).astype(np.float32)
    sx = float(np.abs(x).max() / 127)
    sw = np.abs(w).reshape(6, -1).max(axis=1) / 127 if per_channel else float(np.abs(w).max() / 127)
    x_q, w_q = gemm.quantize(x, sx), gemm.quantize(w, sw)
    mult = gemm.requant_multiplier(sx, sw, 0.05, 6)
    out = gemm.int8_conv2d(x_q, w_q, mult, stride=1, pad=1, zero_point=3)
    acc = torch.nn.functional.conv2d(
        torch.from_numpy(x_q.astype(np.float64))[None],
        torch.from_numpy(w_q.astype(np.float64)),
        padding=1,
    )[0].numpy()
    expected = np.clip(np.rint(acc * mult[:, None, None]) + 3, -128, 127).astype(np.int8)
    np.testing.assert_array_equal(out, expected)


def test_csr_equals_dense_on_the_same_weights():
    w, b = sparse.prune_random(_w(), 0.25), _b()
    np.testing.assert_allclose(
        sparse.csr_gemm(sparse.to_csr(w), b), gemm.dense_gemm(w, b), rtol=1e-4, atol=1e-4
    )


@pytest.mark.parametrize("block", [(1, 4), (4, 4)])
def test_bsr_equals_dense_on_the_same_weights(block):
    w, b = sparse.prune_random(_w(), 0.3, block=block), _b()
    bsr = sparse.to_bsr(w, block)
    assert bsr.data.shape[0] == np.count_nonzero(
        np.abs(w).reshape(N // block[0], block[0], K // block[1], block[1]).max(axis=(1, 3))
    )
    np.testing.assert_allclose(sparse.bsr_gemm(bsr, b), gemm.dense_gemm(w, b), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(("n", "m"), [(2, 4), (4, 8)])
def test_nm_equals_dense_on_the_same_weights(n, m):
    w, b = sparse.prune_nm(_w(), n, m), _b()
    packed = sparse.to_nm(w, n, m)
    assert packed.values.shape == (N, K // m, n)
    np.testing.assert_allclose(
        sparse.nm_gemm(packed, b), gemm.dense_gemm(w, b), rtol=1e-4, atol=1e-4
    )


def test_nm_rejects_weights_that_do_not_conform():
    with pytest.raises(ValueError, match="not 2:4 sparse"):
        sparse.to_nm(np.ones((4, 8), np.float32), 2, 4)

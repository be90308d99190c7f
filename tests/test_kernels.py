"""The numba kernels against numpy/torch references: dense, quantized (bit-exact) and sparse."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hwsim.kernels import gemm, sparse, timing

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


def test_fresh_copies_sit_at_other_page_offsets_and_hold_the_same_values():
    """Copy i starts i x 1040 bytes (mod 4096) into its own buffer: float32 copy 1 at byte
    1040 (element 260), copy 4 at 4160 - 4096 = 64; int8 copy 3 at 3120."""
    a = _b()
    for index, offset in ((0, 0), (1, 1040), (4, 64)):
        copy = timing.fresh_copy(a, index)
        assert copy.ctypes.data - copy.base.ctypes.data == offset
        assert copy.flags.c_contiguous
        np.testing.assert_array_equal(copy, a)
    q = RNG.integers(-128, 128, (K, M), dtype=np.int8)
    copy = timing.fresh_copy(q, 3)
    assert copy.ctypes.data - copy.base.ctypes.data == 3120


def test_kernel_cases_store_what_each_format_keeps():
    """A 24 x 64 matrix: the dense reference, int8 and int4 store everything; BSR 4x4 stores
    16 weights per kept block of the 6 x 16 grid; 2:4 and 4:8 store half."""
    w = _w()
    cases = timing.kernel_cases(w, (0.5,), formats=("csr", "bsr4x4"), seed=2)
    assert [c.fmt for c in cases] == ["dense", "int8", "int4", "csr", "bsr4x4", "2:4", "4:8"]
    assert [c.stored for c in cases[:3]] == [1.0, 1.0, 1.0]
    csr, bsr = cases[3], cases[4]
    assert csr.stored == len(csr.weights.data) / (N * K)
    assert bsr.stored == bsr.weights.data.shape[0] * 16 / (N * K)
    assert 0.25 < csr.stored < 0.75 and 0.25 < bsr.stored < 0.75  # ~0.5 of 1536 / 96 draws
    assert [c.stored for c in cases[5:]] == [0.5, 0.5]
    b = _b()
    pruned = {
        "csr": sparse.prune_random(w, 0.5, seed=2),
        "bsr4x4": sparse.prune_random(w, 0.5, block=(4, 4), seed=2),
        "2:4": sparse.prune_nm(w, 2, 4),
        "4:8": sparse.prune_nm(w, 4, 8),
    }
    for case in cases[3:]:  # each runs its own encoding of the pruned weights
        np.testing.assert_allclose(
            case.run(case.weights, b), pruned[case.fmt] @ b, rtol=1e-4, atol=1e-4
        )


class _Clock:
    """A fake ``perf_counter`` that fake kernels advance by the seconds they are told to take."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _fake(clock: _Clock, durations: list[float]):
    """A kernel whose n-th call takes durations[n] seconds (the last one repeats)."""
    calls = iter(range(10**6))

    def run(weights, columns):
        clock.now += durations[min(next(calls), len(durations) - 1)]

    return run


def test_time_cases_takes_per_copy_best_runs_and_the_median_ratio(monkeypatch):
    """Three copies, two timed runs each after a warm-up. The dense kernel takes 4 s every call
    except the 2nd run after the others on copy 0 (3 s): its per-copy bests are 3, 4, 4 s.
    The sparse kernel's calls take 9 (warm-up), 2, 1 s on copy 0, then 9, 2, 2 and 9, 1, 3 s:
    bests 1, 2, 1 s. Per-copy speedups 3/1, 4/2, 4/1 = 3, 2, 4: median 3. Median seconds: the
    dense 4 s, the sparse 1 s."""
    clock = _Clock()
    monkeypatch.setattr(timing.time, "perf_counter", clock)
    dense = [4.0] * 3 + [4.0, 4.0, 3.0] + [4.0] * 12
    sparse_runs = [9.0, 2.0, 1.0, 9.0, 2.0, 2.0, 9.0, 1.0, 3.0]
    w, b = np.ones((4, 4), np.float32), np.ones((4, 4), np.float32)
    cases = [
        timing.KernelCase("dense", 1.0, w, _fake(clock, dense)),
        timing.KernelCase("csr", 0.25, w, _fake(clock, sparse_runs)),
    ]
    out = timing.time_cases(cases, b, budget_s=1.0, copies=(3, 9), runs=2)
    assert [t.seconds for t in out] == [4.0, 1.0]
    assert out[1].speedup == 3.0
    assert out[0].speedup == 1.0


def test_time_cases_stops_at_the_budget_but_not_below_the_fewest_copies(monkeypatch):
    """Each copy costs 2 kernels x 3 calls x 1 s + 3 more dense calls = 9 s of fake time. A 40 s
    budget stops once another copy would pass it: after copy 4 (4 x 9 x 5/4 = 45 > 40). A 1 s
    budget still times the fewest, 3."""
    for budget, expected in ((40.0, 4), (1.0, 3)):
        clock = _Clock()
        monkeypatch.setattr(timing.time, "perf_counter", clock)
        seen: list[int] = []
        w = np.ones((4, 4), np.float32)

        def dense(weights, columns, clock=clock):
            clock.now += 1.0

        def sparse_run(weights, columns, clock=clock, seen=seen):
            clock.now += 1.0
            seen.append(columns.ctypes.data)

        cases = [
            timing.KernelCase("dense", 1.0, w, dense),
            timing.KernelCase("csr", 0.5, w, sparse_run),
        ]
        timing.time_cases(cases, np.ones((4, 4), np.float32), budget, copies=(3, 9), runs=2)
        assert len(seen) == 3 * expected


def test_time_cases_needs_the_dense_reference_first():
    w = np.ones((4, 4), np.float32)
    case = timing.KernelCase("csr", 0.5, w, lambda weights, columns: None)
    with pytest.raises(ValueError, match="dense fp32 reference"):
        timing.time_cases([case], w, 1.0)

"""The export's exact integer arithmetic through BLAS (frontend/exact_conv.py), the shift path of
rhe_div and the compact stage storage: the same integers as the int64 loops, at every bound."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from dsf_sim.frontend.exact_conv import F32_EXACT, F64_EXACT, exact_dtype, exact_matmul, tap_sum
from dsf_sim.frontend.quant import _rhe_div_general, rhe_div
from dsf_sim.frontend.reference import compact


def _naive(xp, k, oh, ow, sh, sw):
    KH, KW, CI, CO = k.shape
    y = np.zeros((xp.shape[0], oh, ow, CO), dtype=object)
    for n in range(xp.shape[0]):
        for i in range(oh):
            for j in range(ow):
                patch = xp[n, i * sh:i * sh + KH, j * sw:j * sw + KW, :].astype(object)
                y[n, i, j] = np.tensordot(patch, k.astype(object), axes=([0, 1, 2], [0, 1, 2]))
    return y.astype(np.int64)


def test_exact_dtype_follows_the_partial_sum_bound():
    x = np.array([3])
    assert exact_dtype(x, np.array([1]), (F32_EXACT - 1) // 3) == np.float32
    assert exact_dtype(x, np.array([1]), F32_EXACT // 3 + 1) == np.float64
    assert exact_dtype(np.array([1 << 30]), np.array([1 << 22]), 1) == np.float64
    assert (1 << 30) * (1 << 22) < F64_EXACT <= (1 << 30) * (1 << 23)
    assert exact_dtype(np.array([1 << 30]), np.array([1 << 23]), 1) == np.int64
    assert exact_dtype(np.zeros(0), np.array([5]), 10) == np.float32


@pytest.mark.parametrize("KH,KW,sh,sw", [(1, 1, 1, 1), (3, 3, 1, 1), (3, 3, 2, 2), (7, 5, 2, 1)])
def test_tap_sum_equals_the_naive_sum_on_every_path(KH, KW, sh, sw):
    rng = np.random.default_rng(KH * 10 + sh)
    N, H, W, CI, CO = 2, 11, 9, 5, 4
    oh, ow = (H - KH) // sh + 1, (W - KW) // sw + 1
    # up to 2^26: products 2^52, sums past 2^53 (the int64 path) but inside int64
    for lo, hi in ((-8, 8), (-128, 128), (-(1 << 20), 1 << 20), (-(1 << 26), 1 << 26)):
        xp = rng.integers(lo, hi, (N, H, W, CI))
        k = rng.integers(lo, hi, (KH, KW, CI, CO))
        xp[0, 0, 0, 0], k[0, 0, 0, 0] = lo, lo           # the extreme value is in the bound
        want = _naive(xp, k, oh, ow, sh, sw)
        got = tap_sum(xp, k, oh, ow, sh, sw)
        assert got.dtype == np.int64 and np.array_equal(got, want), (lo, exact_dtype(xp, k, 1))
        for dt in (np.float32, np.float64, np.int64):     # every path a bound lets through
            if dt == np.float32 and exact_dtype(xp, k, KH * KW * CI) != np.float32:
                continue
            if dt == np.float64 and exact_dtype(xp, k, KH * KW * CI) == np.int64:
                continue
            assert np.array_equal(tap_sum(xp, k, oh, ow, sh, sw, dtype=dt), want)
    # the bound is what keeps float32 exact: just past it, float32 would round
    xp = np.full((1, 1, 1, 1), (1 << 24) + 1)
    assert tap_sum(xp, np.ones((1, 1, 1, 1), np.int64), 1, 1)[0, 0, 0, 0] == (1 << 24) + 1
    assert int(np.float32((1 << 24) + 1)) != (1 << 24) + 1


def test_exact_matmul_dense():
    rng = np.random.default_rng(1)
    for hi in (8, 1 << 15, 1 << 26):
        x, k = rng.integers(-hi, hi, (3, 50)), rng.integers(-hi, hi, (50, 7))
        assert np.array_equal(exact_matmul(x, k), x.astype(object).dot(k.astype(object))
                              .astype(np.int64))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-(1 << 50), 1 << 50), min_size=1, max_size=40),
       st.integers(0, 45))
def test_rhe_div_shift_path_equals_division(nums, s):
    num = np.array(nums, dtype=np.int64)
    halves = (np.arange(-6, 7) * (1 << s)) // 2 if s else np.arange(-6, 7)
    num = np.concatenate([num, halves])                     # exact halves: ties to even
    for den in (np.int64(1 << s), np.array([1 << s]), np.array([[1 << s]])):
        got, want = rhe_div(num, den), _rhe_div_general(num, np.asarray(den, dtype=np.int64))
        assert got.shape == want.shape and np.array_equal(got, want)
    # not a power of two: the division path
    assert np.array_equal(rhe_div(num, np.int64(3)), _rhe_div_general(num, np.int64(3)))


def test_compact_keeps_values_in_the_narrowest_type():
    for vals, dt in (([-128, 127], np.int8), ([-129, 5], np.int16), ([0, 40000], np.int32),
                     ([-(1 << 31), 1], np.int32), ([1 << 31], np.int64)):
        a = np.array(vals, dtype=np.int64)
        c = compact(a)
        assert c.dtype == dt and np.array_equal(c.astype(np.int64), a)
    f = np.array([0.5])
    assert compact(f) is f

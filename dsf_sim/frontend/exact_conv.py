"""Exact integer convolution through BLAS.

Why: numpy has no BLAS for int64 (its integer matmul is a plain loop), and the references of
every export (the bundle's convolution, every engine job) are matrix products of small integers.
A float product is exact as long as every partial sum is an integer the float represents
exactly: |sum| < 2^24 for float32, < 2^53 for float64. Any partial sum of the products of one
output is bounded by sum |x|·|k| <= max|x| · max|k| · (terms per output), so that bound picks
float32, float64, or (beyond 2^53, never for 1–8-bit words) the int64 loop. The result is the
same int64 array in every case (tests/test_exact_conv.py checks the three paths agree).
"""
from __future__ import annotations

import numpy as np

F32_EXACT = 1 << 24
F64_EXACT = 1 << 53


def exact_dtype(x: np.ndarray, k: np.ndarray, terms: int):
    """float32 / float64 when every partial sum of `terms` products x·k is exact in it, else
    int64."""
    mx = max(int(x.max()), -int(x.min())) if x.size else 0     # no |x| temporary
    mk = max(int(k.max()), -int(k.min())) if k.size else 0
    bound = mx * mk * max(int(terms), 1)
    if bound < F32_EXACT:
        return np.float32
    if bound < F64_EXACT:
        return np.float64
    return np.int64


def tap_sum(xp: np.ndarray, k: np.ndarray, oh: int, ow: int, sh: int = 1, sw: int = 1,
            dtype=None) -> np.ndarray:
    """y[n, i, j, o] = sum over (a, b, c) of xp[n, i*sh + a, j*sw + b, c] * k[a, b, c, o], exact
    (int64 result). xp is the padded input [N, H, W, CI], k the kernel [KH, KW, CI, CO]."""
    KH, KW, CI, CO = k.shape
    dt = dtype or exact_dtype(xp, k, KH * KW * CI)
    xf = xp.astype(dt, copy=False)
    kf = k.astype(dt, copy=False)
    y = np.zeros((xp.shape[0], oh, ow, CO), dtype=dt)
    for a in range(KH):
        for b in range(KW):
            y += xf[:, a:a + (oh - 1) * sh + 1:sh, b:b + (ow - 1) * sw + 1:sw] @ kf[a, b]
    return y.astype(np.int64) if dt != np.int64 else y


def exact_matmul(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    """x @ k of integer arrays, exact (int64 result): a dense layer's core."""
    dt = exact_dtype(x, k, k.shape[0])
    if dt == np.int64:
        return np.asarray(x, dtype=np.int64) @ np.asarray(k, dtype=np.int64)
    return (x.astype(dt) @ k.astype(dt)).astype(np.int64)

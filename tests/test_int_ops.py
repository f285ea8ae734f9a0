"""Integer softmax, GELU and LayerNorm (frontend/int_ops.py, architecture §21): the firmware's C
(dsf_iexp, dsf_isoftmax, dsf_igelu, dsf_ilayernorm) gives the reference's integers bit for bit,
and each operator stays within its documented error of the float function."""
from __future__ import annotations

import ctypes
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cases import export_zoo
from dsf_sim.errors import ModelError
from dsf_sim.frontend import int_ops as io
from dsf_sim.runtime.fw_driver import build_firmware, load_firmware

I64P = ctypes.POINTER(ctypes.c_int64)


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("intops"))
    export_zoo("kernels", "4x8_axi64", d)
    lib = load_firmware(build_firmware(d))
    lib.dsf_iexp.restype, lib.dsf_iexp.argtypes = ctypes.c_int64, [ctypes.c_int64]
    lib.dsf_isoftmax.restype = ctypes.c_int
    lib.dsf_isoftmax.argtypes = [I64P, ctypes.c_int, ctypes.c_int, ctypes.c_int, I64P]
    lib.dsf_igelu.restype = ctypes.c_int
    lib.dsf_igelu.argtypes = [ctypes.c_int64, ctypes.c_int, I64P]
    lib.dsf_ilayernorm.restype = ctypes.c_int
    lib.dsf_ilayernorm.argtypes = [I64P, ctypes.c_int, ctypes.c_int, I64P]
    return lib


def _arr(v):
    a = np.ascontiguousarray(v, dtype=np.int64)
    return a, a.ctypes.data_as(I64P)


def c_softmax(lib, q, f, fo):
    a, pa = _arr(q)
    y, py = _arr(np.zeros_like(a))
    rc = lib.dsf_isoftmax(pa, a.size, f, fo, py)
    return None if rc else y


def c_gelu(lib, q, f):
    out = ctypes.c_int64()
    rc = lib.dsf_igelu(int(q), f, ctypes.byref(out))
    return None if rc else out.value


def c_layernorm(lib, q, fz):
    a, pa = _arr(q)
    z, pz = _arr(np.zeros_like(a))
    rc = lib.dsf_ilayernorm(pa, a.size, fz, pz)
    return None if rc else z


def test_exp_is_bit_exact_and_accurate(lib):
    t = np.concatenate([np.arange(-30 * io.ONE, 1, 7919), [-io.LN2, -io.LN2 - 1, 0, 5, -1]])
    ref = io.i_exp(t)
    assert np.array_equal(ref, [lib.dsf_iexp(int(v)) for v in t])
    err = np.abs(ref / io.ONE - np.exp(np.minimum(t, 0) / io.ONE))
    assert err.max() < 1.5e-4                    # the cubic's 1.4e-4 + Q20 rounding


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(-(1 << 14), 1 << 14), min_size=1, max_size=40),
       st.integers(0, 14), st.integers(0, 20))
def test_softmax_c_equals_reference(lib, q, f, fo):
    q = np.array(q)
    if np.abs(q).max() >= io.MAX_ABS << f:       # outside the range: both refuse
        assert c_softmax(lib, q, f, fo) is None
        with pytest.raises(ModelError, match="input magnitude"):
            io.i_softmax(q, f, fo)
        return
    assert np.array_equal(c_softmax(lib, q, f, fo), io.i_softmax(q, f, fo))


@settings(max_examples=300, deadline=None)
@given(st.integers(-(1 << 20), 1 << 20), st.integers(0, 12))
def test_gelu_c_equals_reference(lib, q, f):
    if abs(q) >= io.MAX_ABS << f:
        assert c_gelu(lib, q, f) is None
        with pytest.raises(ModelError, match="input magnitude"):
            io.i_gelu(q, f)
        return
    assert c_gelu(lib, q, f) == int(io.i_gelu(q, f))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(-(1 << 16), 1 << 16), min_size=1, max_size=64), st.integers(0, 20))
def test_layernorm_c_equals_reference(lib, q, fz):
    q = np.array(q)
    assert np.array_equal(c_layernorm(lib, q, fz), io.i_layernorm(q, fz))


def test_operators_within_their_float_tolerance():
    """Softmax within 5e-5 + one output step, GELU within 5e-4 of the exact (erf) GELU,
    LayerNorm within 2e-4 + one step of (x - mean) / std: on 4-, 8- and 16-bit words."""
    erf = np.vectorize(math.erf)
    rng = np.random.default_rng(0)
    for bits, f in ((4, 2), (8, 5), (16, 10)):
        q = rng.integers(-(1 << (bits - 1)), 1 << (bits - 1), (64, 128))
        x = q / 2.0 ** f
        s = np.exp(x - x.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        assert np.abs(io.i_softmax(q, f, 15) / 2 ** 15 - s).max() < 5e-5 + 2 ** -15
        g = x * 0.5 * (1 + erf(x / math.sqrt(2)))
        assert np.abs(io.i_gelu(q, f) / io.ONE - g).max() < 5e-4
        z = (x - x.mean(-1, keepdims=True)) / x.std(-1, keepdims=True)
        assert np.abs(io.i_layernorm(q, 12) / 2 ** 12 - z).max() < 2e-4 + 2 ** -12


def test_edges_and_refusals(lib):
    assert np.array_equal(io.i_layernorm(np.full(7, 5), 12), np.zeros(7))      # constant row
    assert np.array_equal(c_layernorm(lib, np.full(7, 5), 12), np.zeros(7))
    one = io.i_softmax(np.array([3]), 0, 15)
    assert one.tolist() == [round(io.EXP_C[0] * 2 ** 15 / io.EXP_C[0])] == [1 << 15]
    big = np.array([io.MAX_ABS << 3, 0])
    with pytest.raises(ModelError, match=r"i_softmax: input magnitude = 2048.0 is invalid: "
                                         r"allowed < 2048"):
        io.i_softmax(big, 3, 8)
    assert c_softmax(lib, big, 3, 8) is None
    huge = np.array([1 << 31, 0])
    with pytest.raises(ModelError, match=r"i_layernorm: input word"):
        io.i_layernorm(huge, 12)
    assert c_layernorm(lib, huge, 12) is None
    with pytest.raises(ModelError, match=r"output frac = 31 is invalid: allowed 0..30"):
        io.i_softmax(np.array([1]), 0, 31)
    assert c_softmax(lib, np.array([1]), 0, 31) is None

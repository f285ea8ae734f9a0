"""Integer softmax, GELU and LayerNorm: the specification (issue 14, architecture §21).

Transformers need three non-linear operations the MAC array does not do. They must run on the
firmware without floats and give the same integers as the reference, so their semantics are
integer arithmetic, defined here and mirrored line by line in firmware/dsf_fw.c (`dsf_iexp`,
`dsf_isoftmax`, `dsf_igelu`, `dsf_ilayernorm`; tests/test_int_ops.py checks both bit for bit and
each against the float function within its documented error).

Everything works at one internal binary point F = 20 (value = v / 2^20). Shifts and divisions
round half to even (`quant.rhe_div`), as every requantisation of the engine does.

- `i_exp(t)` for t <= 0: t = -z·ln2 + p with p in (-ln2, 0]; exp(p) by a cubic fitted here for
  relative error (max 1.4e-4 on the interval), then a right shift by z.
- `i_softmax(q, f, fo)`: over the last axis, t - max(t), i_exp, the sum, each term divided by
  it: an unsigned result at binary point fo, in [0, 2^fo].
- `i_gelu(q, f)`: the tanh form of GELU, 0.5x(1 + tanh(√(2/π)(x + 0.044715x³))), written as
  x·σ(2√(2/π)(x + 0.044715x³)) with σ from i_exp and one division; the cubic's argument is
  clipped to |x| <= 8 (where σ is 1 or 0 to 1e-20); Q20 result, then requantised by the
  bundle's quantiser.
- `i_layernorm(q, fz)`: over the last axis, c = n·q − Σq (exact), V = Σc², z = c / √(V/n) at
  binary point fz with an integer square root; a constant row gives 0. Scale-invariant, so the
  input's binary point does not matter; γ and β are applied after it by the engine's affine
  requantisation.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import ModelError
from .quant import rhe_div

F = 20
ONE = 1 << F
LN2 = round(math.log(2) * ONE)                       # 726817
EXP_C = (1048433, 1044858, 501246, 122519)           # exp(p) ≈ c0 + c1 p + c2 p² + c3 p³, Q20
GELU_K1 = round(2 * math.sqrt(2 / math.pi) * ONE)    # 1673285
GELU_K3 = round(0.044715 * ONE)                      # 46887
GELU_CLIP = 8 << F
MAX_ABS = 1 << 11                                    # |value| limit of softmax / GELU inputs


def _rsh(v, s):
    """v / 2^s rounded half to even (elementwise s >= 0)."""
    v = np.asarray(v, dtype=np.int64)
    s = np.asarray(s, dtype=np.int64)
    if s.ndim == 0:
        return rhe_div(v, np.int64(1) << s) if s > 0 else v.copy()
    out = np.empty(np.broadcast_shapes(v.shape, s.shape), dtype=np.int64)
    vb, sb = np.broadcast_arrays(v, s)
    for k in np.unique(sb):
        m = sb == k
        out[m] = rhe_div(vb[m], np.int64(1) << int(k)) if k > 0 else vb[m]
    return out


def to_q20(q, f: int, where: str = "int_ops"):
    """q·2^-f as Q20 (exact when f <= 20, else rounded); |value| must stay below 2^11."""
    q = np.asarray(q, dtype=np.int64)
    lim = MAX_ABS << f if f >= 0 else MAX_ABS >> -f
    if q.size and int(np.max(np.abs(q))) >= lim:
        raise ModelError(where, "input magnitude", float(np.max(np.abs(q))) * 2.0 ** -f,
                         f"< {MAX_ABS} (the integer operators' range)")
    return q << (F - f) if f <= F else _rsh(q, f - F)


def i_exp(t):
    """exp(t·2^-20)·2^20 for t <= 0 (Q20 in, Q20 out)."""
    t = np.minimum(np.asarray(t, dtype=np.int64), 0)
    z = (-t) // LN2
    p = t + z * LN2                                  # (-ln2, 0]
    c0, c1, c2, c3 = EXP_C
    P = _rsh(c3 * p, F) + c2
    P = _rsh(P * p, F) + c1
    P = _rsh(P * p, F) + c0
    return np.where(z >= 62, 0, _rsh(P, np.minimum(z, 62)))


def i_softmax(q, f: int, fo: int):
    """Softmax over the last axis of q·2^-f, as integers at binary point fo (0 <= fo <= 30)."""
    if not 0 <= fo <= 30:
        raise ModelError("i_softmax", "output frac", fo, "0..30")
    t = to_q20(q, f, "i_softmax")
    e = i_exp(t - t.max(axis=-1, keepdims=True))
    return rhe_div(e << fo, e.sum(axis=-1, keepdims=True))


def i_gelu(q, f: int):
    """GELU(q·2^-f) ≈ x·σ(2√(2/π)(x + 0.044715x³)) in Q20."""
    t = to_q20(q, f, "i_gelu")
    u = np.clip(t, -GELU_CLIP, GELU_CLIP)
    u3 = _rsh(_rsh(u * u, F) * u, F)
    y = _rsh(GELU_K1 * (u + _rsh(GELU_K3 * u3, F)), F)
    e = i_exp(-np.abs(y))
    s = rhe_div(np.int64(1) << (2 * F), ONE + e)     # σ(|y|) in [2^19, 2^20]
    s = np.where(y < 0, ONE - s, s)
    return _rsh(t * s, F)


def i_layernorm(q, fz: int):
    """(q − mean) / std over the last axis (population std, no epsilon) at binary point fz."""
    q = np.asarray(q, dtype=np.int64)
    if not 0 <= fz <= 24:
        raise ModelError("i_layernorm", "output frac", fz, "0..24")
    n = q.shape[-1]
    if q.size and int(np.max(np.abs(q))) >= 1 << 31:
        raise ModelError("i_layernorm", "input word", int(np.max(np.abs(q))), "|q| < 2^31")
    rows = q.reshape(-1, n)
    out = np.zeros_like(rows)
    for r, row in enumerate(rows):
        c = [n * int(v) - int(row.sum()) for v in row]
        V = sum(v * v for v in c)
        if V == 0:
            continue
        cmax = max(abs(v) for v in c)
        if V.bit_length() > 62 or cmax.bit_length() + fz > 62:
            raise ModelError("i_layernorm", "row magnitude", f"2^{V.bit_length()}",
                             "sum of squares below 2^62 (fewer or smaller values)")
        sh = min(16, (62 - V.bit_length()) // 2, 62 - fz - cmax.bit_length())
        R = math.isqrt(int(rhe_div(V << (2 * sh), n)))
        if R == 0:
            continue
        out[r] = [int(rhe_div(v << (fz + sh), R)) for v in c]
    return out.reshape(q.shape)

"""Quantiser specs parsed from QKeras strings, and the exact integer requantisation they imply.

QKeras computes `clip(round_half_even(x * 2^frac), lo, hi) / 2^frac` in float32 (leaky relu: the
negative side uses `x * slope`). On integers `Y` with binary point `f_in` that is
`clip(rhe(Y * 2^(frac - f_in) [* slope]), lo, hi)`, done here with exact rational arithmetic so the
firmware (C, same formula) and this model agree for negative values and ties.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ModelError


@dataclass(frozen=True)
class QSpec:
    """Integer view of a QKeras quantiser: value = q / 2^frac, q in [lo, hi]."""

    text: str
    kind: str  # 'bits' | 'relu'
    bits: int
    frac: int
    lo: int
    hi: int
    slope_shift: int = -1  # relu: negative slope = 2^-slope_shift; -1: slope 0 (plain relu)
    pos_shift: int = 0     # leaky relu whose negative step is finer than its positive one: the
                           # positive values are multiples of 2^pos_shift on the frac grid

    @property
    def signed(self) -> bool:
        return self.lo < 0

    def word_bits(self) -> int:
        """Bits of the two's complement (signed) or plain (unsigned) word that holds q."""
        if self.signed:
            return max(int(-self.lo - 1).bit_length(), int(self.hi).bit_length()) + 1
        return max(int(self.hi).bit_length(), 1)


def _qkeras():
    from . import tf_setup  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TF import)
    import qkeras
    return qkeras


def parse_quantizer(text: str, where: str = "quantizer") -> QSpec:
    """Parse a QKeras quantiser string into a QSpec or raise a ModelError naming what is wrong."""
    if not isinstance(text, str) or not text.strip():
        raise ModelError(where, "quantizer", text, "a QKeras quantizer string such as "
                         "'quantized_bits(4,0,False,True,1)'")
    qk = _qkeras()
    try:
        q = qk.get_quantizer(text)
    except Exception as e:  # qkeras raises many types on a bad string
        raise ModelError(where, "quantizer", text, f"a parseable QKeras quantizer ({e})") from None
    name = type(q).__name__
    if name == "quantized_bits":
        if q.alpha not in (None, 1, 1.0):
            raise ModelError(where, "quantized_bits alpha", q.alpha, "1 or None (no scaling)")
        if q.use_stochastic_rounding:
            raise ModelError(where, "use_stochastic_rounding", True, "False")
        kn = int(bool(q.keep_negative))
        ub = int(q.bits) - kn
        if ub <= 0:
            raise ModelError(where, "quantized_bits bits", q.bits,
                             ">= 2 when keep_negative (1-bit +-1 binary is not supported)")
        integer = int(q.integer)
        frac = ub - integer
        m = 1 << ub
        lo = (-m + int(bool(q.symmetric))) if kn else 0
        return QSpec(text, "bits", int(q.bits), frac, lo, m - 1)
    if name == "quantized_relu":
        if q.use_sigmoid:
            raise ModelError(where, "quantized_relu use_sigmoid", q.use_sigmoid, "0")
        if q.use_stochastic_rounding:
            raise ModelError(where, "use_stochastic_rounding", True, "False")
        if not q.is_quantized_clip:
            raise ModelError(where, "quantized_relu is_quantized_clip", False, "True")
        slope = float(q.negative_slope)
        nsb = int(q.bits) - (slope != 0.0)   # 0 for a 1-bit leaky relu: outputs {-2^i*s, 0}
        if nsb < 0:
            raise ModelError(where, "quantized_relu bits", q.bits, ">= 1")
        frac = nsb - int(q.integer)
        m = 1 << nsb
        if slope == 0.0:
            return QSpec(text, "relu", int(q.bits), frac, 0, m - 1, -1)
        k = -np.log2(slope)
        if slope <= 0 or slope >= 1 or abs(k - round(k)) > 1e-12:
            raise ModelError(where, "negative_slope", slope, "0 or 2^-k with k >= 1")
        k = int(round(k))
        # QKeras: positive q+ = clip(rhe(p), 0, m - 1), negative q- = max(rhe(p * 2^-k), -m * 2^-k)
        # on the grid 2^-frac (p = x * 2^frac). When m * 2^-k is not an integer (k > nsb) the
        # negative bound is a finer step: the integer view uses the grid 2^-(frac + e),
        # e = k - nsb, where the bound is -1 and the positive values are multiples of 2^e.
        e = max(0, k - nsb)
        return QSpec(text, "relu", int(q.bits), frac + e, -((m << e) >> k), (m - 1) << e, k, e)
    raise ModelError(where, "quantizer", text, "quantized_bits(...) or quantized_relu(...)")


# ----------------------------------------------------------------------------- integer maths
def rhe_div(num, den):
    """Round-half-to-even of num/den for integer arrays, den > 0 (exact, no floats). A single
    power-of-two den (every requantisation but average pooling) takes shifts and masks instead
    of integer division (several times faster, same values: tests/test_exact_conv.py)."""
    num = np.asarray(num, dtype=np.int64)
    den = np.asarray(den, dtype=np.int64)
    if den.size == 1:
        d = int(den.reshape(-1)[0])
        if d > 0 and d & (d - 1) == 0:
            shape = np.broadcast_shapes(num.shape, den.shape)
            s = d.bit_length() - 1
            if s == 0:
                return np.broadcast_to(num, shape).copy()
            q = num >> s                      # floor division by 2^s
            r = num & (d - 1)                 # 0 <= r < d
            half = d >> 1
            up = (r > half) | ((r == half) & ((q & 1) == 1))
            return np.broadcast_to(q + up, shape).copy() if q.shape != shape else q + up
    return _rhe_div_general(num, den)


def _rhe_div_general(num, den):
    q = np.floor_divide(num, den)
    r = num - q * den  # 0 <= r < den
    twice = 2 * r
    up = (twice > den) | ((twice == den) & (q % 2 == 1))
    return q + up.astype(np.int64)


def shift_align(v, f_from: int, f_to: int):
    """Exact left shift to a finer binary point (f_to >= f_from)."""
    if f_to < f_from:
        raise ValueError("shift_align only shifts left")
    return np.asarray(v, dtype=np.int64) << (f_to - f_from)


def requantize(v, f_in: int, spec: QSpec, count=1):
    """Apply the quantiser `spec` to the integer tensor `v`/count (binary point f_in)."""
    v = np.asarray(v, dtype=np.int64)
    count = np.asarray(count, dtype=np.int64)
    sh = spec.frac - f_in
    num = v << max(sh, 0)
    den = count << max(-sh, 0)
    if spec.kind == "relu" and spec.slope_shift >= 0:
        e = spec.pos_shift           # round on the positive grid 2^-(frac - e), then rescale
        num = v << max(sh - e, 0)
        den = count << max(e - sh, 0)
        neg = v < 0
        q = np.where(neg, rhe_div(num, den << spec.slope_shift), rhe_div(num, den))
        return np.where(neg, np.maximum(q << e, spec.lo), np.minimum(q, spec.hi >> e) << e)
    return np.clip(rhe_div(num, den), spec.lo, spec.hi)

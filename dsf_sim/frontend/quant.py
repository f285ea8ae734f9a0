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

    @property
    def signed(self) -> bool:
        return self.lo < 0

    def word_bits(self) -> int:
        """Bits of the two's complement (signed) or plain (unsigned) word that holds q."""
        return self.bits


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
        nsb = int(q.bits) - (slope != 0.0)
        if nsb <= 0:
            raise ModelError(where, "quantized_relu bits", q.bits, ">= 2 with a negative slope")
        frac = nsb - int(q.integer)
        m = 1 << nsb
        if slope == 0.0:
            return QSpec(text, "relu", int(q.bits), frac, 0, m - 1, -1)
        k = -np.log2(slope)
        if slope <= 0 or slope >= 1 or abs(k - round(k)) > 1e-12:
            raise ModelError(where, "negative_slope", slope, "0 or 2^-k with k >= 1")
        k = int(round(k))
        # q- = clip(rhe(p * 2^-k), -m * 2^-k, 0): needs m * 2^-k to be an integer
        if k > nsb:
            raise ModelError(where, "negative_slope", slope,
                             f">= 2^-{nsb} for {q.bits} bits (smaller slopes quantise to 0)")
        return QSpec(text, "relu", int(q.bits), frac, -(m >> k), m - 1, k)
    raise ModelError(where, "quantizer", text, "quantized_bits(...) or quantized_relu(...)")


# ----------------------------------------------------------------------------- integer maths
def rhe_div(num, den):
    """Round-half-to-even of num/den for integer arrays, den > 0 (exact, no floats)."""
    num = np.asarray(num, dtype=np.int64)
    den = np.asarray(den, dtype=np.int64)
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
        neg = v < 0
        den_neg = den << spec.slope_shift
        q = np.where(neg, rhe_div(num, den_neg), rhe_div(num, den))
        q = np.where(neg, np.clip(q, spec.lo, 0), np.clip(q, 0, spec.hi))
        return q
    return np.clip(rhe_div(num, den), spec.lo, spec.hi)

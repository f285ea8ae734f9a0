"""Twin of rtl/dsf_post_lane.sv (architecture §17.1): one lane of the output pipeline.

The same PIPE_BITS two's complement arithmetic as the RTL (and as compiler/post.finish_values,
its numpy form): shifts wrap at PIPE_BITS, right shifts are clamped to PIPE_BITS - 1 and round
half to even, clips compare signed.
"""
from __future__ import annotations

import numpy as np

from ..jit import jit
from .mutations import M_POST_CLIP_HI, M_POST_NO_ROUND, M_POST_SLOPE_POS
from .params import (Q_A1, Q_A2, Q_ADD, Q_B1, Q_B2, Q_HI1, Q_HI2, Q_K1, Q_K2, Q_LO1, Q_LO2,
                     Q_SH_ACT, Q_SH_BIAS, Q_SH_CORE, Q_SH_SKIP, Q_SKIP_SIGNED, T_POST_OFF,
                     T_POST_W)


@jit(inline=True)
def cfg_field(buf, base, tabs, f, signed):
    """Field `f` (a params.Q_* index) of the configuration bytes at buf[base:], LSB first."""
    off = tabs[T_POST_OFF][f]
    w = tabs[T_POST_W][f]
    v = 0
    for i in range(w):
        b = off + i
        v |= ((buf[base + (b >> 3)] >> (b & 7)) & 1) << i
    if signed and (v >> (w - 1)) & 1:
        v -= 1 << w
    return v


@jit(inline=True)
def _wrap(x, P):
    m = 1 << (P - 1)
    return ((x + m) & ((m << 1) - 1)) - m


@jit(inline=True)
def _shl(x, s, P):
    if s >= P:
        return 0
    return _wrap((x & ((1 << (P - s)) - 1)) << s, P)


@jit(inline=True)
def _shr_rhe(y, d, P, mut):
    """Round half to even of y / 2^e, e = min(d, P - 1); y itself for e = 0. Written with
    selects, not branches: the rounding and sign outcomes depend on the data (the fast path
    runs this for every finished word)."""
    e = d if d < P - 1 else P - 1
    fl = y >> e
    rem = y & ((1 << e) - 1)
    half = (1 << e) >> 1
    if mut == M_POST_NO_ROUND:
        return fl if e > 0 else y
    up = (rem > half) | ((rem == half) & ((fl & 1) == 1) & (e > 0))
    v = _wrap(fl + np.int64(up), P)
    return v if e > 0 else y


@jit(inline=True)
def _rq(x, A, B, K, LO, HI, P, mut):
    y = _shl(x, A, P)
    neg = x < 0
    if mut == M_POST_SLOPE_POS:
        neg = x >= 0
    d = B + (K if neg else 0)
    q = _shr_rhe(y, d, P, mut)
    r = HI if (q > HI and mut != M_POST_CLIP_HI) else q    # the RTL's order: LO wins if LO > HI
    return LO if q < LO else r


@jit(inline=True)
def decode(cfg, base, tabs):
    """The configuration set's fields (architecture §17.1), as the RTL's struct slices them."""
    return (cfg_field(cfg, base, tabs, Q_SH_CORE, False), cfg_field(cfg, base, tabs, Q_SH_BIAS, False),
            cfg_field(cfg, base, tabs, Q_A1, False), cfg_field(cfg, base, tabs, Q_B1, False),
            cfg_field(cfg, base, tabs, Q_K1, False), cfg_field(cfg, base, tabs, Q_LO1, True),
            cfg_field(cfg, base, tabs, Q_HI1, True), cfg_field(cfg, base, tabs, Q_ADD, False),
            cfg_field(cfg, base, tabs, Q_SKIP_SIGNED, False),
            cfg_field(cfg, base, tabs, Q_SH_ACT, False), cfg_field(cfg, base, tabs, Q_SH_SKIP, False),
            cfg_field(cfg, base, tabs, Q_A2, False), cfg_field(cfg, base, tabs, Q_B2, False),
            cfg_field(cfg, base, tabs, Q_K2, False), cfg_field(cfg, base, tabs, Q_LO2, True),
            cfg_field(cfg, base, tabs, Q_HI2, True))


@jit(inline=True)
def lane(a, bias, skip, c, P, mut):
    """The lane's final value q for raw sum a, bias word and skip word (sign-extended as the
    configuration says) under the decoded configuration c."""
    (sh_core, sh_bias, a1, b1, k1, lo1, hi1, add, _ss, sh_act, sh_skip, a2, b2, k2, lo2, hi2) = c
    v = _wrap(_shl(a, sh_core, P) + _shl(bias, sh_bias, P), P)
    q = _rq(v, a1, b1, k1, lo1, hi1, P, mut)
    if add != 0:
        t = _wrap(_shl(q, sh_act, P) + _shl(skip, sh_skip, P), P)
        q = _rq(t, a2, b2, k2, lo2, hi2, P, mut)
    return q

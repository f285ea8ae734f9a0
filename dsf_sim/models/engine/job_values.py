"""The values one engine job produces, from its streams, all at once (architecture §20).

Why: the per-cycle twin spends most of its time computing values a cycle at a time; the values of
a job do not depend on when its beats arrive. This is the fast path's value half: decode the job's
pixel and weight streams as the engine's modules read them (each pixel column with its own halo
words, as the sequencer selects them; the weight rows as the banks hold them), the ROWS x COLS
sums of every column through BLAS (a float product is exact while every partial sum stays below
its mantissa's range -- frontend.exact_conv; else int64), wrapped at Y_BITS as the accumulators
do, then packed as the output
module sends them -- raw Y_OUT_BITS words, or finished words through the twin's own lane
arithmetic (post_lane.lane) with the bias and skip words the lanes would see. The bytes returned
are exactly what the S2M DMA writes (the TLAST beat's kept bytes only).
"""
from __future__ import annotations

import numpy as np

from ...compiler.layout import unpack_header
from ...frontend.exact_conv import F32_EXACT, F64_EXACT
from ..jit import jit
from . import post_lane, words
from .params import (T_KEEP_FIN_OF_KW2, T_KEEP_OF_KW2, T_OB_FIN_OF_KW2, T_OB_OF_KW2,
                     T_PB_OF_KH2)


class JobStreamError(ValueError):
    """A job's streams do not describe one engine job (headers disagree, lengths wrong)."""


@jit(inline=True)
def _word(buf, pos, bit, bits, in_byte):
    """Unsigned word at bit `bit` of buf[pos:]; one byte operation when the word cannot cross a
    byte (1/2/4/8 bits)."""
    if in_byte:
        return (np.int64(buf[pos + (bit >> 3)]) >> (bit & 7)) & ((1 << bits) - 1)
    return words.get(buf, pos, bit, bits)


@jit
def _unpack_pixels(xb, B, NB, XW, CM, PB, PR, XB, signed, XWP, PW, out):
    """Pixel beats (header excluded) -> out[NB, PR*XWP + 2*PW, CM], column (nb, w, ci)'s word r
    at row r*XWP + PW + w (its W halo, the rest, stays zero): a flat spatial axis, so each kernel
    tap of the whole job is one contiguous slice."""
    half = 1 << (XB - 1)
    in_byte = 8 % XB == 0
    col = 0
    for nb in range(NB):
        for w in range(XW):
            for ci in range(CM):
                pos = col * PB * B
                for r in range(PR):
                    v = _word(xb, pos, r * XB, XB, in_byte)
                    if signed:
                        v = (v ^ half) - half
                    out[nb, r * XWP + PW + w, ci] = v
                col += 1


@jit
def _unpack_weights(wb, B, WB, KH, KW, CM, CO, KB, out):
    """Weight rows (header and configuration beats excluded) -> out[KH, KW, CM, CO]:
    row ci*KH + kh, column g*KW + k (signed KB-bit words, LSB first)."""
    half = 1 << (KB - 1)
    in_byte = 8 % KB == 0
    for ci in range(CM):
        for kh in range(KH):
            pos = (ci * KH + kh) * WB * B
            for g in range(CO):
                for k in range(KW):
                    v = _word(wb, pos, (g * KW + k) * KB, KB, in_byte)
                    out[kh, k, ci, g] = (v ^ half) - half


@jit(inline=True)
def _wrap(v, bits):
    m = 1 << (bits - 1)
    return ((v + m) & ((m << 1) - 1)) - m


@jit
def _pack_raw(y, XW, YB, YOB, OB, B, out):
    """Raw packets: packet (nb, w) = OB beats; word r*CO + g of YOB bytes = the Y_BITS-wrapped sum
    (y[nb, r, w, g] exact, w < XW)."""
    NB, R, _, CO = y.shape
    pk = 0
    for nb in range(NB):
        for w in range(XW):
            base = pk * OB * B
            for r in range(R):
                for g in range(CO):
                    v = _wrap(np.int64(y[nb, r, w, g]), YB)
                    o = base + (r * CO + g) * YOB
                    for k in range(YOB):
                        out[o + k] = (v >> (8 * k)) & 0xFF
            pk += 1


@jit
def _decode_cfg(cfgset, bias0, BB, COLS, tabs, biases):
    """The configuration set's fields (post_lane.decode) and its bias words into biases[CO]
    (zero past COLS)."""
    bb = BB // 8
    for g in range(min(biases.shape[0], COLS)):
        bias = np.int64(0)
        for k in range(bb):
            bias |= np.int64(cfgset[bias0 + g * bb + k]) << (8 * k)
        if bias >> (8 * bb - 1):
            bias -= np.int64(1) << (8 * bb)
        biases[g] = bias
    return post_lane.decode(cfgset, 0, tabs)


@jit
def _pack_finished(y, XW, YB, XB, OB, B, c, biases, skip, P, out):
    """Finish packets: word g*ROWS + r of XB bits = lane(raw sum, bias of g, skip word at the same
    bit of the skip stream) & mask, as post_lane computes it for every lane of the drain. Words
    of 1/2/4/8 bits never cross a byte: they are read and written with one byte operation."""
    NB, R, _, CO = y.shape
    add, sk_signed = c[7] != 0, c[8] != 0
    xmask = (1 << XB) - 1
    in_byte = 8 % XB == 0
    pk = 0
    for nb in range(NB):
        for w in range(XW):
            base = pk * OB * B * 8
            for r in range(R):
                for g in range(CO):
                    bit = base + (g * R + r) * XB
                    sk = 0
                    if add:
                        sk = _word(skip, 0, bit, XB, in_byte)
                        if sk_signed:
                            sk = words.signed(sk, XB)
                    a = _wrap(np.int64(y[nb, r, w, g]), YB)
                    q = post_lane.lane(a, biases[g], sk, c, P, 0) & xmask
                    if in_byte:
                        out[bit >> 3] |= q << (bit & 7)
                    else:
                        words.put_or(out, 0, bit, XB, q)
            pk += 1


@jit(inline=True)
def _rq_exact(y, e_pos, e_neg, lo, hi):
    """post_lane._rq for a y = x << A that did not wrap: round half to even of y / 2^e
    (e = e_neg for y < 0), then the clip in the RTL's order."""
    e = e_neg if y < 0 else e_pos
    fl = y >> e
    rem = y & ((np.int64(1) << e) - 1)
    half = (np.int64(1) << e) >> 1
    up = (rem > half) | ((rem == half) & ((fl & 1) == 1) & (e > 0))
    q = fl + np.int64(up)
    r = hi if q > hi else q
    return lo if q < lo else r


@jit
def _pack_finished_nowrap(y, XW, XB, OB, B, k, bias_y, skip, sk_signed, out):
    """_pack_finished for a job whose every intermediate stays inside PIPE_BITS (proved by
    _nowrap_constants from the job's sums, biases and skip range): the lanes' shifts are plain
    multiplications by powers of two, so each word is a handful of integer operations."""
    NB, R, _, CO = y.shape
    s_a, ep1, en1, lo1, hi1, add, s_q, s_s, ep2, en2, lo2, hi2 = k
    xmask = (1 << XB) - 1
    in_byte = 8 % XB == 0
    pk = 0
    for nb in range(NB):
        for w in range(XW):
            base = pk * OB * B * 8
            for r in range(R):
                for g in range(CO):
                    bit = base + (g * R + r) * XB
                    q = _rq_exact((np.int64(y[nb, r, w, g]) << s_a) + bias_y[g], ep1, en1, lo1,
                                  hi1)
                    if add:
                        sk = _word(skip, 0, bit, XB, in_byte)
                        if sk_signed:
                            sk = words.signed(sk, XB)
                        q = _rq_exact((q << s_q) + (sk << s_s), ep2, en2, lo2, hi2)
                    q &= xmask
                    if in_byte:
                        out[bit >> 3] |= q << (bit & 7)
                    else:
                        words.put_or(out, 0, bit, XB, q)
            pk += 1


def _nowrap_constants(c, P, YB, XB, y_lo, y_hi, biases):
    """(constants, bias_y) of _pack_finished_nowrap when no intermediate of post_lane.lane can
    wrap or be cut for this job's raw sums [y_lo, y_hi] (exact integers), biases and any skip
    word; None otherwise (then the lanes are computed as they are). Python integers: exact."""
    (sh_core, sh_bias, a1, b1, k1, lo1, hi1, add, _ss, sh_act, sh_skip, a2, b2, k2, lo2,
     hi2) = (int(v) for v in c)
    lim = 1 << (P - 1)
    if y_lo < -(1 << (YB - 1)) or y_hi >= 1 << (YB - 1):       # the Y_BITS wrap would act
        return None
    amax = max(-y_lo, y_hi)
    bmax = int(np.abs(biases).max()) if biases.size else 0
    if max(sh_core, sh_bias, a1) >= P:
        return None
    if ((amax << sh_core) + (bmax << sh_bias)) << a1 >= lim:
        return None
    k = [sh_core + a1, min(b1, P - 1), min(b1 + k1, P - 1), lo1, hi1, int(add != 0), 0, 0, 0,
         0, 0, 0]
    if add:
        qmax = max(abs(lo1), abs(hi1))
        if max(sh_act, sh_skip, a2) >= P or ((qmax << sh_act) + (1 << (XB + sh_skip))) << a2 >= lim:
            return None
        k[6:] = [sh_act + a2, sh_skip + a2, min(b2, P - 1), min(b2 + k2, P - 1), lo2, hi2]
    bias_y = np.array([(int(b) << sh_bias) << a1 for b in biases], np.int64)
    return tuple(k), bias_y


def _dtype_for(x_bits, x_signed, k_bits, terms):
    """The float type whose sums of `terms` products are exact for these word widths."""
    mx = (1 << (x_bits - 1)) if x_signed else (1 << x_bits) - 1
    bound = mx * (1 << (k_bits - 1)) * terms
    if bound < F32_EXACT:
        return np.float32
    if bound < F64_EXACT:
        return np.float64
    return np.int64


def job_output(hw, tabs, weights: bytes, pixels: bytes, skip: bytes | None) -> bytes:
    """The bytes the engine's S2M stream carries for one job (weights, pixels and, for an adding
    finish job, skip streams as their DMAs read them). JobStreamError names what does not fit."""
    B = hw.AXI_BYTES
    wb = np.frombuffer(weights, dtype=np.uint8)
    xb = np.frombuffer(pixels, dtype=np.uint8)
    if xb.size < B or wb.size < B:
        raise JobStreamError(f"pixel stream of {xb.size} bytes, weight stream of {wb.size}: "
                             f"each needs a {B}-byte header beat")
    h = unpack_header(hw, xb[:B])
    hw_ = unpack_header(hw, wb[:B])
    KH, KW = 2 * h["KH2"] + 1, 2 * h["KW2"] + 1
    CM, XN, XL, XW = h["CM_M1"] + 1, h["XN_M1"] + 1, h["XL_M1"] + 1, h["XW_M1"] + 1
    fin, signed = bool(h["FINISH"]), bool(h["X_SIGNED"])
    if hw_["WROWS_M1"] + 1 != CM * KH:
        raise JobStreamError(f"weights header WROWS {hw_['WROWS_M1'] + 1} != pixels header "
                             f"CM*KH {CM * KH}")
    if bool(hw_["FINISH"]) != fin:
        raise JobStreamError(f"weights header FINISH {hw_['FINISH']} != pixels header FINISH "
                             f"{int(fin)}")
    R, COLS = hw.ROWS, hw.COLS
    CO = COLS // KW
    PR, PB = R + 2 * h["KH2"], int(tabs[T_PB_OF_KH2][h["KH2"]])
    NB = XN * XL
    n_px = NB * XW * CM * PB * B
    if xb.size != B + n_px:
        raise JobStreamError(f"pixel stream of {xb.size} bytes, its header gives {B + n_px}")
    npost = (hw.POST_BEATS + hw.BIAS_BEATS) * B if fin else 0
    n_w = B + npost + CM * KH * hw.WB * B
    if wb.size != n_w:
        raise JobStreamError(f"weight stream of {wb.size} bytes, its header gives {n_w}")
    dt = _dtype_for(hw.X_BITS, signed, hw.K_BITS, KH * KW * CM)
    PW = h["KW2"]
    XWP = XW + 2 * PW
    xf = np.zeros((NB, PR * XWP + 2 * PW, CM), dtype=dt)
    _unpack_pixels(xb[B:], B, NB, XW, CM, PB, PR, hw.X_BITS, signed, XWP, PW, xf)
    wf = np.empty((KH, KW, CM, CO), dtype=dt)
    _unpack_weights(wb[B + npost:], B, hw.WB, KH, KW, CM, CO, hw.K_BITS, wf)
    # y[nb, r*XWP + w] = sum over taps (a, b) of xf[nb, (r + a)*XWP + w + b] . wf[a, b]; the
    # columns w >= XW of each row are computed and never read
    n = R * XWP
    y = np.zeros((NB, n, CO), dtype=dt)
    for a in range(KH):
        for b in range(KW):
            y += xf[:, a * XWP + b:a * XWP + b + n] @ wf[a, b]
    y = y.reshape(NB, R, XWP, CO)
    kw2 = h["KW2"]
    ob = int(tabs[T_OB_FIN_OF_KW2][kw2] if fin else tabs[T_OB_OF_KW2][kw2])
    keep = int(tabs[T_KEEP_FIN_OF_KW2][kw2] if fin else tabs[T_KEEP_OF_KW2][kw2])
    n_beats = NB * XW * ob
    out = np.zeros(n_beats * B, dtype=np.uint8)
    if fin:
        cfgset = np.ascontiguousarray(wb[B:B + npost])
        if _adds(cfgset, tabs):
            if skip is None:
                raise JobStreamError("an adding finish job got no skip stream")
            sk = np.frombuffer(skip, dtype=np.uint8)
            if sk.size != n_beats * B:        # one skip beat per output beat
                raise JobStreamError(f"skip stream of {sk.size} bytes, expected {n_beats * B} "
                                     f"(one {B}-byte beat per output beat)")
            skb = sk
        else:
            skb = np.zeros(1, dtype=np.uint8)
        biases = np.zeros(CO, np.int64)
        c = _decode_cfg(cfgset, hw.POST_BEATS * B, hw.B_BITS, COLS, tabs, biases)
        fast = _nowrap_constants(c, hw.PIPE_BITS, hw.Y_BITS, hw.X_BITS, int(y.min()),
                                 int(y.max()), biases) if y.size else None
        if fast is None:
            _pack_finished(y, XW, hw.Y_BITS, hw.X_BITS, ob, B, c, biases, skb, hw.PIPE_BITS, out)
        else:
            _pack_finished_nowrap(y, XW, hw.X_BITS, ob, B, fast[0], fast[1], skb, c[8] != 0,
                                  out)
    else:
        _pack_raw(y, XW, hw.Y_BITS, hw.Y_OUT_BITS // 8, ob, B, out)
    return out[:n_beats * B - (B - keep)].tobytes()


def needs_skip(hw, tabs, weights: bytes) -> bool:
    """Does the job of this weight stream add a skip stream (a finish job whose configuration
    set has ADD)?"""
    B = hw.AXI_BYTES
    wb = np.frombuffer(weights, dtype=np.uint8)
    npost = (hw.POST_BEATS + hw.BIAS_BEATS) * B
    if wb.size < B + npost or not unpack_header(hw, wb[:B])["FINISH"]:
        return False
    return bool(_adds(np.ascontiguousarray(wb[B:B + npost]), tabs))


@jit
def _adds(cfgset, tabs):
    """The configuration set's ADD field (an adding job consumes a skip stream)."""
    return post_lane.decode(cfgset, 0, tabs)[7] != 0

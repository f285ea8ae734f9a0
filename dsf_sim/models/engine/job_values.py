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

import functools
from typing import NamedTuple

import numpy as np

from ...compiler.geometry import packet_beats, packet_last_keep
from ...compiler.layout import unpack_header
from ...frontend.exact_conv import F32_EXACT, F64_EXACT
from ..jit import jit
from . import post_lane, words
from .output import fin_groups
from .params import T_KEEP_OF_KW2, T_OB_OF_KW2, T_PB_OF_KH2, T_PK_OF_KH2


class JobStreamError(ValueError):
    """A job's streams do not describe one engine job (headers disagree, lengths wrong)."""


@jit
def _unpack_pixels(xb, B, NB, XW, CM, PB, PK, PR, XB, signed, tbl, XWP, PW, out):
    """Pixel beats (header excluded) -> out[NB, PR*XWP + 2*PW, CM], column (nb, w, ci)'s word r
    at row r*XWP + PW + w (its W halo, the rest, stays zero): a flat spatial axis, so each kernel
    tap of the whole job is one contiguous slice. A position's columns sit PK per slot of PB
    beats, column ci in slot ci // PK from word (ci % PK) * PR (architecture §3). Words of
    1/2/4/8 bits come from tbl[byte, s] (signed or not as the stream), written along ci
    (contiguous)."""
    sb = PB * B                                    # bytes per slot
    CB = (CM + PK - 1) // PK                       # slots per position
    if 8 % XB == 0:
        wpb = tbl.shape[1]
        lw = (wpb > 1) + (wpb > 2) + (wpb > 4)      # log2(words per byte)
        for nb in range(NB):
            for r in range(PR):
                for w in range(XW):
                    o = out[nb, r * XWP + PW + w]
                    pos = (nb * XW + w) * CB * sb
                    ci = 0
                    for b in range(CB):
                        for j in range(min(PK, CM - ci)):
                            k = j * PR + r
                            o[ci] = tbl[xb[pos + (k >> lw)], k & (wpb - 1)]
                            ci += 1
                        pos += sb
        return
    for nb in range(NB):
        for w in range(XW):
            for ci in range(CM):
                base = ((nb * XW + w) * CB + ci // PK) * sb
                for r in range(PR):
                    v = words.get(xb, base, ((ci % PK) * PR + r) * XB, XB)
                    out[nb, r * XWP + PW + w, ci] = words.signed(v, XB) if signed else v


@jit
def _unpack_weights(wb, B, WB, KH, KW, CM, CO, KB, tbl, out, nz):
    """Weight rows (header and configuration beats excluded) -> out[KH, KW, CM, CO]:
    row ci*KH + kh, column g*KW + k (signed KB-bit words, LSB first). Words of 1/2/4/8 bits come
    from tbl[byte, s] (the s-th signed word of a byte): one load per word, no bit arithmetic.
    Returns the number of used output groups: 1 + the last g with a nonzero weight (the columns
    past it hold zero weights; their sums are zero and are not computed). nz[CO]: zeroed
    scratch."""
    wpb = tbl.shape[1]
    lw = (wpb > 1) + (wpb > 2) + (wpb > 4)          # log2(words per byte)
    for ci in range(CM):
        for kh in range(KH):
            pos = (ci * KH + kh) * WB * B
            if 8 % KB != 0:
                for k in range(KW):
                    o = out[kh, k, ci]
                    for g in range(CO):
                        v = words.signed(words.get(wb, pos, (g * KW + k) * KB, KB), KB)
                        o[g] = v
                        nz[g] |= v
            elif KW == 1:                   # a byte's words are consecutive groups
                o = out[kh, 0, ci]
                full = CO >> lw
                for jb in range(full):
                    bt = wb[pos + jb]
                    for s in range(wpb):
                        v = tbl[bt, s]
                        o[jb * wpb + s] = v
                        nz[jb * wpb + s] |= v
                for g in range(full * wpb, CO):
                    v = tbl[wb[pos + full], g - full * wpb]
                    o[g] = v
                    nz[g] |= v
            else:
                for k in range(KW):
                    o = out[kh, k, ci]
                    for g in range(CO):
                        j = g * KW + k
                        v = tbl[wb[pos + (j >> lw)], j & (wpb - 1)]
                        o[g] = v
                        nz[g] |= v
    used = 0
    for g in range(CO):
        if nz[g] != 0:
            used = g + 1
    return used


@functools.lru_cache(maxsize=None)
def word_table(bits: int, signed: bool) -> np.ndarray:
    """[256, 8 // bits] int64: the words of `bits` (1, 2, 4 or 8) packed LSB first in a byte,
    as two's-complement values when `signed` (a 1-bit row for wider words: unused)."""
    if 8 % bits:
        return np.zeros((256, 1), np.int64)
    wpb = 8 // bits
    b = np.arange(256, dtype=np.int64)[:, None]
    v = (b >> (np.arange(wpb, dtype=np.int64) * bits)) & ((1 << bits) - 1)
    if signed:
        half = 1 << (bits - 1)
        v = (v ^ half) - half
    return np.ascontiguousarray(v)


@jit(inline=True)
def _wrap(v, bits):
    m = 1 << (bits - 1)
    return ((v + m) & ((m << 1) - 1)) - m


@jit
def _pack_raw(y, XW, CO, YB, YOB, OB, B, out):
    """Raw packets: packet (nb, w) = OB beats; word r*CO + g of YOB bytes = the Y_BITS-wrapped sum
    (y[nb, r, w, g] exact, w < XW; the groups g >= y's last axis are zero sums: out is zero
    there already)."""
    NB, R, _, CU = y.shape
    pk = 0
    for nb in range(NB):
        for w in range(XW):
            base = pk * OB * B
            for r in range(R):
                for g in range(CU):
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
def _stream_words(buf, P, stride, n, bits, signed, tbl, out):
    """out[p, i] = word i of packet p (packets `stride` bytes apart, words of `bits` LSB first;
    two's complement when `signed`): the skip words at the bits of the output words they meet."""
    lw = (tbl.shape[1] > 1) + (tbl.shape[1] > 2) + (tbl.shape[1] > 4)
    sub = tbl.shape[1] - 1
    for p in range(P):
        base = p * stride
        if 8 % bits == 0:
            for i in range(n):
                out[p, i] = tbl[buf[base + (i >> lw)], i & sub]
        else:
            for i in range(n):
                v = words.get(buf, base, i * bits, bits)
                out[p, i] = words.signed(v, bits) if signed else v


@jit(inline=True)
def _put_packet(out, base, q, n, XB):
    """OR words q[:n] of XB bits, LSB first, into out[base:] (zero there); 1/2/4/8-bit words a
    byte at a time."""
    xmask = (np.int64(1) << XB) - 1
    if 8 % XB == 0:
        wpb = 8 // XB
        full = n // wpb
        for j in range(full):
            v = np.int64(0)
            for s in range(wpb):
                v |= (q[j * wpb + s] & xmask) << (s * XB)
            out[base + j] = v
        v = np.int64(0)
        for i in range(full * wpb, n):
            v |= (q[i] & xmask) << ((i - full * wpb) * XB)
        if full * wpb < n:
            out[base + full] = v
    else:
        for i in range(n):
            words.put_or(out, base, i * XB, XB, q[i] & xmask)


@jit
def _pack_finished(yt, YB, XB, OB, B, c, bias_rep, skw, P, out, q):
    """Finish packets from yt[packet, g*ROWS + r] (the raw sums in the packet's word order):
    word i = lane(raw sum, its bias bias_rep[i], skip word skw[packet, i]) of XB bits, as
    post_lane computes it for every lane of the drain."""
    NP, n = yt.shape
    add = c[7] != 0
    for p in range(NP):
        for i in range(n):
            sk = skw[p, i] if add else 0
            q[i] = post_lane.lane(_wrap(np.int64(yt[p, i]), YB), bias_rep[i], sk, c, P, 0)
        _put_packet(out, p * OB * B, q, n, XB)


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
def _pack_finished_nowrap(yt, XB, OB, B, k, bias_rep, skw, out, q):
    """_pack_finished for a job whose every intermediate stays inside PIPE_BITS (proved by
    _nowrap_constants from the job's sums, biases and skip range): the lanes' shifts are plain
    multiplications by powers of two, so each word is a handful of integer operations, in
    loops over contiguous words that the compiler vectorises."""
    NP, n = yt.shape
    s_a, ep1, en1, lo1, hi1, add, s_q, s_s, ep2, en2, lo2, hi2 = k
    for p in range(NP):
        for i in range(n):
            q[i] = _rq_exact((np.int64(yt[p, i]) << s_a) + bias_rep[i], ep1, en1, lo1, hi1)
        if add:
            for i in range(n):
                q[i] = _rq_exact((q[i] << s_q) + (skw[p, i] << s_s), ep2, en2, lo2, hi2)
        _put_packet(out, p * OB * B, q, n, XB)


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
    bias_y = (biases.astype(np.int64) << sh_bias) << a1     # exact: bounded by lim above
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


class PixelMemo:
    """The last pixel stream a run decoded, with its decoded array. Why: a layer's output-channel
    passes stream the same pixels one job after another (373 of ResNet-50's 447 jobs), and
    decoding them is a third of a job's value work. Reused only when the bytes are equal (one
    memcmp), so a changed stream is always decoded afresh. `entry` is one (bytes, array) tuple,
    replaced whole, so threads sharing a memo never see half an update."""

    def __init__(self):
        self.entry = None
        self.hits = 0


def _decoded_pixels(xb, B, NB, XW, CM, PB, PK, PR, XB, signed, XWP, PW, dt, pixels, memo):
    shape = (NB, PR * XWP + 2 * PW, CM)
    e = memo.entry if memo is not None else None
    if e is not None and e[1].dtype == dt and e[1].shape == shape and e[0] == pixels:
        memo.hits += 1
        return e[1]
    xf = np.zeros(shape, dtype=dt)
    _unpack_pixels(xb[B:], B, NB, XW, CM, PB, PK, PR, XB, signed, word_table(XB, signed), XWP,
                   PW, xf)
    if memo is not None:
        memo.entry = (pixels, xf)
    return xf


class JobSums(NamedTuple):
    """A job's raw sums y[NB, ROWS, XWP, used groups] and what packing them needs: the half of
    the job's values that does not depend on a skip stream (the fast path computes it before
    the skip DMA starts; groups past `used` have zero weights, so zero sums)."""
    y: np.ndarray
    XW: int
    CO: int          # groups per packet: CO_PRL, or the CG channel groups of a finish job
    ob: int
    keep: int
    fin: bool
    cfg_beats: np.ndarray | None


def job_output(hw, tabs, weights: bytes, pixels: bytes, skip: bytes | None,
               memo: PixelMemo | None = None) -> bytes:
    """The bytes the engine's S2M stream carries for one job (weights, pixels and, for an adding
    finish job, skip streams as their DMAs read them). JobStreamError names what does not fit.
    `memo`: a run's PixelMemo (the previous job's decoded pixels, reused when equal)."""
    return job_finish(hw, tabs, job_sums(hw, tabs, weights, pixels, memo), skip)


def job_sums(hw, tabs, weights: bytes, pixels: bytes, memo: PixelMemo | None = None) -> JobSums:
    """The raw sums of the job of these weight and pixel streams, their headers checked against
    each other and the streams' lengths (job_output's first half)."""
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
    PK = int(tabs[T_PK_OF_KH2][h["KH2"]])
    NB = XN * XL
    n_px = NB * XW * -(-CM // PK) * PB * B
    if xb.size != B + n_px:
        raise JobStreamError(f"pixel stream of {xb.size} bytes, its header gives {B + n_px}")
    npost = (hw.POST_BEATS + hw.BIAS_BEATS) * B if fin else 0
    n_w = B + npost + CM * KH * hw.WB * B
    if wb.size != n_w:
        raise JobStreamError(f"weight stream of {wb.size} bytes, its header gives {n_w}")
    dt = _dtype_for(hw.X_BITS, signed, hw.K_BITS, KH * KW * CM)
    PW = h["KW2"]
    XWP = XW + 2 * PW
    xf = _decoded_pixels(xb, B, NB, XW, CM, PB, PK, PR, hw.X_BITS, signed, XWP, PW, dt,
                         bytes(pixels), memo)
    wf = np.empty((KH, KW, CM, CO), dtype=dt)
    cu = _unpack_weights(wb[B + npost:], B, hw.WB, KH, KW, CM, CO, hw.K_BITS,
                         word_table(hw.K_BITS, True), wf, np.zeros(CO, np.int64))
    y = _sums(xf, wf, cu, R, XWP, KH, KW, dt)
    kw2 = h["KW2"]
    if fin:      # a finish packet carries the configuration's CG channel groups (§17.2)
        cfg = np.ascontiguousarray(wb[B:B + npost])
        CO = int(fin_groups(cfg, kw2, tabs))
        ob, keep = packet_beats(hw, kw2, True, CO), packet_last_keep(hw, kw2, True, CO)
        y = y[..., :CO]
        return JobSums(y, XW, CO, ob, keep, fin, cfg)
    ob, keep = int(tabs[T_OB_OF_KW2][kw2]), int(tabs[T_KEEP_OF_KW2][kw2])
    return JobSums(y, XW, CO, ob, keep, fin, None)



def job_finish(hw, tabs, sums: JobSums, skip: bytes | None) -> bytes:
    """The job's output bytes from its sums (job_output's second half): raw words, or finished
    words with the skip stream of an adding job; the TLAST beat's kept bytes only."""
    B = hw.AXI_BYTES
    y, XW, CO, ob = sums.y, sums.XW, sums.CO, sums.ob
    n_beats = y.shape[0] * XW * ob
    out = np.zeros(n_beats * B, dtype=np.uint8)
    if sums.fin:
        _finish(hw, tabs, sums.cfg_beats, skip, y, XW, CO, ob, n_beats, out)
    else:
        _pack_raw(y, XW, CO, hw.Y_BITS, hw.Y_OUT_BITS // 8, ob, B, out)
    return out[:n_beats * B - (B - sums.keep)].tobytes()


def _sums(xf, wf, cu, R, XWP, KH, KW, dt):
    """y[nb, r, w, g] for g < cu: the sums of every pixel column w < XWP (w >= XW computed, never
    read) through BLAS, one product per kernel tap over the flat spatial axis."""
    NB = xf.shape[0]
    n = R * XWP
    y = np.empty((NB, n, cu), dtype=dt)
    tmp = np.empty_like(y) if KH * KW > 1 else None
    for a in range(KH):
        for b in range(KW):
            xs = xf[:, a * XWP + b:a * XWP + b + n]
            if a == 0 and b == 0:
                np.matmul(xs, wf[a, b, :, :cu], out=y)
            else:
                np.matmul(xs, wf[a, b, :, :cu], out=tmp)
                y += tmp
    return y.reshape(NB, R, XWP, cu)


@jit
def _packet_order(y, XW, CO, yt):
    """yt[nb*XW + x, g*ROWS + r] = y[nb, r, x, g] (zero for the unused groups g >= y's last
    axis, of which there is at least one): the raw sums in the packets' word order; returns
    their (min, max)."""
    NB, R, _, cu = y.shape
    lo = y[0, 0, 0, 0]
    hi = lo
    if cu < CO:
        lo = min(lo, 0)
        hi = max(hi, 0)
    for nb in range(NB):
        for x in range(XW):
            p = nb * XW + x
            for r in range(R):
                for g in range(cu):
                    v = y[nb, r, x, g]
                    yt[p, g * R + r] = v
                    lo = min(lo, v)
                    hi = max(hi, v)
            for i in range(cu * R, CO * R):
                yt[p, i] = 0
    return lo, hi


def _finish(hw, tabs, cfg_beats, skip, y, XW, CO, ob, n_beats, out):
    """Finish packets into out: the raw sums in packet word order (g*ROWS + r; the unused
    groups g >= y's last axis are zero sums), the configuration set's bias and lane fields, the
    skip words of an adding job; the proven no-wrap arithmetic where it applies."""
    B, R = hw.AXI_BYTES, hw.ROWS
    NB, cu = y.shape[0], y.shape[3]
    cfgset = np.ascontiguousarray(cfg_beats)
    biases = np.zeros(CO, np.int64)
    c = _decode_cfg(cfgset, hw.POST_BEATS * B, hw.B_BITS, hw.COLS, tabs, biases)
    n = CO * R
    yt = np.empty((NB * XW, n), dtype=y.dtype)
    if cu:
        y_lo, y_hi = _packet_order(y, XW, CO, yt) if yt.size else (0, 0)
    else:                                 # all weights zero: no group used, every sum zero
        yt[:] = 0
        y_lo = y_hi = 0
    adds = c[7] != 0
    skw = np.zeros((NB * XW, n) if adds else (1, 1), np.int64)
    if adds:
        if skip is None:
            raise JobStreamError("an adding finish job got no skip stream")
        sk = np.frombuffer(skip, dtype=np.uint8)
        if sk.size != n_beats * B:        # one skip beat per output beat
            raise JobStreamError(f"skip stream of {sk.size} bytes, expected {n_beats * B} "
                                 f"(one {B}-byte beat per output beat)")
        _stream_words(sk, NB * XW, ob * B, n, hw.X_BITS, c[8] != 0,
                      word_table(hw.X_BITS, bool(c[8])), skw)
    q = np.empty(n, np.int64)
    fast = _nowrap_constants(c, hw.PIPE_BITS, hw.Y_BITS, hw.X_BITS, int(y_lo), int(y_hi),
                             biases) if yt.size else None
    if fast is None:
        _pack_finished(yt, hw.Y_BITS, hw.X_BITS, ob, B, c, np.repeat(biases, R), skw,
                       hw.PIPE_BITS, out, q)
    else:
        _pack_finished_nowrap(yt, hw.X_BITS, ob, B, fast[0], np.repeat(fast[1], R), skw, out, q)


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

"""Exact jumps over steady MAC stretches of the timing-only clock (architecture §14.5).

Why: between two output packets the engine is in a steady state most of a frame -- the
sequencer issues one MAC per cycle, the pixel streamer refills the slot the sequencer released,
the weight loader streams the next job's rows into the free bank or waits with it full, the
output FIFO and drain are empty. In timing-only mode none of that moves data, only counters, so
a run of such cycles can be taken in one step whose result is what the single cycles give:

* `slot_length`: inside one slot (the KH beats of each of its up to PK channels, architecture
  §3) while the pixel streamer, weight loader and skip FIFO cannot take a beat. Only the
  sequencer's counters move.
* `period_length`: whole slots (PK channels each) of the current column when the pixel channel
  draws valid in every cycle (probability 1): each slot period of PK*KH cycles, the streamer
  takes PB beats (PB <= PK*KH) into the slot released at the period's start and the sequencer
  uses the other; the weight loader either waits or (weights drawn valid every cycle) takes one
  beat of a data row per cycle.

In both, the four generators step once per cycle (an M2S valid latches on a draw and waits,
the statistics count as `dma.count` would). No jump includes a column's first beat (shift and
emit), a slot's release inside the slot jump, a header, configuration or bank-completing beat,
the last beat of a transfer (a completion event), the cycle limit or the watchdog, so every
harness sees the same cycles, events, statistics and registers as with the jump off
(tests/test_stretch.py). Off when values are computed, when tracing (lockstep), under a DMA/DRAM
handshake schedule and for mutants.
"""
from __future__ import annotations

from ..jit import jit
from . import dma, output, pixel_streamer, weight_loader
from .params import P_MUTATION, P_STRETCH, P_TIMING_ONLY, P_W_CM_M1, P_W_XN_M1, P_WATCHDOG, P_WB
from .registers import PixelStreamer, Sequencer, WeightLoader
from .sequencer import ST_MAC

ALWAYS = 1 << 32      # prng threshold of probability 1: every draw is true


@jit(inline=True)
def enabled(prm, tracing, gated):
    """Jumps are exact only when no value is computed and nobody watches single cycles."""
    return (prm[P_TIMING_ONLY] != 0 and prm[P_STRETCH] != 0 and prm[P_MUTATION] == 0
            and not tracing and not gated)


@jit(inline=True)
def _steady_mac(q, slot_full, bank_ready, o):
    """The sequencer issues a MAC that neither shifts nor emits, and nothing is in the output."""
    return (q.st == ST_MAC and q.s1_emit == 0 and q.s1_clear == 0 and slot_full and bank_ready
            and not (q.ci == 0 and q.kh == 0) and o.dr_v == 0 and o.cnt == 0)


@jit(inline=True)
def _bounded(n, cycle, last_act, limit, prm):
    """n, cut at the cycle limit and before the watchdog could fire (no handshake in n)."""
    n = min(n, limit - cycle, prm[P_WATCHDOG] + last_act - cycle)
    return n if n > 0 else 0


@jit(inline=True)
def slot_length(q, slot_full, bank_ready, o, busy_p, busy_w, busy_s, cycle, last_act, limit,
                prm):
    """Cycles from this one on that stay inside the current slot with no handshake (0: none).
    busy_*: the channel is active and its module would accept a beat now."""
    if not _steady_mac(q, slot_full, bank_ready, o) or busy_p or busy_w or busy_s:
        return 0
    last = min(q.ci - q.sub + q.pk_m1, q.cm_m1)          # the slot's last column
    n = (last - q.ci) * (2 * q.kh2 + 1) + 2 * q.kh2 - q.kh
    return _bounded(n, cycle, last_act, limit, prm)   # beats before the release


@jit(inline=True)
def macs(q, n, prm):
    """The sequencer after n MAC beats that do not end the column (sequencer.edge n times).
    A position's slots start at channels 0, PK, 2*PK, ..., so the column in its slot is
    ci mod PK."""
    khn = 2 * q.kh2 + 1
    pos = q.ci * khn + q.kh + n
    ci = pos // khn
    kh = pos - ci * khn
    addr = (q.addr + n) & ((1 << prm[P_W_CM_M1]) - 1)
    sub = ci % (q.pk_m1 + 1)
    return Sequencer(q.st, q.kh2, q.kw2, q.cm_m1, q.xw_m1, q.xl_m1, q.xn_m1, q.xs, kh, ci, addr,
                     q.w, q.l, q.n, q.f, 0, 1, 0, 0, 0, q.kw2, q.fin, q.cfg, q.cfg_nx, q.fin,
                     q.cfg, sub, sub * q.pr, q.pk_m1, q.pr)


@jit(inline=True)
def draws(n, s0, s1, s2, s3, pv, wv, sv, a0, a1, a2, a3, thr, C):
    """n cycles of the generators in which no M2S beat is taken: the valids latch on a draw,
    the statistics count as dma.count would (an active M2S channel stalls while its valid is
    up, the S2M channel while the engine has no beat)."""
    sp = 0
    sw = 0
    ss = 0
    for _ in range(n):
        s0, s1, s2, s3, pv, wv, _, sv = dma.draw(s0, s1, s2, s3, pv, wv, sv, a0, a1, a2, a3, thr)
        sp += 1 if pv else 0
        sw += 1 if wv else 0
        ss += 1 if sv else 0
    if a0:
        C[0, dma.C_BUSY] += n
        C[0, dma.C_STALL] += sp
    if a1:
        C[1, dma.C_BUSY] += n
        C[1, dma.C_STALL] += sw
    if a2:
        C[2, dma.C_BUSY] += n
        C[2, dma.C_STALL] += n
    if a3:
        C[3, dma.C_BUSY] += n
        C[3, dma.C_STALL] += ss
    return s0, s1, s2, s3, pv, wv, sv


@jit(inline=True)
def _weight_beats_left(wl, C, prm):
    """Beats the loader can take one per cycle before a beat that completes the bank or the
    transfer (-1: it is not in a bank's data rows)."""
    if wl.hdr_mode != 0 or wl.cfg_mode != 0:
        return -1
    WB = prm[P_WB]
    in_bank = (wl.wrows_m1 + 1) * WB - (wl.row * WB + wl.beat) - 1
    in_transfer = C[1, dma.C_NB] - C[1, dma.C_IDX] - 1
    return min(in_bank, in_transfer)


@jit(inline=True)
def period_length(q, p, wl, o, slot_full, bank_ready, a0, a1, busy_w, busy_s, thr, C, cycle,
                  limit, prm):
    """Whole slot periods (PK channels each) of the current column to jump from this cycle on
    (0: none): the sequencer is at a slot's first beat (not the column's), the streamer about to
    refill the other slot from a pixel channel that is valid every cycle, and the weights either
    wait or stream data-row beats valid every cycle."""
    if not (a0 and thr[0] >= ALWAYS and q.kh == 0 and q.sub == 0
            and _steady_mac(q, slot_full, bank_ready, o)):
        return 0
    if busy_s or p.hdr_mode != 0 or p.beat != 0 or p.fill == p.rd or p.full != (1 << p.rd):
        return 0
    pk = q.pk_m1 + 1
    per = pk * (2 * q.kh2 + 1)               # cycles of one slot period
    pb = p.pb_m1 + 1
    if pb > per:
        return 0
    m = (q.cm_m1 - q.ci) // pk               # the column's last channel is left to the loop
    # the streamer must not complete the job's last slot (its next beat would be a header)
    slot = _slot_index(p)
    last = (p.xn_m1 + 1) * (p.xl_m1 + 1) * (p.xw_m1 + 1) * _slots_per_position(p) - 1
    m = min(m, last - slot, (C[0, dma.C_NB] - C[0, dma.C_IDX] - 1) // pb, (limit - cycle) // per)
    if busy_w:
        if thr[1] < ALWAYS:
            return 0
        m = min(m, _weight_beats_left(wl, C, prm) // per)
    return m if m > 0 else 0


@jit(inline=True)
def _slots_per_position(p):
    return (p.cm_m1 + 1 + p.pk_m1) // (p.pk_m1 + 1)


@jit(inline=True)
def _slot_index(p):
    """The slot the streamer fills, counted from the job's first (architecture §3)."""
    return (((p.n * (p.xl_m1 + 1) + p.l) * (p.xw_m1 + 1) + p.w) * _slots_per_position(p)
            + p.ci // (p.pk_m1 + 1))


@jit(inline=True)
def _streamer_after(p, m, prm):
    """The pixel streamer after m refill periods: m slots further, slots swapped m times."""
    rd = p.rd ^ (m & 1)
    cb = _slots_per_position(p)
    col = _slot_index(p) + m
    ci = (col % cb) * (p.pk_m1 + 1)
    col //= cb
    w = col % (p.xw_m1 + 1)
    col //= p.xw_m1 + 1
    l = col % (p.xl_m1 + 1)
    n = (col // (p.xl_m1 + 1)) & ((1 << prm[P_W_XN_M1]) - 1)
    return PixelStreamer(rd ^ 1, rd, 1 << rd, 0, 0, p.pb_m1, ci, w, l, n, p.cm_m1, p.xw_m1,
                         p.xl_m1, p.xn_m1, p.pk_m1)


@jit(inline=True)
def periods(m, q, p, wl, busy_w, s0, s1, s2, s3, wv, sv, a1, a2, a3, thr, C, cycle, prm):
    """Jump m slot periods: (q, p, wl, s0..s3, p_valid, w_valid, s_valid, last_act)."""
    khn = (q.pk_m1 + 1) * (2 * q.kh2 + 1)     # cycles of one slot period
    pb = p.pb_m1 + 1
    T = m * khn
    # the pixel channel (always valid) is counted below; the weights here unless they stream
    s0, s1, s2, s3, _, wv2, sv = draws(T, s0, s1, s2, s3, True, True if busy_w else wv, sv,
                                       False, a1 and not busy_w, a2, a3, thr, C)
    if busy_w:                  # one data beat per cycle, never the bank's or transfer's last
        WB = prm[P_WB]
        pos = wl.row * WB + wl.beat + T
        wl = WeightLoader(wl.wr_bank, wl.rd_bank, wl.full, 0, wl.wrows_m1, pos // WB, pos % WB,
                          0, wl.cbeat, wl.cfg_wr, wl.cfg_free, wl.cfg_full)
        C[1, dma.C_IDX] += T
        C[1, dma.C_BEATS] += T
        C[1, dma.C_BUSY] += T
        wv = False
        last_act = cycle + T - 1
    else:
        wv = wv2
        last_act = cycle + (m - 1) * khn + pb - 1
    C[0, dma.C_IDX] += m * pb
    C[0, dma.C_BEATS] += m * pb
    C[0, dma.C_BUSY] += T
    C[0, dma.C_STALL] += m * (khn - pb)
    return (macs(q, T, prm), _streamer_after(p, m, prm), wl, s0, s1, s2, s3, pb < khn, wv, sv,
            last_act)


@jit(inline=True)
def jump(q, p, wl, o, g, v, a, thr, C, cycle, last_act, limit, prm):
    """The jump from this cycle if a steady stretch starts here: (cycles, q, p, wl, generators,
    valids of pixels / weights / skip, last_act); 0 cycles and the state as it was otherwise.
    Whole slot periods first, else the rest of the slot."""
    s0, s1, s2, s3 = g
    pv, wv, sv = v
    a0, a1, a2, a3 = a
    sf, br = pixel_streamer.slot_full(p), weight_loader.bank_ready(wl)
    busy_w = a1 and weight_loader.s_tready(wl, prm)
    busy_s = a3 and output.skip_tready(o)
    m = period_length(q, p, wl, o, sf, br, a0, a1, busy_w, busy_s, thr, C, cycle, limit, prm)
    if m > 0:
        T = m * (q.pk_m1 + 1) * (2 * q.kh2 + 1)
        q, p, wl, s0, s1, s2, s3, pv, wv, sv, last_act = periods(
            m, q, p, wl, busy_w, s0, s1, s2, s3, wv, sv, a1, a2, a3, thr, C, cycle, prm)
        return T, q, p, wl, (s0, s1, s2, s3), (pv, wv, sv), last_act
    n = slot_length(q, sf, br, o, a0 and pixel_streamer.s_tready(p, prm), busy_w, busy_s, cycle,
                    last_act, limit, prm)
    if n > 0:
        s0, s1, s2, s3, pv, wv, sv = draws(n, s0, s1, s2, s3, pv, wv, sv, a0, a1, a2, a3, thr, C)
        q = macs(q, n, prm)
    return n, q, p, wl, (s0, s1, s2, s3), (pv, wv, sv), last_act

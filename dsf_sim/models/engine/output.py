"""Twin of rtl/dsf_output.sv (architecture §7.5, §17.3): packet FIFO, drain register, the output
pipeline's LANES lanes (post_lane) and the two-beat skip FIFO.

The RTL's drain register shifts right by AXI_WIDTH (raw packet) or LANES*Y_OUT_BITS (finish
packet) per accepted beat; the twin keeps the packet bytes in `dr` and the index of the current
beat in `dr_off`. TKEEP is kept as a byte count.
"""
from __future__ import annotations

from ..jit import jit
from . import post_lane, words
from .mutations import (M_OUT_FIN_ALL_GROUPS, M_OUT_FIN_RAW_OB, M_OUT_KEEP_MINUS1,
                        M_OUT_KEEP_ONES, M_OUT_LANE_VALID_ALL, M_OUT_LAST_EARLY, M_OUT_LATE_VALID,
                        M_OUT_SKIP_NO_WAIT, M_POST_SKIP_ZEXT, M_ROOM_NO_INFLIGHT)
from .params import (P_AXI_BYTES, P_B_BITS, P_COLS, P_LANES, P_MUTATION, P_NPK, P_PIPE_BITS,
                     P_POST_BEATS, P_ROWS, P_TIMING_ONLY, P_X_BITS, P_Y_BITS, P_Y_OUT_BITS,
                     Q_ADD, Q_CG_M1, T_CO_OF_KW2, T_KEEP_OF_KW2, T_OB_OF_KW2)
from .registers import Output


@jit(inline=True)
def room(o, s1_emit, prm):
    """Room for one more capture, counting the one that may be in stage 1 now."""
    if prm[P_MUTATION] == M_ROOM_NO_INFLIGHT:
        return o.cnt < prm[P_NPK]
    return o.cnt + s1_emit < prm[P_NPK]


@jit(inline=True)
def adds(o, cfgset, tabs):
    """The drained packet is a finish packet whose configuration adds a skip stream."""
    return o.dr_fin != 0 and post_lane.cfg_field(cfgset[o.dr_cfg], 0, tabs, Q_ADD, False) != 0


@jit(inline=True)
def fin_groups(cs, kw2, tabs):
    """CG: channel groups a finish packet carries, its configuration's CG_M1 + 1 at most CO_PRL
    (architecture §17.2)."""
    cg = post_lane.cfg_field(cs, 0, tabs, Q_CG_M1, False) + 1
    co = tabs[T_CO_OF_KW2][kw2]
    return cg if cg < co else co


@jit(inline=True)
def fin_packet(cg, prm):
    """(beats, kept bytes of the last beat) of a finish packet of cg channel groups."""
    B = prm[P_AXI_BYTES]
    bits = cg * prm[P_ROWS] * prm[P_X_BITS]
    if bits == 0:
        return 1, B
    ob = (bits + 8 * B - 1) // (8 * B)
    return ob, (bits + 7) // 8 - (ob - 1) * B


@jit(inline=True)
def tvalid(o, add, prm):
    """dr_v, held back while an adding finish packet has no skip beat."""
    if o.dr_v == 0:
        return False
    return not (add and o.sk_cnt == 0 and prm[P_MUTATION] != M_OUT_SKIP_NO_WAIT)


@jit(inline=True)
def skip_tready(o):
    return o.sk_cnt != 2


@jit(inline=True)
def cfg_release(o, fire):
    """The TLAST beat of a finish job frees its configuration set."""
    return fire and o.dr_fin != 0 and o.dr_last != 0 and o.dr_cnt == 1


@jit(inline=True)
def _sword(buf, base, byte, nbytes):
    """Signed little-endian word of nbytes bytes at buf[base + byte:]."""
    return words.signed(words.get(buf, base, 8 * byte, 8 * nbytes), 8 * nbytes)


@jit(inline=True)
def tdata(o, dr, beat, cfgset, skbuf, prm, tabs):
    """m_axis_tdata as (buffer, offset): the drain's low beat (raw), or the LANES finished words
    of packet words dr_off*LANES + i (lane i: channel (dr_off*LANES + i) // ROWS; zero past the
    packet's ROWS*CG words)."""
    B = prm[P_AXI_BYTES]
    if o.dr_fin == 0:
        return dr, o.dr_off * B
    X, L, R = prm[P_X_BITS], prm[P_LANES], prm[P_ROWS]
    yb, bb = prm[P_Y_OUT_BITS] // 8, prm[P_B_BITS] // 8
    mut = prm[P_MUTATION]
    cs = cfgset[o.dr_cfg]
    c = post_lane.decode(cs, 0, tabs)
    sk_signed = c[8] != 0 and mut != M_POST_SKIP_ZEXT
    co = fin_groups(cs, o.dr_kw2, tabs)
    bias0 = prm[P_POST_BEATS] * B
    xmask = (1 << X) - 1
    for i in range(B):
        beat[i] = 0
    for i in range(L):
        k = o.dr_off * L + i
        g = k // R
        if g >= co and mut != M_OUT_LANE_VALID_ALL:
            break
        a = _sword(dr, 0, k * yb, yb) if g < co else 0
        bias = _sword(cs, bias0, g * bb, bb) if g < prm[P_COLS] else 0
        bit = i * X
        sk = words.get(skbuf[o.sk_rp], 0, bit, X)
        if sk_signed:
            sk = words.signed(sk, X)
        q = post_lane.lane(a, bias, sk, c, prm[P_PIPE_BITS], mut) & xmask
        words.put_or(beat, 0, bit, X, q)
    return beat, 0


@jit(inline=True)
def tlast(o, prm):
    return o.dr_last != 0 and (o.dr_cnt == 1 or prm[P_MUTATION] == M_OUT_LAST_EARLY)


@jit(inline=True)
def tkeep(o, prm):
    """Kept bytes: partial only on the job's TLAST beat."""
    if o.dr_cnt == 1 and o.dr_last != 0 and prm[P_MUTATION] != M_OUT_KEEP_ONES:
        return o.dr_keep
    return prm[P_AXI_BYTES]


@jit(inline=True)
def pop(o, fire, prm):
    """The FIFO head moves into the drain when the drain is empty or its last beat leaves."""
    if prm[P_MUTATION] == M_OUT_LATE_VALID:
        dr_free = o.dr_v == 0
    else:
        dr_free = o.dr_v == 0 or (fire and o.dr_cnt == 1)
    return o.cnt != 0 and dr_free


@jit(inline=True)
def _inc(p, npk):
    return 0 if p == npk - 1 else p + 1


@jit(inline=True)
def _packet_bytes(fin, ob, co, prm):
    """Bytes of a FIFO entry's data: its beats (raw), or its ROWS*co raw words (finish)."""
    if fin != 0:
        return prm[P_ROWS] * co * (prm[P_Y_OUT_BITS] // 8)
    return ob * prm[P_AXI_BYTES]


@jit(inline=True)
def edge(o, fire, popped, add, skip_fire, skip_src, dram, q, acc, out_mem, cfgset, prm, tabs):
    """Drain shift, skip FIFO, FIFO pop, capture of the pre-update accumulators on a stage-1 emit
    (a finish packet holds its raw words channel-major: word g*ROWS + r; its beats and TKEEP
    follow from the channel groups of its configuration set)."""
    q_d, q_ob, q_keep, q_last, dr, q_fin, q_cfg, q_kw2, skbuf, _ = out_mem
    (wp, rp, cnt, dr_v, dr_off, dr_cnt, dr_keep, dr_last, dr_fin, dr_cfg, dr_kw2, sk_cnt, sk_rp,
     sk_wp) = o
    B, npk = prm[P_AXI_BYTES], prm[P_NPK]
    tonly = prm[P_TIMING_ONLY] != 0
    if fire:
        dr_off += 1
        dr_cnt -= 1
        if dr_cnt == 0:
            dr_v = 0
        if add:                                  # the finish beat took its skip beat
            sk_rp ^= 1
            sk_cnt -= 1
    if skip_fire:
        if not tonly:
            for i in range(B):
                skbuf[sk_wp, i] = dram[skip_src + i]
        sk_wp ^= 1
        sk_cnt += 1
    sk_cnt &= 3                                  # a 2-bit counter (wraps only when mutated)
    if popped:
        dr_v = 1
        if not tonly:
            for i in range(_packet_bytes(q_fin[rp], q_ob[rp], tabs[T_CO_OF_KW2][q_kw2[rp]], prm)):
                dr[i] = q_d[rp, i]
        dr_off = 0
        dr_cnt = q_ob[rp]
        dr_keep = q_keep[rp]
        dr_last = q_last[rp]
        dr_fin = q_fin[rp]
        dr_cfg = q_cfg[rp]
        dr_kw2 = q_kw2[rp]
        rp = _inc(rp, npk)
    if q.s1_emit != 0:
        kw2 = q.s1_kw2
        kw = 2 * kw2 + 1
        co = prm[P_COLS] // kw
        fin = q.s1_fin
        raw_ob = fin == 0 or prm[P_MUTATION] == M_OUT_FIN_RAW_OB
        cg = (tabs[T_CO_OF_KW2][kw2] if prm[P_MUTATION] == M_OUT_FIN_ALL_GROUPS
              else fin_groups(cfgset[q.s1_cfg], kw2, tabs))
        ob_f, keep_f = fin_packet(cg, prm) if fin != 0 else (1, B)
        ob = tabs[T_OB_OF_KW2][kw2] if raw_ob else ob_f
        q_ob[wp] = ob
        q_keep[wp] = keep_f if fin != 0 else tabs[T_KEEP_OF_KW2][kw2]
        if prm[P_MUTATION] == M_OUT_KEEP_MINUS1 and q_keep[wp] < B:
            q_keep[wp] -= 1
        q_last[wp] = q.s1_last
        q_fin[wp] = fin
        q_cfg[wp] = q.s1_cfg
        q_kw2[wp] = kw2
        if not tonly:
            yb, yoby, R = prm[P_Y_BITS], prm[P_Y_OUT_BITS] // 8, prm[P_ROWS]
            for i in range(_packet_bytes(fin, ob, co, prm)):
                q_d[wp, i] = 0
            for r in range(R):
                for g in range(co):
                    a = acc[r, g * kw + kw - 1]
                    if a & (1 << (yb - 1)):
                        a -= 1 << yb
                    wi = ((g * R + r) if fin != 0 else (r * co + g)) * yoby
                    for k in range(yoby):
                        q_d[wp, wi + k] = (a >> (8 * k)) & 0xFF
        wp = _inc(wp, npk)
    cnt += q.s1_emit - (1 if popped else 0)
    return Output(wp, rp, cnt, dr_v, dr_off, dr_cnt, dr_keep, dr_last, dr_fin, dr_cfg, dr_kw2,
                  sk_cnt, sk_rp, sk_wp)

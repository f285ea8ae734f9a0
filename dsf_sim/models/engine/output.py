"""Twin of rtl/dsf_output.sv (architecture §7.5): packet FIFO + drain register.

The RTL's drain register shifts right by AXI_WIDTH per accepted beat; the twin keeps the packet
bytes in `dr` and the index of the current beat in `dr_off`. TKEEP is kept as a byte count.
"""
from __future__ import annotations

from ..jit import jit
from .mutations import (M_OUT_KEEP_MINUS1, M_OUT_KEEP_ONES, M_OUT_LAST_EARLY, M_OUT_LATE_VALID,
                        M_ROOM_NO_INFLIGHT)
from .params import (P_AXI_BYTES, P_COLS, P_MUTATION, P_NPK, P_ROWS, P_TIMING_ONLY,
                     P_Y_BITS, P_Y_OUT_BITS, T_KEEP_OF_KW2, T_OB_OF_KW2)
from .registers import Output


@jit(inline=True)
def room(o, s1_emit, prm):
    """Room for one more capture, counting the one that may be in stage 1 now."""
    if prm[P_MUTATION] == M_ROOM_NO_INFLIGHT:
        return o.cnt < prm[P_NPK]
    return o.cnt + s1_emit < prm[P_NPK]


@jit(inline=True)
def tvalid(o):
    return o.dr_v != 0


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
def edge(o, fire, popped, q, acc, q_d, q_ob, q_keep, q_last, dr, prm, tabs):
    """Drain shift, FIFO pop, capture of the pre-update accumulators on a stage-1 emit."""
    wp, rp, cnt, dr_v, dr_off, dr_cnt, dr_keep, dr_last = o
    B, npk = prm[P_AXI_BYTES], prm[P_NPK]
    tonly = prm[P_TIMING_ONLY] != 0
    if fire:
        dr_off += 1
        dr_cnt -= 1
        if dr_cnt == 0:
            dr_v = 0
    if popped:
        dr_v = 1
        if not tonly:
            for i in range(q_ob[rp] * B):
                dr[i] = q_d[rp, i]
        dr_off = 0
        dr_cnt = q_ob[rp]
        dr_keep = q_keep[rp]
        dr_last = q_last[rp]
        rp = _inc(rp, npk)
    if q.s1_emit != 0:
        kw2 = q.s1_kw2
        kw = 2 * kw2 + 1
        co = prm[P_COLS] // kw
        ob = tabs[T_OB_OF_KW2][kw2]
        q_ob[wp] = ob
        q_keep[wp] = tabs[T_KEEP_OF_KW2][kw2]
        if prm[P_MUTATION] == M_OUT_KEEP_MINUS1 and q_keep[wp] < B:
            q_keep[wp] -= 1
        q_last[wp] = q.s1_last
        if not tonly:
            yb, yoby = prm[P_Y_BITS], prm[P_Y_OUT_BITS] // 8
            for i in range(ob * B):
                q_d[wp, i] = 0
            for r in range(prm[P_ROWS]):
                for g in range(co):
                    a = acc[r, g * kw + kw - 1]
                    if a & (1 << (yb - 1)):
                        a -= 1 << yb
                    wi = (r * co + g) * yoby
                    for k in range(yoby):
                        q_d[wp, wi + k] = (a >> (8 * k)) & 0xFF
        wp = _inc(wp, npk)
    cnt += q.s1_emit - (1 if popped else 0)
    return Output(wp, rp, cnt, dr_v, dr_off, dr_cnt, dr_keep, dr_last)

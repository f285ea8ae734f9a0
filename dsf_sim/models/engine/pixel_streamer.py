"""Twin of rtl/dsf_pixel_streamer.sv (architecture §7.1): two slots, ping-pong; a slot holds up
to PK pixel columns of one position (architecture §3).

`full` holds one bit per slot like the RTL's `full[1:0]`; the slot memory is EngineState.slot.
"""
from __future__ import annotations

from ..jit import jit
from . import header
from .mutations import M_PIX_READY_STUCK
from .params import (F_CM_M1, F_KH2, F_XL_M1, F_XN_M1, F_XW_M1, P_AXI_BYTES, P_MUTATION,
                     P_TIMING_ONLY, P_W_XN_M1, T_PB_OF_KH2, T_PK_OF_KH2)
from .registers import PixelStreamer


@jit(inline=True)
def s_tready(p, prm):
    """!full[fill] (registers only)."""
    if prm[P_MUTATION] == M_PIX_READY_STUCK:
        return True
    return ((p.full >> p.fill) & 1) == 0


@jit(inline=True)
def slot_full(p):
    return ((p.full >> p.rd) & 1) != 0


@jit(inline=True)
def edge(p, fire, release_slot, dram, src, slot, prm, tabs):
    """The rising edge: the consumer's release, then the accepted beat at dram[src:]."""
    fill, rd, full, hdr_mode, beat, pb_m1, ci, w, l, n, cm_m1, xw_m1, xl_m1, xn_m1, pk_m1 = p
    if release_slot:
        full &= ~(1 << rd)
        rd ^= 1
    if fire:
        B = prm[P_AXI_BYTES]
        if prm[P_TIMING_ONLY] == 0 or hdr_mode != 0:
            for i in range(B):
                slot[fill, beat * B + i] = dram[src + i]
        if hdr_mode != 0:
            full |= 1 << fill
            fill ^= 1
            hdr_mode = 0
            beat = 0
            kh2 = header.field(dram, src, tabs, F_KH2)
            pb_m1 = tabs[T_PB_OF_KH2][kh2] - 1
            pk_m1 = tabs[T_PK_OF_KH2][kh2] - 1
            cm_m1 = header.field(dram, src, tabs, F_CM_M1)
            xw_m1 = header.field(dram, src, tabs, F_XW_M1)
            xl_m1 = header.field(dram, src, tabs, F_XL_M1)
            xn_m1 = header.field(dram, src, tabs, F_XN_M1)
            ci = 0
            w = 0
            l = 0
            n = 0
        elif beat == pb_m1:
            pos_last = ci + pk_m1 >= cm_m1       # the position's last slot
            last_col = pos_last and w == xw_m1 and l == xl_m1 and n == xn_m1
            full |= 1 << fill
            fill ^= 1
            beat = 0
            if last_col:
                hdr_mode = 1
            if not pos_last:
                ci += pk_m1 + 1
            else:
                ci = 0
                if w != xw_m1:
                    w += 1
                else:
                    w = 0
                    if l != xl_m1:
                        l += 1
                    else:
                        l = 0
                        n = (n + 1) & ((1 << prm[P_W_XN_M1]) - 1)
        else:
            beat += 1
    return PixelStreamer(fill, rd, full, hdr_mode, beat, pb_m1, ci, w, l, n, cm_m1, xw_m1,
                         xl_m1, xn_m1, pk_m1)

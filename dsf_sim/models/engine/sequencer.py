"""Twin of rtl/dsf_sequencer.sv (architecture §7.3): at most one operation per cycle into stage 1.

`comb` is the module's combinational logic (from registers and the neighbours' flags only),
`edge` its registers' next values, including the stage-1 operation registers s1_* and the
selected pixel words s1_x.
"""
from __future__ import annotations

from collections import namedtuple

from ..jit import jit
from . import header, words
from .mutations import (M_ADDR_OFF, M_SEQ_CFG_NO_TOGGLE, M_SEQ_EMIT_OFF, M_SEQ_FLUSH_COUNT,
                        M_SEQ_SIGN, M_SEQ_SLOT_OFFSET_ZERO, M_SEQ_SLOT_RELEASE_EACH)
from .params import (F_CM_M1, F_FINISH, F_KH2, F_KW2, F_X_SIGNED, F_XL_M1, F_XN_M1, F_XW_M1,
                     P_MUTATION, P_ROWS, P_TIMING_ONLY, P_W_CM_M1, P_W_XN_M1, P_X_BITS,
                     T_PK_OF_KH2)
from .registers import Sequencer

ST_HDR, ST_MAC, ST_FLUSH = 0, 1, 2

Comb = namedtuple("SequencerComb", "go_hdr go_mac go_fl first emit_mac emit_fl f_last kh_last "
                                   "ci_last w_last blk_last release_slot release_bank col_last")


@jit(inline=True)
def comb(q, slot_full, bank_ready, room, prm):
    mut = prm[P_MUTATION]
    kh_last = q.kh == 2 * q.kh2
    ci_last = q.ci == q.cm_m1
    col_last = ci_last or q.sub == q.pk_m1        # the slot's last column (architecture §7.3)
    w_last = q.w == q.xw_m1
    blk_last = q.l == q.xl_m1 and q.n == q.xn_m1
    first = q.ci == 0 and q.kh == 0
    if mut == M_SEQ_EMIT_OFF:
        emit_mac = first and q.w >= q.kw2
    else:
        emit_mac = first and q.w > q.kw2          # emits output w-1-P_W if >= 0
    emit_fl = q.xw_m1 + q.f >= q.kw2              # emits output XW-1-P_W+f if >= 0
    f_last = q.f == (q.kw2 + 1 if mut == M_SEQ_FLUSH_COUNT else q.kw2)
    go_hdr = q.st == ST_HDR and slot_full
    go_mac = q.st == ST_MAC and slot_full and bank_ready and not (emit_mac and not room)
    go_fl = q.st == ST_FLUSH and not (emit_fl and not room)
    if mut == M_SEQ_SLOT_RELEASE_EACH:
        release_slot = go_hdr or (go_mac and kh_last)
    else:
        release_slot = go_hdr or (go_mac and kh_last and col_last)
    release_bank = go_mac and kh_last and ci_last and w_last and blk_last
    return Comb(go_hdr, go_mac, go_fl, first, emit_mac, emit_fl, f_last, kh_last, ci_last,
                w_last, blk_last, release_slot, release_bank, col_last)


@jit(inline=True)
def raddr(q, prm):
    """The weight RAM read address (a port of the module)."""
    if prm[P_MUTATION] == M_ADDR_OFF and q.kh == 1:
        return q.addr - 1
    return q.addr


@jit(inline=True)
def _b(flag):
    return 1 if flag else 0


@jit(inline=True)
def edge(q, c, slot, rd, s1_x, prm, tabs):
    """Next values of the registers; s1_x <- pixel words x[xo + r + kh] of slot `rd` on a MAC."""
    (st, kh2, kw2, cm_m1, xw_m1, xl_m1, xn_m1, xs, kh, ci, addr, w, l, n, f,
     s1_clear, s1_mac, s1_shift, s1_emit, s1_last, s1_kw2, fin, cfg, cfg_nx, s1_fin, s1_cfg,
     sub, xo, pk_m1, pr) = q
    s1_clear = _b(c.go_hdr)
    s1_mac = _b(c.go_mac)
    s1_shift = _b((c.go_mac and c.first) or c.go_fl)
    s1_emit = _b((c.go_mac and c.emit_mac) or (c.go_fl and c.emit_fl))
    s1_last = _b(c.go_fl and c.emit_fl and c.f_last and c.blk_last)
    if c.go_mac and prm[P_TIMING_ONLY] == 0:
        XB = prm[P_X_BITS]
        sign = xs != 0 and prm[P_MUTATION] != M_SEQ_SIGN
        for r in range(prm[P_ROWS]):
            off = 0 if prm[P_MUTATION] == M_SEQ_SLOT_OFFSET_ZERO else xo
            bit = (off + kh + r) * XB
            v = words.get(slot[rd], 0, bit, XB)
            s1_x[r] = words.signed(v, XB) if sign else v
    if c.go_hdr:                                  # the slot holds the job's header token
        kh2 = header.field(slot[rd], 0, tabs, F_KH2)
        kw2 = header.field(slot[rd], 0, tabs, F_KW2)
        cm_m1 = header.field(slot[rd], 0, tabs, F_CM_M1)
        xw_m1 = header.field(slot[rd], 0, tabs, F_XW_M1)
        xl_m1 = header.field(slot[rd], 0, tabs, F_XL_M1)
        xn_m1 = header.field(slot[rd], 0, tabs, F_XN_M1)
        xs = header.field(slot[rd], 0, tabs, F_X_SIGNED)
        fin = header.field(slot[rd], 0, tabs, F_FINISH)
        sub = 0
        xo = 0
        pk_m1 = tabs[T_PK_OF_KH2][kh2] - 1
        pr = prm[P_ROWS] + 2 * kh2
        if fin != 0:                              # a finish job takes the next config set
            cfg = cfg_nx
            if prm[P_MUTATION] != M_SEQ_CFG_NO_TOGGLE:
                cfg_nx ^= 1
        kh = 0
        ci = 0
        addr = 0
        w = 0
        l = 0
        n = 0
        f = 0
        st = ST_MAC
    s1_kw2 = kw2
    s1_fin = fin
    s1_cfg = cfg
    if c.go_mac:   # addr is a W_CM_M1-bit register (wraps only on a corrupted header)
        if not c.kh_last:
            kh += 1
            addr = (addr + 1) & ((1 << prm[P_W_CM_M1]) - 1)
        else:
            kh = 0
            if c.col_last:
                sub = 0
                xo = 0
            else:
                sub += 1
                xo += pr
            if not c.ci_last:
                ci += 1
                addr = (addr + 1) & ((1 << prm[P_W_CM_M1]) - 1)
            else:
                ci = 0
                addr = 0
                if not c.w_last:
                    w += 1
                else:
                    w = 0
                    f = 0
                    st = ST_FLUSH
    if c.go_fl:
        if not c.f_last:
            f += 1
        else:
            f = 0
            if c.blk_last:
                st = ST_HDR
            else:
                st = ST_MAC
                if l != xl_m1:
                    l += 1
                else:
                    l = 0
                    n = (n + 1) & ((1 << prm[P_W_XN_M1]) - 1)
    return Sequencer(st, kh2, kw2, cm_m1, xw_m1, xl_m1, xn_m1, xs, kh, ci, addr, w, l, n, f,
                     s1_clear, s1_mac, s1_shift, s1_emit, s1_last, s1_kw2, fin, cfg, cfg_nx,
                     s1_fin, s1_cfg, sub, xo, pk_m1, pr)

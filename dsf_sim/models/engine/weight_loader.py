"""Twin of rtl/dsf_weight_loader.sv + two rtl/dsf_weight_ram.sv banks (architecture §7.2).

The RTL registers both banks' read data and muxes them in the next cycle with the delayed bank
select `rd_bank_d`; the twin registers the selected row directly (`rdata`), which is the same
value in every cycle that uses it.
"""
from __future__ import annotations

from ..jit import jit
from . import header
from .mutations import M_WL_BANK_UNDELAYED, M_WL_READY_SWAP
from .params import (F_WROWS_M1, P_AXI_BYTES, P_COLS, P_K_BITS, P_MUTATION,
                     P_RAM_WEIGHTS_DEPTH, P_TIMING_ONLY, P_W_CM_M1, P_WB)
from .registers import WeightLoader


@jit(inline=True)
def s_tready(wl, prm):
    """!full[wr_bank] (registers only)."""
    bank = wl.rd_bank if prm[P_MUTATION] == M_WL_READY_SWAP else wl.wr_bank
    return ((wl.full >> bank) & 1) == 0


@jit(inline=True)
def bank_ready(wl):
    return ((wl.full >> wl.rd_bank) & 1) != 0


@jit(inline=True)
def _word(buf, j, bits):
    """Signed word j of `bits` bits of the little-endian byte buffer."""
    bit = j * bits
    v = (buf[bit >> 3] >> (bit & 7)) & ((1 << bits) - 1)
    if (v >> (bits - 1)) & 1:
        v -= 1 << bits
    return v


@jit(inline=True)
def edge(wl, fire, release_bank, read, raddr, dram, src, rowbuf, banks, rdata, prm, tabs):
    """The rising edge: RAM read for a MAC issued now, the compute side's release, then the
    accepted beat at dram[src:] (a row is written at the edge accepting its last beat)."""
    wr_bank, rd_bank, full, hdr_mode, wrows_m1, row, beat = wl
    tonly = prm[P_TIMING_ONLY] != 0
    COLS = prm[P_COLS]
    if read and not tonly:            # 1-cycle registered read of bank rd_bank (as of now)
        bank = rd_bank
        if prm[P_MUTATION] == M_WL_BANK_UNDELAYED and release_bank:
            bank ^= 1
        for c in range(COLS):
            rdata[c] = banks[bank, raddr, c]
    if release_bank:
        full &= ~(1 << rd_bank)
        rd_bank ^= 1
    if fire:
        B = prm[P_AXI_BYTES]
        if hdr_mode != 0:
            hdr_mode = 0
            wrows_m1 = header.field(dram, src, tabs, F_WROWS_M1)
            row = 0
            beat = 0
        else:
            if not tonly:
                for i in range(B):
                    rowbuf[beat * B + i] = dram[src + i]
            if beat == prm[P_WB] - 1:      # row done: written into bank wr_bank now
                if not tonly:
                    ra = row & ((1 << prm[P_W_CM_M1]) - 1)
                    if ra < prm[P_RAM_WEIGHTS_DEPTH]:
                        for c in range(COLS):
                            banks[wr_bank, ra, c] = _word(rowbuf, c, prm[P_K_BITS])
                beat = 0
                if row == wrows_m1:
                    full |= 1 << wr_bank
                    wr_bank ^= 1
                    hdr_mode = 1
                else:
                    row += 1
            else:
                beat += 1
    return WeightLoader(wr_bank, rd_bank, full, hdr_mode, wrows_m1, row, beat)

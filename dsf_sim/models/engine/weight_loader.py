"""Twin of rtl/dsf_weight_loader.sv + two rtl/dsf_weight_ram.sv banks (architecture §7.2) and
the output pipeline's two configuration sets (§17.3).

The RTL registers both banks' read data and muxes them in the next cycle with the delayed bank
select `rd_bank_d`; the twin registers the selected row directly (`rdata`), which is the same
value in every cycle that uses it.
"""
from __future__ import annotations

from ..jit import jit
from . import header, words
from .mutations import M_WL_BANK_UNDELAYED, M_WL_CFG_NO_WAIT, M_WL_READY_SWAP
from .params import (F_FINISH, F_WROWS_M1, P_AXI_BYTES, P_BIAS_BEATS, P_COLS, P_K_BITS,
                     P_MUTATION, P_POST_BEATS, P_RAM_WEIGHTS_DEPTH, P_TIMING_ONLY, P_W_CM_M1,
                     P_WB)
from .registers import WeightLoader


@jit(inline=True)
def s_tready(wl, prm):
    """!full[wr_bank] && !(configuration beats && cfg_full[cfg_wr]) (registers only)."""
    bank = wl.rd_bank if prm[P_MUTATION] == M_WL_READY_SWAP else wl.wr_bank
    cfg_wait = (wl.cfg_mode != 0 and ((wl.cfg_full >> wl.cfg_wr) & 1) != 0
                and prm[P_MUTATION] != M_WL_CFG_NO_WAIT)
    return ((wl.full >> bank) & 1) == 0 and not cfg_wait


@jit(inline=True)
def bank_ready(wl):
    return ((wl.full >> wl.rd_bank) & 1) != 0


@jit(inline=True)
def _word(buf, j, bits):
    """Signed word j of `bits` bits of the little-endian byte buffer."""
    return words.signed(words.get(buf, 0, j * bits, bits), bits)


@jit(inline=True)
def edge(wl, fire, release_bank, cfg_release, read, raddr, dram, src, rowbuf, banks, rdata,
         cfgset, prm, tabs):
    """The rising edge: RAM read for a MAC issued now, the compute side's releases (weight bank,
    configuration set), then the accepted beat at dram[src:] (a row is written at the edge
    accepting its last beat; a finish job's configuration beats go to set cfg_wr)."""
    (wr_bank, rd_bank, full, hdr_mode, wrows_m1, row, beat, cfg_mode, cbeat, cfg_wr, cfg_free,
     cfg_full) = wl
    tonly = prm[P_TIMING_ONLY] != 0
    COLS = prm[P_COLS]
    if read and not tonly:            # 1-cycle registered read of bank rd_bank (as of now)
        bank = rd_bank
        if prm[P_MUTATION] == M_WL_BANK_UNDELAYED and release_bank:
            bank ^= 1
        if raddr < prm[P_RAM_WEIGHTS_DEPTH]:
            for c in range(COLS):
                rdata[c] = banks[bank, raddr, c]
        else:                         # past the RAM (only a corrupted header gets here): the
            for c in range(COLS):     # Verilator model of dsf_weight_ram reads zero
                rdata[c] = 0
    if release_bank:
        full &= ~(1 << rd_bank)
        rd_bank ^= 1
    if cfg_release:
        cfg_full &= ~(1 << cfg_free)
        cfg_free ^= 1
    if fire:
        B = prm[P_AXI_BYTES]
        if hdr_mode != 0:
            hdr_mode = 0
            wrows_m1 = header.field(dram, src, tabs, F_WROWS_M1)
            cfg_mode = header.field(dram, src, tabs, F_FINISH)
            row = 0
            beat = 0
            cbeat = 0
        elif cfg_mode != 0:
            for i in range(B):      # also when timing only: ADD decides the output's valid
                cfgset[cfg_wr, cbeat * B + i] = dram[src + i]
            if cbeat == prm[P_POST_BEATS] + prm[P_BIAS_BEATS] - 1:
                cfg_mode = 0
                cbeat = 0
                cfg_full |= 1 << cfg_wr
                cfg_wr ^= 1
            else:
                cbeat += 1
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
    return WeightLoader(wr_bank, rd_bank, full, hdr_mode, wrows_m1, row, beat, cfg_mode, cbeat,
                        cfg_wr, cfg_free, cfg_full)

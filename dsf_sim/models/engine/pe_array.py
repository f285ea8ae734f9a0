"""Twin of rtl/dsf_pe_array.sv (architecture §7.4): ROWS x COLS accumulators, elastic groups."""
from __future__ import annotations

from ..jit import jit
from .mutations import M_PE_SHIFT_NOGROUP
from .params import P_COLS, P_MUTATION, P_ROWS, P_TIMING_ONLY, P_Y_BITS


@jit(inline=True)
def edge(acc, q, s1_x, rdata, prm):
    """The stage-1 operation in the sequencer's s1_* registers acts on acc (wrapping at Y_BITS):
    CLEAR; MAC/FLUSH with shift: acc[r][c] <- (c % KW == 0 ? 0 : acc[r][c-1]) [+ x[r]*w[c]]."""
    ROWS, COLS = prm[P_ROWS], prm[P_COLS]
    if q.s1_clear != 0:
        for r in range(ROWS):
            for c in range(COLS):
                acc[r, c] = 0
    elif (q.s1_mac != 0 or q.s1_shift != 0) and prm[P_TIMING_ONLY] == 0:
        ymask = (1 << prm[P_Y_BITS]) - 1
        kw = 2 * q.s1_kw2 + 1
        step = 1 << 30 if prm[P_MUTATION] == M_PE_SHIFT_NOGROUP else kw
        for r in range(ROWS):
            if q.s1_shift != 0:                      # acc[c] <- acc[c-1], 0 at group starts
                for c in range(COLS - 1, 0, -1):
                    acc[r, c] = acc[r, c - 1]
                for c in range(0, COLS, step):
                    acc[r, c] = 0
            if q.s1_mac != 0:                        # branch-free, vectorisable MAC row
                xv = s1_x[r]
                for c in range(COLS):
                    acc[r, c] = (acc[r, c] + xv * rdata[c]) & ymask

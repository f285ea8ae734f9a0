"""The four DMA channels of the harnesses (architecture §7.7, §11, §17.4): 0 pixels M2S, 1 weights
M2S, 2 output S2M, 3 skip M2S, each with at most one transfer in flight. Not part of the engine: what
rtl/tb/tb_engine.cpp and rtl/tb/tb_system.sv do around it.

Channel state is one int64 row of `C` per channel (the system model loads descriptors into it
between `advance` calls and reads the statistics).
"""
from __future__ import annotations

from ..jit import jit
from ..prng import xorshift32

CHANNEL_FIELDS = ("ACT", "ADDR", "BYTES", "NB", "IDX", "PEND", "OFF", "BUSY", "STALL", "BEATS",
                  "BYTESTOT", "EVENT")
(C_ACT, C_ADDR, C_BYTES, C_NB, C_IDX, C_PEND, C_OFF, C_BUSY, C_STALL, C_BEATS, C_BYTESTOT,
 C_EVENT) = range(len(CHANNEL_FIELDS))
N_CH = len(CHANNEL_FIELDS)
CH_PIXELS, CH_WEIGHTS, CH_OUTPUT, CH_SKIP = 0, 1, 2, 3
N_CHANNELS = 4


@jit(inline=True)
def count(C, ch, active, stalled):
    """Statistics of the cycle: busy (a transfer is active), stall (beat presented but not taken
    for M2S, engine not valid for S2M)."""
    if active:
        C[ch, C_BUSY] += 1
        if stalled:
            C[ch, C_STALL] += 1


@jit(inline=True)
def beat_addr(C, ch, B):
    """DRAM address of the M2S channel's current beat."""
    return C[ch, C_ADDR] + C[ch, C_IDX] * B


@jit(inline=True)
def m2s_taken(C, ch):
    """The presented beat was accepted; True when it was the transfer's last (completion event)."""
    C[ch, C_IDX] += 1
    C[ch, C_BEATS] += 1
    if C[ch, C_IDX] == C[ch, C_NB]:
        C[ch, C_BYTESTOT] += C[ch, C_BYTES]
        C[ch, C_ACT] = 0
        C[ch, C_EVENT] = C[ch, C_BYTES]
        return True
    return False


@jit(inline=True)
def s2m_fits(C, kept):
    return C[CH_OUTPUT, C_OFF] + kept <= C[CH_OUTPUT, C_BYTES]


@jit(inline=True)
def s2m_write(C, dram, src, base, kept, last):
    """Write an accepted output beat (src[base:]) 's kept bytes; True when TLAST completes the
    transfer."""
    dst = C[CH_OUTPUT, C_ADDR] + C[CH_OUTPUT, C_OFF]
    for i in range(kept):
        dram[dst + i] = src[base + i]
    C[CH_OUTPUT, C_OFF] += kept
    C[CH_OUTPUT, C_BEATS] += 1
    C[CH_OUTPUT, C_BYTESTOT] += kept
    if last:
        C[CH_OUTPUT, C_ACT] = 0
        C[CH_OUTPUT, C_EVENT] = C[CH_OUTPUT, C_OFF]
        return True
    return False


@jit(inline=True)
def draw(s0, s1, s2, s3, pv, wv, sv, a0, a1, a2, a3, thr):
    """A cycle's handshake draws (architecture §5): the four generators step; an M2S valid
    (pixels, weights, skip) latches on its draw and stays until its beat is taken, the S2M
    ready is this cycle's draw."""
    s0, s1, s2, s3 = xorshift32(s0), xorshift32(s1), xorshift32(s2), xorshift32(s3)
    if not pv:
        pv = a0 and s0 < thr[0]
    if not wv:
        wv = a1 and s1 < thr[1]
    if not sv:
        sv = a3 and s3 < thr[3]
    return s0, s1, s2, s3, pv, wv, a2 and s2 < thr[2], sv

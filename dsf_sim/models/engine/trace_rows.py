"""Lockstep's trace of the twin, written row by row inside the cycle loop (architecture §13).

Why: reading the registers between cycles meant calling `core.advance` once per cycle, and its
entry and exit (loading and storing every module's registers) cost about 1 µs a cycle, twelve
times the cycle itself. With recording rows in `trace`, `advance` runs as long as it would
anyway and writes each cycle's row as it goes: the signal table's registers as they are during
the cycle (at its start), its probes (ports and stimulus as the cycle computed them), the
m_axis_tdata bytes and the tkeep bits. `trace` is (sc[rows, NS], data[rows, B], keep[rows, KB],
sources[NS, 2], meta[2]): row = cycle - meta[0]; meta[1] = rows written so far. Zero rows:
nothing is recorded (every harness but lockstep).
"""
from __future__ import annotations

import numpy as np

from ..jit import jit
from . import dma, registers

# where a signal's column comes from: (kind, argument) per row of sources
SRC_REGISTER, SRC_PROBE, SRC_ACC00, SRC_BEAT_INDEX, SRC_JOBS = range(5)

# per-cycle probes (their order in the tuple advance hands to `probes`)
PROBE_SLOTS = ("p_valid", "w_valid", "m_ready", "s_axis_pixels_tready", "s_axis_weights_tready",
               "m_axis_tvalid", "m_axis_tlast", "m_axis_tkeep", "raddr", "s_valid",
               "s_axis_skip_tready")
SLOT_TKEEP = PROBE_SLOTS.index("m_axis_tkeep")
S_NTLAST = registers.index("harness", "ntlast")


def none(B: int) -> tuple:
    """No recording (the same tuple type as `rows`)."""
    return rows(np.zeros((0, 1), np.int64), np.zeros((0, B), np.uint8),
                np.zeros((0, (B + 7) // 8), np.uint8), np.zeros((1, 2), np.int64), 0)


def rows(sc, data, keep, sources, base: int) -> tuple:
    """Record cycle base + i into row i of sc / data / keep (zeroed by the caller)."""
    return sc, data, keep, sources, np.array([base, 0], np.int64)


@jit(inline=True)
def registers_row(trace, S, C, acc, cycle):
    """The row's register, accumulator, beat-index and jobs-done columns, from S as stored at
    the start of the cycle."""
    sc, sources, meta = trace[0], trace[3], trace[4]
    row = cycle - meta[0]
    for k in range(sources.shape[0]):
        src, arg = sources[k, 0], sources[k, 1]
        if src == SRC_REGISTER:
            sc[row, k] = S[arg]
        elif src == SRC_ACC00:
            sc[row, k] = (acc[0, 0] >> 32) if arg else (acc[0, 0] & 0xFFFFFFFF)
        elif src == SRC_BEAT_INDEX:
            sc[row, k] = C[arg, dma.C_IDX]
        elif src == SRC_JOBS:
            sc[row, k] = S[S_NTLAST]           # one output transfer (TLAST) per job
    meta[1] = row + 1


@jit(inline=True)
def probes_row(trace, cycle, buf, base, valid, B, probes):
    """The row's probe columns, tdata bytes (zeros while invalid) and tkeep bits."""
    sc, data, keep, sources, meta = trace
    row = cycle - meta[0]
    for k in range(sources.shape[0]):
        if sources[k, 0] == SRC_PROBE:
            sc[row, k] = probes[sources[k, 1]]
    for i in range(B):
        data[row, i] = buf[base + i] if valid else 0
        if i < probes[SLOT_TKEEP]:
            keep[row, i >> 3] |= 1 << (i & 7)

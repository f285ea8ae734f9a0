"""`EngineState`: everything the twin's cycle loop carries between calls, as numpy arrays.

The state vector `S` (registers.REGISTERS), the DMA channel table `C` (dma.CHANNEL_FIELDS), the
PRNG thresholds, each module's memories (registers.MEMORIES), the output log of the engine
harness and lockstep's trace rows. `advance` resumes from exactly this, so a harness can stop
at any edge, act, and go on.
"""
from __future__ import annotations

import numpy as np

from .. import prng
from . import dma, registers, trace_rows
from .core import advance
from .mutations import mutation_id
from .params import param_vector, tables


class EngineModelError(RuntimeError):
    """The twin stopped: watchdog, cycle limit, or a transfer longer than its descriptor."""


STUCK_NAMES = {0: "output (m_axis)", 1: "pixels (s_axis_pixels)", 2: "weights (s_axis_weights)",
               3: "skip (s_axis_skip)"}
S_CYCLE = registers.index("harness", "cycle")


class EngineState:
    def __init__(self, hw, seed=1, valid_prob=1.0, ready_prob=1.0, timing_only=False,
                 watchdog=20000, nlog=0, mutate=None, stretch=True):
        self.hw = hw
        self.B = hw.AXI_BYTES
        # stretch=False: the timing-only clock steps every cycle (the reference of stretch.py)
        self.prm = param_vector(hw, watchdog, timing_only, mutation_id(mutate), stretch)
        self.tabs = tables(hw)
        self.seed32, states, self.thr = prng.setup(seed, valid_prob, ready_prob)
        self.S = np.array(registers.reset_values(), np.int64)
        self.S[registers.PRNG0:registers.PRNG0 + registers.N_PRNG] = states
        self.C = np.zeros((dma.N_CHANNELS, dma.N_CH), np.int64)
        self.C[:, dma.C_EVENT] = -1
        mem = {(m, name): np.zeros(shape(hw), dtype) for m, rows in registers.MEMORIES.items()
               for name, shape, dtype in rows}
        self.slot = mem["pixel_streamer", "slot"]
        self.wl_mem = tuple(mem["weight_loader", n] for n in ("rowbuf", "banks", "rdata", "cfgset"))
        self.s1_x = mem["sequencer", "s1_x"]
        self.acc = mem["pe_array", "acc"]
        self.out_mem = tuple(mem["output", n] for n in ("q_d", "q_ob", "q_keep", "q_last", "dr",
                                                        "q_fin", "q_cfg", "q_kw2", "skbuf", "beat"))
        B = self.B
        self.log = (np.zeros((nlog, B), np.uint8), np.zeros((nlog, B), np.bool_),
                    np.zeros(nlog, np.bool_), np.zeros(nlog, np.int64))
        # lockstep's rows (trace_rows.py): its model_trace sets recording rows per chunk
        self.trace = trace_rows.none(B)
        # a DMA/DRAM model's handshake schedule (core.advance; dma_coupling.py): none by default
        self.hs = None

    def reg(self, module, name) -> int:
        return int(self.S[registers.index(module, name)])

    @property
    def cycle(self):
        return int(self.S[S_CYCLE])

    def start(self, ch, addr, nbytes):
        """Load a descriptor on an idle channel; it is active from the next simulated cycle."""
        c = self.C[ch]
        if c[dma.C_ACT]:
            raise EngineModelError(f"DMA channel {ch} started while busy")
        c[dma.C_ACT] = 1
        c[dma.C_ADDR] = addr
        c[dma.C_BYTES] = nbytes
        c[dma.C_NB] = -(-int(nbytes) // self.B)
        c[dma.C_IDX] = 0
        c[dma.C_PEND] = 0
        c[dma.C_OFF] = 0

    def advance(self, dram, limit):
        return int(advance(self.prm, self.tabs, self.S, self.C, dram, self.thr, int(limit),
                           self.slot, self.wl_mem, self.s1_x, self.acc, self.out_mem, self.log,
                           self.trace, self.hs))

    def take_events(self):
        """[(ch, bytes)] completed at the last edge, in channel order; clears them."""
        col = self.C[:, dma.C_EVENT]
        ev = [(ch, int(b)) for ch, b in enumerate(col.tolist()) if b >= 0]
        col[:] = -1
        return ev

    def stuck_channel(self):
        """Best guess of the channel that blocks (for watchdog reports)."""
        full_p = (self.reg("pixel_streamer", "full") >> self.reg("pixel_streamer", "fill")) & 1
        full_w = (self.reg("weight_loader", "full") >> self.reg("weight_loader", "wr_bank")) & 1
        if self.C[0, dma.C_ACT] and full_p:
            return 1
        if self.C[1, dma.C_ACT] and full_w:
            return 2
        if self.C[3, dma.C_ACT] and self.reg("output", "sk_cnt") >= 2:
            return 3
        return 0

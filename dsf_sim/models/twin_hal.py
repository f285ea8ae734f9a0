"""The HAL of `board_driver.Accelerator` on the cycle-accurate twin instead of a board.

start() loads the twin's DMA channel, wait() runs engine cycles until that channel completes.
Completions of other channels seen on the way are kept until the firmware waits for them. The
firmware is told about a completion only when it waits, as on a board; it never polls other
channels while waiting, so the cycle count equals the system twin's (models/system_model.py,
where the firmware hears every completion at its edge).

Like a board HAL, wait() reports a transfer that does not complete within its budget (the
watchdog: no handshake for `watchdog` cycles) as DMA_FAILED | DMA_STUCK, and an injected DMA
error (`fault=`, runtime/faults.py) as DMA_FAILED | its status bit: the firmware's report then
names the channel and the job.
"""
from __future__ import annotations

import numpy as np

from .engine import (ERR_OVERFLOW, ERR_WATCHDOG, EVENT, LIMIT, EngineModelError,
                             EngineState)
from ..runtime.sim_limits import NEVER
from ..runtime.faults import DMA_FAILED, DMA_STUCK, make_fault
from ..runtime.fw_driver import CH_NAMES


class TwinHal:
    def __init__(self, hw, seed: int = 1, valid_prob: float = 1.0, ready_prob: float = 1.0,
                 watchdog: int = 200000, fault=None):
        self.hw = hw
        self.fault = make_fault(fault, "TwinHal: fault")
        self.failed = {}           # channel -> status of its injected fault
        self.es = EngineState(hw, seed, valid_prob, ready_prob, False, watchdog)
        self.dram = None
        self.done, self.inflight = {}, {}

    def allocate(self, nbytes: int) -> np.ndarray:
        self.dram = np.zeros(int(nbytes), dtype=np.uint8)
        self.es.advance(self.dram, 1)         # cycle 0: nothing active (the PRNGs step)
        return self.dram

    @property
    def cycles(self) -> int:
        """Cycles so far (after a run: up to the last completion, i.e. the firmware's DONE)."""
        return self.es.cycle

    def start(self, channel: int, addr: int, nbytes: int):
        if self.dram is None:
            raise EngineModelError("TwinHal.start before allocate")
        if channel in self.inflight:
            raise EngineModelError(f"channel {channel} ({CH_NAMES[channel]}) started while busy")
        self.inflight[channel] = nbytes
        if self.fault is not None and self.fault.starts(channel):
            self.failed[channel] = self.fault.status
            if self.fault.kind == "stuck":
                return                  # never moves: wait() runs into its budget
        self.es.start(channel, addr, nbytes)

    def wait(self, channel: int) -> int:
        if channel not in self.inflight and channel not in self.done:
            raise EngineModelError(f"wait on idle channel {channel} ({CH_NAMES[channel]})")
        es = self.es
        while channel not in self.done:
            st = es.advance(self.dram, NEVER)
            if st == EVENT:
                for ch, nbytes in es.take_events():
                    self.inflight.pop(ch, None)
                    self.done[ch] = nbytes
                continue
            if st == ERR_WATCHDOG and channel in self.inflight:
                self.inflight.pop(channel)
                self.failed.pop(channel, None)
                return DMA_FAILED | DMA_STUCK
            what = {ERR_WATCHDOG: "watchdog (no handshake)", LIMIT: "cycle limit",
                    ERR_OVERFLOW: "output longer than its descriptor"}.get(st, f"status {st}")
            raise EngineModelError(f"twin stopped at cycle {es.cycle} waiting for channel "
                                   f"{channel} ({CH_NAMES[channel]}): {what}")
        n = self.done.pop(channel)
        if channel in self.failed:
            return DMA_FAILED | self.failed.pop(channel)
        return n

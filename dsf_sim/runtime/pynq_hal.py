"""The HAL of `board_driver.Accelerator` on a PYNQ board (PYNQ >= 2.7, Linux on the Zynq PS).

The overlay is the bitstream `dsf build fpga` produces (out/dsf_system.bit with its .hwh); its
four AXI DMAs are the block design's cells dma_pixels, dma_weights, dma_output and dma_skip
(firmware channel order). The DRAM image is one contiguous `pynq.allocate` buffer, and every
transfer is a slice of it (`transfer(buffer, start, nbytes)`): the CPU's packed streams are
flushed from the cache before an MM2S transfer, the output range is invalidated before and after
an S2MM transfer. The bytes an S2MM transfer received (the job's TLAST) are read from the DMA's
S2MM_LENGTH register.

    from dsf_sim.runtime.board_driver import Accelerator
    from dsf_sim.runtime.pynq_hal import PynqHal
    acc = Accelerator("vectors", PynqHal("out/dsf_system.bit"))
    print(acc.run(), acc.check(), acc.summary())

The firmware library is compiled on the board by default (its gcc), or pass the cross-compiled
`sw/linux/libdsf_fw_<arch>.so` of the build folder as `lib_path`.
"""
from __future__ import annotations

import numpy as np

import time

from ..errors import DsfError
from .faults import DMA_FAILED, DMA_SR_ERRORS, DMA_SR_IDLE, DMA_STUCK
from .fw_driver import CH_NAMES, CH_OUTPUT

DMA_CELLS = tuple(f"dma_{n}" for n in CH_NAMES)   # block design cell per firmware channel
S2MM_LENGTH = 0x58                                 # AXI DMA register: bytes received
MM2S_LENGTH = 0x28
MM2S_DMASR, S2MM_DMASR = 0x04, 0x34                # status: Idle, DMAIntErr/SlvErr/DecErr


class PynqHal:
    def __init__(self, bitfile: str = "dsf_system.bit", overlay=None, download: bool = True,
                 timeout_s: float = 2.0):
        try:
            import pynq
        except ImportError:
            raise DsfError("pynq = not installed is invalid: allowed the PYNQ package (on the "
                           "board's Linux image); off the board use models.twin_hal.TwinHal") \
                from None
        self.pynq = pynq
        self.overlay = overlay if overlay is not None else pynq.Overlay(bitfile, download=download)
        missing = [c for c in DMA_CELLS if not hasattr(self.overlay, c)]
        if missing:
            have = sorted(getattr(self.overlay, "ip_dict", {}) or {})
            raise DsfError(f"overlay = {bitfile!r} is invalid: allowed a dsf build fpga "
                           f"bitstream (no {missing}; it has {have})")
        self.dmas = [getattr(self.overlay, c) for c in DMA_CELLS]
        self.buf = None
        self.inflight = {}
        self.timeout_s = float(timeout_s)   # a transfer still busy after this is stuck

    def allocate(self, nbytes: int):
        self.buf = self.pynq.allocate(shape=(int(nbytes),), dtype=np.uint8)
        return self.buf

    def start(self, channel: int, addr: int, nbytes: int):
        view = self.buf[addr:addr + nbytes]
        dma = self.dmas[channel]
        if channel == CH_OUTPUT:
            view.invalidate()
            dma.recvchannel.transfer(self.buf, start=addr, nbytes=nbytes)
        else:
            view.flush()
            dma.sendchannel.transfer(self.buf, start=addr, nbytes=nbytes)
        self.inflight[channel] = (addr, nbytes)

    def wait(self, channel: int) -> int:
        """Poll the channel's status register until Idle; an error bit or the time budget goes
        to the firmware as DMA_FAILED | status (it reports channel, job and cause)."""
        addr, nbytes = self.inflight.pop(channel)
        dma = self.dmas[channel]
        sr_at = S2MM_DMASR if channel == CH_OUTPUT else MM2S_DMASR
        t0 = time.monotonic()
        while True:
            sr = int(dma.read(sr_at))
            if sr & DMA_SR_ERRORS:
                return DMA_FAILED | (sr & DMA_SR_ERRORS)
            if sr & DMA_SR_IDLE:
                break
            if time.monotonic() - t0 > self.timeout_s:
                return DMA_FAILED | DMA_STUCK
        if channel == CH_OUTPUT:
            got = int(dma.read(S2MM_LENGTH))
            self.buf[addr:addr + nbytes].invalidate()
            return got
        return nbytes

    def close(self):
        if self.buf is not None:
            self.buf.freebuffer()
            self.buf = None

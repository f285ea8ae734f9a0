"""Run an export on an engine behind a HAL: the Linux / PYNQ driver, also run against the twin.

The firmware is the same state machine as in every harness; here its blocking loop
(`dsf_fw_run_blocking`, firmware/dsf_fw_hal.c -- the loop the bare-metal application uses too)
calls back into Python for every DMA start and wait. A HAL is three methods:

    allocate(nbytes) -> numpy uint8 array   one DMA-able DRAM image (pynq.allocate on a board)
    start(channel, addr, nbytes)            start a transfer at byte offset addr of that image
    wait(channel) -> int                    block until it completes; bytes moved

`PynqHal` (runtime/pynq_hal.py) puts them on the block design's four AXI DMAs; `TwinHal`
(models/twin_hal.py) on the cycle-accurate twin, so the driver is tested here exactly as it
runs on a board.

    acc = Accelerator(export_dir, PynqHal("dsf_system.bit"))
    y = acc.run()            # int32 output of the last bundle; acc.softmax if the model has one
    acc.check()              # == the export's expected.bin, word by word
"""
from __future__ import annotations

import ctypes
import os
import time

import numpy as np

from ..compiler.export import load_export
from ..errors import DsfError, MismatchError
from .fw_driver import (CH_NAMES, CMD_DMA, DsfHal, FirmwareError, _ONCMD_T, _START_T,
                        _WAIT_T, build_firmware, load_firmware, memory_map, read_softmax)


class Accelerator:
    """One export on one HAL: the DRAM image, the firmware library, run and read back."""

    def __init__(self, export_dir: str, hal, lib_path: str | None = None):
        self.export_dir = os.path.abspath(export_dir)
        self.hw, self.manifest = load_export(self.export_dir)
        self.hal = hal
        self.lib = load_firmware(lib_path or build_firmware(self.export_dir))
        self.lib.dsf_fw_run_blocking.restype = ctypes.c_int
        self.lib.dsf_fw_run_blocking.argtypes = [ctypes.c_void_p, ctypes.c_uint64,
                                                 ctypes.POINTER(DsfHal)]
        self.mm = memory_map(self.lib)
        self.total = int(self.mm["total"])
        # + 2 beats: an M2S transfer that ends inside a beat reads the whole beat
        self.dram = hal.allocate(self.total + 2 * self.hw.AXI_BYTES)
        if not isinstance(self.dram, np.ndarray) or self.dram.dtype != np.uint8 or \
                self.dram.size < self.total:
            raise DsfError(f"hal.allocate({self.total}) returned {type(self.dram).__name__}: "
                           "allowed a uint8 numpy array of at least that many bytes")
        self.sizes = self.manifest["sizes"]
        self.output = self.softmax = None
        self.dmas, self.seconds = [], None
        self.load_weights()

    # ---- data in
    def _image(self, kind, data) -> np.ndarray:
        """The export's weights.bin / input.bin, or the given bytes of such a file; the header
        (binfile) and the size are checked before anything reaches the board's DRAM."""
        from ..compiler import binfile
        chash = binfile.manifest_hash(self.manifest, self.export_dir)
        if data is None:
            return binfile.read_image(os.path.join(self.export_dir, f"{kind}.bin"), kind, chash)
        a = np.frombuffer(bytes(data), np.uint8)
        self._check_size(kind, a.size, self.sizes[f"{kind.upper()}_BYTES"])
        binfile.check(a, kind, chash, f"{kind} data")
        return a

    def load_weights(self, data=None):
        """weights.bin of the export (or the given bytes of such a file) into the image."""
        w = self._image("weights", data)
        o = self.mm["weights"]
        self.dram[o:o + w.size] = w

    def load_input(self, data=None):
        """input.bin of the export, or the bytes of another input.bin made for this model
        (export_inference with another x writes one)."""
        x = self._image("input", data)
        o = self.mm["input"]
        self.dram[o:o + x.size] = x

    @staticmethod
    def _check_size(what, got, want):
        if got != want:
            raise DsfError(f"{what} = {got} bytes is invalid: allowed exactly {want} bytes "
                           f"(this export's {what.upper()}_BYTES, header included)")

    # ---- run
    def run(self, input_bin=None) -> np.ndarray:
        """One inference; returns the last bundle's int32 output (self.output)."""
        self.load_input(input_bin)
        hal, dram, errors, dmas = self.hal, self.dram, [], []

        def on_cmd(_ctx, c):
            if c.contents.kind == CMD_DMA:
                dmas.append(c.contents.as_dict())

        def dma_start(_ctx, ch, addr, n):
            try:
                if addr + n > self.total:
                    raise FirmwareError(f"DMA outside the DRAM image: {dmas[-1]}")
                hal.start(int(ch), int(addr), int(n))
            except Exception as e:  # noqa: BLE001 - exceptions cannot cross the C boundary
                errors.append(e)

        def dma_wait(_ctx, ch):
            try:
                return int(hal.wait(int(ch))) if not errors else 0
            except Exception as e:  # noqa: BLE001 - the firmware sees 0 bytes and stops
                errors.append(e)
                return 0

        cb = DsfHal(None, _START_T(dma_start), _WAIT_T(dma_wait), _ONCMD_T(on_cmd))
        t0 = time.perf_counter()
        rc = self.lib.dsf_fw_run_blocking(dram.ctypes.data_as(ctypes.c_void_p), self.total,
                                          ctypes.byref(cb))
        self.seconds = time.perf_counter() - t0
        self.dmas = dmas
        if errors:
            raise errors[0]
        if rc != 0:
            raise FirmwareError(f"firmware error: {self.lib.dsf_fw_error_msg().decode()}")
        o, n = self.mm["output"], int(self.sizes["OUTPUT_WORDS"])
        self.output = dram[o:o + 4 * n].view("<i4").copy()
        sm = read_softmax(dram, self.mm, self.manifest)
        fo = self.manifest["bundles"][-1]["descriptor"].get("softmax_frac", 0)
        self.softmax = sm * 2.0 ** -fo if fo else sm     # the integer softmax as its values
        return self.output

    def check(self):
        """The last run's output against the export's expected.bin; MismatchError at the first
        differing word."""
        if self.output is None:
            raise DsfError("check: no run yet (call run() first)")
        from ..compiler import binfile
        want = binfile.read(os.path.join(self.export_dir, "expected.bin"), "expected",
                            binfile.manifest_hash(self.manifest, self.export_dir))
        if want.shape != self.output.shape or not np.array_equal(want, self.output):
            bad = np.flatnonzero(want != self.output) if want.shape == self.output.shape else [0]
            i = int(bad[0])
            raise MismatchError(f"output[{i}] = {int(self.output[i])}, expected {int(want[i])} "
                                f"({len(bad)} of {want.size} words differ)")
        return True

    def summary(self) -> dict:
        per = {n: 0 for n in CH_NAMES}
        for d in self.dmas:
            per[d["chan"]] += int(d["bytes"])
        return dict(seconds=self.seconds, dma_commands=len(self.dmas), bytes_per_channel=per)

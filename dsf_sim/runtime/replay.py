"""The firmware on a target ABI, checked against a recorded DMA stream (firmware/tools/dsf_replay.c).

Why: the board's CPU is aarch64 (Zynq UltraScale+) or 32-bit armhf (Zynq-7000), where `long`,
pointers and alignment differ from the machine the firmware is tested on. A reference run is
recorded transfer by transfer (`RecordingHal` around any HAL of board_driver.Accelerator); the
firmware is then cross-compiled statically with the replay harness and run under qemu-user,
which checks every transfer's channel, length and MM2S bytes against the record and writes the
final output.
"""
from __future__ import annotations

import os
import shutil
import struct
import subprocess

import numpy as np

from ..assets import asset_dir
from ..errors import DsfError
from .fw_driver import CH_OUTPUT, export_headers

CROSS = {"aarch64": ("aarch64-linux-gnu-gcc", "qemu-aarch64"),
         "armhf": ("arm-linux-gnueabihf-gcc", "qemu-arm")}


class RecordingHal:
    """A HAL that passes every call to `inner` and records the transfers (dsf_replay.c format)."""

    def __init__(self, inner, path: str):
        self.inner, self.f = inner, open(path, "wb")
        self.dram = None
        self.pending = {}

    def allocate(self, nbytes):
        self.dram = self.inner.allocate(nbytes)
        return self.dram

    def start(self, channel, addr, nbytes):
        """MM2S: recorded now (the bytes the firmware hands the DMA); output: at its wait."""
        self.inner.start(channel, addr, nbytes)
        if channel == CH_OUTPUT:
            self.pending[channel] = addr
        else:
            self.f.write(struct.pack("<IIQ", channel, 0, nbytes))
            self.f.write(self.dram[addr:addr + nbytes].tobytes())

    def wait(self, channel):
        got = self.inner.wait(channel)
        if channel == CH_OUTPUT:
            addr = self.pending.pop(channel)
            self.f.write(struct.pack("<IIQ", channel, 0, got))
            self.f.write(self.dram[addr:addr + got].tobytes())
        return got

    def close(self):
        self.f.close()


def _tool(name):
    if not shutil.which(name):
        raise DsfError(f"{name} = not found is invalid: allowed an installed tool "
                       "(scripts/setup.sh installs the cross compilers and qemu-user)")
    return name


def build_replay(export_dir: str, arch: str, out_path: str) -> str:
    """Static dsf_replay for `arch` ('aarch64' or 'armhf') against the export's headers."""
    if arch not in CROSS:
        raise DsfError(f"arch = {arch!r} is invalid: allowed one of {sorted(CROSS)}")
    cc = _tool(CROSS[arch][0])
    fw = str(asset_dir("firmware"))
    inc = os.path.dirname(export_headers(export_dir)[0])
    cmd = [cc, "-std=c99", "-Wall", "-Wextra", "-Werror", "-O2", "-static", f"-I{inc}",
           f"-I{fw}", os.path.join(fw, "dsf_fw.c"), os.path.join(fw, "dsf_fw_hal.c"),
           os.path.join(fw, "tools", "dsf_replay.c"), "-lm", "-o", out_path]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise DsfError(f"replay build failed ({' '.join(cmd)}):\n{r.stderr[-3000:]}")
    return out_path


def run_replay(binary: str, arch: str, export_dir: str, record: str, out_path: str,
               timeout: float = 600) -> np.ndarray:
    """Run dsf_replay under qemu-user; the firmware's final output (int32). A DsfError with
    the harness's message when a transfer differs from the record."""
    from .fw_driver import dram_files
    qemu = _tool(CROSS[arch][1])
    dram_files(export_dir)         # a wrong or damaged file is named here, not in the harness
    r = subprocess.run([qemu, binary, os.path.join(export_dir, "weights.bin"),
                        os.path.join(export_dir, "input.bin"), record, out_path],
                       capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise DsfError(f"firmware on {arch} departs from the record: "
                       f"{(r.stderr or r.stdout).strip()[-2000:]}")
    return np.fromfile(out_path, dtype="<i4")

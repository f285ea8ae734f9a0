"""The boards `dsf build fpga` targets: part, board part, processing system and what it offers.

One table so that the block design, the bare-metal address header, the resource report's
capacity column and the tests read the same facts. Capacities are the device data sheets'
totals (LUT, FF, DSP slices, 36 Kb block RAMs, UltraRAMs).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import HardwareError


@dataclass(frozen=True)
class Board:
    name: str
    part: str
    board_part: str
    ps: str                    # "zynqmp" (Zynq UltraScale+) or "zynq7" (Zynq-7000)
    family: str                # yosys synth_xilinx family of the part
    max_pl_clock_mhz: float    # the fastest clock the PS can hand the fabric
    hp_max_width: int          # widest PS high-performance slave port (DMA memory side)
    ctrl_base: int             # first address of the PS master port the DMA registers sit on
    ddr_bytes: int             # PS DDR the DMAs can reach through the HP port
    capacity: dict
    board_connections: str = ""   # extra board_connections of a SOM on a carrier card
    arch: str = "aarch64"         # the PS's Linux ABI (cross compiler prefix below)

    @property
    def cross_prefix(self) -> str:
        return {"aarch64": "aarch64-linux-gnu-", "armhf": "arm-linux-gnueabihf-"}[self.arch]

    @property
    def cpu(self) -> str:
        return "psu_cortexa53_0" if self.ps == "zynqmp" else "ps7_cortexa9_0"


BOARDS = {
    "zcu104": Board("zcu104", "xczu7ev-ffvc1156-2-e", "xilinx.com:zcu104:part0:1.1", "zynqmp",
                    "xcup", 500.0, 128, 0xA000_0000, 2 << 30,
                    dict(LUT=230_400, FF=460_800, DSP=1_728, BRAM36=312, URAM=96)),
    "zcu102": Board("zcu102", "xczu9eg-ffvb1156-2-e", "xilinx.com:zcu102:part0:3.4", "zynqmp",
                    "xcup", 500.0, 128, 0xA000_0000, 2 << 30,
                    dict(LUT=274_080, FF=548_160, DSP=2_520, BRAM36=912, URAM=0)),
    "kv260": Board("kv260", "xck26-sfvc784-2LV-c", "xilinx.com:kv260_som:part0:1.4", "zynqmp",
                   "xcup", 500.0, 128, 0xA000_0000, 2 << 30,
                   dict(LUT=117_120, FF=234_240, DSP=1_248, BRAM36=144, URAM=64),
                   board_connections="som240_1_connector "
                                     "xilinx.com:kv260_carrier:som240_1_connector:1.3"),
    "pynq-z2": Board("pynq-z2", "xc7z020clg400-1", "tul.com.tw:pynq-z2:part0:1.0", "zynq7",
                     "xc7", 250.0, 64, 0x4040_0000, 512 << 20,
                     dict(LUT=53_200, FF=106_400, DSP=220, BRAM36=140, URAM=0), arch="armhf"),
}

# one AXI DMA per engine stream, in firmware channel order (dsf_fw.h DSF_CH_*)
DMA_CHANNELS = (("pixels", "mm2s", "s_axis_pixels"), ("weights", "mm2s", "s_axis_weights"),
                ("output", "s2mm", "m_axis"), ("skip", "mm2s", "s_axis_skip"))
DMA_REG_SPAN = 0x1_0000
DMA_LENGTH_BITS = 26          # widest simple-mode length register of AXI DMA v7.1
DMA_WIDTHS = (32, 64, 128, 256, 512, 1024)
DMA_BURSTS = (2, 4, 8, 16, 32, 64, 128, 256)


def board(name: str) -> Board:
    if name not in BOARDS:
        raise HardwareError("board", name, f"one of {sorted(BOARDS)}")
    return BOARDS[name]


def address_map(b: Board) -> dict:
    """DMA register bases (channel name -> address) on the board's PS master port."""
    return {ch: b.ctrl_base + i * DMA_REG_SPAN for i, (ch, _, _) in enumerate(DMA_CHANNELS)}

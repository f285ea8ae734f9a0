"""Bank-level DRAM timing under the SoC model (architecture §12.3.1).

Why: a bandwidth/latency server cannot tell a row-buffer hit from a miss, misses refresh and the
read/write turnaround — which decide whether a DMA pattern reaches the datasheet peak. This is a
small open-page controller model, one 64-byte column access (a BL8 burst on a 64-bit DDR4 bus,
BL16 on 32-bit LPDDR4) at a time, in the order the DMA bursts reach it:

* address -> (bank group, bank, row, column) by a mapping (`row-col-bank`: consecutive lines
  rotate over bank groups and banks, the usual interleaving; `row-bank-col`: a whole row of one
  bank before the next bank);
* a miss precharges (after tRAS / write recovery / tRTP) and activates (tRP, tRCD; tRRD_S/L and
  tFAW between activates); column accesses keep tCCD_S/L; a read after a write waits tWTR_S/L after
  the write data, a write after a read waits the read-to-write turnaround; the data bus carries
  one access per tBL;
* all-bank refresh every tREFI, blocking tRFC and closing every row;
* the controller looks ahead `queue` accesses (an activate may start while earlier accesses of
  the queue still transfer), and is otherwise in order (no reordering between DMA channels).

Each access's bubble on the data bus is charged to the constraint that bound it (row miss,
refresh, turnaround, bank group, latency) for the SoC model's stall attribution. Times are
integer DRAM clocks. Timings are JEDEC speed-bin values (JESD79-4 DDR4, JESD209-4 LPDDR4) for
the named parts; check them against your device's datasheet.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .jit import jit

# reasons a data-bus bubble is charged to (index into the `why` accumulator)
WHY = ("data", "latency", "row_miss", "refresh", "turnaround", "bank_group")

_P = ("tbl", "cl", "cwl", "rcd", "rp", "ras", "rfc", "refi", "ccd_s", "ccd_l", "wtr_s",
      "wtr_l", "rtw", "wr", "rtp", "rrd_s", "rrd_l", "faw", "lg_line", "bg_bits", "ba_bits",
      "col_bits", "mapping", "queue")
_S = ("bus_free", "last_cas", "last_bg", "last_write", "wend", "last_rcas", "ref_next",
      "ref_end", "last_act", "last_act_bg", "k", "hits", "misses", "empty", "refreshes",
      "accesses", "faw0", "faw1", "faw2", "faw3", "faw_i")
MAPPINGS = ("row-col-bank", "row-bank-col")


@dataclass(frozen=True)
class DramTiming:
    """One DRAM part and its controller. Clock counts are in tCK; `bus_bytes` the data width."""
    name: str
    tck_ns: float
    bus_bytes: int
    bl: int
    bank_groups: int
    banks_per_group: int
    page_bytes: int          # one row across the bus width
    cl: int
    cwl: int
    rcd: int
    rp: int
    ras: int
    rfc_ns: float
    refi_ns: float
    ccd_s: int
    ccd_l: int
    wtr_s: int
    wtr_l: int
    wr: int
    rtp: int
    rrd_s: int
    rrd_l: int
    faw: int
    mapping: str = "row-col-bank"
    queue: int = 16

    @property
    def line_bytes(self) -> int:
        return self.bus_bytes * self.bl

    @property
    def peak_gbs(self) -> float:
        """Datasheet peak: two transfers of bus_bytes per clock."""
        return 2 * self.bus_bytes / self.tck_ns

    def params(self) -> np.ndarray:
        for k in ("bank_groups", "banks_per_group"):
            v = getattr(self, k)
            if v < 1 or v & (v - 1):
                raise ValueError(f"DRAM {self.name}: {k}={v} must be a power of two >= 1")
        if self.mapping not in MAPPINGS:
            raise ValueError(f"DRAM {self.name}: mapping={self.mapping!r} is not one of "
                             f"{', '.join(MAPPINGS)}")
        lines_per_row = self.page_bytes // self.line_bytes
        if (lines_per_row < 1 or lines_per_row & (lines_per_row - 1)
                or self.page_bytes % self.line_bytes):
            raise ValueError(f"DRAM {self.name}: page_bytes={self.page_bytes} must be a power-of-"
                             f"two multiple of the {self.line_bytes}-byte access")
        if self.queue < 1:
            raise ValueError(f"DRAM {self.name}: queue={self.queue} must be >= 1")
        tbl = self.bl // 2
        rtw = self.cl + tbl + 2 - self.cwl       # read-to-write turnaround (data bus + preamble)
        v = dict(tbl=tbl, cl=self.cl, cwl=self.cwl, rcd=self.rcd, rp=self.rp, ras=self.ras,
                 rfc=math.ceil(self.rfc_ns / self.tck_ns), refi=int(self.refi_ns / self.tck_ns),
                 ccd_s=self.ccd_s, ccd_l=self.ccd_l, wtr_s=self.wtr_s, wtr_l=self.wtr_l,
                 rtw=max(rtw, 1), wr=self.wr, rtp=self.rtp, rrd_s=self.rrd_s, rrd_l=self.rrd_l,
                 faw=self.faw, lg_line=int(math.log2(self.line_bytes)),
                 bg_bits=int(math.log2(self.bank_groups)),
                 ba_bits=int(math.log2(self.banks_per_group)),
                 col_bits=int(math.log2(lines_per_row)), mapping=MAPPINGS.index(self.mapping),
                 queue=self.queue)
        return np.array([v[k] for k in _P], dtype=np.int64)


BANK_PRESETS = {
    # DDR4-2400R (17-17-17), 64-bit of x8 devices (8 KB row), 4 bank groups x 4 banks, 8 Gb
    "ddr4-2400": DramTiming("ddr4-2400", tck_ns=1 / 1.2, bus_bytes=8, bl=8, bank_groups=4,
                            banks_per_group=4, page_bytes=8192, cl=17, cwl=12, rcd=17, rp=17,
                            ras=39, rfc_ns=350.0, refi_ns=7800.0, ccd_s=4, ccd_l=6, wtr_s=3,
                            wtr_l=9, wr=18, rtp=9, rrd_s=4, rrd_l=6, faw=26),
    # LPDDR4-3200, 32 bits (two x16 channels run as one), BL16, 8 banks, 4 KB row, 8 Gb
    "lpddr4-3200": DramTiming("lpddr4-3200", tck_ns=1 / 1.6, bus_bytes=4, bl=16,
                              bank_groups=1, banks_per_group=8, page_bytes=4096, cl=28, cwl=14,
                              rcd=29, rp=29, ras=68, rfc_ns=280.0, refi_ns=3904.0, ccd_s=8,
                              ccd_l=8, wtr_s=16, wtr_l=16, wr=29, rtp=12, rrd_s=16, rrd_l=16,
                              faw=64),
    # ZCU104 PS DDR4-2666 (19-19-19), 64-bit of four x16 devices (8 KB row), 2 groups x 4 banks
    "zcu104-ps": DramTiming("zcu104-ps", tck_ns=0.75, bus_bytes=8, bl=8, bank_groups=2,
                            banks_per_group=4, page_bytes=8192, cl=19, cwl=14, rcd=19, rp=19,
                            ras=43, rfc_ns=350.0, refi_ns=7800.0, ccd_s=4, ccd_l=7, wtr_s=4,
                            wtr_l=10, wr=20, rtp=10, rrd_s=8, rrd_l=9, faw=40),
}


@jit(inline=True)
def _decode(li, mapping, bg_bits, ba_bits, col_bits):
    """(bank group, bank, row) of line li: `row-col-bank` rotates lines over the bank groups
    then the banks (column above them); `row-bank-col` keeps a row's columns together."""
    x = li if mapping == 0 else li >> col_bits
    bg = x & ((1 << bg_bits) - 1)
    x >>= bg_bits
    ba = x & ((1 << ba_bits) - 1)
    x >>= ba_bits
    return bg, ba, (x >> col_bits) if mapping == 0 else x


@jit
def _serve(P, S, open_row, pre_ok, col_ok, cas_ring, why, addr, nbytes, write, t0):
    """Serve `nbytes` from `addr` starting no earlier than clock t0; returns (last command clock,
    last data clock). State S / per-bank arrays / why are updated in place."""
    tbl, cl, cwl, rcd, rp, ras, rfc, refi = P[0], P[1], P[2], P[3], P[4], P[5], P[6], P[7]
    ccd_s, ccd_l, wtr_s, wtr_l, rtw, wr, rtp = P[8], P[9], P[10], P[11], P[12], P[13], P[14]
    rrd_s, rrd_l, faw, lg_line = P[15], P[16], P[17], P[18]
    bg_bits, ba_bits, col_bits, mapping, queue = P[19], P[20], P[21], P[22], P[23]
    nbanks = open_row.shape[0]
    first = (addr >> lg_line)
    last = ((addr + nbytes - 1) >> lg_line)
    lat = cwl if write else cl
    start_bus = max(S[0], t0 + lat)   # where the first data could go with no bubble
    cas = t0
    for li in range(first, last + 1):
        bg, ba, row = _decode(li, mapping, bg_bits, ba_bits, col_bits)
        bank = bg * (1 << ba_bits) + ba
        k = S[10]
        t = t0
        if k >= queue:
            t = max(t, cas_ring[k % queue])     # the controller's lookahead window
        # refreshes entirely in the idle past close the rows and cost nothing
        if t >= S[6] + refi + rp + rfc:
            n = (t - S[6] - rp - rfc) // refi
            S[6] += n * refi
            for b in range(nbanks):
                open_row[b] = -1
        reason = 0
        was_open = False
        while True:
            ta = -1
            was_open = open_row[bank] >= 0
            if open_row[bank] != row:
                if open_row[bank] >= 0:
                    ta = max(t, pre_ok[bank]) + rp
                else:
                    ta = t
                ta = max(ta, S[7])
                ta = max(ta, S[8] + (rrd_l if bg == S[9] else rrd_s))
                ta = max(ta, S[16 + (S[20] % 4)] + faw)
                c_row = ta + rcd
            else:
                c_row = max(t, col_ok[bank])
            c_ccd = S[1] + (ccd_l if bg == S[2] else ccd_s)
            c_turn = 0
            if write and S[3] == 0:
                c_turn = S[5] + rtw
            elif (not write) and S[3] == 1:
                c_turn = S[4] + (wtr_l if bg == S[2] else wtr_s)
            c_bus = S[0] - lat
            cas = max(c_row, c_ccd, c_turn, c_bus, t)
            if cas + lat + tbl > S[6] + refi or cas >= S[6] + refi:
                # refresh due first: precharge all (after their precharge limits), tRFC
                tr = max(S[6] + refi, S[0])
                for b in range(nbanks):
                    if open_row[b] >= 0:
                        tr = max(tr, pre_ok[b])
                        open_row[b] = -1
                S[7] = tr + rp + rfc
                S[6] += refi
                S[14] += 1
                t = max(t, S[7])
                reason = 3
                continue
            break
        if ta >= 0:
            if was_open:
                S[12] += 1
            else:
                S[13] += 1
            open_row[bank] = row
            col_ok[bank] = ta + rcd
            pre_ok[bank] = ta + ras
            S[8] = ta
            S[9] = bg
            S[16 + (S[20] % 4)] = ta
            S[20] += 1
        else:
            S[11] += 1
        # which constraint made the bubble
        prev = max(S[0], start_bus) if li > first else start_bus
        gap = cas + lat - prev
        if gap > 0:
            if reason == 3:
                why[3] += gap
            elif cas == c_turn:
                why[4] += gap
            elif cas == c_row and ta >= 0:
                why[2] += gap
            elif cas == c_ccd and bg == S[2] and ccd_l > ccd_s:
                why[5] += gap
            else:
                why[1] += gap
        why[0] += tbl
        dend = cas + lat + tbl
        if write:
            S[4] = dend
            pre_ok[bank] = max(pre_ok[bank], dend + wr)
        else:
            S[5] = cas
            pre_ok[bank] = max(pre_ok[bank], cas + rtp)
        S[0] = dend
        S[1] = cas
        S[2] = bg
        S[3] = 1 if write else 0
        cas_ring[k % queue] = cas
        S[10] = k + 1
        S[15] += 1
    why[1] += start_bus - t0     # the first access's latency, or queueing behind earlier data
    return cas, S[0]


class BankDram:
    """One DRAM device's state across a run; `serve` is called by the SoC model's bursts."""

    def __init__(self, timing: DramTiming):
        self.timing = timing
        self.P = timing.params()
        nb = timing.bank_groups * timing.banks_per_group
        self.S = np.zeros(len(_S), dtype=np.int64)
        self.S[_S.index("last_cas")] = -10**9
        self.S[_S.index("last_act")] = -10**9
        self.S[_S.index("last_rcas")] = -10**9
        self.S[_S.index("wend")] = -10**9
        for i in range(4):
            self.S[_S.index("faw0") + i] = -10**9
        self.S[_S.index("ref_next")] = 0
        self.open_row = np.full(nb, -1, dtype=np.int64)
        self.pre_ok = np.zeros(nb, dtype=np.int64)
        self.col_ok = np.zeros(nb, dtype=np.int64)
        self.cas_ring = np.zeros(timing.queue, dtype=np.int64)
        self.why = np.zeros(len(WHY), dtype=np.int64)
        self.tck_s = timing.tck_ns * 1e-9

    def serve(self, addr: int, nbytes: int, write: bool, t_s: float):
        """(command end s, data end s, {reason: s}) of one DMA burst issued at t_s."""
        before = self.why.copy()
        t0 = int(math.ceil(t_s / self.tck_s - 1e-9))
        c, d = _serve(self.P, self.S, self.open_row, self.pre_ok, self.col_ok, self.cas_ring,
                      self.why, int(addr), int(nbytes), bool(write), t0)
        delta = (self.why - before) * self.tck_s
        return c * self.tck_s, d * self.tck_s, dict(zip(WHY, delta.tolist()))

    def counters(self) -> dict:
        s = {k: int(self.S[_S.index(k)]) for k in ("hits", "misses", "empty", "refreshes",
                                                    "accesses")}
        s["row_hit_rate"] = s["hits"] / s["accesses"] if s["accesses"] else 0.0
        return s


def stream_bandwidth(timing: DramTiming, addrs, nbytes: int, writes=None) -> float:
    """GB/s of back-to-back requests of `nbytes` at `addrs` (each issued when the previous one's
    commands are out) — for the model's checks against analytic limits."""
    d = BankDram(timing)
    t = 0.0
    end = 0.0
    for i, a in enumerate(addrs):
        w = bool(writes[i]) if writes is not None else False
        t, end, _ = d.serve(int(a), nbytes, w, t)
    return len(addrs) * nbytes / end / 1e9 if end else float("inf")

"""The SoC's DMA channels and DRAM at beat level, driving the twin's valid/ready (architecture
§12.3.2; `dsf profile --exact LAYER`).

Why: soc_model.py times a job as `slices` equal slices of its ideal cycles, which is fast but
blind to the engine's real stall pattern inside a job. Here the same channels, FIFOs, buses and
DRAM (transaction-level or bank-level, the same SocConfig) decide for every beat the cycle from
which the twin may see it: an M2S beat is valid once its burst's data has arrived, an output beat
is taken once the S2M FIFO has room. The twin in turn records the cycle it handshakes each beat
(core.advance's `hs` schedule), which frees FIFO room and so issues the next bursts.

Exact causality, not an iteration: the twin is run in windows of at most `window` cycles. A
burst is granted the bus only once every event it depends on is in the past (its request cycle
<= the twin's current cycle; requests are served in request order, ties by channel). A read
burst requested later lands at least `latency` cycles later; an output beat needs the departure
of the beat one FIFO depth earlier, whose burst was complete more than `window` cycles before,
and a window ends where a known but not yet requested write burst could start (advance_to's
return); so no beat of a window depends on anything not yet decided. Tests check that a window
of one cycle gives the same schedule. Bursts: reads of
min(burst_bytes, fifo_bytes) as the FIFO has room (at most `outstanding` in flight per channel);
writes of the same size or to the job's TLAST. Beats of a burst arrive (leave) evenly over its
data time; a read beat is usable `latency` after it crossed the bus.
"""
from __future__ import annotations

import math

import numpy as np

from .dram_banks import BankDram

INF = 1 << 62
CH_NAMES = ("pixels", "weights", "output", "skip")
_REGION = 256 << 20


class DmaCouplingError(ValueError):
    """A coupling that cannot be built (no beats, an impossible FIFO or burst size)."""


class _Channel:
    """One DMA channel's bursts (first beat, beats) and how far they have been granted."""

    def __init__(self, ch, bursts, write):
        self.ch, self.bursts, self.write = ch, bursts, write
        self.k = 0                 # next burst to grant
        self.lands = []            # land cycle of every granted burst (slot release)
        self.last_r = 0.0
        self.addr = ch * _REGION
        self.busy = 0.0            # cycles the channel's bursts held a bus


def _bursts(total, size):
    return [(s, min(size, total - s)) for s in range(0, total, size)]


class DmaCoupling:
    """Beat-level DMA/DRAM model for one job list. `hs` is the schedule to hand the twin
    (EngineState.hs); call `advance_to(cycle)` before each window of at most `window` cycles."""

    def __init__(self, hw, cfg, beats: dict, out_job_beats: list):
        B = hw.AXI_BYTES
        self.f = hw.frequency_mhz * 1e6
        self.B = B
        self.D = cfg.fifo_bytes // B
        bb = min(cfg.burst_bytes, cfg.fifo_bytes) // B
        if self.D < 1 or bb < 1:
            raise DmaCouplingError(f"fifo_bytes={cfg.fifo_bytes} and burst_bytes="
                                   f"{cfg.burst_bytes} must each hold at least one "
                                   f"{B}-byte beat")
        self.outstanding = max(1, int(cfg.outstanding))
        self.cfg = cfg
        self.bank = BankDram(cfg.banks) if cfg.dram_model == "bank" else None
        lat_ns = cfg.ctrl_latency_ns if self.bank is not None else cfg.latency_ns
        self.lat = lat_ns * 1e-9 * self.f                       # cycles
        self.bpc = (cfg.bw_gbs * 1e9 / self.f if self.bank is None else 0.0)   # bytes/cycle
        nout = int(sum(out_job_beats))
        G = max(int(beats.get(0, 0)), int(beats.get(1, 0)), int(beats.get(3, 0)), nout) \
            + self.D + 1
        self.hs = np.full((2, 4, G), INF, np.int64)
        self.hs[1] = -1
        self.hs[0, 2, :self.D] = 0                 # the empty output FIFO takes D beats
        wbursts, s = [], 0
        for n in out_job_beats:                    # a write burst never crosses a TLAST
            wbursts += [(s + a, m) for a, m in _bursts(int(n), bb)]
            s += int(n)
        self.chans = [_Channel(ch, _bursts(int(beats.get(ch, 0)), bb), False)
                      for ch in (0, 1, 3)] + [_Channel(2, wbursts, True)]
        self.bus_free = [0.0, 0.0]                 # read bus, write bus (the same when shared)
        self.window = max(1, min(int(self.lat) + 1, self.D - bb + 1))

    def _request(self, c):
        """Cycle at which channel c issues its next burst, or None while that depends on a
        handshake the twin has not made yet."""
        b0, n = c.bursts[c.k]
        taken = self.hs[1, c.ch]
        if c.write:
            t = taken[b0 + n - 1]                  # the burst's last beat is in the FIFO
            if t < 0:
                return None
            r = t + 1.0
        else:
            need = b0 + n - self.D                 # room: this many beats must have been taken
            r = 0.0
            if need > 0:
                t = taken[need - 1]
                if t < 0:
                    return None
                r = t + 1.0
        if c.k >= self.outstanding:
            r = max(r, c.lands[c.k - self.outstanding])
        return max(r, c.last_r)

    def advance_to(self, now) -> float:
        """Grant, in request order, every burst requested at or before cycle `now` (every
        handshake before `now` is recorded in hs[1]). Returns the cycle the next window must
        end by: a write burst already known but requested later (it waits for a slot) frees
        FIFO room from just after its request on, with no latency to hide behind."""
        while True:
            best, write_r = None, float(INF)
            for c in self.chans:
                if c.k < len(c.bursts):
                    r = self._request(c)
                    if r is None:
                        continue
                    if best is None or r < best[0]:
                        best = (r, c)
                    if c.write:
                        write_r = r
            if best is None or best[0] > now:
                return math.floor(write_r) + 1 if write_r < INF else float(INF)
            self._grant(*best)

    def _grant(self, r, c):
        b0, n = c.bursts[c.k]
        bus = 1 if (c.write and not self.cfg.rw_shared) else 0
        start = max(r, self.bus_free[bus])
        nbytes = n * self.B
        if self.bank is None:
            data_end = start + (nbytes / self.bpc if self.bpc != float("inf") else 0.0)
            bus_end = data_end
        else:
            c_end, d_end, _ = self.bank.serve(c.addr, nbytes, c.write, start / self.f)
            c.addr = c.ch * _REGION + (c.addr - c.ch * _REGION + nbytes) % _REGION
            bus_end, data_end = c_end * self.f, d_end * self.f
        self.bus_free[bus] = bus_end
        c.busy += bus_end - start
        step = (data_end - start) / n
        g = self.hs[0, c.ch]
        for i in range(n):                         # beat i crosses the bus at start + (i+1) step
            t = start + (i + 1) * step
            if c.write:
                if b0 + i + self.D < g.shape[0]:
                    g[b0 + i + self.D] = math.ceil(t - 1e-9)
            else:
                g[b0 + i] = math.ceil(t + self.lat - 1e-9)
        c.lands.append(data_end + self.lat)
        c.last_r = r
        c.k += 1

    def finish(self) -> float:
        """Grant what is left (after the twin's last handshake); the cycle the last output
        burst lands."""
        self.advance_to(float(INF))
        out = self.chans[-1]
        return max(out.lands) if out.lands else 0.0

    def busy_cycles(self) -> dict:
        return {CH_NAMES[c.ch]: c.busy for c in self.chans}

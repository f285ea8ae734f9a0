"""Digital twin of a whole inference: real C firmware + four DMA channels + the engine cycle model.

Implements architecture §11 (the system timing contract) exactly, like the SystemVerilog system
testbench (rtl/tb/tb_system.sv) does.

    res = run_system_model(export_dir, seed=1, valid_prob=1.0, ready_prob=1.0)
    res["firmware_run"]   # runtime.check.FirmwareRun -> compare_run checks every level

The engine, the DMA channels and the PRNGs are `dsf_sim.models.engine.EngineState` (numpy
arrays); `EngineState.advance` (numba) runs cycles until an edge with a DMA completion and returns.
At that edge Python delivers the events to the firmware (channel order 0, 1, 2, 3), polls
`dsf_fw_next` until WAIT/DONE and loads every DMA command's descriptor (active from the next cycle).
The firmware is polled at the edge ending cycle 0 (its first commands are active from cycle 1) and
at every edge with an event; while it waits, `dsf_fw_next` has no side effects, so this equals
polling at every edge.

Three modes (architecture §20):
  * cycle-accurate (default): every value computed cycle by cycle, as the RTL does;
  * fast (`fast=True`): the engine runs timing-only (every handshake and event at its exact
    cycle, the PRNGs included) and each job's output bytes are computed at once from the job's
    streams by vectorised exact integer arithmetic (engine/job_values.py) and
    written to DRAM at the edge of the job's output completion, before the firmware sees the
    event — the firmware reads the same bytes at the same cycle as in the per-cycle mode;
  * timing-only: cycles only, the engine's output data are zeros.
"""
from __future__ import annotations

import ctypes
import json
import os
import time

import numpy as np

from ..compiler.export import load_export
from ..errors import DsfError
from ..runtime.check import FirmwareRun, compare_run
from ..runtime.faults import make_fault
from ..runtime.sim_limits import limits
from ..runtime.fw_driver import (CH_NAMES, CMD_DMA, CMD_DONE, CMD_ERROR, CMD_WAIT, M2S_STREAM,
                                 DsfCmd, FirmwareError, build_firmware, firmware_view,
                                 load_firmware, memory_map, place_files)
from .engine import ERR_OVERFLOW, ERR_WATCHDOG, EVENT, LIMIT, EngineModelError, EngineState
from .engine.job_values import JobStreamError, PixelMemo, job_finish, job_sums, needs_skip
from .engine.dma import (C_ACT, C_BEATS, C_BUSY, C_BYTES, C_BYTESTOT, C_EVENT, C_IDX, C_OFF,
                         C_STALL)
from .engine.registers import index as reg_index
from .value_worker import ValueWorker

LAST_ACT = reg_index("harness", "last_act")
_MEMCMP = ctypes.CDLL(None).memcmp
_MEMCMP.argtypes = (ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t)
_MEMCMP.restype = ctypes.c_int

PROGRESS_MIN_JOBS = 200     # runs of this many jobs show a progress bar (stderr) after 2 s


class SystemWatchdogError(EngineModelError):
    """No handshake, DMA event or firmware command for `watchdog` cycles (architecture §11.5)."""


class FastPathError(EngineModelError):
    """The fast path cannot stand for the per-cycle twin on this run (architecture §20.2)."""


def true_macs(manifest: dict) -> tuple[int, list]:
    """MACs of the original layers (not the lowered ones), per bundle, as the export recorded
    them (compiler.export.bundle_macs)."""
    try:
        per = [int(bm["macs"]) for bm in manifest["bundles"]]
    except KeyError:
        raise DsfError("manifest.json is invalid: allowed one written by this dsf_sim version "
                       "(a bundle has no 'macs'; re-export)") from None
    return sum(per), per


class _SystemRun:
    """One inference on the twin: the firmware (ctypes), the DRAM image, the twin and the
    architecture §11 protocol at every edge with an event."""

    def __init__(self, export_dir, seed, valid_prob, ready_prob, timing_only, watchdog,
                 fast=False, fault=None, stretch=True):
        self.export_dir = os.path.abspath(export_dir)
        self.hw, self.manifest = load_export(self.export_dir)
        self.limits = limits(self.manifest, self.hw, valid_prob, ready_prob)
        if watchdog is None:
            watchdog = self.limits["watchdog"]
        self.fault = make_fault(fault, "run_system_model: fault")
        self.lib = lib = load_firmware(build_firmware(self.export_dir))
        self.mm = mm = memory_map(lib)
        self.total = int(mm["total"])
        B = self.hw.AXI_BYTES
        self.dram = np.zeros(self.total + 2 * B, dtype=np.uint8)  # + pad: a partial last M2S
        place_files(self.dram, mm, self.export_dir, self.manifest)   # (+ pad: beat reads past)
        lib.dsf_fw_init(self.dram.ctypes.data_as(ctypes.c_void_p), self.total)
        self.es = EngineState(self.hw, seed, valid_prob, ready_prob, timing_only or fast, watchdog,
                              stretch=stretch)
        self.timing_only, self.watchdog = timing_only, watchdog
        self.fast = fast and not timing_only
        self.streams = {}          # fast path: job key -> {"x"|"w"|"s": bytes at DMA start}
        self.sums = {}             # fast path: job key -> Future of its JobSums
        self.spec = {}             # fast path: job key -> (pixels assumed, Future of JobSums)
        self.pending = {}          # fast path: job key -> Future of its output bytes
        self.last_x = None         # fast path: (bundle, part, bytes) of the last pixel stream
        self.spec_hits = self.spec_misses = 0
        self.worker = ValueWorker() if self.fast else None
        self.job_values_s = 0.0    # fast path: seconds computing job values (either thread)
        self.job_wait_s = 0.0      # fast path: seconds the clock waited for them
        self.pixel_memo = PixelMemo()   # fast path: the worker's last decoded pixel stream
        self.cmd = DsfCmd()
        self.commands, self.events, self.fw_log, self.raw, self.skips = [], [], [], {}, {}
        self.inflight = [None] * len(CH_NAMES)   # per channel: the DMA command dict in flight
        self.stuck = None                        # the injected stuck transfer (never runs)
        self.last_cmd = None
        self.done_cycle = None

    def poll(self, t) -> bool:
        """Call dsf_fw_next until WAIT or DONE; every DMA command loads its channel (active from
        cycle t+1). True when the firmware is done."""
        lib = self.lib
        while True:
            k = lib.dsf_fw_next(ctypes.byref(self.cmd))
            if k == CMD_ERROR:
                raise FirmwareError(f"firmware error at cycle {t}: "
                                    f"{lib.dsf_fw_error_msg().decode()}")
            self.last_cmd = (t, k)      # formatted only for a watchdog report
            if k == CMD_WAIT:
                return False
            c = self.cmd.as_dict()
            if k == CMD_DONE:
                self.commands.append(dict(cycle=t, cmd="done"))
                self.fw_log.append(dict(cycle=t, cmd="done"))
                self.done_cycle = t
                return True
            if k != CMD_DMA:
                raise FirmwareError(f"cycle {t}: unknown firmware command kind {k}")
            ch = c["ch"]
            if self.inflight[ch] is not None:
                raise FirmwareError(f"cycle {t}: firmware started channel {ch} "
                                    f"({CH_NAMES[ch]}) while busy: {c}")
            if c["addr"] + c["bytes"] > self.total:
                raise FirmwareError(f"cycle {t}: DMA outside DRAM ({self.total} bytes): {c}")
            rec = dict(cycle=t, cmd="dma", ch=ch, chan=CH_NAMES[ch], addr=int(c["addr"]),
                       bytes=int(c["bytes"]), bundle=c["bundle"], it=c["it"], p=c["p"],
                       job=c["job"])
            self.commands.append(rec)
            self.fw_log.append(rec)
            self.inflight[ch] = rec
            if self.fault is not None and self.fault.starts(ch):
                rec["fault"] = self.fault.kind
                if self.fault.kind == "stuck":   # the DMA never moves it: the watchdog names it
                    self.stuck = rec
                    continue
            if self.fast and ch in M2S_STREAM:
                self._fast_source(rec)
            self.es.start(ch, rec["addr"], rec["bytes"])
            self.es.S[LAST_ACT] = t            # a firmware command is activity (watchdog)

    def deliver(self, t):
        """The completion events of the edge ending cycle t, in channel order."""
        for ch, nbytes in self.es.take_events():
            d = self.inflight[ch]
            self.inflight[ch] = None
            ev = dict(cycle=t, ch=ch, bytes=int(nbytes), bundle=d["bundle"], it=d["it"], p=d["p"])
            self.events.append(ev)
            self.fw_log.append(dict(ev, cmd="event", chan=CH_NAMES[ch], job=d["job"]))
            if self.fast:
                self._fast_event(t, ch, d, nbytes)
            if ch == 2 and not self.timing_only:
                self.raw[(d["bundle"], d["it"], d["p"])] = \
                    self.dram[d["addr"]:d["addr"] + nbytes].tobytes()
            if ch == 3 and not self.timing_only:     # the skip stream the engine was given
                self.skips[(d["bundle"], d["it"])] = \
                    self.dram[d["addr"]:d["addr"] + nbytes].tobytes()
            if d.get("fault"):                     # the DMA reports an error, not a completion
                self.lib.dsf_fw_dma_error(ch, self.fault.status)
            else:
                self.lib.dsf_fw_dma_done(ch, int(nbytes))

    def _fast_source(self, rec):
        """Fast path at a DMA start: keep the source bytes; a job's sums are computed by the
        value worker once its weights and pixels are known, its output once its skip stream is
        too (adding jobs), while the clock runs on. A job's weights start during the previous
        job (architecture §17.4 command order); when that job was of the same bundle and part,
        its sums are started at once on the last pixel stream (speculation), and kept only if
        the job's own pixel stream turns out equal, byte for byte."""
        key = (rec["bundle"], rec["it"], rec["p"])
        s = self.streams.setdefault(key, {})
        name = M2S_STREAM[rec["ch"]]
        a, n = rec["addr"], rec["bytes"]
        lx = self.last_x
        if name == "x" and lx is not None and len(lx[2]) == n and self._dram_equals(a, lx[2]):
            s["x"] = lx[2]           # a layer's passes re-read one pixel stream: no new copy
        else:
            s[name] = self.dram[a:a + n].tobytes()
        if name == "x":
            self.last_x = (rec["bundle"], rec["p"], s["x"])
        if key in self.pending:
            return
        if key not in self.sums:
            if name == "w" and "x" not in s:
                lx = self.last_x
                if lx is not None and lx[:2] == (rec["bundle"], rec["p"]):
                    self.spec[key] = (lx[2], self.worker.submit(self._sums, s["w"], lx[2]))
                return
            if "w" not in s or "x" not in s:
                return
            spec = self.spec.pop(key, None)
            if spec is not None and spec[0] == s["x"]:
                self.sums[key] = spec[1]
                self.spec_hits += 1
            else:
                if spec is not None:
                    spec[1].cancel()
                    self.spec_misses += 1
                self.sums[key] = self.worker.submit(self._sums, s["w"], s["x"])
        if "s" not in s and needs_skip(self.hw, self.es.tabs, s["w"]):
            return
        self.pending[key] = self.worker.submit(self._finish, self.sums.pop(key), s.get("s"))

    def _dram_equals(self, addr, b: bytes) -> bool:
        """dram[addr:addr + len(b)] == b, by memcmp (no copy: the fast path compares ~100 MB
        of sources per ResNet-50 frame)."""
        if addr + len(b) > self.dram.size:
            return False
        return _MEMCMP(self.dram.ctypes.data + addr, b, len(b)) == 0

    def _sums(self, w, x):
        t0 = time.perf_counter()
        try:
            return job_sums(self.hw, self.es.tabs, w, x, self.pixel_memo)
        finally:
            self.job_values_s += time.perf_counter() - t0

    def _finish(self, sums, skip):
        sums = self.worker.result(sums)
        t0 = time.perf_counter()
        try:
            return job_finish(self.hw, self.es.tabs, sums, skip)
        finally:
            self.job_values_s += time.perf_counter() - t0

    def close(self):
        if self.worker is not None:
            self.worker.shutdown()
            self.worker = None

    def _fast_event(self, t, ch, d, nbytes):
        """Fast path at a completion edge: an M2S source must not have changed while its DMA read
        it (the per-cycle twin would see the new bytes); an output completion writes the job's
        values, computed from its streams, where the S2M DMA put its (timing-only) beats."""
        key = (d["bundle"], d["it"], d["p"])
        a = d["addr"]
        if ch in M2S_STREAM:
            src = self.streams.get(key, {}).get(M2S_STREAM[ch])
            if src is not None and not (len(src) == d["bytes"] and self._dram_equals(a, src)):
                raise FastPathError(
                    f"cycle {t}: the firmware changed the {CH_NAMES[ch]} source of job (bundle "
                    f"{key[0]}, it {key[1]}, p {key[2]}) while its DMA read it; run the "
                    f"per-cycle twin (fast=False) to see what the engine gets")
            return
        if ch != 2:
            return
        s = self.streams.pop(key, {})
        if "w" not in s or "x" not in s:
            raise FastPathError(f"cycle {t}: output of job {key} completed without its "
                                f"{'weights' if 'w' not in s else 'pixels'} stream")
        t0 = time.perf_counter()
        fut = self.pending.pop(key, None)
        spec = self.spec.pop(key, None)
        if spec is not None:
            spec[1].cancel()
        self.sums.pop(key, None)
        try:
            if fut is None:      # (an adding job whose skip never came: named by job_finish)
                fut = self.worker.submit(self._finish,
                                         self.worker.submit(self._sums, s["w"], s["x"]),
                                         s.get("s"))
            out = self.worker.result(fut)
        except JobStreamError as e:
            raise FastPathError(f"cycle {t}: job (bundle {key[0]}, it {key[1]}, p {key[2]}): "
                                f"{e}") from None
        self.job_wait_s += time.perf_counter() - t0
        if len(out) != nbytes:
            raise FastPathError(
                f"cycle {t}: job {key}: the engine's timing path sent {nbytes} output bytes, its "
                f"streams' headers give {len(out)}; run the per-cycle twin (fast=False)")
        self.dram[a:a + nbytes] = np.frombuffer(out, dtype=np.uint8)

    def run(self, max_cycles):
        from tqdm import tqdm
        es, dram = self.es, self.dram
        advance, deliver, poll = es.advance, self.deliver, self.poll
        njobs = sum(len(b.get("jobs", ())) for b in self.manifest["bundles"])
        bar = tqdm(total=njobs, desc="twin", unit="job", leave=False,   # whole networks: seconds
                   disable=njobs < PROGRESS_MIN_JOBS, delay=2.0)
        try:
            self._run(max_cycles, es, dram, advance, deliver, poll, bar)
        finally:
            bar.close()

    def _run(self, max_cycles, es, dram, advance, deliver, poll, bar):
        advance(dram, 1)                # cycle 0: nothing active (the PRNGs step)
        finished = poll(0)              # the firmware is first polled at its end
        while not finished:
            st = advance(dram, max_cycles)
            t = es.cycle - 1            # the edge ending cycle t
            if st == EVENT:
                if es.C[2, C_EVENT] >= 0:
                    bar.update(1)       # a job's output completed
                deliver(t)
                finished = poll(t)
                continue
            if st in (ERR_WATCHDOG, LIMIT):
                raise SystemWatchdogError(_watchdog_report(
                    es, self.inflight, self.last_command(), t, self.watchdog,
                    (max_cycles, self.limits["expected_cycles"]) if st == LIMIT else None,
                    self.stuck))
            if st == ERR_OVERFLOW:
                d = self.inflight[2]
                raise EngineModelError(
                    f"cycle {t}: output DMA overflow: the engine sent more than the descriptor's "
                    f"{d['bytes']} bytes for job (bundle {d['bundle']}, it {d['it']}, p {d['p']})")
            raise EngineModelError(f"engine model: unexpected status {st} at cycle {t}")

    def last_command(self):
        """The firmware's last command (the one still in the command buffer), with its cycle."""
        if self.last_cmd is None:
            return None
        return dict(self.cmd.as_dict(), cycle=self.last_cmd[0])

    def cycles_per_bundle(self) -> list:
        """end(b) = cycle of the completion of bundle b's last output DMA; the last bundle also
        gets the cycles up to DONE (architecture §11)."""
        nb = self.lib.dsf_fw_n_bundles()
        ends = [-1] * nb
        for ev in self.events:
            if ev["ch"] == 2:
                ends[ev["bundle"]] = max(ends[ev["bundle"]], ev["cycle"])
        cpb, prev = [], -1
        for b in range(nb):
            cpb.append(ends[b] - prev)
            prev = ends[b]
        cpb[-1] += self.done_cycle - ends[-1]
        return [int(c) for c in cpb]

    def channels(self) -> dict:
        C = self.es.C
        return {name: dict(bytes=int(C[ch, C_BYTESTOT]), beats=int(C[ch, C_BEATS]),
                           busy_cycles=int(C[ch, C_BUSY]), stall_cycles=int(C[ch, C_STALL]))
                for ch, name in enumerate(CH_NAMES)}

    def firmware_run(self) -> FirmwareRun:
        """The firmware's view of every level (for compare_run)."""
        outs, pix, sm = firmware_view(self.lib, self.mm, self.dram, self.manifest)
        return FirmwareRun(self.export_dir, self.mm, self.fw_log, outs[-1].copy(), sm, outs, pix,
                           self.raw, self.skips)


def run_system_model(export_dir: str, seed: int = 1, valid_prob: float = 1.0,
                     ready_prob: float = 1.0, timing_only: bool = False,
                     watchdog: int | None = None, check: bool = False,
                     max_cycles: int | None = None, fast: bool = False, fault=None,
                     stretch: bool = True) -> dict:
    """Cycle-accurate run of a whole exported inference (architecture §11). Returns the §11
    result dict (schema shared with rtl_bridge.system_tb.run_system_tb) plus twin-only extras and
    "firmware_run" (a FirmwareRun; `check=True` also runs compare_run on it -- not meaningful with
    timing_only, whose engine output data are zeros). `fast=True`: the job-level fast path (same
    cycles, events and values; the module docstring). `watchdog` / `max_cycles` default to the
    budgets derived from the export and the handshake probabilities (runtime/sim_limits.py).
    `fault` ({"channel", "transfer", "kind"}, runtime/faults.py) makes one transfer fail: the
    firmware's report arrives as a FirmwareError (a stuck transfer as a SystemWatchdogError).
    `stretch=False` makes the timing-only clock (timing_only and fast) step every cycle instead of
    jumping over steady MAC stretches (engine/stretch.py): the same result, slower."""
    for name, v in (("timing_only", timing_only), ("fast", fast), ("check", check),
                    ("stretch", stretch)):
        if not isinstance(v, (bool, np.bool_)):
            raise DsfError(f"run_system_model: {name} = {v!r} is invalid: allowed True or False")
    if fast and timing_only:
        raise DsfError("run_system_model: fast = True is invalid with timing_only = True: allowed "
                       "one of them (fast computes every value, timing_only none)")
    t_wall = time.time()
    r = _SystemRun(export_dir, seed, valid_prob, ready_prob, timing_only, watchdog, fast, fault,
                   stretch)
    if max_cycles is None:
        max_cycles = r.limits["max_cycles"]
    try:
        if r.fast:        # one BLAS thread: the worker and the clock already use both cores
            from threadpoolctl import threadpool_limits
            with threadpool_limits(limits=1, user_api="blas"):
                r.run(max_cycles)
        else:
            r.run(max_cycles)
    finally:
        r.close()
    if r.fault is not None:
        r.fault.check_hit("run_system_model: fault")
    cycles_total = r.done_cycle + 1
    channels = r.channels()
    macs, macs_b = true_macs(r.manifest)
    wall = time.time() - t_wall
    run = r.firmware_run()
    if check and not timing_only:
        compare_run(run, r.hw, r.manifest)
    return {
        "sim": "model", "seed": int(seed), "valid_prob": float(valid_prob),
        "ready_prob": float(ready_prob), "cycles_total": int(cycles_total),
        "done_cycle": int(r.done_cycle), "cycles_per_bundle": r.cycles_per_bundle(),
        "events": r.events, "channels": channels, "commands": r.commands,
        # twin-only extras
        "timing_only": bool(timing_only), "expected_cycles": r.limits["expected_cycles"],
        "mode": "timing_only" if timing_only else ("fast" if fast else "cycle"),
        "job_values_s": round(r.job_values_s, 4), "job_wait_s": round(r.job_wait_s, 4),
        "job_speculated": [r.spec_hits, r.spec_misses],
        "macs": int(macs), "macs_per_bundle": macs_b,
        "pe_utilisation": macs / (r.hw.ROWS * r.hw.COLS * cycles_total),
        "jumped_cycles": r.es.reg("harness", "jumped"),
        "bytes_per_channel": {k: v["bytes"] for k, v in channels.items()},
        "sim_wall_s": wall, "cycles_per_s": cycles_total / wall if wall > 0 else 0.0,
        "firmware_run": run,
    }


def _watchdog_report(es, inflight, last_cmd, t, watchdog, limit, stuck=None):
    why = (f"max_cycles = {limit[0]} reached (8 x the {limit[1]} cycles expected for this "
           f"export and these handshake probabilities + 1 M; a loop, not a slow run)" if limit else
           f"no handshake, DMA event or firmware command for {watchdog} cycles")
    lines = [f"system model watchdog: {why}; stopped at the edge ending cycle {t}"]
    C, B = es.C, es.B
    act = False
    for ch in range(len(CH_NAMES)):
        d = inflight[ch]
        if d is None or not C[ch, C_ACT]:
            continue
        act = True
        done = int(C[ch, C_OFF]) if ch == 2 else min(int(C[ch, C_IDX]) * B, int(C[ch, C_BYTES]))
        lines.append(f"  channel {ch} ({CH_NAMES[ch]}) active: job (bundle {d['bundle']}, it "
                     f"{d['it']}, p {d['p']}), {done}/{d['bytes']} bytes done")
    if stuck is not None:
        act = True
        lines.append(f"  channel {stuck['ch']} ({stuck['chan']}) stuck: started at cycle "
                     f"{stuck['cycle']} for job (bundle {stuck['bundle']}, it {stuck['it']}, p "
                     f"{stuck['p']}), {stuck['bytes']} bytes at DRAM offset {stuck['addr']}, "
                     f"never completed")
    if not act:
        lines.append("  no DMA channel active (firmware waits on nothing in flight?)")
    lines.append(f"  firmware's last command: {last_cmd}")
    return "\n".join(lines)


def main(argv=None):
    import argparse
    ap = argparse.ArgumentParser(description="Cycle-accurate system model of an exported "
                                 "inference (firmware + DMA + engine, architecture §11).")
    ap.add_argument("export_dir")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--valid-prob", type=float, default=1.0)
    ap.add_argument("--ready-prob", type=float, default=1.0)
    ap.add_argument("--timing-only", action="store_true")
    ap.add_argument("--json", help="write the result dict (without firmware_run) here")
    a = ap.parse_args(argv)
    r = run_system_model(a.export_dir, a.seed, a.valid_prob, a.ready_prob, a.timing_only,
                         check=not a.timing_only)
    r.pop("firmware_run")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(r, f, indent=1)
    print(f"system model: cycles_total {r['cycles_total']}, per bundle {r['cycles_per_bundle']}, "
          f"PE utilisation {r['pe_utilisation']:.3f}, {r['cycles_per_s']:.0f} cycles/s"
          + ("" if a.timing_only else "; bit-exact at every level"))


if __name__ == "__main__":
    main()

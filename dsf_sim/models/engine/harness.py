"""The engine harness of rtl/tb/tb_engine.cpp around the twin (architecture §7.7).

Each source (pixels, weights, skip) is ONE M2S transfer, a continuous stream of all jobs (a job
without a skip stream contributes no skip beats); the output channel is re-armed
at every TLAST (active again in the next cycle, so ready == draw every cycle, as in
tb_engine.cpp). Same result dict as `rtl_bridge.engine_tb.run_engine_jobs_full`.
"""
from __future__ import annotations

import numpy as np

from ...compiler.geometry import packet_beats
from ...compiler.layout import job_beats, unpack_header, unpack_post_beats
from . import dma
from .core import ERR_WATCHDOG, EVENT, LIMIT, OK
from .state import STUCK_NAMES, EngineModelError, EngineState


def output_beats_of(hw, pixel_header, weight_beats) -> int:
    """Output beats a job announces: its pixel header's geometry and, for a finish job, the
    channel groups of the configuration its weight stream carries (architecture §3, §17.2)."""
    h = unpack_header(hw, pixel_header)
    cg = None
    wb = np.asarray(weight_beats, dtype=np.uint8).reshape(-1, hw.AXI_BYTES)
    if h["FINISH"] and len(wb) >= 1 + hw.POST_BEATS + hw.BIAS_BEATS:
        cg = unpack_post_beats(hw, wb[1:1 + hw.POST_BEATS + hw.BIAS_BEATS])[0]["CG_M1"] + 1
    return ((h["XN_M1"] + 1) * (h["XL_M1"] + 1) * (h["XW_M1"] + 1)
            * packet_beats(hw, h["KW2"], bool(h["FINISH"]), cg))


class JobImage:
    """DRAM image [all weight beats | all pixel beats | all skip beats | output area] of a job
    list: byte sizes of the three sources, the output base and capacity, the announced beats."""

    def __init__(self, hw, jobs, spare_beats=0):
        B = hw.AXI_BYTES
        srcs = ([], [], [])
        self.job_out = []          # output beats each job announces
        for job in jobs:
            streams = job_beats(job, B)
            for acc, (beats, _) in zip(srcs, streams):
                acc.append(beats)
            pb = streams[1][0]
            self.job_out.append(output_beats_of(hw, pb[0], streams[0][0]) if len(pb) else 0)
        nout = sum(self.job_out)
        W, P, S = (np.concatenate(a).reshape(-1) if a else np.zeros(0, np.uint8) for a in srcs)
        self.nout = max(nout, 1) + spare_beats
        self.nw, self.np, self.ns = W.size, P.size, S.size
        self.out_base = W.size + P.size + S.size
        self.out_cap = (self.nout + 1) * B
        self.dram = np.zeros(self.out_base + self.out_cap, np.uint8)
        self.dram[:self.out_base] = np.concatenate([W, P, S])

    def start_sources(self, es):
        """Load the three M2S descriptors (one transfer each) on an EngineState."""
        if self.np:
            es.start(0, self.nw, self.np)
        if self.nw:
            es.start(1, 0, self.nw)
        if self.ns:
            es.start(3, self.nw + self.np, self.ns)


def run_engine_jobs_model_full(hw, jobs, seed: int = 1, valid_prob: float = 1.0,
                               ready_prob: float = 1.0, timing_only: bool = False,
                               watchdog: int = 20000, max_cycles: int = 50_000_000,
                               check: bool = True, mutate=None, stretch: bool = True) -> dict:
    """Twin counterpart of engine_tb.run_engine_jobs_full (keys: ok, error, njobs, total_cycles,
    end_cycles, cycles_per_job, output_beats, beats, beat_cycles, pixel/weight_beats_accepted)."""
    jobs = list(jobs)
    B = hw.AXI_BYTES
    img = JobImage(hw, jobs)
    dram, nw, np_, nout = img.dram, img.nw, img.np, img.nout
    es = EngineState(hw, seed, valid_prob, ready_prob, timing_only, watchdog, nlog=nout,
                     mutate=mutate, stretch=stretch)
    img.start_sources(es)

    def arm_output():
        used = es.reg("harness", "nlog") * B
        es.start(2, img.out_base + used, img.out_cap - used)   # all that is left (never exceeded)

    arm_output()
    ends = []
    status = OK
    while len(ends) < len(jobs):
        status = es.advance(dram, max_cycles)
        if status == EVENT:
            for ch, _ in es.take_events():
                if ch == 2:
                    ends.append(es.cycle)          # cycle of the TLAST handshake + 1
                    arm_output()
            status = OK
            continue
        break
    cycle, n, done = es.cycle, es.reg("harness", "nlog"), len(ends)
    p_acc, w_acc = int(es.C[0, dma.C_BEATS]), int(es.C[1, dma.C_BEATS])
    s_acc = int(es.C[3, dma.C_BEATS])
    res = dict(ok=status == OK, error="", njobs=len(jobs), seed=es.seed32,
               valid_prob=float(valid_prob), ready_prob=float(ready_prob),
               total_cycles=ends[-1] if ends else cycle, output_beats=n,
               pixel_beats_accepted=p_acc, weight_beats_accepted=w_acc,
               skip_beats_accepted=s_acc, end_cycles=ends,
               cycles_per_job=[e - (ends[i - 1] if i else 0) for i, e in enumerate(ends)],
               channel_cycles=[[int(v) for v in es.C[ch, [dma.C_BUSY, dma.C_STALL]]]
                               for ch in range(dma.N_CHANNELS)],
               jumped_cycles=es.reg("harness", "jumped"))
    if status != OK:
        if status in (ERR_WATCHDOG, LIMIT):
            idle = cycle - es.reg("harness", "last_act")
            what = (f"no handshake for {idle} cycles" if status == ERR_WATCHDOG
                    else f"max_cycles={max_cycles} reached")
            res["error"] = (
                f"engine model watchdog: {what} at cycle {cycle} (stuck channel: "
                f"{STUCK_NAMES[es.stuck_channel()]}); pixels {p_acc}/{np_ // B} beats accepted, "
                f"weights {w_acc}/{nw // B}, skip {s_acc}/{img.ns // B}, output {n} beats, "
                f"m_axis_tvalid="
                f"{es.reg('output', 'dr_v')}, jobs done {done}/{len(jobs)}")
        else:
            res["error"] = (f"engine model: more output beats than the headers announce "
                            f"({nout}) at cycle {cycle}")
        if check:
            raise EngineModelError(res["error"])
    per_job, beat_cycles = [], []
    log_data, log_keep, log_last, log_cycle = es.log
    if n:
        lasts = np.flatnonzero(log_last[:n]) + 1
        starts = np.concatenate([[0], lasts[:-1]])
        for s, e in zip(starts, lasts):
            per_job.append((log_data[s:e].copy(), log_keep[s:e].copy(), log_last[s:e].copy()))
            beat_cycles.append(log_cycle[s:e].astype(np.uint32))
    res["beats"] = per_job
    res["beat_cycles"] = beat_cycles
    return res


def run_engine_jobs_model(hw, jobs, seed: int = 1, valid_prob: float = 1.0,
                          ready_prob: float = 1.0, timing_only: bool = False, **kw):
    """(output_beats, cycles_per_job) like rtl_bridge.engine_tb.run_engine_jobs; raises
    EngineModelError on the watchdog (naming the stuck channel and cycle)."""
    res = run_engine_jobs_model_full(hw, jobs, seed, valid_prob, ready_prob, timing_only, **kw)
    return res["beats"], list(res["cycles_per_job"])

"""The engine harness of rtl/tb/tb_engine.cpp around the twin (architecture §7.7).

Each source is ONE M2S transfer, a continuous stream of all jobs; the output channel is re-armed
at every TLAST (active again in the next cycle, so ready == draw every cycle, as in
tb_engine.cpp). Same result dict as `rtl_bridge.engine_tb.run_engine_jobs_full`.
"""
from __future__ import annotations

import numpy as np

from ...compiler.geometry import packet_beats
from ...compiler.layout import job_beats, unpack_header
from . import dma
from .core import ERR_WATCHDOG, EVENT, LIMIT, OK
from .state import STUCK_NAMES, EngineModelError, EngineState


def output_beats_of(hw, pixel_header) -> int:
    """Output beats a job announces in its pixel header (architecture §3)."""
    h = unpack_header(hw, pixel_header)
    return ((h["XN_M1"] + 1) * (h["XL_M1"] + 1) * (h["XW_M1"] + 1)
            * packet_beats(hw, h["KW2"]))


def job_dram(hw, jobs, spare_beats=0):
    """DRAM image [all weight beats | all pixel beats | output area] of a job list, and
    (weights bytes, pixels bytes, output base, output capacity, announced output beats)."""
    B = hw.AXI_BYTES
    ws, ps, nout = [], [], 0
    for job in jobs:
        (wb, _), (pb, _) = job_beats(job, B)
        ws.append(wb)
        ps.append(pb)
        nout += output_beats_of(hw, pb[0]) if len(pb) else 0
    W = np.concatenate(ws).reshape(-1) if ws else np.zeros(0, np.uint8)
    P = np.concatenate(ps).reshape(-1) if ps else np.zeros(0, np.uint8)
    nout = max(nout, 1) + spare_beats
    out_base = W.size + P.size
    out_cap = (nout + 1) * B
    dram = np.zeros(out_base + out_cap, np.uint8)
    dram[:W.size] = W
    dram[W.size:out_base] = P
    return dram, W.size, P.size, out_base, out_cap, nout


def run_engine_jobs_model_full(hw, jobs, seed: int = 1, valid_prob: float = 1.0,
                               ready_prob: float = 1.0, timing_only: bool = False,
                               watchdog: int = 20000, max_cycles: int = 50_000_000,
                               check: bool = True, mutate=None) -> dict:
    """Twin counterpart of engine_tb.run_engine_jobs_full (keys: ok, error, njobs, total_cycles,
    end_cycles, cycles_per_job, output_beats, beats, beat_cycles, pixel/weight_beats_accepted)."""
    jobs = list(jobs)
    B = hw.AXI_BYTES
    dram, nw, np_, out_base, out_cap, nout = job_dram(hw, jobs)
    es = EngineState(hw, seed, valid_prob, ready_prob, timing_only, watchdog, nlog=nout,
                     mutate=mutate)
    if np_:
        es.start(0, nw, np_)
    if nw:
        es.start(1, 0, nw)

    def arm_output():
        used = es.reg("harness", "nlog") * B
        es.start(2, out_base + used, out_cap - used)   # size: all that is left (never exceeded)

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
    res = dict(ok=status == OK, error="", njobs=len(jobs), seed=es.seed32,
               valid_prob=float(valid_prob), ready_prob=float(ready_prob),
               total_cycles=ends[-1] if ends else cycle, output_beats=n,
               pixel_beats_accepted=p_acc, weight_beats_accepted=w_acc, end_cycles=ends,
               cycles_per_job=[e - (ends[i - 1] if i else 0) for i, e in enumerate(ends)])
    if status != OK:
        if status in (ERR_WATCHDOG, LIMIT):
            idle = cycle - es.reg("harness", "last_act")
            what = (f"no handshake for {idle} cycles" if status == ERR_WATCHDOG
                    else f"max_cycles={max_cycles} reached")
            res["error"] = (
                f"engine model watchdog: {what} at cycle {cycle} (stuck channel: "
                f"{STUCK_NAMES[es.stuck_channel()]}); pixels {p_acc}/{np_ // B} beats accepted, "
                f"weights {w_acc}/{nw // B}, output {n} beats, m_axis_tvalid="
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

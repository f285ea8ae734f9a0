"""`dsf profile --exact LAYER`: one layer's jobs on the twin with valid/ready from the DMA/DRAM
model at cycle level, against the SoC model's estimate of the same layer (architecture §12.3.2).

Why: the SoC model's per-layer times (and so every fps figure with DRAM) rest on its slice
approximation of a job's stalls; this measures its error on real layers. Both sides see the same
thing: the layer alone, from an idle engine and empty FIFOs, the same SocConfig without a CPU;
the estimate's job cycles are the twin's own with ideal streams on that same job list.
"""
from __future__ import annotations

import copy

from ..models.dma_coupling import DmaCoupling
from ..models.engine.core import EVENT, LIMIT
from ..models.engine.harness import JobImage, run_engine_jobs_model_full
from ..models.engine.state import EngineModelError, EngineState
from ..models.soc_model import SocConfig, run_soc
from . import bench as Bn


def pick_layers(layers, names) -> list:
    """Layers by bundle name or index; an unknown one is a named error listing the choices."""
    by_name = {lp.name: lp for lp in layers}
    out = []
    for n in names:
        n = str(n).strip()
        if n in by_name:
            out.append(by_name[n])
        elif n.lstrip("-").isdigit() and 0 <= int(n) < len(layers):
            out.append(layers[int(n)])
        else:
            shown = ", ".join(lp.name for lp in layers[:12])
            raise ValueError(f"--exact {n!r}: no such layer (an index 0..{len(layers) - 1} or a "
                             f"name: {shown}{', ...' if len(layers) > 12 else ''})")
    return out


def representative(layers) -> dict:
    """The layer each bound shows most plainly (bound_cycles of the ideal-stream model): the
    most compute-bound (MAC beats over the largest stream), the most pixel-bound and the most
    output-bound (their beats over the MAC beats)."""
    def ratio(lp, k):
        bc = lp.bound_cycles
        if k == "mac":
            return bc["mac"] / max(1, bc["pixels"], bc["output"], bc["weights"], bc["skip"])
        return bc[k] / max(1, bc["mac"])
    return {k: max(layers, key=lambda lp: ratio(lp, k)) for k in ("mac", "pixels", "output")}


def coupled_run(hw, jobs, cfg, window=None, timing_only=True, max_cycles=None) -> dict:
    """The twin stepped in coupling windows (`window` cycles; default the coupling's own, the
    largest that is exact) with valid/ready from the DMA/DRAM model. Returns twin cycles, the
    cycle the last output burst lands, the number of windows, bus cycles per channel, the
    handshake schedule and the output beats (bytes, one array per job)."""
    B = hw.AXI_BYTES
    img = JobImage(hw, jobs)
    cpl = DmaCoupling(hw, cfg, {0: img.np // B, 1: img.nw // B, 3: img.ns // B}, img.job_out)
    es = EngineState(hw, 1, 1.0, 1.0, timing_only, watchdog=1 << 40, nlog=img.nout)
    es.hs = cpl.hs
    img.start_sources(es)
    if max_cycles is None:
        max_cycles = 10**10

    def arm_output():
        used = es.reg("harness", "nlog") * B
        es.start(2, img.out_base + used, img.out_cap - used)

    arm_output()
    done, windows = 0, 0
    while done < len(jobs):
        until = cpl.advance_to(es.cycle)
        if es.cycle >= max_cycles:
            raise EngineModelError(f"--exact: the coupled twin passed max_cycles={max_cycles} "
                                   f"with {done}/{len(jobs)} jobs done (DMA schedule stuck)")
        st = es.advance(img.dram, min(es.cycle + (window or cpl.window), until, max_cycles))
        windows += 1
        if st == EVENT:
            for ch, _ in es.take_events():
                if ch == 2:
                    done += 1
                    if done < len(jobs):
                        arm_output()
        elif st != LIMIT:
            raise EngineModelError(f"--exact: the coupled twin stopped with status {st} at "
                                   f"cycle {es.cycle}")
    n = es.reg("harness", "nlog")
    data, keep = es.log[0][:n], es.log[1][:n]
    return dict(cycles=es.cycle, land=cpl.finish(), windows=windows, busy=cpl.busy_cycles(),
                schedule=cpl.hs, output=data[keep].copy(), window=window or cpl.window)


def exact_check(lp, hw, cfg: SocConfig, window=None, others=None) -> dict:
    """Layer lp (a perf.bench LayerPerf with its mapping) coupled at cycle level vs estimated;
    `others` ({name: SocConfig}): more estimates of the same layer to compare."""
    if cfg.bw_gbs == float("inf") and cfg.dram_model == "transaction":
        raise ValueError("--exact needs a DRAM with finite bandwidth (ideal DRAM leaves nothing "
                         "to check: the twin's own cycles are exact)")
    f = hw.frequency_mhz * 1e6
    jobs = [Bn.job_streams(hw, g) for g in Bn.bundle_geoms(lp)]
    ideal = run_engine_jobs_model_full(hw, jobs, timing_only=True)
    nbytes = sum(sum(b) for b in lp.job_bytes)
    per_cycle = (cfg.banks.peak_gbs if cfg.dram_model == "bank" else cfg.bw_gbs) * 1e9 / f
    budget = int(10 * ideal["total_cycles"] + 20 * nbytes / per_cycle + 10**6)
    run = coupled_run(hw, jobs, cfg, window, max_cycles=budget)
    cyc, land = run["cycles"], run["land"]
    one = copy.copy(lp)
    one.job_cycles = list(ideal["cycles_per_job"])
    one.cycles = int(sum(one.job_cycles))

    def estimate(c):
        c = copy.copy(c)
        c.cpu = None
        return run_soc([one], hw, c, record_timeline=False).layer_s[0]

    exact_s = max(cyc, land) / f
    est_s = estimate(cfg)
    return dict(idx=lp.idx, name=lp.name, bound=lp.bound, jobs=len(jobs),
                dram=cfg.dram_model, ideal_us=ideal["total_cycles"] / f * 1e6,
                exact_us=float(exact_s * 1e6), estimate_us=float(est_s * 1e6),
                error_pct=float(100.0 * (est_s - exact_s) / exact_s),
                twin_cycles=int(cyc), windows=run["windows"], window=run["window"],
                bus_us={k: float(v / f * 1e6) for k, v in run["busy"].items()},
                others_error_pct={k: float(100.0 * (estimate(c) - exact_s) / exact_s)
                                  for k, c in (others or {}).items()})

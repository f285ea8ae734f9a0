"""verify_inference: run an exported model with the real C firmware on an engine, check every level.

SIM='verilator': the firmware (C, via ctypes, `dsf_sim.firmware`) issues its DMA command stream;
every engine job (bundle, iteration, pass) runs on the Verilator-built RTL (`rtl_bridge.engine_tb`)
with the seeded valid/ready PRNG of docs §5; the firmware post-processes the RTL's raw output.
SIM='model': the same, with the numba cycle model (`models.engine_model`) instead of the RTL; it is
cycle-identical to the RTL, so both report the same cycles per job.
Every level (packed inputs, raw engine streams, bundle outputs, final output, softmax) is compared
bit-exactly with the export's reference vectors; the first mismatch raises MismatchError with its
coordinates. Cycles are the RTL's per job (jobs run one at a time; DMA/DRAM/CPU time is the SoC
model's business, see docs).
"""
from __future__ import annotations

import json
import os
import tempfile
import time

from .errors import DsfError

SIMS = ("verilator", "model")


def job_engine(hw, sim, seed, valid_prob, ready_prob, log, timing_only=False):
    """Engine callback for dsf_sim.firmware.run_firmware: each job runs on the RTL (Verilator)
    or on the numba cycle model, with the same per-job PRNG seed, so both give identical cycles."""
    import numpy as np

    if sim == "verilator":
        from .rtl_bridge.engine_tb import run_engine_jobs as run_jobs
    else:
        from .models.engine_model import run_engine_jobs_model

        def run_jobs(hw, jobs, **kw):
            return run_engine_jobs_model(hw, jobs, timing_only=timing_only, **kw)

    def engine(info, weights_bytes, pixel_bytes):
        w = np.frombuffer(weights_bytes, dtype=np.uint8).reshape(-1, hw.AXI_BYTES)
        x = np.frombuffer(pixel_bytes, dtype=np.uint8).reshape(-1, hw.AXI_BYTES)
        job_seed = (seed * 1000003 + len(log)) & 0xFFFFFFFF
        beats, cycles = run_jobs(hw, [(w, x)], seed=job_seed, valid_prob=valid_prob,
                                 ready_prob=ready_prob)
        data, keep, last = beats[0]
        log.append(dict(bundle=info["bundle"], it=info["it"], p=info["p"], seed=job_seed,
                        cycles=int(cycles[0]), beats=int(len(data))))
        return data.tobytes()

    return engine


def verify(model, SIM="verilator", SIM_PATH="", seed=0, out_dir=None, x=None, hw=None,
           valid_prob=None, ready_prob=None, result_json=None):
    if SIM not in SIMS:
        raise DsfError(f"verify_inference: SIM = {SIM!r} is invalid: allowed one of {SIMS}")
    from .firmware import run_firmware

    hw = hw or getattr(model, "_dsf_last_hw", None)
    if hw is None:
        raise DsfError("verify_inference: hw = None is invalid: allowed a Hardware "
                       "(call export_inference(hw=...) first or pass hw=)")
    out_dir = out_dir or getattr(model, "_dsf_last_out", None) or tempfile.mkdtemp(prefix="dsf_v_")
    if not os.path.exists(os.path.join(out_dir, "manifest.json")):
        model.export_inference(x=model.random_input if x is None else x, hw=hw, out_dir=out_dir)
    vp = hw.valid_prob if valid_prob is None else valid_prob
    rp = hw.ready_prob if ready_prob is None else ready_prob
    log = []
    t0 = time.time()
    run = run_firmware(out_dir, engine=job_engine(hw, SIM, seed, vp, rp, log), check=True,
                       jsonl=os.path.join(out_dir, "commands.jsonl"))
    per_bundle = {}
    for j in log:
        per_bundle[j["bundle"]] = per_bundle.get(j["bundle"], 0) + j["cycles"]
    res = {
        "sim": SIM, "seed": seed, "valid_prob": vp, "ready_prob": rp, "bit_exact": True,
        "jobs": log, "cycles_per_bundle": [per_bundle.get(b, 0) for b in range(len(model.bundles))],
        "cycles_total": sum(per_bundle.values()), "wall_s": round(time.time() - t0, 3),
        "final_output": run.output.tolist(),
    }
    path = result_json or os.path.join(out_dir, f"verify_{SIM}_seed{seed}.json")
    with open(path, "w") as f:
        json.dump(res, f, indent=1)
    print(f"verify_inference[{SIM}, seed {seed}, valid {vp}, ready {rp}]: bit-exact at every level; "
          f"cycles per bundle {res['cycles_per_bundle']}, total {res['cycles_total']} -> {path}")
    return res

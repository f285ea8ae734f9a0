"""Run jobs through the RTL engine (Verilator harness rtl/tb/tb_engine.cpp, architecture §7.7).

`run_engine_jobs(hw, jobs, seed, valid_prob, ready_prob)` builds the harness for the hardware
(rtl_bridge.verilator: content-hashed, cached), streams the jobs' weights and pixels beats
through the engine with the architecture §5 handshake PRNG and returns every output beat and the
cycles per job.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from ..compiler.layout import job_beats
from .verilator import TB_DIR, VerilatorError, build, prng_args, read_json, run

TB_CPP = TB_DIR / "tb_engine.cpp"


def build_engine_tb(hw, rtl_texts=None, defines=()) -> Path:
    """The tb_engine executable for this hardware (built once per content hash). rtl_texts:
    {file name: text} replacing or adding engine sources (e.g. the ASIC build's SRAM wrapper)."""
    return build("engine", hw, "dsf_engine", tb_files=[TB_CPP], exe="tb_engine",
                 tb_texts=rtl_texts, defines=defines) / "obj" / "tb_engine"


def write_job_file(path, jobs, axi_bytes: int) -> None:
    """jobs.bin of the harness (tb_common.h load_job_file): weights, pixels and skip beats, TLAST
    on the last beat of every job's transfer."""
    acc = ([], [], [])
    for job in jobs:
        for out, (beats, keep) in zip(acc, job_beats(job, axi_bytes)):
            if not len(beats):
                continue
            last = np.zeros((len(beats), 1), dtype=np.uint8)
            last[-1] = 1
            out.append(np.concatenate([beats, keep.astype(np.uint8), last], axis=1))
    W, P, S = (np.concatenate(a) if a else np.zeros((0, 2 * axi_bytes + 1), np.uint8)
               for a in acc)
    with open(path, "wb") as f:
        f.write(b"DSFJ")
        f.write(np.array([axi_bytes, len(jobs), len(W), len(P), len(S)], dtype="<u4").tobytes())
        for a in (W, P, S):
            f.write(np.ascontiguousarray(a).tobytes())


def read_output_file(path, axi_bytes: int):
    rec = np.dtype([("cycle", "<u4"), ("data", np.uint8, (axi_bytes,)),
                    ("keep", np.uint8, (axi_bytes,)), ("last", np.uint8)])
    return np.fromfile(path, dtype=rec)


def run_engine_jobs_full(hw, jobs, seed: int = 1, valid_prob: float = 1.0,
                         ready_prob: float = 1.0, watchdog: int = 20000,
                         max_cycles: int = 50_000_000, check: bool = True,
                         timeout: float = 3600, rtl_texts=None, defines=()) -> dict:
    """Like run_engine_jobs but returns the whole result dict (also 'beats': per-job records,
    'beat_cycles': the cycle of every output beat). rtl_texts / defines: engine sources replaced
    or added, Verilator defines (build_engine_tb)."""
    nb = hw.AXI_BYTES
    exe = build_engine_tb(hw, rtl_texts, defines)
    with tempfile.TemporaryDirectory(prefix="dsf_engine_") as tmp:
        jf, of, rf = (os.path.join(tmp, n) for n in ("jobs.bin", "out.bin", "result.json"))
        write_job_file(jf, jobs, nb)
        r = run([exe, jf, of, rf, *prng_args(seed, valid_prob, ready_prob), watchdog,
                 max_cycles], "tb_engine", timeout)
        res = read_json(rf, "tb_engine", r.stderr)
        res.update(returncode=r.returncode, stderr=r.stderr, seed=int(seed) & 0xFFFFFFFF,
                   valid_prob=float(valid_prob), ready_prob=float(ready_prob))
        recs = read_output_file(of, nb) if os.path.exists(of) else None
    if check and r.returncode != 0:
        raise VerilatorError(f"tb_engine failed (rc={r.returncode}): {r.stderr.strip()}")
    per_job, cycles = [], []
    if recs is not None and len(recs):
        ends = np.flatnonzero(recs["last"]) + 1
        starts = np.concatenate([[0], ends[:-1]])
        for s, e in zip(starts, ends):
            seg = recs[s:e]
            per_job.append((seg["data"].copy(), seg["keep"].astype(bool), seg["last"].astype(bool)))
            cycles.append(recs["cycle"][s:e].copy())
    res["beats"], res["beat_cycles"] = per_job, cycles
    return res


def run_engine_jobs(hw, jobs, seed: int = 1, valid_prob: float = 1.0, ready_prob: float = 1.0,
                    **kw):
    """Stream `jobs` through the RTL engine.

    jobs: list of (weights, pixels[, skip]) / {"weights":..., "pixels":...[, "skip"]}; each
          stream is a uint8 beats
          array [n, AXI_WIDTH/8] incl. the header beat, or a (beats, keep) pair as returned by
          `compiler.layout.pack_weights_job / pack_pixels_job`.
    Returns (output_beats, cycles_per_job): output_beats[j] = (data uint8[n, B], keep bool[n, B],
    last bool[n]) exactly like `layout.pack_output_job`; cycles_per_job[j] = end cycle of job j
    minus end cycle of job j-1 (end cycle = index of the cycle whose TLAST handshake ends the job
    + 1, counted from the first cycle after reset release).
    """
    res = run_engine_jobs_full(hw, jobs, seed, valid_prob, ready_prob, **kw)
    return res["beats"], list(res["cycles_per_job"])

"""The one case list of the test suite, and the levels every case runs on (PyMTL3 style).

Engine cases (hardware configuration x job sequence) run on the levels
  reference  compiler.layout.engine_job_reference (values only: what the engine must compute),
  twin       models.engine (numba, cycle-accurate),
  rtl        rtl_bridge.engine_tb (Verilator).
System cases (zoo model x hardware, random models) run on
  reference  the C firmware with the functional reference engine (runtime.fw_driver),
  twin       models.system_model (firmware + DMA + twin),
  rtl        rtl_bridge.system_tb (SystemVerilog testbench + DPI firmware).
Tests parametrise over cases and levels and compare values with the reference and cycles
between twin and RTL. Model definitions live in zoo.py.
"""
from __future__ import annotations

import functools
from dataclasses import replace

import numpy as np

from dsf_sim.compiler import layout as L
from dsf_sim.compiler.geometry import JobGeometry
from dsf_sim.compiler.hardware import Hardware

ENGINE_LEVELS = ("twin", "rtl")
SYSTEM_LEVELS = ("reference", "twin", "rtl")

ENGINE_CONFIGS = {
    # 4x8, AXI 64, 4-bit words
    "4x8_axi64": dict(processing_elements=(4, 8), axi_width=64, bits_input=4, bits_weights=4,
                      bits_sum=16, max_kernel_size=5, max_image_size=32, max_batch_size=4,
                      max_channels_in=64, ram_weights_depth=20, ram_edges_depth=64),
    # 8x24, AXI 128, 8-bit words: WB = 2 beats per weight row, 32-bit output words
    "8x24_axi128": dict(processing_elements=(8, 24), axi_width=128, bits_input=8, bits_weights=8,
                        bits_sum=20, max_kernel_size=7, max_image_size=32, max_batch_size=4,
                        max_channels_in=64, ram_weights_depth=21, ram_edges_depth=64),
    # small 4x6, AXI 32, 8-bit: PB = 2 beats per pixel column, WB = 2, OB up to 24; synchronous
    # reset (the others are asynchronous)
    "4x6_axi32_sync": dict(processing_elements=(4, 6), axi_width=32, bits_input=8,
                           bits_weights=8, bits_sum=18, max_kernel_size=3, max_image_size=16,
                           max_batch_size=2, max_channels_in=16, ram_weights_depth=9,
                           ram_edges_depth=16, async_resetn=False),
    # 16-bit words, AXI 32: 2 words per beat, 40-bit sums in 64-bit raw words (two beats each)
    "4x8_axi32_w16": dict(processing_elements=(4, 8), axi_width=32, bits_input=16,
                          bits_weights=16, bits_sum=40, max_kernel_size=5, max_image_size=16,
                          max_batch_size=2, max_channels_in=16, ram_weights_depth=10,
                          ram_edges_depth=16, target_cpu_int_bits=64),
}


@functools.lru_cache(maxsize=None)
def engine_hw(name) -> Hardware:
    return Hardware(**ENGINE_CONFIGS[name])


def random_post(hw, rng, add: bool, wild: bool = False) -> dict:
    """A random output-pipeline configuration (architecture §17.1). Any value is a valid test:
    the reference level (compiler.post.finish_words) is the hardware's arithmetic, wraps and
    clamps included; `wild` draws from the fields' whole ranges."""
    from dsf_sim.compiler.hardware import POST_FIELDS, POST_SIGNED
    if wild:
        cfg = {}
        for n, w in POST_FIELDS:
            cfg[n] = int(rng.integers(-(1 << (w - 1)), 1 << (w - 1))) if n in POST_SIGNED \
                else int(rng.integers(0, 1 << w))
    else:
        X = hw.X_BITS
        lo1 = int(rng.choice([0, -(1 << (X - 1)), -int(rng.integers(1, 1 << 12))]))
        hi1 = int(rng.choice([(1 << X) - 1, (1 << (X - 1)) - 1, int(rng.integers(0, 1 << 12))]))
        cfg = dict(SH_CORE=int(rng.integers(0, 4)), SH_BIAS=int(rng.integers(0, 7)),
                   A1=int(rng.integers(0, 3)), B1=int(rng.integers(0, 14)),
                   K1=int(rng.integers(0, 4)), LO1=lo1, HI1=max(hi1, lo1),
                   SKIP_SIGNED=int(rng.integers(0, 2)), SH_ACT=int(rng.integers(0, 3)),
                   SH_SKIP=int(rng.integers(0, 3)), A2=int(rng.integers(0, 2)),
                   B2=int(rng.integers(0, 4)), K2=int(rng.integers(0, 3)),
                   LO2=-(1 << (X - 1)) if rng.integers(0, 2) else 0,
                   HI2=(1 << (X - 1)) - 1, CG_M1=hw.COLS - 1)    # every group (clamped)
    cfg["ADD"] = int(add)
    return cfg


def _garbage_padding(hw, g, data, rng):
    """A skip stream whose bits past each packet's ROWS*CG words are random: the engine must
    ignore them (a skip producer's DRAM region holds whatever its DMA left there)."""
    B, ob = hw.AXI_BYTES, g.OB(hw)
    pk = np.unpackbits(data.reshape(-1, ob * B), axis=1, bitorder="little")
    used = hw.ROWS * g.CG(hw) * hw.X_BITS
    pk[:, used:] = rng.integers(0, 2, pk[:, used:].shape)
    return np.packbits(pk, axis=1, bitorder="little").reshape(-1, B)


def make_job(hw, rng, KH, KW, CM, XN, XH, XW, xs, extreme=False, finish=None, zero=False):
    """One job with random (or most negative, or with `zero` all-zero) weights and pixels, its
    streams and the expected output streams (the reference level). finish: None (raw sums) or
    {"add": bool, "wild": bool, "cfg": dict} (the engine finishes the job with that or a random
    configuration, random bias and skip stream)."""
    g = JobGeometry(KH, KW, CM, XN, XH, XW, bool(xs), finish=finish is not None,
                    add=bool(finish and finish.get("add")))
    g.check(hw)
    co = g.CO_PRL(hw)
    kb, xb = hw.K_BITS, hw.X_BITS
    if extreme:  # most negative weights and pixels: exercises wrap-around and sign extension
        w = np.full((KH, KW, CM, co), -(1 << (kb - 1)), dtype=np.int64)
        x = np.full((XN, XH, XW, CM), -(1 << (xb - 1)) if xs else (1 << xb) - 1, dtype=np.int64)
    else:
        w = rng.integers(-(1 << (kb - 1)), 1 << (kb - 1), (KH, KW, CM, co))
        lo, hi = (-(1 << (xb - 1)), 1 << (xb - 1)) if xs else (0, 1 << xb)
        x = rng.integers(lo, hi, (XN, XH, XW, CM))
    if zero:
        w = np.zeros_like(w)
    y = L.engine_job_reference(hw, g, x, w)
    if finish is None:
        return dict(geom=g, weights=L.pack_weights_job(hw, g, w),
                    pixels=L.pack_pixels_job(hw, g, x), expected=L.pack_output_job(hw, g, y))
    cfg = dict(finish["cfg"], ADD=int(g.add)) if "cfg" in finish else \
        random_post(hw, rng, g.add, finish.get("wild", False))
    if "cfg" not in finish and not finish.get("wild"):
        # the packets' channel groups (§17.2): all of them, or a last iteration's fewer
        cfg["CG_M1"] = co - 1 if rng.integers(0, 2) else int(rng.integers(0, co))
    g = replace(g, cg=cfg["CG_M1"] + 1)          # (a wild CG_M1 >= CO_PRL is clamped)
    bb = hw.B_BITS
    bias = rng.integers(-(1 << (bb - 1)), 1 << (bb - 1), co)
    skip_data, skip = None, None
    if g.add:
        words = rng.integers(0, 1 << xb, (XN, g.XL(hw) * hw.ROWS, XW, co))
        skip_data = _garbage_padding(hw, g, L.pack_output_job(hw, g, words)[0], rng)
        skip = L.skip_words_of_stream(hw, g, skip_data, bool(cfg["SKIP_SIGNED"]))
    f = L.finish_job_reference(hw, g, y, cfg, bias, skip)
    return dict(geom=g, weights=L.pack_weights_job(hw, g, w, (cfg, bias)),
                pixels=L.pack_pixels_job(hw, g, x), skip=skip_data, cfg=cfg,
                expected=L.pack_output_job(hw, g, f))


def random_geometry(hw, rng):
    khs = [k for k in (1, 3, 5, 7) if k <= hw.KH_MAX]
    kws = [k for k in (1, 3, 5) if k <= min(hw.KW_MAX, hw.COLS)]
    KH, KW = int(rng.choice(khs)), int(rng.choice(kws))
    CM = int(rng.integers(1, hw.RAM_WEIGHTS_DEPTH // KH + 1))
    XN = int(rng.integers(1, min(2, hw.XN_MAX) + 1))
    XH = int(rng.integers(1, min(2 * hw.ROWS + 3, hw.XH_MAX) + 1))
    XW = int(rng.integers(1, min(5, hw.XW_MAX) + 1))
    return KH, KW, CM, XN, XH, XW, int(rng.integers(0, 2))


FINISH_SEQS = (6, 7, 8)     # sequences of finish jobs (mixed with raw ones)


def job_sequence(hw, seq_id):
    """Jobs of an engine case; sequence 0 pins the corner cases, 1..5 are random raw jobs,
    6..8 random mixes of raw, finish and adding finish jobs (8: configurations from the fields'
    whole ranges)."""
    rng = np.random.default_rng(1000 + seq_id)
    if seq_id in FINISH_SEQS:
        kinds = [None, {"add": False}, {"add": True}, {"add": True}, {"add": False}, None,
                 {"add": True}]
        jobs = []
        for k in kinds:
            if k is not None and seq_id == 8:
                k = dict(k, wild=True)
            jobs.append(make_job(hw, rng, *random_geometry(hw, rng), finish=k))
        return jobs
    if seq_id == 0:
        khm, kwm = hw.KH_MAX, min(hw.KW_MAX, hw.COLS)
        geoms = [
            (khm, 1, hw.RAM_WEIGHTS_DEPTH // khm, 1, hw.ROWS + 1, 1, 1),    # XW=1, CM at RAM limit
            (1, kwm, hw.RAM_WEIGHTS_DEPTH, 2, 2 * hw.ROWS - 1, 3, 0),        # KW max, KH=1
            (3 if khm >= 3 else 1, kwm, 2, 1, 3, 4, 1),                       # non-square
            (1, 1, 1, 1, 1, 1, 0),                                            # smallest job
        ]
        jobs = [make_job(hw, rng, *g) for g in geoms]
        jobs.append(make_job(hw, rng, 3 if khm >= 3 else 1, 3 if kwm >= 3 else 1, 2, 1,
                             hw.ROWS + 2, 4, 1, extreme=True))
        return jobs
    return [make_job(hw, rng, *random_geometry(hw, rng)) for _ in range(4)]


def streams(jobs):
    return [(j["weights"], j["pixels"], j.get("skip")) for j in jobs]


def run_engine(level, hw, jobs, seed=1, valid_prob=1.0, ready_prob=1.0, **kw) -> dict:
    """Result dict (beats, cycles_per_job, beat_cycles, ...) of the jobs on one level."""
    if level == "twin":
        from dsf_sim.models.engine import run_engine_jobs_model_full
        return run_engine_jobs_model_full(hw, streams(jobs), seed, valid_prob, ready_prob, **kw)
    if level == "rtl":
        from dsf_sim.rtl_bridge.engine_tb import run_engine_jobs_full
        return run_engine_jobs_full(hw, streams(jobs), seed, valid_prob, ready_prob, **kw)
    raise ValueError(level)


def check_outputs(jobs, beats):
    """Output beats equal the reference level's, job by job."""
    assert len(beats) == len(jobs), f"{len(beats)} jobs finished, expected {len(jobs)}"
    for j, (job, got) in enumerate(zip(jobs, beats)):
        ed, ek, el = job["expected"]
        gd, gk, gl = got
        g = job["geom"]
        assert gd.shape == ed.shape, f"job {j} {g}: {gd.shape[0]} beats, expected {ed.shape[0]}"
        if not np.array_equal(gd, ed):
            bad = np.argwhere(gd != ed)[0]
            raise AssertionError(f"job {j} {g}: data differs first at beat {bad[0]} byte {bad[1]}")
        assert np.array_equal(gk, ek), f"job {j} {g}: TKEEP differs"
        assert np.array_equal(gl, el), f"job {j} {g}: TLAST differs"


# ----------------------------------------------------------------------------- system level
SYSTEM_CONFIGS = {"4x8_axi64": dict(rows=4, cols=8, axi=64),
                  "8x24_axi128": dict(rows=8, cols=24, axi=128)}
RANDOM_SEEDS = [2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14]
RANDOM_RTL_SEEDS = [3, 5, 16]
SYSTEM_KEYS = ("cycles_total", "done_cycle", "cycles_per_bundle", "events", "channels",
               "commands")


def export_zoo(name, cfg, out_dir, **hwkw):
    """Export zoo model `name` on SYSTEM_CONFIGS[cfg] (+ overrides) into out_dir; (hw, model)."""
    from zoo import ZOO, small_hw
    hw = small_hw(**{**SYSTEM_CONFIGS[cfg], **hwkw, "data_dir": str(out_dir)})
    m = ZOO[name](hw, xn=3 if name == "mlp" else 1)
    m.export_inference(x=m.random_input, hw=hw, out_dir=str(out_dir))
    return hw, m


def export_zoo_cases(tmp_path_factory, cases, prefix=""):
    """{(name, cfg): export folder} of every zoo case, each in its own pytest temp folder (for
    module-scoped fixtures)."""
    out = {}
    for name, cfg in cases:
        d = tmp_path_factory.mktemp(f"{prefix}{name}_{cfg}")
        export_zoo(name, cfg, d)
        out[name, cfg] = str(d)
    return out


def export_random(seed, out_dir):
    from zoo import random_model
    hw, m = random_model(np.random.default_rng(seed))
    m.export_inference(x=m.random_input, hw=hw, out_dir=str(out_dir))
    return hw, m


def run_system(level, export_dir, seed=1, valid_prob=1.0, ready_prob=1.0, **kw) -> dict:
    """Whole inference of an export on one level; "run" is the FirmwareRun every level checks
    with runtime.check.compare_run (the reference level has no cycles)."""
    if level == "reference":
        from dsf_sim.runtime.fw_driver import run_firmware
        return {"run": run_firmware(str(export_dir), check=False)}
    if level == "twin":
        from dsf_sim.models.system_model import run_system_model
        r = run_system_model(str(export_dir), seed, valid_prob, ready_prob, **kw)
        r["run"] = r.pop("firmware_run")
        return r
    if level == "rtl":
        from dsf_sim.rtl_bridge.system_tb import run_system_tb
        return run_system_tb(str(export_dir), seed, valid_prob, ready_prob, check=False, **kw)
    raise ValueError(level)


def dma_list(commands):
    return [{k: c[k] for k in ("ch", "addr", "bytes", "bundle", "it", "p", "job")}
            for c in commands if c["cmd"] == "dma"]

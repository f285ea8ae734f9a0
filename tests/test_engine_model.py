"""Cycle model (dsf_sim/models/engine_model.py) vs the RTL engine (Verilator harness).

Same job sequences as tests/test_rtl_engine.py. For every (config, sequence, seed, prob): the
model's output beats (data, keep, last), the cycle of every output beat and the cycles per job equal
the RTL's exactly, and timing_only=True gives the same cycles. Model-only tests (no verilator):
outputs == layout reference, docs §7.6 steady-state cost, watchdog message.
"""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from dsf_sim.models.engine_model import (EngineModelError, run_engine_jobs_model,
                                         run_engine_jobs_model_full)
from test_rtl_engine import (CONFIGS, check_outputs, hw_of, job_sequence, make_job,
                             steady_state_cycles)

needs_verilator = pytest.mark.skipif(shutil.which("verilator") is None,
                                     reason="verilator not installed")

HANDSHAKES = [(1.0, 1), (1.0, 2), (1.0, 3), (0.1, 1), (0.1, 2), (0.1, 3)]
MIXED = [(7, 1.0, 0.1), (7, 0.1, 1.0), (7, 0.5, 0.3)]


def _streams(jobs):
    return [(j["weights"], j["pixels"]) for j in jobs]


def assert_same(rtl, model, what):
    assert model["cycles_per_job"] == rtl["cycles_per_job"], (
        f"{what}: cycles per job model {model['cycles_per_job']} != RTL {rtl['cycles_per_job']}")
    assert len(model["beats"]) == len(rtl["beats"]), f"{what}: number of jobs differs"
    for j, (m, r) in enumerate(zip(model["beats"], rtl["beats"])):
        for k, name in enumerate(("data", "keep", "last")):
            assert np.array_equal(m[k], r[k]), f"{what}: job {j} output {name} differs"
    for j, (m, r) in enumerate(zip(model["beat_cycles"], rtl["beat_cycles"])):
        assert np.array_equal(m, r), f"{what}: job {j} output beat cycles differ"


@needs_verilator
@pytest.mark.parametrize("cfg", list(CONFIGS))
@pytest.mark.parametrize("seq_id", range(4))
def test_model_equals_rtl(cfg, seq_id):
    from dsf_sim.rtl_bridge.engine_tb import run_engine_jobs_full
    hw = hw_of(cfg)
    jobs = _streams(job_sequence(hw, seq_id))
    cases = [(s, p, p) for p, s in HANDSHAKES] + (MIXED if seq_id == 1 else [])
    for seed, vp, rp in cases:
        what = f"{cfg} seq {seq_id} seed {seed} valid {vp} ready {rp}"
        rtl = run_engine_jobs_full(hw, jobs, seed, vp, rp)
        model = run_engine_jobs_model_full(hw, jobs, seed, vp, rp)
        assert_same(rtl, model, what)
        _, cyc_t = run_engine_jobs_model(hw, jobs, seed, vp, rp, timing_only=True)
        assert cyc_t == model["cycles_per_job"], f"{what}: timing_only cycles differ"


@needs_verilator
@pytest.mark.parametrize("cfg,shape", [
    ("4x8_axi64", (3, 3, 3, 1, 16, 16)),
    ("8x24_axi128", (7, 7, 3, 1, 16, 8)),
])
def test_model_equals_rtl_throughput_jobs(cfg, shape):
    from dsf_sim.rtl_bridge.engine_tb import run_engine_jobs_full
    hw = hw_of(cfg)
    rng = np.random.default_rng(5)
    jobs = _streams([make_job(hw, rng, *shape, 1) for _ in range(3)])
    for seed, p in ((1, 1.0), (2, 0.1)):
        assert_same(run_engine_jobs_full(hw, jobs, seed, p, p),
                    run_engine_jobs_model_full(hw, jobs, seed, p, p), f"{cfg} {shape} seed {seed}")


@pytest.mark.parametrize("cfg", list(CONFIGS))
def test_model_outputs_match_reference(cfg):
    hw = hw_of(cfg)
    for seq_id in range(8):
        jobs = job_sequence(hw, seq_id)
        for prob, seed in ((1.0, 1), (0.1, 2)):
            beats, cyc = run_engine_jobs_model(hw, _streams(jobs), seed, prob, prob)
            check_outputs(jobs, beats)
            _, cyc_t = run_engine_jobs_model(hw, _streams(jobs), seed, prob, prob,
                                             timing_only=True)
            assert cyc_t == cyc


def test_model_steady_state():
    hw = hw_of("4x8_axi64")
    rng = np.random.default_rng(5)
    jobs = [make_job(hw, rng, 3, 3, 3, 1, 16, 16, 1) for _ in range(3)]
    _, cyc = run_engine_jobs_model(hw, _streams(jobs))
    assert cyc[1:] == [steady_state_cycles(hw, jobs[0]["geom"])] * 2 == [585, 585]


def test_model_watchdog():
    hw = hw_of("4x8_axi64")
    job = job_sequence(hw, 1)[0]
    w_beats, w_keep = job["weights"]
    jobs = [((w_beats[:1], w_keep[:1]), job["pixels"])]     # header only: bank never fills
    with pytest.raises(EngineModelError, match=r"watchdog.*cycle 303.*pixels"):
        run_engine_jobs_model(hw, jobs, watchdog=300)

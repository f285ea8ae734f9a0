"""The timing-only clock's jumps over steady MAC stretches (models/engine/stretch.py, architecture
§14.5) give exactly what stepping every cycle gives: registers, channel statistics, events and
cycles at every edge with an event, on engine job sequences and whole inferences, for handshake
probabilities from 0.05 to 1 -- and the jumps do happen."""
from __future__ import annotations

import numpy as np
import pytest

from cases import (ENGINE_CONFIGS, SYSTEM_KEYS, engine_hw, export_zoo_cases, job_sequence,
                   streams)
from dsf_sim.models.engine import dma
from dsf_sim.models.engine.core import EVENT
from dsf_sim.models.engine.harness import JobImage, run_engine_jobs_model_full
from dsf_sim.models.engine.registers import index
from dsf_sim.models.engine.state import EngineState
from dsf_sim.models.system_model import run_system_model
from dsf_sim.errors import DsfError

PROBS = ((1.0, 1.0), (0.5, 0.5), (0.05, 0.05), (1.0, 0.3), (0.3, 1.0))
JUMPED = index("harness", "jumped")


def _edges(hw, jobs, seed, vp, rp, stretch):
    """(S without the jump counter, C) at every edge with an event, and the cycles jumped."""
    img = JobImage(hw, streams(jobs))
    es = EngineState(hw, seed, vp, rp, True, 20000, nlog=img.nout, stretch=stretch)
    img.start_sources(es)
    used = 0
    es.start(2, img.out_base, img.out_cap)
    seen, done = [], 0
    while done < len(jobs):
        status = es.advance(img.dram, 50_000_000)
        assert status == EVENT, status
        S = es.S.copy()
        S[JUMPED] = 0
        seen.append((S, es.C.copy()))
        for ch, _ in es.take_events():
            if ch == 2:
                done += 1
                used = es.reg("harness", "nlog") * hw.AXI_BYTES
                es.start(2, img.out_base + used, img.out_cap - used)
    return seen, es.reg("harness", "jumped")


@pytest.mark.parametrize("cfg", sorted(ENGINE_CONFIGS))
def test_engine_edges_identical(cfg):
    hw = engine_hw(cfg)
    jumped = 0
    for seq in range(9):
        jobs = job_sequence(hw, seq)
        for vp, rp in PROBS:
            step, _ = _edges(hw, jobs, 3, vp, rp, False)
            jump, n = _edges(hw, jobs, 3, vp, rp, True)
            assert len(step) == len(jump), (seq, vp, rp)
            for k, ((s1, c1), (s2, c2)) in enumerate(zip(step, jump)):
                assert np.array_equal(s1, s2), (seq, vp, rp, k, np.flatnonzero(s1 != s2))
                assert np.array_equal(c1, c2), (seq, vp, rp, k)
            jumped += n
    assert jumped > 0


def test_engine_harness_result_identical():
    hw = engine_hw("8x24_axi128")
    jobs = [j for s in range(1, 6) for j in job_sequence(hw, s)]
    a = run_engine_jobs_model_full(hw, streams(jobs), 2, 1.0, 1.0, True, stretch=False)
    b = run_engine_jobs_model_full(hw, streams(jobs), 2, 1.0, 1.0, True)
    assert a["jumped_cycles"] == 0 and b["jumped_cycles"] > 0
    for k in ("total_cycles", "end_cycles", "cycles_per_job", "channel_cycles",
              "pixel_beats_accepted", "weight_beats_accepted", "output_beats"):
        assert a[k] == b[k], k
    for x, y in zip(a["beat_cycles"], b["beat_cycles"]):
        assert np.array_equal(x, y)


ZOO = [("resblock", "8x24_axi128"), ("kernels", "4x8_axi64"), ("mlp", "8x24_axi128"),
       ("fallbacks", "4x8_axi64")]


@pytest.fixture(scope="module")
def zoo_exports(tmp_path_factory):
    return export_zoo_cases(tmp_path_factory, ZOO, prefix="stretch_")


@pytest.mark.parametrize("case", ZOO, ids=lambda c: f"{c[0]}-{c[1]}")
def test_system_identical(zoo_exports, case):
    d = zoo_exports[case]
    for vp, rp in PROBS[:3] + PROBS[3:4]:
        a = run_system_model(d, 5, vp, rp, timing_only=True, stretch=False)
        b = run_system_model(d, 5, vp, rp, timing_only=True)
        for k in SYSTEM_KEYS:
            assert a[k] == b[k], (k, vp, rp)
        assert a["jumped_cycles"] == 0
        if (vp, rp) == (1.0, 1.0):
            whole = b
    f = run_system_model(d, 5, 1.0, 1.0, fast=True, check=True)   # values bit-exact as well
    assert f["cycles_total"] == whole["cycles_total"] and f["jumped_cycles"] > 0


def test_stretch_option_type(zoo_exports):
    with pytest.raises(DsfError, match="stretch = 'no' is invalid"):
        run_system_model(zoo_exports[ZOO[0]], 1, 1.0, 1.0, timing_only=True, stretch="no")

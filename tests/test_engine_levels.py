"""Engine cases on every level: the twin and the RTL compute exactly the reference's output
streams (data, TKEEP, TLAST) for every job sequence, configuration and handshake pattern, with
identical cycles per job and per output beat; the documented steady-state cost holds on both;
both watchdogs name the stuck channel."""
from __future__ import annotations

import numpy as np
import pytest

from cases import (ENGINE_CONFIGS, ENGINE_LEVELS, check_outputs, engine_hw, job_sequence,
                   make_job, run_engine)

HANDSHAKES = [(1, 1.0, 1.0), (2, 0.1, 0.1), (3, 0.5, 0.3), (4, 1.0, 0.1), (5, 0.1, 1.0)]


@pytest.fixture(scope="module")
def results():
    """(level, cfg, seq, stim) -> result: each case runs once per level, tests compare them."""
    cache = {}

    def get(level, cfg, seq, stim, **kw):
        key = (level, cfg, seq, stim, tuple(sorted(kw.items())))
        if key not in cache:
            hw = engine_hw(cfg)
            cache[key] = run_engine(level, hw, job_sequence(hw, seq), *stim, **kw)
        return cache[key]
    return get


@pytest.mark.parametrize("level", ENGINE_LEVELS)
@pytest.mark.parametrize("cfg", list(ENGINE_CONFIGS))
@pytest.mark.parametrize("seq", range(9))
def test_outputs_equal_reference(results, level, cfg, seq):
    jobs = job_sequence(engine_hw(cfg), seq)
    for stim in HANDSHAKES[:3]:
        r = results(level, cfg, seq, stim)
        check_outputs(jobs, r["beats"])
        assert r["njobs"] == len(jobs) == len(r["cycles_per_job"])


@pytest.mark.parametrize("cfg", list(ENGINE_CONFIGS))
@pytest.mark.parametrize("seq", range(9))
def test_twin_cycles_equal_rtl(results, cfg, seq):
    stims = HANDSHAKES if seq == 1 else HANDSHAKES[:3]
    for stim in stims:
        twin, rtl = results("twin", cfg, seq, stim), results("rtl", cfg, seq, stim)
        what = f"{cfg} seq {seq} stimulus {stim}"
        assert twin["cycles_per_job"] == rtl["cycles_per_job"], what
        for j, (a, b) in enumerate(zip(twin["beats"], rtl["beats"])):
            for k, name in enumerate(("data", "keep", "last")):
                assert np.array_equal(a[k], b[k]), f"{what}: job {j} {name}"
        for j, (a, b) in enumerate(zip(twin["beat_cycles"], rtl["beat_cycles"])):
            assert np.array_equal(a, b), f"{what}: job {j} output beat cycles"


@pytest.mark.parametrize("cfg", list(ENGINE_CONFIGS))
def test_twin_timing_only_same_cycles(results, cfg):
    for seq in range(9):
        for stim in HANDSHAKES[:3]:
            full = results("twin", cfg, seq, stim)
            tonly = results("twin", cfg, seq, stim, timing_only=True)
            assert tonly["cycles_per_job"] == full["cycles_per_job"]
            assert [len(b[0]) for b in tonly["beats"]] == [len(b[0]) for b in full["beats"]]


THROUGHPUT = [("4x8_axi64", (3, 3, 3, 1, 16, 16)), ("4x8_axi64", (5, 5, 2, 1, 8, 8)),
              ("4x8_axi64", (3, 3, 6, 2, 12, 10)), ("4x8_axi64", (1, 1, 9, 1, 8, 8)),
              ("8x24_axi128", (3, 3, 6, 1, 16, 16)), ("8x24_axi128", (7, 7, 3, 1, 16, 8)),
              ("8x24_axi128", (3, 5, 6, 2, 12, 10))]


@pytest.mark.parametrize("level", ENGINE_LEVELS)
@pytest.mark.parametrize("cfg,shape", THROUGHPUT)
def test_compute_bound_jobs_cost_the_documented_cycles(level, cfg, shape):
    """Architecture §7.6: back-to-back compute-bound jobs cost XN*XL*(XW*CM*KH + P_W + 1) + 1
    cycles each, within 5 % of the MAC-beat bound."""
    hw = engine_hw(cfg)
    rng = np.random.default_rng(5)
    jobs = [make_job(hw, rng, *shape, 1) for _ in range(3)]
    g = jobs[0]["geom"]
    assert g.OB(hw) <= g.CM * g.KH and g.PB(hw) <= g.KH, "not a compute-bound job"
    r = run_engine(level, hw, jobs)
    check_outputs(jobs, r["beats"])
    bound = g.XN * g.XL(hw) * g.XW * (g.CM * g.KH + (g.KW > 1))
    steady = g.XN * g.XL(hw) * (g.XW * g.CM * g.KH + g.KW // 2 + 1) + 1  # written out, not called
    for c in r["cycles_per_job"][1:]:      # jobs whose weights loaded during the previous one
        assert c == steady and c <= 1.05 * bound
    assert r["cycles_per_job"][0] <= 1.05 * bound + 1 + g.CM * g.KH * hw.WB + 10
    if cfg == "4x8_axi64" and shape == (3, 3, 3, 1, 16, 16):
        assert r["cycles_per_job"][1:] == [585, 585]     # architecture §7.6's worked example


@pytest.mark.parametrize("level", ENGINE_LEVELS)
def test_watchdog_names_the_stuck_channel(level):
    hw = engine_hw("4x8_axi64")
    job = job_sequence(hw, 1)[0]
    w_beats, w_keep = job["weights"]
    job = dict(job, weights=(w_beats[:1], w_keep[:1]))   # header only: the bank never fills
    r = run_engine(level, hw, [job], watchdog=300, check=False)
    assert not r["ok"]
    err = r["error"] if level == "twin" else r["stderr"]
    assert "watchdog" in err and "pixels" in err and "cycle 303" in err, err

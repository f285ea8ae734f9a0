"""RTL engine (rtl/dsf_engine.sv) vs the layout reference, through the Verilator harness.

Every output beat (data, keep, last) must equal dsf_sim.layout.pack_output_job of
engine_job_reference, for random job sequences (ping-pong banks), random handshakes (docs §5) and
several hardware configs; plus the throughput contract of docs §7.6.
"""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from dsf_sim.compiler import layout as L
from dsf_sim.compiler.geometry import JobGeometry
from dsf_sim.compiler.hardware import Hardware

pytestmark = pytest.mark.skipif(shutil.which("verilator") is None, reason="verilator not installed")

CONFIGS = {
    # 4x8, AXI 64, 4-bit words (rtl/tb/config_hw_example.svh)
    "4x8_axi64": dict(processing_elements=(4, 8), axi_width=64, bits_input=4, bits_weights=4,
                      bits_sum=16, max_kernel_size=5, max_image_size=32, max_batch_size=4,
                      max_channels_in=64, ram_weights_depth=20, ram_edges_depth=64),
    # 8x24, AXI 128, 8-bit words: WB = 2 beats per weight row, 32-bit output words
    "8x24_axi128": dict(processing_elements=(8, 24), axi_width=128, bits_input=8, bits_weights=8,
                        bits_sum=20, max_kernel_size=7, max_image_size=32, max_batch_size=4,
                        max_channels_in=64, ram_weights_depth=21, ram_edges_depth=64),
    # small 4x6, AXI 32, 8-bit: PB = 2 beats per pixel column, WB = 2, OB up to 24
    "4x6_axi32": dict(processing_elements=(4, 6), axi_width=32, bits_input=8, bits_weights=8,
                      bits_sum=18, max_kernel_size=3, max_image_size=16, max_batch_size=2,
                      max_channels_in=16, ram_weights_depth=9, ram_edges_depth=16),
}

_HW = {}


def hw_of(name) -> Hardware:
    if name not in _HW:
        _HW[name] = Hardware(**CONFIGS[name])
    return _HW[name]


def make_job(hw, rng, KH, KW, CM, XN, XH, XW, xs, extreme=False):
    g = JobGeometry(KH, KW, CM, XN, XH, XW, bool(xs))
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
    y = L.engine_job_reference(hw, g, x, w)
    return dict(geom=g, weights=L.pack_weights_job(hw, g, w), pixels=L.pack_pixels_job(hw, g, x),
                expected=L.pack_output_job(hw, g, y))


def random_geometry(hw, rng):
    khs = [k for k in (1, 3, 5, 7) if k <= hw.KH_MAX]
    kws = [k for k in (1, 3, 5) if k <= min(hw.KW_MAX, hw.COLS)]
    KH, KW = int(rng.choice(khs)), int(rng.choice(kws))
    CM = int(rng.integers(1, hw.RAM_WEIGHTS_DEPTH // KH + 1))
    XN = int(rng.integers(1, min(2, hw.XN_MAX) + 1))
    XH = int(rng.integers(1, min(2 * hw.ROWS + 3, hw.XH_MAX) + 1))
    XW = int(rng.integers(1, min(5, hw.XW_MAX) + 1))
    return KH, KW, CM, XN, XH, XW, int(rng.integers(0, 2))


def job_sequence(hw, seq_id):
    """4 jobs per sequence; sequence 0 pins the corner cases, the others are random."""
    rng = np.random.default_rng(1000 + seq_id)
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


def check_outputs(jobs, beats):
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


@pytest.fixture(scope="module")
def engine():
    from dsf_sim.rtl_bridge.engine_tb import build_engine_tb, run_engine_jobs_full

    def run(cfg, jobs, seed=1, vp=1.0, rp=1.0, **kw):
        hw = hw_of(cfg)
        build_engine_tb(hw)
        return run_engine_jobs_full(hw, [(j["weights"], j["pixels"]) for j in jobs], seed, vp, rp,
                                    **kw)
    return run


HANDSHAKES = [(1.0, 1), (0.1, 1), (0.1, 2), (0.1, 3)]


@pytest.mark.parametrize("cfg", list(CONFIGS))
@pytest.mark.parametrize("seq_id", range(8))
def test_engine_outputs_exact(engine, cfg, seq_id):
    hw = hw_of(cfg)
    jobs = job_sequence(hw, seq_id)
    for prob, seed in HANDSHAKES:
        res = engine(cfg, jobs, seed, prob, prob)
        check_outputs(jobs, res["beats"])
        assert res["njobs"] == len(jobs) and len(res["cycles_per_job"]) == len(jobs)


def test_engine_mixed_probabilities(engine):
    """Fast source, slow sink and the reverse (output back-pressure and starved inputs)."""
    cfg = "4x8_axi64"
    jobs = job_sequence(hw_of(cfg), 1)
    for vp, rp in ((1.0, 0.1), (0.1, 1.0), (0.5, 0.3)):
        check_outputs(jobs, engine(cfg, jobs, 7, vp, rp)["beats"])


def steady_state_cycles(hw, g):
    """docs §7.6 steady-state cost of one job (valid/ready = 1, compute bound)."""
    return g.XN * g.XL(hw) * (g.XW * g.CM * g.KH + g.KW // 2 + 1) + 1


@pytest.mark.parametrize("cfg,shape", [
    ("4x8_axi64", (3, 3, 3, 1, 16, 16)),
    ("4x8_axi64", (5, 5, 2, 1, 8, 8)),
    ("4x8_axi64", (3, 3, 6, 2, 12, 10)),
    ("4x8_axi64", (1, 1, 9, 1, 8, 8)),
    ("8x24_axi128", (3, 3, 6, 1, 16, 16)),
    ("8x24_axi128", (7, 7, 3, 1, 16, 8)),
    ("8x24_axi128", (3, 5, 6, 2, 12, 10)),
])
def test_engine_throughput(engine, cfg, shape):
    hw = hw_of(cfg)
    rng = np.random.default_rng(5)
    jobs = [make_job(hw, rng, *shape, 1) for _ in range(3)]
    g = jobs[0]["geom"]
    assert g.OB(hw) <= g.CM * g.KH and g.PB(hw) <= g.KH, "not a compute-bound job"
    res = engine(cfg, jobs)
    check_outputs(jobs, res["beats"])
    bound = g.XN * g.XL(hw) * g.XW * (g.CM * g.KH + (g.KW > 1))
    for c in res["cycles_per_job"][1:]:           # jobs whose weights loaded during the previous
        assert c <= 1.05 * bound, f"{c} cycles > 1.05 x {bound}"
        assert c == steady_state_cycles(hw, g)      # the documented timing, exactly
    assert res["cycles_per_job"][0] <= 1.05 * bound + 1 + g.CM * g.KH * hw.WB + 10


def test_engine_watchdog(engine):
    """Pixels without weights: the harness must stop and name a stuck channel."""
    cfg = "4x8_axi64"
    jobs = job_sequence(hw_of(cfg), 1)[:1]
    w_beats, w_keep = jobs[0]["weights"]
    jobs[0]["weights"] = (w_beats[:1], w_keep[:1])       # header only: the bank never fills
    res = engine(cfg, jobs, watchdog=300, check=False)
    assert res["returncode"] == 2
    assert "watchdog" in res["stderr"] and "pixels" in res["stderr"]

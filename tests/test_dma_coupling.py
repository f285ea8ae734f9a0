"""The twin with valid/ready from the DMA/DRAM model at cycle level (`dsf profile --exact`,
architecture §12.3.2): values unchanged, the schedule causal and FIFO-bounded, independent of
the coupling window, the memory-bound limit, and the SoC model's estimate beside it."""
from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pytest

from cases import engine_hw, job_sequence, streams
from dsf_sim.models.dma_coupling import INF
from dsf_sim.models.engine import run_engine_jobs_model_full
from dsf_sim.models.soc_model import SocConfig
from dsf_sim.perf.exact_layer import coupled_run


def _cfg(dram_model, **kw):
    """Small FIFOs and bursts, so the engine's jobs fill them (the defaults never fill on
    these jobs)."""
    base = dict(fifo_bytes=256, burst_bytes=64, outstanding=2)
    base.update(kw)
    if dram_model == "bank":
        return SocConfig.preset("ddr4-2400", dram_model="bank", **base)
    return SocConfig.preset(dict(bw_gbs=base.pop("bw_gbs", 2.0),
                                 latency_ns=base.pop("latency_ns", 60.0), rw_shared=True),
                            **base)


def _expected_bytes(jobs):
    out = []
    for j in jobs:
        ed, ek, _ = j["expected"]
        out.append(ed.reshape(-1)[ek.reshape(-1)])
    return np.concatenate(out)


@pytest.mark.parametrize("cfg", ["4x8_axi64", "8x24_axi128"])
@pytest.mark.parametrize("dram_model", ["transaction", "bank"])
def test_coupled_values_equal_the_reference(cfg, dram_model):
    """Stalls from the DRAM model change when beats move, never what the engine computes:
    raw jobs, finish jobs and adding finish jobs (the skip channel) give the reference's bytes,
    and never in fewer cycles than with ideal streams."""
    hw = engine_hw(cfg)
    for seq in (0, 6, 8):
        jobs = job_sequence(hw, seq)
        run = coupled_run(hw, streams(jobs), _cfg(dram_model), timing_only=False)
        assert np.array_equal(run["output"], _expected_bytes(jobs)), f"{cfg} seq {seq}"
        ideal = run_engine_jobs_model_full(hw, streams(jobs), timing_only=True)
        assert run["cycles"] >= ideal["total_cycles"]


def _check_schedule(hs, D):
    """Every beat handshaken, never before the DMA made it available; never more than D beats
    in any channel FIFO (arrived, not yet taken); an output beat taken only once the beat D
    earlier had left."""
    gate, taken = hs
    for ch in range(4):
        n = int((taken[ch] >= 0).sum())
        assert (taken[ch, :n] >= 0).all() and (taken[ch, n:] < 0).all(), ch
        if n == 0:
            continue
        assert np.all(taken[ch, :n] >= gate[ch, :n]), f"channel {ch} took a beat early"
        assert np.all(np.diff(taken[ch, :n]) > 0), f"channel {ch}: two beats in one cycle"
        if ch != 2:
            arrived = np.sort(gate[ch, :n])
            for t in np.unique(arrived):     # in the FIFO at t: arrived by t, taken at >= t
                inside = np.searchsorted(arrived, t, "right") - np.searchsorted(
                    taken[ch, :n], t, "left")
                assert inside <= D, f"channel {ch}: {inside} beats in a {D}-beat FIFO at {t}"
        else:
            assert np.all(gate[2, D:n] < INF), "an output beat was taken without room"


@pytest.mark.parametrize("dram_model", ["transaction", "bank"])
def test_the_window_does_not_change_the_schedule(dram_model):
    """The coupling decides a burst only once everything it depends on is past: stepping the
    twin one cycle at a time (every decision re-taken each cycle) gives the same cycles, the
    same landing and the same handshake schedule as the window it computes."""
    for name, seq in (("8x24_axi128", 6), ("8x24_axi128", 8), ("4x8_axi64", 3)):
        hw = engine_hw(name)
        jobs = streams(job_sequence(hw, seq))
        cfg = _cfg(dram_model)
        big = coupled_run(hw, jobs, cfg)
        one = coupled_run(hw, jobs, cfg, window=1)
        assert big["window"] > 1 and big["windows"] < one["windows"]
        assert (big["cycles"], big["land"]) == (one["cycles"], one["land"]), (name, seq)
        assert np.array_equal(big["schedule"], one["schedule"]), (name, seq)
        _check_schedule(big["schedule"], cfg.fifo_bytes // hw.AXI_BYTES)


def test_memory_bound_jobs_run_at_the_dram_bandwidth():
    """At 0.05 GB/s every beat waits for DRAM: the layer takes its bytes over the bandwidth
    (within a burst's latency and the last jobs' compute), never less."""
    hw = engine_hw("4x8_axi64")
    jobs = streams(job_sequence(hw, 3))
    cfg = _cfg("transaction", bw_gbs=0.05, latency_ns=100.0)
    run = coupled_run(hw, jobs, cfg)
    f = hw.frequency_mhz * 1e6
    nbytes = int((run["schedule"][1] >= 0).sum()) * hw.AXI_BYTES
    floor = nbytes / (cfg.bw_gbs * 1e9) * f
    assert floor <= run["land"] <= floor * 1.05 + 1000
    fast = coupled_run(hw, jobs, _cfg("transaction", bw_gbs=4.0, latency_ns=100.0))
    assert fast["land"] < run["land"] / 10


def test_exact_check_reports_the_soc_model_error():
    """On a reduced ResNet-50 layer: the coupled twin, the SoC estimate and the ideal-stream
    cycles of the same job list; the estimate is close (the same channels and DRAM) and the
    error is their difference."""
    from dsf_sim.api.networks import build
    from dsf_sim.perf.exact_layer import exact_check, pick_layers, representative
    from dsf_sim.perf.report import engine_layers, load_hw
    hw = load_hw("configs/kraken.json")
    layers = engine_layers(build("resnet50", hw, input_size=32), hw, progress=False)
    rep = representative(layers)
    assert set(rep) == {"mac", "pixels", "output"}
    for dm in ("transaction", "bank"):
        cfg = SocConfig.preset("lpddr4-3200", dram_model=dm)
        for lp in pick_layers(layers, [rep["pixels"].name, str(rep["mac"].idx)]):
            r = exact_check(lp, hw, cfg)
            assert r["exact_us"] >= r["ideal_us"]
            assert r["error_pct"] == pytest.approx(
                100 * (r["estimate_us"] - r["exact_us"]) / r["exact_us"])
            # the slice model is pessimistic on weight-bound jobs: s4b1_b of the 32x32 frame, one
            # 1x1 part of its nine taps (2 passes of 2048 weight rows on a 2x2 image), is +32 %
            # on LPDDR4 (architecture §18)
            assert abs(r["error_pct"]) < 35, r
    with pytest.raises(ValueError, match="no such layer"):
        pick_layers(layers, ["nosuch"])
    with pytest.raises(ValueError, match="finite bandwidth"):
        exact_check(layers[0], hw, SocConfig.preset("ideal"))


def test_fifo_smaller_than_a_beat_is_named():
    from dsf_sim.models.dma_coupling import DmaCouplingError
    hw = engine_hw("4x8_axi64")
    with pytest.raises(DmaCouplingError, match="fifo_bytes=4"):
        coupled_run(hw, streams(job_sequence(hw, 1)), dataclasses.replace(_cfg("transaction"),
                                                                             fifo_bytes=4))


def test_cli_exact_unknown_layer_is_one_error_line(tmp_path):
    p = subprocess.run([sys.executable, "-m", "dsf_sim.cli", "profile", "resnet50",
                        "--input-size", "32", "--exact", "s9b9_x", "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 2
    err = [ln for ln in p.stderr.splitlines() if ln.startswith("dsf: error:")]
    assert len(err) == 1 and "s9b9_x" in err[0] and "Traceback" not in p.stderr

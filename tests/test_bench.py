"""Benchmarks (issue 6): networks, configs, `dsf bench`, cycle model == RTL on network jobs,
fast (iteration-replicated) simulation == simulating every job, SoC model sanity."""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
from pathlib import Path

import pytest

from dsf_sim import Hardware
from dsf_sim.perf import bench as B

REPO = Path(__file__).resolve().parents[1]
CONFIGS = ["kraken", "zcu104", "small_4x8", "wide_8x24"]


def _nets():
    from dsf_sim.api import networks
    return networks


def hw_of(name) -> Hardware:
    return Hardware.from_json(str(REPO / "configs" / f"{name}.json"))


@pytest.fixture(scope="module")
def nets32():
    N = _nets()
    hw = hw_of("kraken")
    return {n: N.build(n, hw, input_size=32) for n in ("alexnet", "vgg16", "resnet50")}


@pytest.mark.parametrize("name", CONFIGS)
def test_configs_load_and_roundtrip(name):
    hw = hw_of(name)
    assert Hardware.from_json(hw.to_json()) == hw


def test_networks_build_and_map(nets32):
    counts = {"alexnet": 5, "vgg16": 13, "resnet50": 53}
    for n, m in nets32.items():
        assert len(m.bundles) == counts[n]
        for cfg in CONFIGS:  # map_core succeeds on every config (same bits: 4)
            layers = B.layer_list(m, hw_of(cfg))
            assert all(lp.macs > 0 and lp.CP >= 1 and lp.IT >= 1 for lp in layers)


def test_full_size_mac_counts():
    """True MAC counts at full size (map_core on kraken), without simulating."""
    N = _nets()
    hw = hw_of("kraken")
    want = {"resnet50": 4_087_136_256}  # alexnet 655_566_528, vgg16 15_346_630_656 (README)
    for n, macs in want.items():
        layers = B.layer_list(N.build(n, hw), hw)
        assert sum(lp.macs for lp in layers) == macs


@pytest.mark.parametrize("cfg,net", [("small_4x8", "resnet50"), ("kraken", "alexnet"),
                                     ("wide_8x24", "vgg16")])
def test_fast_equals_exact(nets32, cfg, net):
    hw = hw_of(cfg)
    fast = B.simulate(B.layer_list(nets32[net], hw), hw, exact=False)
    exact = B.simulate(B.layer_list(nets32[net], hw), hw, exact=True)
    assert [lp.job_cycles for lp in fast] == [lp.job_cycles for lp in exact]


def test_bounds_and_analytic(nets32):
    hw = hw_of("kraken")
    layers = B.simulate(B.layer_list(nets32["resnet50"], hw), hw)
    for lp in layers:
        assert lp.bound in ("mac", "output", "pixels", "weights")
    # per bundle, a drain-bound bundle's tail overlaps the next bundle's compute, so the lower
    # bounds hold for the network total
    assert sum(lp.cycles for lp in layers) >= sum(lp.bound_cycles["mac"] for lp in layers) - 10
    assert abs(B.totals(layers, hw)["analytic_error"]) < 0.05


@pytest.mark.skipif(shutil.which("verilator") is None, reason="verilator not installed")
@pytest.mark.parametrize("cfg,net,layer_ids", [("small_4x8", "resnet50", [0, 1, 2, 3, 13]),
                                               ("kraken", "alexnet", [2])])
def test_cycle_model_equals_rtl_on_network_jobs(nets32, cfg, net, layer_ids):
    from dsf_sim.models.engine import run_engine_jobs_model
    from dsf_sim.rtl_bridge.engine_tb import run_engine_jobs
    hw = hw_of(cfg)
    layers = B.layer_list(nets32[net], hw)
    geoms = []
    for i in layer_ids:
        geoms += B.bundle_geoms(layers[i])[:6]
    jobs = [B.job_streams(hw, g) for g in geoms]
    _, c_model = run_engine_jobs_model(hw, jobs, seed=1, valid_prob=1.0, ready_prob=1.0,
                                       timing_only=True)
    _, c_rtl = run_engine_jobs(hw, jobs, seed=1, valid_prob=1.0, ready_prob=1.0)
    assert list(c_model) == list(c_rtl)


def test_soc_ideal_equals_engine_and_monotonic(nets32):
    from dsf_sim.models.soc_model import SocConfig, run_soc
    hw = hw_of("kraken")
    layers = B.simulate(B.layer_list(nets32["vgg16"], hw), hw)
    eng = B.totals(layers, hw)
    ideal = run_soc(layers, hw, SocConfig.preset("ideal"))
    assert ideal.fps == pytest.approx(eng["fps"], rel=1e-9)
    fps = [run_soc(layers, hw, SocConfig.preset("ddr4-2400", bw_gbs=bw), record_timeline=False).fps
           for bw in (0.5, 1, 2, 4, 8, 16, 64)]
    assert all(a <= b * (1 + 1e-12) for a, b in zip(fps, fps[1:]))
    assert fps[0] < eng["fps"]
    cpu = run_soc(layers, hw, SocConfig.preset("ddr4-2400", "a53"), record_timeline=False).fps
    assert cpu <= fps[-2]


def test_memory_bound_counts_dram_stalls_not_firmware(nets32):
    """A layer is memory-bound by its DMA/DRAM stalls: the firmware's time (which a layer's
    span holds with a CPU) does not make it so."""
    from dsf_sim.models.soc_model import SocConfig, run_soc
    hw = hw_of("kraken")
    layers = B.simulate(B.layer_list(nets32["resnet50"], hw), hw)
    cpu = run_soc(layers, hw, SocConfig.preset("ideal", "a53"), record_timeline=False)
    assert any(s > e * 1.02 for s, e in zip(cpu.layer_s, cpu.layer_engine_s))
    assert not any(cpu.memory_bound())
    slow = run_soc(layers, hw, SocConfig.preset("ddr4-2400", "a53", bw_gbs=0.25),
                   record_timeline=False)
    assert sum(slow.memory_bound()) > len(layers) // 2


def test_bench_cli_writes_outputs(tmp_path, capsys):
    from dsf_sim.cli import main
    rc = main(["bench", "resnet50", "--hw", str(REPO / "configs" / "kraken.json"),
               "--dram", "ddr4-2400", "--input-size", "32", "--out", str(tmp_path)])
    assert rc == 0
    out = capsys.readouterr().out
    assert "fps" in out and "bound" in out
    stem = tmp_path / "resnet50_4b_ddr4-2400"
    res = json.loads(Path(f"{stem}.json").read_text())
    assert len(res["layers"]) == 53 and all(r["bound"] for r in res["layers"])
    # the mapping bound (perf/bounds.py) is printed and never below what the twin reached
    assert "mapping bound" in out
    assert res["engine"]["fps"] <= res["engine"]["bound_fps"] <= res["engine"]["ideal_fps"]
    assert all(0 < r["bound_utilisation"] <= 1 for r in res["layers"])
    assert Path(f"{stem}.csv").read_text().count("\n") == 54
    for suf in ("util", "traffic", "roofline", "timeline", "post"):
        assert os.path.getsize(f"{stem}_{suf}.png") > 1000
    # post-processing on and off side by side: the strided 3x3 layers stay raw (s3b1_b in two
    # parts, s4b1_b / s5b1_b as one part of their nine taps in 2 / 3 passes)
    raw = [r["name"] for r in res["layers"] if not r["finish"]]
    assert raw == ["s3b1_b", "s4b1_b", "s5b1_b"], raw
    assert all("multi-part" in r["post_reason"] or "passes" in r["post_reason"]
               for r in res["layers"] if not r["finish"])
    off, on = res["post_off"]["soc"], res["soc"]
    assert off["channel_bytes"]["output"] > 3 * on["channel_bytes"]["output"]
    assert off["channel_bytes"]["skip"] == 0 < on["channel_bytes"]["skip"]
    assert off["cpu_ms"] > on["cpu_ms"] and on["fps"] > off["fps"]
    for r in res["layers"]:
        assert r["off_output_bytes"] >= r["output_bytes"]
        assert (r["off_output_bytes"] == r["output_bytes"]) == (not r["finish"])
    assert "post-processing off:" in out and "raw (1): s3b1_b" in out
    rc = main(["profile", "alexnet", "--hw", str(REPO / "configs" / "kraken.json"),
               "--input-size", "32", "--bw", "1,4,16", "--out", str(tmp_path)])
    assert rc == 0
    assert os.path.getsize(tmp_path / "alexnet_4b_profile.png") > 1000

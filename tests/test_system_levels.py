"""System cases on every level (architecture §11): zoo models on two hardware configurations and
random models on random hardware, each run by the C firmware with the functional reference
engine, the digital twin and the SystemVerilog system testbench. Every level is bit-exact at every
stage (compare_run), all levels issue the same DMA command list, and twin and RTL agree on every
cycle-level result key for the same seed."""
from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

from cases import (RANDOM_RTL_SEEDS, RANDOM_SEEDS, SYSTEM_CONFIGS, SYSTEM_KEYS, SYSTEM_LEVELS,
                   dma_list, export_random, export_zoo, export_zoo_cases, run_system)
from dsf_sim import DsfError
from dsf_sim.compiler.export import load_export
from dsf_sim.compiler.binfile import HEADER_BYTES, read as read_bin
from dsf_sim.errors import MismatchError
from dsf_sim.runtime.check import compare_run

ZOO_CASES = [("residual", "4x8_axi64"), ("pools", "4x8_axi64"), ("mlp", "4x8_axi64"),
             ("residual", "8x24_axi128"), ("strides", "8x24_axi128"), ("pools", "8x24_axi128"),
             ("resblock", "4x8_axi64"), ("fallbacks", "8x24_axi128")]
STIMULI = [(1, 1.0, 1.0), (2, 0.1, 0.1), (3, 0.5, 0.3)]


@pytest.fixture(scope="module")
def zoo_exports(tmp_path_factory):
    return export_zoo_cases(tmp_path_factory, ZOO_CASES)


def _check_levels(d, stimuli, levels=SYSTEM_LEVELS):
    hw, manifest = load_export(d)
    ref = run_system("reference", d)
    compare_run(ref["run"], hw, manifest)
    dmas = dma_list(ref["run"].commands)
    for seed, vp, rp in stimuli:
        res = {}
        for level in levels:
            if level == "reference":
                continue
            r = run_system(level, d, seed, vp, rp)
            assert r.get("returncode", 0) == 0, r.get("error")
            compare_run(r["run"], hw, manifest)                 # every level bit-exact
            assert dma_list(r["commands"]) == dmas              # same command stream
            assert sum(r["cycles_per_bundle"]) == r["cycles_total"] == r["done_cycle"] + 1
            assert len(r["events"]) == len(dmas)
            res[level] = r
        if "twin" in res and "rtl" in res:
            for k in SYSTEM_KEYS:
                assert res["twin"][k] == res["rtl"][k], f"seed {seed}: {k} differs"
    return hw, manifest


@pytest.mark.parametrize("name,cfg", ZOO_CASES, ids=[f"{n}-{c}" for n, c in ZOO_CASES])
def test_zoo_all_levels(zoo_exports, name, cfg):
    _check_levels(zoo_exports[name, cfg], STIMULI)


def test_finished_and_raw_bundles_side_by_side(zoo_exports):
    """The system cases cover every pipeline path: finished bundles with a direct skip, a packed
    skip (model input, pooled or raw producer), pooling after a finished bundle, and each
    fallback reason (CP > 1, multi-part, output wider than bits_input)."""
    posts = []
    for key in (("resblock", "4x8_axi64"), ("fallbacks", "8x24_axi128"), ("pools", "4x8_axi64")):
        _, mf = load_export(zoo_exports[key])
        posts += [(b["post"], b) for b in mf["bundles"]]
    fin = [p for p, _ in posts if p["finish"]]
    assert any(p["skip_direct"] for p in fin) and any(p["config"]["ADD"] and not p["skip_direct"]
                                                      for p in fin)
    assert any(p["config"]["K1"] > 0 for p in fin)                      # leaky slope on chip
    reasons = " | ".join(p["reason"] for p, _ in posts if not p["finish"])
    for why in ("CP = 2 passes", "multi-part lowering", "does not fit bits_input",
                "coarser grid than its negative ones"):
        assert why in reasons, reasons


@pytest.mark.parametrize("name,cfg", ZOO_CASES[:2], ids=[f"{n}-{c}" for n, c in ZOO_CASES[:2]])
def test_twin_timing_only_same_cycles_and_events(zoo_exports, name, cfg):
    d = zoo_exports[name, cfg]
    for seed, vp, rp in STIMULI:
        full = run_system("twin", d, seed, vp, rp)
        tonly = run_system("twin", d, seed, vp, rp, timing_only=True)
        for k in SYSTEM_KEYS:
            assert tonly[k] == full[k], k


@pytest.mark.parametrize("seed", RANDOM_SEEDS)
def test_random_model_reference_and_twin(seed, tmp_path):
    d = str(tmp_path / f"r{seed}")
    export_random(seed, d)
    _check_levels(d, [(1, 1.0, 1.0), (2, 0.3, 0.3)], levels=("reference", "twin"))


@pytest.mark.parametrize("seed", RANDOM_RTL_SEEDS)
def test_random_model_all_levels(seed, tmp_path):
    d = str(tmp_path / f"r{seed}")
    export_random(seed, d)
    _check_levels(d, [(4, 0.4, 0.6)])


def test_random_model_beyond_limits_is_refused_by_name(tmp_path):
    """Seed 8 draws a layer with 663 input channels on a max_channels_in=256 engine."""
    with pytest.raises(DsfError, match=r"input channels = 663 is invalid: allowed <= max_channels_in 256"):
        export_random(8, str(tmp_path))


def test_prefetch_overlaps_jobs_on_the_twin(zoo_exports):
    """With valid/ready 1 the whole inference costs at most 1.3x the isolated jobs + 1000 cycles
    (the next job's weights load while the current one computes)."""
    from dsf_sim.models.engine import run_engine_jobs_model
    d = zoo_exports["residual", "4x8_axi64"]
    hw, _ = load_export(d)
    r = run_system("twin", d)
    wts = np.fromfile(os.path.join(d, "weights.bin"), dtype=np.uint8)   # = DRAM from 0, header too
    iso = 0
    for c in r["commands"]:
        if c.get("ch") == 1:
            w = wts[c["addr"]:c["addr"] + c["bytes"]].reshape(-1, hw.AXI_BYTES)
            bdir = os.path.join(d, f"b{c['bundle']:02d}")
            x = read_bin(os.path.join(bdir, f"in_p{c['p']}.bin"), "pixels",
                         None).reshape(-1, hw.AXI_BYTES)
            sp = os.path.join(bdir, f"skip_it{c['it']}.bin")       # an adding finish job
            s = read_bin(sp, "skip", None).reshape(-1, hw.AXI_BYTES) if os.path.exists(sp) else None
            iso += run_engine_jobs_model(hw, [(w, x, s)], timing_only=True)[1][0]
    assert r["cycles_total"] <= 1.3 * iso + 1000, (r["cycles_total"], iso)
    assert 0 < r["pe_utilisation"] <= 1.0


def test_slow_handshakes_cost_cycles_not_values(zoo_exports):
    d = zoo_exports["residual", "4x8_axi64"]
    fast, slow = run_system("rtl", d, 1, 1.0, 1.0), run_system("rtl", d, 1, 0.3, 0.3)
    # valid and ready 30 % of the cycles: the streams that set this model's pace (weights,
    # output; its pixels are packed several columns per beat, architecture §3) take ~3x longer
    assert slow["cycles_total"] > 1.2 * fast["cycles_total"]
    assert slow["channels"]["pixels"]["busy_cycles"] > fast["channels"]["pixels"]["busy_cycles"]
    assert np.array_equal(slow["run"].output, fast["run"].output)
    again = run_system("twin", d, 5, 0.5, 0.3)
    assert again["events"] == run_system("twin", d, 5, 0.5, 0.3)["events"]
    assert run_system("twin", d, 6, 0.5, 0.3)["cycles_total"] != again["cycles_total"]


@pytest.mark.parametrize("level", ["twin", "rtl"])
def test_watchdog_names_channel_and_job(zoo_exports, level):
    """Output sink never ready: the engine fills its FIFO, the pixels stall, nothing moves."""
    from dsf_sim.models.system_model import SystemWatchdogError
    from dsf_sim.rtl_bridge.system_tb import SystemTbError
    d = zoo_exports["residual", "4x8_axi64"]
    with pytest.raises((SystemWatchdogError, SystemTbError)) as ei:
        if level == "twin":
            run_system("twin", d, 1, 1.0, 0.0, watchdog=500)
        else:
            from dsf_sim.rtl_bridge.system_tb import run_system_tb
            run_system_tb(d, 1, 1.0, 0.0, watchdog=500)
    msg = str(ei.value) if level == "twin" else ei.value.result["error"]
    assert "watchdog" in msg and "500 cycles" in msg
    assert "output" in msg and "bundle 0" in msg and "firmware" in msg


@pytest.mark.parametrize("level", ["twin", "rtl"])
def test_corrupted_vectors_are_caught_with_coordinates(zoo_exports, level, tmp_path):
    d = zoo_exports["residual", "4x8_axi64"]
    bad = str(tmp_path / "bad")
    shutil.copytree(d, bad)
    hw, manifest = load_export(bad)
    p = os.path.join(bad, "b01", "raw_it0_p0.bin")
    a = np.fromfile(p, dtype=np.uint8)
    a[HEADER_BYTES + hw.AXI_BYTES + 1] ^= 0x10
    a.tofile(p)
    r = run_system(level, bad, 2, 0.5, 0.5)
    with pytest.raises(MismatchError,
                       match=r"bundle 1 pass 0 iteration 0 (raw|finished) output: 1 words"):
        compare_run(r["run"], hw, manifest)
    # a corrupted input (weights.bin) is caught at the first raw engine stream
    shutil.copy(os.path.join(d, "b01", "raw_it0_p0.bin"), p)
    w = np.fromfile(os.path.join(bad, "weights.bin"), dtype=np.uint8)
    w[HEADER_BYTES + hw.AXI_BYTES] ^= 0xFF      # first weight row of job 0
    w.tofile(os.path.join(bad, "weights.bin"))
    r = run_system(level, bad, 2, 0.5, 0.5)
    with pytest.raises(MismatchError, match=r"bundle 0 pass 0 iteration 0 (raw|finished) output"):
        compare_run(r["run"], hw, manifest)


def test_partial_tkeep_packets_all_levels(tmp_path):
    """Packets that end in a partial beat (ROWS*CO_PRL*Y_OUT_BITS = 4*1*16 < AXI 128 for KW >= 5):
    inner packets are padded with kept zero bytes, only the job's TLAST beat has a partial TKEEP
    (architecture §3), so byte counts, firmware, RTL and twin all agree."""
    export_zoo("kernels", "4x8_axi64", tmp_path, axi=128, bits=2, ysum=12)
    hw, _ = _check_levels(str(tmp_path), [(1, 0.5, 0.5)])
    r = run_system("twin", str(tmp_path), 1, 0.5, 0.5)
    assert any(e["bytes"] % hw.AXI_BYTES for e in r["events"] if e["ch"] == 2)


def test_firmware_wait_is_idempotent(zoo_exports):
    """Architecture §11 relies on dsf_fw_next repeating WAIT without side effects while waiting."""
    import ctypes
    from dsf_sim.runtime.fw_driver import (CMD_WAIT, DsfCmd, build_firmware, load_firmware,
                                           memory_map, place_files)
    d = zoo_exports["residual", "4x8_axi64"]
    lib = load_firmware(build_firmware(d))
    mm = memory_map(lib)
    dram = np.zeros(mm["total"], np.uint8)
    place_files(dram, mm, d, load_export(d)[1])
    lib.dsf_fw_init(dram.ctypes.data_as(ctypes.c_void_p), mm["total"])
    cmd = DsfCmd()
    while lib.dsf_fw_next(ctypes.byref(cmd)) != CMD_WAIT:
        pass
    first = cmd.as_dict()
    snap = dram.copy()
    for _ in range(5):
        assert lib.dsf_fw_next(ctypes.byref(cmd)) == CMD_WAIT
        assert cmd.as_dict() == first
    assert np.array_equal(snap, dram)


def test_system_tb_uses_the_ctypes_firmware_build_key(zoo_exports):
    from dsf_sim.runtime.fw_driver import build_firmware, firmware_key
    d = zoo_exports["mlp", "4x8_axi64"]
    r = run_system("rtl", d)
    assert r["fw_hash"] == firmware_key(d)
    assert os.path.basename(os.path.dirname(build_firmware(d))) == f"fw_{r['fw_hash']}"
    with open(os.path.join(d, "manifest.json")) as f:
        assert json.load(f)["bundles"][-1]["descriptor"]["softmax"]


@pytest.mark.parametrize("bx,bk", [(8, 4), (2, 8)])
def test_mixed_input_and_weight_widths_all_levels(bx, bk, tmp_path):
    """8-bit activations with 4-bit weights and 2-bit activations with 8-bit weights: the
    residual block (finished on chip, direct and packed skips) on every level."""
    from zoo import ZOO, small_hw
    hw = small_hw(bits=bx, bits_weights=bk, ysum=24, data_dir=str(tmp_path))
    assert (hw.X_BITS, hw.K_BITS) == (bx, bk)
    m = ZOO["resblock"](hw)
    m.export_inference(x=m.random_input, hw=hw, out_dir=str(tmp_path / "e"))
    _, mf = load_export(str(tmp_path / "e"))
    assert any(b["post"]["finish"] for b in mf["bundles"])
    _check_levels(str(tmp_path / "e"), [(3, 0.5, 0.5)])

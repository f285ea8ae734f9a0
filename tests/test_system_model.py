"""System model (dsf_sim/models/system_model.py): real C firmware + DMA channels + engine cycle
model, docs/architecture.md §11.

For zoo exports at (4,8) AXI 64 and (8,24) AXI 128, seeds 1..3, valid/ready prob 0.1 and 1.0:
every level is bit-exact (compare_run: packed inputs, raw engine streams per job, bundle outputs,
final, softmax), cycles_per_bundle sums to cycles_total, timing_only gives identical cycles and
events, and with prob 1.0 the whole inference costs at most 1.3x the sum of isolated per-job engine
runs + 1000 (weights prefetch overlaps).
"""
from __future__ import annotations

import ctypes
import os

import numpy as np
import pytest

from dsf_sim.runtime.check import compare_run
from dsf_sim.runtime.fw_driver import (CMD_WAIT, DsfCmd, build_firmware, load_firmware,
                              memory_map)
from dsf_sim.models.engine_model import run_engine_jobs_model
from dsf_sim.models.system_model import SystemWatchdogError, run_system_model
from zoo import ZOO, small_hw

CONFIGS = {"4x8_axi64": dict(rows=4, cols=8, axi=64), "8x24_axi128": dict(rows=8, cols=24, axi=128)}
CASES = [(s, p) for s in (1, 2, 3) for p in (0.1, 1.0)]
SCHEMA = {"sim", "seed", "valid_prob", "ready_prob", "cycles_total", "done_cycle",
          "cycles_per_bundle", "events", "channels", "commands"}


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    out = {}
    for cfg, kw in CONFIGS.items():
        for name in ("residual", "pools"):
            hw = small_hw(**kw)
            m = ZOO[name](hw)
            d = str(tmp_path_factory.mktemp(f"{name}_{cfg}"))
            m.export_inference(x=m.random_input, hw=hw, out_dir=d)
            kernels = {b.idx: tuple(b.kernel_size) for b in m.bundles
                       if getattr(b, "kernel_size", None) is not None}
            out[(name, cfg)] = (d, hw, kernels)
    return out


def _check_schema(r):
    assert SCHEMA <= set(r), SCHEMA - set(r)
    assert r["sim"] == "model"
    assert set(r["channels"]) == {"pixels", "weights", "output"}
    for c in r["channels"].values():
        assert set(c) == {"bytes", "beats", "busy_cycles", "stall_cycles"}
    for e in r["events"]:
        assert set(e) == {"cycle", "ch", "bytes", "bundle", "it", "p"}


def _isolated_job_cycles(d, hw, r):
    """Sum over jobs of the engine alone (run_engine_jobs_model, one job, prob 1.0)."""
    wts = np.fromfile(os.path.join(d, "weights.bin"), dtype=np.uint8)
    total = 0
    for c in r["commands"]:
        if c.get("ch") != 1:
            continue
        w = wts[c["addr"]:c["addr"] + c["bytes"]].reshape(-1, hw.AXI_BYTES)
        x = np.fromfile(os.path.join(d, f"b{c['bundle']:02d}", f"in_p{c['p']}.bin"),
                        dtype=np.uint8).reshape(-1, hw.AXI_BYTES)
        _, cyc = run_engine_jobs_model(hw, [(w, x)], timing_only=True)
        total += cyc[0]
    return total


@pytest.mark.parametrize("cfg", list(CONFIGS))
@pytest.mark.parametrize("seed,prob", CASES)
def test_system_model_residual(exports, cfg, seed, prob):
    import json
    d, hw, kernels = exports[("residual", cfg)]
    r = run_system_model(d, seed, prob, prob, kernels=kernels)
    _check_schema(r)
    with open(os.path.join(d, "manifest.json")) as f:
        manifest = json.load(f)
    compare_run(r["firmware_run"], hw, manifest)           # every level bit-exact
    assert sum(r["cycles_per_bundle"]) == r["cycles_total"] == r["done_cycle"] + 1
    assert len(r["cycles_per_bundle"]) == len(manifest["bundles"])
    assert all(c > 0 for c in r["cycles_per_bundle"])
    # every DMA completes exactly once, bytes as commanded
    dmas = [c for c in r["commands"] if c["cmd"] == "dma"]
    assert r["commands"][-1] == {"cycle": r["done_cycle"], "cmd": "done"}
    assert len(r["events"]) == len(dmas) == len(r["commands"]) - 1
    njobs = sum(len(b["jobs"]) for b in manifest["bundles"])
    assert sum(1 for c in dmas if c["ch"] == 2) == njobs
    assert r["channels"]["output"]["bytes"] == sum(e["bytes"] for e in r["events"] if e["ch"] == 2)
    rt = run_system_model(d, seed, prob, prob, timing_only=True)
    assert rt["cycles_total"] == r["cycles_total"]
    assert rt["cycles_per_bundle"] == r["cycles_per_bundle"]
    assert rt["events"] == r["events"] and rt["commands"] == r["commands"]
    assert rt["channels"] == r["channels"]
    if prob == 1.0:
        iso = _isolated_job_cycles(d, hw, r)
        assert r["cycles_total"] <= 1.3 * iso + 1000, (r["cycles_total"], iso)
        assert 0 < r["pe_utilisation"] <= 1.0


@pytest.mark.parametrize("cfg", list(CONFIGS))
def test_system_model_pools(exports, cfg):
    d, hw, kernels = exports[("pools", cfg)]
    for seed, prob in ((1, 1.0), (2, 0.1)):
        r = run_system_model(d, seed, prob, prob, check=True, kernels=kernels)
        assert sum(r["cycles_per_bundle"]) == r["cycles_total"]
        rt = run_system_model(d, seed, prob, prob, timing_only=True)
        assert rt["cycles_total"] == r["cycles_total"] and rt["events"] == r["events"]


def test_system_model_deterministic_and_seed_sensitive(exports):
    d, hw, _ = exports[("residual", "4x8_axi64")]
    a = run_system_model(d, 5, 0.5, 0.3)
    b = run_system_model(d, 5, 0.5, 0.3)
    c = run_system_model(d, 6, 0.5, 0.3)
    assert a["events"] == b["events"] and a["cycles_total"] == b["cycles_total"]
    assert c["cycles_total"] != a["cycles_total"]


def test_firmware_wait_is_idempotent(exports):
    """§11 relies on dsf_fw_next returning WAIT again without side effects while waiting."""
    d, hw, _ = exports[("residual", "4x8_axi64")]
    lib = load_firmware(build_firmware(d))
    mm = memory_map(lib)
    dram = np.zeros(mm["total"], np.uint8)
    wts = np.fromfile(os.path.join(d, "weights.bin"), dtype=np.uint8)
    inp = np.fromfile(os.path.join(d, "input.bin"), dtype=np.uint8)
    dram[:wts.size] = wts
    dram[mm["input"]:mm["input"] + inp.size] = inp
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


def test_system_model_watchdog(exports):
    d, hw, _ = exports[("residual", "4x8_axi64")]
    # ready_prob 0: the output sink never accepts -> the engine stalls, nothing moves
    with pytest.raises(SystemWatchdogError, match=r"(?s)watchdog.*cycle \d+.*output.*bundle 0"):
        run_system_model(d, 1, 1.0, 0.0, watchdog=500)


def _have_system_tb():
    import shutil
    if shutil.which("verilator") is None:
        return False
    try:
        import dsf_sim.rtl_bridge.system_tb  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.skipif(not _have_system_tb(), reason="verilator / system testbench not available")
@pytest.mark.parametrize("cfg", list(CONFIGS))
def test_system_model_equals_system_tb(exports, cfg):
    """Level 2 of the contract: the §11 result keys equal the SV system testbench's 1:1."""
    from dsf_sim.rtl_bridge.system_tb import run_system_tb
    d, hw, _ = exports[("residual", cfg)]
    for seed, prob in ((1, 1.0), (2, 0.1), (3, 0.5)):
        m = run_system_model(d, seed, prob, prob)
        v = run_system_tb(d, seed, prob, prob)
        for k in ("cycles_total", "done_cycle", "cycles_per_bundle", "events", "channels",
                  "commands"):
            assert m[k] == v[k], f"{cfg} seed {seed} prob {prob}: {k} differs"

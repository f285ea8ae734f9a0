"""Whole-system Verilator testbench (rtl/tb/tb_system.sv, docs/architecture.md §11).

Every level bit-exact (compare_run), per-bundle cycles sum to the total, the DMA command list equals
the functional (ctypes) firmware run's, the firmware sources are the ctypes build's, the watchdog
names the stuck channel and job, and a corrupted reference vector is caught.
"""
from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from dsf_sim.errors import MismatchError
from dsf_sim.runtime.fw_driver import _fw_hash, build_firmware, run_firmware
from dsf_sim.rtl_bridge.system_tb import SystemTbError, fw_sources_sha256, run_system_tb

from zoo import ZOO, small_hw

pytestmark = pytest.mark.skipif(shutil.which("verilator") is None, reason="no verilator")

CONFIGS = {"4x8_axi64": dict(rows=4, cols=8, axi=64), "8x24_axi128": dict(rows=8, cols=24, axi=128)}
# (config, zoo model): residual (conv + add + pool), mlp (dense + softmax), strides (s2d lowering)
EXPORTS = [("4x8_axi64", "residual"), ("4x8_axi64", "mlp"), ("8x24_axi128", "residual"),
           ("8x24_axi128", "strides")]


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    out = {}
    for name, model in EXPORTS:
        hw = small_hw(**CONFIGS[name])
        m = ZOO[model](hw)
        d = str(tmp_path_factory.mktemp(f"sys_{name}_{model}"))
        m.export_inference(x=m.random_input, hw=hw, out_dir=d)
        ref = run_firmware(d, check=True)  # functional run: the DMA list every harness must issue
        out[name, model] = (d, [{k: c[k] for k in ("ch", "addr", "bytes", "bundle", "it", "p", "job")}
                         for c in ref.commands if c["cmd"] == "dma"])
    return out


def _check_result(res, dmas):
    assert res["sim"] == "verilator" and res["bit_exact"]
    assert res["cycles_total"] == res["done_cycle"] + 1
    assert sum(res["cycles_per_bundle"]) == res["cycles_total"]
    assert all(c > 0 for c in res["cycles_per_bundle"])
    got = [{k: c[k] for k in ("ch", "addr", "bytes", "bundle", "it", "p", "job")}
           for c in res["commands"] if c["cmd"] == "dma"]
    assert got == dmas
    assert res["commands"][-1]["cmd"] == "done"
    # one completion event per DMA, in cycle order, with the DMA's bytes
    assert len(res["events"]) == len(dmas)
    assert [e["cycle"] for e in res["events"]] == sorted(e["cycle"] for e in res["events"])
    for ch, name in enumerate(("pixels", "weights", "output")):
        moved = sum(d["bytes"] for d in dmas if d["ch"] == ch)
        st = res["channels"][name]
        assert st["bytes"] == moved
        assert st["stall_cycles"] <= st["busy_cycles"] <= res["cycles_total"]
        assert st["beats"] <= st["busy_cycles"]
    # the last event is the last output transfer; DONE at that same edge (CPU time is 0 here)
    assert res["events"][-1]["ch"] == 2 and res["done_cycle"] == res["events"][-1]["cycle"]


@pytest.mark.parametrize("key", EXPORTS, ids=["-".join(k) for k in EXPORTS])
@pytest.mark.parametrize("prob", [1.0, 0.1])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_system_bit_exact(exports, key, prob, seed):
    d, dmas = exports[key]
    res = run_system_tb(d, seed=seed, valid_prob=prob, ready_prob=prob)
    _check_result(res, dmas)
    # same firmware sources and cache key as the ctypes library
    assert res["fw_sources_sha256"] == fw_sources_sha256()
    assert res["fw_hash"] == _fw_hash(d)
    assert os.path.basename(os.path.dirname(build_firmware(d))) == res["fw_hash"]
    if prob == 1.0 and seed == 1:
        # full handshakes: the seed changes nothing
        res2 = run_system_tb(d, seed=7, valid_prob=1.0, ready_prob=1.0)
        assert res2["cycles_per_bundle"] == res["cycles_per_bundle"]
    if prob < 1.0 and seed == 1:
        # reproducible: same seed, same cycles
        res2 = run_system_tb(d, seed=seed, valid_prob=prob, ready_prob=prob)
        assert res2["events"] == res["events"] and res2["channels"] == res["channels"]


def test_system_slow_handshakes_cost_cycles(exports):
    d, _ = exports["4x8_axi64", "residual"]
    fast = run_system_tb(d, seed=1, valid_prob=1.0, ready_prob=1.0)
    slow = run_system_tb(d, seed=1, valid_prob=0.3, ready_prob=0.3)
    assert slow["cycles_total"] > 1.3 * fast["cycles_total"]
    assert slow["channels"]["pixels"]["busy_cycles"] > fast["channels"]["pixels"]["busy_cycles"]


def test_system_watchdog_names_channel_and_job(exports):
    d, _ = exports["4x8_axi64", "residual"]
    # output sink never ready: the engine fills its FIFO, the pixels stall, nothing moves
    with pytest.raises(SystemTbError) as ei:
        run_system_tb(d, seed=1, valid_prob=1.0, ready_prob=0.0, watchdog=500)
    res = ei.value.result
    assert res["returncode"] == 2 and not res["ok"]
    msg = res["error"]
    assert "watchdog" in msg and "500 cycles" in msg
    assert "output active: bundle 0 it 0 p 0 (job 0), 0/" in msg
    assert "pixels active: bundle 0 it 0 p 0" in msg
    assert "firmware last command" in msg
    # the report's cycle is the 500th quiet cycle after the last handshake
    assert res["cycles_total"] == -1


def test_system_corrupted_vector(exports, tmp_path):
    d, _ = exports["4x8_axi64", "residual"]
    bad = str(tmp_path / "bad")
    shutil.copytree(d, bad)
    p = os.path.join(bad, "b01", "raw_it0_p0.bin")
    a = np.fromfile(p, dtype=np.uint8)
    a[5] ^= 0x10
    a.tofile(p)
    with pytest.raises(MismatchError, match=r"bundle 1 pass 0 iteration 0 raw output: 1 words"):
        run_system_tb(bad, seed=2, valid_prob=0.5, ready_prob=0.5)
    # a corrupted input (weights.bin) is caught at the first raw engine stream
    shutil.copy(os.path.join(d, "b01", "raw_it0_p0.bin"), p)
    w = np.fromfile(os.path.join(bad, "weights.bin"), dtype=np.uint8)
    w[8] ^= 0xFF  # first weight row of job 0 (columns 0, 1)
    w.tofile(os.path.join(bad, "weights.bin"))
    with pytest.raises(MismatchError, match=r"bundle 0 pass 0 iteration 0 raw output"):
        run_system_tb(bad, seed=2, valid_prob=0.5, ready_prob=0.5)


def test_system_partial_tkeep_packets(tmp_path):
    """Packets that end in a partial beat (ROWS*CO_PRL*Y_OUT_BITS = 4*1*16 < AXI 128 for KW >= 5):
    inner packets are padded with kept zero bytes, only the job's TLAST beat has a partial TKEEP
    (docs §3), so the S2M byte count, the firmware, the RTL and the twin all agree."""
    from dsf_sim.models.system_model import run_system_model
    hw = small_hw(rows=4, cols=8, axi=128, bits=2, ysum=12)
    m = ZOO["kernels"](hw)
    d = str(tmp_path / "keep")
    m.export_inference(x=m.random_input, hw=hw, out_dir=d)
    a = run_system_tb(d, seed=1, valid_prob=0.5, ready_prob=0.5)
    b = run_system_model(d, seed=1, valid_prob=0.5, ready_prob=0.5)
    assert a["bit_exact"]
    for k in ("cycles_total", "cycles_per_bundle", "events", "channels", "commands"):
        assert a[k] == b[k], k
    ob_bytes = -(-4 * 1 * 16 // 128) * 16
    assert any(e["bytes"] % 16 for e in a["events"] if e["ch"] == 2) or ob_bytes % 16 == 0


@pytest.mark.parametrize("key", EXPORTS[:3], ids=["-".join(k) for k in EXPORTS[:3]])
def test_system_tb_equals_system_model(exports, key):
    """Level 2 (cycles): the cycle model's §11 harness gives the same result keys 1:1."""
    system_model = pytest.importorskip("dsf_sim.models.system_model")
    d, _ = exports[key]
    for seed, prob in ((2, 0.5), (3, 0.1)):
        a = run_system_tb(d, seed=seed, valid_prob=prob, ready_prob=prob)
        b = system_model.run_system_model(d, seed=seed, valid_prob=prob, ready_prob=prob)
        for k in ("cycles_total", "done_cycle", "cycles_per_bundle", "events", "channels",
                  "commands"):
            assert a[k] == b[k], k

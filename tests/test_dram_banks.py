"""Bank-level DRAM model (issue 16): bandwidth of access patterns against the published peak and
simple analytic limits, the SoC model on it, per-layer stall attribution, `dsf profile`."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from dsf_sim.models.dram_banks import BANK_PRESETS, BankDram, DramTiming, stream_bandwidth

REPO = Path(__file__).resolve().parents[1]
PARTS = sorted(BANK_PRESETS)
PEAK = {"ddr4-2400": 19.2, "lpddr4-3200": 12.8, "zcu104-ps": 21.33}   # datasheet GB/s


def _refresh_share(t: DramTiming) -> float:
    """Fraction of time an all-bank refresh (precharge + tRFC) takes: the limit of a stream."""
    return (t.rfc_ns + t.rp * t.tck_ns) / t.refi_ns


def _seq(t, mb=32, burst=4096, writes=None):
    return stream_bandwidth(t, np.arange(0, mb << 20, burst), burst, writes)


@pytest.mark.parametrize("part", PARTS)
def test_peak_and_sequential_stream_reach_peak_times_refresh(part):
    t = BANK_PRESETS[part]
    assert t.peak_gbs == pytest.approx(PEAK[part], rel=2e-3)
    limit = t.peak_gbs * (1 - _refresh_share(t))
    bw = _seq(t)
    assert bw <= limit * 1.001
    assert bw >= 0.93 * limit, (bw, limit)


@pytest.mark.parametrize("part", ["ddr4-2400", "zcu104-ps"])
def test_same_bank_group_stream_is_held_to_tccd_l(part):
    """A whole row of one bank before the next: consecutive accesses in one bank group, so
    tCCD_L (not the data bus) sets the rate: ccd_s / ccd_l of the interleaved stream."""
    t = BANK_PRESETS[part]
    inter = _seq(t)
    linear = _seq(dataclasses.replace(t, mapping="row-bank-col"))
    assert linear / inter == pytest.approx(t.ccd_s / t.ccd_l, rel=0.05)


@pytest.mark.parametrize("part", PARTS)
def test_one_bank_row_after_row_is_tRC_bound(part):
    """Every access another row of the same bank: one line per tRAS + tRP."""
    t = BANK_PRESETS[part]
    stride = t.page_bytes * t.bank_groups * t.banks_per_group
    lin = dataclasses.replace(t, mapping="row-bank-col")
    bw = stream_bandwidth(lin, np.arange(4000) * stride, t.line_bytes)
    analytic = t.line_bytes / ((t.ras + t.rp) * t.tck_ns) * (1 - _refresh_share(t))
    assert bw == pytest.approx(analytic, rel=0.05)


@pytest.mark.parametrize("part", PARTS)
def test_random_lines_are_far_below_peak_and_miss(part):
    t = BANK_PRESETS[part]
    rng = np.random.default_rng(1)
    addrs = rng.integers(0, 1 << 30, 20000) // t.line_bytes * t.line_bytes
    d = BankDram(t)
    now = 0.0
    for a in addrs:
        now, end, _ = d.serve(int(a), t.line_bytes, False, now)
    bw = len(addrs) * t.line_bytes / end / 1e9
    assert bw < 0.25 * t.peak_gbs
    c = d.counters()
    assert c["accesses"] == len(addrs) and c["row_hit_rate"] < 0.05
    seq = BankDram(t)
    now = 0.0
    for a in range(0, 8 << 20, 4096):
        now, _, _ = seq.serve(a, 4096, False, now)
    assert seq.counters()["row_hit_rate"] > 0.95


@pytest.mark.parametrize("part", PARTS)
def test_refresh_count_and_read_write_turnaround(part):
    t = BANK_PRESETS[part]
    d = BankDram(t)
    now = end = 0.0
    for a in range(0, 32 << 20, 4096):
        now, end, why = d.serve(a, 4096, False, now)
    assert d.counters()["refreshes"] == pytest.approx(end * 1e9 / t.refi_ns, abs=1.5)
    ro = _seq(t, mb=8)
    alt = _seq(t, mb=8, writes=np.arange(2048) % 2)           # 4 KB read, 4 KB write, ...
    assert alt < ro
    # each switch costs about a turnaround (read->write: CL + BL/2 + 2 - CWL; write->read:
    # CWL + BL/2 + tWTR, then CL), never more than a few of them per 4 KB burst
    per_burst = 4096 / t.line_bytes * (t.bl // 2)
    assert ro / alt < 1 + 3 * (t.cl + t.cwl + t.bl + t.wtr_l) / per_burst / 2


def test_burst_causes_add_up_to_its_time():
    t = BANK_PRESETS["ddr4-2400"]
    d = BankDram(t)
    now = 0.0
    for a in range(0, 4 << 20, 4096):
        start = now
        now, end, why = d.serve(a + (0 if a % 8192 else 3 << 28), 4096, a % 16384 == 0, start)
        t0 = np.ceil(start / (t.tck_ns * 1e-9) - 1e-9) * t.tck_ns * 1e-9
        assert sum(why.values()) == pytest.approx(end - t0, rel=1e-9, abs=1e-12)
        assert why["data"] == pytest.approx(4096 / (t.peak_gbs * 1e9), rel=1e-9)


def test_bad_parts_and_models_are_named():
    from dsf_sim.models.soc_model import SocConfig
    t = BANK_PRESETS["ddr4-2400"]
    for kw, msg in ((dict(mapping="row-row"), r"mapping='row-row' is not one of"),
                    (dict(bank_groups=3), r"bank_groups=3 must be a power of two"),
                    (dict(page_bytes=100), r"page_bytes=100 must be a power-of-two multiple"),
                    (dict(queue=0), r"queue=0 must be >= 1")):
        with pytest.raises(ValueError, match=msg):
            BankDram(dataclasses.replace(t, **kw))
    with pytest.raises(ValueError, match=r"dram_model='banks' is not one of transaction, bank"):
        SocConfig.preset("ddr4-2400", dram_model="banks")
    with pytest.raises(ValueError, match=r"needs a part: dram='ideal' is not one of"):
        SocConfig.preset("ideal", dram_model="bank")
    with pytest.raises(ValueError, match=r"bw_gbs cannot be set with the bank-level DRAM model"):
        SocConfig.preset("ddr4-2400", dram_model="bank", bw_gbs=4.0)
    with pytest.raises(ValueError, match=r"dram='ddr5' is not a DRAM preset"):
        SocConfig.preset("ddr5")


@pytest.fixture(scope="module")
def resnet_layers():
    from dsf_sim import Hardware
    from dsf_sim.api import networks
    from dsf_sim.perf import bench as B
    hw = Hardware.from_json(str(REPO / "configs" / "kraken.json"))
    model = networks.build("resnet50", hw, input_size=64)
    return hw, B.simulate(B.layer_list(model, hw), hw)


@pytest.mark.parametrize("cpu", ["none", "a53"])
def test_soc_on_bank_dram_attribution_adds_up(resnet_layers, cpu):
    """Every layer's span = compute + its stalls by channel and cause + firmware; the bank model
    is within a few per cent of the transaction model on this DMA-friendly traffic but never
    faster than the engine alone, and a quarter of the bandwidth shows up as DRAM stalls."""
    from dsf_sim.models.soc_model import SocConfig, run_soc
    from dsf_sim.perf import bench as B
    hw, layers = resnet_layers
    eng = B.totals(layers, hw)["fps"]
    bank = run_soc(layers, hw, SocConfig.preset("ddr4-2400", cpu, dram_model="bank"))
    tx = run_soc(layers, hw, SocConfig.preset("ddr4-2400", cpu), record_timeline=False)
    assert bank.fps <= eng * (1 + 1e-12) and tx.fps <= eng * (1 + 1e-12)
    assert bank.fps == pytest.approx(tx.fps, rel=0.05)
    assert bank.dram["accesses"] > 0 and 0.5 < bank.dram["row_hit_rate"] < 1.0
    for li in range(len(layers)):
        parts = bank.attribution(li)
        assert min(parts.values()) >= 0
        if parts["firmware"] > 0:
            assert sum(parts.values()) == pytest.approx(bank.layer_s[li], rel=1e-9)
    assert sum(sum(s.values()) for s in bank.layer_stalls_s) <= sum(bank.stalls_s.values()) + 1e-12
    if cpu == "a53":
        assert sum(bank.layer_cpu_wait_s) > 0       # the engine waited for the firmware's packing
    slow = run_soc(layers, hw, SocConfig.preset("ddr4-2400", cpu, dram_model="bank",
                                                banks=dataclasses.replace(
                                                    BANK_PRESETS["ddr4-2400"], tck_ns=4 / 1.2)))
    dram_stall = sum(v for li in range(len(layers)) for k, v in slow.attribution(li).items()
                     if k not in ("compute", "firmware"))
    assert slow.fps < bank.fps and dram_stall > 0.1 * slow.total_s
    ev = {c for c, *_ in bank.timeline}
    assert {"engine", "pixels", "weights", "output"} <= ev and ("cpu" in ev) == (cpu == "a53")


def test_profile_cli_writes_stall_split(tmp_path, capsys):
    from dsf_sim.cli import main
    rc = main(["profile", "resnet50", "--hw", str(REPO / "configs" / "kraken.json"),
               "--input-size", "32", "--bw", "4,16", "--cpu", "a53", "--out", str(tmp_path)])
    assert rc == 0
    out = capsys.readouterr().out
    assert "bank DRAM model" in out and "where the frame goes" in out and "row hits" in out
    stem = tmp_path / "resnet50_4b_ddr4-2400_bank"
    res = json.loads(Path(f"{stem}.json").read_text())
    assert len(res["layers"]) == 53 and res["fps"] > 0 and "fps_transaction" in res
    assert sum(res["causes_us"].values()) == pytest.approx(res["time_ms"] * 1e3, rel=1e-6)
    assert Path(f"{stem}.csv").read_text().count("\n") == 54
    for suf in ("stalls", "frame_timeline"):
        assert Path(f"{stem}_{suf}.png").stat().st_size > 5000
    with pytest.raises(SystemExit) as e:
        main(["profile", "resnet50", "--dram-model", "bnk"])
    assert e.value.code == 2
    assert "invalid choice: 'bnk'" in capsys.readouterr().err


def test_measured_cpu_preset_is_the_recorded_count():
    """CPU_PRESETS['a53-measured'] holds the instructions per element that
    benchmarks/cpu_costs.py --routines-only counted (results/cpu_routines.json), to a tenth."""
    from dsf_sim.models.soc_model import CPU_PRESETS
    rec = json.loads((REPO / "benchmarks" / "results" / "cpu_routines.json").read_text())
    m = CPU_PRESETS["a53-measured"]
    for k in ("requant", "pool", "unpack", "pack", "acc"):
        assert m[k] == pytest.approx(rec["per_element"][k], abs=0.05), k
        assert m[k] > 3 * CPU_PRESETS["a53"][k]     # the scalar firmware, not the NEON guess
    assert {r["key"] for r in rec["rows"]} >= {"requant", "pool", "unpack", "pack", "acc"}

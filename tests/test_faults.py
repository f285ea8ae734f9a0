"""Faults and budgets (issue 15 §5): an injected DMA error or stuck transfer stops the run with a
report naming channel, job, transfer and cause; the simulators' budgets are derived from the
export (runtime/sim_limits.py), bound the real cycle counts, and let probability 0.001 finish."""
from __future__ import annotations

import pytest

from cases import export_zoo, run_system
from dsf_sim import DsfError
from dsf_sim.models.system_model import SystemWatchdogError, run_system_model
from dsf_sim.runtime.fw_driver import FirmwareError
from dsf_sim.runtime.sim_limits import limits
from dsf_sim.compiler.export import load_export


@pytest.fixture(scope="module")
def resblock(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("faults"))
    export_zoo("resblock", "4x8_axi64", d)           # pixels, weights, output and skip DMAs
    return d


WHY = {"slave": "DMASlvErr", "decode": "DMADecErr", "internal": "DMAIntErr"}


@pytest.mark.parametrize("channel", ["pixels", "weights", "output", "skip"])
@pytest.mark.parametrize("kind", sorted(WHY))
def test_dma_error_is_reported_by_the_firmware(resblock, channel, kind):
    n = {"pixels": 1, "weights": 3, "output": 2, "skip": 0}[channel]
    with pytest.raises(FirmwareError, match=rf"firmware error at cycle \d+: DMA error on channel "
                                            rf"\d \({channel}\), bundle \d+ it \d+ p \d+, \d+ "
                                            rf"bytes at DRAM offset \d+: {WHY[kind]}"):
        run_system_model(resblock, fault={"channel": channel, "transfer": n, "kind": kind},
                         fast=channel == "output")


def test_dma_error_names_the_job_it_hit(resblock):
    """The report's job is the faulty transfer's: the third weights transfer of a clean run."""
    clean = run_system_model(resblock)
    w = [c for c in clean["commands"] if c.get("cmd") == "dma" and c["chan"] == "weights"][2]
    with pytest.raises(FirmwareError) as e:
        run_system_model(resblock, fault={"channel": "weights", "transfer": 2, "kind": "slave"})
    assert (f"bundle {w['bundle']} it {w['it']} p {w['p']}, {w['bytes']} bytes at DRAM offset "
            f"{w['addr']}:") in str(e.value)


def test_stuck_transfer_is_named_by_the_watchdog(resblock):
    lim = limits(*reversed(load_export(resblock)), 1.0, 1.0)
    with pytest.raises(SystemWatchdogError) as e:
        run_system_model(resblock, fault={"channel": "output", "transfer": 1, "kind": "stuck"})
    msg = str(e.value)
    assert f"no handshake, DMA event or firmware command for {lim['watchdog']} cycles" in msg
    assert "channel 2 (output) stuck: started at cycle" in msg and "never completed" in msg


@pytest.mark.parametrize("fault,msg", [
    ({"channel": "weights", "transfer": 10_000, "kind": "slave"},
     r"fault transfer = 10000 is invalid: channel weights made only \d+ transfers"),
    ({"chanel": "weights", "transfer": 0, "kind": "slave"},
     r"fault key 'chanel' is invalid: .*'channel'"),
    ({"channel": "bias", "transfer": 0, "kind": "slave"},
     r"fault channel = 'bias' is invalid: allowed one of \('pixels', 'weights'"),
    ({"channel": "weights", "transfer": 1.0, "kind": "slave"},
     r"fault transfer = 1.0 is invalid: allowed an integer >= 0"),
    ({"channel": "weights", "transfer": 0, "kind": "timeout"},
     r"fault kind = 'timeout' is invalid: allowed one of \('internal', 'slave', 'decode', "
     r"'stuck'\)"),
    ("weights", r"fault = 'weights' is invalid: allowed None or a dict"),
])
def test_bad_fault_specs_are_named(resblock, fault, msg):
    with pytest.raises(DsfError, match=msg):
        run_system_model(resblock, fault=fault)


@pytest.mark.parametrize("p", [(1.0, 1.0), (0.5, 0.7), (0.1, 1.0), (1.0, 0.1)])
def test_expected_cycles_bound_the_real_ones(resblock, tmp_path, p):
    """The derived budget is an upper estimate: every run stays below expected_cycles (and so
    far below max_cycles = 8x + 1 M) - on the twin and, for one stimulus, on the RTL."""
    k = str(tmp_path / "k")
    export_zoo("kernels", "4x8_axi64", k)
    for d in (resblock, k):
        r = run_system_model(d, seed=3, valid_prob=p[0], ready_prob=p[1], fast=True)
        assert r["cycles_total"] <= r["expected_cycles"], (d, p, r["cycles_total"])
        assert r["expected_cycles"] < 20 * r["cycles_total"], (d, p)    # not vacuous
        if p == (0.5, 0.7):
            assert run_system("rtl", d, 3, *p)["cycles_total"] == r["cycles_total"]


def test_max_cycles_reached_is_reported(resblock):
    with pytest.raises(SystemWatchdogError, match=r"max_cycles = 500 reached \(8 x the \d+ "
                                                  r"cycles expected"):
        run_system_model(resblock, max_cycles=500)


@pytest.mark.parametrize("vp,rp", [(0.001, 1.0), (1.0, 0.001)])
def test_probability_0_001_finishes_on_twin_and_rtl(tmp_path, vp, rp):
    """One side of every handshake fires once per ~1000 cycles: the derived watchdog (200 k +
    60 gaps) lets the run finish, bit-exact, with identical cycles on the twin and the RTL."""
    d = str(tmp_path / "mlp")
    export_zoo("mlp", "4x8_axi64", d)
    from dsf_sim.runtime.check import compare_run
    hw, manifest = load_export(d)
    fast = run_system("twin", d, 2, 1.0, 1.0)
    twin = run_system("twin", d, 2, vp, rp)
    rtl = run_system("rtl", d, 2, vp, rp)
    assert twin["cycles_total"] == rtl["cycles_total"] > 3 * fast["cycles_total"]
    assert twin["cycles_total"] <= twin["expected_cycles"]
    compare_run(twin["run"], hw, manifest)
    compare_run(rtl["run"], hw, manifest)

"""Lockstep co-simulation RTL vs cycle model (dsf_sim/rtl_bridge/lockstep.py, contract §7.3).

* Mutation test: single-point bugs in the RTL (`ifdef DSF_MUT_<NAME>`, one Verilator build each,
  cached in build/) and in the model (`mutate=` of engine_model, a no-op by default) must be caught,
  at the first cycle where the mutated side's trace differs from the clean side's (computed here
  independently), naming the right signal.
* Clean RTL + model pass on zoo models at two configs x several seeds (jobs from the export).
* The slow path (pyverilator VCD window) reproduces the fast path's RTL values.
* The certificate written by `dsf lockstep` is rejected after an RTL or config change.
"""
from __future__ import annotations

import os
import shutil
import sys

import numpy as np
import pytest

from dsf_sim.flows.certificate import CertificateError, check_certificate
from dsf_sim.compiler.hardware import Hardware
from dsf_sim.rtl_bridge import lockstep as LS

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from test_rtl_engine import make_job  # noqa: E402
from zoo import ZOO, small_hw  # noqa: E402

pytestmark = pytest.mark.skipif(shutil.which("verilator") is None, reason="verilator not installed")

# 4x8, AXI 128, 4-bit: KW=5 -> partial last-beat TKEEP, KW=1 -> 4 beats per packet (TLAST position)
MUT_HW = dict(processing_elements=(4, 8), axi_width=128, bits_input=4, bits_weights=4, bits_sum=16,
              max_kernel_size=5, max_image_size=16, max_batch_size=2, max_channels_in=16,
              ram_weights_depth=12, ram_edges_depth=16)
# (KH, KW, CM, XN, XH, XW, x_signed): signed pixels, KW=3 with one MAC beat per column (output
# FIFO pressure), KW=5, KW=1 with XN=2, KH=5, and the smallest job
MUT_GEOMS = [(3, 3, 2, 1, 6, 5, 1), (1, 3, 1, 1, 4, 10, 1), (1, 5, 3, 1, 5, 4, 1),
             (3, 1, 2, 2, 7, 3, 0), (5, 3, 2, 1, 4, 6, 1), (1, 1, 1, 1, 1, 1, 0)]
MUT_STIM = (2, 0.7, 0.3)     # seed, valid_prob, ready_prob

# name -> signal that must be among those reported at the first divergent cycle
RTL_MUTATIONS = {
    "PIX_READY_STUCK": "s_axis_pixels_tready",   # stuck ready
    "WL_READY": "s_axis_weights_tready",         # swapped ready (bank index of the other side)
    "OUT_KEEP": "m_axis_tkeep",                  # dropped keep
    "OUT_LAST": "m_axis_tlast",                  # wrong last (not gated by the last beat)
    "OUT_LATE_VALID": "m_axis_tvalid",           # late valid (no back-to-back packets)
    "PE_SHIFT": "m_axis_tdata",                  # wrong shift (ignores group boundaries)
    "SEQ_FLUSH": "f",                            # flush count (P_W + 2 beats)
    "SEQ_EMIT": "s1_emit",                       # off-by-one in the emit compare
    "SEQ_SIGN": "acc00",                         # wrong sign extension (zero-extends)
    "WL_BANK": "acc00",                          # bank swap error (undelayed read-bank select)
}
MODEL_MUTATIONS = {
    "w_ready_swap": "s_axis_weights_tready",     # swapped ready
    "keep_minus1": "m_axis_tkeep",               # dropped keep byte
    "flush_count": "f",                          # flush count
    "sign_ext": "acc00",                         # wrong sign extension
    "late_valid": "m_axis_tvalid",               # late valid
    "room_no_inflight": "s1_emit",               # FIFO room ignores the capture in flight
    "addr_off": "acc00",                         # off-by-one weight RAM address
}


@pytest.fixture(scope="module")
def mut_setup():
    hw = Hardware(**MUT_HW)
    rng = np.random.default_rng(3)
    jobs = [make_job(hw, rng, *g) for g in MUT_GEOMS]
    jobs = [(j["weights"], j["pixels"]) for j in jobs]
    seed, vp, rp = MUT_STIM
    clean_rtl = LS.rtl_trace(hw, jobs, seed, vp, rp)
    clean_model = LS.model_trace(hw, jobs, seed, vp, rp)
    return hw, jobs, clean_rtl, clean_model


def independent_first_diff(a: LS.Trace, b: LS.Trace):
    """First cycle where two traces of the SAME kind differ on a compared signal (written
    separately from lockstep.first_divergence): valid/ready and internal state every cycle,
    TLAST/TKEEP/TDATA only while both sides have m_axis_tvalid = 1."""
    T = min(len(a), len(b))
    always = [LS.IX[n] for n in LS.SCALARS if n not in ("m_axis_tlast", "jobs_done")]
    d = (a.sc[:T][:, always] != b.sc[:T][:, always]).any(axis=1)
    v = (a.sc[:T, LS.IX["m_axis_tvalid"]] == 1) & (b.sc[:T, LS.IX["m_axis_tvalid"]] == 1)
    d |= v & (a.sc[:T, LS.IX["m_axis_tlast"]] != b.sc[:T, LS.IX["m_axis_tlast"]])
    d |= v & (a.data[:T] != b.data[:T]).any(axis=1)
    d |= v & (a.keep[:T] != b.keep[:T]).any(axis=1)
    idx = np.flatnonzero(d)
    if len(idx):
        return int(idx[0])
    return T if len(a) != len(b) else None


def test_clean_mutation_workload_passes(mut_setup):
    hw, jobs, rtl, model = mut_setup
    assert LS.first_divergence(model, rtl) is None
    assert rtl.status == model.status == "done"
    # the workload exercises what the mutations break
    assert rtl.sc[:, LS.IX["m_axis_tvalid"]].sum() > 50
    assert (rtl.keep[rtl.sc[:, LS.IX["m_axis_tvalid"]] == 1] != 0xFF).any()   # partial TKEEP
    assert rtl.sc[:, LS.IX["out_cnt"]].max() >= 3                              # FIFO pressure


@pytest.mark.parametrize("mut", sorted(RTL_MUTATIONS))
def test_rtl_mutation_caught(mut_setup, mut):
    hw, jobs, clean_rtl, _ = mut_setup
    seed, vp, rp = MUT_STIM
    defs = [f"DSF_MUT_{mut}"]
    r = LS.lockstep(hw, jobs, seed, vp, rp, defines=defs, title=f"(RTL mutation {mut})")
    assert not r.passed, f"RTL mutation {mut} not caught"
    expect = independent_first_diff(LS.rtl_trace(hw, jobs, seed, vp, rp, defines=defs), clean_rtl)
    assert r.cycle == expect, f"{mut}: reported cycle {r.cycle}, mutated RTL differs first at {expect}"
    assert RTL_MUTATIONS[mut] in r.signals, f"{mut}: signals {r.signals}"
    assert f"first divergence at cycle {r.cycle}" in r.report
    assert f"{RTL_MUTATIONS[mut]}: expected (model) =" in r.report and "actual (RTL)" in r.report


@pytest.mark.parametrize("mut", sorted(MODEL_MUTATIONS))
def test_model_mutation_caught(mut_setup, mut):
    hw, jobs, _, clean_model = mut_setup
    seed, vp, rp = MUT_STIM
    r = LS.lockstep(hw, jobs, seed, vp, rp, mutate=mut)
    assert not r.passed, f"model mutation {mut} not caught"
    expect = independent_first_diff(LS.model_trace(hw, jobs, seed, vp, rp, mutate=mut),
                                    clean_model)
    assert r.cycle == expect, f"{mut}: reported cycle {r.cycle}, mutated model differs first at {expect}"
    assert MODEL_MUTATIONS[mut] in r.signals, f"{mut}: signals {r.signals}"


def test_mutations_are_noops_by_default(mut_setup):
    hw, jobs, clean_rtl, clean_model = mut_setup
    seed, vp, rp = MUT_STIM
    again = LS.model_trace(hw, jobs, seed, vp, rp, mutate="none")
    assert independent_first_diff(again, clean_model) is None


def test_vcd_window_matches_fast_path(mut_setup, tmp_path):
    hw, jobs, _, _ = mut_setup
    seed, vp, rp = MUT_STIM
    defs = ["DSF_MUT_OUT_LAST"]
    r = LS.lockstep(hw, jobs, seed, vp, rp, defines=defs, window=12, vcd_dir=str(tmp_path))
    assert not r.passed and r.vcd and os.path.exists(r.vcd)
    txt = open(r.vcd).read()
    assert "$enddefinitions" in txt and "m_axis_tlast" in txt and "dbg_seq_st" in txt
    assert r.vcd in r.report
    t0 = r.cycle - 11
    recs = LS.rtl_vcd_window(hw, jobs, seed, vp, rp, t0, r.cycle + 1, str(tmp_path / "w.vcd"),
                             defs)
    assert len(recs) == 12
    for k, rec in enumerate(recs):
        t = t0 + k
        for n in LS.SCALARS:
            if n in rec:
                assert rec[n] == r.rtl.sc[t, LS.IX[n]], f"pyverilator vs tb_lockstep: {n} @ {t}"
        if rec["m_axis_tvalid"]:
            assert rec["m_axis_tdata"] == int.from_bytes(r.rtl.data[t].tobytes(), "little")


# ------------------------------------------------------------------ clean zoo runs + certificate
ZOO_CFGS = {
    "4x8_axi64_b4": dict(bits=4),
    "4x12_axi128_b8": dict(bits=8, rows=4, cols=12, axi=128),
}
ZOO_MODELS = ["kernels", "mlp", "residual"]
ZOO_STIM = [(1, 1.0, 1.0), (2, 0.5, 0.5), (3, 0.3, 0.8)]


@pytest.mark.parametrize("cfg", sorted(ZOO_CFGS))
def test_zoo_lockstep_clean(cfg, tmp_path):
    hw = small_hw(data_dir=str(tmp_path), **ZOO_CFGS[cfg])
    total = 0
    for name in ZOO_MODELS:
        model = ZOO[name](hw, xn=3 if name == "mlp" else 1)
        ex = model.export_inference(x=model.random_input, hw=hw, out_dir=str(tmp_path / name))
        jobs = LS.export_jobs(ex)
        for seed, vp, rp in ZOO_STIM:
            r = LS.lockstep(hw, jobs, seed, vp, rp)
            assert r.passed, r.report
            total += r.cycles
    assert total > 10000


MODEL_FILE = """
import sys
sys.path.insert(0, {here!r})
from zoo import ZOO, small_hw
hw = small_hw(bits=4, data_dir={data!r})
model = ZOO["mlp"](hw, xn=3)
"""


def test_cli_certificate_rejected_after_rtl_or_config_change(tmp_path, monkeypatch):
    from dsf_sim.flows import certificate
    from dsf_sim.cli import main
    mf = tmp_path / "mlp_model.py"
    mf.write_text(MODEL_FILE.format(here=HERE, data=str(tmp_path / "vec")))
    cert = tmp_path / "cert.json"
    rc = main(["lockstep", str(mf), "--seed", "4", "--valid-prob", "0.5", "--ready-prob", "0.5",
               "--out", str(tmp_path / "out"), "--cert", str(cert)])
    assert rc == 0 and cert.exists()
    hw = small_hw(bits=4, data_dir=str(tmp_path / "vec"))
    c = check_certificate(hw, str(cert))
    run = c["runs"][0]
    assert run["passed"] and run["seed"] == 4 and run["jobs"] > 0 and c["cycles_compared"] > 0
    # config change
    with pytest.raises(CertificateError, match="hardware config changed"):
        check_certificate(small_hw(bits=4, ysum=22, data_dir=str(tmp_path / "vec")), str(cert))
    # RTL change: copies of rtl/ and dsf_sim/models/ under a fake project root (same relative
    # paths, so the unmodified copy hashes equal), then one RTL source edited
    root = tmp_path / "root"
    shutil.copytree(LS.RTL_DIR, root / "rtl")
    shutil.copytree(certificate.MODEL_DIR, root / "dsf_sim" / "models",
                    ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(certificate, "ROOT", str(root))
    monkeypatch.setattr(certificate, "MODEL_DIR", str(root / "dsf_sim" / "models"))
    check_certificate(hw, str(cert), rtl_dir=str(root / "rtl"))
    p = root / "rtl" / "dsf_output.sv"
    p.write_text(p.read_text().replace("assign pop      = (cnt != '0) && dr_free;",
                                       "assign pop      = (cnt != '0) && dr_free && 1'b1;"))
    with pytest.raises(CertificateError, match="RTL sources changed"):
        check_certificate(hw, str(cert), rtl_dir=str(root / "rtl"))

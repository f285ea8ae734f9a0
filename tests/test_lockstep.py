"""Lockstep co-simulation RTL vs twin (rtl_bridge/lockstep.py; contract §7 level 3, architecture
§13).

* Mutation registry (models/engine/mutations.py): every single-point bug, injected into the RTL
  (a patched copy of rtl/, one Verilator build each, cached) or into the twin, is caught at the
  first cycle where the mutated side differs from its clean self (computed here independently),
  naming the registry's signal; where the registry says `mirrored`, the mutated RTL and the
  mutated twin agree on every cycle (the twin mirrors the RTL even under the bug).
* Clean RTL + twin pass on zoo models at two configs x several seeds.
* The slow path (pyverilator VCD window) reproduces the fast path's RTL values.
* The generated debug wrapper and trace header follow the signal table; a stale trace is refused.
* The certificate written by `dsf lockstep` is rejected after an RTL or config change.
"""
from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from cases import make_job
from dsf_sim.compiler.hardware import Hardware
from dsf_sim.flows.certificate import CertificateError, check_certificate
from dsf_sim.models.engine.mutations import MUTATIONS
from dsf_sim.models.engine.signals import SIGNALS
from dsf_sim.rtl_bridge import lockstep as LS
from zoo import ZOO, small_hw

HERE = os.path.dirname(os.path.abspath(__file__))

# 4x8, AXI 128, 4-bit: KW=5 -> partial last-beat TKEEP, KW=1 -> 4 beats per packet (TLAST position)
MUT_HW = dict(processing_elements=(4, 8), axi_width=128, bits_input=4, bits_weights=4, bits_sum=16,
              max_kernel_size=5, max_image_size=16, max_batch_size=2, max_channels_in=16,
              ram_weights_depth=12, ram_edges_depth=16)
# (KH, KW, CM, XN, XH, XW, x_signed): signed pixels, KW=3 with one MAC beat per column (output
# FIFO pressure), KW=5, KW=1 with XN=2, KH=5, and the smallest job
MUT_GEOMS = [(3, 3, 2, 1, 6, 5, 1), (1, 3, 1, 1, 4, 10, 1), (1, 5, 3, 1, 5, 4, 1),
             (3, 1, 2, 2, 7, 3, 0), (5, 3, 2, 1, 4, 6, 1), (1, 1, 1, 1, 1, 1, 0)]
# finish jobs (architecture §17): a leaky configuration that clips, rounds and adds a signed
# skip; then one whose clip range excludes 0 (pad lanes would not be zero); back to back so the
# weights stream waits for a free configuration set
FIN_CFG = dict(SH_CORE=1, SH_BIAS=2, A1=0, B1=3, K1=2, LO1=-4, HI1=5, SKIP_SIGNED=1, SH_ACT=1,
               SH_SKIP=0, A2=0, B2=1, K2=1, LO2=-8, HI2=7, CG_M1=7)
# (the KW=1 job sends 5 of its 8 channel groups: a shorter packet, §17.2)
MUT_FIN = [((3, 3, 2, 1, 6, 5, 1), dict(add=True, cfg=FIN_CFG)),
           ((1, 3, 2, 1, 5, 4, 0), dict(add=False, cfg=dict(FIN_CFG, LO1=1, HI1=6))),
           ((1, 1, 2, 1, 4, 3, 1), dict(add=True, cfg=dict(FIN_CFG, K2=0, SH_SKIP=1, CG_M1=4))),
           ((3, 5, 1, 1, 5, 6, 1), dict(add=True, cfg=FIN_CFG))]
MUT_STIM = (2, 0.7, 0.3)     # seed, valid_prob, ready_prob
# a mutant that shows only when the skip stream is slower than the output drain
STIM_OF = {"out_skip_no_wait": (5, 0.3, 1.0)}
NAMES = [m.name for m in MUTATIONS]


@pytest.fixture(scope="module")
def mut_setup():
    hw = Hardware(**MUT_HW)
    rng = np.random.default_rng(3)
    made = [make_job(hw, rng, *g) for g in MUT_GEOMS]
    made += [make_job(hw, rng, *g, finish=f) for g, f in MUT_FIN]
    jobs = [(j["weights"], j["pixels"], j.get("skip")) for j in made]
    clean_rtl = LS.rtl_trace(hw, jobs, *MUT_STIM)
    clean_model = LS.model_trace(hw, jobs, *MUT_STIM)
    return hw, jobs, clean_rtl, clean_model


def _clean(hw, jobs, stim, side, cache={}):
    key = (stim, side)
    if key not in cache:
        cache[key] = (LS.rtl_trace if side == "rtl" else LS.model_trace)(hw, jobs, *stim)
    return cache[key]


def independent_first_diff(a: LS.Trace, b: LS.Trace):
    """First cycle where two traces of the SAME kind differ on a compared signal (written
    separately from lockstep.first_divergence): valid/ready and internal state every cycle,
    TLAST/TKEEP/TDATA only while both sides have m_axis_tvalid = 1."""
    T = min(len(a), len(b))
    always = [LS.IX[n] for n in LS.NAMES if n not in ("m_axis_tlast", "jobs_done")]
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
    assert rtl.sc[:, LS.IX["cfg_full"]].max() == 3                      # both configuration sets
    assert (rtl.sc[:, LS.IX["s_axis_weights_tready"]] == 0).any()
    assert rtl.sc[:, LS.IX["sk_cnt"]].max() == 2                        # skip FIFO full


@pytest.mark.parametrize("name", NAMES)
def test_rtl_mutation_caught(mut_setup, name):
    hw, jobs, clean_rtl, _ = mut_setup
    mut = {m.name: m for m in MUTATIONS}[name]
    stim = STIM_OF.get(name, MUT_STIM)
    clean_rtl = clean_rtl if stim == MUT_STIM else _clean(hw, jobs, stim, "rtl")
    r = LS.lockstep(hw, jobs, *stim, rtl_mutation=name, title=f"(RTL mutation {name})")
    assert not r.passed, f"RTL mutation {name} not caught"
    expect = independent_first_diff(LS.rtl_trace(hw, jobs, *stim, rtl_mutation=name),
                                    clean_rtl)
    assert r.cycle == expect, f"{name}: reported cycle {r.cycle}, mutated RTL differs at {expect}"
    assert mut.signal in r.signals, f"{name}: signals {r.signals}"
    assert f"first divergence at cycle {r.cycle}" in r.report
    assert f"{mut.signal}: expected (model) =" in r.report and "actual (RTL)" in r.report


@pytest.mark.parametrize("name", NAMES)
def test_twin_mutation_caught_and_mirrored(mut_setup, name):
    hw, jobs, _, clean_model = mut_setup
    mut = {m.name: m for m in MUTATIONS}[name]
    stim = STIM_OF.get(name, MUT_STIM)
    clean_model = clean_model if stim == MUT_STIM else _clean(hw, jobs, stim, "model")
    r = LS.lockstep(hw, jobs, *stim, twin_mutation=name)
    assert not r.passed, f"twin mutation {name} not caught"
    expect = independent_first_diff(LS.model_trace(hw, jobs, *stim, twin_mutation=name),
                                    clean_model)
    assert r.cycle == expect, f"{name}: reported cycle {r.cycle}, mutated twin differs at {expect}"
    assert mut.signal in r.signals, f"{name}: signals {r.signals}"
    if mut.mirrored:
        both = LS.lockstep(hw, jobs, *stim, rtl_mutation=name, twin_mutation=name)
        assert both.passed, f"{name}: mutated RTL and mutated twin differ:\n{both.report}"


@pytest.mark.parametrize("side", ["rtl", "twin"])
def test_streaming_compare_matches_whole_traces(mut_setup, monkeypatch, side):
    """lockstep compares the twin chunk by chunk with the RTL's growing trace file and drops
    what it compared. With chunks of 37 cycles and the twin at most 101 cycles ahead (many
    chunk borders, the twin waiting for the RTL), every mutant is reported at the same cycle
    with the same signals and report as with whole traces, and only rows near the divergence
    are held; a clean run holds no twin rows unless asked to keep them all."""
    hw, jobs, clean_rtl, clean_model = mut_setup
    runs = {}
    for chunk, lead in ((1 << 16, 1 << 18), (37, 101)):
        monkeypatch.setattr(LS, "CHUNK", chunk)
        monkeypatch.setattr(LS, "LEAD", lead)
        for name in NAMES:
            kw = {f"{side}_mutation": name}
            runs[chunk, name] = LS.lockstep(hw, jobs, *STIM_OF.get(name, MUT_STIM), window=8,
                                            **kw)
        clean = LS.lockstep(hw, jobs, *MUT_STIM)
        assert clean.passed and clean.cycles == len(clean_rtl) and clean.model is None
        kept = LS.lockstep(hw, jobs, *MUT_STIM, keep_traces=True)
        assert kept.passed and kept.model.base == 0
        assert independent_first_diff(kept.model, clean_model) is None
        assert len(kept.model) == len(clean_model)
    for name in NAMES:
        big, small = runs[1 << 16, name], runs[37, name]
        if big.passed:              # a twin mutation the stimulus does not reach
            assert small.passed, name
            continue
        assert (small.cycle, small.signals, small.report) == (big.cycle, big.signals,
                                                              big.report), name
        m = small.model
        assert m.base <= max(0, small.cycle - 8 + 1), name
        if small.signals != ["end_of_run"]:
            assert m.base >= small.cycle - 8 - 3 - 37, name
            assert len(m.sc) <= 8 + 3 + 101 + 2 * 37, name


def test_mutations_are_noops_by_default(mut_setup):
    hw, jobs, _, clean_model = mut_setup
    again = LS.model_trace(hw, jobs, *MUT_STIM, twin_mutation="none")
    assert independent_first_diff(again, clean_model) is None
    with pytest.raises(ValueError, match="mutate = 'no_such_bug'"):
        LS.model_trace(hw, jobs, *MUT_STIM, twin_mutation="no_such_bug")


def test_mutation_patches_match_the_rtl_exactly_once():
    from dsf_sim.models.engine.mutations import patch_rtl
    rtl = {p.name: p.read_text() for p in LS.TB_DIR.parent.glob("*.sv")}
    for m in MUTATIONS:
        patched = patch_rtl(rtl, m.name)
        assert patched[m.rtl_file] != rtl[m.rtl_file]
        assert all(patched[f] == rtl[f] for f in rtl if f != m.rtl_file)
    broken = dict(rtl, **{MUTATIONS[0].rtl_file: "module x; endmodule"})
    with pytest.raises(ValueError, match="exactly 1"):
        patch_rtl(broken, MUTATIONS[0].name)


def test_generated_wrapper_and_trace_header_follow_the_table():
    hw = Hardware(**MUT_HW)
    wrapper, header = LS.debug_wrapper(hw), LS.trace_header()
    for s in SIGNALS:
        if s.kind == "debug":
            assert f"output logic [{s.width(hw) - 1}:0] dbg_{s.name}" in wrapper
            if not callable(s.rtl):
                assert f"assign dbg_{s.name} = u_engine.{s.rtl};" in wrapper
            assert f"top->dbg_{s.name};" in header
        elif s.kind == "port":
            assert f"top->{s.name};" in header
        assert f"F_{s.name.upper()}" in header
    assert "dbg_" not in open(LS.TB_DIR.parent / "dsf_engine.sv").read()
    # the accumulator in two 32-bit columns: bits above 32 only where the sums have them
    assert hw.Y_BITS == 16 and "assign dbg_acc00 = u_engine.acc_flat[15:0];" in wrapper
    assert "assign dbg_acc00_hi = 1'b0;" in wrapper
    wide = LS.debug_wrapper(Hardware(**{**MUT_HW, "bits_sum": 40}))
    assert "assign dbg_acc00 = u_engine.acc_flat[31:0];" in wide
    assert "output logic [7:0] dbg_acc00_hi" in wide
    assert "assign dbg_acc00_hi = u_engine.acc_flat[39:32];" in wide


def test_stale_trace_is_refused(mut_setup, tmp_path):
    p = tmp_path / "t.bin"
    p.write_bytes(b"DSFT" + np.array([LS.NS + 1, 16, 2, 0], "<u4").tobytes())
    with pytest.raises(Exception, match="stale harness build"):
        LS.read_trace(str(p))


def test_trace_file_truncated_or_foreign_is_refused(mut_setup, tmp_path):
    """read_trace maps the harness's file without copying: a record cut short or a file that is
    not a trace is a named error, and a whole file reads back the RTL's own columns."""
    hw, jobs, rtl, model = mut_setup
    B = hw.AXI_BYTES
    head = b"DSFT" + np.array([LS.NS, B, (B + 7) // 8, LS.SIGNATURE], "<u4").tobytes()
    rows = np.zeros(3, np.dtype([("sc", "<u4", (LS.NS,)), ("data", np.uint8, (B,)),
                                 ("keep", np.uint8, ((B + 7) // 8,))]))
    rows["sc"] = rtl.sc[:3]
    rows["data"] = rtl.data[:3]
    rows["keep"] = rtl.keep[:3]
    p = tmp_path / "t.bin"
    p.write_bytes(head + rows.tobytes())
    back = LS.read_trace(str(p))
    assert np.array_equal(back.sc, rtl.sc[:3]) and np.array_equal(back.data, rtl.data[:3])
    assert np.array_equal(back.keep, rtl.keep[:3]) and back.side == "RTL"
    p.write_bytes(head + rows.tobytes()[:-1])
    with pytest.raises(Exception, match=r"t.bin: truncated trace"):
        LS.read_trace(str(p))
    p.write_bytes(b"VCD0" + head[4:])
    with pytest.raises(Exception, match=r"t.bin: not a lockstep trace"):
        LS.read_trace(str(p))


def test_vcd_window_matches_fast_path(mut_setup, tmp_path):
    hw, jobs, _, _ = mut_setup
    name = "out_last_early"
    r = LS.lockstep(hw, jobs, *MUT_STIM, window=12, vcd_dir=str(tmp_path), rtl_mutation=name)
    assert not r.passed and r.vcd and os.path.exists(r.vcd)
    txt = open(r.vcd).read()
    assert "$enddefinitions" in txt and "m_axis_tlast" in txt and "dbg_seq_st" in txt
    assert r.vcd in r.report
    t0 = r.cycle - 11
    recs = LS.rtl_vcd_window(hw, jobs, *MUT_STIM, t0, r.cycle + 1, str(tmp_path / "w.vcd"),
                             rtl_mutation=name)
    assert len(recs) == 12
    for k, rec in enumerate(recs):
        t = t0 + k
        for n in LS.NAMES:
            if n in rec:
                assert rec[n] == r.rtl.sc[t, LS.IX[n]], f"pyverilator vs tb_lockstep: {n} @ {t}"
        if rec["m_axis_tvalid"]:
            assert rec["m_axis_tdata"] == int.from_bytes(r.rtl.data[t].tobytes(), "little")


# ------------------------------------------------------------------ clean zoo runs + certificate
ZOO_CFGS = {"4x8_axi64_b4": dict(bits=4), "4x12_axi128_b8": dict(bits=8, rows=4, cols=12, axi=128)}
ZOO_STIM = [(1, 1.0, 1.0), (2, 0.5, 0.5), (3, 0.3, 0.8)]


@pytest.mark.parametrize("cfg", sorted(ZOO_CFGS))
def test_zoo_lockstep_clean(cfg, tmp_path):
    hw = small_hw(data_dir=str(tmp_path), **ZOO_CFGS[cfg])
    total = 0
    for name in ("kernels", "mlp", "residual"):
        model = ZOO[name](hw, xn=3 if name == "mlp" else 1)
        ex = model.export_inference(x=model.random_input, hw=hw, out_dir=str(tmp_path / name))
        jobs = LS.export_jobs(ex)
        for stim in ZOO_STIM:
            r = LS.lockstep(hw, jobs, *stim)
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
    from dsf_sim.cli import main
    from dsf_sim.flows import certificate
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
    with pytest.raises(CertificateError, match="hardware config changed"):
        check_certificate(small_hw(bits=4, ysum=22, data_dir=str(tmp_path / "vec")), str(cert))
    # RTL change: copies of rtl/ and dsf_sim/models/ under a fake project root (same relative
    # paths, so the unmodified copy hashes equal), then one RTL source edited
    root = tmp_path / "root"
    shutil.copytree(LS.TB_DIR.parent, root / "rtl")
    shutil.copytree(certificate.MODEL_DIR, root / "dsf_sim" / "models",
                    ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(certificate, "MODEL_DIR", str(root / "dsf_sim" / "models"))
    check_certificate(hw, str(cert), rtl_dir=str(root / "rtl"))
    p = root / "rtl" / "dsf_output.sv"
    p.write_text(p.read_text().replace("assign pop      = (cnt != '0) && dr_free;",
                                       "assign pop      = (cnt != '0) && dr_free && 1'b1;"))
    with pytest.raises(CertificateError, match="RTL sources changed"):
        check_certificate(hw, str(cert), rtl_dir=str(root / "rtl"))

"""Equivalence certificates gate the build flows; yosys gives open resource estimates."""
import json
import os
import shutil

import pytest

from dsf_sim.flows.asic_flow import build_asic
from dsf_sim.flows.fpga_flow import vivado_tcl
from dsf_sim.flows.synth_estimate import synth_estimate, utilisation_table
from dsf_sim.flows.boards import BOARDS
from dsf_sim.flows.certificate import (RTL_DIR, CertificateError, check_certificate, write_certificate)
from dsf_sim.errors import HardwareError
from zoo import small_hw

RUNS = [{"model": "residual", "seed": 1, "cycles": 1234, "passed": True}]


def test_certificate_roundtrip_and_rejections(tmp_path):
    hw = small_hw()
    p = write_certificate(hw, RUNS, path=str(tmp_path / "cert.json"))
    cert = check_certificate(hw, p)
    assert cert["cycles_compared"] == 1234 and cert["runs"][0]["seed"] == 1
    # another hardware configuration -> rejected
    with pytest.raises(CertificateError, match="hardware config changed"):
        check_certificate(small_hw(rows=8, cols=24, axi=128), p)
    # any RTL change -> rejected
    rtl = tmp_path / "rtl"
    shutil.copytree(RTL_DIR, rtl)
    p2 = write_certificate(hw, RUNS, path=str(tmp_path / "cert2.json"), rtl_dir=str(rtl))
    check_certificate(hw, p2, rtl_dir=str(rtl))
    f = rtl / "dsf_pe_array.sv"
    f.write_text(f.read_text() + "\n// a one-line change\n")
    with pytest.raises(CertificateError, match="RTL sources changed"):
        check_certificate(hw, p2, rtl_dir=str(rtl))
    with pytest.raises(CertificateError, match="did not pass"):
        write_certificate(hw, [{"model": "m", "seed": 1, "cycles": 5, "passed": False}],
                          path=str(tmp_path / "c3.json"))
    with pytest.raises(CertificateError, match="existing certificate"):
        check_certificate(hw, str(tmp_path / "missing.json"))


def test_build_flows_need_certificate_or_loud_override(tmp_path, capsys):
    hw = small_hw()
    with pytest.raises(CertificateError, match="--force"):
        vivado_tcl(hw, "zcu104", str(tmp_path / "v0"), certificate=str(tmp_path / "none.json"))
    p = vivado_tcl(hw, "zcu104", str(tmp_path / "v1"), certificate=str(tmp_path / "none.json"),
                   override=True)
    assert "UNCERTIFIED BUILD" in open(p).read()
    assert "NO EQUIVALENCE CERTIFICATE" in capsys.readouterr().err
    cert = write_certificate(hw, RUNS, path=str(tmp_path / "cert.json"))
    p = vivado_tcl(hw, "zcu104", str(tmp_path / "v2"), certificate=cert)
    text = open(p).read()
    assert "equivalence certificate:" in text and "launch_runs impl_1" in text
    files = build_asic(hw, str(tmp_path / "asic"), certificate=cert)["paths"]
    assert "syn_generic" in open(files["syn.tcl"]).read()
    assert "route_design" in open(files["pnr.tcl"]).read()
    # the seed's hw.export_vivado_tcl before any certificate: written quietly, marked
    # UNCERTIFIED, and the script refuses to build in Vivado unless DSF_ALLOW_UNCERTIFIED is set
    p = hw.export_vivado_tcl("zcu104", out_dir=str(tmp_path / "v3"),
                             certificate=str(tmp_path / "none.json"))
    text = open(p).read()
    assert "# UNCERTIFIED:" in text and "::env(DSF_ALLOW_UNCERTIFIED)" in text
    assert "NO EQUIVALENCE CERTIFICATE" not in capsys.readouterr().err
    # DeepSoCFlow's keyword arguments: absolute RTL paths, a board TCL, the scripts folder
    board = tmp_path / "board.tcl"
    board.write_text("# board design\n")
    p = hw.export_vivado_tcl(board="zcu104", rtl_dir_abspath=RTL_DIR,
                             scripts_dir_abspath=str(tmp_path / "v4"),
                             board_tcl_abspath=str(board), certificate=cert)
    text = open(p).read()
    assert p == str(tmp_path / "v4" / "vivado_flow.tcl") and f"source {{{board}}}" in text
    assert "equivalence certificate:" in text
    # the named RTL folder's sources are what the folder builds (copied: self-contained)
    for f in os.listdir(RTL_DIR):
        if f.endswith(".sv"):
            assert (tmp_path / "v4" / "rtl" / f).read_text() == open(os.path.join(RTL_DIR, f)).read()
    with pytest.raises(HardwareError, match="rtl_dir_abspath = .* is invalid"):
        hw.export_vivado_tcl(rtl_dir_abspath=str(tmp_path), out_dir=str(tmp_path / "v5"))
    with pytest.raises(HardwareError, match="board_tcl_abspath = .* is invalid"):
        hw.export_vivado_tcl(board_tcl_abspath=str(tmp_path / "no.tcl"), out_dir=str(tmp_path))


def _two_sizes(tmp_path, target):
    """yosys on a 2x4 and a 4x8 engine (32-bit streams), the two runs side by side."""
    from concurrent.futures import ThreadPoolExecutor
    cfgs = [(small_hw(rows=2, cols=4, kmax=3, axi=32), "a"), (small_hw(rows=4, cols=8, kmax=3, axi=32), "b")]
    with ThreadPoolExecutor(2) as ex:
        return list(ex.map(lambda c: synth_estimate(c[0], str(tmp_path / c[1]), target), cfgs))


def test_yosys_area_estimate_scales_with_array(tmp_path):
    small, big = _two_sizes(tmp_path, "generic")
    assert small["cells_total"] > 1000
    # 24 more PEs, each a 4x4-bit multiplier and a 20-bit accumulator (hundreds of cells); the
    # output pipeline (AXI_WIDTH / X_BITS lanes) is the same in both
    assert big["cells_total"] - small["cells_total"] > 24 * 200


def test_xilinx_resources_grow_with_the_array(tmp_path):
    """yosys synth_xilinx at two array sizes: LUTs and DSPs grow with ROWS x COLS (one DSP per
    multiplier in yosys' mapping), the figures add up from the primitive counts."""
    small, big = _two_sizes(tmp_path, "xcup")
    rs, rb = small["resources"], big["resources"]
    assert rs["DSP"] == 2 * 4 and rb["DSP"] == 4 * 8
    assert rb["LUT"] > rs["LUT"] + 24 * 10 and rb["FF"] > rs["FF"] + 24 * 16
    luts = sum(n for c, n in big["cells"].items() if c in {f"LUT{i}" for i in range(1, 7)})
    assert rb["LUT_logic"] == luts and rb["LUT"] >= luts
    table = utilisation_table(big, BOARDS["zcu104"].capacity)
    assert "DSP" in table and f"{100 * 32 / 1728:.1f}" in table
    with open(tmp_path / "b" / "synth.json") as f:
        assert json.load(f)["resources"] == rb
    with pytest.raises(HardwareError, match="family = 'xcvu' is invalid"):
        synth_estimate(small_hw(), str(tmp_path / "c"), "xcvu")


def test_cli_build_gated(tmp_path):
    import subprocess
    import sys
    cfg = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs",
                       "small_4x8.json")
    env = {**os.environ, "DSF_CERT_DIR": str(tmp_path / "certs")}
    dsf = [sys.executable, "-m", "dsf_sim.cli", "build", "vivado", "--hw", cfg]
    r = subprocess.run(dsf + ["--out", str(tmp_path / "v")], capture_output=True, text=True,
                       env=env, timeout=300)
    assert r.returncode == 2 and "dsf lockstep" in r.stderr
    assert not (tmp_path / "v" / "vivado_flow.tcl").exists()
    r = subprocess.run(dsf + ["--out", str(tmp_path / "v"), "--force"], capture_output=True,
                       text=True, env=env, timeout=300)
    assert r.returncode == 0 and "NO EQUIVALENCE CERTIFICATE" in r.stderr
    assert "UNCERTIFIED BUILD" in (tmp_path / "v" / "vivado_flow.tcl").read_text()

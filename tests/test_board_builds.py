"""From an equivalent design to a board (issue 12): FPGA and ASIC build folders, their gate,
cross-compiled runtimes, the Linux/PYNQ driver against the twin, SRAM macro tiling."""
import json
import os
import re
import struct
import subprocess
import sys
import types

import numpy as np
import pytest

from cases import SYSTEM_CONFIGS, export_zoo, make_job
from zoo import small_hw
from dsf_sim.compiler.export import load_export
from dsf_sim.errors import DsfError, HardwareError
from dsf_sim.flows.asic_flow import build_asic, macro_tiling, weight_ram_wrapper_sv, SRAM_MACRO_SV
from dsf_sim.flows.boards import BOARDS, DMA_CHANNELS, address_map
from dsf_sim.flows.certificate import CertificateError, write_certificate
from dsf_sim.compiler.binfile import read as read_bin
from dsf_sim.flows.fpga_flow import build_fpga, cross_compile, load_build_info
from dsf_sim.flows.tcl_dryrun import TclDryRunError, dry_run, property_values

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
XIL_STUBS = os.path.join(HERE, "xil_stubs")
RUNS = [{"model": "resblock", "seed": 1, "cycles": 3020, "passed": True}]
CFLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-O2"]


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    """A residual model exported for the 4x8, 64-bit engine (on-chip finish + skip channel)."""
    d = tmp_path_factory.mktemp("resblock")
    export_zoo("resblock", "4x8_axi64", d)
    hw, _ = load_export(str(d))
    return str(d), hw


@pytest.fixture(scope="module")
def cert(export, tmp_path_factory):
    return write_certificate(export[1], RUNS, path=str(tmp_path_factory.mktemp("c") / "c.json"))


def _calls(calls, name):
    return [c for c in calls if c[0] == name]


# ----------------------------------------------------------------------------- FPGA
@pytest.mark.parametrize("board", sorted(BOARDS))
def test_fpga_folder_per_board(board, export, cert, tmp_path):
    exp, hw = export
    b = BOARDS[board]
    out = tmp_path / board
    info = build_fpga(hw, board, str(out), certificate=cert, export_dir=exp)
    assert info["certificate"]["status"] == "certified"
    assert load_build_info(str(out))["entries"] == ["hardware", "rtl", "sw", "vivado",
                                                     "vivado_flow.tcl"]
    calls = dry_run(str(out / "vivado_flow.tcl"))
    pv = property_values(calls)
    # part, board, processing system, clock
    proj = _calls(calls, "create_project")[0]
    assert proj[proj.index("-part") + 1] == b.part
    assert ["set_property", "board_part", b.board_part, "current_project"] in calls
    if b.board_connections:
        assert any(c[:2] == ["set_property", "board_connections"] and c[2] == b.board_connections
                   for c in calls)
    ps_vlnv = {"zynqmp": "xilinx.com:ip:zynq_ultra_ps_e", "zynq7": "xilinx.com:ip:processing_system7"}
    cells = {c[-1]: c[c.index("-vlnv") + 1] if "-vlnv" in c else c[c.index("-reference") + 1]
             for c in _calls(calls, "create_bd_cell")}
    ps = [n for n, v in cells.items() if v == ps_vlnv[b.ps]]
    assert len(ps) == 1
    clock_key = ("CONFIG.PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ" if b.ps == "zynqmp"
                 else "CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ")
    assert float(pv[(ps[0], clock_key)]) == hw.frequency_mhz
    hp_key = ("CONFIG.PSU__SAXIGP2__DATA_WIDTH" if b.ps == "zynqmp"
              else "CONFIG.PCW_S_AXI_HP0_DATA_WIDTH")
    assert int(pv[(ps[0], hp_key)]) == min(hw.axi_width, b.hp_max_width)
    # one DMA per engine stream, simple mode, axi_width on both sides
    dmas = sorted(n for n, v in cells.items() if v == "xilinx.com:ip:axi_dma")
    assert dmas == sorted(f"dma_{n}" for n, _, _ in DMA_CHANNELS) and len(dmas) == 4
    assert cells["engine"] == "dsf_engine_axis"
    for name, kind, port in DMA_CHANNELS:
        d = f"dma_{name}"
        assert pv[(d, "CONFIG.c_include_sg")] == "0"
        assert pv[(d, f"CONFIG.c_include_{kind}")] == "1"
        other = "s2mm" if kind == "mm2s" else "mm2s"
        assert pv[(d, f"CONFIG.c_include_{other}")] == "0"
        stream = "m_axis_mm2s" if kind == "mm2s" else "s_axis_s2mm"
        assert int(pv[(d, f"CONFIG.c_{stream}_tdata_width")]) == hw.axi_width
        assert int(pv[(d, f"CONFIG.c_m_axi_{kind}_data_width")]) == hw.axi_width
        assert int(pv[(d, f"CONFIG.c_{kind}_burst_size")]) == hw.axi_max_burst_len
        pair = ([f"{d}/M_AXIS_MM2S", f"engine/{port}"] if kind == "mm2s"
                else [f"engine/{port}", f"{d}/S_AXIS_S2MM"])
        assert ["connect_bd_intf_net"] + pair in calls
    # address map: TCL == BUILD_INFO == dsf_board.h, 64 KiB apart on the PS master port
    amap = address_map(b)
    regs = {c[-2].split("/")[0]: int(c[c.index("-offset") + 1], 16)
            for c in _calls(calls, "assign_bd_address") if c[-2].endswith("/S_AXI_LITE/Reg")}
    assert regs == {f"dma_{n}": a for n, a in amap.items()}
    assert {d["name"]: int(d["base"], 16) for d in info["dma"]} == amap
    header = (out / "sw" / "src" / "dsf_board.h").read_text()
    for n, a in amap.items():
        assert f"#define DSF_DMA_{n.upper()}_BASE 0x{a:08X}u" in header
    ddr = [c for c in _calls(calls, "assign_bd_address") if "DDR" in c[-2]]
    assert len(ddr) == 4 and all(int(c[c.index("-range") + 1], 16) == b.ddr_bytes for c in ddr)
    # every interrupt reaches the PS, every flow step is there
    assert len([c for c in _calls(calls, "connect_bd_net") if "_introut" in c[1]]) == 4
    for step in ("validate_bd_design", "launch_runs", "write_hw_platform", "report_timing_summary",
                 "report_utilization"):
        assert _calls(calls, step), step
    # the RTL list names files of the folder (the script errors on a missing one)
    added = [w for c in _calls(calls, "add_files") for w in c[-1].split() if w.endswith(".sv")]
    assert added and all(w.startswith(str(out / "rtl")) and os.path.exists(w) for w in added)
    vitis = dry_run(str(out / "sw" / "vitis.tcl"))
    assert any(c[0] == "platform" and b.cpu in c for c in vitis)
    # the Linux library was cross-compiled for the board's ABI
    lib = out / info["sw"]["linux_lib"]
    assert lib.name == f"libdsf_fw_{b.arch}.so"
    machine = {"aarch64": b"\xb7\x00", "armhf": b"\x28\x00"}[b.arch]   # ELF e_machine
    assert lib.read_bytes()[18:20] == machine


def test_engine_wrapper_is_plain_verilog_that_verilator_accepts(export, tmp_path):
    from dsf_sim.rtl_bridge.verilator import engine_texts
    exp, hw = export
    build_fpga(hw, "zcu104", str(tmp_path / "f"), force=True)
    rtl = tmp_path / "f" / "rtl"
    wrapper = (rtl / "dsf_engine_axis.v").read_text()
    assert "logic" not in wrapper and "dsf_cfg::" not in wrapper
    assert f"input  wire [{hw.axi_width - 1}:0] s_axis_pixels_tdata" in wrapper
    srcs = [str(rtl / "dsf_cfg.sv")] + sorted(str(p) for p in rtl.glob("dsf_*.sv")
                                              if p.name != "dsf_cfg.sv")
    r = subprocess.run(["verilator", "--lint-only", "-Wall", "-Wno-DECLFILENAME", f"-I{rtl}",
                        "--top-module", "dsf_engine_axis", *srcs, str(rtl / "dsf_engine_axis.v")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    # the folder's RTL is the certified RTL: same texts as the engine the twin is checked against
    for name, text in engine_texts(hw).items():
        if name.endswith(".sv"):
            assert (rtl / name).read_text() == text, name


def test_gate_refuses_forces_and_accepts(export, cert, tmp_path, capsys):
    exp, hw = export
    none = str(tmp_path / "no_cert.json")
    with pytest.raises(CertificateError, match="--force"):
        build_fpga(hw, "zcu104", str(tmp_path / "refused"), certificate=none)
    with pytest.raises(CertificateError, match="--force"):
        build_asic(hw, str(tmp_path / "refused_asic"), certificate=none)
    assert not (tmp_path / "refused" / "BUILD_INFO.json").exists()
    assert not (tmp_path / "refused" / "vivado_flow.tcl").exists()
    info = build_fpga(hw, "zcu104", str(tmp_path / "forced"), certificate=none, force=True)
    assert "NO EQUIVALENCE CERTIFICATE" in capsys.readouterr().err
    rec = load_build_info(str(tmp_path / "forced"))["certificate"]
    assert rec["status"] == "forced" == info["certificate"]["status"] and "no_cert" in rec["reason"]
    assert "UNCERTIFIED BUILD (forced" in (tmp_path / "forced" / "vivado_flow.tcl").read_text()
    a = build_asic(hw, str(tmp_path / "forced_asic"), certificate=none, force=True)
    assert a["certificate"]["status"] == "forced"
    assert "UNCERTIFIED BUILD" in (tmp_path / "forced_asic" / "config.tcl").read_text()
    ok = build_fpga(hw, "zcu104", str(tmp_path / "ok"), certificate=cert)
    assert ok["certificate"]["status"] == "certified" and ok["certificate"]["cycles_compared"] == 3020
    # a certificate of another hardware does not open the gate
    other = small_hw(rows=4, cols=8, axi=128)
    with pytest.raises(CertificateError, match="hardware config changed"):
        build_fpga(other, "zcu104", str(tmp_path / "other"), certificate=cert)
    # DeepSoCFlow's hw.export_vivado_tcl: quiet, UNCERTIFIED, and the TCL refuses to run
    from dsf_sim.api.hardware import Hardware
    capsys.readouterr()
    p = Hardware.from_dict(hw.to_dict()).export_vivado_tcl("zcu104", out_dir=str(tmp_path / "q"),
                                                           certificate=none)
    assert "NO EQUIVALENCE" not in capsys.readouterr().err
    with pytest.raises(TclDryRunError, match="DSF_ALLOW_UNCERTIFIED"):
        dry_run(p)
    assert _calls(dry_run(p, env={"DSF_ALLOW_UNCERTIFIED": "1"}), "create_project")


def test_fpga_build_bad_inputs(export, cert, tmp_path):
    exp, hw = export
    with pytest.raises(HardwareError, match="board = 'zcu999' is invalid"):
        build_fpga(hw, "zcu999", str(tmp_path / "a"), certificate=cert)
    fast = small_hw(rows=4, cols=8, axi=64, frequency_mhz=400)
    with pytest.raises(HardwareError, match="frequency_mhz = 400.0 is invalid: allowed 0 < f <= 250"):
        build_fpga(fast, "pynq-z2", str(tmp_path / "b"), force=True)
    with pytest.raises(HardwareError, match="clock_mhz = '200' is invalid: allowed a number"):
        build_fpga(fast, "pynq-z2", str(tmp_path / "b"), force=True, clock_mhz="200")
    info = build_fpga(fast, "pynq-z2", str(tmp_path / "b"), force=True, clock_mhz=200)
    assert info["clock_mhz"] == 200
    burst = small_hw(rows=4, cols=8, axi=64, axi_max_burst_len=12)
    with pytest.raises(HardwareError, match="axi_max_burst_len = 12 is invalid"):
        build_fpga(burst, "zcu104", str(tmp_path / "c"), force=True)
    other = small_hw(rows=4, cols=8, axi=128)
    with pytest.raises(DsfError, match="export = .* is invalid: allowed an export made for this "
                                       "hardware"):
        build_fpga(other, "zcu104", str(tmp_path / "d"), force=True, export_dir=exp)
    # a folder that holds someone else's rtl/: refused, nothing of it replaced
    mine = tmp_path / "mine"
    (mine / "rtl").mkdir(parents=True)
    (mine / "rtl" / "keep.sv").write_text("// mine\n")
    with pytest.raises(DsfError, match="exists and is not a build's"):
        build_fpga(hw, "zcu104", str(mine), certificate=cert)
    assert (mine / "rtl" / "keep.sv").read_text() == "// mine\n"
    assert sorted(os.listdir(mine)) == ["rtl"]                  # no staging folder left behind
    # a build folder is rebuilt in place (its own entries are replaced)
    build_fpga(hw, "zcu104", str(tmp_path / "re"), certificate=cert)
    build_fpga(hw, "kv260", str(tmp_path / "re"), certificate=cert)
    assert load_build_info(str(tmp_path / "re"))["board"] == "kv260"
    with pytest.raises(DsfError, match="BUILD_INFO.json missing"):
        load_build_info(str(tmp_path / "nothing"))


def test_cli_build_fpga_and_asic(export, tmp_path):
    exp, hw = export
    env = {**os.environ, "DSF_CERT_DIR": str(tmp_path / "certs")}
    dsf = [sys.executable, "-m", "dsf_sim.cli", "build"]
    r = subprocess.run(dsf + ["fpga", "--export", exp, "--board", "kv260", "--out",
                              str(tmp_path / "f")], capture_output=True, text=True, env=env,
                       timeout=600)
    assert r.returncode == 2 and r.stderr.startswith("dsf: error:") and "dsf lockstep" in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "f" / "BUILD_INFO.json").exists()
    r = subprocess.run(dsf + ["fpga", "--export", exp, "--board", "kv260", "--out",
                              str(tmp_path / "f"), "--force"], capture_output=True, text=True,
                       env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    info = json.loads((tmp_path / "f" / "BUILD_INFO.json").read_text())
    assert info["board"] == "kv260" and info["certificate"]["status"] == "forced"
    assert info["sw"]["baremetal"] and (tmp_path / "f" / "sw" / "src" / "dsf_data.c").exists()
    r = subprocess.run(dsf + ["fpga", "--export", exp, "--board", "nope", "--out",
                              str(tmp_path / "g"), "--force"], capture_output=True, text=True,
                       env=env, timeout=600)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    r = subprocess.run(dsf + ["asic", "--export", exp, "--out", str(tmp_path / "a"), "--force",
                              "--sram-words", "6"], capture_output=True, text=True, env=env,
                       timeout=600)
    assert r.returncode == 2 and "dsf: error: sram_words = 6 is invalid" in r.stderr


# ----------------------------------------------------------------------------- ASIC
def test_asic_folder_scripts_run_with_stubbed_tools(export, cert, tmp_path):
    exp, hw = export
    out = tmp_path / "asic"
    info = build_asic(hw, str(out), certificate=cert, sram_words=16, sram_bits=16)
    t = info["sram"]
    assert (t["rows"], t["cols"]) == (-(-hw.RAM_WEIGHTS_DEPTH // 16), -(-hw.COLS * hw.K_BITS // 16))
    assert t["macros_total"] == 2 * t["rows"] * t["cols"]
    # placeholders stop the flow with the variable's name
    with pytest.raises(TclDryRunError, match="set DSF_LIB_FILES"):
        dry_run(str(out / "syn.tcl"))
    pdk = {"DSF_LIB_FILES": "/pdk/typ.lib", "DSF_LEF_FILES": "/pdk/tech.lef /pdk/cells.lef",
           "DSF_SRAM_LIB_FILES": "/pdk/sram.lib", "DSF_SRAM_LEF_FILES": "/pdk/sram.lef"}
    syn = dry_run(str(out / "syn.tcl"), env=pdk)
    hdl = _calls(syn, "read_hdl")[0]
    assert "DSF_SRAM_MACROS" in hdl and all(os.path.exists(f) for f in hdl[-1].split())
    assert _calls(syn, "elaborate")[0][1] == "dsf_engine"
    # mmmc.tcl and constraints.sdc were read: library set, corner, and the clock of the config
    libs = _calls(syn, "create_library_set")[0]
    assert libs[libs.index("-timing") + 1].split() == ["/pdk/typ.lib", "/pdk/sram.lib"]
    clk = _calls(syn, "create_clock")[0]
    assert float(clk[clk.index("-period") + 1]) == pytest.approx(1000 / hw.frequency_mhz, 1e-4)
    assert _calls(syn, "set_analysis_view") and _calls(syn, "syn_opt")
    lef = _calls(syn, "read_physical")[0]
    assert lef[-1].split() == ["/pdk/tech.lef", "/pdk/cells.lef", "/pdk/sram.lef"]
    with pytest.raises(TclDryRunError, match="run syn.tcl first"):
        dry_run(str(out / "pnr.tcl"), env=pdk)
    (out / "out").mkdir()
    (out / "out" / "dsf_engine_netlist.v").write_text("// netlist\n")
    pnr = dry_run(str(out / "pnr.tcl"), env=pdk)
    for step in ("read_mmmc", "init_design", "create_floorplan", "place_opt_design",
                 "ccopt_design", "route_design", "write_def", "write_db"):
        assert _calls(pnr, step), step
    assert _calls(pnr, "create_clock")                       # the SDC again, through mmmc
    # without macros: no SRAM libraries, generic RAM
    build_asic(hw, str(tmp_path / "nomacro"), certificate=cert, use_macros=False)
    syn2 = dry_run(str(tmp_path / "nomacro" / "syn.tcl"), env=pdk)
    assert "DSF_SRAM_MACROS" not in _calls(syn2, "read_hdl")[0]
    assert _calls(syn2, "create_library_set")[0][-1] == "/pdk/typ.lib"


@pytest.mark.parametrize("words,bits", [(4, 12), (16, 32), (64, 32)])
def test_sram_macro_tiling_is_cycle_identical_to_the_generic_ram(words, bits):
    """The ASIC weight banks (tiled dsf_sram_macro instances) in the Verilator engine: the same
    output beats and cycles as the twin, job after job (banks written and read in turn)."""
    from dsf_sim.models.engine import run_engine_jobs_model
    from dsf_sim.rtl_bridge.engine_tb import run_engine_jobs_full
    hw = small_hw(**SYSTEM_CONFIGS["4x8_axi64"])
    t = macro_tiling(hw, words, bits)   # 4x12: rows and padded columns; 16x32: rows; 64x32: one
    rng = np.random.default_rng(words)
    jobs = []
    for KH, KW, CM in ((3, 3, 7), (1, 1, hw.RAM_WEIGHTS_DEPTH), (5, 3, hw.RAM_WEIGHTS_DEPTH // 5)):
        j = make_job(hw, rng, KH, KW, CM, 1, 2 * hw.ROWS + 1, 4, 1)
        jobs.append((j["weights"], j["pixels"]))
    texts = {"dsf_weight_ram.sv": weight_ram_wrapper_sv(t), "dsf_sram_macro.sv": SRAM_MACRO_SV}
    rtl = run_engine_jobs_full(hw, jobs, seed=3, valid_prob=0.6, ready_prob=0.7,
                               rtl_texts=texts, defines=("DSF_SRAM_MACROS",))
    beats, cycles = run_engine_jobs_model(hw, jobs, seed=3, valid_prob=0.6, ready_prob=0.7)
    assert list(rtl["cycles_per_job"]) == list(cycles)
    for (d1, k1, l1), (d2, k2, l2) in zip(rtl["beats"], beats):
        assert np.array_equal(d1, d2) and np.array_equal(k1, k2) and np.array_equal(l1, l2)


# ----------------------------------------------------------------------------- runtimes
@pytest.mark.parametrize("prefix", ["aarch64-linux-gnu-", "arm-linux-gnueabihf-"])
def test_firmware_and_baremetal_app_cross_compile(prefix, export, tmp_path):
    """-Werror builds for Zynq UltraScale+ (aarch64) and Zynq-7000 (armhf): the firmware as the
    Linux shared library, and the Vitis application against declarations of the Xilinx BSP."""
    exp, hw = export
    board = "zcu104" if prefix.startswith("aarch64") else "pynq-z2"
    build_fpga(hw, board, str(tmp_path / "f"), force=True, export_dir=exp, cross=False)
    src = str(tmp_path / "f" / "sw" / "src")
    cross_compile(src, str(tmp_path / "libdsf_fw.so"), prefix)
    for f in ("dsf_main_xil.c", "dsf_data.c", "dsf_fw.c", "dsf_fw_hal.c"):
        r = subprocess.run([prefix + "gcc", *CFLAGS, f"-I{src}", f"-I{XIL_STUBS}", "-c",
                            os.path.join(src, f), "-o", str(tmp_path / (f + ".o"))],
                           capture_output=True, text=True)
        assert r.returncode == 0, f"{f}: {r.stderr}"
    # the model's data went into the application unchanged
    data = (tmp_path / "f" / "sw" / "src" / "dsf_data.c").read_text()
    want = read_bin(os.path.join(exp, "expected.bin"), "expected", None)
    body = re.search(r"dsf_expected_bin\[\d+\][^{]*\{\n(.*?)\n\}", data, re.S).group(1)
    assert np.array_equal(np.array([int(v) for v in body.replace("\n", "").split(",")]), want)


def test_driver_runs_an_inference_on_the_twin(export):
    """The Linux/PYNQ driver (blocking firmware loop + Python HAL) on the twin's HAL: bit-exact,
    and the same cycles as the whole-system twin."""
    from dsf_sim.models.system_model import run_system_model
    from dsf_sim.runtime.board_driver import Accelerator
    from dsf_sim.models.twin_hal import TwinHal
    exp, hw = export
    hal = TwinHal(hw)
    acc = Accelerator(exp, hal)
    y = acc.run()
    assert acc.check()
    assert np.array_equal(y, read_bin(os.path.join(exp, "expected.bin"), "expected", None))
    ref = run_system_model(exp, seed=1)
    assert hal.cycles == ref["cycles_total"]
    moved = acc.summary()["bytes_per_channel"]
    assert moved["skip"] > 0
    for ch in ("pixels", "weights", "skip"):
        assert moved[ch] == ref["bytes_per_channel"][ch], ch
    # random handshakes: the same data, more cycles
    slow = TwinHal(hw, seed=5, valid_prob=0.5, ready_prob=0.5)
    y2 = Accelerator(exp, slow).run()
    assert np.array_equal(y2, y) and slow.cycles > hal.cycles
    # bad inputs
    with pytest.raises(DsfError, match="input = 3 bytes is invalid: allowed exactly"):
        acc.run(b"abc")
    with pytest.raises(DsfError, match="allowed a uint8 numpy array"):
        Accelerator(exp, types.SimpleNamespace(allocate=lambda n: [0] * n))


class _FakeBuffer(np.ndarray):
    """pynq.allocate's PynqBuffer: an ndarray whose slices flush / invalidate their range."""
    log = None

    def flush(self):
        self._record("flush")

    def invalidate(self):
        self._record("invalidate")

    def _record(self, what):
        base = self.base if self.base is not None else self
        off = self.ctypes.data - base.ctypes.data
        type(self).log.append((what, off, self.nbytes))

    def freebuffer(self):
        pass


def _fake_pynq(hw, log, fault=None):
    """A stand-in `pynq` whose four AXI DMAs are the twin (TwinHal), recording the calls; the
    status registers read Idle once the twin completed the transfer, its error bits for an
    injected fault, and busy forever for a stuck one."""
    from dsf_sim.models.twin_hal import TwinHal
    from dsf_sim.runtime.faults import DMA_FAILED, DMA_STUCK
    twin = TwinHal(hw, fault=fault)
    _FakeBuffer.log = log

    def allocate(shape, dtype):
        arr = twin.allocate(shape[0])
        return arr.view(_FakeBuffer)

    class Chan:
        def __init__(self, ch):
            self.ch = ch

        def transfer(self, array, start=0, nbytes=0):
            log.append(("transfer", self.ch, start, nbytes))
            twin.start(self.ch, start, nbytes)
            self.got = None

    class Dma:
        def __init__(self, ch):
            self.sendchannel = self.recvchannel = Chan(ch)

        def read(self, offset):
            c = self.recvchannel
            if offset == (0x34 if c.ch == 2 else 0x04):          # DMASR
                if c.got is None:
                    c.got = twin.wait(c.ch)
                if c.got & DMA_FAILED:
                    return 0 if c.got & DMA_STUCK else c.got & 0x70
                return 0x02
            assert offset == 0x58 and c.ch == 2
            return c.got

    class Overlay:
        def __init__(self, bitfile, download=True):
            self.ip_dict = {f"dma_{n}": {} for n in ("pixels", "weights", "output", "skip")}
            for i, n in enumerate(("pixels", "weights", "output", "skip")):
                setattr(self, f"dma_{n}", Dma(i))

    return types.SimpleNamespace(Overlay=Overlay, allocate=allocate), twin


def test_pynq_hal_drives_the_block_design_dmas(export, monkeypatch):
    from dsf_sim.runtime.board_driver import Accelerator
    from dsf_sim.runtime.pynq_hal import PynqHal
    exp, hw = export
    log = []
    fake, twin = _fake_pynq(hw, log)
    monkeypatch.setitem(sys.modules, "pynq", fake)
    acc = Accelerator(exp, PynqHal("dsf_system.bit"))
    acc.run()
    assert acc.check()
    # every transfer's range was flushed (MM2S) / invalidated (S2MM) right before it
    transfers = [i for i, e in enumerate(log) if e[0] == "transfer"]
    assert len(transfers) == len(acc.dmas)
    for i in transfers:
        _, ch, start, n = log[i]
        assert log[i - 1] == ("invalidate" if ch == 2 else "flush", start, n)
    # a bitstream without the four DMAs is named
    class Bare:
        ip_dict = {"axi_dma_0": {}}
    with pytest.raises(DsfError, match=r"no \['dma_pixels'"):
        PynqHal("x.bit", overlay=Bare())


@pytest.mark.parametrize("kind,why", [
    ("slave", r"DMASlvErr \(memory answered SLVERR\)"),
    ("decode", r"DMADecErr \(no memory at the address\)"),
    ("internal", r"DMAIntErr \(internal: length or TLAST\)"),
    ("stuck", r"stuck: no completion within the HAL's time budget")])
def test_pynq_hal_reports_dma_faults_through_the_firmware(export, monkeypatch, kind, why):
    """A DMA error bit in a channel's status register, or a transfer still busy after the HAL's
    time budget, stops the run with the firmware's report: channel, job, transfer, cause."""
    from dsf_sim.runtime.board_driver import Accelerator
    from dsf_sim.runtime.fw_driver import FirmwareError
    from dsf_sim.runtime.pynq_hal import PynqHal
    exp, hw = export
    fake, twin = _fake_pynq(hw, [], fault={"channel": "weights", "transfer": 2, "kind": kind})
    monkeypatch.setitem(sys.modules, "pynq", fake)
    acc = Accelerator(exp, PynqHal("dsf_system.bit", timeout_s=0.05))
    with pytest.raises(FirmwareError, match=r"firmware error: DMA error on channel 1 \(weights\), "
                                            r"bundle \d+ it \d+ p \d+, \d+ bytes at DRAM offset "
                                            r"\d+: " + why):
        acc.run()
    assert twin.fault.hit and twin.fault.seen == 3      # nothing started after the third one


@pytest.mark.parametrize("model", ["resblock", "fallbacks"])
def test_firmware_is_bit_exact_on_aarch64_and_armhf(model, export, tmp_path):
    """The cross-compiled firmware under qemu-user against a recorded twin run: every transfer's
    channel, length and MM2S bytes (packed pixels, skip streams) and the final output equal on
    both board ABIs; a corrupted record is caught at its first byte."""
    from dsf_sim.models.twin_hal import TwinHal
    from dsf_sim.runtime.board_driver import Accelerator
    from dsf_sim.runtime.replay import RecordingHal, build_replay, run_replay
    if model == "resblock":
        exp, hw = export
    else:
        exp = str(tmp_path / model)
        export_zoo(model, "4x8_axi64", exp)
        hw, _ = load_export(exp)
    rec = RecordingHal(TwinHal(hw), str(tmp_path / "rec.bin"))
    acc = Accelerator(exp, rec)
    acc.run()
    rec.close()
    assert acc.check()
    want = read_bin(os.path.join(exp, "expected.bin"), "expected", None)
    for arch in ("aarch64", "armhf"):
        b = build_replay(exp, arch, str(tmp_path / f"replay_{arch}"))
        y = run_replay(b, arch, exp, str(tmp_path / "rec.bin"), str(tmp_path / f"y_{arch}.bin"))
        assert np.array_equal(y, want), arch
    # flip the last byte of the first transfer (job 0's weights, W(0)): the replay names it
    raw = bytearray((tmp_path / "rec.bin").read_bytes())
    ch, _, n = struct.unpack("<IIQ", bytes(raw[:16]))
    assert ch == 1 and n > 0
    raw[16 + n - 1] ^= 0x01
    (tmp_path / "bad.bin").write_bytes(bytes(raw))
    with pytest.raises(DsfError, match=rf"transfer 0 \(channel 1\): byte {n - 1} is"):
        run_replay(str(tmp_path / "replay_armhf"), "armhf", exp, str(tmp_path / "bad.bin"),
                   str(tmp_path / "y_bad.bin"))

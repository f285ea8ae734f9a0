"""One source of truth for the engine contract: the SystemVerilog package, the C header, the
firmware's tables and the twin's tables all come from Hardware's tables and compiler/geometry.py;
the RTL built from them lints clean (both reset styles, odd configurations) and Yosys reads it."""
from __future__ import annotations

import os
import re
import subprocess

import numpy as np
import pytest

from dsf_sim.compiler import geometry as G
from dsf_sim.compiler.hardware import HEADER_FIELDS, Hardware
from dsf_sim.compiler.layout import pack_header
from dsf_sim.compiler.rtl_config import c_header, rtl_sources
from dsf_sim.flows.synth_estimate import misread_warnings
from dsf_sim.models.engine.params import tables
from dsf_sim.rtl_bridge.verilator import RTL_DIR, engine_texts

LINT_CONFIGS = [
    dict(processing_elements=(4, 8), max_kernel_size=5, max_image_size=32, bits_sum=16,
         ram_weights_depth=20, max_batch_size=4, max_channels_in=64, async_resetn=True),
    dict(processing_elements=(4, 8), max_kernel_size=5, max_image_size=32, bits_sum=16,
         ram_weights_depth=20, max_batch_size=4, max_channels_in=64, async_resetn=False),
    dict(processing_elements=(1, 1), axi_width=32, bits_input=1, bits_weights=1, bits_sum=8,
         max_kernel_size=1, max_image_size=1, max_batch_size=1, ram_weights_depth=1),
    dict(processing_elements=(3, 5), axi_width=256, bits_input=2, bits_weights=2, bits_sum=12,
         max_kernel_size=(3, 5), max_image_size=(20, 9), max_batch_size=3, ram_weights_depth=7),
    dict(processing_elements=(7, 96), axi_width=128, frequency_mhz=400, ram_weights_depth=2048,
         max_kernel_size=11, max_image_size=256),
]


def _write(hw, d):
    for name, text in engine_texts(hw).items():
        (d / name).write_text(text)
    return [d / "dsf_cfg.sv"] + sorted(p for p in d.glob("dsf_*.sv") if p.name != "dsf_cfg.sv")


@pytest.mark.parametrize("i", range(len(LINT_CONFIGS)))
def test_rtl_lints_clean_with_the_generated_package(i, tmp_path):
    hw = Hardware(**LINT_CONFIGS[i])
    srcs = _write(hw, tmp_path)
    r = subprocess.run(["verilator", "--lint-only", "-Wall", f"-I{tmp_path}", *map(str, srcs),
                        "--top-module", "dsf_engine"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]


@pytest.mark.parametrize("async_resetn", [True, False])
def test_yosys_reads_and_maps_the_reset_style(async_resetn, tmp_path):
    hw = Hardware(**{**LINT_CONFIGS[0], "processing_elements": (2, 3), "max_kernel_size": 3, "axi_width": 32,
                     "async_resetn": async_resetn})
    srcs = _write(hw, tmp_path)
    script = (f"read_verilog -sv -I{tmp_path} {' '.join(map(str, srcs))}; "
              "synth -top dsf_engine -flatten -noshare; tee -q -o stat.txt stat")
    r = subprocess.run(["yosys", "-q", "-p", script], capture_output=True, text=True,
                       cwd=tmp_path, timeout=600)
    assert r.returncode == 0, (r.stderr or r.stdout)[-3000:]
    # read as written: no identifier declared implicitly, no select turned into undefined bits
    # (yosys 0.23 did both for a struct-typed function argument and removed the output lanes)
    assert misread_warnings(r.stdout + r.stderr) == []
    stat = (tmp_path / "stat.txt").read_text()
    flops = set(re.findall(r"\$_(S?DFFE?_\w+)_", stat))
    asynchronous = {f for f in flops if re.match(r"DFFE?_PN[01]", f)}   # reset on a pin
    assert bool(asynchronous) == async_resetn, flops


def test_yosys_misreads_are_detected_and_the_lane_is_synthesised(tmp_path):
    """The check behind synth_estimate's SynthError fires on the construct yosys 0.23 misreads
    (a member of a struct-typed function argument), and the post lane as written keeps its
    arithmetic (thousands of cells, not the 0 the misread gave)."""
    bad = tmp_path / "bad.sv"
    bad.write_text("""package p; typedef struct packed { logic [3:0] a; logic [3:0] b; } s_t;
endpackage
module bad(input logic clk, input logic en, input p::s_t c, output logic [3:0] y);
  function automatic logic [3:0] g(input logic [3:0] x, input logic [3:0] s);
    g = x + s;
  endfunction
  function automatic logic [3:0] f(input logic [3:0] x, input p::s_t v);
    logic [3:0] t;
    t = g(x, v.a);
    f = g(t, v.b);
  endfunction
  always_ff @(posedge clk) if (en) y <= f(4'd1, c);
endmodule
""")
    r = subprocess.run(["yosys", "-q", "-p", f"read_verilog -sv {bad}; synth -top bad"],
                       capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert misread_warnings(r.stdout + r.stderr), r.stdout + r.stderr
    hw = Hardware(**{**LINT_CONFIGS[0], "processing_elements": (2, 3), "max_kernel_size": 3,
                     "axi_width": 32})
    srcs = _write(hw, tmp_path)
    lane = [str(s) for s in srcs if s.name in ("dsf_cfg.sv", "dsf_post_lane.sv")]
    script = (f"read_verilog -sv -I{tmp_path} {' '.join(lane)}; "
              "synth -top dsf_post_lane -noshare; tee -q -o lane.txt stat")
    r = subprocess.run(["yosys", "-q", "-p", script], capture_output=True, text=True,
                       cwd=tmp_path, timeout=600)
    assert r.returncode == 0 and misread_warnings(r.stdout + r.stderr) == [], r.stderr[-2000:]
    cells = int(re.search(r"Number of cells:\s+(\d+)", (tmp_path / "lane.txt").read_text())[1])
    assert cells > 1000, cells


def test_no_rtl_file_recomputes_a_beat_count_or_holds_a_hook():
    for p in RTL_DIR.glob("*.sv"):
        text = p.read_text()
        assert "`ifdef" not in text, f"{p.name}: preprocessor hooks belong in the generated files"
        assert not re.search(r"\+\s*AXI_WIDTH\s*-\s*1\)\s*/\s*AXI_WIDTH", text), \
            f"{p.name}: recomputes a beat count (use dsf_cfg::pb_of/ob_of/keep_of)"


@pytest.mark.parametrize("i", range(len(LINT_CONFIGS)))
def test_package_struct_and_tables_follow_the_python_tables(i):
    hw = Hardware(**LINT_CONFIGS[i])
    pkg = rtl_sources(hw)["dsf_cfg.sv"]
    body = pkg[pkg.index("typedef struct packed"):pkg.index("} hdr_t;")]
    fields = re.findall(r"logic \[(\d+):0\] (\w+);", body)
    # packed structs list fields MSB first: reversed, they are the table LSB first
    assert [(n.upper(), int(m) + 1) for m, n in reversed(fields)] == hw.header_fields
    assert [n for n, _ in HEADER_FIELDS] == [n for n, _ in hw.header_fields]
    w = dict(hw.header_fields)
    t = G.beat_tables(hw, w["KH2"], w["KW2"])
    def table(name, width):
        m = re.search(rf"{name} = \{{([^}}]*)\}}", pkg)
        vals = [int(v.split("'h")[1], 16) for v in m.group(1).split(",")]
        return vals[::-1]
    assert table("PB_OF_KH2", hw.PBW) == t["PB_OF_KH2"]
    assert table("OB_OF_KW2", hw.OBW) == t["OB_OF_KW2"]
    assert table("KEEP_OF_KW2", hw.AXI_BYTES) == [(1 << k) - 1 for k in t["KEEP_OF_KW2"]]
    # the twin's tables are the same numbers
    tw = tables(hw)
    assert list(tw[2]) == t["PB_OF_KH2"] and list(tw[3]) == t["OB_OF_KW2"]


def test_c_header_offsets_place_fields_where_pack_header_does():
    hw = Hardware(**LINT_CONFIGS[4])
    defs = dict(re.findall(r"#define (HDR_\w+) (\d+)", c_header(hw)))
    rng = np.random.default_rng(0)
    vals = {n: int(rng.integers(0, 1 << wd)) for n, wd in hw.header_fields}
    beat = int.from_bytes(pack_header(hw, **vals).tobytes(), "little")
    for n, wd in hw.header_fields:
        lsb, bits = int(defs[f"HDR_{n}_LSB"]), int(defs[f"HDR_{n}_BITS"])
        assert bits == wd and (beat >> lsb) & ((1 << bits) - 1) == vals[n], n


def test_geometry_formulas_against_first_principles():
    """The one place for beat counts, checked against counting bits by hand."""
    from dsf_sim.models.engine.output import fin_packet
    from dsf_sim.models.engine.params import param_vector
    for cfg in LINT_CONFIGS:
        hw = Hardware(**cfg)
        prm = param_vector(hw, 0, False, 0)
        for kh2 in range(hw.KH_MAX // 2 + 1):
            bits = (hw.ROWS + 2 * kh2) * hw.X_BITS
            assert G.pixel_column_beats(hw, kh2) * hw.AXI_WIDTH >= bits
            assert (G.pixel_column_beats(hw, kh2) - 1) * hw.AXI_WIDTH < bits
        for kw2 in range(min(hw.KW_MAX, hw.COLS) // 2 + 1):
            nbytes = hw.ROWS * (hw.COLS // (2 * kw2 + 1)) * hw.Y_OUT_BITS // 8
            ob, keep = G.packet_beats(hw, kw2), G.packet_last_keep(hw, kw2)
            assert (ob - 1) * hw.AXI_BYTES + keep == nbytes and 1 <= keep <= hw.AXI_BYTES
            # finish packets of cg channel groups (§17.2): the twin's output.fin_packet too
            co = hw.COLS // (2 * kw2 + 1)
            for cg in range(1, co + 3):
                nbits = hw.ROWS * min(cg, co) * hw.X_BITS
                ob = G.packet_beats(hw, kw2, True, cg)
                keep = G.packet_last_keep(hw, kw2, True, cg)
                assert (ob - 1) * hw.AXI_WIDTH < nbits <= ob * hw.AXI_WIDTH
                assert (ob - 1) * hw.AXI_BYTES + keep == -(-nbits // 8)
                assert fin_packet(min(cg, co), prm) == (ob, keep)

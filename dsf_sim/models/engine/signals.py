"""The lockstep signal table: every value the RTL and the twin are compared on, every cycle.

One row per signal: name, kind, width, where the twin has it, where the RTL has it. From this
table come the RTL's debug ports (the generated wrapper rtl_bridge/lockstep writes around
dsf_engine: no debug logic in the engine itself), the C++ trace columns of tb_engine.cpp built
with -DDSF_LOCKSTEP (the generated dsf_trace.h), the twin's trace and the Python comparator.

kinds: 'stimulus' (what the harness drives or counts; identical on both sides until the first
divergence, compared to catch harness bugs), 'port' (engine ports), 'debug' (internal state).
twin: ('register', module, name) -> the register's value before the cycle's edge;
      ('probe', slot) -> a value the cycle loop computed during the cycle (trace_rows.PROBE_SLOTS);
      ('acc00', 0 | 1) -> bits [31:0] | [Y_BITS-1:32] of PE (0, 0)'s accumulator;
      None -> the harness's own count.
rtl: a hierarchical path below the dsf_engine instance, or a function of the hardware giving
     an expression over `u_engine` (debug signals only).
"""
from __future__ import annotations

from collections import namedtuple

from ...compiler.hardware import clog2v

Signal = namedtuple("Signal", "name kind width twin rtl")

SIGNALS = (
    Signal("p_valid", "stimulus", lambda h: 1, ("probe", "p_valid"), None),
    Signal("w_valid", "stimulus", lambda h: 1, ("probe", "w_valid"), None),
    Signal("m_ready", "stimulus", lambda h: 1, ("probe", "m_ready"), None),
    Signal("p_idx", "stimulus", lambda h: 32, None, None),      # beat index presented
    Signal("w_idx", "stimulus", lambda h: 32, None, None),
    Signal("s_valid", "stimulus", lambda h: 1, ("probe", "s_valid"), None),
    Signal("s_idx", "stimulus", lambda h: 32, None, None),
    Signal("s_axis_pixels_tready", "port", lambda h: 1, ("probe", "s_axis_pixels_tready"), None),
    Signal("s_axis_weights_tready", "port", lambda h: 1, ("probe", "s_axis_weights_tready"),
           None),
    Signal("s_axis_skip_tready", "port", lambda h: 1, ("probe", "s_axis_skip_tready"), None),
    Signal("m_axis_tvalid", "port", lambda h: 1, ("probe", "m_axis_tvalid"), None),
    Signal("m_axis_tlast", "port", lambda h: 1, ("probe", "m_axis_tlast"), None),
    Signal("seq_st", "debug", lambda h: 2, ("register", "sequencer", "st"), "u_seq.st"),
    Signal("n", "debug", lambda h: h.header_field_width("XN_M1"), ("register", "sequencer", "n"),
           "u_seq.n"),
    Signal("l", "debug", lambda h: h.header_field_width("XL_M1"), ("register", "sequencer", "l"),
           "u_seq.l"),
    Signal("w", "debug", lambda h: h.header_field_width("XW_M1"), ("register", "sequencer", "w"),
           "u_seq.w"),
    Signal("ci", "debug", lambda h: h.header_field_width("CM_M1"), ("register", "sequencer", "ci"),
           "u_seq.ci"),
    Signal("kh", "debug", lambda h: h.header_field_width("KH2") + 1, ("register", "sequencer", "kh"),
           "u_seq.kh"),
    Signal("f", "debug", lambda h: h.header_field_width("KW2"), ("register", "sequencer", "f"),
           "u_seq.f"),
    # the column's word offset inside its pixel slot (architecture §3, §7.3)
    Signal("slot_xo", "debug", lambda h: clog2v(h.PB_MAX * h.AXI_WIDTH // h.X_BITS),
           ("register", "sequencer", "xo"), "u_seq.xo"),
    Signal("pix_full", "debug", lambda h: 2, ("register", "pixel_streamer", "full"),
           "u_pix.full"),
    Signal("wb_full", "debug", lambda h: 2, ("register", "weight_loader", "full"), "u_wl.full"),
    Signal("out_cnt", "debug", lambda h: h.NPK_CW, ("register", "output", "cnt"), "u_out.cnt"),
    Signal("cfg_full", "debug", lambda h: 2, ("register", "weight_loader", "cfg_full"),
           "u_wl.cfg_full"),
    Signal("s1_fin", "debug", lambda h: 1, ("register", "sequencer", "s1_fin"), "s1_fin"),
    Signal("dr_fin", "debug", lambda h: 1, ("register", "output", "dr_fin"), "u_out.dr_fin"),
    Signal("sk_cnt", "debug", lambda h: 2, ("register", "output", "sk_cnt"), "u_out.sk_cnt"),
    Signal("raddr", "debug", lambda h: h.header_field_width("CM_M1"), ("probe", "raddr"), "raddr"),
    Signal("s1_mac", "debug", lambda h: 1, ("register", "sequencer", "s1_mac"), "s1_mac"),
    Signal("s1_emit", "debug", lambda h: 1, ("register", "sequencer", "s1_emit"), "s1_emit"),
    # PE (0, 0)'s accumulator in two 32-bit trace columns (sums up to 48 bits)
    Signal("acc00", "debug", lambda h: min(h.Y_BITS, 32), ("acc00", 0),
           lambda h: f"u_engine.acc_flat[{min(h.Y_BITS, 32) - 1}:0]"),
    Signal("acc00_hi", "debug", lambda h: max(h.Y_BITS - 32, 1), ("acc00", 1),
           lambda h: f"u_engine.acc_flat[{h.Y_BITS - 1}:32]" if h.Y_BITS > 32 else "1'b0"),
    Signal("jobs_done", "stimulus", lambda h: 32, None, None),   # TLAST handshakes so far
)

NAMES = tuple(s.name for s in SIGNALS)
INDEX = {n: i for i, n in enumerate(NAMES)}
STIMULUS = tuple(s.name for s in SIGNALS if s.kind == "stimulus" and s.name != "jobs_done")
PORTS = tuple(s.name for s in SIGNALS if s.kind == "port")
DEBUG = tuple(s.name for s in SIGNALS if s.kind == "debug")
# the output data ports travel as bytes beside the scalar columns
DATA_PORTS = ("m_axis_tkeep", "m_axis_tdata")
GATED = ("m_axis_tlast",) + DATA_PORTS          # compared only while m_axis_tvalid = 1

"""The mutation registry: single-point bugs, each defined for both sides of the lockstep check.

A mutation names an RTL patch (a one-line change of one rtl/ file, applied to a copy of the
sources at build time, so the synthesisable RTL carries no hooks) and the same bug in the twin
(`M_<NAME>` branches in the twin modules, inactive unless the run's `mutate=` names it).
tests/test_lockstep.py checks that lockstep catches every mutation on either side at the first
differing cycle, naming `signal`; where `mirrored`, the mutated RTL and the mutated twin must even
agree cycle for cycle (the twin mirrors the RTL under the bug too).
"""
from __future__ import annotations

from collections import namedtuple

Mutation = namedtuple("Mutation", "name doc rtl_file rtl_from rtl_to signal mirrored")

MUTATIONS = (
    Mutation("pix_ready_stuck", "pixel tready stuck at 1", "dsf_pixel_streamer.sv",
             "assign s_tready  = !full[fill];", "assign s_tready  = 1'b1;",
             "s_axis_pixels_tready", True),
    Mutation("wl_ready_swap", "weights tready from the read bank", "dsf_weight_loader.sv",
             "assign s_tready   = !full[wr_bank] && !cfg_wait;",
             "assign s_tready   = !full[rd_bank] && !cfg_wait;", "s_axis_weights_tready", True),
    Mutation("wl_bank_undelayed", "RAM output mux without the delayed bank select",
             "dsf_weight_loader.sv", "assign rdata = rd_bank_d ? rd1 : rd0;",
             "assign rdata = rd_bank ? rd1 : rd0;", "acc00", True),
    Mutation("seq_flush_count", "P_W + 2 flush beats", "dsf_sequencer.sv",
             "assign f_last   = (f == kw2);", "assign f_last   = (32'(f) == 32'(kw2) + 1);",
             "f", True),
    Mutation("seq_emit_off", "off-by-one in the emit compare", "dsf_sequencer.sv",
             "assign emit_mac = first && (32'(w) > 32'(kw2));",
             "assign emit_mac = first && (32'(w) >= 32'(kw2));", "s1_emit", True),
    Mutation("seq_sign", "pixels zero-extended", "dsf_sequencer.sv",
             "xext[r*XE +: XE] = {xs & xwin[r*XB + XB - 1], xwin[r*XB +: XB]};",
             "xext[r*XE +: XE] = {1'b0, xwin[r*XB +: XB]};", "acc00", True),
    # ---- pixel slots of PK columns (architecture §3, §7.3)
    Mutation("seq_slot_release_each", "the slot released after each column, not its last",
             "dsf_sequencer.sv",
             "assign release_slot = go_hdr || (go_mac && kh_last && col_last);",
             "assign release_slot = go_hdr || (go_mac && kh_last);", "pix_full", True),
    Mutation("seq_slot_offset_zero", "every column of a slot read from its first word",
             "dsf_sequencer.sv",
             "assign xwin = slot_data[(32'(xo) + 32'(kh)) * XB +: dsf_cfg::ROWS * XB];",
             "assign xwin = slot_data[32'(kh) * XB +: dsf_cfg::ROWS * XB];", "acc00", True),
    Mutation("addr_off", "weight RAM address one row low at kh = 1", "dsf_sequencer.sv",
             "assign raddr        = addr;",
             "assign raddr        = (32'(kh) == 1) ? addr - 1'b1 : addr;", "raddr", True),
    Mutation("pe_shift_nogroup", "shift ignores group boundaries", "dsf_pe_array.sv",
             "assign base = shift ? (gstart[c] ? '0 : acc[r][c-1]) : acc[r][c];",
             "assign base = shift ? acc[r][c-1] : acc[r][c];", "m_axis_tdata", True),
    Mutation("room_no_inflight", "FIFO room ignores the capture in flight", "dsf_output.sv",
             "assign room     = (32'(cnt) + 32'(cap)) < NPK;",
             "assign room     = 32'(cnt) < NPK;", "s1_emit", True),
    Mutation("out_late_valid", "no back-to-back packets", "dsf_output.sv",
             "assign dr_free  = !dr_v || (fire && dr_cnt == OBW'(1));",
             "assign dr_free  = !dr_v;", "m_axis_tvalid", True),
    Mutation("out_keep_ones", "TKEEP all ones on the TLAST beat", "dsf_output.sv",
             "assign m_tkeep  = (dr_cnt == OBW'(1) && dr_last) ? dr_keep : '1;",
             "assign m_tkeep  = '1;", "m_axis_tkeep", True),
    Mutation("out_keep_minus1", "partial TKEEP one byte short", "dsf_output.sv",
             "q_keep[wp] <= keep_sel;",
             "q_keep[wp] <= (&keep_sel) ? keep_sel : (keep_sel >> 1);", "m_axis_tkeep", True),
    Mutation("out_last_early", "TLAST on every beat of the job's last packet", "dsf_output.sv",
             "assign m_tlast  = dr_last && (dr_cnt == OBW'(1));",
             "assign m_tlast  = dr_last;", "m_axis_tlast", True),
    # ---- the output pipeline (architecture §17)
    Mutation("post_no_round", "requantisation truncates (no round half to even)",
             "dsf_post_lane.sv", "shr_rhe = fl + $signed({{(P - 1){1'b0}}, up});",
             "shr_rhe = fl;", "m_axis_tdata", True),
    Mutation("post_slope_pos", "leaky slope applied to positive values", "dsf_post_lane.sv",
             "d = {1'b0, B} + (x[P-1] ? (WS + 1)'(K) : '0);",
             "d = {1'b0, B} + (!x[P-1] ? (WS + 1)'(K) : '0);", "m_axis_tdata", True),
    Mutation("post_clip_hi", "no upper clip", "dsf_post_lane.sv",
             "rq = (q < lo) ? lo : ((q > hi) ? hi : q);", "rq = (q < lo) ? lo : q;",
             "m_axis_tdata", True),
    Mutation("post_skip_zext", "skip words zero-extended", "dsf_post_lane.sv",
             "sk = skip_signed ? $signed({{(P - XB){s[XB-1]}}, s}) : "
             "$signed({{(P - XB){1'b0}}, s});",
             "sk = $signed({{(P - XB){1'b0}}, s});", "m_axis_tdata", True),
    Mutation("wl_cfg_no_wait", "configuration beats overwrite a set in use", "dsf_weight_loader.sv",
             "assign cfg_wait   = cfg_mode && cfg_full[cfg_wr];", "assign cfg_wait   = 1'b0;",
             "s_axis_weights_tready", True),
    Mutation("seq_cfg_no_toggle", "every finish job uses the same configuration set",
             "dsf_sequencer.sv", "cfg_nx <= !cfg_nx;", "cfg_nx <= cfg_nx;", "m_axis_tdata",
             True),
    Mutation("out_skip_no_wait", "finish beats leave without their skip beat", "dsf_output.sv",
             "assign m_tvalid = dr_v && !(add && sk_cnt == 2'd0);", "assign m_tvalid = dr_v;",
             "m_axis_tvalid", True),
    Mutation("out_fin_raw_ob", "finish packets as long as raw ones", "dsf_output.sv",
             "q_ob[wp] <= cap_fin ? dsf_cfg::ob_fin(cg_cap) : dsf_cfg::ob_of(cap_kw2);",
             "q_ob[wp] <= dsf_cfg::ob_of(cap_kw2);", "m_axis_tvalid", True),
    Mutation("out_lane_valid_all", "lanes past the packet's words not zeroed", "dsf_output.sv",
             "assign kp = gi < cg_n;", "assign kp = 1'b1;", "m_axis_tdata", True),
    Mutation("out_fin_all_groups", "finish packets sized for every CO_PRL group, not the job's CG",
             "dsf_output.sv", "assign cg_cap  = fin_groups(cfg_cap.cg_m1, cap_kw2);",
             "assign cg_cap  = dsf_cfg::co_of(cap_kw2);", "m_axis_tkeep", True),
)

BY_NAME = {m.name: m for m in MUTATIONS}
ID = {m.name: i + 1 for i, m in enumerate(MUTATIONS)}   # 0: no mutation
globals().update({f"M_{m.name.upper()}": ID[m.name] for m in MUTATIONS})


def mutation_id(name) -> int:
    """Twin id of a mutation name (None / 'none': 0)."""
    if name in (None, "none"):
        return 0
    if name not in ID:
        raise ValueError(f"mutate = {name!r} is invalid: allowed one of {sorted(ID)}")
    return ID[name]


def patch_rtl(files: dict, name: str) -> dict:
    """{rtl file name: text} with mutation `name` applied; the original line must occur exactly
    once (a refactor that moves it fails here, not silently)."""
    m = BY_NAME[name]
    text = files[m.rtl_file]
    if text.count(m.rtl_from) != 1:
        raise ValueError(f"mutation {name}: {m.rtl_file} holds {text.count(m.rtl_from)} copies "
                         f"of {m.rtl_from!r} (expected exactly 1; update models/engine/"
                         f"mutations.py with the RTL)")
    return dict(files, **{m.rtl_file: text.replace(m.rtl_from, m.rtl_to)})

"""Cycle-accurate numba model of rtl/dsf_engine.sv plus its three AXI-Stream DMA channels.

The model is *resumable*: every register of the engine (dsf_pixel_streamer p_*, dsf_weight_loader
w_*, dsf_sequencer st/kh/ci/.../s1_*, dsf_pe_array acc, dsf_output q_*/cnt/wp/rp/dr_*), the three
DMA channel models and the three xorshift32 generators live in numpy arrays (`EngineState`).
`_advance` (numba) runs clock cycles until an edge with a DMA completion event, a cycle limit or the
watchdog, stores the state back and returns to Python. Python then does what docs §11 puts at that
edge (deliver events, poll the firmware, load new descriptors) and resumes.

One loop iteration == one clock cycle (docs/architecture.md §5, §7.7, §11):
  1. the three xorshift32 generators step (0 pixels valid, 1 weights valid, 2 output ready);
  2. M2S channels present a beat read from the DRAM image (valid stays until taken), the S2M
     channel drives ready = active && draw;
  3. combinational outputs of the engine are computed from the registers only;
  4. handshakes advance the channels (S2M beats are written to DRAM; completions recorded as
     events), then every engine register takes its next value (the rising edge).

Two drivers use the same core:
  * `run_engine_jobs_model[_full]` (this file): the tb_engine.cpp harness -- each source is one
    continuous stream of all jobs (one M2S transfer), the sink is re-armed at every TLAST (the
    re-armed transfer is active in the very next cycle, so ready == draw every cycle, as in
    tb_engine.cpp).
  * `dsf_sim.models.system_model.run_system_model`: the real C firmware issues the transfers.
`timing_only=True` skips slot data, weight rows, MACs and packet data (output data are zeros;
keep/last/cycles identical).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from ..compiler.layout import job_beats as _job_streams


def upper_params(hw) -> dict:
    return dict(hw.derived(), W_CM=hw.header_width("CM_M1"), W_XW=hw.header_width("XW_M1"),
                W_XL=hw.header_width("XL_M1"), W_XN=hw.header_width("XN_M1"),
                W_WROWS=hw.header_width("WROWS_M1"), AXI_BYTES=hw.AXI_WIDTH // 8)

MASK32 = 0xFFFFFFFF

# indices into the int64 parameter vector
(P_ROWS, P_COLS, P_XB, P_KB, P_YB, P_YOB, P_KWMAX, P_DEPTH, P_B, P_WKH2, P_WKW2, P_WCM, P_WXW,
 P_WXL, P_WXN, P_WWROWS, P_PBMAX, P_OBMAX, P_WB, P_NPK, P_NJOBS, P_WATCHDOG, P_MAXCYC,
 P_TONLY, P_MUT, N_PARAMS) = range(26)

# Test-only single-point bugs for the lockstep mutation tests (tests/test_lockstep.py); 0 = none.
# `mutate=<name>` of EngineState / run_engine_jobs_model_full; never set in normal use.
MUTATIONS = {"none": 0, "w_ready_swap": 1, "keep_minus1": 2, "flush_count": 3, "sign_ext": 4,
             "late_valid": 5, "room_no_inflight": 6, "addr_off": 7}

# scalar state vector S (int64)
(S_CYCLE, S_LAST, S_S0, S_S1, S_S2,
 S_P_FILL, S_P_RD, S_P_HDRMODE, S_P_BEAT, S_P_PBM1, S_P_CI, S_P_W, S_P_L, S_P_N, S_P_CMM1,
 S_P_XWM1, S_P_XLM1, S_P_XNM1,
 S_W_WR, S_W_RD, S_W_HDRMODE, S_W_WROWSM1, S_W_ROW, S_W_BEAT,
 S_ST, S_KH2, S_KW2, S_CMM1, S_XWM1, S_XLM1, S_XNM1, S_XS, S_KH, S_CI, S_ADDR, S_W, S_L, S_N,
 S_F, S1_CLEAR, S1_MAC, S1_SHIFT, S1_EMIT, S1_LAST, S1_KW2,
 S_WP, S_RP, S_CNT, S_DRV, S_DROFF, S_DRCNT, S_DRKEEP, S_DRLAST,
 S_NLOG, S_NTLAST, N_STATE) = range(56)

# DMA channel state C[ch, :] (int64); ch 0 pixels M2S, 1 weights M2S, 2 output S2M
(C_ACT, C_ADDR, C_BYTES, C_NB, C_IDX, C_PEND, C_OFF, C_BUSY, C_STALL, C_BEATS, C_BYTESTOT,
 C_EVENT, N_CH) = range(13)

# status codes returned by _advance
OK, EVENT, ERR_WATCHDOG, LIMIT, ERR_OVERFLOW, ERR_OUTBUF = 0, 1, 2, 3, 4, 5
STUCK_NAMES = {0: "output (m_axis)", 1: "pixels (s_axis_pixels)", 2: "weights (s_axis_weights)"}


@njit(cache=True, inline="always")
def _xorshift(s):
    s ^= (s << 13) & 0xFFFFFFFF
    s ^= s >> 17
    s ^= (s << 5) & 0xFFFFFFFF
    return s


@njit(cache=True)
def _bits(dram, base, off, width):
    """bits [off, off+width) of the beat at dram[base:] (uint8 LSB-first), unsigned."""
    v = 0
    for i in range(width):
        b = off + i
        v |= ((dram[base + (b >> 3)] >> (b & 7)) & 1) << i
    return v


@njit(cache=True)
def _word(buf, base, j, bits):
    """word j of `bits` (1,2,4,8) bits at byte offset `base` of buf, unsigned."""
    bit = j * bits
    return (buf[base + (bit >> 3)] >> (bit & 7)) & ((1 << bits) - 1)


@njit(cache=True)
def _advance(prm, S, C, dram, thr, always, limit,
             p_slot, p_full, p_slot_hf, w_full, w_rowbuf, w_mem, s1_x, s1_wrow, acc,
             q_d, q_ob, q_keep, q_last, dr,
             log_data, log_keep, log_last, log_cycle, trp, trd):
    """Advance cycles S[S_CYCLE].. until an edge with a DMA completion (EVENT), cycle == limit
    (LIMIT), the watchdog (ERR_WATCHDOG) or an S2M overflow (ERR_OVERFLOW). Returns the status;
    S[S_CYCLE] is then the next cycle to simulate (events belong to the edge ending S_CYCLE-1)."""
    ROWS = prm[P_ROWS]; COLS = prm[P_COLS]; XB = prm[P_XB]; KB = prm[P_KB]; YB = prm[P_YB]
    YOB = prm[P_YOB]; DEPTH = prm[P_DEPTH]; B = prm[P_B]
    WKH2 = prm[P_WKH2]; WKW2 = prm[P_WKW2]; WCM = prm[P_WCM]; WXW = prm[P_WXW]
    WXL = prm[P_WXL]; WXN = prm[P_WXN]; WWROWS = prm[P_WWROWS]
    WB = prm[P_WB]; NPK = prm[P_NPK]
    WATCHDOG = prm[P_WATCHDOG]
    TONLY = prm[P_TONLY] != 0
    MUT = prm[P_MUT]
    O_KH2 = 0; O_KW2 = O_KH2 + WKH2; O_CM = O_KW2 + WKW2; O_XW = O_CM + WCM; O_XL = O_XW + WXW
    O_XN = O_XL + WXL; O_WROWS = O_XN + WXN; O_XS = O_WROWS + WWROWS
    YMASK = (1 << YB) - 1
    YSIGN = 1 << (YB - 1)
    YOBY = YOB // 8
    NLOG = log_data.shape[0]
    TRACE = trp.shape[0] > 0    # trace=True: port values of the last simulated cycle (lockstep)

    # ---------------- load scalar state
    cycle = S[S_CYCLE]; last_act = S[S_LAST]; s0 = S[S_S0]; s1 = S[S_S1]; s2 = S[S_S2]
    p_fill = S[S_P_FILL]; p_rd = S[S_P_RD]; p_hdr_mode = S[S_P_HDRMODE] != 0
    p_beat = S[S_P_BEAT]; p_pb_m1 = S[S_P_PBM1]; p_ci = S[S_P_CI]; p_w = S[S_P_W]
    p_l = S[S_P_L]; p_n = S[S_P_N]; p_cm_m1 = S[S_P_CMM1]; p_xw_m1 = S[S_P_XWM1]
    p_xl_m1 = S[S_P_XLM1]; p_xn_m1 = S[S_P_XNM1]
    w_wr = S[S_W_WR]; w_rd = S[S_W_RD]; w_hdr_mode = S[S_W_HDRMODE] != 0
    w_wrows_m1 = S[S_W_WROWSM1]; w_row = S[S_W_ROW]; w_beat = S[S_W_BEAT]
    st = S[S_ST]; kh2 = S[S_KH2]; kw2 = S[S_KW2]; cm_m1 = S[S_CMM1]; xw_m1 = S[S_XWM1]
    xl_m1 = S[S_XLM1]; xn_m1 = S[S_XNM1]; xs = S[S_XS]; kh = S[S_KH]; ci = S[S_CI]
    addr = S[S_ADDR]; w = S[S_W]; l = S[S_L]; n = S[S_N]; f = S[S_F]
    s1_clear = S[S1_CLEAR] != 0; s1_mac = S[S1_MAC] != 0; s1_shift = S[S1_SHIFT] != 0
    s1_emit = S[S1_EMIT] != 0; s1_last = S[S1_LAST] != 0; s1_kw2 = S[S1_KW2]
    wp = S[S_WP]; rp = S[S_RP]; cnt = S[S_CNT]; dr_v = S[S_DRV] != 0; dr_off = S[S_DROFF]
    dr_cnt = S[S_DRCNT]; dr_keep = S[S_DRKEEP]; dr_last = S[S_DRLAST] != 0
    nlog = S[S_NLOG]; ntlast = S[S_NTLAST]
    # DMA channels
    a0 = C[0, C_ACT] != 0; a1 = C[1, C_ACT] != 0; a2 = C[2, C_ACT] != 0
    p_valid = C[0, C_PEND] != 0; w_valid = C[1, C_PEND] != 0

    status = OK
    while True:
        if cycle >= limit:
            status = LIMIT
            break
        # ---- PRNG (once per cycle) and channel valids / ready
        s0 = _xorshift(s0); s1 = _xorshift(s1); s2 = _xorshift(s2)
        d0 = always[0] or s0 < thr[0]
        d1 = always[1] or s1 < thr[1]
        d2 = always[2] or s2 < thr[2]
        if not p_valid:
            p_valid = a0 and d0
        if not w_valid:
            w_valid = a1 and d1
        o_ready = a2 and d2

        # ---- combinational (registers only)
        p_tready = not p_full[p_fill]
        w_tready = not w_full[w_wr]
        if MUT == 1:
            w_tready = not w_full[w_rd]
        pf = p_valid and p_tready
        wf = w_valid and w_tready
        of = dr_v and o_ready

        # ---- channel statistics (cycle t)
        if a0:
            C[0, C_BUSY] += 1
            if p_valid and not p_tready:
                C[0, C_STALL] += 1
        if a1:
            C[1, C_BUSY] += 1
            if w_valid and not w_tready:
                C[1, C_STALL] += 1
        if a2:
            C[2, C_BUSY] += 1
            if not dr_v:
                C[2, C_STALL] += 1

        slot_full = p_full[p_rd]
        bank_ready = w_full[w_rd]
        room = cnt + (1 if s1_emit else 0) < NPK
        if MUT == 6:
            room = cnt < NPK
        kh_last = kh == 2 * kh2
        ci_last = ci == cm_m1
        w_last = w == xw_m1
        blk_last = (l == xl_m1) and (n == xn_m1)
        first = ci == 0 and kh == 0
        emit_mac = first and w > kw2
        emit_fl = xw_m1 + f >= kw2
        f_last = f == kw2
        if MUT == 3:
            f_last = f == kw2 + 1
        go_hdr = st == 0 and slot_full
        go_mac = st == 1 and slot_full and bank_ready and not (emit_mac and not room)
        go_fl = st == 2 and not (emit_fl and not room)
        release_slot = go_hdr or (go_mac and kh_last)
        release_bank = go_mac and kh_last and ci_last and w_last and blk_last

        if TRACE:
            trp[0] = 1 if p_valid else 0
            trp[1] = 1 if w_valid else 0
            trp[2] = 1 if o_ready else 0
            trp[3] = 1 if p_tready else 0
            trp[4] = 1 if w_tready else 0
            trp[5] = 1 if dr_v else 0
            trp[6] = 1 if (dr_last and dr_cnt == 1) else 0
            trp[7] = dr_keep if (dr_cnt == 1 and dr_last) else B  # TKEEP: partial on TLAST only
            for i in range(B):
                trd[i] = dr[dr_off * B + i] if dr_v else 0
        dr_free = (not dr_v) or (of and dr_cnt == 1)
        if MUT == 5:
            dr_free = not dr_v
        pop = cnt != 0 and dr_free

        # ================= rising edge =================
        ev = False
        # ---- S2M channel: the accepted output beat goes to DRAM
        if of:
            lastbeat = dr_cnt == 1
            kept = dr_keep if (lastbeat and dr_last) else B
            tl = dr_last and lastbeat
            off = C[2, C_OFF]
            if off + kept > C[2, C_BYTES]:
                status = ERR_OVERFLOW
                break
            base = dr_off * B
            dst = C[2, C_ADDR] + off
            for i in range(kept):
                dram[dst + i] = dr[base + i]
            C[2, C_OFF] = off + kept
            C[2, C_BEATS] += 1
            C[2, C_BYTESTOT] += kept
            if NLOG > 0:
                if nlog >= NLOG:
                    status = ERR_OUTBUF
                    break
                for i in range(B):
                    log_data[nlog, i] = dr[base + i]
                    log_keep[nlog, i] = (i < dr_keep) if (lastbeat and dr_last) else True
                log_last[nlog] = tl
                log_cycle[nlog] = cycle
                nlog += 1
            if tl:
                ntlast += 1
                a2 = False
                C[2, C_ACT] = 0
                C[2, C_EVENT] = C[2, C_OFF]
                ev = True

        # ---- dsf_output (capture uses the pre-update accumulators)
        if of:
            dr_off += 1
            dr_cnt -= 1
            if dr_cnt == 0:
                dr_v = False
        if pop:
            dr_v = True
            if not TONLY:
                for i in range(q_ob[rp] * B):
                    dr[i] = q_d[rp, i]
            dr_off = 0; dr_cnt = q_ob[rp]; dr_keep = q_keep[rp]; dr_last = q_last[rp] != 0
            rp = 0 if rp == NPK - 1 else rp + 1
        if s1_emit:
            KW = 2 * s1_kw2 + 1
            CO = COLS // KW
            ob = (ROWS * CO * YOB + 8 * B - 1) // (8 * B)
            q_ob[wp] = ob
            q_keep[wp] = ROWS * CO * YOBY - (ob - 1) * B
            if MUT == 2 and q_keep[wp] < B:
                q_keep[wp] -= 1
            q_last[wp] = 1 if s1_last else 0
            if not TONLY:
                for i in range(ob * B):
                    q_d[wp, i] = 0
                for r in range(ROWS):
                    for g in range(CO):
                        a = acc[r, g * KW + KW - 1]
                        if a & YSIGN:
                            a -= 1 << YB
                        wi = (r * CO + g) * YOBY
                        for k in range(YOBY):
                            q_d[wp, wi + k] = (a >> (8 * k)) & 0xFF
            wp = 0 if wp == NPK - 1 else wp + 1
        cnt += (1 if s1_emit else 0) - (1 if pop else 0)

        # ---- dsf_pe_array (stage 1)
        if s1_clear:
            for r in range(ROWS):
                for c in range(COLS):
                    acc[r, c] = 0
        elif (s1_mac or s1_shift) and not TONLY:
            KW = 2 * s1_kw2 + 1
            for r in range(ROWS):
                if s1_shift:                         # elastic groups: acc[c] <- acc[c-1], 0 at
                    for c in range(COLS - 1, 0, -1):  # each group start (c % KW == 0)
                        acc[r, c] = acc[r, c - 1]
                    for c in range(0, COLS, KW):
                        acc[r, c] = 0
                if s1_mac:                           # branch-free, vectorisable MAC row
                    xv = s1_x[r]
                    for c in range(COLS):
                        acc[r, c] = (acc[r, c] + xv * s1_wrow[c]) & YMASK

        # ---- dsf_sequencer (stage 0 -> stage-1 registers)
        s1_clear = go_hdr
        s1_mac = go_mac
        s1_shift = (go_mac and first) or go_fl
        s1_emit = (go_mac and emit_mac) or (go_fl and emit_fl)
        s1_last = go_fl and emit_fl and f_last and blk_last
        if go_mac and not TONLY:
            sb = p_rd
            for r in range(ROWS):
                v = _word(p_slot[sb], 0, kh + r, XB)
                if xs != 0 and MUT != 4 and (v >> (XB - 1)) & 1:
                    v -= 1 << XB
                s1_x[r] = v
            for c in range(COLS):
                s1_wrow[c] = w_mem[w_rd, addr, c]   # bank rd as of this cycle, 1-cycle read
            if MUT == 7 and kh == 1:
                for c in range(COLS):
                    s1_wrow[c] = w_mem[w_rd, addr - 1, c]
        if go_hdr:
            s1_kw2 = p_slot_hf[p_rd, 1]
            kh2 = p_slot_hf[p_rd, 0]; kw2 = p_slot_hf[p_rd, 1]; cm_m1 = p_slot_hf[p_rd, 2]
            xw_m1 = p_slot_hf[p_rd, 3]; xl_m1 = p_slot_hf[p_rd, 4]; xn_m1 = p_slot_hf[p_rd, 5]
            xs = p_slot_hf[p_rd, 6]
            kh = 0; ci = 0; addr = 0; w = 0; l = 0; n = 0; f = 0
            st = 1
        else:
            s1_kw2 = kw2
        if go_mac:
            if not kh_last:
                kh += 1; addr += 1
            else:
                kh = 0
                if not ci_last:
                    ci += 1; addr += 1
                else:
                    ci = 0; addr = 0
                    if not w_last:
                        w += 1
                    else:
                        w = 0; f = 0; st = 2
        if go_fl:
            if not f_last:
                f += 1
            else:
                f = 0
                if blk_last:
                    st = 0
                else:
                    st = 1
                    if l != xl_m1:
                        l += 1
                    else:
                        l = 0
                        n = (n + 1) & ((1 << WXN) - 1)

        # ---- dsf_pixel_streamer
        if release_slot:
            p_full[p_rd] = False
            p_rd ^= 1
        if pf:
            pb = C[0, C_ADDR] + C[0, C_IDX] * B          # beat at dram[pb : pb + B]
            if not TONLY or p_hdr_mode:
                for i in range(B):
                    p_slot[p_fill, p_beat * B + i] = dram[pb + i]
            if p_hdr_mode:
                h_kh2 = _bits(dram, pb, O_KH2, WKH2)
                p_slot_hf[p_fill, 0] = h_kh2
                p_slot_hf[p_fill, 1] = _bits(dram, pb, O_KW2, WKW2)
                p_slot_hf[p_fill, 2] = _bits(dram, pb, O_CM, WCM)
                p_slot_hf[p_fill, 3] = _bits(dram, pb, O_XW, WXW)
                p_slot_hf[p_fill, 4] = _bits(dram, pb, O_XL, WXL)
                p_slot_hf[p_fill, 5] = _bits(dram, pb, O_XN, WXN)
                p_slot_hf[p_fill, 6] = _bits(dram, pb, O_XS, 1)
                p_full[p_fill] = True; p_fill ^= 1
                p_hdr_mode = False; p_beat = 0
                p_pb_m1 = ((ROWS + 2 * h_kh2) * XB + 8 * B - 1) // (8 * B) - 1
                p_cm_m1 = p_slot_hf[p_fill ^ 1, 2]; p_xw_m1 = p_slot_hf[p_fill ^ 1, 3]
                p_xl_m1 = p_slot_hf[p_fill ^ 1, 4]; p_xn_m1 = p_slot_hf[p_fill ^ 1, 5]
                p_ci = 0; p_w = 0; p_l = 0; p_n = 0
            elif p_beat == p_pb_m1:
                last_col = (p_ci == p_cm_m1 and p_w == p_xw_m1 and p_l == p_xl_m1
                            and p_n == p_xn_m1)
                p_full[p_fill] = True; p_fill ^= 1; p_beat = 0
                if last_col:
                    p_hdr_mode = True
                if p_ci != p_cm_m1:
                    p_ci += 1
                else:
                    p_ci = 0
                    if p_w != p_xw_m1:
                        p_w += 1
                    else:
                        p_w = 0
                        if p_l != p_xl_m1:
                            p_l += 1
                        else:
                            p_l = 0
                            p_n = (p_n + 1) & ((1 << WXN) - 1)
            else:
                p_beat += 1

        # ---- dsf_weight_loader
        if release_bank:
            w_full[w_rd] = False
            w_rd ^= 1
        if wf:
            wbp = C[1, C_ADDR] + C[1, C_IDX] * B
            if w_hdr_mode:
                w_hdr_mode = False
                w_wrows_m1 = _bits(dram, wbp, O_WROWS, WWROWS)
                w_row = 0; w_beat = 0
            else:
                if not TONLY:
                    for i in range(B):
                        w_rowbuf[w_beat * B + i] = dram[wbp + i]
                if w_beat == WB - 1:   # row_done: write bank w_wr row w_row (row_next)
                    if not TONLY:
                        ra = w_row & ((1 << WCM) - 1)
                        if ra < DEPTH:
                            for c in range(COLS):
                                v = _word(w_rowbuf, 0, c, KB)
                                if (v >> (KB - 1)) & 1:
                                    v -= 1 << KB
                                w_mem[w_wr, ra, c] = v
                    w_beat = 0
                    if w_row == w_wrows_m1:
                        w_full[w_wr] = True
                        w_wr ^= 1
                        w_hdr_mode = True
                    else:
                        w_row += 1
                else:
                    w_beat += 1

        # ---- M2S channels advance after the edge
        if pf:
            p_valid = False
            C[0, C_IDX] += 1
            C[0, C_BEATS] += 1
            if C[0, C_IDX] == C[0, C_NB]:
                C[0, C_BYTESTOT] += C[0, C_BYTES]
                a0 = False
                C[0, C_ACT] = 0
                C[0, C_EVENT] = C[0, C_BYTES]
                ev = True
        if wf:
            w_valid = False
            C[1, C_IDX] += 1
            C[1, C_BEATS] += 1
            if C[1, C_IDX] == C[1, C_NB]:
                C[1, C_BYTESTOT] += C[1, C_BYTES]
                a1 = False
                C[1, C_ACT] = 0
                C[1, C_EVENT] = C[1, C_BYTES]
                ev = True
        if pf or wf or of:
            last_act = cycle
        cycle += 1
        if ev:
            status = EVENT
            break
        if cycle - last_act > WATCHDOG:
            status = ERR_WATCHDOG
            break

    # ---------------- store scalar state
    S[S_CYCLE] = cycle; S[S_LAST] = last_act; S[S_S0] = s0; S[S_S1] = s1; S[S_S2] = s2
    S[S_P_FILL] = p_fill; S[S_P_RD] = p_rd; S[S_P_HDRMODE] = 1 if p_hdr_mode else 0
    S[S_P_BEAT] = p_beat; S[S_P_PBM1] = p_pb_m1; S[S_P_CI] = p_ci; S[S_P_W] = p_w
    S[S_P_L] = p_l; S[S_P_N] = p_n; S[S_P_CMM1] = p_cm_m1; S[S_P_XWM1] = p_xw_m1
    S[S_P_XLM1] = p_xl_m1; S[S_P_XNM1] = p_xn_m1
    S[S_W_WR] = w_wr; S[S_W_RD] = w_rd; S[S_W_HDRMODE] = 1 if w_hdr_mode else 0
    S[S_W_WROWSM1] = w_wrows_m1; S[S_W_ROW] = w_row; S[S_W_BEAT] = w_beat
    S[S_ST] = st; S[S_KH2] = kh2; S[S_KW2] = kw2; S[S_CMM1] = cm_m1; S[S_XWM1] = xw_m1
    S[S_XLM1] = xl_m1; S[S_XNM1] = xn_m1; S[S_XS] = xs; S[S_KH] = kh; S[S_CI] = ci
    S[S_ADDR] = addr; S[S_W] = w; S[S_L] = l; S[S_N] = n; S[S_F] = f
    S[S1_CLEAR] = 1 if s1_clear else 0; S[S1_MAC] = 1 if s1_mac else 0
    S[S1_SHIFT] = 1 if s1_shift else 0; S[S1_EMIT] = 1 if s1_emit else 0
    S[S1_LAST] = 1 if s1_last else 0; S[S1_KW2] = s1_kw2
    S[S_WP] = wp; S[S_RP] = rp; S[S_CNT] = cnt; S[S_DRV] = 1 if dr_v else 0
    S[S_DROFF] = dr_off; S[S_DRCNT] = dr_cnt; S[S_DRKEEP] = dr_keep
    S[S_DRLAST] = 1 if dr_last else 0
    S[S_NLOG] = nlog; S[S_NTLAST] = ntlast
    C[0, C_PEND] = 1 if (p_valid and a0) else 0
    C[1, C_PEND] = 1 if (w_valid and a1) else 0
    return status


def _params(hw, njobs, watchdog, max_cycles, timing_only, mutate=None):
    d = upper_params(hw)
    B = d["AXI_WIDTH"] // 8
    pb_max = -(-d["PR_MAX"] * d["X_BITS"] // d["AXI_WIDTH"])
    ob_max = -(-d["ROWS"] * d["COLS"] * d["Y_OUT_BITS"] // d["AXI_WIDTH"])
    wb = -(-d["COLS"] * d["K_BITS"] // d["AXI_WIDTH"])
    p = np.zeros(N_PARAMS, np.int64)
    p[P_ROWS], p[P_COLS], p[P_XB], p[P_KB] = d["ROWS"], d["COLS"], d["X_BITS"], d["K_BITS"]
    p[P_YB], p[P_YOB], p[P_KWMAX], p[P_DEPTH] = (d["Y_BITS"], d["Y_OUT_BITS"], d["KW_MAX"],
                                                d["RAM_WEIGHTS_DEPTH"])
    p[P_B] = B
    p[P_WKH2], p[P_WKW2], p[P_WCM], p[P_WXW] = d["W_KH2"], d["W_KW2"], d["W_CM"], d["W_XW"]
    p[P_WXL], p[P_WXN], p[P_WWROWS] = d["W_XL"], d["W_XN"], d["W_WROWS"]
    p[P_PBMAX], p[P_OBMAX], p[P_WB], p[P_NPK] = pb_max, ob_max, wb, d["KW_MAX"] // 2 + 2
    p[P_NJOBS], p[P_WATCHDOG], p[P_MAXCYC] = njobs, watchdog, max_cycles
    p[P_TONLY] = 1 if timing_only else 0
    p[P_MUT] = MUTATIONS[mutate or "none"]
    return p, d


def prng_setup(seed, valid_prob, ready_prob):
    """docs §5: per-channel xorshift32 seeds, thresholds and always-flags (0 pixels, 1 weights,
    2 output)."""
    seed32 = int(seed) & MASK32
    prng = np.zeros(3, np.int64)
    thr = np.zeros(3, np.int64)
    always = np.zeros(3, np.bool_)
    for ch, p in enumerate((valid_prob, valid_prob, ready_prob)):
        s = (seed32 * 2654435761 + (ch + 1) * 40503) & MASK32
        prng[ch] = s if s else 1
        always[ch] = float(p) >= 1.0
        thr[ch] = 0 if always[ch] else int(float(p) * 4294967296.0)
    return seed32, prng, thr, always


class EngineState:
    """All state of the engine + three DMA channels + PRNGs, as numpy arrays (resumable)."""

    def __init__(self, hw, seed=1, valid_prob=1.0, ready_prob=1.0, timing_only=False,
                 watchdog=20000, njobs=0, max_cycles=0, nlog=0, mutate=None, trace=False):
        self.prm, self.d = _params(hw, njobs, watchdog, max_cycles, timing_only, mutate)
        prm = self.prm
        ROWS, COLS, B = int(prm[P_ROWS]), int(prm[P_COLS]), int(prm[P_B])
        self.B = B
        self.seed32, prng, self.thr, self.always = prng_setup(seed, valid_prob, ready_prob)
        self.S = np.zeros(N_STATE, np.int64)
        self.S[S_S0:S_S2 + 1] = prng
        self.S[S_P_HDRMODE] = 1
        self.S[S_W_HDRMODE] = 1
        self.C = np.zeros((3, N_CH), np.int64)
        self.C[:, C_EVENT] = -1
        NPK = int(prm[P_NPK])
        self.p_slot = np.zeros((2, int(prm[P_PBMAX]) * B), np.uint8)
        self.p_full = np.zeros(2, np.bool_)
        self.p_slot_hf = np.zeros((2, 7), np.int64)
        self.w_full = np.zeros(2, np.bool_)
        self.w_rowbuf = np.zeros(int(prm[P_WB]) * B, np.uint8)
        self.w_mem = np.zeros((2, int(prm[P_DEPTH]), COLS), np.int64)
        self.s1_x = np.zeros(ROWS, np.int64)
        self.s1_wrow = np.zeros(COLS, np.int64)
        self.acc = np.zeros((ROWS, COLS), np.int64)
        self.q_d = np.zeros((NPK, int(prm[P_OBMAX]) * B), np.uint8)
        self.q_ob = np.zeros(NPK, np.int64)
        self.q_keep = np.zeros(NPK, np.int64)
        self.q_last = np.zeros(NPK, np.int64)
        self.dr = np.zeros(int(prm[P_OBMAX]) * B, np.uint8)
        self.log_data = np.zeros((nlog, B), np.uint8)
        self.log_keep = np.zeros((nlog, B), np.bool_)
        self.log_last = np.zeros(nlog, np.bool_)
        self.log_cycle = np.zeros(nlog, np.int64)
        # trace=True: _advance writes the port values of every simulated cycle here (trp: stimulus
        # and port scalars, trd: m_axis_tdata bytes); lockstep steps one cycle at a time.
        self.trp = np.zeros(16 if trace else 0, np.int64)
        self.trd = np.zeros(B if trace else 0, np.uint8)

    @property
    def cycle(self):
        return int(self.S[S_CYCLE])

    def start(self, ch, addr, nbytes):
        """Load a descriptor on an idle channel; it is active from the next simulated cycle."""
        c = self.C[ch]
        if c[C_ACT]:
            raise EngineModelError(f"DMA channel {ch} started while busy")
        c[C_ACT] = 1
        c[C_ADDR] = addr
        c[C_BYTES] = nbytes
        c[C_NB] = -(-int(nbytes) // self.B)
        c[C_IDX] = 0
        c[C_PEND] = 0
        c[C_OFF] = 0

    def advance(self, dram, limit):
        return int(_advance(self.prm, self.S, self.C, dram, self.thr, self.always, int(limit),
                            self.p_slot, self.p_full, self.p_slot_hf, self.w_full,
                            self.w_rowbuf, self.w_mem, self.s1_x, self.s1_wrow, self.acc,
                            self.q_d, self.q_ob, self.q_keep, self.q_last, self.dr,
                            self.log_data, self.log_keep, self.log_last, self.log_cycle,
                            self.trp, self.trd))

    def take_events(self):
        """[(ch, bytes)] completed at the last edge, in channel order; clears them."""
        ev = []
        for ch in range(3):
            b = int(self.C[ch, C_EVENT])
            if b >= 0:
                ev.append((ch, b))
                self.C[ch, C_EVENT] = -1
        return ev

    def stuck_channel(self):
        """Best guess of the channel that blocks (for watchdog reports)."""
        S, C = self.S, self.C
        if C[0, C_ACT] and self.p_full[S[S_P_FILL]]:
            return 1
        if C[1, C_ACT] and self.w_full[S[S_W_WR]]:
            return 2
        return 0


def _output_beats_of(d, pixel_header):
    """Output beats of one job from its pixel header beat (docs §3)."""
    bits = np.unpackbits(np.asarray(pixel_header, np.uint8), bitorder="little")
    off = 0
    vals = []
    for wdt in (d["W_KH2"], d["W_KW2"], d["W_CM"], d["W_XW"], d["W_XL"], d["W_XN"]):
        vals.append(int(sum(int(bits[off + i]) << i for i in range(wdt))))
        off += wdt
    _, kw2, _, xw_m1, xl_m1, xn_m1 = vals
    co = d["COLS"] // (2 * kw2 + 1)
    ob = max(1, -(-d["ROWS"] * co * d["Y_OUT_BITS"] // d["AXI_WIDTH"]))
    return (xn_m1 + 1) * (xl_m1 + 1) * (xw_m1 + 1) * ob


class EngineModelError(RuntimeError):
    pass


def run_engine_jobs_model_full(hw, jobs, seed: int = 1, valid_prob: float = 1.0,
                               ready_prob: float = 1.0, timing_only: bool = False,
                               watchdog: int = 20000, max_cycles: int = 50_000_000,
                               check: bool = True, mutate=None) -> dict:
    """Model counterpart of engine_tb.run_engine_jobs_full (keys: ok, error, njobs, total_cycles,
    end_cycles, cycles_per_job, output_beats, beats, beat_cycles, pixel/weight_beats_accepted).

    tb_engine.cpp harness on the resumable core: the DRAM image is [all weights beats | all pixel
    beats | output area]; each source is ONE M2S transfer (a continuous stream of all jobs), the
    output channel is re-armed at every TLAST event (active again in the next cycle)."""
    jobs = list(jobs)
    d = upper_params(hw)
    B = d["AXI_WIDTH"] // 8
    ws, ps, nout = [], [], 0
    for job in jobs:
        (wb_, _), (pb_, _) = _job_streams(job, B)
        ws.append(wb_)
        ps.append(pb_)
        nout += _output_beats_of(d, pb_[0]) if len(pb_) else 0
    W = np.concatenate(ws).reshape(-1) if ws else np.zeros(0, np.uint8)
    P = np.concatenate(ps).reshape(-1) if ps else np.zeros(0, np.uint8)
    NW, NP = W.size // B, P.size // B
    nout = max(nout, 1)
    es = EngineState(hw, seed, valid_prob, ready_prob, timing_only, watchdog, len(jobs),
                     max_cycles, nlog=nout, mutate=mutate)
    out_base = W.size + P.size
    dram = np.zeros(out_base + (nout + 1) * B, np.uint8)
    dram[:W.size] = W
    dram[W.size:out_base] = P
    if NP:
        es.start(0, W.size, P.size)
    if NW:
        es.start(1, 0, W.size)
    out_cap = (nout + 1) * B

    def arm_output():
        used = int(es.S[S_NLOG]) * B
        es.start(2, out_base + used, out_cap - used)   # size: all that is left (never exceeded)

    arm_output()
    ends = []
    status = OK
    while len(ends) < len(jobs):
        status = es.advance(dram, max_cycles)
        if status == EVENT:
            for ch, _ in es.take_events():
                if ch == 2:
                    ends.append(es.cycle)          # cycle of the TLAST handshake + 1
                    arm_output()
            status = OK
            continue
        break
    cycle, n, done = es.cycle, int(es.S[S_NLOG]), len(ends)
    p_acc, w_acc = int(es.C[0, C_BEATS]), int(es.C[1, C_BEATS])
    res = dict(ok=status == OK, error="", njobs=len(jobs), seed=es.seed32,
               valid_prob=float(valid_prob), ready_prob=float(ready_prob),
               total_cycles=ends[-1] if ends else cycle, output_beats=n,
               pixel_beats_accepted=p_acc, weight_beats_accepted=w_acc,
               end_cycles=ends,
               cycles_per_job=[e - (ends[i - 1] if i else 0) for i, e in enumerate(ends)])
    if status != OK:
        if status in (ERR_WATCHDOG, LIMIT):
            idle = cycle - int(es.S[S_LAST])
            what = (f"no handshake for {idle} cycles" if status == ERR_WATCHDOG
                    else f"max_cycles={max_cycles} reached")
            res["error"] = (
                f"engine model watchdog: {what} at cycle {cycle} (stuck channel: "
                f"{STUCK_NAMES[es.stuck_channel()]}); pixels {p_acc}/{NP} beats accepted, "
                f"weights {w_acc}/{NW}, output {n} beats, m_axis_tvalid={int(es.S[S_DRV])}, "
                f"jobs done {done}/{len(jobs)}")
        else:
            res["error"] = (f"engine model: more output beats than the headers announce "
                            f"({nout}) at cycle {cycle}")
        if check:
            raise EngineModelError(res["error"])
    per_job, beat_cycles = [], []
    if n:
        out_last = es.log_last
        lasts = np.flatnonzero(out_last[:n]) + 1
        starts = np.concatenate([[0], lasts[:-1]])
        for s, e in zip(starts, lasts):
            per_job.append((es.log_data[s:e].copy(), es.log_keep[s:e].copy(),
                            out_last[s:e].copy()))
            beat_cycles.append(es.log_cycle[s:e].astype(np.uint32))
    res["beats"] = per_job
    res["beat_cycles"] = beat_cycles
    return res


def run_engine_jobs_model(hw, jobs, seed: int = 1, valid_prob: float = 1.0,
                          ready_prob: float = 1.0, timing_only: bool = False, **kw):
    """Same contract as dsf_sim.rtl_bridge.engine_tb.run_engine_jobs:
    returns (output_beats, cycles_per_job), output_beats[j] = (data uint8[n, B], keep bool[n, B],
    last bool[n]). Raises EngineModelError on watchdog (naming the stuck channel and cycle)."""
    res = run_engine_jobs_model_full(hw, jobs, seed, valid_prob, ready_prob, timing_only, **kw)
    return res["beats"], list(res["cycles_per_job"])

"""Cycle-accurate numba model of rtl/dsf_engine.sv plus the tb_engine.cpp sources/sink.

One loop iteration == one clock cycle of rtl/tb/tb_engine.cpp (docs/architecture.md §5, §7):
  1. the three xorshift32 generators step (0 pixels valid, 1 weights valid, 2 output ready);
  2. sources present a beat (valid stays until taken), the sink drives ready = draw;
  3. combinational outputs of the engine are computed from the registers only
     (tready = !full[fill|wr], go_hdr / go_mac / go_fl, room, pop, m_axis_*);
  4. handshakes are recorded, then every register takes its next value (the rising edge).
State names follow the RTL modules: dsf_pixel_streamer (p_*), dsf_weight_loader (w_*),
dsf_sequencer (st, kh, ci, addr, w, l, n, f, s1_*), dsf_pe_array (acc), dsf_output (q_*, cnt,
wp, rp, dr_*).

`run_engine_jobs_model` has the signature / return convention of
`dsf_sim.rtl_bridge.engine_tb.run_engine_jobs`. `timing_only=True` skips slot data, weight rows,
MACs and packet data (output data are zeros; keep/last/cycles identical).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from dsf_sim.rtl_bridge.engine_tb import _job_streams, upper_params

MASK32 = 0xFFFFFFFF

# indices into the int64 parameter vector
(P_ROWS, P_COLS, P_XB, P_KB, P_YB, P_YOB, P_KWMAX, P_DEPTH, P_B, P_WKH2, P_WKW2, P_WCM, P_WXW,
 P_WXL, P_WXN, P_WWROWS, P_PBMAX, P_OBMAX, P_WB, P_NPK, P_NJOBS, P_WATCHDOG, P_MAXCYC,
 P_TONLY, N_PARAMS) = range(25)

# status codes
OK, ERR_WATCHDOG, ERR_MAXCYC, ERR_OUTBUF = 0, 2, 3, 5
STUCK_NAMES = {0: "output (m_axis)", 1: "pixels (s_axis_pixels)", 2: "weights (s_axis_weights)"}


@njit(cache=True, inline="always")
def _xorshift(s):
    s ^= (s << 13) & 0xFFFFFFFF
    s ^= s >> 17
    s ^= (s << 5) & 0xFFFFFFFF
    return s


@njit(cache=True)
def _bits(beat, off, width):
    """beat (uint8 LSB-first) bits [off, off+width) as an unsigned int (dsf_header_decode)."""
    v = 0
    for i in range(width):
        b = off + i
        v |= ((beat[b >> 3] >> (b & 7)) & 1) << i
    return v


@njit(cache=True)
def _word(buf, base, j, bits):
    """word j of `bits` (1,2,4,8) bits at byte offset `base` of buf, unsigned."""
    bit = j * bits
    return (buf[base + (bit >> 3)] >> (bit & 7)) & ((1 << bits) - 1)


@njit(cache=True)
def _sim(prm, wbeats, pbeats, prng, thr, always, out_data, out_keep, out_last, out_cycle,
         end_cycles, info):
    ROWS = prm[P_ROWS]; COLS = prm[P_COLS]; XB = prm[P_XB]; KB = prm[P_KB]; YB = prm[P_YB]
    YOB = prm[P_YOB]; DEPTH = prm[P_DEPTH]; B = prm[P_B]
    WKH2 = prm[P_WKH2]; WKW2 = prm[P_WKW2]; WCM = prm[P_WCM]; WXW = prm[P_WXW]
    WXL = prm[P_WXL]; WXN = prm[P_WXN]; WWROWS = prm[P_WWROWS]
    PB_MAX = prm[P_PBMAX]; OB_MAX = prm[P_OBMAX]; WB = prm[P_WB]; NPK = prm[P_NPK]
    NJOBS = prm[P_NJOBS]; WATCHDOG = prm[P_WATCHDOG]; MAXCYC = prm[P_MAXCYC]
    TONLY = prm[P_TONLY] != 0
    # header field offsets (dsf_header_decode)
    O_KH2 = 0; O_KW2 = O_KH2 + WKH2; O_CM = O_KW2 + WKW2; O_XW = O_CM + WCM; O_XL = O_XW + WXW
    O_XN = O_XL + WXL; O_WROWS = O_XN + WXN; O_XS = O_WROWS + WWROWS
    YMASK = (1 << YB) - 1
    YSIGN = 1 << (YB - 1)
    YOBY = YOB // 8
    NW = wbeats.shape[0]; NP = pbeats.shape[0]; NOUT = out_data.shape[0]

    # ---------------- harness sources
    p_idx = 0; p_valid = False; w_idx = 0; w_valid = False
    s0 = prng[0]; s1 = prng[1]; s2 = prng[2]

    # ---------------- dsf_pixel_streamer
    p_slot = np.zeros((2, PB_MAX * B), np.uint8)
    p_full = np.zeros(2, np.bool_); p_hdr = np.zeros(2, np.bool_)
    # decoded header held by each slot (the sequencer decodes slot beat 0 = header token)
    p_slot_hf = np.zeros((2, 7), np.int64)   # kh2, kw2, cm_m1, xw_m1, xl_m1, xn_m1, xs
    p_fill = 0; p_rd = 0; p_hdr_mode = True; p_beat = 0; p_pb_m1 = 0
    p_ci = 0; p_w = 0; p_l = 0; p_n = 0; p_cm_m1 = 0; p_xw_m1 = 0; p_xl_m1 = 0; p_xn_m1 = 0

    # ---------------- dsf_weight_loader (+ 2 dsf_weight_ram banks, decoded signed words)
    w_full = np.zeros(2, np.bool_)
    w_wr = 0; w_rd = 0; w_hdr_mode = True; w_wrows_m1 = 0; w_row = 0; w_beat = 0
    w_rowbuf = np.zeros(WB * B, np.uint8)
    w_mem = np.zeros((2, DEPTH, COLS), np.int64)

    # ---------------- dsf_sequencer
    st = 0  # 0 HDR, 1 MAC, 2 FLUSH
    kh2 = 0; kw2 = 0; cm_m1 = 0; xw_m1 = 0; xl_m1 = 0; xn_m1 = 0; xs = 0
    kh = 0; ci = 0; addr = 0; w = 0; l = 0; n = 0; f = 0
    s1_clear = False; s1_mac = False; s1_shift = False; s1_emit = False; s1_last = False
    s1_kw2 = 0
    s1_x = np.zeros(ROWS, np.int64)
    s1_wrow = np.zeros(COLS, np.int64)     # weight RAM rdata register (read issued in stage 0)

    # ---------------- dsf_pe_array
    acc = np.zeros((ROWS, COLS), np.int64)   # unsigned Y_BITS values

    # ---------------- dsf_output
    q_d = np.zeros((NPK, OB_MAX * B), np.uint8)
    q_ob = np.zeros(NPK, np.int64); q_keep = np.zeros(NPK, np.int64)
    q_last = np.zeros(NPK, np.bool_)
    wp = 0; rp = 0; cnt = 0
    dr = np.zeros(OB_MAX * B, np.uint8)
    dr_v = False; dr_off = 0; dr_cnt = 0; dr_keep = 0; dr_last = False

    cycle = 0; last_hs = 0; nout = 0; njobs_done = 0
    status = OK
    stuck = 0
    while njobs_done < NJOBS:
        # ---- PRNG (once per cycle) and source valids
        s0 = _xorshift(s0); s1 = _xorshift(s1); s2 = _xorshift(s2)
        d0 = always[0] or s0 < thr[0]
        d1 = always[1] or s1 < thr[1]
        d2 = always[2] or s2 < thr[2]
        if not p_valid:
            p_valid = p_idx < NP and d0
        if not w_valid:
            w_valid = w_idx < NW and d1

        # ---- combinational (registers only)
        p_tready = not p_full[p_fill]
        w_tready = not w_full[w_wr]
        pf = p_valid and p_tready
        wf = w_valid and w_tready
        of = dr_v and d2

        slot_full = p_full[p_rd]
        bank_ready = w_full[w_rd]
        room = cnt + (1 if s1_emit else 0) < NPK
        kh_last = kh == 2 * kh2
        ci_last = ci == cm_m1
        w_last = w == xw_m1
        blk_last = (l == xl_m1) and (n == xn_m1)
        first = ci == 0 and kh == 0
        emit_mac = first and w > kw2
        emit_fl = xw_m1 + f >= kw2
        f_last = f == kw2
        go_hdr = st == 0 and slot_full
        go_mac = st == 1 and slot_full and bank_ready and not (emit_mac and not room)
        go_fl = st == 2 and not (emit_fl and not room)
        release_slot = go_hdr or (go_mac and kh_last)
        release_bank = go_mac and kh_last and ci_last and w_last and blk_last

        o_fire = of
        dr_free = (not dr_v) or (o_fire and dr_cnt == 1)
        pop = cnt != 0 and dr_free

        # ---- sink: record the accepted output beat
        if of:
            if nout >= NOUT:
                status = ERR_OUTBUF
                break
            base = dr_off * B
            for i in range(B):
                out_data[nout, i] = dr[base + i]
            lastbeat = dr_cnt == 1
            for i in range(B):
                out_keep[nout, i] = (i < dr_keep) if lastbeat else True
            tl = dr_last and lastbeat
            out_last[nout] = tl
            out_cycle[nout] = cycle
            nout += 1
            if tl:
                end_cycles[njobs_done] = cycle + 1
                njobs_done += 1

        # ================= rising edge =================
        # ---- dsf_output (capture uses the pre-update accumulators)
        if o_fire:
            dr_off += 1
            dr_cnt -= 1
            if dr_cnt == 0:
                dr_v = False
        if pop:
            dr_v = True
            if not TONLY:
                for i in range(q_ob[rp] * B):
                    dr[i] = q_d[rp, i]
            dr_off = 0; dr_cnt = q_ob[rp]; dr_keep = q_keep[rp]; dr_last = q_last[rp]
            rp = 0 if rp == NPK - 1 else rp + 1
        if s1_emit:
            KW = 2 * s1_kw2 + 1
            CO = COLS // KW
            ob = (ROWS * CO * YOB + 8 * B - 1) // (8 * B)
            q_ob[wp] = ob
            q_keep[wp] = ROWS * CO * YOBY - (ob - 1) * B
            q_last[wp] = s1_last
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
                xv = s1_x[r]
                for c in range(COLS - 1, -1, -1):    # right to left: acc[c-1] still old
                    if s1_shift:
                        base_v = 0 if c % KW == 0 else acc[r, c - 1]
                    else:
                        base_v = acc[r, c]
                    if s1_mac:
                        base_v += xv * s1_wrow[c]
                    acc[r, c] = base_v & YMASK

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
                if xs != 0 and (v >> (XB - 1)) & 1:
                    v -= 1 << XB
                s1_x[r] = v
            for c in range(COLS):
                s1_wrow[c] = w_mem[w_rd, addr, c]   # bank rd as of this cycle, 1-cycle read
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
            beat = pbeats[p_idx]
            if not TONLY or p_hdr_mode:
                for i in range(B):
                    p_slot[p_fill, p_beat * B + i] = beat[i]
            if p_hdr_mode:
                h_kh2 = _bits(beat, O_KH2, WKH2)
                p_slot_hf[p_fill, 0] = h_kh2
                p_slot_hf[p_fill, 1] = _bits(beat, O_KW2, WKW2)
                p_slot_hf[p_fill, 2] = _bits(beat, O_CM, WCM)
                p_slot_hf[p_fill, 3] = _bits(beat, O_XW, WXW)
                p_slot_hf[p_fill, 4] = _bits(beat, O_XL, WXL)
                p_slot_hf[p_fill, 5] = _bits(beat, O_XN, WXN)
                p_slot_hf[p_fill, 6] = _bits(beat, O_XS, 1)
                p_full[p_fill] = True; p_hdr[p_fill] = True; p_fill ^= 1
                p_hdr_mode = False; p_beat = 0
                p_pb_m1 = ((ROWS + 2 * h_kh2) * XB + 8 * B - 1) // (8 * B) - 1
                p_cm_m1 = p_slot_hf[p_fill ^ 1, 2]; p_xw_m1 = p_slot_hf[p_fill ^ 1, 3]
                p_xl_m1 = p_slot_hf[p_fill ^ 1, 4]; p_xn_m1 = p_slot_hf[p_fill ^ 1, 5]
                p_ci = 0; p_w = 0; p_l = 0; p_n = 0
            elif p_beat == p_pb_m1:
                last_col = (p_ci == p_cm_m1 and p_w == p_xw_m1 and p_l == p_xl_m1
                            and p_n == p_xn_m1)
                p_full[p_fill] = True; p_hdr[p_fill] = False; p_fill ^= 1; p_beat = 0
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
            beat = wbeats[w_idx]
            if w_hdr_mode:
                w_hdr_mode = False
                w_wrows_m1 = _bits(beat, O_WROWS, WWROWS)
                w_row = 0; w_beat = 0
            else:
                if not TONLY:
                    for i in range(B):
                        w_rowbuf[w_beat * B + i] = beat[i]
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

        # ---- harness: sources advance after the edge
        if pf:
            p_idx += 1; p_valid = False
        if wf:
            w_idx += 1; w_valid = False
        if pf or wf or of:
            last_hs = cycle
        cycle += 1
        if cycle - last_hs > WATCHDOG or cycle >= MAXCYC:
            status = ERR_WATCHDOG if cycle - last_hs > WATCHDOG else ERR_MAXCYC
            if p_idx < NP and p_full[p_fill]:
                stuck = 1
            elif w_idx < NW and w_full[w_wr]:
                stuck = 2
            else:
                stuck = 0
            break

    info[0] = status; info[1] = cycle; info[2] = nout; info[3] = njobs_done
    info[4] = p_idx; info[5] = w_idx; info[6] = stuck; info[7] = cycle - last_hs
    info[8] = 1 if dr_v else 0
    return info


def _params(hw, njobs, watchdog, max_cycles, timing_only):
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
    return p, d


def _output_beats_of(d, pixel_header):
    """Output beats of one job from its pixel header beat (docs §3)."""
    from dsf_sim.rtl_bridge.engine_tb import clog2v  # noqa: F401  (same widths as upper_params)
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
                               check: bool = True) -> dict:
    """Model counterpart of engine_tb.run_engine_jobs_full (keys: ok, error, njobs, total_cycles,
    end_cycles, cycles_per_job, output_beats, beats, beat_cycles, pixel/weight_beats_accepted)."""
    jobs = list(jobs)
    prm, d = _params(hw, len(jobs), watchdog, max_cycles, timing_only)
    B = d["AXI_WIDTH"] // 8
    ws, ps, nout = [], [], 0
    for job in jobs:
        (wb_, _), (pb_, _) = _job_streams(job, B)
        ws.append(wb_)
        ps.append(pb_)
        nout += _output_beats_of(d, pb_[0]) if len(pb_) else 0
    W = np.ascontiguousarray(np.concatenate(ws) if ws else np.zeros((0, B), np.uint8))
    P = np.ascontiguousarray(np.concatenate(ps) if ps else np.zeros((0, B), np.uint8))
    nout = max(nout, 1)

    seed32 = int(seed) & MASK32
    prng = np.zeros(3, np.int64)
    thr = np.zeros(3, np.int64)
    always = np.zeros(3, np.bool_)
    for ch, p in enumerate((valid_prob, valid_prob, ready_prob)):
        s = (seed32 * 2654435761 + (ch + 1) * 40503) & MASK32
        prng[ch] = s if s else 1
        always[ch] = float(p) >= 1.0
        thr[ch] = 0 if always[ch] else int(float(p) * 4294967296.0)

    out_data = np.zeros((nout, B), np.uint8)
    out_keep = np.zeros((nout, B), np.bool_)
    out_last = np.zeros(nout, np.bool_)
    out_cycle = np.zeros(nout, np.int64)
    end_cycles = np.zeros(max(len(jobs), 1), np.int64)
    info = np.zeros(16, np.int64)
    _sim(prm, W, P, prng, thr, always, out_data, out_keep, out_last, out_cycle, end_cycles, info)
    status, cycle, n, done = (int(v) for v in info[:4])
    ends = [int(v) for v in end_cycles[:done]]
    res = dict(ok=status == OK, error="", njobs=len(jobs), seed=seed32,
               valid_prob=float(valid_prob), ready_prob=float(ready_prob),
               total_cycles=ends[-1] if ends else cycle, output_beats=n,
               pixel_beats_accepted=int(info[4]), weight_beats_accepted=int(info[5]),
               end_cycles=ends,
               cycles_per_job=[e - (ends[i - 1] if i else 0) for i, e in enumerate(ends)])
    if status != OK:
        if status in (ERR_WATCHDOG, ERR_MAXCYC):
            what = (f"no handshake for {int(info[7])} cycles" if status == ERR_WATCHDOG
                    else f"max_cycles={max_cycles} reached")
            res["error"] = (
                f"engine model watchdog: {what} at cycle {cycle} (stuck channel: "
                f"{STUCK_NAMES[int(info[6])]}); pixels {int(info[4])}/{len(P)} beats accepted, "
                f"weights {int(info[5])}/{len(W)}, output {n} beats, m_axis_tvalid={int(info[8])}, "
                f"jobs done {done}/{len(jobs)}")
        else:
            res["error"] = (f"engine model: more output beats than the headers announce "
                            f"({nout}) at cycle {cycle}")
        if check:
            raise EngineModelError(res["error"])
    per_job, beat_cycles = [], []
    if n:
        lasts = np.flatnonzero(out_last[:n]) + 1
        starts = np.concatenate([[0], lasts[:-1]])
        for s, e in zip(starts, lasts):
            per_job.append((out_data[s:e].copy(), out_keep[s:e].copy(), out_last[s:e].copy()))
            beat_cycles.append(out_cycle[s:e].astype(np.uint32))
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

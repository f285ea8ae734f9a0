"""The twin's clock: one iteration of `advance` is one cycle of the engine and its harness.

Per cycle (architecture §5, §7.7, §11):
  1. the four xorshift32 generators step; the M2S channels (pixels, weights, skip) present a beat
     (valid stays until taken), the S2M channel drives ready = active && draw;
  2. every module's combinational outputs, from registers only;
  3. the rising edge: the S2M beat is written, then the modules' next states in the order
     output -> pe_array -> sequencer -> weight_loader -> pixel_streamer (each reads the arrays
     of the later ones before they change, i.e. the values before the edge), then the M2S
     channels advance.
With a handshake schedule `hs` (int64[2, 4, G]: dma_coupling.py, `dsf profile --exact`) a
DMA/DRAM model gates the draws: beat k of channel ch may be presented (M2S) or taken (S2M) only
from cycle hs[0, ch, k] on, and the cycle each beat is taken is written to hs[1, ch, k].
hs=None (every other harness): the draws alone, and numba compiles the gating away (a test of
`hs is None` on an argument is pruned at compile time; checked at run time it cost 35 % of the
clock's speed).
`advance` runs cycles until an edge with a DMA completion event, `limit`, the watchdog or an
error, loading every module's registers from the state vector once at entry and storing them
once at exit, so the harness can act at that edge (deliver events, load descriptors) and resume.
"""
from __future__ import annotations

from numba.np.unsafe.ndarray import to_fixed_tuple

from ..jit import jit
from . import (dma, output, pe_array, pixel_streamer, sequencer, stretch, trace_rows,
               weight_loader)
from .params import N_PARAMS, P_AXI_BYTES, P_TIMING_ONLY, P_WATCHDOG
from .registers import (HARNESS0, N_HARNESS, N_OUTPUT, N_PIXEL_STREAMER, N_PRNG, N_SEQUENCER,
                        N_WEIGHT_LOADER, OUTPUT0, PIXEL_STREAMER0, PRNG0, SEQUENCER0,
                        WEIGHT_LOADER0, Harness, Output, PixelStreamer, Prng, Sequencer,
                        WeightLoader)

# status of advance(): S[cycle] is then the next cycle to simulate
OK, EVENT, ERR_WATCHDOG, LIMIT, ERR_OVERFLOW, ERR_OUTBUF = 0, 1, 2, 3, 4, 5


@jit(inline=True)
def _load(S):
    """Every module's registers from the state vector (once per advance call)."""
    return (Harness(*to_fixed_tuple(S[HARNESS0:HARNESS0 + N_HARNESS], N_HARNESS)),
            Prng(*to_fixed_tuple(S[PRNG0:PRNG0 + N_PRNG], N_PRNG)),
            PixelStreamer(*to_fixed_tuple(S[PIXEL_STREAMER0:PIXEL_STREAMER0 + N_PIXEL_STREAMER],
                                          N_PIXEL_STREAMER)),
            WeightLoader(*to_fixed_tuple(S[WEIGHT_LOADER0:WEIGHT_LOADER0 + N_WEIGHT_LOADER],
                                         N_WEIGHT_LOADER)),
            Sequencer(*to_fixed_tuple(S[SEQUENCER0:SEQUENCER0 + N_SEQUENCER], N_SEQUENCER)),
            Output(*to_fixed_tuple(S[OUTPUT0:OUTPUT0 + N_OUTPUT], N_OUTPUT)))


@jit(inline=True)
def _store(S, h, g, p, wl, q, o):
    for k in range(N_HARNESS):
        S[HARNESS0 + k] = h[k]
    for k in range(N_PRNG):
        S[PRNG0 + k] = g[k]
    for k in range(N_PIXEL_STREAMER):
        S[PIXEL_STREAMER0 + k] = p[k]
    for k in range(N_WEIGHT_LOADER):
        S[WEIGHT_LOADER0 + k] = wl[k]
    for k in range(N_SEQUENCER):
        S[SEQUENCER0 + k] = q[k]
    for k in range(N_OUTPUT):
        S[OUTPUT0 + k] = o[k]


@jit(inline=True)
def _log_beat(log, nlog, cycle, dr, base, B, keep, last):
    """The engine harness's record of an accepted output beat (all bytes, TKEEP, TLAST, cycle)."""
    log_data, log_keep, log_last, log_cycle = log
    for i in range(B):
        log_data[nlog, i] = dr[base + i]
        log_keep[nlog, i] = i < keep
    log_last[nlog] = last
    log_cycle[nlog] = cycle


@jit(inline=True)
def _trace_registers(trace, S, C, acc, cycle, h, g, p, wl, q, o):
    """Lockstep: S holds the registers during this cycle, and its row gets their columns."""
    _store(S, h, g, p, wl, q, o)
    trace_rows.registers_row(trace, S, C, acc, cycle)


@jit(inline=True)
def _flags(C):
    """The channels' active and pending (latched valid) flags as advance keeps them."""
    return (C[0, dma.C_ACT] != 0, C[1, dma.C_ACT] != 0, C[2, dma.C_ACT] != 0,
            C[3, dma.C_ACT] != 0, C[0, dma.C_PEND] != 0, C[1, dma.C_PEND] != 0,
            C[3, dma.C_PEND] != 0)


@jit(inline=True)
def _m2s_after_edge(C, ch, fired, valid, active):
    """An M2S channel after the edge: a taken beat clears valid; the transfer's last beat ends
    it (a completion event)."""
    if not fired:
        return valid, active, False
    if dma.m2s_taken(C, ch):
        return False, False, True
    return False, active, False


@jit(inline=True)
def _gated(gate, C, cycle, pv, wv, mr, sv):
    """The draws, each only once the DMA/DRAM model has its channel's current beat there."""
    return (pv and gate[0, C[0, dma.C_BEATS]] <= cycle, wv and gate[1, C[1, dma.C_BEATS]] <= cycle,
            mr and gate[2, C[2, dma.C_BEATS]] <= cycle, sv and gate[3, C[3, dma.C_BEATS]] <= cycle)


@jit(inline=True)
def _record_taken(taken, C, cycle, pf, wf, of, sf):
    """The cycle each channel's current beat is handshaken (before the edge counts it)."""
    if pf:
        taken[0, C[0, dma.C_BEATS]] = cycle
    if wf:
        taken[1, C[1, dma.C_BEATS]] = cycle
    if of:
        taken[2, C[2, dma.C_BEATS]] = cycle
    if sf:
        taken[3, C[3, dma.C_BEATS]] = cycle


@jit(inline=True)
def _m_tdata(o, of, tracing, dr, beat, cfgset, skbuf, prm, tabs):
    """m_axis_tdata (registers only) as (buffer, offset), once per cycle for the probe and the
    accepted beat; not computed while invalid (the probe records zeros) nor when timing only.
    Lockstep reads the lanes' registers (`_load_lanes`), like the RTL."""
    if o.dr_v == 0 or prm[P_TIMING_ONLY] != 0:
        return dr, 0
    if tracing and o.dr_fin != 0:
        return beat, 0
    if tracing or of:
        return output.tdata(o, dr, beat, cfgset, skbuf, prm, tabs)
    return dr, 0


@jit(inline=True)
def _load_lanes(o, dr, beat, cfgset, skbuf, prm, tabs):
    """Lockstep, at an edge that changes what the lanes see (rtl/dsf_post_lane.sv): their
    registers load the drain and skip FIFO as they are after the edge and the configuration
    set as it is before the loader's edge."""
    if o.dr_v != 0 and o.dr_fin != 0 and prm[P_TIMING_ONLY] == 0:
        output.tdata(o, dr, beat, cfgset, skbuf, prm, tabs)


@jit
def advance(prm_array, tabs, S, C, dram, thr, limit, slot, wl_mem, s1_x, acc, out_mem, log, trace,
            hs):
    """Run cycles from S[cycle] until an edge with a DMA completion (EVENT), cycle == limit
    (LIMIT), the watchdog (ERR_WATCHDOG), an S2M transfer longer than its descriptor
    (ERR_OVERFLOW) or a full output log (ERR_OUTBUF). Returns the status."""
    prm = to_fixed_tuple(prm_array, N_PARAMS)   # a value, not memory: loads hoist out of the loop
    rowbuf, banks, rdata, cfgset = wl_mem
    dr, skbuf, beat = out_mem[4], out_mem[8], out_mem[9]
    B, nlog_max = prm[P_AXI_BYTES], log[0].shape[0]
    tracing = trace[0].shape[0] > 0                 # lockstep's rows (trace_rows.py)
    jumps = stretch.enabled(prm, tracing, hs is not None)

    h, g, p, wl, q, o = _load(S)
    cycle, last_act, nlog, ntlast, jumped = h
    s0, s1, s2, s3 = g
    a0, a1, a2, a3, p_valid, w_valid, s_valid = _flags(C)

    status = OK
    while True:
        if cycle >= limit:
            status = LIMIT
            break
        if tracing:
            _trace_registers(trace, S, C, acc, cycle, Harness(cycle, last_act, nlog, ntlast,
                             jumped), Prng(s0, s1, s2, s3), p, wl, q, o)
        if jumps:     # a steady MAC stretch, taken in one step (stretch.py)
            n, q, p, wl, jg, jv, last_act = stretch.jump(
                q, p, wl, o, (s0, s1, s2, s3), (p_valid, w_valid, s_valid), (a0, a1, a2, a3),
                thr, C, cycle, last_act, limit, prm)
            if n > 0:
                (s0, s1, s2, s3), (p_valid, w_valid, s_valid) = jg, jv
                cycle += n
                jumped += n
                continue
        # ---- 1. PRNG (once per cycle), channel valids / ready
        s0, s1, s2, s3, p_valid, w_valid, m_ready, s_valid = dma.draw(
            s0, s1, s2, s3, p_valid, w_valid, s_valid, a0, a1, a2, a3, thr)
        if hs is not None:    # a latched valid passed its gate already (its beat is unchanged)
            p_valid, w_valid, m_ready, s_valid = _gated(hs[0], C, cycle, p_valid, w_valid,
                                                        m_ready, s_valid)

        # ---- 2. combinational outputs (registers only)
        p_tready = pixel_streamer.s_tready(p, prm)
        w_tready = weight_loader.s_tready(wl, prm)
        s_tready = output.skip_tready(o)
        add = output.adds(o, cfgset, tabs)
        ov = output.tvalid(o, add, prm)
        pf = p_valid and p_tready
        wf = w_valid and w_tready
        sf = s_valid and s_tready
        of = ov and m_ready
        dma.count(C, 0, a0, p_valid and not p_tready)
        dma.count(C, 1, a1, w_valid and not w_tready)
        dma.count(C, 2, a2, not ov)
        dma.count(C, 3, a3, s_valid and not s_tready)
        sc = sequencer.comb(q, pixel_streamer.slot_full(p), weight_loader.bank_ready(wl),
                            output.room(o, q.s1_emit, prm), prm)
        raddr = sequencer.raddr(q, prm)
        popped = output.pop(o, of, prm)
        rel = output.cfg_release(o, of)
        tb, tbase = _m_tdata(o, of, tracing, dr, beat, cfgset, skbuf, prm, tabs)
        if tracing:                              # in the order of trace_rows.PROBE_SLOTS
            trace_rows.probes_row(
                trace, cycle, tb, tbase, o.dr_v != 0, B,
                (int(p_valid), int(w_valid), int(m_ready), int(p_tready), int(w_tready), int(ov),
                 int(output.tlast(o, prm)), output.tkeep(o, prm), raddr, int(s_valid),
                 int(s_tready)))

        # ---- 3. the rising edge
        ev = False
        if hs is not None:
            _record_taken(hs[1], C, cycle, pf, wf, of, sf)
        if of:                                   # the accepted output beat goes to DRAM
            m_tlast = output.tlast(o, prm)
            m_tkeep = output.tkeep(o, prm)
            if not dma.s2m_fits(C, m_tkeep):
                status = ERR_OVERFLOW
                break
            if nlog_max > 0:
                if nlog >= nlog_max:
                    status = ERR_OUTBUF
                    break
                _log_beat(log, nlog, cycle, tb, tbase, B, m_tkeep, m_tlast)
                nlog += 1
            if dma.s2m_write(C, dram, tb, tbase, m_tkeep, m_tlast):
                ntlast += 1
                a2 = False
                ev = True
        o = output.edge(o, of, popped, add and of, sf, dma.beat_addr(C, 3, B), dram, q, acc,
                        out_mem, cfgset, prm, tabs)
        if tracing and (popped or of or sf):
            _load_lanes(o, dr, beat, cfgset, skbuf, prm, tabs)
        pe_array.edge(acc, q, s1_x, rdata, prm)
        q = sequencer.edge(q, sc, slot, p.rd, s1_x, prm, tabs)
        wl = weight_loader.edge(wl, wf, sc.release_bank, rel, sc.go_mac, raddr, dram,
                                dma.beat_addr(C, 1, B), rowbuf, banks, rdata, cfgset, prm, tabs)
        p = pixel_streamer.edge(p, pf, sc.release_slot, dram, dma.beat_addr(C, 0, B), slot, prm,
                                tabs)
        p_valid, a0, e0 = _m2s_after_edge(C, 0, pf, p_valid, a0)   # M2S channels advance
        w_valid, a1, e1 = _m2s_after_edge(C, 1, wf, w_valid, a1)
        s_valid, a3, e3 = _m2s_after_edge(C, 3, sf, s_valid, a3)
        ev = ev or e0 or e1 or e3
        if pf or wf or of or sf:
            last_act = cycle
        cycle += 1
        if ev:
            status = EVENT
            break
        if cycle - last_act > prm[P_WATCHDOG]:
            status = ERR_WATCHDOG
            break

    _store(S, Harness(cycle, last_act, nlog, ntlast, jumped), Prng(s0, s1, s2, s3), p, wl, q, o)
    C[0, dma.C_PEND] = 1 if (p_valid and a0) else 0
    C[1, dma.C_PEND] = 1 if (w_valid and a1) else 0
    C[3, dma.C_PEND] = 1 if (s_valid and a3) else 0
    return status

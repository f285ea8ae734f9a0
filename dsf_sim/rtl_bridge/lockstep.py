"""Lockstep co-simulation: RTL engine vs cycle model, every port every cycle (contract §7.3).

Both sides get the same stimulus: the tb_engine.cpp harness of docs §5/§7.7 (one xorshift32 per
channel stepped once per cycle, a presented beat stays until taken, sink ready = draw). The RTL
runs in `rtl/tb/tb_lockstep.cpp` (built with `+define+DSF_DEBUG_PORTS`), the model is
`dsf_sim.models.engine_model` stepped one cycle at a time inside numba (`_model_trace`). Stimulus
depends only on the PRNG and on past tready values, so it is identical on both sides up to (and
including) the first cycle in which an output differs; the stimulus is recorded and compared too
(a difference there would be a harness bug).

Fast path (`lockstep`): both sides write one record per cycle (values seen during the cycle, after
the inputs are driven and before the edge that ends it) into arrays; numpy finds the first cycle
where any compared signal differs. Slow path (`rtl_vcd_window`): pyverilator re-runs the RTL from
reset to the divergence (+ a few cycles) with the same stimulus, dumping a VCD of the last N cycles.

Compared signals (`PORTS`, `DEBUG`):
  * ports, every cycle: s_axis_pixels_tready, s_axis_weights_tready, m_axis_tvalid;
    m_axis_tdata / m_axis_tkeep / m_axis_tlast only in cycles where m_axis_tvalid = 1 on both sides
    (AXI-Stream: data/keep/last are don't-care while valid = 0);
  * internal state (RTL debug ports `dbg_*` == model registers of the same name): seq_st, n, l, w,
    ci, kh, f (sequencer), pix_full (2 slot flags), wb_full (2 bank flags), out_cnt (packet FIFO
    count), raddr (weight RAM read address), s1_mac, s1_emit (stage-1 op), acc00 (PE (0,0)).
"""
from __future__ import annotations

import fcntl
import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numba import njit

from ..models import engine_model as em
from .engine_tb import (DEFAULT_BUILD_DIR, RTL_DIR, _job_streams, build_harness, build_key,
                                          _verilator_version, config_hw_svh, upper_params,
                                          write_job_file)

TB_CPP = RTL_DIR / "tb" / "tb_lockstep.cpp"

# record fields (order == enum in rtl/tb/tb_lockstep.cpp)
SCALARS = ("p_valid", "w_valid", "m_ready", "p_idx", "w_idx",
           "s_axis_pixels_tready", "s_axis_weights_tready", "m_axis_tvalid", "m_axis_tlast",
           "seq_st", "n", "l", "w", "ci", "kh", "f", "pix_full", "wb_full", "out_cnt", "raddr",
           "s1_mac", "s1_emit", "acc00", "jobs_done")
IX = {n: i for i, n in enumerate(SCALARS)}
NS = len(SCALARS)
STIMULUS = ("p_valid", "w_valid", "m_ready", "p_idx", "w_idx")
PORTS = ("s_axis_pixels_tready", "s_axis_weights_tready", "m_axis_tvalid", "m_axis_tlast",
         "m_axis_tkeep", "m_axis_tdata")
DEBUG = ("seq_st", "n", "l", "w", "ci", "kh", "f", "pix_full", "wb_full", "out_cnt", "raddr",
         "s1_mac", "s1_emit", "acc00")
GATED = ("m_axis_tlast", "m_axis_tkeep", "m_axis_tdata")     # compared only while valid = 1


@dataclass
class Trace:
    """Per-cycle record of one side: sc[t, IX[name]], data[t, B] (tdata bytes), keep[t, KB]."""
    sc: np.ndarray
    data: np.ndarray
    keep: np.ndarray
    status: str = "done"          # done | watchdog | max_cycles
    side: str = ""

    def __len__(self):
        return len(self.sc)

    def value(self, name, t):
        if name == "m_axis_tdata":
            return "0x" + bytes(self.data[t][::-1]).hex()
        if name == "m_axis_tkeep":
            return "0x" + bytes(self.keep[t][::-1]).hex()
        return int(self.sc[t, IX[name]])


# ----------------------------------------------------------------------------- RTL fast path
def build_lockstep_tb(hw, defines=(), build_dir=DEFAULT_BUILD_DIR, jobs: int = 2) -> Path:
    """Build (or reuse) tb_lockstep for this hardware and extra defines (e.g. DSF_MUT_OUT_LAST)."""
    return build_harness(hw, TB_CPP, "tb_lockstep", defines=("DSF_DEBUG_PORTS",) + tuple(defines),
                         build_dir=build_dir, jobs=jobs)


def read_trace(path) -> Trace:
    raw = np.fromfile(path, np.uint8)
    if raw[:4].tobytes() != b"DSFT":
        raise RuntimeError(f"{path}: not a lockstep trace")
    ns, nb, kb = np.frombuffer(raw[4:16].tobytes(), "<u4")
    assert ns == NS, f"trace has {ns} fields, expected {NS} (tb_lockstep.cpp / SCALARS mismatch)"
    rec = np.dtype([("sc", "<u4", (NS,)), ("data", np.uint8, (nb,)), ("keep", np.uint8, (kb,))])
    r = np.frombuffer(raw[16:].tobytes(), rec)
    return Trace(r["sc"].astype(np.int64), r["data"].copy(), r["keep"].copy(), side="RTL")


def rtl_trace(hw, jobs, seed=1, valid_prob=1.0, ready_prob=1.0, defines=(), watchdog=20000,
              max_cycles=50_000_000, build_dir=DEFAULT_BUILD_DIR) -> Trace:
    B = upper_params(hw)["AXI_BYTES"]
    exe = build_lockstep_tb(hw, defines, build_dir)
    with tempfile.TemporaryDirectory(prefix="dsf_lockstep_") as tmp:
        jf, tf = os.path.join(tmp, "jobs.bin"), os.path.join(tmp, "trace.bin")
        write_job_file(jf, jobs, B)
        r = subprocess.run([str(exe), jf, tf, str(int(seed) & 0xFFFFFFFF), repr(float(valid_prob)),
                            repr(float(ready_prob)), str(watchdog), str(max_cycles)],
                           capture_output=True, text=True)
        if r.returncode not in (0, 2, 5):
            raise RuntimeError(f"tb_lockstep failed (rc={r.returncode}): {r.stderr.strip()}")
        tr = read_trace(tf)
    tr.status = {0: "done", 2: "watchdog", 5: "max_cycles"}[r.returncode]
    return tr


# ----------------------------------------------------------------------------- model fast path
# No cache=True: numba's on-disk cache does not notice edits to the engine_model functions this
# calls, and a stale trace of an old model would defeat the whole point of lockstep.
@njit
def _model_trace(prm, S, C, dram, thr, always, njobs, out_base, out_cap, B, maxc,
                 p_slot, p_full, p_slot_hf, w_full, w_rowbuf, w_mem, s1_x, s1_wrow, acc,
                 q_d, q_ob, q_keep, q_last, dr, log_data, log_keep, log_last, log_cycle,
                 trp, trd, tr_sc, tr_data, tr_keep):
    """Step the engine model one cycle at a time (each `_advance` call with limit = cycle + 1 runs
    exactly one cycle), recording the values seen during each cycle: stimulus and ports as the
    model computed them (EngineState(trace=True) arrays trp/trd), internal registers from the
    state before the step (the values visible during the cycle). The output
    channel is re-armed at every TLAST like run_engine_jobs_model_full. Returns (cycles, status)."""
    t = 0
    done = 0
    status = em.OK
    while done < njobs and t < maxc:
        tr_sc[t, 3] = C[0, em.C_IDX]
        tr_sc[t, 4] = C[1, em.C_IDX]
        # ---- internal state
        tr_sc[t, 9] = S[em.S_ST]; tr_sc[t, 10] = S[em.S_N]; tr_sc[t, 11] = S[em.S_L]
        tr_sc[t, 12] = S[em.S_W]; tr_sc[t, 13] = S[em.S_CI]; tr_sc[t, 14] = S[em.S_KH]
        tr_sc[t, 15] = S[em.S_F]
        tr_sc[t, 16] = (1 if p_full[0] else 0) | (2 if p_full[1] else 0)
        tr_sc[t, 17] = (1 if w_full[0] else 0) | (2 if w_full[1] else 0)
        tr_sc[t, 18] = S[em.S_CNT]; tr_sc[t, 19] = S[em.S_ADDR]
        tr_sc[t, 20] = S[em.S1_MAC]; tr_sc[t, 21] = S[em.S1_EMIT]
        tr_sc[t, 22] = acc[0, 0]
        tr_sc[t, 23] = done
        status = em._advance(prm, S, C, dram, thr, always, S[em.S_CYCLE] + 1,
                             p_slot, p_full, p_slot_hf, w_full, w_rowbuf, w_mem, s1_x, s1_wrow,
                             acc, q_d, q_ob, q_keep, q_last, dr,
                             log_data, log_keep, log_last, log_cycle, trp, trd)
        # ---- stimulus and ports as computed by the model in this cycle (trace=True)
        for k in range(7):
            tr_sc[t, k if k < 3 else k + 2] = trp[k]
        for i in range(B):
            tr_data[t, i] = trd[i]
            if i < trp[7]:
                tr_keep[t, i >> 3] |= 1 << (i & 7)
        t += 1
        if status == em.EVENT:
            if C[2, em.C_EVENT] >= 0:
                done += 1
                used = S[em.S_NLOG] * B
                C[2, em.C_ACT] = 1
                C[2, em.C_ADDR] = out_base + used
                C[2, em.C_BYTES] = out_cap - used
                C[2, em.C_NB] = (out_cap - used + B - 1) // B
                C[2, em.C_IDX] = 0
                C[2, em.C_PEND] = 0
                C[2, em.C_OFF] = 0
            for ch in range(3):
                C[ch, em.C_EVENT] = -1
            status = em.OK
        elif status == em.LIMIT:
            status = em.OK
        else:
            break
    return t, status


def model_trace(hw, jobs, seed=1, valid_prob=1.0, ready_prob=1.0, mutate=None, watchdog=20000,
                max_cycles=50_000_000) -> Trace:
    d = upper_params(hw)
    B = d["AXI_BYTES"]
    ws, ps, nout = [], [], 0
    for job in jobs:
        (wb_, _), (pb_, _) = _job_streams(job, B)
        ws.append(wb_)
        ps.append(pb_)
        nout += em._output_beats_of(d, pb_[0]) if len(pb_) else 0
    W = np.concatenate(ws).reshape(-1)
    P = np.concatenate(ps).reshape(-1)
    nout = max(nout, 1) + 4096          # a mutated model may emit more than announced
    es = em.EngineState(hw, seed, valid_prob, ready_prob, False, watchdog, len(jobs), max_cycles,
                        nlog=nout, mutate=mutate, trace=True)
    out_base = W.size + P.size
    out_cap = (nout + 1) * B
    dram = np.zeros(out_base + out_cap, np.uint8)
    dram[:W.size] = W
    dram[W.size:out_base] = P
    es.start(0, W.size, P.size)
    es.start(1, 0, W.size)
    es.start(2, out_base, out_cap)
    traces = []
    status, total, njobs_left = em.OK, 0, len(jobs)
    chunk = 1 << 16
    while True:               # grow in chunks (the cycle count is not known in advance)
        n = min(chunk, max_cycles - total)
        sc = np.zeros((n, NS), np.int64)
        data = np.zeros((n, B), np.uint8)
        keep = np.zeros((n, (B + 7) // 8), np.uint8)
        done0 = int(es.S[em.S_NTLAST])
        t, status = _model_trace(es.prm, es.S, es.C, dram, es.thr, es.always, njobs_left,
                                 out_base, out_cap, B, n, es.p_slot, es.p_full, es.p_slot_hf,
                                 es.w_full, es.w_rowbuf, es.w_mem, es.s1_x, es.s1_wrow, es.acc,
                                 es.q_d, es.q_ob, es.q_keep, es.q_last, es.dr, es.log_data,
                                 es.log_keep, es.log_last, es.log_cycle, es.trp, es.trd,
                                 sc, data, keep)
        sc[:t, IX["jobs_done"]] += done0
        traces.append((sc[:t], data[:t], keep[:t]))
        total += t
        njobs_left = len(jobs) - int(es.S[em.S_NTLAST])
        if status != em.OK or njobs_left <= 0 or total >= max_cycles or t < n:
            break
        chunk = min(chunk * 2, 1 << 22)
    tr = Trace(np.concatenate([a for a, _, _ in traces]), np.concatenate([b for _, b, _ in traces]),
               np.concatenate([c for _, _, c in traces]), side="model")
    tr.status = ("done" if njobs_left <= 0 else "watchdog" if status == em.ERR_WATCHDOG
                 else "max_cycles" if total >= max_cycles else f"model status {status}")
    return tr


# ----------------------------------------------------------------------------- comparison
def diff_mask(a: Trace, b: Trace):
    """{signal: bool[T]} over the common length (gated port signals only where both valid)."""
    T = min(len(a), len(b))
    out = {}
    for n in STIMULUS + PORTS + DEBUG:
        if n == "m_axis_tdata":
            m = np.any(a.data[:T] != b.data[:T], axis=1)
        elif n == "m_axis_tkeep":
            m = np.any(a.keep[:T] != b.keep[:T], axis=1)
        else:
            m = a.sc[:T, IX[n]] != b.sc[:T, IX[n]]
        if n in GATED:
            both = (a.sc[:T, IX["m_axis_tvalid"]] == 1) & (b.sc[:T, IX["m_axis_tvalid"]] == 1)
            m = m & both
        out[n] = m
    return out


def first_divergence(a: Trace, b: Trace):
    """(cycle, [signals differing at that cycle, ports first]) or None. A length difference (one
    side finished or hung earlier) counts as a divergence at the shorter length."""
    masks = diff_mask(a, b)
    T = min(len(a), len(b))
    anyd = np.zeros(T, bool)
    for m in masks.values():
        anyd |= m
    idx = np.flatnonzero(anyd)
    if len(idx):
        t = int(idx[0])
        return t, [n for n in PORTS + DEBUG + STIMULUS if masks[n][t]]
    if len(a) != len(b) or a.status != b.status:
        return T, ["end_of_run"]
    return None


@dataclass
class LockstepResult:
    passed: bool
    cycles: int
    jobs: int
    cycle: int | None = None
    signals: list = field(default_factory=list)
    report: str = ""
    vcd: str | None = None
    model: Trace | None = None
    rtl: Trace | None = None


def _seq_job(tr: Trace, t: int) -> int:
    """Index of the job the sequencer works on in cycle t (HDR->MAC transitions so far - 1)."""
    st = tr.sc[: t + 1, IX["seq_st"]]
    return int(np.count_nonzero((st[:-1] == 0) & (st[1:] != 0))) - 1 if t > 0 else -1


_COLS = (("p_vld", "p_valid"), ("w_vld", "w_valid"), ("m_rdy", "m_ready"),
         ("p_rdy", "s_axis_pixels_tready"), ("w_rdy", "s_axis_weights_tready"),
         ("m_vld", "m_axis_tvalid"), ("m_lst", "m_axis_tlast"), ("keep", "m_axis_tkeep"),
         ("tdata", "m_axis_tdata"), ("st", "seq_st"), ("n", "n"), ("l", "l"), ("w", "w"),
         ("ci", "ci"), ("kh", "kh"), ("f", "f"), ("pixF", "pix_full"), ("wbF", "wb_full"),
         ("cnt", "out_cnt"), ("ra", "raddr"), ("mac", "s1_mac"), ("emit", "s1_emit"),
         ("acc00", "acc00"))


def format_table(model: Trace, rtl: Trace, t0: int, t1: int) -> str:
    """Both sides' values for cycles [t0, t1); '*' marks a compared value that differs."""
    masks = diff_mask(model, rtl)
    hdr = ["cycle", "side"] + [c for c, _ in _COLS]
    rows = []
    for t in range(t0, t1):
        for tr in (model, rtl):
            if t >= len(tr):
                rows.append([str(t), tr.side] + ["(ended)"] + [""] * (len(_COLS) - 1))
                continue
            row = [str(t), tr.side]
            for _, n in _COLS:
                v = tr.value(n, t)
                gated_off = n in GATED and tr.sc[t, IX["m_axis_tvalid"]] == 0
                s = "-" if gated_off else (v if isinstance(v, str) else str(v))
                if t < len(masks[n]) and masks[n][t]:
                    s += "*"
                row.append(s)
            rows.append(row)
    w = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(hdr)]
    fmt = lambda r: " ".join(x.rjust(w[i]) for i, x in enumerate(r))   # noqa: E731
    return "\n".join([fmt(hdr)] + [fmt(r) for r in rows])


def make_report(model: Trace, rtl: Trace, cycle: int, signals, window: int, vcd=None,
                title="") -> str:
    t = cycle
    ref = rtl if t < len(rtl) else model
    tt = min(t, len(ref) - 1)
    pos = {n: ref.value(n, tt) for n in ("seq_st", "n", "l", "w", "ci", "kh", "f")} if tt >= 0 else {}
    stname = {0: "HDR", 1: "MAC", 2: "FLUSH"}.get(pos.get("seq_st"), "?")
    lines = [f"LOCKSTEP DIVERGENCE{(' ' + title) if title else ''}",
             f"  first divergence at cycle {t} (cycle 0 = first cycle after reset)",
             f"  signal(s): {', '.join(signals)}"]
    if tt >= 0:
        lines.append(f"  output job {ref.value('jobs_done', tt)} (TLASTs seen so far), sequencer "
                     f"job {_seq_job(ref, tt)} in {stname} at n={pos['n']} l={pos['l']} "
                     f"w={pos['w']} ci={pos['ci']} kh={pos['kh']} f={pos['f']} (RTL side)")
    for s in signals:
        if s == "end_of_run":
            lines.append(f"  run length: expected (model) {len(model)} cycles [{model.status}], "
                         f"actual (RTL) {len(rtl)} cycles [{rtl.status}]")
            continue
        ev = model.value(s, t) if t < len(model) else "(ended)"
        av = rtl.value(s, t) if t < len(rtl) else "(ended)"
        lines.append(f"  {s}: expected (model) = {ev}, actual (RTL) = {av}")
    lines.append("  data/keep/last are compared only while m_axis_tvalid = 1 on both sides "
                 "('-' = don't care)")
    t0 = max(0, t - window + 1)
    lines.append(f"  last {t + 1 - t0} cycles + 2 after (model row = expected, RTL row = actual, "
                 "* = differs):")
    lines.append(format_table(model, rtl, t0, min(t + 3, max(len(model), len(rtl)))))
    if vcd:
        lines.append(f"  VCD (RTL, cycles {t0}..{t + 2}): {vcd}")
    return "\n".join(lines)


def lockstep(hw, jobs, seed=1, valid_prob=1.0, ready_prob=1.0, window=16, vcd_dir=None,
             defines=(), mutate=None, watchdog=20000, max_cycles=50_000_000,
             build_dir=DEFAULT_BUILD_DIR, title="") -> LockstepResult:
    """Run RTL and model on the same job streams and stimulus; compare every cycle.

    `defines` (RTL, e.g. ["DSF_MUT_OUT_LAST"]) and `mutate` (model) inject test-only bugs.
    On divergence and with `vcd_dir`, the RTL is re-run under pyverilator and a VCD of the last
    `window` cycles before the divergence (+2) is written there."""
    jobs = list(jobs)
    rtl = rtl_trace(hw, jobs, seed, valid_prob, ready_prob, defines, watchdog, max_cycles,
                    build_dir)
    model = model_trace(hw, jobs, seed, valid_prob, ready_prob, mutate, watchdog,
                        min(max_cycles, len(rtl) + 64))
    div = first_divergence(model, rtl)
    if div is None:
        return LockstepResult(True, len(rtl), len(jobs), model=model, rtl=rtl)
    t, sigs = div
    vcd = None
    if vcd_dir is not None:
        os.makedirs(vcd_dir, exist_ok=True)
        vcd = os.path.join(vcd_dir, f"lockstep_div_c{t}.vcd")
        rtl_vcd_window(hw, jobs, seed, valid_prob, ready_prob, max(0, t - window + 1), t + 3, vcd,
                       defines, build_dir)
    rep = make_report(model, rtl, t, sigs, window, vcd, title)
    return LockstepResult(False, min(len(rtl), len(model)), len(jobs), t, sigs, rep, vcd,
                          model, rtl)


# ----------------------------------------------------------------------------- slow path
def build_pyverilator(hw, defines=(), build_dir=DEFAULT_BUILD_DIR):
    """pyverilator model of dsf_engine (+DSF_DEBUG_PORTS), cached per (RTL, config, defines)."""
    import pyverilator
    svh = config_hw_svh(hw)
    defs = ["DSF_DEBUG_PORTS"] + sorted(defines)
    out = Path(build_dir) / f"pyverilator_{build_key(svh, (), defs)}"
    so = out / "obj" / "Vdsf_engine"
    out.mkdir(parents=True, exist_ok=True)
    with open(out / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        (out / "config_hw.svh").write_text(svh)
        if so.exists():
            return pyverilator.PyVerilator(str(so))
        return pyverilator.PyVerilator.build(
            str(RTL_DIR / "dsf_engine.sv"), verilog_path=[str(RTL_DIR)], build_dir=str(out / "obj"),
            verilog_defines=defs, args=[f"-I{out}", f"-I{RTL_DIR}", "--top-module", "dsf_engine",
                                        "-O2"], quiet=True)


class PyvRTL:
    """The tb_lockstep.cpp harness in Python around a pyverilator model (slow, per-signal calls)."""

    def __init__(self, hw, jobs, seed=1, valid_prob=1.0, ready_prob=1.0, defines=(),
                 build_dir=DEFAULT_BUILD_DIR):
        B = upper_params(hw)["AXI_BYTES"]
        self.B = B
        self.sim = build_pyverilator(hw, defines, build_dir)
        self.sim.auto_eval = False
        self.src = []
        ws, ps = [], []
        for job in jobs:
            (wb, wk), (pb, pk) = _job_streams(job, B)
            ws.append((wb, wk))
            ps.append((pb, pk))
        for lst in (ps, ws):    # 0 pixels, 1 weights
            beats = []
            for b, k in lst:
                for i in range(len(b)):
                    keep = int(np.packbits(k[i].astype(np.uint8), bitorder="little")
                               .tobytes()[::-1].hex() or "0", 16)
                    beats.append((int.from_bytes(b[i].tobytes(), "little"), keep,
                                  1 if i == len(b) - 1 else 0))
            self.src.append(beats)
        self.idx = [0, 0]
        self.valid = [False, False]
        _, prng, self.thr, self.always = em.prng_setup(seed, valid_prob, ready_prob)
        self.s = [int(x) for x in prng]
        self.cycle = 0
        self.done = 0
        s = self.sim
        for n in ("s_axis_pixels_tvalid", "s_axis_weights_tvalid", "m_axis_tready"):
            s[n] = 0
        s["aresetn"] = 0
        s["aclk"] = 0
        s.eval()
        for _ in range(4):
            s["aclk"] = 1
            s.eval()
            s["aclk"] = 0
            s.eval()
        s["aresetn"] = 1

    def _draw(self, ch):
        x = self.s[ch]
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self.s[ch] = x
        return bool(self.always[ch]) or x < int(self.thr[ch])

    def step(self, vcd=False):
        """One cycle; returns the record (dict) seen during it."""
        s = self.sim
        draw = [self._draw(c) for c in range(3)]
        names = (("s_axis_pixels_tvalid", "s_axis_pixels_tdata", "s_axis_pixels_tkeep",
                  "s_axis_pixels_tlast"), ("s_axis_weights_tvalid", "s_axis_weights_tdata",
                                           "s_axis_weights_tkeep", "s_axis_weights_tlast"))
        for c in range(2):
            if not self.valid[c]:
                self.valid[c] = self.idx[c] < len(self.src[c]) and draw[c]
            s[names[c][0]] = int(self.valid[c])
            if self.idx[c] < len(self.src[c]):
                d, k, last = self.src[c][self.idx[c]]
                s[names[c][1]] = d
                s[names[c][2]] = k
                s[names[c][3]] = last
        s["m_axis_tready"] = int(draw[2])
        s.eval()
        if vcd:
            s.add_to_vcd_trace()
        rec = {"p_valid": int(self.valid[0]), "w_valid": int(self.valid[1]), "m_ready": int(draw[2]),
               "p_idx": self.idx[0], "w_idx": self.idx[1]}
        for n in ("s_axis_pixels_tready", "s_axis_weights_tready", "m_axis_tvalid",
                  "m_axis_tlast", "m_axis_tdata", "m_axis_tkeep"):
            rec[n] = int(s[n])
        for n in DEBUG:
            rec[n] = int(s["dbg_" + n])
        pf = self.valid[0] and rec["s_axis_pixels_tready"]
        wf = self.valid[1] and rec["s_axis_weights_tready"]
        of = rec["m_axis_tvalid"] and draw[2]
        s["aclk"] = 1
        s.eval()
        if vcd:
            s.add_to_vcd_trace()
        s["aclk"] = 0
        s.eval()
        for c, fire in ((0, pf), (1, wf)):
            if fire:
                self.idx[c] += 1
                self.valid[c] = False
        if of and rec["m_axis_tlast"]:
            self.done += 1
        self.cycle += 1
        return rec


def rtl_vcd_window(hw, jobs, seed, valid_prob, ready_prob, t0, t1, vcd_path, defines=(),
                   build_dir=DEFAULT_BUILD_DIR):
    """Re-run the RTL in pyverilator from reset to cycle t1 with the lockstep stimulus; VCD of the
    cycles [t0, t1) (two samples per cycle: after the inputs are driven, after the rising edge).
    Returns the per-cycle records of the window."""
    p = PyvRTL(hw, jobs, seed, valid_prob, ready_prob, defines, build_dir)
    recs = []
    while p.cycle < t1:
        if p.cycle == t0:
            p.sim.start_vcd_trace(str(vcd_path), auto_tracing=False)
        recs.append(p.step(vcd=p.cycle >= t0))
    if p.sim.vcd_trace is not None:
        p.sim.stop_vcd_trace()
    return recs[t0:]


# ----------------------------------------------------------------------------- export / CLI flow
def export_jobs(ex) -> list:
    """Every job's (weights, pixels) beat streams of an export, in firmware order
    (bundle -> iteration -> pass)."""
    return [(j.weights, j.pixels) for be in ex.bundles for j in be.jobs]


def lockstep_model(model, hw, seed=0, valid_prob=None, ready_prob=None, window=16, out_dir=None,
                   cert_path=None, name="model", write_cert=True, x=None, **kw):
    """Export `model`, lockstep all its jobs back to back, write a certificate on success.
    Returns (LockstepResult, certificate path or None)."""
    from ..flows.certificate import write_certificate
    out_dir = out_dir or tempfile.mkdtemp(prefix="dsf_lockstep_")
    vp = hw.valid_prob if valid_prob is None else valid_prob
    rp = hw.ready_prob if ready_prob is None else ready_prob
    ex = model.export_inference(x=model.random_input if x is None else x, hw=hw, out_dir=out_dir)
    jobs = export_jobs(ex)
    res = lockstep(hw, jobs, seed, vp, rp, window=window, vcd_dir=out_dir, **kw)
    cert = None
    if res.passed and write_cert:
        cert = write_certificate(hw, [{"model": name, "seed": int(seed), "valid_prob": vp,
                                       "ready_prob": rp, "cycles": int(res.cycles),
                                       "jobs": int(res.jobs), "passed": True,
                                       "compared": list(PORTS + DEBUG)}], path=cert_path)
    return res, cert

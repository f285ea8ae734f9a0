"""The twin's job-level fast path (architecture §20) stands for the per-cycle twin: the same output
bytes per job as the cycle loop computes (every engine case sequence and configuration), and on
whole inferences (zoo models, random models, handshake probabilities 0.05 .. 1.0) the same cycles,
per-bundle cycles, DMA events and commands, raw and skip streams and firmware outputs; streams that
are not one engine job, and sources the firmware changes under a running DMA, are named errors."""
from __future__ import annotations

import numpy as np
import pytest

from cases import (ENGINE_CONFIGS, RANDOM_SEEDS, SYSTEM_KEYS, engine_hw, export_random,
                   export_zoo_cases, job_sequence, make_job, run_engine, streams)
from dsf_sim import DsfError
from dsf_sim.compiler.export import load_export
from dsf_sim.compiler.geometry import packet_beats
from dsf_sim.models.engine.job_values import JobStreamError, job_output, job_sums
from dsf_sim.models.engine.params import tables
from dsf_sim.models.system_model import FastPathError, _SystemRun, run_system_model
from dsf_sim.runtime.check import compare_run

PROBS = [(1, 1.0, 1.0), (2, 0.05, 0.05), (3, 0.5, 0.3), (4, 1.0, 0.05), (5, 0.2, 1.0)]
ZOO = [("residual", "4x8_axi64"), ("pools", "8x24_axi128"), ("fallbacks", "8x24_axi128"),
       ("resblock", "4x8_axi64"), ("mlp", "4x8_axi64"), ("strides", "8x24_axi128")]


def _kept_bytes(beats):
    data, keep, _ = beats
    return data.reshape(-1)[keep.reshape(-1)].tobytes()


@pytest.mark.parametrize("cfg", list(ENGINE_CONFIGS))
def test_job_values_equal_the_cycle_loop(cfg):
    """Every engine case (corner geometries, extreme words, finish jobs with wild configurations
    and garbage skip padding): job_output == the per-cycle twin's output stream, byte for byte."""
    hw = engine_hw(cfg)
    tabs = tables(hw)
    for seq in range(9):
        jobs = job_sequence(hw, seq)
        twin = run_engine("twin", hw, jobs)
        for j, ((w, x, s), got) in enumerate(zip(streams(jobs), twin["beats"])):
            wb = w[0].tobytes()
            xb = x[0].tobytes()
            sb = None if s is None else np.asarray(s, np.uint8).tobytes()
            assert job_output(hw, tabs, wb, xb, sb) == _kept_bytes(got), f"{cfg} seq {seq} job {j}"


@pytest.mark.parametrize("cfg", list(ENGINE_CONFIGS)[:2])
def test_job_values_of_all_zero_weights_equal_the_cycle_loop(cfg):
    """Weights that are all zero leave no used output group (no sums computed at all): raw,
    finishing and adding jobs still give the cycle loop's bytes (bias, clip and skip act on zero
    sums)."""
    hw = engine_hw(cfg)
    tabs = tables(hw)
    rng = np.random.default_rng(7)
    jobs = [make_job(hw, rng, 1, 1, 2, 1, hw.ROWS + 1, 3, 1, zero=True, finish=f)
            for f in (None, {"add": False}, {"add": True, "wild": True})]
    twin = run_engine("twin", hw, jobs)
    for j, ((w, x, s), got) in enumerate(zip(streams(jobs), twin["beats"])):
        sb = None if s is None else np.asarray(s, np.uint8).tobytes()
        assert job_sums(hw, tabs, w[0].tobytes(), x[0].tobytes()).y.shape[3] == 0
        assert job_output(hw, tabs, w[0].tobytes(), x[0].tobytes(), sb) == _kept_bytes(got), j


def test_pixel_memo_reuses_only_equal_streams():
    """A run's PixelMemo gives the decoded pixels of the previous job back only for an equal
    stream: the same bytes as without it on repeated jobs (hits counted), and a stream changed in
    one data byte is decoded afresh (its output is the unmemoised one, not the old one)."""
    from dsf_sim.models.engine.job_values import PixelMemo
    hw = engine_hw("4x8_axi64")
    tabs = tables(hw)
    memo = PixelMemo()
    changed = 0
    for seq in range(9):
        for w, x, s in streams(job_sequence(hw, seq)):
            wb, xb = w[0].tobytes(), x[0].tobytes()
            sb = None if s is None else np.asarray(s, np.uint8).tobytes()
            plain = job_output(hw, tabs, wb, xb, sb)
            assert job_output(hw, tabs, wb, xb, sb, memo) == plain
            assert job_output(hw, tabs, wb, xb, sb, memo) == plain
            x2 = bytearray(xb)
            x2[hw.AXI_BYTES] ^= 0x5A                 # the first data beat's first byte
            other = job_output(hw, tabs, wb, bytes(x2), sb)
            assert job_output(hw, tabs, wb, bytes(x2), sb, memo) == other
            changed += other != plain
    assert memo.hits > 0 and changed > 0, (memo.hits, changed)


def _same_run(fast, cyc):
    for k in SYSTEM_KEYS:
        assert fast[k] == cyc[k], k
    f, c = fast["firmware_run"], cyc["firmware_run"]
    assert f.raw_streams == c.raw_streams and f.skip_streams == c.skip_streams
    assert f.packed_inputs == c.packed_inputs
    assert np.array_equal(f.output, c.output)
    for a, b in zip(f.bundle_outputs, c.bundle_outputs):
        assert (a is None and b is None) or np.array_equal(a, b)


@pytest.fixture(scope="module")
def zoo_dirs(tmp_path_factory):
    return export_zoo_cases(tmp_path_factory, ZOO, "fast_")


@pytest.mark.parametrize("name,cfg", ZOO, ids=[f"{n}-{c}" for n, c in ZOO])
def test_fast_path_equals_per_cycle_twin_on_the_zoo(zoo_dirs, name, cfg):
    d = zoo_dirs[name, cfg]
    hw, manifest = load_export(d)
    for seed, vp, rp in PROBS:
        fast = run_system_model(d, seed, vp, rp, fast=True)
        cyc = run_system_model(d, seed, vp, rp)
        assert fast["mode"] == "fast" and cyc["mode"] == "cycle"
        _same_run(fast, cyc)
        compare_run(fast["firmware_run"], hw, manifest)          # and bit-exact
        _SPECULATED[name, cfg] = fast["job_speculated"]


_SPECULATED = {}


def test_speculated_sums_are_used_on_the_zoo_and_a_wrong_guess_is_dropped(zoo_dirs):
    """The fast path starts a job's sums on the previous pixel stream when its weights start;
    the zoo's multi-pass bundles use such guesses (the runs above were equal to the per-cycle
    twin with them), and a guess on other pixels is dropped and recomputed, never used."""
    for key in ZOO:
        if key not in _SPECULATED:
            fast = run_system_model(zoo_dirs[key], 1, 1.0, 1.0, fast=True)
            _SPECULATED[key] = fast["job_speculated"]
    assert sum(h for h, _ in _SPECULATED.values()) > 0, _SPECULATED
    d = zoo_dirs["resblock", "4x8_axi64"]
    want = run_system_model(d, 3, 0.5, 0.3)
    r = _SystemRun(d, 3, 0.5, 0.3, False, None, fast=True)
    source = r._fast_source

    def wrong_guess(rec):          # every guess is made on pixels with one bit flipped
        if rec["ch"] == 1 and r.last_x is not None:
            b, p, x = r.last_x
            r.last_x = (b, p, bytes([x[0] ^ 1]) + x[1:])
        source(rec)

    r._fast_source = wrong_guess
    try:
        r.run(1 << 62)
        hits, misses = r.spec_hits, r.spec_misses
        got = r.firmware_run()
    finally:
        r.close()
    assert hits == 0 and misses > 0, (hits, misses)
    assert np.array_equal(got.output, want["firmware_run"].output)
    assert got.raw_streams == want["firmware_run"].raw_streams


def test_value_worker_runs_queued_work_while_waiting_and_reports_errors():
    """ValueWorker.result: a waiting thread runs the awaited task itself while it is queued
    (and newer tasks while it runs elsewhere), results and exceptions arrive in the asking
    thread, a finish awaiting its sums never deadlocks, shutdown cancels what is queued."""
    import threading
    from dsf_sim.models.value_worker import ValueWorker
    w = ValueWorker()
    gate = threading.Event()
    blocker = w.submit(gate.wait, 5)                 # occupies the worker thread
    ran_in = []
    sums = w.submit(lambda: ran_in.append(threading.current_thread().name) or 7)
    fin = w.submit(lambda: w.result(sums) * 6)
    assert w.result(fin) == 42                       # run here: the worker is blocked
    assert ran_in == [threading.current_thread().name] and w.helped >= 2
    bad = w.submit(lambda: 1 // 0)
    with pytest.raises(ZeroDivisionError):
        w.result(bad)
    gate.set()
    assert w.result(blocker) is True
    gate2 = threading.Event()
    w.submit(gate2.wait, 5)                          # the worker is busy ...
    left = w.submit(lambda: 1)
    left.add_done_callback(lambda f: gate2.set())    # ... until shutdown cancels the queue
    w.shutdown()
    assert left.cancelled()
    with pytest.raises(RuntimeError, match="after shutdown"):
        w.submit(lambda: 1)


@pytest.mark.parametrize("seed", RANDOM_SEEDS[:6])
def test_fast_path_equals_per_cycle_twin_on_random_models(seed, tmp_path):
    d = str(tmp_path / f"r{seed}")
    export_random(seed, d)
    hw, manifest = load_export(d)
    for s, vp, rp in ((seed, 1.0, 1.0), (seed + 1, 0.05, 0.7)):
        fast = run_system_model(d, s, vp, rp, fast=True)
        _same_run(fast, run_system_model(d, s, vp, rp))
        compare_run(fast["firmware_run"], hw, manifest)


def test_streams_that_are_not_one_job_are_named():
    hw = engine_hw("4x8_axi64")
    tabs = tables(hw)
    jobs = job_sequence(hw, 1)
    w0, x0 = jobs[0]["weights"][0].tobytes(), jobs[0]["pixels"][0].tobytes()
    w1 = jobs[1]["weights"][0].tobytes()
    if jobs[1]["geom"].CM * jobs[1]["geom"].KH != jobs[0]["geom"].CM * jobs[0]["geom"].KH:
        with pytest.raises(JobStreamError, match="weights header WROWS"):
            job_output(hw, tabs, w1, x0, None)
    with pytest.raises(JobStreamError, match=r"pixel stream of \d+ bytes, its header gives"):
        job_output(hw, tabs, w0, x0[:-hw.AXI_BYTES], None)
    for w_bad in (w0[:-hw.AXI_BYTES], w0 + bytes(hw.AXI_BYTES)):     # short, long
        with pytest.raises(JobStreamError, match=r"weight stream of \d+ bytes, its header gives"):
            job_output(hw, tabs, w_bad, x0, None)
    with pytest.raises(JobStreamError, match="header beat"):
        job_output(hw, tabs, b"", x0, None)
    fin = next(j for j in job_sequence(hw, 6) if j.get("skip") is not None)
    wf, xf = fin["weights"][0].tobytes(), fin["pixels"][0].tobytes()
    with pytest.raises(JobStreamError, match="no skip stream"):
        job_output(hw, tabs, wf, xf, None)
    with pytest.raises(JobStreamError, match="skip stream of"):
        job_output(hw, tabs, wf, xf, np.asarray(fin["skip"], np.uint8).tobytes()[:-1])


def test_wrong_option_types_are_named(zoo_dirs):
    d = zoo_dirs["residual", "4x8_axi64"]
    with pytest.raises(DsfError, match=r"fast = 'yes' is invalid: allowed True or False"):
        run_system_model(d, fast="yes")
    with pytest.raises(DsfError, match=r"fast = True is invalid with timing_only = True"):
        run_system_model(d, fast=True, timing_only=True)


def test_a_source_changed_under_its_dma_is_named(zoo_dirs):
    """The fast path reads a job's streams when their DMAs start; a firmware that rewrote a
    source while its DMA runs would feed the per-cycle twin other bytes: refused by name."""
    d = zoo_dirs["residual", "4x8_axi64"]
    r = _SystemRun(d, 1, 1.0, 1.0, False, 200000, fast=True)
    poll, hit = r.poll, []

    def poll_then_overwrite(t):
        done = poll(t)
        px = r.inflight[0]
        if px is not None and px["bundle"] == 1 and not hit:
            r.dram[px["addr"] + px["bytes"] - 1] ^= 0xFF      # once
            hit.append(t)
        return done

    r.poll = poll_then_overwrite
    try:
        with pytest.raises(FastPathError, match=r"changed the pixels source of job \(bundle 1"):
            r.run(1 << 62)
    finally:
        r.close()


def test_verify_runs_either_twin_mode_with_the_same_result(zoo_dirs):
    from dsf_sim.flows.verify import run_sim
    d = zoo_dirs["pools", "8x24_axi128"]
    fast, cyc = (run_sim(d, "model", 2, 0.4, 0.6, twin=t) for t in ("fast", "cycle"))
    assert (fast["twin"], cyc["twin"]) == ("fast", "cycle") and fast["bit_exact"]
    for k in SYSTEM_KEYS + ("final_output",):
        assert fast[k] == cyc[k], k
    with pytest.raises(DsfError, match=r"twin = 'turbo' is invalid: allowed one of \('fast', "
                                       r"'cycle'\)"):
        run_sim(d, "model", twin="turbo")


def _lanes_word_by_word(hw, c, y, biases, skip, XW, ob):
    """The finished packets as the drain computes them, one post_lane.lane call per word at its
    own bit (the reference of the packed kernels)."""
    from dsf_sim.models.engine import post_lane, words
    B, R, XB = hw.AXI_BYTES, hw.ROWS, hw.X_BITS
    NB, _, _, CO = y.shape
    out = np.zeros(NB * XW * ob * B, np.uint8)
    pk = 0
    for nb in range(NB):
        for w in range(XW):
            for r in range(R):
                for g in range(CO):
                    bit = (g * R + r) * XB
                    sk = 0
                    if c[7]:
                        sk = int(words.get(skip, pk * ob * B, bit, XB))
                        if c[8]:
                            sk = int(words.signed(sk, XB))
                    a = int(y[nb, r, w, g])
                    m = 1 << (hw.Y_BITS - 1)
                    a = ((a + m) & (2 * m - 1)) - m
                    q = int(post_lane.lane(a, int(biases[g]), sk, c, hw.PIPE_BITS, 0))
                    words.put_or(out, pk * ob * B, bit, XB, q & ((1 << XB) - 1))
            pk += 1
    return out


@pytest.mark.parametrize("cfg", ["4x8_axi64", "8x24_axi128"])
def test_packed_lanes_equal_the_lane_arithmetic_word_by_word(cfg):
    """Finished words: the packed general kernel (_pack_finished) and, for every job whose
    intermediates provably stay inside PIPE_BITS, the short path (_pack_finished_nowrap) give the
    bytes of post_lane.lane applied word by word at each word's bit; the proof refuses every job
    where a shift or sum could wrap, and zero sums of unused groups are finished like others."""
    from cases import random_post
    from dsf_sim.compiler.layout import pack_post_beats
    from dsf_sim.models.engine import job_values as J
    hw = engine_hw(cfg)
    tabs = tables(hw)
    B, R = hw.AXI_BYTES, hw.ROWS
    rng = np.random.default_rng(7)
    short = refused = 0
    for case in range(120):
        KW = int(rng.choice([k for k in (1, 3, 5) if k <= min(hw.KW_MAX, hw.COLS)]))
        CO, NB, XW = hw.COLS // KW, int(rng.integers(1, 3)), int(rng.integers(1, 4))
        cu = int(rng.integers(0, CO + 1)) if case % 3 == 0 else CO
        post = random_post(hw, rng, add=bool(rng.integers(0, 2)), wild=case % 5 == 0)
        if case % 5 == 1:       # the residual add's shift alone reaches past PIPE_BITS
            post.update(ADD=1, SH_ACT=hw.PIPE_BITS - int(rng.integers(1, 4)))
        bmax = 1 << (hw.B_BITS - 1)
        bias = rng.integers(-bmax, bmax, CO) >> int(rng.integers(0, hw.B_BITS))
        cfgset = np.ascontiguousarray(pack_post_beats(hw, post, bias).reshape(-1))
        span = 1 << int(rng.integers(1, hw.Y_BITS + 2))       # sometimes past Y_BITS
        y = rng.integers(-span, span, (NB, R, XW, CO)).astype(np.float64)
        y[..., cu:] = 0
        ob = packet_beats(hw, KW // 2, True)          # every group (random_post's CG_M1)
        skip = rng.integers(0, 256, NB * XW * ob * B, dtype=np.uint8)
        biases = np.zeros(CO, np.int64)
        c = J._decode_cfg(cfgset, hw.POST_BEATS * B, hw.B_BITS, hw.COLS, tabs, biases)
        want = _lanes_word_by_word(hw, c, y, biases, skip, XW, ob)
        n = CO * R
        yt = np.ascontiguousarray(y.transpose(0, 2, 3, 1)).reshape(NB * XW, n)
        skw = np.zeros((NB * XW, n), np.int64)
        J._stream_words(skip, NB * XW, ob * B, n, hw.X_BITS, c[8] != 0,
                        J.word_table(hw.X_BITS, bool(c[8])), skw)
        q = np.zeros(n, np.int64)
        got = np.zeros_like(want)
        J._pack_finished(yt, hw.Y_BITS, hw.X_BITS, ob, B, c, np.repeat(biases, R), skw,
                         hw.PIPE_BITS, got, q)
        assert np.array_equal(got, want), (case, post)
        fast = J._nowrap_constants(c, hw.PIPE_BITS, hw.Y_BITS, hw.X_BITS, int(y.min()),
                                   int(y.max()), biases)
        if fast is None:
            refused += 1
            continue
        got = np.zeros_like(want)
        J._pack_finished_nowrap(yt, hw.X_BITS, ob, B, fast[0], np.repeat(fast[1], R), skw, got, q)
        assert np.array_equal(got, want), (case, post)
        short += 1
    assert short > 20 and refused > 8, (short, refused)


@pytest.mark.parametrize("bits", [1, 2, 3, 4, 5, 8])
@pytest.mark.parametrize("signed", [False, True])
def test_stream_words_and_weight_tables_equal_the_bit_reader(bits, signed):
    """Words read a byte at a time through word_table (1/2/4/8 bits) or bit by bit (others)
    equal words.get at every bit position, signed and unsigned, in skip words, weight rows and
    pixel columns; the weight decoder reports the groups past the last nonzero weight as unused."""
    from dsf_sim.models.engine import job_values as J, words
    rng = np.random.default_rng(bits)
    P, stride, n = 3, 16, 25
    buf = rng.integers(0, 256, P * stride, dtype=np.uint8)
    got = np.zeros((P, n), np.int64)
    J._stream_words(buf, P, stride, n, bits, signed, J.word_table(bits, signed), got)
    for p in range(P):
        for i in range(n):
            v = int(words.get(buf, p * stride, i * bits, bits))
            if signed:
                v = int(words.signed(v, bits))
            assert got[p, i] == v, (p, i)
    CM, CO, WB, B = 2, 10, 4, 16
    for KH, KW, last in ((3, 1, 0), (1, 1, 4), (3, 1, 9), (1, 3, 2), (3, 3, 7)):
        wf = rng.integers(-(1 << (bits - 1)), 1 << (bits - 1), (KH, KW, CM, CO))
        wf[..., last + 1:] = 0
        wf[0, KW - 1, 0, last] = -1
        rows = np.zeros((CM * KH, WB * B), np.uint8)
        for ci in range(CM):
            for kh in range(KH):
                for g in range(CO):
                    for k in range(KW):
                        words.put_or(rows[ci * KH + kh], 0, (g * KW + k) * bits, bits,
                                     int(wf[kh, k, ci, g]) & ((1 << bits) - 1))
        out = np.zeros((KH, KW, CM, CO), np.float64)
        used = J._unpack_weights(rows.reshape(-1), B, WB, KH, KW, CM, CO, bits,
                                 J.word_table(bits, True), out, np.zeros(CO, np.int64))
        assert used == last + 1 and np.array_equal(out, wf), (KH, KW, last)
    NB, XW, CM, PR, PW = 2, 3, 5, 6, 1                            # pixel columns
    XWP = XW + 2 * PW
    # one column per slot of 2 beats, and 2 / 3 columns per one-beat slot (the position's last
    # slot partly filled: architecture §3)
    for PB, PK in ((2, 1), (1, 2), (1, 3)):
        CB = -(-CM // PK)
        xb = rng.integers(0, 256, NB * XW * CB * PB * B, dtype=np.uint8)
        xf = np.zeros((NB, PR * XWP + 2 * PW, CM), np.float64)
        J._unpack_pixels(xb, B, NB, XW, CM, PB, PK, PR, bits, signed, J.word_table(bits, signed),
                         XWP, PW, xf)
        want = np.zeros_like(xf)
        for nb in range(NB):
            for w in range(XW):
                for ci in range(CM):
                    base = ((nb * XW + w) * CB + ci // PK) * PB * B
                    for r in range(PR):
                        v = int(words.get(xb, base, ((ci % PK) * PR + r) * bits, bits))
                        want[nb, r * XWP + PW + w, ci] = (int(words.signed(v, bits)) if signed
                                                          else v)
        assert np.array_equal(xf, want), (PB, PK)

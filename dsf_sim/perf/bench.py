"""Engine-only performance of a QModel from the cycle model (architecture §12.2).

Every bundle is lowered with `lowering.map_core`; each job's weights and pixels streams are built
as header beat (`layout.job_header`) + zero payload of the exact beat counts (timing does not depend
on values) and run back to back through `run_engine_jobs_model(timing_only=True, valid/ready=1)`.

Fast mode (`exact=False`, default) simulates per bundle only: the last TAIL=3 jobs before the
bundle (to reach the back-to-back state; their cycles are discarded), all passes of iterations 0..SIM_ITS-1
(4); later iterations have the same geometry and start in the same state, so their cycles equal
the last simulated iteration's. `exact=True` streams every job of the network;
tests check both give identical per-bundle cycles on reduced networks.
"""
from __future__ import annotations

from dataclasses import dataclass, field, asdict

import numpy as np

from ..compiler import geometry as G
from ..compiler import layout as L
from ..compiler.export import job_geometry
from ..compiler.lowering import map_core
from ..compiler.post import decide


@dataclass
class LayerPerf:
    idx: int
    name: str
    kind: str
    in_shape: tuple
    out_shape: tuple
    kernel: tuple          # original (KH, KW, stride)
    engine_kernel: tuple   # lowered (KH_e, KW_e)
    CI_E: int
    CO: int
    CP: int
    IT: int
    CM: int
    macs: int              # true MACs of the original layer
    cycles: int = 0
    analytic_cycles: int = 0
    bound: str = ""
    bound_cycles: dict = field(default_factory=dict)  # per bound, summed over the jobs
    weight_bytes: int = 0
    pixel_bytes: int = 0
    output_bytes: int = 0
    skip_bytes: int = 0
    out_elems: int = 0     # final output elements (after pool) -> CPU model
    core_elems: int = 0    # core output elements (before pool)
    pool_window: int = 1
    has_add: bool = False
    finish: bool = False   # the engine finishes the bundle (architecture §17)
    post_reason: str = ""  # why not (raw bundles)
    skip_direct: bool = False
    out_int: bool = True   # the firmware writes an int32 output (raw, pool, last bundle)
    pack_elems: int = 0    # words of this bundle's pixel streams the firmware packs (bundle > 0)
    src: int = -1          # the bundle whose output is this bundle's input (-1: model input)
    fn: str = ""           # the integer function stage on the CPU (softmax, gelu, layernorm)
    fn_lut: int = 0        # entries of its table (firmware FN_LUT_MAX), 0: element by element
    fn_row: int = 0        # words per row of the fn stage (softmax: per head group)
    mm_pack_elems: int = 0  # a matmul core's weight words the firmware packs (architecture §22)
    job_cycles: list = field(default_factory=list)    # per job in firmware order (it, p)
    job_bytes: list = field(default_factory=list)     # per job (w, x, o) bytes
    time_us: float = 0.0
    utilisation: float = 0.0
    intensity: float = 0.0  # MACs per DRAM byte
    analytic_error: float = 0.0

    def to_dict(self):
        d = asdict(self)
        d.pop("job_cycles")
        d.pop("job_bytes")
        return d


FN_LUT_MAX = 4096       # = firmware/dsf_fw.c


def fn_table_size(b) -> int:
    """Entries of the table the firmware evaluates bundle b's fn stage by (GELU with its
    quantiser per input value; softmax's exp per difference to the row maximum, binary point
    0..20; LayerNorm: at most this many values per row, used when fewer than the row's words),
    or 0 when it evaluates element by element (firmware fn_lut_size, fn_layernorm_row)."""
    if b.fn_cfg is None:
        return 0
    spec = b.add_spec if b.add_spec is not None else b.act
    nt = spec.hi - spec.lo + 1
    kind = b.fn_cfg["type"]
    if kind == "layernorm":        # per row, over the row's value range (at most nt values)
        return nt
    ok = kind == "gelu" or (kind == "softmax" and 0 <= spec.frac <= 20)
    return nt if ok and nt <= FN_LUT_MAX else 0


def _bundle_in_shape(b):
    node = b._inbound_nodes[-1]
    t = node.call_args[0] if node.call_args else list(node.call_kwargs.values())[0]
    return tuple(int(s) for s in t.shape)


def _in_specs(model):
    specs = {-1: model.input_spec_q}
    for b in model.bundles:
        specs[b.idx] = b.out_spec
    return {b.idx: specs[model.bundle_sources[b.idx][0]] for b in model.bundles}


def layer_list(model, hw, post="auto", split="auto"):
    """One LayerPerf per bundle with its CoreMapping and post-processing decision (the export's:
    compiler.post.decide, from the quantisers and the integer kernel); raises HardwareError if a
    bundle cannot map."""
    specs = _in_specs(model)
    out_specs = {-1: model.input_spec_q, **{b.idx: b.out_spec for b in model.bundles}}
    out = []
    for b in model.bundles:
        ish = _bundle_in_shape(b)
        m = map_core(b, ish, specs[b.idx].signed, hw, split)
        src, skip = model.bundle_sources[b.idx]
        skip_info = None
        if skip is not None:
            skip_info = dict(spec=out_specs[skip], frac=out_specs[skip].frac,
                             mapping=out[skip].mapping if skip >= 0 else None,
                             decision=out[skip].post if skip >= 0 else None,
                             pools=skip >= 0 and model.bundles[skip].pool_spec is not None)
        dec = decide(hw, b, m, None if b.is_matmul else b.int_weights()[0], specs[b.idx],
                     out_specs[src].frac, skip_info, post)
        out_t = b._inbound_nodes[-1].outputs      # the model's own call (layers may be shared)
        out_t = out_t[0] if isinstance(out_t, (list, tuple)) else out_t
        osh = tuple(int(s) for s in out_t.shape)
        if m.kind == "dense":       # rows: the batch, or every token (and matmul cores)
            rows = int(np.prod(ish[:-1]))
            macs = (int(np.prod(osh)) * (m.CI // b.heads) if b.is_matmul
                    else G.dense_macs(rows, ish[-1], m.CO))
            core = rows * m.CO_LAYER
            kern = (1, 1, 1)
        else:
            kh, kw = b.kernel_size
            macs = G.conv_macs(ish[0], m.H.out, m.W.out, m.CO, ish[3], kh, kw)
            core = ish[0] * m.H.out * m.W.out * m.CO
            kern = (kh, kw, b.strides[0])
        pw = int(np.prod(b.pool_size)) if b.pool_cfg is not None else 1
        lp = LayerPerf(b.idx, b.name, m.kind, ish, osh, kern, (m.KH, m.KW), m.CI_E, m.CO, m.CP,
                       m.IT, m.CM, int(macs), out_elems=int(np.prod(osh)), core_elems=int(core),
                       pool_window=pw, has_add=b.add_spec is not None, finish=dec.finish,
                       post_reason=dec.reason, skip_direct=dec.skip_direct,
                       out_int=(not dec.finish or b.pool_spec is not None
                                or b.idx == len(model.bundles) - 1))
        lp.mapping = m
        lp.post = dec
        lp.src = int(src)
        lp.fn = b.fn_cfg["type"] if b.fn_cfg is not None else ""
        lp.fn_lut = fn_table_size(b)
        if b.fn_cfg is not None:     # the length of one row of the fn stage
            lp.fn_row = osh[-1] // (b.fn_groups if b.fn_cfg["type"] == "softmax" else 1)
        if b.is_matmul:      # weight words the firmware writes from the operand (§22)
            lp.mm_pack_elems = int(m.CI_E * m.CO)
        if b.idx > 0:
            lp.pack_elems = int(sum(g.columns(hw) * g.CM * g.PR(hw)
                                    for g in (m.geometry(p) for p in range(m.CP))))
        out.append(lp)
    return out


_STREAM_CACHE: dict = {}
SIM_ITS = 4  # iterations simulated per bundle; later ones repeat the last (tests: == exact)
TAIL = 3  # previous jobs replayed to reach the back-to-back state (tests: == exact)


def job_streams(hw, g: G.JobGeometry):
    """(weights beats, pixels beats, skip beats): header + zero payload (values do not affect
    timing, except a finish job's ADD bit, which decides whether the output waits for skip
    beats)."""
    key = (id(hw), hw.AXI_WIDTH, g)
    if key not in _STREAM_CACHE:
        if len(_STREAM_CACHE) > 64:
            _STREAM_CACHE.clear()
        h = L.job_header(hw, g)
        w = np.zeros((g.weight_beats(hw), hw.AXI_BYTES), np.uint8)
        p = np.zeros((g.pixel_beats(hw), hw.AXI_BYTES), np.uint8)
        w[0] = h
        p[0] = h
        if g.finish:
            from ..compiler.post import FIELD_WIDTH
            cfg = {n: 0 for n in FIELD_WIDTH}
            cfg["ADD"] = int(g.add)
            cfg["CG_M1"] = g.CG(hw) - 1      # the packets' length (architecture §17.2)
            w[1:1 + hw.CFG_BEATS] = L.pack_post_beats(hw, cfg, [])
        s = np.zeros((g.skip_beats(hw), hw.AXI_BYTES), np.uint8)
        _STREAM_CACHE[key] = (w, p, s)
    return _STREAM_CACHE[key]


def _sim(hw, geoms):
    from ..models.engine import run_engine_jobs_model
    jobs = [job_streams(hw, g) for g in geoms]
    _, cyc = run_engine_jobs_model(hw, jobs, seed=1, valid_prob=1.0, ready_prob=1.0,
                                   timing_only=True)
    return cyc


def bundle_geoms(lp):
    m = lp.mapping
    return [job_geometry(m, p, lp.post, it) for it, p in m.jobs()]


def simulate(layers, hw, exact=False, progress=None):
    """Fill cycles / job_cycles of every layer from the cycle model."""
    if exact:      # back to back, in segments that start at a matmul core (it starts idle)
        segs = []
        for lp in layers:
            if not segs or lp.mm_pack_elems:
                segs.append([])
            segs[-1].append(lp)
        for seg in segs:
            cyc = _sim(hw, [g for lp in seg for g in bundle_geoms(lp)])
            k = 0
            for lp in seg:
                n = len(bundle_geoms(lp))
                lp.job_cycles = list(cyc[k:k + n])
                k += n
                if progress:
                    progress(lp)
    else:
        tail: list = []  # the last TAIL jobs in real (back-to-back) order
        for lp in layers:
            m = lp.mapping
            lp.job_cycles = []
            if lp.mm_pack_elems:   # its weights wait for the engine to drain (§22): starts idle
                tail = []
            for q in m.parts:  # jobs run part by part (architecture §9.3)
                def it_g(it):
                    return [job_geometry(m, p, lp.post, it) for p in range(q.p0, q.p0 + q.CP)]
                # the first n_it - 1 iterations, then the last one (a finish job's last
                # iteration may carry fewer channel groups); the ones between repeat the
                # iteration before the last simulated one
                n_it = min(q.IT, SIM_ITS)
                its = list(range(n_it - 1)) + [q.IT - 1]
                cyc = list(_sim(hw, tail + [g for it in its for g in it_g(it)])[len(tail):])
                head, last = cyc[:(n_it - 1) * q.CP], cyc[(n_it - 1) * q.CP:]
                steady = head[-q.CP:] if n_it > 1 else []
                lp.job_cycles += head + steady * (q.IT - n_it) + last
                tail = (tail + [g for it in range(max(0, q.IT - TAIL), q.IT)
                                for g in it_g(it)])[-TAIL:]
            if progress:
                progress(lp)
    finish(layers, hw)
    return layers


def finish(layers, hw):
    B = hw.AXI_BYTES
    allg = [(lp, g) for lp in layers for g in bundle_geoms(lp)]
    k = 0
    for li, lp in enumerate(layers):
        gs = bundle_geoms(lp)
        lp.cycles = int(sum(lp.job_cycles))
        sums = {"mac": 0, "output": 0, "pixels": 0, "weights": 0, "skip": 0}
        lp.analytic_cycles = 0
        lp.job_bytes = []
        for j, g in enumerate(gs):
            nxt = allg[k + j + 1][1] if k + j + 1 < len(allg) else None
            bd = g.bounds(hw, nxt)
            if k + j == 0:  # the very first job waits for its own weights
                bd["weights"] = g.weight_beats(hw) + bd["mac"]
            for kk in sums:
                sums[kk] += bd[kk]
            lp.analytic_cycles += max(bd.values())
            lp.job_bytes.append((g.weight_beats(hw) * B, g.pixel_beats(hw) * B,
                                 g.output_beats(hw) * B, g.skip_beats(hw) * B))
        k += len(gs)
        lp.bound_cycles = sums
        lp.bound = max(sums, key=sums.get)
        lp.weight_bytes = sum(b[0] for b in lp.job_bytes)
        lp.pixel_bytes = sum(b[1] for b in lp.job_bytes)
        lp.output_bytes = sum(b[2] for b in lp.job_bytes)
        lp.skip_bytes = sum(b[3] for b in lp.job_bytes)
        lp.time_us = lp.cycles / hw.frequency_mhz
        lp.utilisation = lp.macs / (hw.ROWS * hw.COLS * lp.cycles) if lp.cycles else 0.0
        tot = lp.weight_bytes + lp.pixel_bytes + lp.output_bytes + lp.skip_bytes
        lp.intensity = lp.macs / tot if tot else 0.0
        lp.analytic_error = (lp.analytic_cycles - lp.cycles) / lp.cycles if lp.cycles else 0.0
    return layers


def totals(layers, hw):
    cyc = sum(lp.cycles for lp in layers)
    macs = sum(lp.macs for lp in layers)
    ana = sum(lp.analytic_cycles for lp in layers)
    t = cyc / (hw.frequency_mhz * 1e6)
    return dict(cycles=cyc, analytic_cycles=ana, analytic_error=(ana - cyc) / cyc, macs=macs,
                time_ms=t * 1e3, fps=1.0 / t, utilisation=macs / (hw.ROWS * hw.COLS * cyc),
                ideal_fps=hw.ROWS * hw.COLS * hw.frequency_mhz * 1e6 / macs,
                weight_bytes=sum(lp.weight_bytes for lp in layers),
                pixel_bytes=sum(lp.pixel_bytes for lp in layers),
                output_bytes=sum(lp.output_bytes for lp in layers),
                skip_bytes=sum(lp.skip_bytes for lp in layers),
                finished_bundles=sum(1 for lp in layers if lp.finish))

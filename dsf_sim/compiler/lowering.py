"""Map one bundle's core (conv/dense, any stride/padding) onto engine jobs.

A stride-s conv is rewritten by space-to-depth (polyphase) into a stride-1 'same' conv with
CI·sH·sW channels and an odd kernel of ceil-ish(K/s) taps, so it costs output-sized cycles
(contract §3 "Striding"). 'valid' padding and even-sized windows become a crop offset of the
stride-1 'same' result. Everything here is exact integer re-indexing; tests prove it equals the
direct convolution.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DsfError, HardwareError
from ..frontend.padding import tf_padding
from .geometry import JobGeometry


@dataclass(frozen=True)
class DimPlan:
    """Polyphase plan along one spatial axis."""

    size: int     # input size
    k: int        # kernel taps
    s: int        # stride
    out: int      # output size
    pt: int       # leading padding of the original layer
    radius: int   # lowered kernel radius P'
    c: int        # lowered window centre
    t: int        # input shift (<= 0: leading zero rows)
    r0: int       # crop offset into the engine output
    size_e: int   # engine image size along this axis
    phases: tuple = (0,)  # polyphases that carry at least one tap (others are skipped)
    dlo: int | None = None  # tap offsets d (x[(o+d)*s+phase]) this plan covers; None: all
    dhi: int | None = None

    @property
    def k_e(self) -> int:
        return 2 * self.radius + 1


def plan_dim(size, k, s, padding) -> DimPlan:
    out, pt = tf_padding(size, k, s, padding)
    ds = [(kk - p - pt) // s for p in range(s) for kk in range(k) if (kk - p - pt) % s == 0]
    phases = tuple(p for p in range(s) if any((kk - p - pt) % s == 0 for kk in range(k)))
    dmin, dmax = min(ds), max(ds)
    radius = -(-(dmax - dmin) // 2)
    size_s = -(-size // s)
    best = None
    # an even tap span is padded with one zero tap, after (c = dmin + r) or before (c = dmax - r);
    # take the side that gives the smaller engine image (e.g. no extra row block for a 3x3/2)
    for c in sorted({dmin + radius, dmax - radius}, key=abs):
        t = min(c, 0)
        r0 = c - t
        size_e = max(size_s - t, out + r0)
        if best is None or size_e < best[3]:
            best = (c, t, r0, size_e)
    c, t, r0, size_e = best
    return DimPlan(size, k, s, out, pt, radius, c, t, r0, size_e, phases)


@dataclass(frozen=True)
class Part:
    """One sub-convolution of a bundle's core (architecture §9.3): its own polyphase subset,
    tap window, input shift and crop offset per axis, and its own passes / iterations. Its passes
    are numbered globally per bundle: p0 .. p0+CP-1."""

    H: DimPlan
    W: DimPlan
    CI_E: int
    CM: int
    CP: int
    CO_PRL: int
    IT: int
    p0: int = 0

    @property
    def KH(self):
        return self.H.k_e

    @property
    def KW(self):
        return self.W.k_e


@dataclass
class CoreMapping:
    """Everything the firmware and the engine need to run one bundle's core.

    Single-part mappings (every stride-1 layer, and strided layers where splitting does not pay)
    have exactly the pre-parts meaning of every attribute. For a multi-part mapping H/W are the
    layer's single-part plans (out, s, pt), CI_E is the sum over parts, CP the total number of
    passes (global pass index p), CM/KH/KW/IT the maximum and CO_PRL the minimum over parts."""

    kind: str            # 'conv' | 'dense'
    XN: int              # engine batch
    H: DimPlan
    W: DimPlan
    CI: int              # original input channels
    CO: int
    CI_E: int            # engine channels = CI*sH*sW
    CM: int              # channels per pass (full passes)
    CP: int              # passes
    CO_PRL: int          # output channels per iteration
    IT: int              # iterations
    x_signed: bool
    parts: tuple = ()
    lead: tuple = ()     # dense: the input's leading dims ((N,) or tokens (N, S)), rows = prod
    mm_n: int = 0        # matmul core (§22): its batch N (CO = N·C_out, a block per item); 0: not

    @property
    def CO_LAYER(self) -> int:
        """Output channels of the layer (a matmul core's engine CO holds N batches' blocks)."""
        return self.CO // self.mm_n if self.mm_n else self.CO

    def __post_init__(self):
        if not self.parts:
            self.parts = (Part(self.H, self.W, self.CI_E, self.CM, self.CP, self.CO_PRL, self.IT,
                               0),)

    @property
    def multi(self) -> bool:
        return len(self.parts) > 1

    @property
    def KH(self):
        return max(q.H.k_e for q in self.parts)

    @property
    def KW(self):
        return max(q.W.k_e for q in self.parts)

    def part_of(self, p) -> int:
        for i, q in enumerate(self.parts):
            if q.p0 <= p < q.p0 + q.CP:
                return i
        raise IndexError(p)

    def pass_channels(self, p):
        """Channel range of global pass p inside its part's engine channels."""
        q = self.parts[self.part_of(p)]
        lo = (p - q.p0) * q.CM
        return lo, min(q.CI_E, lo + q.CM)

    def iter_channels(self, it, p=0):
        prl = self.parts[self.part_of(p)].CO_PRL
        lo = it * prl
        return lo, min(self.CO, lo + prl)

    def geometry(self, p) -> JobGeometry:
        q = self.parts[self.part_of(p)]
        lo, hi = self.pass_channels(p)
        return JobGeometry(KH=q.KH, KW=q.KW, CM=hi - lo, XN=self.XN, XH=q.H.size_e,
                           XW=q.W.size_e, x_signed=self.x_signed)

    def jobs(self):
        """(it, p) in firmware order: part by part, iterations, then the part's passes (global
        pass index p). Single part: (it, p) as before."""
        for q in self.parts:
            for it in range(q.IT):
                for p in range(q.p0, q.p0 + q.CP):
                    yield it, p


# ----------------------------------------------------------------------------- parts
def _phase_ranges(size, k, s, pt):
    """{phase: (dmin, dmax)} of the tap offsets d of every polyphase that carries taps."""
    out = {}
    for p in range(s):
        ds = [(kk - p - pt) // s for kk in range(k) if (kk - p - pt) % s == 0]
        if ds:
            out[p] = (min(ds), max(ds))
    return out


def _part_plan(base: DimPlan, phases, dlo, dhi) -> DimPlan:
    """Plan of an axis part covering `phases` and tap offsets dlo..dhi."""
    radius = -(-(dhi - dlo) // 2)
    size_s = -(-base.size // base.s)
    best = None
    for c in sorted({dlo + radius, dhi - radius}, key=abs):
        t = min(c, max(dlo, 0))
        r0 = c - t
        size_e = max(base.out + r0, min(size_s - t, base.out + r0 + radius))
        if best is None or size_e < best[3]:
            best = (c, t, r0, size_e)
    c, t, r0, size_e = best
    return DimPlan(base.size, base.k, base.s, base.out, base.pt, radius, c, t, r0, size_e,
                   tuple(sorted(phases)), dlo, dhi)


def axis_options(base: DimPlan):
    """Candidate decompositions of one axis into axis parts (lists of DimPlans)."""
    rng = _phase_ranges(base.size, base.k, base.s, base.pt)
    groups = {}
    for p, r in rng.items():
        groups.setdefault(r, []).append(p)
    groups = sorted(groups.items(), key=lambda g: g[1][0])
    opts = {"one": [base]}
    grp = [_part_plan(base, ph, lo, hi) for (lo, hi), ph in groups]
    even = []
    singles = []
    for (lo, hi), ph in groups:
        sg = [_part_plan(base, ph, d, d) for d in range(lo, hi + 1)]
        singles += sg
        even += sg if (hi - lo) % 2 == 1 else [_part_plan(base, ph, lo, hi)]
    for name, o in (("groups", grp), ("split_even", even), ("singles", singles)):
        if len(o) > 1 and all(o != v for v in opts.values()):
            opts[name] = o
    # the same, with the 1-tap parts that share an offset d merged into one part over all their
    # phases (a 3x3/2 axis's split_even: (phase 0, d 0) + (phase 0, d 1) + (phase 1, d 0) ->
    # (phases 0 and 1, d 0) + (phase 0, d 1)): the same taps and input channels in fewer parts
    # of the same output geometry, so fewer jobs and raw outputs
    for name in list(opts):
        m = _merge_offsets(base, opts[name])
        if len(m) > 1 and all(m != v for v in opts.values()):
            opts[name + "_merged"] = m
    if base.k > 1:
        opts["taps"] = [_taps_plan(base)]
    return opts


def _taps_plan(base: DimPlan) -> DimPlan:
    """Every tap of the axis as its own channel block of one 1-tap plan (im2col along the axis):
    block b reads x[o*s + b + t*s] (t = floor(-pt / s) keeps the block offsets b = kk - pt - t*s
    >= 0; they may exceed s - 1), so the engine runs a 1-wide kernel on an image of `out` rows
    with no crop. Taps x taps is one 1x1 part: no partial sums to add, at k times the input."""
    t = (-base.pt) // base.s
    blocks = tuple(kk - base.pt - t * base.s for kk in range(base.k))
    return DimPlan(base.size, base.k, base.s, base.out, base.pt, 0, t, t, 0, base.out, blocks, t, t)


def _merge_offsets(base: DimPlan, plans):
    """`plans` with its 1-tap plans (dlo == dhi) grouped by offset into one plan each."""
    by_d, rest = {}, []
    for q in plans:
        if q.dlo is not None and q.dlo == q.dhi:
            by_d.setdefault(q.dlo, []).extend(q.phases)
        else:
            rest.append(q)
    merged = [_part_plan(base, ph, d, d) for d, ph in sorted(by_d.items())]
    return sorted(rest + merged, key=lambda q: (min(q.phases), q.dlo))


def _make_parts(plans, ci, co, hw):
    parts, p0 = [], 0
    for H, W in plans:
        ci_e = ci * len(H.phases) * len(W.phases)
        cm = min(hw.RAM_WEIGHTS_DEPTH // H.k_e, ci_e)
        cp = -(-ci_e // cm)
        prl = hw.COLS // W.k_e
        parts.append(Part(H, W, ci_e, cm, cp, prl, -(-co // prl), p0))
        p0 += cp
    return parts


def _parts_fit(parts, hw) -> bool:
    return all(q.KH <= hw.KH_MAX and q.KW <= min(hw.KW_MAX, hw.COLS)
               and q.H.size_e <= hw.XL_MAX * hw.ROWS and q.W.size_e <= hw.XW_MAX
               and q.CM >= 1 for q in parts)


def parts_cost(parts, xn, x_signed, hw) -> int:
    """Cycle estimate: per job max(MAC beats + flush, output beats, pixel beats, weight beats)
    (architecture §7.6, §9.4: geometry.JobGeometry.bounds, as perf.bench uses them), summed over
    all jobs."""
    total = 0
    for q in parts:
        for lp in range(q.CP):
            cm = min(q.CM, q.CI_E - lp * q.CM)
            g = JobGeometry(q.KH, q.KW, cm, xn, q.H.size_e, q.W.size_e, x_signed)
            total += q.IT * max(max(g.bounds(hw).values()), g.weight_beats(hw))
    return total


def parts_pixel_words(parts, xn, x_signed, hw) -> int:
    """Pixel-stream words the firmware packs for these parts: every pass's columns x channels x
    PR (bench.layer_list's pack_elems)."""
    total = 0
    for q in parts:
        for lp in range(q.CP):
            cm = min(q.CM, q.CI_E - lp * q.CM)
            g = JobGeometry(q.KH, q.KW, cm, xn, q.H.size_e, q.W.size_e, x_signed)
            total += g.columns(hw) * cm * g.PR(hw)
    return total


SPLIT_MODES = ("auto", "single", "parts", "taps")


def choose_parts(H, W, xn, ci, co, x_signed, hw, split="auto"):
    """Pick the cheapest decomposition (None: keep the single-part lowering); a one-part result
    (taps x taps, or taps on one axis) replaces the single-part lowering.
    split: 'auto' (cost model; the single part unless strictly cheaper), 'single', 'parts' (the
    cheapest multi-part decomposition whenever one exists -- for tests), 'taps' (taps x taps).
    The merged families (`axis_options`' *_merged) and taps are taken only where they have no
    more pixel words than the choice among the other families: more words would trade the
    firmware's packing (the system's bottleneck) and pixel DMA traffic for engine cycles
    (architecture §9.4; measured on ResNet-50 in benchmarks/README.md)."""
    if split not in SPLIT_MODES:
        raise DsfError(f"split = {split!r} is invalid: allowed one of {list(SPLIT_MODES)}")
    if split == "single" or (H.s == 1 and W.s == 1):
        return None
    oh, ow = axis_options(H), axis_options(W)
    if split == "taps":
        if "taps" not in oh or "taps" not in ow:
            return None
        parts = _make_parts([(oh["taps"][0], ow["taps"][0])], ci, co, hw)
        return parts if _parts_fit(parts, hw) else None
    try:
        one = _make_parts([(H, W)], ci, co, hw)
        single = (parts_cost(one, xn, x_signed, hw), parts_pixel_words(one, xn, x_signed, hw))
    except AttributeError:  # hardware description without stream geometry: no cost model
        if split != "parts":
            return None
        single = None
    cands = []      # (cost, words, new family, parts)
    for nh, ph in oh.items():
        for nw, pw in ow.items():
            if nh == "one" and nw == "one":
                continue
            parts = _make_parts([(a, b) for a in ph for b in pw], ci, co, hw)
            if not _parts_fit(parts, hw) or (split == "parts" and len(parts) < 2):
                continue
            try:
                cost = parts_cost(parts, xn, x_signed, hw)
                words = parts_pixel_words(parts, xn, x_signed, hw)
            except AttributeError:
                cost, words = len(parts), 0
            new = nh.endswith("_merged") or nw.endswith("_merged") or "taps" in (nh, nw)
            cands.append((cost, words, new, parts))
    if not cands:
        return None
    plain = [c for c in cands if not c[2]]
    first = min(plain or cands, key=lambda c: c[0])
    multi_before = split == "parts" or (single is not None and first[0] < single[0])
    limit = first[1] if multi_before else single[1]
    fit = [c for c in cands if c[1] <= limit]
    if not fit:
        return None
    best = min(fit, key=lambda c: (c[0], len(c[3])))
    if split == "parts" or (single is not None and best[0] < single[0]):
        return best[3]
    return None


def map_core(b, in_shape, x_signed, hw, split="auto") -> CoreMapping:
    """Lower bundle `b` (input shape NHWC or NF) to engine jobs, checking hardware limits."""
    where = f"bundle {b.idx} ({b.name})"
    kind = "dense" if b.core_cfg["type"] == "matmul" else b.core_cfg["type"]
    lead = ()
    if kind == "dense":     # rows: the batch, or every token of every batch item
        lead, f = tuple(int(v) for v in in_shape[:-1]), int(in_shape[-1])
        n = int(np.prod(lead))
        H = plan_dim(n, 1, 1, "same")
        W = plan_dim(1, 1, 1, "same")
        xn, ci, sh, sw = 1, f, 1, 1
        if lead[0] > hw.XN_MAX:
            raise HardwareError(f"{where}: batch", lead[0], f"<= max_batch_size {hw.XN_MAX}")
    else:
        xn, h, w, ci = in_shape
        (kh, kw), (sh, sw) = b.kernel_size, b.strides
        H = plan_dim(h, kh, sh, b.padding)
        W = plan_dim(w, kw, sw, b.padding)
        if h > hw.XH_MAX or w > hw.XW_MAX:
            raise HardwareError(f"{where}: input image (H, W)", (h, w),
                                f"<= max_image_size ({hw.XH_MAX}, {hw.XW_MAX})")
        if xn > hw.XN_MAX:
            raise HardwareError(f"{where}: batch", xn, f"<= max_batch_size {hw.XN_MAX}")
    if ci > hw.CI_MAX:
        raise HardwareError(f"{where}: input channels", ci, f"<= max_channels_in {hw.CI_MAX}")
    kh_e, kw_e = H.k_e, W.k_e
    if kh_e > hw.KH_MAX:
        raise HardwareError(f"{where}: engine kernel height (after stride lowering)", kh_e,
                            f"<= max_kernel_size KH {hw.KH_MAX}")
    if kw_e > min(hw.KW_MAX, hw.COLS):
        raise HardwareError(f"{where}: engine kernel width (after stride lowering)", kw_e,
                            f"<= min(max_kernel_size KW {hw.KW_MAX}, COLS {hw.COLS})")
    if H.size_e > hw.XL_MAX * hw.ROWS:
        what = "tokens x batch (rows)" if len(lead) == 2 else "engine image height"
        raise HardwareError(f"{where}: {what}", H.size_e,
                            f"<= {hw.XL_MAX * hw.ROWS} (XL_MAX*ROWS)")
    if W.size_e > hw.XW_MAX:
        raise HardwareError(f"{where}: engine image width", W.size_e,
                            f"<= max_image_size W {hw.XW_MAX}")
    ci_e = ci * len(H.phases) * len(W.phases)  # phases without taps are not sent at all
    cm = min(hw.RAM_WEIGHTS_DEPTH // kh_e, ci_e)
    co_prl = hw.COLS // kw_e
    mm_n = lead[0] if b.core_cfg["type"] == "matmul" else 0
    co = b.filters * (mm_n or 1)
    parts = None
    if kind != "dense":
        parts = choose_parts(H, W, xn, ci, co, bool(x_signed), hw, split)
    if parts and len(parts) == 1:          # one part (taps on an axis): a plain single part
        q = parts[0]
        return CoreMapping(kind, xn, q.H, q.W, ci, co, q.CI_E, q.CM, q.CP, q.CO_PRL, q.IT,
                           bool(x_signed), lead=lead, mm_n=mm_n)
    if parts:
        return CoreMapping(kind, xn, H, W, ci, co, sum(q.CI_E for q in parts),
                           max(q.CM for q in parts), sum(q.CP for q in parts),
                           min(q.CO_PRL for q in parts), max(q.IT for q in parts),
                           bool(x_signed), tuple(parts))
    return CoreMapping(kind, xn, H, W, ci, co, ci_e, cm, -(-ci_e // cm), co_prl,
                       -(-co // co_prl), bool(x_signed), lead=lead, mm_n=mm_n)


# ----------------------------------------------------------------------------- tensors
def _gather_axis(x, axis, plan: DimPlan, phase: int):
    """Engine-axis view of phase `phase`: out[i] = x[(i + t)*s + phase], zero outside."""
    idx = (np.arange(plan.size_e) + plan.t) * plan.s + phase
    valid = (idx >= 0) & (idx < plan.size)
    taken = np.take(x, np.clip(idx, 0, plan.size - 1), axis=axis)
    shape = [1] * x.ndim
    shape[axis] = plan.size_e
    return taken * valid.reshape(shape)


def _part(m: CoreMapping, part):
    if part is None:
        if m.multi:
            raise ValueError("multi-part mapping: pass part=<index>")
        part = 0
    return m.parts[part]


def lower_input(m: CoreMapping, x: np.ndarray, part=None) -> np.ndarray:
    """Bundle input (NHWC ints, or NF for dense) -> engine image [XN, XH_e, XW_e, CI_E] of one
    part (part=None: the only part)."""
    x = np.asarray(x, dtype=np.int64)
    if m.kind == "dense":
        return x.reshape(-1, x.shape[-1])[None, :, None, :]
    q = _part(m, part)
    chans = []
    for ph in q.H.phases:
        xh = _gather_axis(x, 1, q.H, ph)
        for pw in q.W.phases:
            chans.append(_gather_axis(xh, 2, q.W, pw))
    return np.concatenate(chans, axis=3)  # channel = (iH*len(W.phases) + iW)*CI + ci


def _taps(plan: DimPlan, e, phase):
    """Original kernel index of engine tap e for `phase`, or None (no tap / outside the part)."""
    d = plan.c + e - plan.radius
    if plan.dlo is not None and not plan.dlo <= d <= plan.dhi:
        return None
    kk = d * plan.s + phase + plan.pt
    return kk if 0 <= kk < plan.k else None


def lower_weights(m: CoreMapping, k: np.ndarray, part=None) -> np.ndarray:
    """Kernel [KH, KW, CI, CO] (dense: [CI, CO]) -> engine kernel [KH_e, KW_e, CI_E, CO] of one
    part."""
    k = np.asarray(k, dtype=np.int64)
    if m.kind == "dense":
        return k[None, None]
    q = _part(m, part)
    KHo, KWo, CI, CO = k.shape
    out = np.zeros((q.KH, q.KW, q.CI_E, CO), dtype=np.int64)
    for ih, ph in enumerate(q.H.phases):
        for iw, pw in enumerate(q.W.phases):
            base = (ih * len(q.W.phases) + iw) * CI
            for eh in range(q.KH):
                kh = _taps(q.H, eh, ph)
                if kh is None:
                    continue
                for ew in range(q.KW):
                    kw = _taps(q.W, ew, pw)
                    if kw is not None:
                        out[eh, ew, base:base + CI, :] = k[kh, kw]
    return out


def crop_output(m: CoreMapping, y_e: np.ndarray, part=None) -> np.ndarray:
    """Engine-shaped sums [XN, >=XH_e, XW_e, CO] of one part -> layer output NHWC (dense: NF).
    A multi-part layer's output is the sum of its parts' cropped outputs."""
    q = _part(m, part)
    y = y_e[:, q.H.r0:q.H.r0 + m.H.out, q.W.r0:q.W.r0 + m.W.out, :]
    if m.kind == "dense":
        y = y[0, :, 0, :]
        if m.mm_n:           # batch n's rows against batch n's block of columns (§22)
            N = m.mm_n
            y4 = y.reshape(N, -1, N, m.CO_LAYER)
            return y4[np.arange(N), :, np.arange(N), :]
        return y.reshape(m.lead + (m.CO,)) if m.lead else y
    return y

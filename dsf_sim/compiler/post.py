"""The engine's output pipeline (architecture §17): its configuration, its exact arithmetic and
the export's decision which bundles it finishes.

`finish_words` is the hardware's arithmetic on the raw sums, bit for bit (PIPE_BITS two's
complement intermediates, the clamped shift of §17.1); `decide` finishes a bundle on chip only
when it can prove that arithmetic equals the integer reference (frontend/reference.py) for every
input the bundle can see, and otherwise records why the bundle stays raw.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .hardware import POST_FIELDS, POST_SIGNED, W_GROUPS

FIELD_WIDTH = dict(POST_FIELDS)


# ----------------------------------------------------------------------------- configuration
def stage_fields(spec, f_in: int) -> dict:
    """(A, B, K, LO, HI) of requantising a value with binary point f_in by quantiser `spec`."""
    sh = spec.frac - f_in
    k = spec.slope_shift if spec.kind == "relu" and spec.slope_shift >= 0 else 0
    return dict(A=max(sh, 0), B=max(-sh, 0), K=k, LO=spec.lo, HI=spec.hi)


def post_config(b, in_frac: int, skip_spec=None, skip_frac: int = 0) -> dict:
    """The POST_FIELDS values of bundle `b` whose input has binary point `in_frac` (every field,
    ints); the binary points of the stages are the integer reference's (frontend/reference.py)."""
    f_core = in_frac + b.kq.frac
    f_s = max(f_core, b.bq.frac) if b.use_bias else f_core
    cfg = dict(SH_CORE=f_s - f_core, SH_BIAS=(f_s - b.bq.frac) if b.use_bias else 0)
    s1 = stage_fields(b.act, f_s)
    cfg.update(A1=s1["A"], B1=s1["B"], K1=s1["K"], LO1=s1["LO"], HI1=s1["HI"])
    if b.add_spec is not None:
        f_t = max(b.act.frac, skip_frac)
        s2 = stage_fields(b.add_spec, f_t)
        cfg.update(ADD=1, SKIP_SIGNED=int(skip_spec.signed), SH_ACT=f_t - b.act.frac,
                   SH_SKIP=f_t - skip_frac, A2=s2["A"], B2=s2["B"], K2=s2["K"], LO2=s2["LO"],
                   HI2=s2["HI"])
    else:
        cfg.update(ADD=0, SKIP_SIGNED=0, SH_ACT=0, SH_SKIP=0, A2=0, B2=0, K2=0, LO2=0, HI2=0)
    return cfg


def job_config(cfg: dict, cg: int) -> dict:
    """The configuration of one finish job: the bundle's fields and CG_M1, the job's valid output
    channel groups - 1 (its packets carry only those, architecture §17.2)."""
    if not 1 <= int(cg) <= 1 << W_GROUPS:
        raise ValueError(f"job_config: cg = {cg} outside 1..{1 << W_GROUPS}")
    return dict(cfg, CG_M1=int(cg) - 1)


def field_errors(cfg: dict) -> list:
    """Fields whose value does not fit its width (two's complement for POST_SIGNED)."""
    bad = []
    for name, w in POST_FIELDS:
        if name not in cfg:
            bad.append(f"{name} missing")
            continue
        v = int(cfg[name])
        lo, hi = ((-(1 << (w - 1)), (1 << (w - 1)) - 1) if name in POST_SIGNED else (0, (1 << w) - 1))
        if not lo <= v <= hi:
            bad.append(f"{name} = {v} outside {lo}..{hi} ({w} bits)")
    return bad


def pack_config(cfg: dict) -> int:
    """The configuration as one POST_BITS integer, fields LSB first."""
    value, off = 0, 0
    for name, w in POST_FIELDS:
        value |= (int(cfg[name]) & ((1 << w) - 1)) << off
        off += w
    return value


def unpack_config(value: int) -> dict:
    """Inverse of `pack_config` (signed fields sign-extended)."""
    cfg, off = {}, 0
    for name, w in POST_FIELDS:
        v = (value >> off) & ((1 << w) - 1)
        if name in POST_SIGNED and v >> (w - 1):
            v -= 1 << w
        cfg[name] = v
        off += w
    return cfg


# ----------------------------------------------------------------------------- arithmetic
def _wrap(x, bits):
    m = np.int64(1) << np.int64(bits - 1)
    return ((np.asarray(x, dtype=np.int64) + m) & ((m << np.int64(1)) - 1)) - m


def _shl(x, s: int, P: int):
    """x * 2^s modulo 2^P, as a P-bit signed value (0 for s >= P)."""
    x = np.asarray(x, dtype=np.int64)
    if s >= P:
        return np.zeros_like(x)
    return _wrap((x & ((np.int64(1) << np.int64(P - s)) - 1)) << np.int64(s), P)


def _shr_rhe(y, e: int, P: int):
    """Round-half-to-even of y / 2^e for one shift e <= P - 1: floor((y + 2^(e-1) - 1 + odd)
    / 2^e) with odd the lowest bit of floor(y / 2^e) (a tie rounds up exactly when that is
    odd); y itself for e = 0."""
    if e == 0:
        return _wrap(y, P)
    e = np.int64(e)
    bias = (np.int64(1) << (e - 1)) - 1
    return _wrap((y + bias + ((y >> e) & 1)) >> e, P)


def _rq(x, A, B, K, LO, HI, P):
    """requantise x: shift left A (wrapping), round right by e = min(B (+ K if x < 0), P - 1),
    clip in the RTL's order (LO wins if LO > HI)."""
    y = _shl(x, A, P)
    q = _shr_rhe(y, min(B, P - 1), P)
    if K:
        q = np.where(np.asarray(x) < 0, _shr_rhe(y, min(B + K, P - 1), P), q)
    return np.where(q < LO, LO, np.minimum(q, HI))


def finish_values(hw, raw, bias, cfg: dict, skip=None):
    """The pipeline's final values q (before truncation to X_BITS) for raw sums `raw` (Y_BITS
    signed), per-word bias words `bias` (broadcast to raw) and, for ADD, skip words `skip`."""
    P = hw.PIPE_BITS
    a = _wrap(raw, hw.Y_BITS)
    v = _wrap(_shl(a, cfg["SH_CORE"], P) + _shl(bias, cfg["SH_BIAS"], P), P)
    q = _rq(v, cfg["A1"], cfg["B1"], cfg["K1"], cfg["LO1"], cfg["HI1"], P)
    if cfg["ADD"]:
        t = _wrap(_shl(q, cfg["SH_ACT"], P) + _shl(skip, cfg["SH_SKIP"], P), P)
        q = _rq(t, cfg["A2"], cfg["B2"], cfg["K2"], cfg["LO2"], cfg["HI2"], P)
    return q


def finish_words(hw, raw, bias, cfg: dict, skip=None):
    """The words a finish job sends: the low X_BITS bits of `finish_values` (unsigned view)."""
    return finish_values(hw, raw, bias, cfg, skip) & ((1 << hw.X_BITS) - 1)


def x_range(hw, signed: bool):
    return (-(1 << (hw.X_BITS - 1)), (1 << (hw.X_BITS - 1)) - 1) if signed else (0, (1 << hw.X_BITS) - 1)


def spec_fits_x(spec, hw) -> bool:
    lo, hi = x_range(hw, spec.signed)
    return lo <= spec.lo and spec.hi <= hi


# ----------------------------------------------------------------------------- proof
def _bits_signed(v: int) -> int:
    """Bits of the smallest two's complement word holding every value in [-v, v]."""
    return int(v).bit_length() + 1


def pipe_bits_needed(hw, cfg: dict, sum_bound: int, bias_bound: int, skip_signed: bool) -> int:
    """Largest signed width any pipeline intermediate can need (worst case over the operand
    ranges: |raw sum| <= sum_bound, |bias| <= bias_bound, skip words in the X_BITS range)."""
    need = []
    a = sum_bound << cfg["SH_CORE"]
    bb = bias_bound << cfg["SH_BIAS"]
    v = a + bb
    need += [_bits_signed(a), _bits_signed(bb), _bits_signed(v), _bits_signed(v << cfg["A1"])]
    if cfg["ADD"]:
        q1 = max(abs(cfg["LO1"]), abs(cfg["HI1"]))
        lo, hi = x_range(hw, skip_signed)
        s = max(abs(lo), abs(hi))
        t = (q1 << cfg["SH_ACT"]) + (s << cfg["SH_SKIP"])
        need += [_bits_signed(q1 << cfg["SH_ACT"]), _bits_signed(s << cfg["SH_SKIP"]),
                 _bits_signed(t), _bits_signed(t << cfg["A2"])]
    return max(need)


def shift_errors(hw, cfg: dict) -> list:
    """Right shifts longer than the pipeline's clamp (PIPE_BITS - 1) would not be exact."""
    bad = []
    stages = (("1", True),) + ((("2", True),) if cfg["ADD"] else ())
    for s, _ in stages:
        d = cfg["B" + s] + cfg["K" + s]
        if d > hw.PIPE_BITS - 1:
            bad.append(f"requantisation shift B{s}+K{s} = {d} > {hw.PIPE_BITS - 1}")
    return bad


# ----------------------------------------------------------------------------- decision
@dataclass
class PostDecision:
    finish: bool
    reason: str                 # why the bundle stays raw ("" when finished)
    cfg: dict | None = None     # POST_FIELDS values (finish bundles)
    skip_direct: bool = False   # the skip stream is the skip producer's finished output


def sum_bound(K, in_spec) -> int:
    """Largest |raw sum| of any output channel over every input in the quantiser's range (the
    whole sum: one pass, one part; lowering only re-indexes the taps). K: [.., CI, CO]."""
    kp, kn = signed_sums(K)
    pos, neg = extreme_sums(kp[0], kn[0], in_spec.lo, in_spec.hi)
    return int(max(pos.max(), -neg.min()))


def signed_sums(K, ranges=None):
    """(ΣK⁺, ΣK⁻) of an integer kernel [.., CI, CO] over its leading axes and the input channels
    of each range [c0, c1) in `ranges` (default: all of them), as int64 [len(ranges), CO].
    Summed in blocks through a small scratch buffer: a kernel-sized temporary costs more in fresh
    pages than the sums themselves (ResNet-50's export spent a second on them)."""
    K = np.asarray(K)
    K = K.reshape((-1,) + K.shape[-2:])
    T, CI, CO = K.shape
    ranges = [(0, CI)] if ranges is None else list(ranges)
    kp = np.zeros((len(ranges), CO), dtype=np.int64)
    kn = np.zeros_like(kp)
    rows = max(1, (1 << 16) // max(CO, 1))
    buf = np.empty((rows, CO), dtype=K.dtype)
    for i, (c0, c1) in enumerate(ranges):
        for t in range(T):
            for r in range(c0, c1, rows):
                b = buf[:min(rows, c1 - r)]
                np.maximum(K[t, r:r + b.shape[0]], 0, out=b)
                kp[i] += b.sum(axis=0, dtype=np.int64)
        kn[i] = K[:, c0:c1].sum(axis=(0, 1), dtype=np.int64) - kp[i]
    return kp, kn


def extreme_sums(kp, kn, lo: int, hi: int):
    """(largest, smallest) Σ k·x per channel over inputs x in [lo, hi], from the channel's
    ΣK⁺ = kp and ΣK⁻ = kn: max(k·lo, k·hi) is k·hi for k >= 0 and k·lo for k < 0, so no
    product array is needed."""
    lo, hi = min(lo, hi), max(lo, hi)
    return hi * kp + lo * kn, lo * kp + hi * kn


def same_job_geometry(m, n) -> bool:
    """Do two single-part mappings produce finished streams word for word aligned?"""
    keys = ("XN", "CO", "CO_PRL", "IT", "KW")
    if any(getattr(m, k) != getattr(n, k) for k in keys):
        return False
    return all((getattr(m, a).size_e, getattr(m, a).r0, getattr(m, a).out)
               == (getattr(n, a).size_e, getattr(n, a).r0, getattr(n, a).out) for a in ("H", "W"))


def decide(hw, b, m, K, in_spec, in_frac, skip=None, mode: str = "auto") -> PostDecision:
    """Finish bundle `b` (mapping m, integer kernel K, input quantiser in_spec with binary point
    in_frac) on chip? `skip`: None or dict(spec, frac, mapping, decision, pools) of the skip
    producer (mapping/decision None for the model input). `mode`: 'auto' | 'off'."""
    if mode == "off":
        return PostDecision(False, "post-processing disabled (post='off')")
    if b.is_matmul:
        return PostDecision(False, "matmul of two activations: the firmware packs its weights "
                                   "and finishes its sums (architecture §22)")
    if b.fn_cfg is not None:
        return PostDecision(False, f"{b.fn_cfg['type']} runs on the CPU in integers "
                                   f"(architecture §21)")
    if m.multi:
        return PostDecision(False, f"multi-part lowering ({len(m.parts)} parts of a strided "
                                   f"layer): the firmware adds the parts")
    if m.CP > 1:
        return PostDecision(False, f"CP = {m.CP} passes: the firmware adds the partial sums")
    for spec in (b.act, b.add_spec):
        if spec is not None and spec.pos_shift:
            return PostDecision(False, f"quantizer {spec.text!r} rounds its positive values on a "
                                       f"coarser grid than its negative ones (step 2^"
                                       f"{spec.pos_shift}): the pipeline rounds on one grid")
    final = b.add_spec if b.add_spec is not None else b.act
    if not spec_fits_x(final, hw):
        return PostDecision(False, f"activation quantizer {final.text!r} range "
                                   f"{final.lo}..{final.hi} does not fit bits_input={hw.X_BITS}")
    if b.add_spec is not None and not spec_fits_x(skip["spec"], hw):
        return PostDecision(False, f"skip tensor range {skip['spec'].lo}..{skip['spec'].hi} does "
                                   f"not fit bits_input={hw.X_BITS}")
    cfg = post_config(b, in_frac, skip["spec"] if skip else None, skip["frac"] if skip else 0)
    cfg = job_config(cfg, min(m.CO, m.CO_PRL))     # a full job's; each job's own: job_config
    bad = field_errors(cfg) + shift_errors(hw, cfg)
    if bad:
        return PostDecision(False, "configuration out of range: " + "; ".join(bad))
    bias_bound = max(abs(b.bq.lo), abs(b.bq.hi)) if b.use_bias else 0
    need = pipe_bits_needed(hw, cfg, sum_bound(K, in_spec), bias_bound,
                            bool(cfg["SKIP_SIGNED"]))
    if need > hw.PIPE_BITS:
        return PostDecision(False, f"pipeline overflow risk: an intermediate needs {need} bits "
                                   f"> PIPE_BITS = {hw.PIPE_BITS}")
    direct = False
    if b.add_spec is not None and skip.get("decision") is not None:
        d = skip["decision"]
        direct = bool(d.finish and not skip["pools"] and same_job_geometry(m, skip["mapping"]))
    return PostDecision(True, "", cfg, direct)

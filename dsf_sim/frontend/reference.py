"""Bit-exact integer reference model of a QModel (the single source of truth for every value).

For each bundle it computes the integer tensor after every stage, with its binary point, and
(optionally) checks each one equals the QKeras float tensor x 2^frac exactly.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import MismatchError
from .exact_conv import exact_matmul, tap_sum
from .padding import tf_padding
from .quant import requantize, shift_align

INT_SOFTMAX_ERR = 5e-5     # |integer softmax - float softmax| < this + 2^-softmax_frac (§21)
INT_GELU_ERR = 5e-4        # |i_gelu - erf GELU| < this + |x|·2^-20 (§21)
INT_LAYERNORM_ERR = 2e-4   # |i_layernorm - (x - mean)/std| < this + 2^-frac (§21)


def compact(a: np.ndarray) -> np.ndarray:
    """`a` in the narrowest signed integer type holding its values. Stored stages are compact
    (a batch-7 ResNet-50 keeps 1/3 of the bytes); whoever computes with one upcasts first
    (np.asarray(v, dtype=np.int64), as every function here does)."""
    if a.size == 0 or a.dtype.kind not in "iu":
        return a
    lo, hi = int(a.min()), int(a.max())
    for dt in (np.int8, np.int16, np.int32):
        info = np.iinfo(dt)
        if info.min <= lo and hi <= info.max:
            return a.astype(dt)
    return a


@dataclass
class BundleRef:
    """Integer results of one bundle. `stages[name] = (int array, frac)`, each array in the
    narrowest integer type of its values (`compact`): upcast before arithmetic."""

    idx: int
    name: str
    in_frac: int
    in_int: np.ndarray
    stages: dict = field(default_factory=dict)
    softmax: np.ndarray | None = None
    softmax_int: np.ndarray | None = None   # integer softmax (softmax_frac given): the spec
    mapping: object = None        # the compiler's CoreMapping, set by the export
    weights: tuple = None         # (kernel, bias) integers the stages were computed with
    operand: tuple = None         # matmul core: (int array, frac) of its operand b

    float_check: dict | None = None   # how the QKeras float graph was compared (if it was)
    dropped: dict = field(default_factory=dict)   # name -> (shape, frac) of dropped stages
    order: list = field(default_factory=list)     # stage names in computation order

    def stage_info(self) -> dict:
        """{stage: (shape, frac)} of every stage, kept or dropped, in computation order."""
        out = {}
        for k in self.order or list(self.stages):
            out[k] = ((tuple(self.stages[k][0].shape), self.stages[k][1]) if k in self.stages
                      else self.dropped[k])
        return out

    def drop_stages(self, keep=("out",)):
        """Free every stage array but `keep` (their shapes and fracs stay in stage_info): the
        export drops a bundle's intermediate stages once it has been checked and written."""
        self.order = self.order or list(self.stages)
        for k in list(self.stages):
            if k not in keep:
                a, f = self.stages.pop(k)
                self.dropped[k] = (tuple(a.shape), f)

    @property
    def out(self):
        return self.stages["out"][0]

    @property
    def out_frac(self):
        return self.stages["out"][1]


def conv_reference(x, k, strides, padding) -> np.ndarray:
    """Direct integer convolution with TensorFlow's padding rule (the mathematical truth)."""
    x = np.asarray(x, dtype=np.int64)
    k = np.asarray(k, dtype=np.int64)
    n, h, w, ci = x.shape
    KH, KW, _, co = k.shape
    (oh, pt), (ow, pl) = tf_padding(h, KH, strides[0], padding), tf_padding(w, KW, strides[1], padding)
    sh, sw = strides
    xp = np.zeros((n, max((oh - 1) * sh + KH, h + pt), max((ow - 1) * sw + KW, w + pl), ci),
                  dtype=np.int64)
    xp[:, pt:pt + h, pl:pl + w] = x
    return tap_sum(xp, k, oh, ow, sh, sw)


def pool_reference(x, size, strides, padding, kind):
    """Integer max/avg pool with TF's padding rule; avg returns (sum, count) for exact rounding."""
    n, h, w, c = x.shape
    (oh, pt), (ow, pl) = (tf_padding(h, size[0], strides[0], padding, "pool"),
                          tf_padding(w, size[1], strides[1], padding, "pool"))
    sh, sw = strides
    H = max((oh - 1) * sh + size[0], h + pt)
    W = max((ow - 1) * sw + size[1], w + pl)
    xp = np.zeros((n, H, W, c), dtype=np.int64)
    valid = np.zeros((1, H, W, 1), dtype=np.int64)
    xp[:, pt:pt + h, pl:pl + w] = x
    valid[:, pt:pt + h, pl:pl + w] = 1
    big = np.iinfo(np.int64).min
    acc = np.full((n, oh, ow, c), big if kind == "max" else 0, dtype=np.int64)
    cnt = np.zeros((1, oh, ow, 1), dtype=np.int64)
    for a in range(size[0]):
        for b in range(size[1]):
            sl = (slice(None), slice(a, a + (oh - 1) * sh + 1, sh),
                  slice(b, b + (ow - 1) * sw + 1, sw), slice(None))
            v, m = xp[sl], valid[sl]
            if kind == "max":
                acc = np.maximum(acc, np.where(m > 0, v, big))
            else:
                acc = acc + v * m
            cnt = cnt + m
    return acc, cnt


def matmul_int(b, a, bm) -> np.ndarray:
    """The matmul core's exact sums per head: a·bᵀ (transpose_b) or a·b on [N, S, C] integers
    (heads = equal blocks of the channels, architecture §22)."""
    a, bm = np.asarray(a, dtype=np.int64), np.asarray(bm, dtype=np.int64)
    (N, S, Ca), T, h = a.shape, bm.shape[1], b.heads
    if b.transpose_b:
        y = np.einsum("nshd,nthd->nsht", a.reshape(N, S, h, Ca // h), bm.reshape(N, T, h, -1))
        return y.reshape(N, S, h * T)
    y = np.einsum("nsht,nthd->nshd", a.reshape(N, S, h, T), bm.reshape(N, T, h, -1))
    return y.reshape(N, S, -1)


def matmul_kernel(b, bm) -> np.ndarray:
    """The engine's weights of a matmul core: one dense kernel [C_a, N·C_out], a column block
    per batch item n, block diagonal over the heads inside it, so that rows n·S + i of a·K hold
    batch n's sums in columns n·C_out .. (n+1)·C_out (the other blocks are discarded;
    architecture §22; the firmware builds it from b at run time)."""
    bm = np.asarray(bm, dtype=np.int64)
    N, T, Cb = bm.shape
    h = b.heads
    if b.transpose_b:
        dh = Cb // h
        K = np.zeros((Cb, N, h, T), dtype=np.int64)
        for hh in range(h):                      # K[hh·dh + d, n, hh, j] = b[n, j, hh·dh + d]
            K[hh * dh:(hh + 1) * dh, :, hh, :] = np.transpose(bm[:, :, hh * dh:(hh + 1) * dh],
                                                             (2, 0, 1))
        return K.reshape(Cb, N * h * T)
    dv = Cb // h
    K = np.zeros((h, T, N, Cb), dtype=np.int64)
    for hh in range(h):                          # K[hh·T + j, n, hh·dv + e] = b[n, j, hh·dv + e]
        K[hh, :, :, hh * dv:(hh + 1) * dv] = np.transpose(bm[:, :, hh * dv:(hh + 1) * dv],
                                                          (1, 0, 2))
    return K.reshape(h * T, N * Cb)


def core_int(b, x, K) -> np.ndarray:
    """The exact sums of a conv / dense core (dense on tokens [N, S, D]: per token)."""
    if b.core_cfg["type"] == "conv":
        return conv_reference(x, K, b.strides, b.padding)
    return exact_matmul(np.asarray(x, dtype=np.int64), K)


def bundle_integer(b, x_int, in_frac, skip=None, operand=None, weights=None) -> BundleRef:
    """All integer stages of bundle `b` given its integer input (and skip = (int, frac); a
    matmul core's operand b = (int, frac); `weights` = b.int_weights() when the caller has
    them already)."""
    r = BundleRef(b.idx, b.name, in_frac, x_int)
    if b.is_matmul:
        r.operand = operand
        r.weights = (matmul_kernel(b, operand[0]), None)
        f_core = in_frac + operand[1]
        y = matmul_int(b, x_int, operand[0])
    else:
        r.weights = b.int_weights() if weights is None else weights
        f_core = in_frac + b.kq.frac
        y = core_int(b, x_int, r.weights[0])
    B = r.weights[1]
    r.stages["core"] = (y, f_core)
    f_s = f_core
    if B is not None:
        f_s = max(f_core, b.bq.frac)
        y = shift_align(y, f_core, f_s) + shift_align(B, b.bq.frac, f_s)
    r.stages["core_bias"] = (y, f_s)
    r.stages.update(after_core_bias(b, y, f_s, skip))
    y, f = r.stages["out"]
    if b.softmax and b.softmax_frac is not None:       # architecture §21
        from .int_ops import i_softmax
        r.softmax_int = i_softmax(y, f, b.softmax_frac)
        r.softmax = r.softmax_int.astype(np.float64) * 2.0 ** -b.softmax_frac
    elif b.softmax:
        z = y.astype(np.float64) * 2.0 ** -f
        z = z - z.max(axis=-1, keepdims=True)
        e = np.exp(z)
        r.softmax = e / e.sum(axis=-1, keepdims=True)
    memo = {}                       # one compact copy of a stage array shared by two names
    for name, (v, fr) in list(r.stages.items()):
        if id(v) not in memo:
            memo[id(v)] = compact(v)
        r.stages[name] = (memo[id(v)], fr)
    return r


def after_core_bias(b, y, f_s, skip=None, fn=True) -> dict:
    """The stages of bundle `b` that follow its biased sums `y` (binary point f_s): activation,
    add, fn, pool, flatten -> {stage: (int array, frac)} in order. Up to the fn stage every one
    is a monotone non-decreasing function of each element of `y` (the float check's bounds rely
    on it, and stop before fn: `fn=False`)."""
    st = {}
    y = requantize(y, f_s, b.act)
    f = b.act.frac
    st["act"] = (y, f)
    if b.add_spec is not None:
        s_int, s_frac = skip
        if s_int.shape != y.shape:
            raise MismatchError(f"bundle {b.idx}: residual add shapes differ: {y.shape} vs "
                                f"skip {s_int.shape}")
        f_t = max(f, s_frac)
        y = shift_align(y, f, f_t) + shift_align(s_int, s_frac, f_t)
        st["add_raw"] = (y, f_t)
        y = requantize(y, f_t, b.add_spec)
        f = b.add_spec.frac
        st["add"] = (y, f)
    if b.fn_cfg is not None:
        if not fn:
            return st
        z = fn_integer(b, y, f)
        st["fn_raw"] = (z, b.fn_frac)
        y = requantize(z, b.fn_frac, b.fn_spec)
        f = b.fn_spec.frac
        st["fn"] = (y, f)
    if b.pool_spec is not None:
        acc, cnt = pool_reference(y, b.pool_size, b.pool_strides, b.pool_padding,
                                  b.pool_cfg["type"])
        if b.pool_cfg["type"] == "max":
            st["pool_raw"] = (acc, f)
            y = requantize(acc, f, b.pool_spec)
        else:
            y = requantize(acc, f, b.pool_spec, count=cnt)
        f = b.pool_spec.frac
        st["pool"] = (y, f)
    if b.flatten:
        y = y.reshape(y.shape[0], -1)
    if b.tokens:
        y = y.reshape(y.shape[0], -1, y.shape[-1])
    st["out"] = (y, f)
    return st


def fn_integer(b, y, f) -> np.ndarray:
    """The integer function stage of bundle `b` on y (binary point f), at b.fn_frac."""
    from .int_ops import i_gelu, i_layernorm, i_softmax
    kind = b.fn_cfg["type"]
    if kind == "gelu":
        return i_gelu(y, f)
    if kind == "layernorm":
        return i_layernorm(y, b.fn_frac)
    g = b.fn_groups
    z = np.asarray(y, dtype=np.int64).reshape(y.shape[:-1] + (g, y.shape[-1] // g))
    return i_softmax(z, f, b.fn_frac).reshape(y.shape)


def fn_float64(b, x) -> tuple:
    """(the float function of the fn stage on x in float64, its integer version's tolerance)."""
    kind = b.fn_cfg["type"]
    if kind == "gelu":
        import math
        erf = np.vectorize(math.erf)
        return x * 0.5 * (1 + erf(x / math.sqrt(2))), INT_GELU_ERR + np.abs(x) * 2.0 ** -20
    if kind == "layernorm":
        c = x - x.mean(axis=-1, keepdims=True)
        sd = np.sqrt((c * c).mean(axis=-1, keepdims=True))
        return np.divide(c, sd, out=np.zeros_like(c), where=sd > 0), \
            INT_LAYERNORM_ERR + 2.0 ** -b.fn_frac
    g = b.fn_groups
    z = x.reshape(x.shape[:-1] + (g, x.shape[-1] // g))
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).reshape(x.shape), \
        INT_SOFTMAX_ERR + 2.0 ** -b.fn_frac


def input_integer(model, x_float):
    """Quantise the float model input with the QInput quantiser -> (int array, frac)."""
    spec = model.input_spec_q
    q = np.array(model.input_quant_layer(np.asarray(x_float, dtype=np.float32)), dtype=np.float64)
    xi = q * 2.0 ** spec.frac
    xr = np.round(xi).astype(np.int64)
    if not np.array_equal(xi, xr):
        raise MismatchError("input quantiser output is not an integer multiple of 2^-frac")
    return xr, spec.frac


def _first_diff(a, b):
    d = np.argwhere(a != b)
    i = tuple(int(v) for v in d[0])
    return i, a[i], b[i], len(d)


F32_UNIT = 2.0 ** -24      # float32 unit roundoff


def float32_bounds(b, r, x_int, skip):
    """{stage: (lo, hi)}: integer bounds of every stage (sums, activation and after) that
    QKeras' float32 forward pass of bundle `b` may give, or None when float32 computes every sum
    exactly (sum of |x|·|k| below 2^24 for every output: all products and partial sums are then
    representable).

    Otherwise a float32 dot product of n terms is within 2·n·u·Σ|x·k| of the exact sum (u = 2^-24;
    twice the textbook γ_n bound, for blocked accumulation orders), plus u·|sum| for the bias add.
    Every later stage is a monotone function of the biased sums (`after_core_bias`), so it lies
    between that function of the lower and of the upper bound (architecture §8.1)."""
    K, B = r.weights
    ka = np.abs(np.asarray(K, dtype=np.int64))
    xa = np.abs(np.asarray(x_int, dtype=np.int64))
    terms = int(np.prod(ka.shape[:-1]))
    if int(xa.max(initial=0)) * int(ka.max(initial=0)) * terms < (1 << 24):
        return None
    s = (matmul_int(b, xa, np.abs(np.asarray(r.operand[0], np.int64))) if b.is_matmul
         else core_int(b, xa, ka))    # int64 before abs: a compact int16 -32768 stays negative
    if int(s.max(initial=0)) < (1 << 24):
        return None
    f_core = r.stages["core"][1]
    cb, f_s = r.stages["core_bias"]
    cb = np.asarray(cb, np.int64)
    t_core = np.ceil(2.0 * terms * F32_UNIT * s).astype(np.int64) + 1
    t_cb = (t_core << (f_s - f_core)) + np.ceil(F32_UNIT * np.abs(cb)).astype(np.int64) + 1
    core = np.asarray(r.stages["core"][0], np.int64)
    lo = after_core_bias(b, cb - t_cb, f_s, skip, fn=False)
    hi = after_core_bias(b, cb + t_cb, f_s, skip, fn=False)
    out = {"core": (core - t_core, core + t_core), "core_bias": (cb - t_cb, cb + t_cb)}
    out.update({k: (lo[k][0], hi[k][0]) for k in lo})
    return out


def float_core(b, xf, kq):
    """The core's sums in TensorFlow from a float input and the quantised kernel (a matmul
    core: its float operand b)."""
    from .tf_setup import tf
    if b.is_matmul:
        return b._matmul(xf, kq)
    if b.core_cfg["type"] == "conv":
        return tf.nn.conv2d(xf, kq, (1,) + tuple(b.strides) + (1,), b.padding.upper())
    return tf.tensordot(xf, kq, 1)


def _float64_sums(b, xf, kq) -> dict:
    """The bundle's core sums and biased sums from its float graph's own input and quantised
    weights in float64 (what float32 computes, without its rounding)."""
    from .tf_setup import tf
    core = np.array(float_core(b, tf.cast(xf, tf.float64), tf.cast(kq, tf.float64)),
                    dtype=np.float64)
    cb = core
    if b.use_bias:
        bq = b.core_layer.bias_quantizer_internal(b.float_weights()[1])
        cb = core + np.array(bq, dtype=np.float64)
    return {"core": core, "core_bias": cb}


def _float_checker(model, x_float, softmax_tol=1e-5):
    """check(bundle, ref): compare every integer stage of one bundle with the QKeras float graph
    (raise on the first mismatch; bundles in order), -> the number of stages checked.

    Each bundle's float graph gets the integer reference's own input and skip (as floats, exact
    for words of <= 16 bits), so a bundle checked within float32 bounds (`float32_bounds`)
    does not move the next one's input; where every stage matches exactly this is the float
    graph's own chain. The outcome is left in `r.float_check`."""
    from .tf_setup import tf

    floats = {-1: tf.constant(np.asarray(x_float, dtype=np.float32))}
    floats[-1] = model.input_quant_layer(floats[-1])
    ints = {-1: input_integer(model, x_float)}

    def as_float(v, frac):
        return tf.constant((np.asarray(v, dtype=np.float64) * 2.0 ** -frac).astype(np.float32))

    def check(b, r):
        checked = 0
        src, skip = model.bundle_sources[b.idx]
        xf = floats[src]
        sk = floats[skip] if skip is not None else None
        st = b.stages(xf, floats[b.operand_src] if b.is_matmul else sk)
        bounds = None            # computed at the first stage that is not exact
        within = 0
        # core without bias, computed with the same quantised kernel
        kq = floats[b.operand_src] if b.is_matmul else b.quantized_kernel()
        st = dict(st)
        st["core"] = float_core(b, xf, kq)
        sums64 = None
        before_fn = True
        for name, (yi, frac) in r.stages.items():
            if name == "fn_raw":
                before_fn = False       # the fn stages are checked by _check_fn (tolerance)
            if name not in st or not before_fn:
                continue
            fv = np.array(st[name], dtype=np.float64) * 2.0 ** frac
            is_sum = name in ("core", "core_bias")
            if fv.shape == yi.shape and not np.array_equal(fv, yi.astype(np.float64)) \
                    and bounds is None:
                bounds = float32_bounds(b, r, r.in_int, ints[skip] if skip is not None else None)
            if is_sum and bounds is not None and fv.shape == yi.shape and \
                    not np.array_equal(fv, yi.astype(np.float64)):
                # float32 cannot hold these sums: QKeras' own value must lie within float32's
                # error bound, and the same graph in float64 (|sum| < 2^53 for bits_sum <= 48)
                # must equal the integer sums exactly
                lo, hi = bounds[name]
                bad = (fv < lo) | (fv > hi)
                if bad.any():
                    i = tuple(int(v) for v in np.argwhere(bad)[0])
                    raise MismatchError(
                        f"bundle {b.idx} ({b.name}) stage '{name}' (frac {frac}): "
                        f"{int(bad.sum())} QKeras sums outside the float32 error bound; first at "
                        f"index {i}: QKeras float*2^{frac} = {fv[i]}, integer = {yi[i]}, bound "
                        f"[{lo[i]}, {hi[i]}]")
                sums64 = sums64 or _float64_sums(b, xf, kq)
                fv = sums64[name] * 2.0 ** frac
            if fv.shape != yi.shape:
                raise MismatchError(f"bundle {b.idx} ({b.name}) stage '{name}': shape "
                                    f"float {fv.shape} vs int {yi.shape}")
            exact = np.array_equal(fv, yi.astype(np.float64))
            if not exact and not is_sum and bounds is not None and name in bounds:
                lo, hi = bounds[name]
                yv = np.asarray(yi, dtype=np.int64)
                bad = (fv < lo) | (fv > hi) | (yv < lo) | (yv > hi)
                if not bad.any():
                    within += int(np.count_nonzero(fv != yi))
                    checked += 1
                    continue
                i = tuple(int(v) for v in np.argwhere(bad)[0])
                raise MismatchError(
                    f"bundle {b.idx} ({b.name}) stage '{name}' (frac {frac}): "
                    f"{int(bad.sum())} values where QKeras or the integer reference lies outside "
                    f"the float32 error bound; first at index "
                    f"{i}: QKeras float*2^{frac} = {fv[i]}, integer = {yi[i]}, float32 bound "
                    f"[{lo[i]}, {hi[i]}]")
            if not exact:
                i, a, c, n = _first_diff(fv, yi.astype(np.float64))
                raise MismatchError(
                    f"bundle {b.idx} ({b.name}) stage '{name}' (frac {frac}): {n} mismatches; "
                    f"first at index {i}: QKeras float*2^{frac} = {a}, integer = {c}")
            checked += 1
        if b.fn_cfg is not None:
            checked += _check_fn(b, r, st, exact_in=bounds is None and sums64 is None)
        if b.softmax:
            sf = np.array(st["softmax"], dtype=np.float64)
            err = np.max(np.abs(sf - r.softmax))
            tol = softmax_tol if b.softmax_frac is None else \
                INT_SOFTMAX_ERR + 2.0 ** -b.softmax_frac    # the integer softmax's bound (§21)
            if err > tol:
                raise MismatchError(f"bundle {b.idx} softmax differs by {err} > tol {tol}")
            checked += 1
        r.float_check = ({"mode": "exact"} if bounds is None and sums64 is None else
                         {"mode": "sums exact in float64, quantised stages within the float32 "
                                  "bound", "values_within_bound": within})
        if b.fn_cfg is not None:
            r.float_check = dict(r.float_check, mode=r.float_check["mode"] + f"; {b.fn_cfg['type']}"
                                 f" within its integer tolerance (architecture §21)")
        ints[b.idx] = (r.out, r.out_frac)
        floats[b.idx] = as_float(r.out, r.out_frac)
        return checked
    return check


def _check_fn(b, r, st, exact_in) -> int:
    """The fn stage against its float function (architecture §21–§22): the integer result within
    the documented tolerance of the float64 function of the same integer input, and the quantised
    result between QKeras' quantiser of (float − tol) and of (float + tol) — a monotone
    bracket, one step wide where the float value is within tol of a rounding boundary. When
    the stages before were exact, QKeras' own float graph is held to the same bracket."""
    from .tf_setup import tf
    before = "add" if b.add_spec is not None else "act"
    y, f = r.stages.get(before) or (None, None)
    if y is None:
        raise MismatchError(f"bundle {b.idx} ({b.name}): fn check needs stage {before!r}")
    ref, tol = fn_float64(b, np.asarray(y, np.float64) * 2.0 ** -f)
    z, fz = r.stages["fn_raw"]
    err = np.abs(np.asarray(z, np.float64) * 2.0 ** -fz - ref) - tol
    if err.max(initial=-1) > 0:
        i = tuple(int(v) for v in np.argwhere(err > 0)[0])
        raise MismatchError(f"bundle {b.idx} ({b.name}) stage 'fn_raw' ({b.fn_cfg['type']}): "
                            f"integer {z[i] * 2.0 ** -fz} vs float {ref[i]} at {i}, off by more "
                            f"than the tolerance {np.broadcast_to(tol, ref.shape)[i]}")
    q, fq = r.stages["fn"]

    def quant(v):
        return np.array(b.fn_act(tf.constant(v.astype(np.float32))), np.float64) * 2.0 ** fq
    lo, hi = quant(ref - tol), quant(ref + tol)
    sides = [("integer reference", np.asarray(q, np.float64))]
    if exact_in:
        sides.append(("QKeras", np.array(st["fn"], np.float64) * 2.0 ** fq))
    for who, v in sides:
        bad = (v < lo) | (v > hi)
        if v.shape != lo.shape or bad.any():
            i = tuple(int(k) for k in np.argwhere(bad)[0]) if v.shape == lo.shape else None
            raise MismatchError(f"bundle {b.idx} ({b.name}) stage 'fn' (frac {fq}): {who} "
                                f"{None if i is None else v[i]} outside the quantised tolerance "
                                f"bracket {None if i is None else (lo[i], hi[i])} at {i}")
    return 2


def check_against_float(model, refs, x_float, softmax_tol=1e-5):
    """Compare every integer stage with the QKeras float graph; raise on the first mismatch."""
    check = _float_checker(model, x_float, softmax_tol)
    return sum(check(b, r) for b, r in zip(model.bundles, refs))


def iter_reference(model, x_float, check=True, weights=None):
    """The integer forward pass one bundle at a time (each checked against the float graph when
    `check`): a consumer that keeps only what it needs holds one bundle's stages at a time.
    `weights(b)`, if given, returns b.int_weights() (the export computes them once for its
    fingerprint and the reference)."""
    x_int, f_in = input_integer(model, x_float)
    outs = {-1: (x_int, f_in)}
    checker = _float_checker(model, x_float) if check else None
    for b in model.bundles:
        src, skip = model.bundle_sources[b.idx]
        xi, fi = outs[src]
        r = bundle_integer(b, xi, fi, outs[skip] if skip is not None else None,
                           outs[b.operand_src] if b.is_matmul else None,
                           None if weights is None or b.is_matmul else weights(b))
        if checker is not None:
            checker(b, r)
        outs[b.idx] = (r.out, r.out_frac)
        yield r


def check_graph_mode(model, x_float, last, softmax_tol=1e-5):
    """The user's `model.predict` (graph mode: TensorFlow optimises the whole graph) against the
    integer reference's final output — exact, or within the softmax bound. The per-bundle check
    runs each bundle eagerly, so a graph optimisation that changes QKeras' rounding would pass it
    (architecture §8.1: grappler's arithmetic optimizer did). Call only when every bundle's
    float check was exact (wide words are compared within a bound, not exactly)."""
    b = model.bundles[-1]
    y = np.asarray(model.predict(np.asarray(x_float, np.float32), verbose=0), np.float64)
    if last.softmax is not None:
        want = last.softmax
        tol = softmax_tol if b.softmax_frac is None else INT_SOFTMAX_ERR + 2.0 ** -b.softmax_frac
    else:
        want, tol = last.out.astype(np.float64) * 2.0 ** -last.out_frac, 0.0
    y, want = y.reshape(-1), np.asarray(want, np.float64).reshape(-1)
    bad = np.flatnonzero(np.abs(y - want) > tol) if y.shape == want.shape else np.arange(1)
    if bad.size:
        i = int(bad[0])
        raise MismatchError(
            f"model.predict (graph mode) is off the integer reference in {bad.size} of "
            f"{want.size} outputs (first at {i}: {y[i] if i < y.size else None} vs {want[i]}), "
            f"though every bundle alone agreed: a TensorFlow graph optimisation changed QKeras' "
            f"arithmetic (architecture §8.1; frontend/tf_setup.py)")


def run_reference(model, x_float, check=True):
    """Integer forward pass of `model` on `x_float` -> list of BundleRef (one per bundle)."""
    return list(iter_reference(model, x_float, check))

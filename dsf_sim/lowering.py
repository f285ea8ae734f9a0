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

from .errors import HardwareError, ModelError
from .layout import JobGeometry


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

    @property
    def k_e(self) -> int:
        return 2 * self.radius + 1


def plan_dim(size, k, s, padding) -> DimPlan:
    if padding == "same":
        out = -(-size // s)
        pt = max((out - 1) * s + k - size, 0) // 2
    else:
        if size < k:
            raise ModelError("conv", "input size", size, f">= kernel size {k} for 'valid'")
        out = (size - k) // s + 1
        pt = 0
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


@dataclass
class CoreMapping:
    """Everything the firmware and the engine need to run one bundle's core."""

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

    @property
    def KH(self):
        return self.H.k_e

    @property
    def KW(self):
        return self.W.k_e

    def pass_channels(self, p):
        lo = p * self.CM
        return lo, min(self.CI_E, lo + self.CM)

    def iter_channels(self, it):
        lo = it * self.CO_PRL
        return lo, min(self.CO, lo + self.CO_PRL)

    def geometry(self, p) -> JobGeometry:
        lo, hi = self.pass_channels(p)
        return JobGeometry(KH=self.KH, KW=self.KW, CM=hi - lo, XN=self.XN, XH=self.H.size_e,
                           XW=self.W.size_e, x_signed=self.x_signed)

    def jobs(self):
        """(it, p) in firmware order."""
        for it in range(self.IT):
            for p in range(self.CP):
                yield it, p


def map_core(b, in_shape, x_signed, hw) -> CoreMapping:
    """Lower bundle `b` (input shape NHWC or NF) to engine jobs, checking hardware limits."""
    where = f"bundle {b.idx} ({b.name})"
    if b.core_cfg["type"] == "dense":
        n, f = in_shape
        H = plan_dim(n, 1, 1, "same")
        W = plan_dim(1, 1, 1, "same")
        xn, ci, sh, sw = 1, f, 1, 1
        if n > hw.XN_MAX:
            raise HardwareError(f"{where}: batch", n, f"<= max_batch_size {hw.XN_MAX}")
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
        raise HardwareError(f"{where}: engine image height", H.size_e,
                            f"<= {hw.XL_MAX * hw.ROWS} (XL_MAX*ROWS)")
    if W.size_e > hw.XW_MAX:
        raise HardwareError(f"{where}: engine image width", W.size_e,
                            f"<= max_image_size W {hw.XW_MAX}")
    ci_e = ci * len(H.phases) * len(W.phases)  # phases without taps are not sent at all
    cm = min(hw.RAM_WEIGHTS_DEPTH // kh_e, ci_e)
    co_prl = hw.COLS // kw_e
    co = b.filters
    return CoreMapping(b.core_cfg["type"], xn, H, W, ci, co, ci_e, cm, -(-ci_e // cm), co_prl,
                       -(-co // co_prl), bool(x_signed))


# ----------------------------------------------------------------------------- tensors
def _gather_axis(x, axis, plan: DimPlan, phase: int):
    """Engine-axis view of phase `phase`: out[i] = x[(i + t)*s + phase], zero outside."""
    idx = (np.arange(plan.size_e) + plan.t) * plan.s + phase
    valid = (idx >= 0) & (idx < plan.size)
    taken = np.take(x, np.clip(idx, 0, plan.size - 1), axis=axis)
    shape = [1] * x.ndim
    shape[axis] = plan.size_e
    return taken * valid.reshape(shape)


def lower_input(m: CoreMapping, x: np.ndarray) -> np.ndarray:
    """Bundle input (NHWC ints, or NF for dense) -> engine image [XN, XH_e, XW_e, CI_E]."""
    x = np.asarray(x, dtype=np.int64)
    if m.kind == "dense":
        return x[None, :, None, :]
    parts = []
    for ph in m.H.phases:
        xh = _gather_axis(x, 1, m.H, ph)
        for pw in m.W.phases:
            parts.append(_gather_axis(xh, 2, m.W, pw))
    return np.concatenate(parts, axis=3)  # channel = (iH*len(W.phases) + iW)*CI + ci


def lower_weights(m: CoreMapping, k: np.ndarray) -> np.ndarray:
    """Kernel [KH, KW, CI, CO] (dense: [CI, CO]) -> engine kernel [KH_e, KW_e, CI_E, CO]."""
    k = np.asarray(k, dtype=np.int64)
    if m.kind == "dense":
        return k[None, None]
    KHo, KWo, CI, CO = k.shape
    out = np.zeros((m.KH, m.KW, m.CI_E, CO), dtype=np.int64)
    for ih, ph in enumerate(m.H.phases):
        for iw, pw in enumerate(m.W.phases):
            base = (ih * len(m.W.phases) + iw) * CI
            for eh in range(m.KH):
                kh = (m.H.c + eh - m.H.radius) * m.H.s + ph + m.H.pt
                if not 0 <= kh < KHo:
                    continue
                for ew in range(m.KW):
                    kw = (m.W.c + ew - m.W.radius) * m.W.s + pw + m.W.pt
                    if 0 <= kw < KWo:
                        out[eh, ew, base:base + CI, :] = k[kh, kw]
    return out


def crop_output(m: CoreMapping, y_e: np.ndarray) -> np.ndarray:
    """Engine-shaped sums [XN, >=XH_e, XW_e, CO] -> layer output NHWC (dense: NF)."""
    y = y_e[:, m.H.r0:m.H.r0 + m.H.out, m.W.r0:m.W.r0 + m.W.out, :]
    if m.kind == "dense":
        return y[0, :, 0, :]
    return y


def conv_reference(x, k, strides, padding) -> np.ndarray:
    """Direct integer convolution with TensorFlow's padding rule (the mathematical truth)."""
    x = np.asarray(x, dtype=np.int64)
    k = np.asarray(k, dtype=np.int64)
    n, h, w, ci = x.shape
    KH, KW, _, co = k.shape
    ph, pw = plan_dim(h, KH, strides[0], padding), plan_dim(w, KW, strides[1], padding)
    hp = (ph.out - 1) * ph.s + KH
    wp = (pw.out - 1) * pw.s + KW
    xp = np.zeros((n, max(hp, h + ph.pt), max(wp, w + pw.pt), ci), dtype=np.int64)
    xp[:, ph.pt:ph.pt + h, pw.pt:pw.pt + w] = x
    y = np.zeros((n, ph.out, pw.out, co), dtype=np.int64)
    for a in range(KH):
        for b in range(KW):
            y += xp[:, a:a + (ph.out - 1) * ph.s + 1:ph.s, b:b + (pw.out - 1) * pw.s + 1:pw.s] @ k[a, b]
    return y

"""Engine stream layouts (architecture §2–§3) and their exact inverses.

One job = one (bundle, pass, iteration). These functions are the single Python definition of the
bytes the engine sees and produces; the firmware (C) and the RTL implement the same layouts and the
tests round-trip every packer through its inverse.
"""
from __future__ import annotations

import numpy as np

from ..frontend.exact_conv import tap_sum
from ..errors import HardwareError
from .geometry import JobGeometry, packet_last_keep, weight_row_beats
from .post import pack_config, unpack_config


# ----------------------------------------------------------------------------- bit packing
def pack_words(words: np.ndarray, bits: int) -> np.ndarray:
    """Two's-complement words -> bytes, LSB-first; last axis is the word axis.

    The last axis length times `bits` must be a multiple of 8.
    """
    words = np.asarray(words)
    if words.dtype.kind not in "iu":
        words = words.astype(np.int64)
    n = words.shape[-1]
    if (n * bits) % 8:
        raise ValueError(f"pack_words: {n} words x {bits} bits is not a whole number of bytes")
    if bits >= 8:
        words = words.astype(np.int64, copy=False)
        nbytes = bits // 8
        u = words.view(np.uint64) if bits == 64 else (words & ((1 << bits) - 1)).astype(np.uint64)
        out = np.zeros(words.shape[:-1] + (n, nbytes), dtype=np.uint8)
        for b in range(nbytes):
            out[..., b] = (u >> np.uint64(8 * b)) & np.uint64(0xFF)
        return out.reshape(words.shape[:-1] + (n * nbytes,))
    per = 8 // bits
    u = (words & ((1 << bits) - 1)).astype(np.uint8).reshape(words.shape[:-1] + (n // per, per))
    out = np.zeros(u.shape[:-1], dtype=np.uint8)
    for i in range(per):
        out |= (u[..., i] << (i * bits)).astype(np.uint8)
    return out


def unpack_words(data: np.ndarray, bits: int, signed: bool = True) -> np.ndarray:
    """Inverse of `pack_words`: bytes (last axis) -> int64 words."""
    data = np.asarray(data, dtype=np.uint8)
    if bits >= 8:
        nbytes = bits // 8
        d = data.reshape(data.shape[:-1] + (-1, nbytes)).astype(np.uint64)
        u = np.zeros(d.shape[:-1], dtype=np.uint64)
        for b in range(nbytes):
            u |= d[..., b] << np.uint64(8 * b)
        v = u.view(np.int64) if bits == 64 else u.astype(np.int64)
        if bits == 64:
            return v
    else:
        per = 8 // bits
        parts = [((data >> (i * bits)) & ((1 << bits) - 1)) for i in range(per)]
        v = np.stack(parts, axis=-1).reshape(data.shape[:-1] + (-1,)).astype(np.int64)
    if signed:
        v = np.where(v >= (1 << (bits - 1)), v - (1 << bits), v)
    return v


def wrap_signed(v: np.ndarray, bits: int) -> np.ndarray:
    """Wrap integers to `bits`-bit two's complement (what an accumulator register does)."""
    v = np.asarray(v, dtype=np.int64)
    m = 1 << bits
    return ((v + (m >> 1)) % m) - (m >> 1)


# ----------------------------------------------------------------------------- header
def pack_header(hw, **fields) -> np.ndarray:
    """One header beat (uint8[AXI_BYTES]) from named fields, LSB-first in HEADER_FIELDS order."""
    value, off = 0, 0
    for name, width in hw.header_fields:
        v = int(fields.pop(name))
        if not 0 <= v < (1 << width):
            raise HardwareError(f"header field {name}", v, f"0..{(1 << width) - 1} ({width} bits)")
        value |= v << off
        off += width
    if fields:
        raise ValueError(f"pack_header: unknown fields {sorted(fields)}")
    return np.frombuffer(value.to_bytes(hw.AXI_BYTES, "little"), dtype=np.uint8).copy()


def unpack_header(hw, beat: np.ndarray) -> dict:
    value = int.from_bytes(bytes(np.asarray(beat, dtype=np.uint8)), "little")
    out, off = {}, 0
    for name, width in hw.header_fields:
        out[name] = (value >> off) & ((1 << width) - 1)
        off += width
    return out


def job_header(hw, geom: JobGeometry) -> np.ndarray:
    return pack_header(hw, **geom.header_fields(hw))


def _keep_for(nbits_last: int, hw) -> np.ndarray:
    keep = np.zeros(hw.AXI_BYTES, dtype=bool)
    keep[: -(-nbits_last // 8)] = True
    return keep


def _stream_keep(hw, n_beats: int, last_beat_bits: int) -> np.ndarray:
    keep = np.ones((n_beats, hw.AXI_BYTES), dtype=bool)
    keep[-1] = _keep_for(last_beat_bits, hw)
    return keep


# ----------------------------------------------------------------------------- weights
def weights_ram_rows(hw, geom: JobGeometry, w: np.ndarray) -> np.ndarray:
    """w[KH, KW, CM, co<=CO_PRL] -> RAM rows [CM*KH, COLS] (row ci*KH+kh, column g*KW+k)."""
    KH, KW, CM = geom.KH, geom.KW, geom.CM
    co_prl = geom.CO_PRL(hw)
    if w.shape[:3] != (KH, KW, CM) or w.shape[3] > co_prl:
        raise ValueError(f"weights shape {w.shape} does not fit job {geom} (CO_PRL={co_prl})")
    rows = np.zeros((CM, KH, hw.COLS), dtype=np.int64)
    co = w.shape[3]
    # column c = g*KW + k  <- w[kh, k, ci, g]
    t = np.transpose(w, (2, 0, 3, 1)).reshape(CM, KH, co * KW)  # [ci, kh, g*KW+k]
    rows[:, :, : co * KW] = t
    return rows.reshape(CM * KH, hw.COLS)


def pack_post_beats(hw, cfg: dict, bias) -> np.ndarray:
    """A finish job's configuration and bias beats (architecture §17.2): POST_BEATS beats of the
    POST_FIELDS (LSB first), then BIAS_BEATS beats of COLS B_BITS words (word g = the bias of
    the job's output channel g, 0 where there is none)."""
    value = pack_config(cfg)
    post = np.frombuffer(value.to_bytes(hw.POST_BEATS * hw.AXI_BYTES, "little"), np.uint8)
    words = np.zeros(hw.BIAS_BEATS * hw.AXI_WIDTH // hw.B_BITS, dtype=np.int64)
    bias = np.asarray(bias, dtype=np.int64).reshape(-1)
    if bias.size > hw.COLS:
        raise ValueError(f"pack_post_beats: {bias.size} bias words > COLS = {hw.COLS}")
    words[: bias.size] = bias
    return np.concatenate([post, pack_words(words, hw.B_BITS)]).reshape(-1, hw.AXI_BYTES)


def unpack_post_beats(hw, beats: np.ndarray):
    """Inverse of pack_post_beats -> (cfg dict, bias words [COLS])."""
    beats = np.asarray(beats, dtype=np.uint8).reshape(-1, hw.AXI_BYTES)
    post = beats[: hw.POST_BEATS].reshape(-1)
    value = int.from_bytes(bytes(post), "little") & ((1 << hw.POST_BITS) - 1)
    bias = unpack_words(beats[hw.POST_BEATS: hw.POST_BEATS + hw.BIAS_BEATS].reshape(-1),
                        hw.B_BITS)[: hw.COLS]
    return unpack_config(value), bias


def pack_weights_job(hw, geom: JobGeometry, w: np.ndarray, post=None):
    """-> (beats uint8[1+(POST+BIAS)+CM*KH*WB, AXI_BYTES], keep bool[...]) including the header
    beat; `post` = (cfg, bias words) for a finish job (geom.finish)."""
    if bool(geom.finish) != (post is not None):
        raise ValueError(f"pack_weights_job: finish = {geom.finish} but post = {post is not None}")
    rows = weights_ram_rows(hw, geom, np.asarray(w, dtype=np.int64))
    words_per_row = hw.WB * hw.AXI_WIDTH // hw.K_BITS
    padded = np.zeros((rows.shape[0], words_per_row), dtype=np.int64)
    padded[:, : hw.COLS] = rows
    body = pack_words(padded, hw.K_BITS).reshape(-1, hw.AXI_BYTES)
    parts = [job_header(hw, geom)[None, :]]
    if post is not None:
        parts.append(pack_post_beats(hw, *post))
    beats = np.concatenate(parts + [body], axis=0)
    last_bits = hw.COLS * hw.K_BITS - (weight_row_beats(hw) - 1) * hw.AXI_WIDTH
    return beats, _stream_keep(hw, len(beats), last_bits)


def unpack_weights_job(hw, geom: JobGeometry, beats: np.ndarray, with_post: bool = False):
    """Inverse of pack_weights_job -> w[KH, KW, CM, CO_PRL] (and (cfg, bias) or None)."""
    KH, KW, CM = geom.KH, geom.KW, geom.CM
    beats = np.asarray(beats, dtype=np.uint8).reshape(-1, hw.AXI_BYTES)
    npost = hw.POST_BEATS + hw.BIAS_BEATS if geom.finish else 0
    post = unpack_post_beats(hw, beats[1:1 + npost]) if geom.finish else None
    body = beats[1 + npost:].reshape(CM * KH, hw.WB * hw.AXI_BYTES)
    rows = unpack_words(body, hw.K_BITS)[:, : hw.COLS]
    co_prl = geom.CO_PRL(hw)
    t = rows[:, : co_prl * KW].reshape(CM, KH, co_prl, KW)
    w = np.transpose(t, (1, 3, 0, 2))
    return (w, post) if with_post else w


# ----------------------------------------------------------------------------- pixels
def pixel_columns(hw, geom: JobGeometry, x: np.ndarray) -> np.ndarray:
    """x[XN, XH, XW, CM] -> pixel columns [XN, XL, XW, CM, PR] with halo and zero fill."""
    XN, XH, XW, CM = x.shape
    if (XN, XH, XW, CM) != (geom.XN, geom.XH, geom.XW, geom.CM):
        raise ValueError(f"pixels shape {x.shape} does not match job {geom}")
    XL, P, R = geom.XL(hw), geom.P_H, hw.ROWS
    dt = x.dtype if x.dtype.kind in "iu" else np.int64
    xp = np.zeros((XN, XL * R + 2 * P, XW, CM), dtype=dt)
    xp[:, P:P + XH] = x
    idx = np.arange(XL)[:, None] * R + np.arange(R + 2 * P)[None, :]  # [XL, PR]
    cols = xp[:, idx]  # [XN, XL, PR, XW, CM]
    return np.transpose(cols, (0, 1, 3, 4, 2))


def pack_pixels_job(hw, geom: JobGeometry, x: np.ndarray):
    """-> (beats uint8[1+XN*XL*XW*CB*PB, AXI_BYTES], keep) including the header beat: each
    position's CM columns in CB slots of PB beats, PK columns per slot (architecture §3)."""
    # pixel words fit int16 (X_BITS <= 8; unsigned 16-bit words int32): a quarter (a half) of
    # the memory of int64 for the columns
    small = np.int16 if hw.X_BITS <= 8 else np.int32
    cols = pixel_columns(hw, geom, np.asarray(x).astype(small, copy=False))
    PR, PB, PK, CB, CM = geom.PR(hw), geom.PB(hw), geom.PK(hw), geom.CB(hw), geom.CM
    if CB * PK != CM:          # the position's last slot: the rest, then zero columns
        cols = np.concatenate([cols, np.zeros(cols.shape[:3] + (CB * PK - CM, PR), cols.dtype)],
                              axis=3)
    flat = cols.reshape(-1, PK * PR)
    # pack a slot's PK*PR words, then zero words up to the slot's PB whole beats (a whole
    # number of bytes: AXI_WIDTH is a multiple of 8)
    slot_words = PB * hw.AXI_WIDTH // hw.X_BITS
    if slot_words != PK * PR:
        flat = np.concatenate([flat, np.zeros((flat.shape[0], slot_words - PK * PR),
                                              flat.dtype)], axis=1)
    body = pack_words(flat, hw.X_BITS).reshape(-1, hw.AXI_BYTES)
    beats = np.concatenate([job_header(hw, geom)[None, :], body], axis=0)
    last_bits = (CM - (CB - 1) * PK) * PR * hw.X_BITS - (PB - 1) * hw.AXI_WIDTH
    return beats, _stream_keep(hw, len(beats), last_bits)


def unpack_pixels_job(hw, geom: JobGeometry, beats: np.ndarray) -> np.ndarray:
    """Inverse of pack_pixels_job -> x[XN, XH, XW, CM]."""
    XL, PR, PB, PK, CB = geom.XL(hw), geom.PR(hw), geom.PB(hw), geom.PK(hw), geom.CB(hw)
    body = np.asarray(beats[1:], dtype=np.uint8)
    body = body.reshape(geom.XN, XL, geom.XW, CB, PB * hw.AXI_BYTES)
    cols = unpack_words(body, hw.X_BITS, signed=geom.x_signed)[..., :PK * PR]
    cols = cols.reshape(geom.XN, XL, geom.XW, CB * PK, PR)[:, :, :, :geom.CM]
    P, R = geom.P_H, hw.ROWS
    inner = cols[..., P:P + R]  # [XN, XL, XW, CM, R]
    x = np.transpose(inner, (0, 1, 4, 2, 3)).reshape(geom.XN, XL * R, geom.XW, geom.CM)
    return x[:, : geom.XH]


# ----------------------------------------------------------------------------- engine maths
def engine_job_reference(hw, geom: JobGeometry, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The engine's raw sums for one job: [XN, XL*ROWS, XW, CO_PRL], wrapped at Y_BITS.

    'same' stride-1 correlation over the image zero-filled to XL*ROWS rows (rows >= XH are
    computed too, exactly as the array does, and discarded by the firmware).
    """
    x = np.asarray(x, dtype=np.int64)
    w = np.asarray(w, dtype=np.int64)
    XL, R = geom.XL(hw), hw.ROWS
    PH, PW = geom.P_H, geom.P_W
    xp = np.zeros((geom.XN, XL * R + 2 * PH, geom.XW + 2 * PW, geom.CM), dtype=np.int64)
    xp[:, PH:PH + geom.XH, PW:PW + geom.XW] = x
    co_prl = geom.CO_PRL(hw)
    wf = np.zeros((geom.KH, geom.KW, geom.CM, co_prl), dtype=np.int64)
    wf[..., : w.shape[3]] = w
    return wrap_signed(tap_sum(xp, wf, XL * R, geom.XW), hw.Y_BITS)


# ----------------------------------------------------------------------------- output
def pack_output_job(hw, geom: JobGeometry, y: np.ndarray):
    """y[XN, XL*ROWS, XW, CO_PRL] -> (data uint8[n, AXI_BYTES], keep bool[n, AXI_BYTES], last bool[n]).

    Raw job: packet words r*CO_PRL+g of Y_OUT_BITS. Finish job (architecture §17.2): y holds the
    finished X_BITS words, packet words g*ROWS+r (channel-major) of the job's first CG channel
    groups only. TKEEP is all ones except on the job's last (TLAST) beat; inner packets' pad
    bytes are zeros.
    """
    XL, R, co_prl, OB = geom.XL(hw), hw.ROWS, geom.CO_PRL(hw), geom.OB(hw)
    y = np.asarray(y, dtype=np.int64).reshape(geom.XN, XL, R, geom.XW, co_prl)
    if geom.finish:
        cg = geom.CG(hw)
        pk = np.transpose(y[..., :cg], (0, 1, 3, 4, 2)).reshape(-1, R * cg)   # words g*ROWS+r
        bits = hw.X_BITS
    else:
        pk = np.transpose(y, (0, 1, 3, 2, 4)).reshape(-1, R * co_prl)   # words r*CO_PRL+g
        bits = hw.Y_OUT_BITS
    words_per_packet = OB * hw.AXI_WIDTH // bits
    padded = np.zeros((pk.shape[0], words_per_packet), dtype=np.int64)
    padded[:, : pk.shape[1]] = pk
    data = pack_words(padded, bits).reshape(-1, hw.AXI_BYTES)
    keep = np.ones((len(data), hw.AXI_BYTES), dtype=bool)
    # inner packets' pad bytes are sent as kept zeros; only the job's TLAST beat is partial
    keep[-1, packet_last_keep(hw, geom.P_W, geom.finish, geom.cg):] = False
    last = np.zeros(len(data), dtype=bool)
    last[-1] = True
    return data, keep, last


def unpack_output_job(hw, geom: JobGeometry, data: np.ndarray, signed: bool = True) -> np.ndarray:
    """Inverse of pack_output_job -> y[XN, XL*ROWS, XW, CO_PRL] (finish jobs: X_BITS words,
    sign-extended if `signed`; zero for the channel groups past the packets' CG)."""
    XL, R, co_prl, OB = geom.XL(hw), hw.ROWS, geom.CO_PRL(hw), geom.OB(hw)
    d = np.asarray(data, dtype=np.uint8).reshape(geom.XN, XL, geom.XW, OB * hw.AXI_BYTES)
    if geom.finish:
        cg = geom.CG(hw)
        words = np.zeros((geom.XN, XL, geom.XW, co_prl * R), dtype=np.int64)
        words[..., : R * cg] = unpack_words(d, hw.X_BITS, signed)[..., : R * cg]
        words = words.reshape(geom.XN, XL, geom.XW, co_prl, R)
        return np.transpose(words, (0, 1, 4, 2, 3)).reshape(geom.XN, XL * R, geom.XW, co_prl)
    words = unpack_words(d, hw.Y_OUT_BITS)[..., : R * co_prl].reshape(geom.XN, XL, geom.XW, R, co_prl)
    return np.transpose(words, (0, 1, 3, 2, 4)).reshape(geom.XN, XL * R, geom.XW, co_prl)


def finish_job_reference(hw, geom: JobGeometry, raw: np.ndarray, cfg: dict, bias,
                         skip: np.ndarray | None = None) -> np.ndarray:
    """The finished words of one job [XN, XL*ROWS, XW, CO_PRL] (unsigned X_BITS view) from its
    raw sums, its COLS bias words and (ADD) its skip words in the same coordinates."""
    from .post import finish_words
    co_prl = geom.CO_PRL(hw)
    b = np.asarray(bias, dtype=np.int64).reshape(-1)[:co_prl]
    bias_full = np.zeros(co_prl, dtype=np.int64)
    bias_full[: b.size] = b
    if cfg["ADD"] and skip is None:
        raise ValueError("finish_job_reference: an ADD job needs its skip words")
    return finish_words(hw, raw, bias_full[None, None, None, :], cfg, skip if cfg["ADD"] else None)


def skip_words_of_stream(hw, geom: JobGeometry, data: np.ndarray, signed: bool) -> np.ndarray:
    """The skip words [XN, XL*ROWS, XW, CO_PRL] a skip stream (finished-output format) carries."""
    return unpack_output_job(hw, geom, data, signed)


# ----------------------------------------------------------------------------- job streams
def as_beats(stream, axi_bytes: int):
    """A stream given as beats or (beats, keep) -> (uint8[n, B], bool[n, B]); keep defaults to
    all ones."""
    beats, keep = stream if isinstance(stream, tuple) else (stream, None)
    beats = np.asarray(beats, dtype=np.uint8).reshape(-1, axi_bytes)
    keep = np.ones(beats.shape, dtype=bool) if keep is None else \
        np.asarray(keep, dtype=bool).reshape(beats.shape)
    return beats, keep


def job_beats(job, axi_bytes: int):
    """One job's input streams -> ((weight beats, keep), (pixel beats, keep), (skip beats, keep));
    the job is a (weights, pixels[, skip]) tuple, a {"weights", "pixels"[, "skip"]} dict or an
    object with those attributes. A job without a skip stream has zero skip beats."""
    if isinstance(job, dict):
        w, p, s = job["weights"], job["pixels"], job.get("skip")
    elif hasattr(job, "weights") and hasattr(job, "pixels"):
        w, p, s = job.weights, job.pixels, getattr(job, "skip", None)
    else:
        w, p, s = (tuple(job) + (None,))[:3]
    if s is None:
        s = np.zeros((0, axi_bytes), np.uint8)
    return as_beats(w, axi_bytes), as_beats(p, axi_bytes), as_beats(s, axi_bytes)

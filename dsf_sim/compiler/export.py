"""Export a QModel for the engine: DRAM image, firmware descriptors and expected vectors.

Files (in `out_dir`):
  config_fw.h   the firmware's input (architecture §6, §10): #include "dsf_cfg.h" and the tables
                dsf_bundles[], dsf_parts[], dsf_passes[], dsf_pixel_headers[][]
  dsf_cfg.h     the hardware header (architecture §1.3)
  weights.bin   per bundle: every job's weights stream (header + rows, order it→p), then the
                bias block (CO words of B_BITS, padded to whole beats)
  input.bin     bundle 0's pixel streams, one per pass (header + pixel columns)
  Multi-part bundles (architecture §9.3): jobs are ordered part→it→p, pass indices p are
  global over the bundle's parts (part q owns passes p0..p0+CP-1), so the per-pass / per-job file
  names below stay unique; config_fw.h's `dsf_part_t dsf_parts[]` has one row per part.
  expected.bin  final integer output (int32 little-endian, NHWC or NF)
  expected_softmax.bin (float64) when the last bundle has softmax
  b<ii>/in_p<p>.bin       packed pixel stream of pass p (= producer's "next-bundle input")
  b<ii>/raw_it<t>_p<p>.bin engine output stream (data bytes) of job (it, p): raw sums, or the
                          finished X_BITS words of a bundle the engine finishes (architecture §17)
  b<ii>/skip_it<t>.bin    skip stream of job it of a bundle that adds on chip
  b<ii>/out.bin           bundle output after all post-processing (int32)
  manifest.json           shapes, fracs, offsets and file list (makes the binaries decodable)
"""
from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass, field

import numpy as np

from ..errors import DsfError, HardwareError, MismatchError, ModelError
from ..frontend.padding import tf_padding
from ..frontend.reference import check_graph_mode, input_integer, iter_reference, matmul_kernel
from . import binfile
from .geometry import JobGeometry, conv_macs, dense_macs
from .layout import (engine_job_reference, finish_job_reference, job_header, pack_output_job,
                     pack_pixels_job, pack_weights_job, pack_words, unpack_output_job)
from .post import decide, extreme_sums, job_config, signed_sums
from .rtl_config import c_header
from .lowering import SPLIT_MODES, CoreMapping, crop_output, lower_input, lower_weights, map_core


class _Folder:
    """Where an export's files are: the staging folder while it is written, the export folder
    after the commit (one object shared by every stream read from it)."""

    def __init__(self, path):
        self.path = path


class _StreamFile:
    """A stream kept in the export's files instead of memory (a batch-7 ResNet-50 holds ~0.7 GB
    of pixel, raw and skip beats); read again, as beats, when asked for."""

    def __init__(self, folder: _Folder, rel: str, axi_bytes: int, kind: str, chash: int):
        self.folder, self.rel, self.B, self.kind, self.chash = folder, rel, axi_bytes, kind, chash

    def load(self) -> np.ndarray:
        path = os.path.join(self.folder.path, self.rel)
        a = binfile.read(path, self.kind, self.chash)
        if a.size % self.B:
            raise DsfError(f"export file {path} size = {a.size} bytes is invalid: allowed a "
                           f"multiple of the {self.B}-byte beat (truncated? export again)")
        return a.reshape(-1, self.B)


def _beats(v):
    return v.load() if isinstance(v, _StreamFile) else v


class JobData:
    """One engine job of an export: geometry, channel range and its streams (weights in memory;
    pixels, the expected output beats and the skip beats read from the export's files once the
    bundle is written)."""

    def __init__(self, it, p, geom, co_lo, co_hi, weights, pixels, raw_stream, part=0,
                 skip_stream=None):
        self.it, self.p, self.geom, self.co_lo, self.co_hi = it, p, geom, co_lo, co_hi
        self.weights = weights           # beats
        self.part = part                 # part of the bundle's core this job belongs to
        self._pixels, self._raw, self._skip = pixels, raw_stream, skip_stream

    @property
    def pixels(self) -> np.ndarray:
        """Pixel beats."""
        return _beats(self._pixels)

    @property
    def raw_stream(self) -> np.ndarray:
        """Output data beats (finish jobs: the finished words); the int64 sums are not kept."""
        return _beats(self._raw)

    @property
    def skip_stream(self):
        """Skip beats of an adding finish job, else None."""
        return None if self._skip is None else _beats(self._skip)

    def __repr__(self):
        return (f"JobData(it={self.it}, p={self.p}, part={self.part}, co={self.co_lo}:"
                f"{self.co_hi}, {self.geom})")


@dataclass
class BundleExport:
    idx: int
    mapping: CoreMapping
    ref: object
    jobs: list = field(default_factory=list)
    w_offset: int = 0
    b_offset: int = 0
    bias: np.ndarray | None = None
    part_w_offsets: list = field(default_factory=list)  # weights.bin offset of each part's 1st job
    pixels: dict = field(default_factory=dict)          # global pass -> packed pixel beats
    post: object = None                                 # post.PostDecision


@dataclass
class Export:
    hw: object
    out_dir: str
    bundles: list
    refs: list
    files: dict

    @property
    def expected(self):
        """The final output as int64 (the reference stores its stages compactly)."""
        return self.refs[-1].out.astype(np.int64)


# The stream formats an export's files and firmware tables are written in: 2 = pixel slots of
# PK columns (architecture §3). A folder of another format would build firmware or feed the
# engine streams this version reads differently, so load_export refuses it by name.
STREAM_FORMAT = 2


def load_export(export_dir: str):
    """(Hardware, manifest) of an export folder, with named errors for a missing, malformed,
    foreign or out-of-date manifest."""
    from .hardware import Hardware
    path = os.path.join(export_dir, "manifest.json")
    if not os.path.exists(path):
        raise DsfError(f"export folder = {export_dir!r} is invalid: allowed a folder written by "
                       f"export_inference (no manifest.json)")
    try:
        with open(path) as f:
            manifest = json.load(f)
    except json.JSONDecodeError as e:
        raise DsfError(f"{path} is invalid: allowed the JSON written by export_inference "
                       f"({e})") from None
    if not isinstance(manifest, dict) or "hardware" not in manifest or "bundles" not in manifest:
        raise DsfError(f"{path} is invalid: allowed a manifest with 'hardware' and 'bundles'")
    fmt = manifest.get("stream_format")
    if fmt != STREAM_FORMAT:
        was = "missing: written before pixel slots" if fmt is None else "another dsf_sim version's"
        raise DsfError(f"{path}: stream_format = {fmt!r} ({was}) is invalid: allowed "
                       f"{STREAM_FORMAT}, this dsf_sim's stream formats (architecture §3); "
                       f"export the model again")
    return Hardware.from_dict(manifest["hardware"]), manifest


def model_fingerprint(model, weights=None) -> str:
    """sha256 of what decides an export's contents besides the input and the hardware: every
    bundle's configuration, its wiring and its integer weights, the input quantiser and shape
    (layer names are left out: two identical models built in one session differ only there).
    `weights(b)`, if given, returns b.int_weights()."""
    import hashlib
    h = hashlib.sha256()
    h.update(json.dumps([model.input_quant_layer._dsf_qtext,
                         [int(s) for s in model.inputs[0].shape]]).encode())
    for b in model.bundles:
        h.update(json.dumps([b.core_cfg, b.add_cfg, b.pool_cfg, b.flatten, b.softmax,
                             model.bundle_sources[b.idx]]
                            + ([b.softmax_frac] if b.softmax_frac is not None else []),
                            sort_keys=True, default=str).encode())
        h.update(json.dumps([b.fn_cfg, b.operand_src, b.tokens], default=str).encode()
                 if b.fn_cfg is not None or b.is_matmul or b.tokens else b"")
        for w in (() if b.is_matmul else weights(b) if weights else b.int_weights()):
            if w is not None:
                h.update(np.ascontiguousarray(w, dtype=np.int64).tobytes())
    return h.hexdigest()


class _WeightCache:
    """Every bundle's integer weights, computed once per export (the fingerprint and the
    reference both need them; QKeras' quantiser calls were a third of ResNet-50's export): the
    first request computes and keeps them, the kernel as int16 where it fits (50 MB instead of
    200 MB for ResNet-50's 25 M weights), the second hands them out as int64 and forgets them."""

    def __init__(self):
        self._w = {}

    def __call__(self, b):
        if b.idx not in self._w:
            K, B = b.int_weights()
            if K.size and K.min() >= -(1 << 15) and K.max() < (1 << 15):
                self._w[b.idx] = (K.astype(np.int16), B)
            else:
                self._w[b.idx] = (K, B)
            return K, B
        K, B = self._w.pop(b.idx)
        return K.astype(np.int64), B


# hardware arguments that do not change an export's files (stimulus defaults, the folder name)
_RUN_ONLY = ("data_dir", "valid_prob", "ready_prob")


def hw_files(hw) -> dict:
    """The hardware arguments that shape an export's files (all but `_RUN_ONLY`)."""
    return {k: v for k, v in hw.to_dict().items() if k not in _RUN_ONLY}


def check_export_belongs(export_dir, hw, model=None, where="verify_inference", arg="out_dir"):
    """Named error unless the export in `export_dir` was made for `hw` (every argument that
    shapes the files) and, given `model`, for this model (`model_fingerprint`)."""
    ex_hw, manifest = load_export(export_dir)
    a, b = ex_hw.to_dict(), hw.to_dict()
    diff = sorted(k for k in a if k not in _RUN_ONLY and a[k] != b.get(k))
    if diff:
        raise DsfError(f"{where}: {arg} = {export_dir!r} is invalid: allowed an export made for "
                       f"this hardware (it differs in {', '.join(f'{k} {a[k]!r} vs {b[k]!r}' for k in diff)}); "
                       f"export again or pass the matching hw")
    if model is not None and manifest.get("model_hash") != model_fingerprint(model):
        raise DsfError(f"{where}: {arg} = {export_dir!r} is invalid: allowed an export of this "
                       f"model (its manifest's model_hash is "
                       f"{manifest.get('model_hash', 'missing')!r}, not this model's); export "
                       f"again or pass another out_dir")
    return ex_hw, manifest


def _digest(path) -> dict:
    import hashlib
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return {"bytes": os.path.getsize(path), "sha256": h.hexdigest()}


def check_export_files(export_dir, manifest, where="export"):
    """Every file the manifest lists has the size and sha256 it was written with: a missing,
    truncated or edited file is named, before any simulator reads it (a short weights.bin would
    otherwise end in a stream error or a watchdog, a deleted expected_softmax.bin unchecked)."""
    digests = manifest.get("file_digests")
    if not isinstance(digests, dict):
        raise DsfError(f"{where}: {os.path.join(export_dir, 'manifest.json')} is invalid: allowed "
                       f"a manifest with file_digests (written by this version's export; export "
                       f"again)")
    for rel, want in digests.items():
        p = os.path.join(export_dir, rel)
        if not os.path.isfile(p):
            raise DsfError(f"{where}: {p} is missing: the export's manifest lists it "
                           f"({want['bytes']} bytes); export again")
        got = os.path.getsize(p)
        if got != want["bytes"]:
            raise DsfError(f"{where}: {p} = {got} bytes is invalid: allowed {want['bytes']} bytes "
                           f"as exported ({'truncated' if got < want['bytes'] else 'too long'})")
        if _digest(p)["sha256"] != want["sha256"]:
            raise DsfError(f"{where}: {p} is invalid: allowed the file as exported (same size, "
                           f"different content: sha256 differs from the manifest)")


def _fits_x(spec, hw):
    if spec.signed:
        return spec.lo >= -(1 << (hw.X_BITS - 1)) and spec.hi <= (1 << (hw.X_BITS - 1)) - 1
    return spec.hi <= (1 << hw.X_BITS) - 1


def _check_overflow(b, m: CoreMapping, Wes, in_spec, hw):
    """Prove every engine partial sum fits Y_BITS and every firmware sum fits the CPU ints."""
    lo, hi = in_spec.lo, in_spec.hi
    ymax = (1 << (hw.Y_BITS - 1)) - 1
    cmax = (1 << (hw.CPU_INT_BITS - 1)) - 1
    full_pos = np.zeros(m.CO, dtype=np.int64)
    full_neg = np.zeros(m.CO, dtype=np.int64)
    # ΣW⁺ and ΣW⁻ of every pass's channels, per part at once
    passes = {}
    for p in range(m.CP):
        passes.setdefault(m.part_of(p), []).append(p)
    sums = {}
    for qi, ps in passes.items():
        kp, kn = signed_sums(Wes[qi], [m.pass_channels(p) for p in ps])
        sums.update({p: (kp[i], kn[i]) for i, p in enumerate(ps)})
    for p in range(m.CP):
        sp, sn = extreme_sums(*sums[p], lo, hi)
        full_pos += sp
        full_neg += sn
        worst = int(max(sp.max(), -sn.min() - 1))
        if worst > ymax:
            co = int(np.argmax(np.maximum(sp, -sn - 1)))
            raise HardwareError(
                f"bundle {b.idx} ({b.name}) pass {p} channel {co}: accumulator overflow risk, "
                f"worst-case partial sum", worst,
                f"<= {ymax} for bits_sum={hw.Y_BITS} (raise bits_sum or lower ram_weights_depth)")
    worst = int(max(full_pos.max(), -full_neg.min()))
    if worst * 4 > cmax:  # bias/add alignment shifts headroom checked again below
        raise HardwareError(f"bundle {b.idx} ({b.name}): firmware sum", worst,
                            f"<= {cmax // 4} for target_cpu_int_bits={hw.CPU_INT_BITS}")


def bundle_macs(b, m: CoreMapping, r) -> int:
    """True MACs of the bundle's original core layer."""
    core = r.stage_info()["core"][0]
    if b.is_matmul:          # the true products per head (the engine also multiplies zeros)
        return int(np.prod(core)) * (m.CI // b.heads)     # dh (a·bᵀ) or T (a·b) terms
    if m.kind == "dense":
        return dense_macs(int(np.prod(core[:-1])), m.CI, core[-1])
    return conv_macs(*core, m.CI, *b.kernel_size)


def _stage_spec_fields(spec):
    if spec is None:
        return 0, 0, 0, -1, 0
    return spec.frac, spec.lo, spec.hi, spec.slope_shift, spec.pos_shift


FN_CODES = {None: 0, "softmax": 1, "gelu": 2, "layernorm": 3}


def _matmul_fields(b, r, src_bundle) -> dict:
    """A matmul core's operand (architecture §22): the firmware packs the weight stream from
    bundle mm_src's output [mm_n, mm_t, mm_cb] (mm = 1: a·bᵀ, 2: a·b; heads mm_heads)."""
    if not b.is_matmul:
        return dict(mm=0, mm_src=-1, mm_n=0, mm_t=0, mm_cb=0, mm_heads=0)
    N, T, Cb = r.operand[0].shape
    return dict(mm=1 if b.transpose_b else 2, mm_src=src_bundle, mm_n=N, mm_t=T, mm_cb=Cb,
                mm_heads=b.heads)


def _fn_fields(b, info) -> dict:
    """The fn stage (architecture §21–§22): kind, groups, internal binary point, quantiser."""
    d = dict(fn=FN_CODES[b.fn_cfg["type"] if b.fn_cfg else None], fn_groups=b.fn_groups or 0,
             fn_frac=b.fn_frac or 0)
    (d["fn_ofrac"], d["fn_lo"], d["fn_hi"], d["fn_slope"],
     d["fn_pshift"]) = _stage_spec_fields(b.fn_spec)
    return d


def _descriptor(b, m: CoreMapping, r, src, skip, skip_frac, be: BundleExport, hw,
                last: bool, operand=-1) -> dict:
    info = r.stage_info()
    f_core = info["core"][1]
    f_s = info["core_bias"][1]
    d = dict(kind=0 if m.kind == "conv" else 1, src=src, skip=-1 if skip is None else skip)
    shp = r.in_int.shape
    if m.kind == "conv":
        d.update(n=shp[0], h=shp[1], w=shp[2], ci=shp[3])
    else:                   # dense: n = rows (batch, or tokens of every batch item)
        d.update(n=int(np.prod(shp[:-1])), h=1, w=1, ci=shp[-1])
    d.update(_matmul_fields(b, r, src_bundle=operand))
    d.update(_fn_fields(b, info))
    d.update(co=m.CO_LAYER, out_h=m.H.out, out_w=m.W.out, sh=m.H.s, sw=m.W.s,
             xn_e=m.XN, xh_e=m.H.size_e, xw_e=m.W.size_e, ci_e=m.CI_E, kh_e=m.KH, kw_e=m.KW,
             cm=m.CM, cp=m.CP, co_prl=m.CO_PRL, it=m.IT, t_h=m.H.t, t_w=m.W.t,
             r0_h=m.H.r0, r0_w=m.W.r0, x_signed=int(m.x_signed),
             nph_h=len(m.H.phases), nph_w=len(m.W.phases),
             phmask_h=sum(1 << p for p in m.H.phases), phmask_w=sum(1 << p for p in m.W.phases),
             f_core=f_core, use_bias=int(b.use_bias), f_bias=b.bq.frac if b.use_bias else 0,
             f_s=f_s)
    (d["act_frac"], d["act_lo"], d["act_hi"], d["act_slope"],
     d["act_pshift"]) = _stage_spec_fields(b.act)
    d["add"] = int(b.add_spec is not None)
    d["f_skip"] = skip_frac if skip is not None else 0
    d["f_t"] = info["add_raw"][1] if "add_raw" in info else 0
    (d["add_frac"], d["add_lo"], d["add_hi"], d["add_slope"],
     d["add_pshift"]) = _stage_spec_fields(b.add_spec)
    if b.pool_spec is not None:
        y_before = info["add" if b.add_spec is not None else "act"][0]     # its shape
        oh, pt = tf_padding(y_before[1], b.pool_size[0], b.pool_strides[0], b.pool_padding)
        ow, pl = tf_padding(y_before[2], b.pool_size[1], b.pool_strides[1], b.pool_padding)
        d.update(pool=1 if b.pool_cfg["type"] == "max" else 2, pool_kh=b.pool_size[0],
                 pool_kw=b.pool_size[1], pool_sh=b.pool_strides[0], pool_sw=b.pool_strides[1],
                 pool_pt=pt, pool_pl=pl, pool_oh=oh, pool_ow=ow)
    else:
        d.update(pool=0, pool_kh=0, pool_kw=0, pool_sh=0, pool_sw=0, pool_pt=0, pool_pl=0,
                 pool_oh=0, pool_ow=0)
    (d["pool_frac"], d["pool_lo"], d["pool_hi"], d["pool_slope"],
     d["pool_pshift"]) = _stage_spec_fields(b.pool_spec)
    d["flatten"], d["softmax"] = int(b.flatten), int(b.softmax)
    d["softmax_frac"] = int(b.softmax_frac or 0)     # 0: float64 softmax on the CPU
    out = r.out
    d["out_size"] = int(out.size)
    d["out_frac"] = r.out_frac
    d["w_offset"], d["b_offset"] = be.w_offset, be.b_offset
    d["part0"], d["nparts"] = 0, len(m.parts)  # part0: set when the table is built
    post = be.post
    d["finish"] = int(post.finish)
    d["skip_direct"] = int(post.finish and post.skip_direct)
    # the firmware writes the int32 output of raw bundles, of finish bundles that pool and of the
    # last bundle; the others' output is their finished words in DRAM (architecture §17.4)
    d["out_int"] = int(not post.finish or b.pool_spec is not None or last)
    final = b.add_spec if b.add_spec is not None else b.act   # the finished words' quantiser
    d["out_signed"] = int(final.signed)
    return d


def job_geometry(m: CoreMapping, p: int, post, it: int = 0) -> JobGeometry:
    """Stream geometry of pass p, iteration it in the bundle's mode (finish / add from its
    PostDecision; a finish job's packets carry its it's valid channel groups, §17.2)."""
    from dataclasses import replace
    g = m.geometry(p)
    if post is not None and post.finish:
        o0, o1 = m.iter_channels(it, p)
        g = replace(g, finish=True, add=bool(post.cfg["ADD"]), cg=o1 - o0)
    return g


def _part_descriptor(m: CoreMapping, q, w_offset, hw, post=None) -> dict:
    g = job_geometry(m, q.p0, post)  # the part's stream geometry (the output does not depend on CM)
    gl = job_geometry(m, q.p0, post, q.IT - 1)   # its last iteration (fewer groups, finish)
    return dict(p0=q.p0, kh_e=q.KH, kw_e=q.KW, xh_e=q.H.size_e, xw_e=q.W.size_e, ci_e=q.CI_E,
                cm=q.CM, cp=q.CP, co_prl=q.CO_PRL, it=q.IT, t_h=q.H.t, t_w=q.W.t, r0_h=q.H.r0,
                r0_w=q.W.r0, nph_h=len(q.H.phases), nph_w=len(q.W.phases),
                phmask_h=sum(1 << p for p in q.H.phases),
                phmask_w=sum(1 << p for p in q.W.phases), w_offset=w_offset,
                xl=g.XL(hw), pr=g.PR(hw), pb=g.PB(hw), pk=g.PK(hw), ob=g.OB(hw),
                out_bytes=g.output_beats(hw) * hw.AXI_BYTES, out_moved=g.output_bytes_moved(hw),
                ob_last=gl.OB(hw), out_bytes_last=gl.output_beats(hw) * hw.AXI_BYTES,
                out_moved_last=gl.output_bytes_moved(hw))


def _pass_rows(m: CoreMapping, part0, hw, post=None):
    """One row per pass of the bundle (stream byte counts, channels) and its pixel header beat."""
    rows, headers = [], []
    for p in range(m.CP):
        g = job_geometry(m, p, post)
        rows.append(dict(part=part0 + m.part_of(p), c0=m.pass_channels(p)[0], cm=g.CM,
                         pix_bytes=g.pixel_beats(hw) * hw.AXI_BYTES,
                         w_bytes=g.weight_beats(hw) * hw.AXI_BYTES))
        headers.append(job_header(hw, g))
    return rows, headers


DESCRIPTOR_FIELDS = (
    "kind", "src", "skip", "n", "h", "w", "ci", "co", "out_h", "out_w", "sh", "sw",
    "xn_e", "xh_e", "xw_e", "ci_e", "kh_e", "kw_e", "cm", "cp", "co_prl", "it",
    "t_h", "t_w", "r0_h", "r0_w", "x_signed", "nph_h", "nph_w", "phmask_h", "phmask_w",
    "f_core", "use_bias", "f_bias", "f_s", "act_frac", "act_lo", "act_hi", "act_slope",
    "act_pshift", "add", "f_skip", "f_t", "add_frac", "add_lo", "add_hi", "add_slope", "add_pshift",
    "pool", "pool_kh", "pool_kw", "pool_sh", "pool_sw", "pool_pt", "pool_pl", "pool_oh",
    "pool_ow", "pool_frac", "pool_lo", "pool_hi", "pool_slope", "pool_pshift", "flatten", "softmax",
    "softmax_frac", "out_size", "out_frac", "w_offset", "b_offset", "part0", "nparts", "pass0",
    "finish", "skip_direct", "out_int", "out_signed",
    "mm", "mm_src", "mm_n", "mm_t", "mm_cb", "mm_heads",
    "fn", "fn_groups", "fn_frac", "fn_ofrac", "fn_lo", "fn_hi", "fn_slope", "fn_pshift",
)

# one row per part of every bundle (single-part bundles: one row equal to the bundle's fields)
PART_FIELDS = ("p0", "kh_e", "kw_e", "xh_e", "xw_e", "ci_e", "cm", "cp", "co_prl", "it",
               "t_h", "t_w", "r0_h", "r0_w", "nph_h", "nph_w", "phmask_h", "phmask_w",
               "w_offset", "xl", "pr", "pb", "pk", "ob", "out_bytes", "out_moved", "ob_last",
               "out_bytes_last", "out_moved_last")

# one row per pass of every bundle (global pass index = bundle's pass0 + p)
PASS_FIELDS = ("part", "c0", "cm", "pix_bytes", "w_bytes")


def _table(type_name, var, fields, rows, count):
    out = ["typedef struct {"] + [f"  int64_t {f};" for f in fields]
    out += [f"}} {type_name};", "", "#ifdef DSF_DEFINE_BUNDLES",
            f"static const {type_name} {var}[{count}] = {{"]
    for d in rows:
        out.append("  {" + ", ".join(f".{f}={int(d[f])}" for f in fields) + "},")
    return out + ["};", "#endif", ""]


def config_fw_h(hw, descs, sizes, parts, passes, headers, chash) -> str:
    """The firmware's model description: descriptors, parts, passes, pixel header beats, and
    what the headers of weights.bin / input.bin must say (binfile)."""
    lines = ["/* Generated by dsf_sim export_inference -- do not edit. */",
             "#ifndef DSF_CONFIG_FW_H", "#define DSF_CONFIG_FW_H", "#include <stdint.h>", "",
             "#include \"dsf_cfg.h\"  /* the hardware: same names as the SV package dsf_cfg */",
             "", "/* ---- model ---- */", f"#define N_BUNDLES {len(descs)}",
             f"#define N_PARTS {len(parts)}", f"#define N_PASSES {len(passes)}"]
    for k, v in sizes.items():
        lines.append(f"#define {k} {v}")
    lines += ["", "/* the header of weights.bin and input.bin (dsf_sim/compiler/binfile.py) */",
              f"#define DSF_FILE_HEADER_BYTES {binfile.HEADER_BYTES}",
              f"#define DSF_FILE_VERSION {binfile.VERSION}",
              f"#define DSF_KIND_WEIGHTS {binfile.KINDS['weights'][0]}",
              f"#define DSF_KIND_INPUT {binfile.KINDS['input'][0]}",
              f"#define DSF_CONFIG_HASH 0x{chash:016x}ull", ""]
    lines += _table("dsf_bundle_t", "dsf_bundles", DESCRIPTOR_FIELDS, descs, "N_BUNDLES")
    lines += _table("dsf_part_t", "dsf_parts", PART_FIELDS, parts, "N_PARTS")
    lines += _table("dsf_pass_t", "dsf_passes", PASS_FIELDS, passes, "N_PASSES")
    lines += ["/* the pixel stream header beat of every pass (compiler/layout.pack_header) */",
              "#ifdef DSF_DEFINE_BUNDLES",
              "static const uint8_t dsf_pixel_headers[N_PASSES][AXI_BYTES] = {"]
    for h in headers:
        lines.append("  {" + ", ".join(str(int(v)) for v in h) + "},")
    lines += ["};", "#endif", "", "#endif", ""]
    return "\n".join(lines)


def _skip_stream(hw, g, m: CoreMapping, it: int, dec, exports, skip: int, refs, model, x_float):
    """(skip beats, skip words [XN, XL*ROWS, XW, CO_PRL]) of job `it` of an adding finish bundle:
    the skip producer's finished job `it` stream when direct, else the skip tensor packed by the
    firmware in the job's output format (zeros outside the cropped output)."""
    signed = bool(dec.cfg["SKIP_SIGNED"])
    if dec.skip_direct:
        data = exports[skip].jobs[it].raw_stream
        return data, unpack_output_job(hw, g, data, signed)
    t = refs[skip].out if skip >= 0 else input_integer(model, x_float)[0]
    co_prl = g.CO_PRL(hw)
    words = np.zeros((g.XN, g.XL(hw) * hw.ROWS, g.XW, co_prl), dtype=np.int64)
    o0, o1 = m.iter_channels(it, 0)
    r0h, r0w = m.H.r0, m.W.r0
    t4 = t.reshape(m.XN, m.H.out, m.W.out, m.CO)
    words[:, r0h:r0h + m.H.out, r0w:r0w + m.W.out, : o1 - o0] = t4[..., o0:o1]
    data, _, _ = pack_output_job(hw, g, words)
    return data, unpack_output_job(hw, g, data, signed)


POST_MODES = ("auto", "off", "on")


def export_model(model, x_float, hw, out_dir, check=True, split="auto", post="auto") -> Export:
    """post: 'auto' finishes on chip every bundle `post.decide` accepts (the others stay raw, the
    manifest says why), 'off' keeps every bundle raw, 'on' is 'auto' that raises a named error
    for a bundle that cannot be finished on chip."""
    if post not in POST_MODES:
        raise DsfError(f"post = {post!r} is invalid: allowed one of {list(POST_MODES)}")
    if split not in SPLIT_MODES:
        raise DsfError(f"split = {split!r} is invalid: allowed one of {list(SPLIT_MODES)}")
    if len(model.bundles) > hw.max_n_bundles:
        raise HardwareError("number of bundles", len(model.bundles),
                            f"<= max_n_bundles {hw.max_n_bundles}")
    want = tuple(int(s) for s in model.inputs[0].shape)
    got = tuple(np.shape(x_float))
    if got != want:       # another batch or image size would export another geometry
        raise ModelError("export_inference", "x shape", got,
                         f"{want}, the model's input shape (batch_size, then QInput's shape)")
    refs = []                # filled bundle by bundle (the reference is computed as we go)
    final_dir = out_dir
    os.makedirs(final_dir, exist_ok=True)
    out_dir = os.path.join(final_dir, STAGING)      # written here, moved in by _commit
    shutil.rmtree(out_dir, ignore_errors=True)
    os.makedirs(out_dir)
    specs = {-1: model.input_spec_q}
    for b in model.bundles:
        specs[b.idx] = b.out_spec
    fracs = {}

    weights_chunks, offset = [], 0
    exports = []
    files = {}
    folder = _Folder(out_dir)

    int_weights = _WeightCache()
    model_hash = model_fingerprint(model, int_weights)
    chash = binfile.config_hash(model_hash, hw_files(hw))

    def write(rel, arr, kind):
        p = os.path.join(out_dir, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        binfile.with_header(kind, arr, chash).tofile(p)
        files[rel] = p

    from tqdm import tqdm  # big networks take a while: show per-bundle progress
    bar = tqdm(zip(model.bundles, iter_reference(model, x_float, check=check,
                                                     weights=int_weights)),
               total=len(model.bundles), desc="export", unit="bundle", leave=False,
               disable=len(model.bundles) < 8)
    for b, r in bar:
        refs.append(r)
        fracs.setdefault(-1, r.in_frac)
        fracs[r.idx] = r.out_frac
        src, skip = model.bundle_sources[b.idx]
        in_spec = specs[src]
        if not _fits_x(in_spec, hw):
            raise HardwareError(f"bundle {b.idx} ({b.name}) input quantizer {in_spec.text!r} "
                                f"range", (in_spec.lo, in_spec.hi),
                                f"fits bits_input={hw.X_BITS} "
                                f"({'signed' if in_spec.signed else 'unsigned'})")
        K, B = r.weights if r.weights is not None else b.int_weights()
        kmin, kmax = -(1 << (hw.K_BITS - 1)), (1 << (hw.K_BITS - 1)) - 1
        if b.kq.lo < kmin or b.kq.hi > kmax:
            what = "matmul operand b's quantizer" if b.is_matmul else "kernel_quantizer"
            raise HardwareError(f"bundle {b.idx} ({b.name}) {what} {b.kq.text!r} range",
                                (b.kq.lo, b.kq.hi), f"{kmin}..{kmax} for bits_weights={hw.K_BITS}")
        if B is not None and (b.bq.lo < -(1 << (hw.B_BITS - 1)) or b.bq.hi >= 1 << (hw.B_BITS - 1)):
            raise HardwareError(f"bundle {b.idx} ({b.name}) bias_quantizer {b.bq.text!r} range",
                                (b.bq.lo, b.bq.hi), f"fits bits_bias={hw.B_BITS} signed")
        m = map_core(b, r.in_int.shape, in_spec.signed, hw, split)
        r.mapping = m
        Wes = [lower_weights(m, K, qi) for qi in range(len(m.parts))]
        if b.is_matmul:       # run-time weights: prove the bound for every operand value
            mask = matmul_kernel(b, np.ones_like(r.operand[0])) != 0
            for w in (b.kq.lo, b.kq.hi):      # the operand's extremes, either sign
                _check_overflow(b, m, [np.where(mask, w, 0)[None, None]], in_spec, hw)
        else:
            _check_overflow(b, m, Wes, in_spec, hw)
        skip_info = None
        if skip is not None:
            skip_info = dict(spec=specs[skip], frac=fracs[skip],
                             mapping=exports[skip].mapping if skip >= 0 else None,
                             decision=exports[skip].post if skip >= 0 else None,
                             pools=skip >= 0 and model.bundles[skip].pool_spec is not None)
        dec = decide(hw, b, m, K, in_spec, fracs[src], skip_info, "auto" if post == "on" else post)
        if post == "on" and not dec.finish:
            raise HardwareError(f"bundle {b.idx} ({b.name}) post", "on",
                                f"'auto' or 'off': this bundle cannot be finished on chip "
                                f"({dec.reason})")
        xes = [lower_input(m, r.in_int, qi) for qi in range(len(m.parts))]
        be = BundleExport(b.idx, m, r, w_offset=offset, bias=B, post=dec)
        core_sum = 0
        ysums = [np.zeros((m.XN, xe.shape[1], q.W.size_e, m.CO), dtype=np.int64)
                 for xe, q in zip(xes, m.parts)]
        fin_words = np.zeros_like(ysums[0]) if dec.finish else None
        pix_cache = be.pixels
        for it, p in m.jobs():
            qi = m.part_of(p)
            xe, We = xes[qi], Wes[qi]
            if len(be.part_w_offsets) == qi:
                be.part_w_offsets.append(offset)
            c0, c1 = m.pass_channels(p)
            o0, o1 = m.iter_channels(it, p)
            g = job_geometry(m, p, dec, it)
            if p not in pix_cache:
                pix_cache[p] = pack_pixels_job(hw, g, xe[..., c0:c1])[0]
            raw = engine_job_reference(hw, g, xe[..., c0:c1], We[:, :, c0:c1, o0:o1])
            skip_stream = None
            if dec.finish:
                bias_g = B[o0:o1] if B is not None else np.zeros(o1 - o0, np.int64)
                wb, _ = pack_weights_job(hw, g, We[:, :, c0:c1, o0:o1],
                                         (job_config(dec.cfg, g.CG(hw)), bias_g))
                skip_w = None
                if dec.cfg["ADD"]:
                    skip_stream, skip_w = _skip_stream(hw, g, m, it, dec, exports, skip, refs,
                                                       model, x_float)
                words = finish_job_reference(hw, g, raw, dec.cfg, bias_g, skip_w)
                data, _, _ = pack_output_job(hw, g, words)
                signed = (b.add_spec if b.add_spec is not None else b.act).signed
                fin_words[..., o0:o1] = unpack_output_job(hw, g, data, signed)[
                    :, : xe.shape[1], :, : o1 - o0]
            else:
                wb, _ = pack_weights_job(hw, g, We[:, :, c0:c1, o0:o1])
                data, _, _ = pack_output_job(hw, g, raw)
            be.jobs.append(JobData(it, p, g, o0, o1, wb, pix_cache[p], data, qi, skip_stream))
            ysums[qi][..., o0:o1] += raw[:, : xe.shape[1], :, : o1 - o0]
            if b.is_matmul:   # the firmware writes the body from the operand at run time
                wz = np.array(wb, np.uint8).reshape(-1, hw.AXI_BYTES)
                wz[1:] = 0
                weights_chunks.append(wz.reshape(-1))
            else:
                weights_chunks.append(wb.reshape(-1))
            offset += wb.size
        for qi, ys in enumerate(ysums):
            core_sum = core_sum + crop_output(m, ys, qi)
        if dec.finish:   # the pipeline's words, cropped, are the reference's last engine stage
            stage = "add" if b.add_spec is not None else "act"
            got = crop_output(m, fin_words, 0)
            if not np.array_equal(got, r.stages[stage][0]):
                idx = tuple(int(v) for v in np.argwhere(got != r.stages[stage][0])[0])
                raise MismatchError(f"bundle {b.idx} ({b.name}): output pipeline differs from the "
                                    f"integer reference stage '{stage}' at {idx}: "
                                    f"{got[idx]} vs {r.stages[stage][0][idx]}")
        be.b_offset = offset
        if B is not None:
            nw = -(-m.CO * hw.B_BITS // hw.AXI_WIDTH) * hw.AXI_WIDTH // hw.B_BITS
            bw = np.zeros(nw, dtype=np.int64)
            bw[: m.CO] = B
            chunk = pack_words(bw, hw.B_BITS)
            weights_chunks.append(chunk)
            offset += chunk.size
        core = core_sum
        if not np.array_equal(core, r.stages["core"][0]):
            idx = tuple(int(v) for v in np.argwhere(core != r.stages["core"][0])[0])
            raise MismatchError(f"bundle {b.idx}: engine jobs summed over passes differ from the "
                                f"direct convolution at {idx}")
        exports.append(be)
        _write_bundle_streams(be, write, folder, hw.AXI_BYTES, chash)
        r.drop_stages()      # checked and written: only the output is used from here on

    if check and all((r.float_check or {}).get("mode") == "exact" for r in refs):
        check_graph_mode(model, x_float, refs[-1])      # what the user's predict gives, too
    # ---------------------------------------------------------------- files
    write("weights.bin", np.concatenate(weights_chunks).astype(np.uint8) if weights_chunks
          else np.zeros(0, np.uint8), "weights")
    # bundle 0's pixel streams, then the int32 input tensor (for any other bundle that reads or
    # adds the model input: the firmware packs it like a bundle output)
    packed = np.concatenate([_beats(exports[0].pixels[p]).reshape(-1)
                             for p in range(exports[0].mapping.CP)])
    x_int = input_integer(model, x_float)[0]
    write("input.bin", np.concatenate([packed, x_int.astype("<i4").reshape(-1).view(np.uint8)]),
          "input")
    write("expected.bin", refs[-1].out, "expected")
    if refs[-1].softmax_int is not None:
        write("expected_softmax.bin", refs[-1].softmax_int, "softmax_int")
    elif refs[-1].softmax is not None:
        write("expected_softmax.bin", refs[-1].softmax, "softmax")
    manifest = {"hardware": hw.to_dict(), "stream_format": STREAM_FORMAT,
                "model_hash": model_hash,
                "config_hash": f"{chash:016x}", "bundles": []}
    descs, part_rows, pass_rows, headers = [], [], [], []
    for b, be in zip(model.bundles, exports):
        r, m = be.ref, be.mapping
        src, skip = model.bundle_sources[b.idx]
        desc = _descriptor(b, m, r, src, skip, fracs[skip] if skip is not None else 0, be, hw,
                           b.idx == len(model.bundles) - 1,
                           b.operand_src if b.is_matmul else -1)
        desc["part0"], desc["pass0"] = len(part_rows), len(pass_rows)
        rows, hdrs = _pass_rows(m, desc["part0"], hw, be.post)
        pass_rows += rows
        headers += hdrs
        part_rows += [_part_descriptor(m, q, wo, hw, be.post)
                      for q, wo in zip(m.parts, be.part_w_offsets)]
        descs.append(desc)
        manifest["bundles"].append({
            "idx": b.idx, "name": b.name, "src": src, "skip": skip,
            "kind": m.kind, "kernel_size": list(b.kernel_size), "strides": list(b.strides),
            "padding": b.padding,
            "macs": bundle_macs(b, m, r),
            "in_shape": list(r.in_int.shape), "in_frac": r.in_frac,
            "out_shape": list(r.out.shape), "out_frac": r.out_frac,
            "stages": {k: {"shape": list(shape), "frac": frac}
                       for k, (shape, frac) in r.stage_info().items()},
            "float_check": r.float_check,
            "descriptor": desc,
            "post": {"finish": bool(be.post.finish), "reason": be.post.reason,
                     "skip_direct": bool(be.post.skip_direct),
                     "config": be.post.cfg if be.post.finish else None},
            "parts": part_rows[desc["part0"]:],
            "passes": pass_rows[desc["pass0"]:],
            "jobs": [{"it": j.it, "p": j.p, "part": j.part, "co": [j.co_lo, j.co_hi], "geometry": {
                "KH": j.geom.KH, "KW": j.geom.KW, "CM": j.geom.CM, "XN": j.geom.XN,
                "XH": j.geom.XH, "XW": j.geom.XW, "x_signed": j.geom.x_signed,
                "finish": j.geom.finish, "add": j.geom.add}}
                for j in be.jobs],
        })
    # file sizes, header included: what a harness copies to dsf_fw_weights/input_offset
    sizes = {"WEIGHTS_BYTES": os.path.getsize(files["weights.bin"]),
             "INPUT_BYTES": os.path.getsize(files["input.bin"]),
             "INPUT_INT_OFFSET": int(packed.size),
             "OUTPUT_WORDS": int(refs[-1].out.size)}
    manifest["sizes"] = sizes
    with open(os.path.join(out_dir, "config_fw.h"), "w") as f:
        f.write(config_fw_h(hw, descs, sizes, part_rows, pass_rows, headers, chash))
    files["config_fw.h"] = os.path.join(out_dir, "config_fw.h")
    with open(os.path.join(out_dir, "dsf_cfg.h"), "w") as f:
        f.write(c_header(hw))
    files["dsf_cfg.h"] = os.path.join(out_dir, "dsf_cfg.h")
    manifest["files"] = sorted(files) + ["manifest.json"]
    manifest["file_digests"] = {rel: _digest(files[rel]) for rel in sorted(files)}
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    files["manifest.json"] = os.path.join(out_dir, "manifest.json")
    _commit(out_dir, final_dir, files)
    folder.path = final_dir                  # the jobs' streams are read from here from now on
    return Export(hw, final_dir, exports, refs,
                  {rel: os.path.join(final_dir, rel) for rel in files})


STAGING = ".dsf_export_staging"
_OWNED = re.compile(r"^(b\d\d|weights\.bin|input\.bin|expected(_softmax)?\.bin|config_fw\.h|"
                    r"dsf_cfg\.h|manifest\.json)$")


def _write_bundle_streams(be, write, folder, B, chash):
    """A finished bundle's pixel, raw and skip streams and int32 output go to its folder now;
    its jobs keep references to the files instead of the arrays (memory: one bundle at a time)."""
    d = f"b{be.idx:02d}"
    for p, beats in list(be.pixels.items()):
        rel = f"{d}/in_p{p}.bin"
        write(rel, beats, "pixels")
        be.pixels[p] = _StreamFile(folder, rel, B, "pixels", chash)
    for j in be.jobs:
        j._pixels = be.pixels[j.p]
        rel = f"{d}/raw_it{j.it}_p{j.p}.bin"
        write(rel, j._raw, "raw")
        j._raw = _StreamFile(folder, rel, B, "raw", chash)
        if j._skip is not None:
            rel = f"{d}/skip_it{j.it}.bin"
            write(rel, j._skip, "skip")
            j._skip = _StreamFile(folder, rel, B, "skip", chash)
    write(f"{d}/out.bin", be.ref.out, "bundle_out")


def _commit(stage, final_dir, files):
    """Replace the previous export in final_dir by the staged one: the old manifest goes first
    (a folder without manifest.json is never taken for a complete export), then every file the
    previous export wrote (its manifest's list, or dsf_sim's names for older exports), then the
    staged files move in, the manifest last."""
    old = os.path.join(final_dir, "manifest.json")
    listed = []
    if os.path.exists(old):
        try:
            with open(old) as f:
                listed = json.load(f).get("files", [])
        except (OSError, ValueError, AttributeError):
            listed = []
        os.remove(old)
    for rel in listed:
        p = os.path.normpath(os.path.join(final_dir, rel))
        if p.startswith(os.path.abspath(final_dir) + os.sep) or \
                p.startswith(os.path.normpath(final_dir) + os.sep):
            if os.path.isfile(p):
                os.remove(p)
    for name in os.listdir(final_dir):      # exports from before the file list: dsf_sim's names
        if _OWNED.match(name):
            p = os.path.join(final_dir, name)
            shutil.rmtree(p) if os.path.isdir(p) else os.remove(p)
    for rel in sorted(files, key=lambda r: r == "manifest.json"):
        dst = os.path.join(final_dir, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        os.replace(os.path.join(stage, rel), dst)
    shutil.rmtree(stage, ignore_errors=True)

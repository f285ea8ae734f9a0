"""Build the C firmware for an export, drive it through ctypes, and check every level.

`run_firmware(export_dir, engine)` runs the firmware's command stream against any engine
implementation `engine(job_info, weights_bytes, pixel_bytes, skip_bytes) -> output_bytes`
(skip_bytes: None unless the job adds a skip stream on chip; functional: the
engine output of one job appears when its output DMA completes), then compares every packed input
stream, every raw engine output stream, every bundle output and the final output with the export's
expected files. The first difference raises `MismatchError` naming bundle / pass / iteration and
the index with both values.
"""
from __future__ import annotations

import ctypes
import functools
import os
import shutil
import subprocess

import numpy as np

from ..assets import asset_dir
from ..errors import DsfError
from .build_cache import cached_build, content_key, tool_version
from .check import FirmwareRun, compare_run

FW_DIR = str(asset_dir("firmware"))
FW_SOURCES = ("dsf_fw.c", "dsf_fw_hal.c")
FW_HEADERS = ("dsf_fw.h",)
CFLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-O2", "-shared", "-fPIC"]

CMD_ERROR, CMD_DMA, CMD_WAIT, CMD_DONE = -1, 1, 2, 3
CH_PIXELS, CH_WEIGHTS, CH_OUTPUT, CH_SKIP = 0, 1, 2, 3
CH_NAMES = ("pixels", "weights", "output", "skip")
M2S_STREAM = {CH_PIXELS: "x", CH_WEIGHTS: "w", CH_SKIP: "s"}   # M2S channel -> job stream key


class FirmwareError(DsfError):
    """The firmware reported an error, deadlocked, or could not be built."""


class DsfCmd(ctypes.Structure):
    _fields_ = [("kind", ctypes.c_int32), ("channel", ctypes.c_int32),
                ("addr", ctypes.c_uint64), ("bytes", ctypes.c_uint64),
                ("bundle", ctypes.c_int32), ("it", ctypes.c_int32), ("p", ctypes.c_int32),
                ("job", ctypes.c_int32)]

    def as_dict(self) -> dict:
        if self.kind == CMD_DMA:
            return dict(cmd="dma", ch=self.channel, chan=CH_NAMES[self.channel], addr=self.addr,
                        bytes=self.bytes, bundle=self.bundle, it=self.it, p=self.p, job=self.job)
        if self.kind == CMD_WAIT:
            return dict(cmd="wait", ch=self.channel, chan=CH_NAMES[self.channel],
                        bundle=self.bundle, it=self.it, p=self.p, job=self.job)
        return dict(cmd="done" if self.kind == CMD_DONE else "error")


# ----------------------------------------------------------------------------- build / load
EXPORT_HEADERS = ("config_fw.h", "dsf_cfg.h")   # the export's part of every firmware build


def export_headers(export_dir: str) -> list:
    """Paths of the export's firmware headers, with a named error for a folder that lacks one."""
    paths = [os.path.join(export_dir, n) for n in EXPORT_HEADERS]
    for p in paths:
        if not os.path.exists(p):
            raise FirmwareError(f"export folder = {export_dir!r} is invalid: allowed a folder "
                                f"written by export_inference ({os.path.basename(p)} missing)")
    return paths


def firmware_sources() -> list:
    return [os.path.join(FW_DIR, n) for n in FW_SOURCES + FW_HEADERS]


def firmware_key(export_dir: str, cc: str = "gcc") -> str:
    """Cache key of the firmware compiled for an export: sources, export headers, flags, compiler."""
    files = firmware_sources() + export_headers(export_dir)
    stats = tuple((f, os.stat(f).st_mtime_ns, os.stat(f).st_size) for f in files)
    return _firmware_key(stats, cc)


@functools.lru_cache(maxsize=256)
def _firmware_key(stats: tuple, cc: str) -> str:
    """The key of `firmware_key`, hashed once per set of unchanged files (mtime, size)."""
    return content_key(files=[f for f, _, _ in stats],
                       extra=CFLAGS + [tool_version([cc, "--version"])])


def build_firmware(export_dir: str, cc: str = "gcc") -> str:
    """Compile firmware/ against the export's config_fw.h + dsf_cfg.h into a cached shared
    library (build_cache: one folder per key, holding copies of the headers it was built with)."""
    export_dir = os.path.abspath(export_dir)

    def build(out):
        for hdr in export_headers(export_dir):
            shutil.copy(hdr, out / os.path.basename(hdr))
        tmp = out / f"libdsf_fw.so.tmp{os.getpid()}"
        cmd = [cc, *CFLAGS, f"-I{out}", f"-I{FW_DIR}",
               *[os.path.join(FW_DIR, n) for n in FW_SOURCES], "-lm", "-o", str(tmp)]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise FirmwareError(f"firmware build failed ({' '.join(cmd)}):\n{r.stderr}")
        os.replace(tmp, out / "libdsf_fw.so")

    return str(cached_build("fw", firmware_key(export_dir, cc), build) / "libdsf_fw.so")


_U64, _I32 = ctypes.c_uint64, ctypes.c_int


@functools.lru_cache(maxsize=64)
def load_firmware(lib_path: str) -> ctypes.CDLL:
    """The firmware library with its C signatures; loaded once per process and path (the path
    holds the build key; dsf_fw_init resets the library's state for every run)."""
    lib = ctypes.CDLL(lib_path)
    sig = {
        "dsf_fw_dram_required": (_U64, []),
        "dsf_fw_init": (None, [ctypes.c_void_p, _U64]),
        "dsf_fw_next": (_I32, [ctypes.POINTER(DsfCmd)]),
        "dsf_fw_dma_done": (None, [_I32, _U64]),
        "dsf_fw_dma_error": (None, [_I32, ctypes.c_uint32]),
        "dsf_fw_error_msg": (ctypes.c_char_p, []),
        "dsf_fw_weights_offset": (_U64, []), "dsf_fw_input_offset": (_U64, []),
        "dsf_fw_output_offset": (_U64, []), "dsf_fw_softmax_offset": (_U64, []),
        "dsf_fw_raw_offset": (_U64, []), "dsf_fw_raw_bytes": (_U64, []),
        "dsf_fw_acc_offset": (_U64, []), "dsf_fw_tmp_offset": (_U64, []),
        "dsf_fw_fin_offset": (_U64, [_I32]), "dsf_fw_skip_offset": (_U64, [_I32]),
        "dsf_fw_n_bundles": (_I32, []), "dsf_fw_n_passes": (_I32, [_I32]),
        "dsf_fw_n_iterations": (_I32, [_I32]), "dsf_fw_total_jobs": (_I32, []),
        "dsf_fw_debug_out_offset": (_U64, [_I32]), "dsf_fw_debug_out_words": (_U64, [_I32]),
        "dsf_fw_debug_pix_offset": (_U64, [_I32, _I32]),
        "dsf_fw_debug_pix_bytes": (_U64, [_I32, _I32]),
        "dsf_fw_debug_bundles_done": (_I32, []),
        "dsf_rhe_div": (ctypes.c_int64, [ctypes.c_int64, ctypes.c_int64]),
        "dsf_requant": (ctypes.c_int64, [ctypes.c_int64, _I32, _I32, ctypes.c_int64,
                                         ctypes.c_int64, _I32, _I32, ctypes.c_int64]),
        "dsf_fw_cmd_json": (_I32, [ctypes.POINTER(DsfCmd), ctypes.c_char_p, _I32]),
    }
    for name, (res, args) in sig.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = res, args
    return lib


def memory_map(lib) -> dict:
    """Named DRAM offsets of a loaded firmware (see firmware/README.md)."""
    nb = lib.dsf_fw_n_bundles()
    return {
        "total": lib.dsf_fw_dram_required(), "weights": lib.dsf_fw_weights_offset(),
        "input": lib.dsf_fw_input_offset(), "output": lib.dsf_fw_output_offset(),
        "softmax": lib.dsf_fw_softmax_offset(), "raw": lib.dsf_fw_raw_offset(),
        "raw_bytes": lib.dsf_fw_raw_bytes(), "acc": lib.dsf_fw_acc_offset(),
        "tmp": lib.dsf_fw_tmp_offset(),
        "bundle_out": [lib.dsf_fw_debug_out_offset(b) for b in range(nb)],
        "bundle_fin": [lib.dsf_fw_fin_offset(b) for b in range(nb)],
        "bundle_skip": [lib.dsf_fw_skip_offset(b) for b in range(nb)],
        "bundle_pix": [[lib.dsf_fw_debug_pix_offset(b, p) for p in range(lib.dsf_fw_n_passes(b))]
                       for b in range(nb)],
    }


# ----------------------------------------------------------------------------- engines
def dram_files(export_dir: str, manifest: dict | None = None) -> dict:
    """{"weights.bin", "input.bin": whole file} with headers checked (kind, size, this export's
    config hash) - before a harness hands them to the firmware, which checks them again."""
    from ..compiler import binfile
    if manifest is None:
        from ..compiler.export import load_export
        manifest = load_export(export_dir)[1]
    chash = binfile.manifest_hash(manifest, export_dir)
    return {name: binfile.read_image(os.path.join(export_dir, name), name[:-4], chash)
            for name in ("weights.bin", "input.bin")}


def place_files(dram: np.ndarray, mm: dict, export_dir: str, manifest: dict) -> None:
    """weights.bin and input.bin (checked, `dram_files`) into the DRAM image at the firmware's
    offsets."""
    for name, a in dram_files(export_dir, manifest).items():
        off = mm[name[:-4]]
        dram[off:off + a.size] = a


def geometry_from_header(hw, beat):
    """JobGeometry of a stream from its header beat (XH = XL*ROWS: bottom fill rows are zeros)."""
    from ..compiler.geometry import JobGeometry
    from ..compiler.layout import unpack_header
    h = unpack_header(hw, beat)
    return JobGeometry(KH=2 * h["KH2"] + 1, KW=2 * h["KW2"] + 1, CM=h["CM_M1"] + 1,
                       XN=h["XN_M1"] + 1, XH=(h["XL_M1"] + 1) * hw.ROWS, XW=h["XW_M1"] + 1,
                       x_signed=bool(h["X_SIGNED"]), finish=bool(h["FINISH"]))


def reference_engine(job_info: dict, weights_bytes: bytes, pixel_bytes: bytes,
                     skip_bytes: bytes | None = None) -> bytes:
    """Functional engine: decode the streams (compiler.layout), compute, finish (architecture §17)
    if the header says so, pack the output; returns the bytes an S2M DMA writes (the TLAST beat's
    kept bytes only, architecture §3)."""
    from dataclasses import replace

    from ..compiler.layout import (engine_job_reference, finish_job_reference, pack_output_job,
                                   skip_words_of_stream, unpack_pixels_job, unpack_weights_job)
    hw = job_info["hw"]
    wb = np.frombuffer(weights_bytes, dtype=np.uint8).reshape(-1, hw.AXI_BYTES)
    xb = np.frombuffer(pixel_bytes, dtype=np.uint8).reshape(-1, hw.AXI_BYTES)
    g = geometry_from_header(hw, xb[0])
    gw = geometry_from_header(hw, wb[0])
    if gw.CM * gw.KH != g.CM * g.KH:
        raise FirmwareError(f"job {job_info['key']}: weights header WROWS {gw.CM * gw.KH} != "
                            f"pixels header CM*KH {g.CM * g.KH}")
    if gw.finish != g.finish:
        raise FirmwareError(f"job {job_info['key']}: weights header FINISH {int(gw.finish)} != "
                            f"pixels header FINISH {int(g.finish)}")
    x = unpack_pixels_job(hw, g, xb)
    w, post = unpack_weights_job(hw, g, wb, with_post=True)
    y = engine_job_reference(hw, g, x, w)
    if g.finish:
        cfg, bias = post
        g = replace(g, add=bool(cfg["ADD"]), cg=cfg["CG_M1"] + 1)   # its packets' groups
        skip = None
        if cfg["ADD"]:
            if skip_bytes is None:
                raise FirmwareError(f"job {job_info['key']}: an adding finish job got no skip "
                                    f"stream")
            n = g.output_beats(hw) * hw.AXI_BYTES
            sb = np.frombuffer(skip_bytes, dtype=np.uint8)
            if sb.size != n:
                raise FirmwareError(f"job {job_info['key']}: skip stream of {sb.size} bytes, "
                                    f"expected {n}")
            skip = skip_words_of_stream(hw, g, sb, bool(cfg["SKIP_SIGNED"]))
        y = finish_job_reference(hw, g, y, cfg, bias, skip)
    data, keep, _ = pack_output_job(hw, g, y)
    return data.reshape(-1)[keep.reshape(-1)].tobytes()


# ----------------------------------------------------------------------------- run
def _drive(lib, dram, hw, engine, max_steps=10_000_000):
    """Run the state machine to DONE. Completion policy (functional harness):
    WAIT(weights) / WAIT(pixels): the transfer completes (the engine consumed it);
    WAIT(output): the job's engine output is computed from its weights and pixels, written to the
    output buffer, then the job's pixel transfer (if still open) and the output transfer complete.
    """
    cmds, raw, skips = [], {}, {}
    open_dma = {}          # ch -> cmd dict
    streams = {}           # job key -> {"w": bytes, "x": bytes}
    cmd = DsfCmd()
    for _ in range(max_steps):
        k = lib.dsf_fw_next(ctypes.byref(cmd))
        c = cmd.as_dict()
        if k == CMD_ERROR:
            raise FirmwareError(f"firmware error: {lib.dsf_fw_error_msg().decode()}")
        cmds.append(c)
        if k == CMD_DONE:
            if open_dma:
                raise FirmwareError(f"firmware DONE with DMA in flight: {open_dma}")
            return cmds, raw, skips
        if k == CMD_DMA:
            ch = c["ch"]
            if ch in open_dma:
                raise FirmwareError(f"firmware started channel {ch} while busy: {c}")
            key = (c["bundle"], c["it"], c["p"])
            a, n = c["addr"], c["bytes"]
            if a + n > dram.size:
                raise FirmwareError(f"DMA outside DRAM: {c}")
            if ch in M2S_STREAM:
                streams.setdefault(key, {})[M2S_STREAM[ch]] = dram[a:a + n].tobytes()
            if ch == CH_SKIP:
                skips[(key[0], key[1])] = dram[a:a + n].tobytes()
            open_dma[ch] = c
            continue
        # WAIT
        ch = c["ch"]
        if ch not in open_dma:
            raise FirmwareError(f"firmware waits on idle channel {ch}: {c}")
        done = []
        if ch == CH_OUTPUT:
            oc = open_dma[ch]
            key = (oc["bundle"], oc["it"], oc["p"])
            s = streams.pop(key, {})
            if "w" not in s or "x" not in s:
                raise FirmwareError(f"deadlock: output of job {key} awaited before its "
                                    f"{'weights' if 'w' not in s else 'pixels'} were sent")
            info = dict(hw=hw, key=key, bundle=key[0], it=key[1], p=key[2], job=oc["job"])
            out = bytes(engine(info, s["w"], s["x"], s.get("s")))
            raw[key] = out
            n = min(len(out), oc["bytes"])
            dram[oc["addr"]:oc["addr"] + n] = np.frombuffer(out[:n], dtype=np.uint8)
            px = open_dma.get(CH_PIXELS)
            if px is not None and (px["bundle"], px["it"], px["p"]) == key:
                done.append((CH_PIXELS, px["bytes"]))
            sk = open_dma.get(CH_SKIP)
            if sk is not None and (sk["bundle"], sk["it"], sk["p"]) == key:
                done.append((CH_SKIP, sk["bytes"]))
            done.append((CH_OUTPUT, len(out)))
        else:
            done.append((ch, open_dma[ch]["bytes"]))
        for dch, nbytes in done:
            d = open_dma.pop(dch)
            cmds.append(dict(cmd="event", ch=dch, chan=CH_NAMES[dch], bytes=nbytes,
                             bundle=d["bundle"], it=d["it"], p=d["p"], job=d["job"]))
            lib.dsf_fw_dma_done(dch, nbytes)
    raise FirmwareError(f"firmware did not finish in {max_steps} steps")


def firmware_view(lib, mm: dict, dram: np.ndarray, manifest: dict):
    """What the firmware left in DRAM: per-bundle int32 outputs (None for a bundle whose output
    stays as finished words, architecture §17.4), packed inputs per pass, softmax."""
    outs, pix = [], []
    for b in range(lib.dsf_fw_n_bundles()):
        o, n = mm["bundle_out"][b], lib.dsf_fw_debug_out_words(b)
        written = manifest["bundles"][b]["descriptor"].get("out_int", 1)
        outs.append(dram[o:o + 4 * n].view("<i4").copy() if written else None)
        pix.append([dram[a:a + lib.dsf_fw_debug_pix_bytes(b, p)].tobytes()
                    for p, a in enumerate(mm["bundle_pix"][b])])
    return outs, pix, read_softmax(dram, mm, manifest)


def read_softmax(dram: np.ndarray, mm: dict, manifest: dict):
    """The firmware's softmax in DRAM: float64, or int64 at `softmax_frac` for the integer
    softmax (architecture §21); None when the model has none."""
    d = manifest["bundles"][-1]["descriptor"]
    if not d["softmax"]:
        return None
    n = manifest["sizes"]["OUTPUT_WORDS"]
    return dram[mm["softmax"]:mm["softmax"] + 8 * n].view(
        "<i8" if d.get("softmax_frac", 0) else "<f8").copy()


def run_firmware(export_dir: str, engine=reference_engine, check: bool = True,
                 softmax_tol: float = 1e-9, jsonl: str | None = None) -> FirmwareRun:
    """Build + run the firmware for `export_dir` with `engine`; compare every level if `check`."""
    export_dir = os.path.abspath(export_dir)
    from ..compiler.export import load_export
    hw, manifest = load_export(export_dir)
    lib = load_firmware(build_firmware(export_dir))
    mm = memory_map(lib)
    dram = np.zeros(mm["total"], dtype=np.uint8)
    place_files(dram, mm, export_dir, manifest)
    lib.dsf_fw_init(dram.ctypes.data_as(ctypes.c_void_p), dram.size)
    cmds, raw, skips = _drive(lib, dram, hw, engine)
    outs, pix, sm = firmware_view(lib, mm, dram, manifest)
    run = FirmwareRun(export_dir, mm, cmds, outs[-1].copy(), sm, outs, pix, raw, skips)
    if jsonl:
        run.dump_jsonl(jsonl)
    if check:
        compare_run(run, hw, manifest, softmax_tol)
    return run


# ----------------------------------------------------------------------------- blocking HAL path
_START_T = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int, ctypes.c_uint64, ctypes.c_uint64)
_WAIT_T = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_void_p, ctypes.c_int)
_ONCMD_T = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.POINTER(DsfCmd))


class DsfHal(ctypes.Structure):
    _fields_ = [("ctx", ctypes.c_void_p), ("dma_start", _START_T), ("dma_wait", _WAIT_T),
                ("on_cmd", _ONCMD_T)]


def run_firmware_blocking(export_dir: str, engine=reference_engine):
    """Drive `dsf_fw_run_blocking` (the board path, firmware/dsf_fw_hal.c) with a Python HAL.

    Returns (dma command dicts, final int32 output). The HAL blocks in dma_wait(output) by running
    the engine on the job's weights and pixels; M2S waits return immediately.
    """
    from ..compiler.export import load_export
    export_dir = os.path.abspath(export_dir)
    hw, manifest = load_export(export_dir)
    lib = load_firmware(build_firmware(export_dir))
    lib.dsf_fw_run_blocking.restype = ctypes.c_int
    lib.dsf_fw_run_blocking.argtypes = [ctypes.c_void_p, ctypes.c_uint64, ctypes.POINTER(DsfHal)]
    mm = memory_map(lib)
    dram = np.zeros(mm["total"], dtype=np.uint8)
    place_files(dram, mm, export_dir, manifest)
    dmas, inflight, streams, errors = [], {}, {}, []

    def on_cmd(_ctx, c):
        if c.contents.kind == CMD_DMA:
            dmas.append(c.contents.as_dict())

    def dma_start(_ctx, ch, addr, n):
        c = dmas[-1]
        key = (c["bundle"], c["it"], c["p"])
        inflight[ch] = (key, addr, n)
        if ch != CH_OUTPUT:
            streams.setdefault(key, {})[M2S_STREAM[ch]] = dram[addr:addr + n].tobytes()

    def dma_wait(_ctx, ch):
        key, addr, n = inflight.pop(ch)
        if ch != CH_OUTPUT:
            return n
        try:
            s = streams.pop(key)
            out = bytes(engine(dict(hw=hw, key=key, bundle=key[0], it=key[1], p=key[2]),
                               s["w"], s["x"], s.get("s")))
            m = min(n, len(out))
            dram[addr:addr + m] = np.frombuffer(out[:m], dtype=np.uint8)
            return len(out)
        except Exception as e:  # noqa: BLE001 - exceptions cannot cross the C boundary
            errors.append(e)
            return 0

    hal = DsfHal(None, _START_T(dma_start), _WAIT_T(dma_wait), _ONCMD_T(on_cmd))
    rc = lib.dsf_fw_run_blocking(dram.ctypes.data_as(ctypes.c_void_p), dram.size,
                                 ctypes.byref(hal))
    if errors:
        raise errors[0]
    if rc != 0:
        raise FirmwareError(f"firmware error: {lib.dsf_fw_error_msg().decode()}")
    o = mm["output"]
    n = lib.dsf_fw_debug_out_words(lib.dsf_fw_n_bundles() - 1)
    return dmas, dram[o:o + 4 * n].view("<i4").copy()


def main(argv=None):
    import argparse
    ap = argparse.ArgumentParser(description="Run the C firmware on an export with the reference "
                                 "engine and compare every level.")
    ap.add_argument("export_dir")
    ap.add_argument("--jsonl", help="write the command stream as JSON lines")
    ap.add_argument("--no-check", action="store_true")
    a = ap.parse_args(argv)
    run = run_firmware(a.export_dir, reference_engine, check=not a.no_check, jsonl=a.jsonl)
    n_dma = sum(1 for c in run.commands if c["cmd"] == "dma")
    print(f"firmware OK: {n_dma} DMA commands, {len(run.raw_streams)} jobs, "
          f"final output {run.output.tolist()}")


if __name__ == "__main__":
    main()

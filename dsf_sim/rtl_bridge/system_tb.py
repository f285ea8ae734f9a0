"""Whole-system Verilator testbench (docs/architecture.md §11): rtl/tb/tb_system.sv + the C firmware.

`run_system_tb(export_dir, seed, valid_prob, ready_prob, watchdog)` builds (cached) and runs the
SV top `tb_system` (dsf_engine + M2S/S2M DMA models + xorshift32 handshakes) with the firmware
(firmware/dsf_fw.c, dsf_fw_hal.c, compiled unchanged with -I<export config>) called through DPI-C,
and returns the result dict (schema shared with the cycle model's system harness). The returned
dict's "run" entry is a `dsf_sim.firmware.FirmwareRun` built from the final DRAM image and the
output-DMA dumps, so `dsf_sim.firmware.compare_run` checks every level.

Build cache (build/system_<hwkey>/): the Verilator model + harness objects depend only on the
RTL, the tb sources, the firmware header and config_hw.svh; the per-export link step
(fw_<fwkey>/tb_system) adds the firmware objects compiled with gcc and the firmware library's own
flags (dsf_sim.firmware.CFLAGS minus -shared/-fPIC) against the export's config_fw.h. The firmware
key is dsf_sim.firmware._fw_hash (the ctypes library's cache key), recorded in the result as
"fw_hash" together with "fw_sources_sha256" (checked equal to the ctypes build's sources).
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import subprocess
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
RTL_DIR = REPO / "rtl"
TB_DIR = RTL_DIR / "tb"
FW_DIR = REPO / "firmware"
TB_FILES = ("tb_system.sv", "tb_system_main.cpp", "tb_system_dpi.cpp", "tb_system.h")
DEFAULT_BUILD_DIR = REPO / "build"


class SystemTbError(RuntimeError):
    """The system testbench failed (watchdog, protocol error, firmware error); .result has the
    parsed result dict when available."""

    def __init__(self, msg, result=None):
        super().__init__(msg)
        self.result = result


def fw_sources_sha256() -> str:
    """Hash of the firmware sources as compiled into both the ctypes library and this testbench."""
    from ..runtime.fw_driver import FW_HEADERS, FW_SOURCES
    h = hashlib.sha256()
    for name in FW_SOURCES + FW_HEADERS:
        h.update(name.encode() + b"\0" + (FW_DIR / name).read_bytes())
    return h.hexdigest()


def _hardware(export_dir):
    from ..compiler.export import load_export
    return load_export(export_dir)[0]


def _run(cmd, log, cwd=None):
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd)
    with open(log, "a") as f:
        f.write(" ".join(map(str, cmd)) + "\n" + r.stdout + r.stderr + "\n")
    if r.returncode != 0:
        raise SystemTbError(f"build step failed (see {log}):\n{r.stderr[-4000:]}")


def _build_model(svh: str, build_dir: Path, jobs: int = 2) -> Path:
    """Verilate tb_system + the engine for one config_hw.svh; compile the model archive and the
    harness objects (no link: the firmware objects are per export)."""
    from .engine_tb import _verilator_version
    h = hashlib.sha256()
    for p in sorted(RTL_DIR.glob("*.sv")) + [TB_DIR / n for n in TB_FILES] + [FW_DIR / "dsf_fw.h"]:
        h.update(p.name.encode() + b"\0" + p.read_bytes())
    h.update(svh.encode())
    h.update(_verilator_version().encode())
    out = Path(build_dir) / f"system_{h.hexdigest()[:16]}"
    obj = out / "obj"
    stamp = out / "model.ok"
    if stamp.exists():
        return out
    out.mkdir(parents=True, exist_ok=True)
    with open(out / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.exists():
            return out
        (out / "config_hw.svh").write_text(svh)
        log = out / "build.log"
        cmd = ["verilator", "--cc", "--exe", "-O2", "-Wno-fatal", "--top-module", "tb_system",
               f"-I{out}", f"-I{RTL_DIR}", "--Mdir", str(obj), "-o", "tb_system",
               "-CFLAGS", f"-O1 -std=c++17 -I{FW_DIR} -I{TB_DIR}",
               str(TB_DIR / "tb_system.sv"), *[str(p) for p in sorted(RTL_DIR.glob("*.sv"))],
               str(TB_DIR / "tb_system_main.cpp"), str(TB_DIR / "tb_system_dpi.cpp")]
        _run(cmd, log)
        classes = (obj / "Vtb_system_classes.mk").read_text()
        glob_objs, on = [], False
        for line in classes.splitlines():
            if re.match(r"VM_GLOBAL_(FAST|SLOW)\s*\+=", line):
                on = True
            elif on and line.startswith("\t"):
                glob_objs += [w + ".o" for w in line.replace("\\", " ").split()]
            else:
                on = False
        targets = ["Vtb_system__ALL.a", "tb_system_main.o", "tb_system_dpi.o", *glob_objs]
        _run(["make", f"-j{jobs}", "-C", str(obj), "-f", "Vtb_system.mk", *targets], log)
        (out / "link_objs.txt").write_text("\n".join(["tb_system_main.o", "tb_system_dpi.o",
                                                      *glob_objs, "Vtb_system__ALL.a"]) + "\n")
        stamp.write_text("ok\n")
    return out


def build_system_tb(export_dir, build_dir=DEFAULT_BUILD_DIR, jobs: int = 2) -> tuple[Path, dict]:
    """Build (or reuse) the testbench executable for `export_dir`; returns (exe, build info)."""
    from ..runtime.fw_driver import CFLAGS, FW_SOURCES, _fw_hash
    export_dir = os.path.abspath(export_dir)
    hw = _hardware(export_dir)
    model_dir = _build_model(hw.config_hw_svh(), Path(build_dir), jobs)
    fwkey = _fw_hash(export_dir)
    out = model_dir / f"fw_{fwkey}"
    exe = out / "tb_system"
    info = {"fw_hash": fwkey, "fw_sources_sha256": fw_sources_sha256(),
            "model_dir": str(model_dir)}
    if exe.exists():
        return exe, info
    out.mkdir(parents=True, exist_ok=True)
    with open(out / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if exe.exists():
            return exe, info
        (out / "config_fw.h").write_text(Path(export_dir, "config_fw.h").read_text())
        log = out / "build.log"
        cflags = [f for f in CFLAGS if f not in ("-shared", "-fPIC")]
        fw_objs = []
        for s in FW_SOURCES:
            o = out / (Path(s).stem + ".o")
            _run(["gcc", *cflags, "-c", f"-I{out}", f"-I{FW_DIR}", str(FW_DIR / s), "-o", str(o)],
                 log)
            fw_objs.append(str(o))
        obj = model_dir / "obj"
        objs = [str(obj / n) for n in (model_dir / "link_objs.txt").read_text().split()]
        tmp = str(exe) + f".tmp{os.getpid()}"
        _run(["g++", *objs, *fw_objs, "-lm", "-pthread", "-latomic", "-o", tmp], log)
        (out / "fw_sources_sha256").write_text(info["fw_sources_sha256"] + "\n")
        os.replace(tmp, exe)
    return exe, info


def _firmware_run(export_dir, res, out_dir):
    """A dsf_sim.firmware.FirmwareRun from the testbench's dumps."""
    from ..runtime.check import FirmwareRun
    dram = np.fromfile(os.path.join(out_dir, "dram.bin"), dtype=np.uint8)
    rawb = np.fromfile(os.path.join(out_dir, "raw.bin"), dtype=np.uint8)
    mm = res["memory_map"]
    outs = [dram[o:o + 4 * n].view("<i4").copy() for o, n in mm["bundle_out"]]
    pix = [[dram[o:o + n].tobytes() for o, n in b] for b in mm["bundle_pix"]]
    raw = {}
    for r in res["raw"]:
        raw[(r["bundle"], r["it"], r["p"])] = rawb[r["offset"]:r["offset"] + r["bytes"]].tobytes()
    with open(os.path.join(export_dir, "manifest.json")) as f:
        manifest = json.load(f)
    sm = None
    if manifest["bundles"][-1]["descriptor"]["softmax"]:
        n = manifest["sizes"]["OUTPUT_WORDS"]
        sm = dram[mm["softmax"]:mm["softmax"] + 8 * n].view("<f8").copy()
    cmds = []
    with open(os.path.join(out_dir, "log.jsonl")) as f:
        for line in f:
            cmds.append(json.loads(line))
    return FirmwareRun(export_dir, mm, cmds, outs[-1].copy(), sm, outs, pix, raw), manifest


def run_system_tb(export_dir, seed: int = 1, valid_prob: float = 1.0, ready_prob: float = 1.0,
                  watchdog: int = 200000, max_cycles: int = 200_000_000, check: bool = True,
                  build_dir=DEFAULT_BUILD_DIR, keep_dir: str | None = None) -> dict:
    """Run the whole inference of `export_dir` on the system testbench.

    Returns the result dict (keys: sim, seed, valid_prob, ready_prob, cycles_total, done_cycle,
    cycles_per_bundle, events, channels, commands, + error, returncode, memory_map, raw, fw_hash,
    fw_sources_sha256, and "run": a FirmwareRun). With check=True a nonzero exit raises
    SystemTbError (result attached) and every level is compared (compare_run, MismatchError).
    """
    from ..runtime.check import compare_run
    export_dir = os.path.abspath(export_dir)
    exe, info = build_system_tb(export_dir, build_dir)
    tmpobj = None
    if keep_dir:
        out_dir = keep_dir
        os.makedirs(out_dir, exist_ok=True)
    else:
        tmpobj = tempfile.TemporaryDirectory(prefix="dsf_sys_")
        out_dir = tmpobj.name
    try:
        cmd = [str(exe), os.path.join(export_dir, "weights.bin"),
               os.path.join(export_dir, "input.bin"), out_dir, str(int(seed) & 0xFFFFFFFF),
               repr(float(valid_prob)), repr(float(ready_prob)), str(int(watchdog)),
               str(int(max_cycles))]
        r = subprocess.run(cmd, capture_output=True, text=True)
        rp = os.path.join(out_dir, "result.json")
        if not os.path.exists(rp):
            raise SystemTbError(f"tb_system produced no result (rc={r.returncode}): {r.stderr}")
        with open(rp) as f:
            res = json.load(f)
        res.update(info)
        res["returncode"] = r.returncode
        if r.returncode != 0:
            if check:
                raise SystemTbError(f"tb_system failed (rc={r.returncode}): {res.get('error')}",
                                    res)
            return res
        run, manifest = _firmware_run(export_dir, res, out_dir)
        res["run"] = run
        if check:
            compare_run(run, _hardware(export_dir), manifest)
            res["bit_exact"] = True
        return res
    finally:
        if tmpobj is not None:
            tmpobj.cleanup()

"""Whole-system Verilator testbench (architecture §11): rtl/tb/tb_system.sv + the C firmware.

`run_system_tb(export_dir, seed, valid_prob, ready_prob, watchdog)` builds (cached) and runs the
SV top `tb_system` (dsf_engine + M2S/S2M DMA models + the handshake draws) with the firmware
(firmware/dsf_fw.c, dsf_fw_hal.c, compiled unchanged against the export's headers) called
through DPI-C, and returns the result dict (schema shared with the twin's system harness). The
returned dict's "run" entry is a `runtime.check.FirmwareRun` built from the final DRAM image and
the output-DMA dumps, so `runtime.check.compare_run` checks every level.

Builds (rtl_bridge.verilator, runtime.build_cache): the Verilator model + harness objects depend
only on the hardware and the sources ("system_<key>"); the per-export link ("system_fw_<key>")
adds the firmware objects compiled with gcc and the firmware library's own flags
(runtime.fw_driver.CFLAGS minus -shared/-fPIC). Its key includes `runtime.fw_driver.firmware_key`
(the ctypes library's cache key), recorded in the result as "fw_hash".
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from ..compiler.export import load_export
from ..errors import DsfError
from ..runtime.build_cache import cached_build, content_key
from ..runtime.fw_driver import CFLAGS, FW_DIR, FW_SOURCES, export_headers, firmware_key
from .verilator import TB_DIR, build, prng_args, read_json, run

TB_FILES = ("tb_system.sv", "tb_system_main.cpp", "tb_system_dpi.cpp")
TB_HEADERS = ("tb_system.h",)


class SystemTbError(DsfError):
    """The system testbench failed (watchdog, protocol error, firmware error); .result has the
    parsed result dict when available."""

    def __init__(self, msg, result=None):
        super().__init__(msg)
        self.result = result


def _sh(cmd, log):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    with open(log, "a") as f:
        f.write(" ".join(map(str, cmd)) + "\n" + r.stdout + r.stderr + "\n")
    if r.returncode != 0:
        raise SystemTbError(f"build step failed (see {log}):\n{r.stderr[-4000:]}")


def _compile_objects(out: Path, jobs: int = 2, copt: str | None = None):
    """The unlinked part: Verilator's model archive and the harness objects (the firmware objects
    are linked in per export). `copt`: the C++ level of the model's hot files and the runtime
    (Verilator's OPT_FAST / OPT_GLOBAL); None keeps Verilator's defaults (-Os)."""
    obj = out / "obj"
    classes = (obj / "Vtb_system_classes.mk").read_text()
    glob_objs, on = [], False
    for line in classes.splitlines():
        if re.match(r"VM_GLOBAL_(FAST|SLOW)\s*\+=", line):
            on = True
        elif on and line.startswith("\t"):
            glob_objs += [w + ".o" for w in line.replace("\\", " ").split()]
        else:
            on = False
    objs = ["tb_system_main.o", "tb_system_dpi.o", *glob_objs]
    opt = [f"OPT_FAST={copt}", f"OPT_GLOBAL={copt}"] if copt else []
    _sh(["make", f"-j{jobs}", "-C", obj, "-f", "Vtb_system.mk", *opt, "Vtb_system__ALL.a", *objs],
        out / "build.log")
    (out / "link_objs.txt").write_text("\n".join(objs + ["Vtb_system__ALL.a"]) + "\n")


def build_system_tb(export_dir, copt: str | None = None) -> tuple[Path, dict]:
    """The testbench executable for `export_dir` (model per hardware, link per firmware).
    `copt` (e.g. "-O3"): the model's C++ level (benchmarks); None: Verilator's defaults."""
    import functools
    if copt is not None and copt not in ("-O0", "-O1", "-O2", "-O3", "-Os"):
        raise DsfError(f"system testbench: copt = {copt!r} is invalid: allowed one of -O0, -O1, "
                       f"-O2, -O3, -Os")
    export_dir = os.path.abspath(export_dir)
    hw, _ = load_export(export_dir)
    model = build("system", hw, "tb_system", tb_files=[TB_DIR / n for n in TB_FILES],
                  include=[FW_DIR], key_files=[TB_DIR / n for n in TB_HEADERS]
                  + [Path(FW_DIR) / "dsf_fw.h"], link=False,
                  post=functools.partial(_compile_objects, copt=copt),
                  **({"copt": copt} if copt else {}))
    fwkey = firmware_key(export_dir)
    info = {"fw_hash": fwkey, "model_dir": str(model)}

    def link(out):
        log = out / "build.log"
        for hdr in export_headers(export_dir):
            (out / os.path.basename(hdr)).write_bytes(Path(hdr).read_bytes())
        cflags = [f for f in CFLAGS if f not in ("-shared", "-fPIC")]
        fw_objs = []
        for src in FW_SOURCES:
            o = out / (Path(src).stem + ".o")
            _sh(["gcc", *cflags, "-c", f"-I{out}", f"-I{FW_DIR}", Path(FW_DIR) / src, "-o", o], log)
            fw_objs.append(o)
        objs = [model / "obj" / n for n in (model / "link_objs.txt").read_text().split()]
        _sh(["g++", *objs, *fw_objs, "-lm", "-pthread", "-latomic", "-o", out / "tb_system"], log)

    key = content_key(texts=[model.name, fwkey])
    return cached_build("system_fw", key, link) / "tb_system", info


def _firmware_run(export_dir, res, out_dir):
    """A runtime.check.FirmwareRun from the testbench's dumps."""
    from ..runtime.check import FirmwareRun
    from ..runtime.fw_driver import read_softmax
    dram = np.fromfile(os.path.join(out_dir, "dram.bin"), dtype=np.uint8)
    rawb = np.fromfile(os.path.join(out_dir, "raw.bin"), dtype=np.uint8)
    mm = res["memory_map"]
    _, manifest = load_export(export_dir)
    outs = [dram[o:o + 4 * n].view("<i4").copy()
            if bm["descriptor"].get("out_int", 1) else None
            for (o, n), bm in zip(mm["bundle_out"], manifest["bundles"])]
    pix = [[dram[o:o + n].tobytes() for o, n in b] for b in mm["bundle_pix"]]
    raw = {}
    for r in res["raw"]:
        raw[(r["bundle"], r["it"], r["p"])] = rawb[r["offset"]:r["offset"] + r["bytes"]].tobytes()
    sm = read_softmax(dram, mm, manifest)
    cmds = []
    with open(os.path.join(out_dir, "log.jsonl")) as f:
        for line in f:
            cmds.append(json.loads(line))
    return FirmwareRun(export_dir, mm, cmds, outs[-1].copy(), sm, outs, pix, raw), manifest


def run_system_tb(export_dir, seed: int = 1, valid_prob: float = 1.0, ready_prob: float = 1.0,
                  watchdog: int | None = None, max_cycles: int | None = None, check: bool = True,
                  keep_dir: str | None = None, timeout: float = 7200,
                  copt: str | None = None) -> dict:
    """Run the whole inference of `export_dir` on the system testbench.

    Returns the result dict (keys: sim, seed, valid_prob, ready_prob, cycles_total, done_cycle,
    cycles_per_bundle, events, channels, commands, + error, returncode, memory_map, raw, fw_hash,
    and "run": a FirmwareRun). With check=True a nonzero exit raises SystemTbError (result
    attached) and every level is compared (compare_run, MismatchError).
    """
    from ..runtime.check import compare_run
    from ..runtime.fw_driver import dram_files
    export_dir = os.path.abspath(export_dir)
    dram_files(export_dir)         # a wrong or damaged file is named here (the firmware checks too)
    if watchdog is None or max_cycles is None:   # budgets derived from the export (sim_limits)
        from ..compiler.export import load_export
        from ..runtime.sim_limits import limits
        hw_, manifest_ = load_export(export_dir)
        lim = limits(manifest_, hw_, valid_prob, ready_prob)
        watchdog = lim["watchdog"] if watchdog is None else watchdog
        max_cycles = lim["max_cycles"] if max_cycles is None else max_cycles
    exe, info = build_system_tb(export_dir, copt)
    tmpobj = None
    if keep_dir:
        out_dir = keep_dir
        os.makedirs(out_dir, exist_ok=True)
    else:
        tmpobj = tempfile.TemporaryDirectory(prefix="dsf_sys_")
        out_dir = tmpobj.name
    try:
        r = run([exe, os.path.join(export_dir, "weights.bin"),
                 os.path.join(export_dir, "input.bin"), out_dir,
                 *prng_args(seed, valid_prob, ready_prob), int(watchdog), int(max_cycles)],
                "tb_system", timeout)
        res = read_json(os.path.join(out_dir, "result.json"), "tb_system", r.stderr)
        res.update(info)
        res.update(returncode=r.returncode, seed=int(seed), valid_prob=float(valid_prob),
                   ready_prob=float(ready_prob))
        if r.returncode != 0:
            if check:
                raise SystemTbError(f"tb_system failed (rc={r.returncode}): {res.get('error')}",
                                    res)
            return res
        run_, manifest = _firmware_run(export_dir, res, out_dir)
        res["run"] = run_
        if check:
            compare_run(run_, load_export(export_dir)[0], manifest)
            res["bit_exact"] = True
        return res
    finally:
        if tmpobj is not None:
            tmpobj.cleanup()

"""The one Verilator runner: engine sources, content-hashed build, run with a wall-clock limit.

Every RTL harness (tb_engine, tb_lockstep, the system testbench, the pyverilator model) is built
by `build`: the engine's RTL (rtl/*.sv, optionally with one mutation of the registry applied to
a copy), the files generated from the hardware (dsf_cfg.sv, config_hw.svh, dsf_cfg.h) and any
generated testbench texts are written into the build folder, which is keyed by a hash of all of
them, the harness sources, the flags and the Verilator version (runtime.build_cache). `run`
starts a harness and turns a hang, a crash or a missing result into a named error.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from ..assets import asset_dir
from ..errors import DsfError
from ..compiler.rtl_config import c_header, rtl_sources
from ..models.engine.mutations import patch_rtl
from ..runtime.build_cache import cached_build, content_key, tool_version

RTL_DIR = asset_dir("rtl")
TB_DIR = RTL_DIR / "tb"


class VerilatorError(DsfError):
    """A harness could not be built, hung past its wall-clock limit or produced no result."""


def require_verilator():
    if shutil.which("verilator") is None:
        raise VerilatorError("verilator = not found is invalid: allowed an installed Verilator "
                             "(scripts/setup.sh installs Debian's)")


def engine_texts(hw, mutation=None) -> dict:
    """{file name: text} of the engine as built: rtl/*.sv (with `mutation` applied), the
    generated package and reset header, and the C header for C++ harnesses."""
    rtl = {p.name: p.read_text() for p in sorted(RTL_DIR.glob("*.sv"))}
    if mutation not in (None, "none"):
        rtl = patch_rtl(rtl, mutation)
    gen = dict(rtl_sources(hw))
    gen["dsf_cfg.h"] = c_header(hw)
    return {**gen, **rtl}


def build(kind: str, hw, top: str, tb_files=(), tb_texts=None, mutation=None, defines=(),
          trace=False, exe: str | None = None, link=True, jobs: int = 2, include=(),
          key_files=(), post=None, cdefines=(), copt: str = "-O1") -> Path:
    """Verilate `top` (dsf_engine or a testbench) with the engine sources, compile the C++
    harness; cached by content. Returns the build folder (sources in src/, objects in obj/,
    the executable obj/<exe> when `link`). `include`: extra C++ include folders, `key_files`:
    headers they hold that the build depends on, `post(folder)`: a last build step (e.g.
    compiling objects of an unlinked build), run inside the cache lock. `defines` go to
    Verilator (+define+), `cdefines` to the C++ compiler (-D). `copt`: the C++ optimisation
    level (-O1 compiles fast for the many test builds; lockstep's harness runs long: -O3)."""
    require_verilator()
    texts = engine_texts(hw, mutation)
    texts.update(tb_texts or {})
    tb_files = [Path(f) for f in tb_files]
    exe = exe or top
    flags = ["-O2", "-Wno-fatal", "--top-module", top] + (["--trace"] if trace else [])
    # Verilator's makefile appends OPT_FAST (-Os) after CFLAGS, which would override `copt` for
    # the model's hot files: set it (and the runtime's OPT_GLOBAL) to `copt` too
    flags += ["-MAKEFLAGS", f"OPT_FAST={copt} OPT_GLOBAL={copt}"] if link else []
    flags += [f"+define+{d}" for d in sorted(defines)]
    key = content_key(files=tb_files + [TB_DIR / "tb_common.h"] + [Path(f) for f in key_files],
                      texts=[f"{n}\0{t}" for n, t in sorted(texts.items())],
                      extra=[tool_version(["verilator", "--version"]), exe, link, copt] + flags
                      + [str(i) for i in include] + [f"-D{d}" for d in cdefines])

    def do(out):
        src = out / "src"
        src.mkdir(exist_ok=True)
        for name, text in texts.items():
            (src / name).write_text(text)
        sv = [src / "dsf_cfg.sv"] + sorted(p for p in src.glob("*.sv") if p.name != "dsf_cfg.sv")
        cmd = (["verilator", "--cc", "--exe"] + (["--build", "-j", str(jobs)] if link else [])
               + flags + [f"-I{src}", "--Mdir", str(out / "obj"), "-o", exe,
                          "-CFLAGS", " ".join([copt, "-std=c++17", f"-I{TB_DIR}", f"-I{src}"]
                                              + [f"-I{i}" for i in include]
                                              + [f"-D{d}" for d in cdefines])]
               + [str(p) for p in sv + [f for f in tb_files if f.suffix == ".sv"]]
               + [str(f) for f in tb_files if f.suffix == ".cpp"])
        r = subprocess.run(cmd, capture_output=True, text=True)
        (out / "build.log").write_text(" ".join(cmd) + "\n" + r.stdout + r.stderr)
        if r.returncode != 0 or (link and not (out / "obj" / exe).exists()):
            raise VerilatorError(f"verilator build of {top} failed (see {out / 'build.log'}):\n"
                                 f"{r.stderr[-4000:]}")
        if post is not None:
            post(out)

    return cached_build(kind, key, do)


def run(cmd, what: str, timeout: float = 3600) -> subprocess.CompletedProcess:
    """Run a harness; a wall-clock overrun is a named error (the cycle watchdogs live in the
    harnesses themselves)."""
    try:
        return subprocess.run([str(c) for c in cmd], capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        raise VerilatorError(f"{what}: timeout = {timeout} s exceeded (wall clock) without a "
                             f"result; raise timeout= or check the harness") from None


def read_json(path, what: str, stderr: str = "") -> dict:
    """A harness's result file, or a named error saying what the harness printed instead."""
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise VerilatorError(f"{what} wrote no result ({os.path.basename(path)}): "
                             f"{stderr.strip()[-2000:]}") from None
    except json.JSONDecodeError as e:
        raise VerilatorError(f"{what} wrote a malformed {os.path.basename(path)} ({e})") from None


def prng_args(seed, valid_prob, ready_prob) -> list:
    """Command-line form of the handshake stimulus: initial xorshift32 states and thresholds of
    channels 0 pixels, 1 weights, 2 output, 3 skip (models.prng: the one seeding and threshold
    rule)."""
    from ..models.prng import setup
    _, states, thr = setup(seed, valid_prob, ready_prob)
    return [",".join(str(int(v)) for v in states), ",".join(str(int(v)) for v in thr)]

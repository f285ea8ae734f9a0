"""What every build folder shares: the equivalence-certificate gate and the atomic folder write.

A build (FPGA: `fpga_flow.build_fpga`, ASIC: `asic_flow.build_asic`) is written only for an
(RTL, hardware) pair with a matching equivalence certificate (`certificate.check_certificate`),
or with `force=True`, which is printed loudly and recorded in the folder's BUILD_INFO.json and
in every generated script. `hw.export_vivado_tcl` (DeepSoCFlow's call, made before any
certificate exists) writes quietly, marked UNCERTIFIED, with a TCL guard that stops Vivado unless
DSF_ALLOW_UNCERTIFIED is set.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile

from ..compiler.rtl_config import rtl_sources
from ..errors import DsfError
from .certificate import CertificateError, check_certificate, default_path

_BANNER = ("!" * 78 + "\n!! dsf_sim: NO EQUIVALENCE CERTIFICATE for this RTL + hardware config.\n"
           "!! Building anyway because of --force / override=True. The RTL has NOT been proven\n"
           "!! equal to the cycle model for this configuration.\n" + "!" * 78)

INFO = "BUILD_INFO.json"


def gate(hw, certificate=None, force=False, uncertified_ok=False) -> dict:
    """The certificate check of a build: {stamp (a TCL comment), tcl_guard, record}. No matching
    certificate: a CertificateError, or with force a loud banner, or with uncertified_ok a quiet
    UNCERTIFIED stamp plus a TCL guard."""
    path = certificate or default_path(hw)
    try:
        cert = check_certificate(hw, certificate)
    except CertificateError as e:
        why = str(e).replace("\n", " ")
        if uncertified_ok:
            return dict(stamp=f"# UNCERTIFIED: {why}",
                        tcl_guard="if {![info exists ::env(DSF_ALLOW_UNCERTIFIED)]} { error "
                                  "\"dsf_sim: no equivalence certificate for this RTL + "
                                  "hardware; run `dsf lockstep` and re-export, or set "
                                  "DSF_ALLOW_UNCERTIFIED=1 to build anyway\" }",
                        record=dict(status="uncertified", reason=why, certificate=path))
        if not force:
            raise CertificateError(f"{e}. Pass override=True (CLI: --force) to build anyway.") \
                from None
        print(_BANNER, file=sys.stderr)
        return dict(stamp="# UNCERTIFIED BUILD (forced: --force / override=True): " + why,
                    tcl_guard="", record=dict(status="forced", reason=why, certificate=path))
    return dict(stamp=f"# equivalence certificate: {cert['rtl_sha256'][:16]} / "
                      f"{cert['config_sha256'][:16]}, {cert['cycles_compared']} cycles compared",
                tcl_guard="", record=dict(status="certified", certificate=path,
                                          rtl_sha256=cert["rtl_sha256"],
                                          config_sha256=cert["config_sha256"],
                                          cycles_compared=cert["cycles_compared"],
                                          runs=[r.get("model") for r in cert.get("runs", [])]))


def staged_folder(out_dir: str, write) -> dict:
    """Run `write(stage) -> info` in a staging folder inside out_dir, then move its entries into
    out_dir and write BUILD_INFO.json last (a folder with BUILD_INFO.json is complete). Entries
    of out_dir are replaced only when a previous dsf build wrote them; anything else of the same
    name is a named error, never overwritten."""
    os.makedirs(out_dir, exist_ok=True)
    ours = set()
    old = os.path.join(out_dir, INFO)
    if os.path.exists(old):
        try:
            with open(old) as f:
                ours = set(json.load(f).get("entries", []))
        except (OSError, ValueError):
            raise DsfError(f"{old} is invalid: allowed a BUILD_INFO.json written by dsf build "
                           "(unreadable; remove the folder)") from None
    stage = tempfile.mkdtemp(prefix=".dsf_build_", dir=out_dir)
    try:
        info = write(stage)
        entries = sorted(os.listdir(stage))
        for name in entries:
            dst = os.path.join(out_dir, name)
            if os.path.isdir(dst) and name not in ours:
                raise DsfError(f"out_dir = {out_dir!r} is invalid: allowed a new folder or one "
                               f"written by dsf build ({dst} exists and is not a build's)")
        if os.path.exists(old):
            os.remove(old)
        for name in entries:
            dst = os.path.join(out_dir, name)
            if os.path.isdir(dst) and not os.path.islink(dst):
                shutil.rmtree(dst)
            os.replace(os.path.join(stage, name), dst)
        info = dict(info, entries=entries)
        with open(old + ".tmp", "w") as f:
            json.dump(info, f, indent=1)
        os.replace(old + ".tmp", old)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return info


def write_text(path: str, text: str) -> None:
    """A generated file inside a (staging) build folder, its folders created."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def copy_rtl(hw, rtl_src: str, rtl_dir: str) -> None:
    """A build folder's rtl/: the engine's .sv/.svh sources plus the files generated from the
    hardware (dsf_cfg.sv, config_hw.svh), so the folder needs nothing from the checkout."""
    os.makedirs(rtl_dir)
    for n in sorted(os.listdir(rtl_src)):
        if n.endswith((".sv", ".svh")):
            shutil.copy(os.path.join(rtl_src, n), rtl_dir)
    for n, text in rtl_sources(hw).items():
        write_text(os.path.join(rtl_dir, n), text)

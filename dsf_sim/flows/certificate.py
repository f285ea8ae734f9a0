"""Equivalence certificates: proof that an (RTL, hardware config) pair was checked against the model.

A passing lockstep run writes one (`write_certificate`). Build flows (`build_flows.py`) refuse to
produce Vivado/Genus scripts for a pair without a matching certificate unless explicitly overridden
(the override is printed loudly). Any change to an RTL source, to the generated `dsf_cfg.sv` /
`config_hw.svh` or to the cycle model's sources changes a hash and invalidates the certificate.
"""
from __future__ import annotations

import datetime as _dt
import glob
import json
import os

from ..compiler.rtl_config import rtl_sources
from ..errors import DsfError
from ..assets import PACKAGE, asset_dir
from ..runtime.build_cache import build_root, digest

RTL_DIR = str(asset_dir("rtl"))
MODEL_DIR = str(PACKAGE / "models")
DEFAULT_DIR = os.environ.get("DSF_CERT_DIR", os.path.join(build_root(), "certificates"))


class CertificateError(DsfError):
    """No certificate, or one that does not match the current RTL/config/model."""


def _hash_files(paths, root) -> str:
    paths = sorted(paths)
    return digest(files=paths, names=[os.path.relpath(p, root) for p in paths])


def rtl_hash(rtl_dir: str = RTL_DIR) -> str:
    """Hash of the synthesisable RTL (rtl/*.sv; testbenches excluded)."""
    files = glob.glob(os.path.join(rtl_dir, "*.sv")) + glob.glob(os.path.join(rtl_dir, "*.svh"))
    if not files:
        raise CertificateError(f"rtl_dir = {rtl_dir!r} is invalid: allowed a folder with *.sv files")
    return _hash_files(files, os.path.dirname(rtl_dir))


def config_hash(hw) -> str:
    """Hash of the files generated from the hardware for the RTL (dsf_cfg.sv, config_hw.svh)."""
    return digest(texts=[f"{n}\0{t}" for n, t in sorted(rtl_sources(hw).items())])


def model_hash() -> str:
    """Hash of the twin's sources (dsf_sim/models, recursively)."""
    files = glob.glob(os.path.join(MODEL_DIR, "**", "*.py"), recursive=True)
    return _hash_files(files, os.path.dirname(os.path.dirname(MODEL_DIR)))


def identity(hw, rtl_dir: str = RTL_DIR) -> dict:
    return {"rtl_sha256": rtl_hash(rtl_dir), "config_sha256": config_hash(hw),
            "model_sha256": model_hash()}


def default_path(hw, rtl_dir: str = RTL_DIR) -> str:
    ident = identity(hw, rtl_dir)
    key = digest(texts=[ident["rtl_sha256"], ident["config_sha256"]])[:16]
    return os.path.join(DEFAULT_DIR, f"cert_{key}.json")


def write_certificate(hw, runs: list, path: str | None = None, rtl_dir: str = RTL_DIR) -> str:
    """Record a passing equivalence check. `runs`: dicts with at least model, seed, cycles."""
    if not runs:
        raise CertificateError("runs = [] is invalid: allowed at least one passing run")
    for r in runs:
        if not r.get("passed", False):
            raise CertificateError(f"run {r.get('model')} seed {r.get('seed')} did not pass: "
                                   "a certificate needs only passing runs")
    cert = {"kind": "dsf_sim equivalence certificate", "version": 1,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            **identity(hw, rtl_dir), "hardware": hw.to_dict(), "runs": runs,
            "cycles_compared": int(sum(int(r.get("cycles", 0)) for r in runs))}
    path = path or default_path(hw, rtl_dir)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(cert, f, indent=1)
    return path


def check_certificate(hw, path: str | None = None, rtl_dir: str = RTL_DIR) -> dict:
    """Return the certificate for (RTL, hw) or raise CertificateError saying what differs."""
    path = path or default_path(hw, rtl_dir)
    if not os.path.exists(path):
        raise CertificateError(f"certificate = {path!r} is invalid: allowed an existing "
                               "certificate (run `dsf lockstep` for this RTL and hardware)")
    with open(path) as f:
        cert = json.load(f)
    now = identity(hw, rtl_dir)
    for key, what in (("rtl_sha256", "RTL sources"), ("config_sha256", "hardware config"),
                      ("model_sha256", "cycle model")):
        if cert.get(key) != now[key]:
            raise CertificateError(f"certificate {path}: {what} changed since it was written "
                                   f"({key} {cert.get(key, '?')[:12]} != {now[key][:12]}); "
                                   "re-run the equivalence check")
    if cert.get("cycles_compared", 0) <= 0:
        raise CertificateError(f"certificate {path}: cycles_compared = 0 is invalid: allowed > 0")
    return cert

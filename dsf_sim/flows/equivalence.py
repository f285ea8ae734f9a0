"""Proving an (RTL, hardware) pair equivalent to the twin on a model, and recording it.

`lockstep_model` exports a model, runs every job back to back through RTL and twin in lockstep
(rtl_bridge.lockstep) and, when every compared signal agreed on every cycle, writes an
equivalence certificate (flows.certificate) that the build flows require.
"""
from __future__ import annotations

import tempfile

from ..rtl_bridge.lockstep import COMPARED, check_window, export_jobs, lockstep
from .certificate import write_certificate


def lockstep_model(model, hw, seed=0, valid_prob=None, ready_prob=None, window=16, out_dir=None,
                   cert_path=None, name="model", write_cert=True, x=None, **kw):
    """Export `model`, lockstep all its jobs back to back, write a certificate on success.
    Returns (LockstepResult, certificate path or None)."""
    check_window(window)                  # before the export: a user's typo fails at once
    out_dir = out_dir or tempfile.mkdtemp(prefix="dsf_lockstep_")
    vp = hw.valid_prob if valid_prob is None else valid_prob
    rp = hw.ready_prob if ready_prob is None else ready_prob
    ex = model.export_inference(x=model.random_input if x is None else x, hw=hw, out_dir=out_dir)
    res = lockstep(hw, export_jobs(ex), seed, vp, rp, window=window, vcd_dir=out_dir, **kw)
    cert = None
    if res.passed and write_cert:
        cert = write_certificate(hw, [{"model": name, "seed": int(seed), "valid_prob": vp,
                                       "ready_prob": rp, "cycles": int(res.cycles),
                                       "jobs": int(res.jobs), "passed": True,
                                       "compared": list(COMPARED)}], path=cert_path)
    return res, cert

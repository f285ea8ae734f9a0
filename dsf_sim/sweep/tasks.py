"""The work functions that run on Dask workers: plain functions of plain values.

Why three: the cycle simulation (seconds to a minute per ResNet-50 configuration) does not
depend on DRAM, so it is one task per (hardware, network, mode); each DRAM point is a cheap
SoC-model task that takes the engine task's result as its input; yosys (minutes) depends on the
hardware alone, so it is one task per configuration. Inputs are dicts (the resolved hardware,
the network), outputs dicts of numbers (and the engine's per-layer results for the SoC step),
so any worker can run any task and the client can store every result.

A network that does not fit the configuration is not a failure of the sweep: the engine task
returns status "infeasible" with the named reason (HardwareError / ModelError text). Anything
else raises, and the runner records the point as an error.
"""
from __future__ import annotations

import os
import tempfile
import time

from ..errors import DsfError


def _hw(hw: dict):
    from ..compiler.hardware import Hardware
    return Hardware.from_dict(hw)


def build_network(net: dict, hw, seed: int):
    """The network on `hw` through the same path as `dsf bench` (api.model_file)."""
    from ..api.model_file import resolve_network
    model, _, _ = resolve_network(net["source"], hw, net.get("input_size"), seed=seed,
                                  batch=net.get("batch", 1))
    return model


def engine_task(net: dict, hw: dict, mode: str, seed: int) -> dict:
    """Per-layer engine cycles and bytes from the cycle model (every job with mode 'exact',
    plus a bit-exact run of the twin on the exported network)."""
    from ..perf import bench as B
    from ..perf.report import engine_layers
    t0 = time.time()
    h = _hw(hw)
    try:
        model = build_network(net, h, seed)
        layers = engine_layers(model, h, exact=mode == "exact", progress=False)
    except DsfError as e:
        return dict(status="infeasible", reason=f"{type(e).__name__}: {e}",
                    engine_s=time.time() - t0)
    out = dict(status="ok", reason="", layers=layers, engine=B.totals(layers, h))
    if mode == "exact":
        out.update(bit_exact_run(model, h, seed))
    out["engine_s"] = time.time() - t0
    return out


def bit_exact_run(model, hw, seed: int) -> dict:
    """`dsf verify --sim model` (the twin's job-level fast path): export, run, every level
    compared; a difference raises MismatchError (an error row, never a silent pass). Slow for
    large networks (ResNet-50: minutes)."""
    from ..flows.verify import verify
    with tempfile.TemporaryDirectory(prefix="dsf_sweep_") as d:
        r = verify(model, SIM="model", seed=seed, out_dir=d, hw=hw, twin="fast")
    return dict(bit_exact=bool(r["bit_exact"]), twin_cycles=int(r["cycles_total"]))


def soc_config(dram: dict, cpu: str):
    from ..models.soc_model import SocConfig
    if "preset" in dram:
        return SocConfig.preset(dram["preset"], cpu)
    return SocConfig.preset(dict(dram), cpu)


def ram_bits(h) -> int:
    """On-chip RAM: the two weight banks, RAM_WEIGHTS_DEPTH x (COLS x K_BITS) each (the
    engine's only RAMs; its FIFOs and pixel slots are registers, counted by yosys as FFs)."""
    return 2 * h.RAM_WEIGHTS_DEPTH * h.COLS * h.K_BITS


def point_task(eng: dict, hw: dict, dram: dict, cpu: str) -> dict:
    """One point's metrics: the SoC/DRAM model run on the engine task's layers."""
    t0 = time.time()
    if eng["status"] != "ok":
        return dict(status=eng["status"], reason=eng["reason"])
    from ..models.soc_model import run_soc
    h = _hw(hw)
    soc = run_soc(eng["layers"], h, soc_config(dram, cpu), record_timeline=False)
    e = eng["engine"]
    nbytes = int(sum(soc.channel_bytes.values()))
    return dict(status="ok", reason="", fps=float(soc.fps), engine_fps=float(e["fps"]),
                time_ms=soc.total_s * 1e3, utilisation=float(e["utilisation"]),
                dram_bytes=nbytes, dram_gbs_needed=nbytes * float(soc.fps) / 1e9,
                memory_bound_layers=int(sum(soc.memory_bound())), pes=h.ROWS * h.COLS,
                ram_bits=ram_bits(h), macs=int(e["macs"]), cycles=int(e["cycles"]),
                bit_exact=eng.get("bit_exact"), twin_cycles=eng.get("twin_cycles"),
                engine_s=eng["engine_s"], soc_s=time.time() - t0, worker_pid=os.getpid())


def synth_task(hw: dict, target: str, timeout_s: float) -> dict:
    """yosys on the configured engine: generic cells, or LUT/FF/DSP/BRAM36 with synth_xilinx
    for `target` (a family). A yosys failure or timeout is returned as synth_status 'error'
    with its message (the points keep their speed figures)."""
    from ..flows.synth_estimate import synth_estimate
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="dsf_synth_") as d:
        try:
            r = synth_estimate(_hw(hw), d, target, timeout=timeout_s)
        except DsfError as e:
            return dict(synth_status="error", synth_reason=f"{type(e).__name__}: {e}",
                        synth_target=target, synth_s=time.time() - t0)
    res = r.get("resources", {})
    return dict(synth_status="ok", synth_reason="", synth_target=r["target"],
                cells=int(r["cells_total"]), LUT=res.get("LUT"), FF=res.get("FF"),
                DSP=res.get("DSP"), BRAM36=res.get("BRAM36"), synth_s=time.time() - t0)

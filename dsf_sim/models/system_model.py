"""Digital twin of a whole inference: real C firmware + three DMA channels + the engine cycle model.

Implements docs/architecture.md §11 (system timing contract) exactly; notes and the points the
SystemVerilog system testbench (rtl/tb/tb_system.sv) must match are in docs/system_model.md.

    res = run_system_model(export_dir, seed=1, valid_prob=1.0, ready_prob=1.0)
    res["firmware_run"]   # dsf_sim.firmware.FirmwareRun -> compare_run checks every level

The engine, the DMA channels and the PRNGs are `dsf_sim.models.engine.EngineState` (numpy
arrays); `EngineState.advance` (numba) runs cycles until an edge with a DMA completion and returns.
At that edge Python delivers the events to the firmware (channel order 0, 1, 2), polls
`dsf_fw_next` until WAIT/DONE and loads every DMA command's descriptor (active from the next cycle).
The firmware is polled at the edge ending cycle 0 (its first commands are active from cycle 1) and
at every edge with an event; while it waits, `dsf_fw_next` has no side effects, so this equals
polling at every edge.
"""
from __future__ import annotations

import ctypes
import json
import os
import time

import numpy as np

from ..compiler.export import load_export
from ..runtime.check import FirmwareRun, compare_run
from ..runtime.fw_driver import (CH_NAMES, CMD_DMA, CMD_DONE, CMD_ERROR, CMD_WAIT, DsfCmd,
                                 FirmwareError, build_firmware, firmware_view, load_firmware,
                                 memory_map)
from .engine import ERR_OVERFLOW, ERR_WATCHDOG, EVENT, LIMIT, EngineModelError, EngineState
from .engine.dma import C_ACT, C_BEATS, C_BUSY, C_BYTES, C_BYTESTOT, C_IDX, C_OFF, C_STALL
from .engine.registers import index as reg_index

LAST_ACT = reg_index("harness", "last_act")

NEVER = 1 << 62


class SystemWatchdogError(EngineModelError):
    """No handshake, DMA event or firmware command for `watchdog` cycles (docs §11)."""


def true_macs(manifest: dict, kernels=None) -> tuple[int, list]:
    """MACs of the original layers, per bundle, from the manifest shapes.

    conv: prod(core output shape [N, H_out, W_out, CO]) * CI * KH * KW; dense: N * CO * CI.
    The manifest holds the *lowered* kernel (kh_e, kw_e); for stride 1 it is the original kernel.
    For strided bundles pass `kernels` ({bundle: (KH, KW)}, e.g. from the Bundle objects), else the
    lowered taps / (sH*sW) (rounded up per axis) are used as an estimate."""
    per = []
    for bm in manifest["bundles"]:
        if "macs" in bm and not kernels:                # exact, written by export
            per.append(int(bm["macs"]))
            continue
        d = bm["descriptor"]
        core = bm["stages"]["core"]["shape"]
        if d["kind"] != 0 or len(core) == 2:          # dense
            per.append(int(np.prod(core)) * int(d["ci"]))
            continue
        if kernels and bm["idx"] in kernels:
            kh, kw = kernels[bm["idx"]]
        elif d["sh"] == 1 and d["sw"] == 1:
            kh, kw = d["kh_e"], d["kw_e"]
        else:
            kh = d["kh_e"] * d["sh"]
            kw = d["kw_e"] * d["sw"]
        per.append(int(np.prod(core)) * int(d["ci"]) * int(kh) * int(kw))
    return sum(per), per


def run_system_model(export_dir: str, seed: int = 1, valid_prob: float = 1.0,
                     ready_prob: float = 1.0, timing_only: bool = False,
                     watchdog: int = 200000, check: bool = False, kernels=None,
                     max_cycles: int = NEVER) -> dict:
    """Cycle-accurate run of a whole exported inference (docs §11). Returns the §11 result dict
    (schema shared with rtl_bridge.system_tb.run_system_tb) plus model-only extras and
    "firmware_run" (a FirmwareRun; `check=True` also runs compare_run on it -- not meaningful with
    timing_only, whose engine output data are zeros)."""
    t_wall = time.time()
    export_dir = os.path.abspath(export_dir)
    hw, manifest = load_export(export_dir)
    lib = load_firmware(build_firmware(export_dir))
    mm = memory_map(lib)
    B = hw.AXI_BYTES
    total = int(mm["total"])
    dram = np.zeros(total + 2 * B, dtype=np.uint8)    # + pad: a partial last M2S beat reads past
    wts = np.fromfile(os.path.join(export_dir, "weights.bin"), dtype=np.uint8)
    inp = np.fromfile(os.path.join(export_dir, "input.bin"), dtype=np.uint8)
    dram[mm["weights"]:mm["weights"] + wts.size] = wts
    dram[mm["input"]:mm["input"] + inp.size] = inp
    lib.dsf_fw_init(dram.ctypes.data_as(ctypes.c_void_p), total)

    es = EngineState(hw, seed, valid_prob, ready_prob, timing_only, watchdog)
    cmd = DsfCmd()
    commands, events, fw_log, raw = [], [], [], {}
    inflight = [None, None, None]          # per channel: the DMA command dict in flight
    last_cmd = [None]
    done_cycle = None

    def poll(t):
        nonlocal done_cycle
        while True:
            k = lib.dsf_fw_next(ctypes.byref(cmd))
            if k == CMD_ERROR:
                raise FirmwareError(f"firmware error at cycle {t}: "
                                    f"{lib.dsf_fw_error_msg().decode()}")
            c = cmd.as_dict()
            last_cmd[0] = dict(c, cycle=t)
            if k == CMD_DMA:
                ch = c["ch"]
                if inflight[ch] is not None:
                    raise FirmwareError(f"cycle {t}: firmware started channel {ch} "
                                        f"({CH_NAMES[ch]}) while busy: {c}")
                if c["addr"] + c["bytes"] > total:
                    raise FirmwareError(f"cycle {t}: DMA outside DRAM ({total} bytes): {c}")
                rec = dict(cycle=t, cmd="dma", ch=ch, chan=CH_NAMES[ch], addr=int(c["addr"]),
                           bytes=int(c["bytes"]), bundle=c["bundle"], it=c["it"], p=c["p"],
                           job=c["job"])
                commands.append(rec)
                fw_log.append(rec)
                inflight[ch] = rec
                es.start(ch, rec["addr"], rec["bytes"])
                es.S[LAST_ACT] = t             # a firmware command is activity (watchdog)
                continue
            if k == CMD_WAIT:
                return False
            if k == CMD_DONE:
                commands.append(dict(cycle=t, cmd="done"))
                fw_log.append(dict(cycle=t, cmd="done"))
                done_cycle = t
                return True
            raise FirmwareError(f"cycle {t}: unknown firmware command kind {k}")

    # cycle 0: nothing active (the PRNGs step); the firmware is first polled at its end
    es.advance(dram, 1)
    finished = poll(0)
    while not finished:
        st = es.advance(dram, max_cycles)
        t = es.cycle - 1                       # the edge ending cycle t
        if st == EVENT:
            for ch, nbytes in es.take_events():
                d = inflight[ch]
                inflight[ch] = None
                ev = dict(cycle=t, ch=ch, bytes=int(nbytes), bundle=d["bundle"], it=d["it"],
                          p=d["p"])
                events.append(ev)
                fw_log.append(dict(ev, cmd="event", chan=CH_NAMES[ch], job=d["job"]))
                if ch == 2 and not timing_only:
                    raw[(d["bundle"], d["it"], d["p"])] = \
                        dram[d["addr"]:d["addr"] + nbytes].tobytes()
                lib.dsf_fw_dma_done(ch, int(nbytes))
            finished = poll(t)
            continue
        if st == ERR_WATCHDOG or st == LIMIT:
            raise SystemWatchdogError(_watchdog_report(es, inflight, last_cmd[0], t, watchdog,
                                                       st == LIMIT))
        if st == ERR_OVERFLOW:
            d = inflight[2]
            raise EngineModelError(
                f"cycle {t}: output DMA overflow: the engine sent more than the descriptor's "
                f"{d['bytes']} bytes for job (bundle {d['bundle']}, it {d['it']}, p {d['p']})")
        raise EngineModelError(f"engine model: unexpected status {st} at cycle {t}")

    cycles_total = done_cycle + 1
    # per-bundle cycles: end(b) = cycle of the completion of bundle b's last output DMA
    nb = lib.dsf_fw_n_bundles()
    ends = [-1] * nb
    for ev in events:
        if ev["ch"] == 2:
            ends[ev["bundle"]] = max(ends[ev["bundle"]], ev["cycle"])
    cpb, prev = [], -1
    for b in range(nb):
        cpb.append(ends[b] - prev)
        prev = ends[b]
    cpb[-1] += done_cycle - ends[-1]
    C = es.C
    channels = {name: dict(bytes=int(C[ch, C_BYTESTOT]), beats=int(C[ch, C_BEATS]),
                           busy_cycles=int(C[ch, C_BUSY]), stall_cycles=int(C[ch, C_STALL]))
                for ch, name in enumerate(CH_NAMES)}
    macs, macs_b = true_macs(manifest, kernels)
    wall = time.time() - t_wall

    # the firmware's view of every level (compare_run)
    outs, pix, sm = firmware_view(lib, mm, dram, manifest)
    run = FirmwareRun(export_dir, mm, fw_log, outs[-1].copy(), sm, outs, pix, raw)
    if check and not timing_only:
        compare_run(run, hw, manifest)

    PE = hw.ROWS * hw.COLS
    res = {
        "sim": "model", "seed": int(seed), "valid_prob": float(valid_prob),
        "ready_prob": float(ready_prob), "cycles_total": int(cycles_total),
        "done_cycle": int(done_cycle), "cycles_per_bundle": [int(c) for c in cpb],
        "events": events, "channels": channels, "commands": commands,
        # model-only extras
        "timing_only": bool(timing_only),
        "macs": int(macs), "macs_per_bundle": macs_b,
        "pe_utilisation": macs / (PE * cycles_total),
        "bytes_per_channel": {k: v["bytes"] for k, v in channels.items()},
        "sim_wall_s": wall, "cycles_per_s": cycles_total / wall if wall > 0 else 0.0,
        "firmware_run": run,
    }
    return res


def _watchdog_report(es, inflight, last_cmd, t, watchdog, limit):
    why = ("max_cycles reached" if limit else
           f"no handshake, DMA event or firmware command for {watchdog} cycles")
    lines = [f"system model watchdog: {why}; stopped at the edge ending cycle {t}"]
    C, B = es.C, es.B
    act = False
    for ch in range(3):
        d = inflight[ch]
        if d is None or not C[ch, C_ACT]:
            continue
        act = True
        done = int(C[ch, C_OFF]) if ch == 2 else min(int(C[ch, C_IDX]) * B, int(C[ch, C_BYTES]))
        lines.append(f"  channel {ch} ({CH_NAMES[ch]}) active: job (bundle {d['bundle']}, it "
                     f"{d['it']}, p {d['p']}), {done}/{d['bytes']} bytes done")
    if not act:
        lines.append("  no DMA channel active (firmware waits on nothing in flight?)")
    lines.append(f"  firmware's last command: {last_cmd}")
    return "\n".join(lines)


def main(argv=None):
    import argparse
    ap = argparse.ArgumentParser(description="Cycle-accurate system model of an exported "
                                 "inference (firmware + DMA + engine, docs §11).")
    ap.add_argument("export_dir")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--valid-prob", type=float, default=1.0)
    ap.add_argument("--ready-prob", type=float, default=1.0)
    ap.add_argument("--timing-only", action="store_true")
    ap.add_argument("--json", help="write the result dict (without firmware_run) here")
    a = ap.parse_args(argv)
    r = run_system_model(a.export_dir, a.seed, a.valid_prob, a.ready_prob, a.timing_only,
                         check=not a.timing_only)
    r.pop("firmware_run")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(r, f, indent=1)
    print(f"system model: cycles_total {r['cycles_total']}, per bundle {r['cycles_per_bundle']}, "
          f"PE utilisation {r['pe_utilisation']:.3f}, {r['cycles_per_s']:.0f} cycles/s"
          + ("" if a.timing_only else "; bit-exact at every level"))


if __name__ == "__main__":
    main()

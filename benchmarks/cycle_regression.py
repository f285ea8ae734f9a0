"""Cycle regression: record or check the twin's cycles (and hashes of its outputs, events and
command streams) on the test suite's cases, so a refactor can prove it changed no cycle.

Cases: every engine case (tests/cases.py: 3 configurations x 8 job sequences x 3 handshake
patterns), the zoo on 4 hardware configurations x 3 stimuli, 15 random models, and the per-job
cycles of AlexNet / VGG-16 / ResNet-50 (32x32) on the four configs/*.json. The twin equals the
RTL on all of them (tests), so unchanged twin cycles are unchanged RTL cycles.

    .venv/bin/python benchmarks/cycle_regression.py record results/cycle_regression.json
    .venv/bin/python benchmarks/cycle_regression.py check  results/cycle_regression.json
    .venv/bin/python benchmarks/cycle_regression.py check  results/cycle_regression.json --post off

`--post off` exports and benches with on-chip post-processing off (issue 10) and leaves out the
finish job sequences (tests/cases.FINISH_SEQS): the raw-sum engine of before the pipeline must
record exactly the same cycles. `--post auto` (default) measures what the project ships now.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests"))
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# engine configurations renamed since the first recording -> their recorded name
ALIASES = {"4x6_axi32_sync": "4x6_axi32"}


def _h(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=int).encode()).hexdigest()[:16]


def measure(progress=True, post="auto") -> dict:
    from tqdm import tqdm
    from cases import ENGINE_CONFIGS, FINISH_SEQS, engine_hw, job_sequence, streams
    from zoo import ZOO, random_model, small_hw
    from dsf_sim.api.networks import build
    from dsf_sim.compiler.hardware import Hardware
    from dsf_sim.models.engine import run_engine_jobs_model_full
    from dsf_sim.models.system_model import run_system_model
    from dsf_sim.perf import bench as B

    out = {"engine": {}, "system": {}, "random": {}, "bench": {}}
    bar = tqdm(total=24 * 3 + 24 + 15 + 12, desc="cycle regression", disable=not progress)
    for cfg in ENGINE_CONFIGS:
        hw = engine_hw(cfg)
        for seq in range(9):
            if post == "off" and seq in FINISH_SEQS:
                continue
            jobs = streams(job_sequence(hw, seq))
            for p, s in ((1.0, 1), (0.1, 2), (0.5, 3)):
                r = run_engine_jobs_model_full(hw, jobs, s, p, p)
                out["engine"][f"{ALIASES.get(cfg, cfg)}/{seq}/{s}/{p}"] = dict(
                    cpj=r["cycles_per_job"], beats=_h([c.tolist() for c in r["beat_cycles"]]),
                    data=_h([d.tobytes().hex() for d, k, l in r["beats"]]))
                bar.update()
    hws = {"4x8_b4": dict(bits=4), "8x24_b4": dict(rows=8, cols=24, axi=128),
           "4x12_b8": dict(bits=8, rows=4, cols=12, axi=128), "4x8_b2": dict(bits=2)}
    tmp = tempfile.mkdtemp(prefix="dsf_cycreg_")
    for hn, kw in hws.items():
        for name, fn in ZOO.items():
            hw = small_hw(**kw)
            m = fn(hw, xn=3 if name == "mlp" else 1)
            d = os.path.join(tmp, f"{hn}_{name}")
            m.export_inference(x=m.random_input, hw=hw, out_dir=d, post=post)
            for s, vp, rp in ((1, 1.0, 1.0), (2, 0.3, 0.3), (3, 0.7, 0.2)):
                r = run_system_model(d, s, vp, rp)
                out["system"][f"{hn}/{name}/{s}/{vp}/{rp}"] = dict(
                    total=r["cycles_total"], cpb=r["cycles_per_bundle"], ev=_h(r["events"]),
                    cmd=_h(r["commands"]), ch=_h(r["channels"]),
                    out=_h(r["firmware_run"].output.tolist()))
            bar.update()
    for seed in range(2, 17):
        try:
            hw, m = random_model(np.random.default_rng(seed))
            d = os.path.join(tmp, f"rnd{seed}")
            m.export_inference(x=m.random_input, hw=hw, out_dir=d, post=post)
        except Exception as e:  # noqa: BLE001 - a refused model is a recorded outcome too
            out["random"][str(seed)] = f"error: {type(e).__name__}"
            bar.update()
            continue
        r = run_system_model(d, 4, 0.4, 0.6)
        out["random"][str(seed)] = dict(total=r["cycles_total"], cpb=r["cycles_per_bundle"],
                                        ev=_h(r["events"]), cmd=_h(r["commands"]))
        bar.update()
    for cfg in ("kraken", "small_4x8", "wide_8x24", "zcu104"):
        hw = Hardware.from_json(os.path.join(ROOT, "configs", f"{cfg}.json"))
        for net in ("alexnet", "vgg16", "resnet50"):
            layers = B.simulate(B.layer_list(build(net, hw, input_size=32), hw, post), hw)
            out["bench"][f"{cfg}/{net}/32"] = [[int(sum(lp.job_cycles)), _h(lp.job_cycles)]
                                               for lp in layers]
            # post off: every job's skip bytes are 0; hash (w, x, o) as recorded before issue 10
            if post == "off" and any(b[3] for lp in layers for b in lp.job_bytes):
                raise RuntimeError(f"{cfg}/{net}: a skip stream with post processing off")
            jb = [[tuple(b[:3]) if post == "off" else b for b in lp.job_bytes] for lp in layers]
            out["bench"][f"{cfg}/{net}/32/bytes"] = _h(jb)
            bar.update()
    bar.close()
    return out


def compare(recorded: dict, now: dict, ignore=()) -> list:
    """Differences; cases not measured now are skipped, dict fields in `ignore` are not compared."""
    diffs = []
    for group, cases in recorded.items():
        for k, v in cases.items():
            if k not in now.get(group, {}):
                continue
            n = now[group][k]
            if isinstance(v, dict) and isinstance(n, dict):
                v = {f: x for f, x in v.items() if f not in ignore}
                n = {f: x for f, x in n.items() if f not in ignore}
            if n != v:
                diffs.append(f"{group}/{k}: recorded {v!r:.120}, now {n!r:.120}")
    return diffs


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=["record", "check"])
    ap.add_argument("path")
    ap.add_argument("--post", choices=["auto", "off"], default="auto")
    a = ap.parse_args(argv)
    now = measure(post=a.post)
    n = sum(len(v) for v in now.values())
    if a.mode == "record":
        with open(a.path, "w") as f:
            json.dump(now, f)
        print(f"recorded {n} cases -> {a.path}")
        return 0
    with open(a.path) as f:
        recorded = json.load(f)
    # post off vs a recording from before issue 10: the DRAM map moved (input.bin carries the int32
    # input, so command addresses differ) and the channel table gained an idle `skip` entry;
    # cycles, per-bundle cycles, DMA event streams, outputs and every engine beat still compare
    ignore = ("cmd", "ch") if a.post == "off" else ()
    diffs = compare(recorded, now, ignore)
    skipped = sum(1 for g, c in recorded.items() for k in c if k not in now.get(g, {}))
    print(f"{n} cases measured, {len(diffs)} differ from {a.path}"
          + (f" (not compared: {', '.join(ignore)}; {skipped} recorded cases not measured)"
             if a.post == "off" else ""))
    for d in diffs[:40]:
        print("  " + d)
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())

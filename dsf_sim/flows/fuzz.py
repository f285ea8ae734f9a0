"""Constrained-random campaign (`dsf fuzz`): random valid hardware x random bundle graphs that fit
(CNNs; one case in five a transformer block) x random inputs x handshake probabilities 0.01..1,
each checked three ways — the integer reference against QKeras (the export's float check), the twin against the reference (every level
bit-exact, `run_sim`), and for every K-th case the RTL against the twin (identical cycles, events
and commands). A case is a seed: `random_case(seed)` rebuilds it exactly, so a failure is saved
as its seed and specification and replayed by tests/test_fuzz.py.

A case the export refuses with a named DsfError (an overflow proof, a kernel the array cannot
hold) counts as `refused`, not as a failure: the generator keeps those rare by construction.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import time

import numpy as np

from ..errors import DsfError, MismatchError

CHECKED_KEYS = ("cycles_total", "cycles_per_bundle", "events", "commands")


def random_hardware_args(rng) -> dict:
    """Arguments of a valid random Hardware: array shape, word widths (mixed), bias width, sums
    wide enough for the graphs `random_spec` draws, AXI width, RAM depths, limits."""
    while True:
        rows = int(rng.choice([1, 2, 3, 4, 5, 7, 8]))
        kmax = int(rng.choice([1, 3, 5, 7]))
        while kmax // 2 > rows:
            kmax -= 2
        cols = max(kmax, int(rng.choice([3, 5, 8, 12, 16, 24, 32])))
        xb, kb = int(rng.choice([2, 4, 8, 16])), int(rng.choice([2, 4, 8, 16]))
        ysum = min(48, xb + kb + 12)
        args = dict(processing_elements=(rows, cols), bits_input=xb, bits_weights=kb,
                    bits_sum=ysum, bits_bias=int(rng.choice([8, 16, 32])),
                    target_cpu_int_bits=64 if ysum > 28 else 32, max_batch_size=4,
                    max_channels_in=2048, max_kernel_size=kmax, max_image_size=32,
                    ram_weights_depth=int(rng.choice([kmax, 2 * kmax + 1, 40])),
                    ram_edges_depth=16, axi_width=int(rng.choice([32, 64, 128, 256])),
                    valid_prob=1.0, ready_prob=1.0, async_resetn=bool(rng.integers(0, 2)))
        from ..compiler.hardware import Hardware
        try:
            Hardware(**args)
        except DsfError:          # e.g. a header wider than AXI 32: draw again
            continue
        return args


def _quantizers(xb, kb, bb):
    q = dict(kq=f"quantized_bits({kb},0,False,True,1)",
             bq=f"quantized_bits({min(bb, 16)},0,False,True,1)")
    acts = [f"quantized_relu({xb},0)", f"quantized_bits({xb},0,False,True,1)",
            f"quantized_bits({xb},0,False,False,1)", f"quantized_bits({xb},1,False,True,1)"]
    if xb >= 2:
        acts.append(f"quantized_relu({xb},0,negative_slope=0.5)")
    return q, acts


def random_spec(rng, hw_args) -> dict:
    """A random bundle graph that fits `hw_args`: 1..4 conv bundles (every kernel up to the
    maximum, strides 1..3, 'same'/'valid', max/avg pools of every padding), residual adds whose
    skip comes from any earlier tensor of the right shape (over several bundles), then optionally
    flatten + dense (+ softmax); batch 1..3; input 3..16 x 1..16 x 1..8."""
    xb, kb, bb = hw_args["bits_input"], hw_args["bits_weights"], hw_args["bits_bias"]
    kmax = hw_args["max_kernel_size"]
    q, acts = _quantizers(xb, kb, bb)
    pick = lambda: acts[int(rng.integers(0, len(acts)))]   # noqa: E731
    H, W, C = int(rng.integers(3, 17)), int(rng.integers(1, 17)), int(rng.integers(1, 9))
    shapes = {-1: (H, W, C)}          # tensor -> (h, w, c)
    bundles = []
    cur = -1
    for i in range(int(rng.integers(1, 5))):
        h, w, c = shapes[cur]
        skip = None
        same = [t for t, s in shapes.items() if t != cur and s[:2] == (h, w)]
        if same and rng.random() < 0.35:              # a residual add over earlier bundles
            skip = int(rng.choice(same))
            kh = kw = int(rng.choice([k for k in (1, 3, 5, 7) if k <= kmax]))
            sh = sw = 1
            pad = "same"
            f = shapes[skip][2]
        else:
            kh, kw = int(rng.integers(1, kmax + 1)), int(rng.integers(1, kmax + 1))
            sh, sw = int(rng.choice([1, 1, 2, 3])), int(rng.choice([1, 1, 2]))
            pad = str(rng.choice(["same", "valid"]))
            if pad == "valid" and (h < kh or w < kw):
                pad = "same"
            f = int(rng.integers(1, 13))
        oh = -(-h // sh) if pad == "same" else (h - kh) // sh + 1
        ow = -(-w // sw) if pad == "same" else (w - kw) // sw + 1
        b = {"core": {"type": "conv", "filters": f, "kernel_size": (kh, kw), "strides": (sh, sw),
                      "padding": pad, "kernel_quantizer": q["kq"], "bias_quantizer": q["bq"],
                      "use_bias": bool(rng.integers(0, 2)), "act_str": pick()},
             "src": cur, "skip": skip}
        if skip is not None:
            b["add"] = {"act_str": pick()}
        if rng.random() < 0.35 and oh >= 2:
            ps = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
            pp = str(rng.choice(["same", "valid"]))
            if pp == "valid" and (oh < ps[0] or ow < ps[1]):
                pp = "same"
            pst = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
            b["pool"] = {"type": str(rng.choice(["max", "avg"])), "size": ps, "strides": pst,
                         "padding": pp, "act_str": pick()}
            oh = -(-oh // pst[0]) if pp == "same" else (oh - ps[0]) // pst[0] + 1
            ow = -(-ow // pst[1]) if pp == "same" else (ow - ps[1]) // pst[1] + 1
        bundles.append(b)
        shapes[i] = (oh, ow, f)
        cur = i
    if rng.random() < 0.5:
        bundles[-1]["flatten"] = True
        bundles.append({"core": {"type": "dense", "units": int(rng.integers(1, 12)),
                                 "kernel_quantizer": q["kq"], "bias_quantizer": q["bq"],
                                 "use_bias": bool(rng.integers(0, 2)), "act_str": pick()},
                        "src": cur, "skip": None, "softmax": bool(rng.integers(0, 2))})
    return {"input": (H, W, C), "batch": int(rng.integers(1, 4)), "bundles": bundles,
            "weights_seed": int(rng.integers(0, 1 << 30))}


def random_encoder_spec(rng, hw_args) -> dict:
    """A random transformer block on tokens (architecture §22): Q, K, V projections of
    [N, S, H·dh] tokens, Q·Kᵀ per head with the integer softmax, optionally A·V, a projection
    with a residual add and LayerNorm (or none), optionally an MLP with GELU. Operand words get
    min(bits_input, bits_weights) bits so that they fit the weight stream."""
    xb, kb, bb = hw_args["bits_input"], hw_args["bits_weights"], hw_args["bits_bias"]
    q, acts = _quantizers(xb, kb, bb)
    pick = lambda: acts[int(rng.integers(0, len(acts)))]   # noqa: E731
    ob = min(xb, kb)
    opq = f"quantized_bits({ob},0,False,True,1)"
    heads = int(rng.choice([1, 2, 4]))
    C = heads * int(rng.integers(1, 5))
    S = int(rng.integers(2, 9))

    def dense(units, act, src, **kw):
        return {"core": {"type": "dense", "units": units, "kernel_quantizer": q["kq"],
                         "bias_quantizer": q["bq"], "use_bias": bool(rng.integers(0, 2)),
                         "act_str": act}, "src": src, "skip": None, **kw}
    bundles = [dense(C, opq, -1), dense(C, opq, -1), dense(C, opq, -1),
               {"core": {"type": "matmul", "heads": heads, "transpose_b": True,
                         "act_str": pick()}, "src": 0, "skip": None, "operand": 1,
                "fn": {"type": "softmax", "frac": int(rng.integers(6, 21)),
                       "act_str": f"quantized_bits({xb},0,False,False,1)"}}]
    if rng.random() < 0.8:
        bundles.append({"core": {"type": "matmul", "heads": heads, "act_str": pick()},
                        "src": 3, "skip": None, "operand": 2})
        fn = {"type": "layernorm", "frac": int(rng.integers(4, 17)),
              "act_str": f"quantized_bits({xb},2,False,True,1)"} if rng.random() < 0.7 else None
        bundles.append(dense(C, pick(), 4, skip=-1, add={"act_str": pick()},
                             **({"fn": fn} if fn else {})))
        if rng.random() < 0.6:
            bundles.append(dense(2 * C, f"quantized_bits({xb},1,False,True,1)", 5,
                                 fn={"type": "gelu", "act_str": pick()}))
    return {"input": (S, C), "batch": int(rng.integers(1, 4)), "bundles": bundles,
            "weights_seed": int(rng.integers(0, 1 << 30))}


def random_case(seed: int) -> dict:
    """The case of `seed`: hardware arguments, graph, input seed and handshake stimulus. One
    case in five is a transformer block (`random_encoder_spec`), drawn from a second generator
    so that the other seeds keep their cases."""
    rng = np.random.default_rng(seed)
    hw_args = random_hardware_args(rng)
    spec = random_spec(rng, hw_args)
    trng = np.random.default_rng([seed, 22])
    if trng.random() < 0.2:
        spec = random_encoder_spec(trng, hw_args)
    p = lambda: float(np.round(10.0 ** rng.uniform(-2, 0), 3))   # noqa: E731  0.01 .. 1, log
    stim = (int(rng.integers(0, 1 << 16)), p(), p()) if rng.random() < 0.7 else \
        (int(rng.integers(0, 1 << 16)), 1.0, 1.0)
    return {"seed": int(seed), "hardware": hw_args, "spec": spec, "stimulus": stim}


def build_model(case, data_dir):
    """(Hardware, model) of a case; the model's weights drawn over the quantisers' ranges."""
    from ..compiler.hardware import Hardware
    from ..frontend.bundle import Bundle, QInput
    from ..frontend.graph import BundleModel
    hw = Hardware(**{**case["hardware"], "data_dir": data_dir})
    spec = case["spec"]
    x_in = QInput(tuple(spec["input"]), batch_size=spec["batch"], hw=hw)
    tensors = {-1: x_in}
    for i, b in enumerate(spec["bundles"]):
        layer = Bundle(core=dict(b["core"]), add=b.get("add"), pool=b.get("pool"),
                       flatten=b.get("flatten", False), softmax=b.get("softmax", False),
                       fn=b.get("fn"))
        x = tensors[b["src"]]
        second = b["skip"] if b.get("operand") is None else b["operand"]
        tensors[i] = layer(x) if second is None else layer(x, tensors[second])
    model = BundleModel(inputs=x_in.raw, outputs=tensors[len(spec["bundles"]) - 1])
    rng = np.random.default_rng(spec["weights_seed"])
    for b in model.bundles:
        if b.core_layer is None:       # a matmul core: no weights of its own
            continue
        k = b.core_layer.kernel
        k.assign(rng.uniform(-1.0, 1.0, size=k.shape).astype(np.float32))
        if b.use_bias:
            b.core_layer.bias.assign(rng.uniform(-0.5, 0.5, size=b.core_layer.bias.shape)
                                     .astype(np.float32))
    return hw, model


def run_case(case, rtl=False, work_dir=None) -> dict:
    """Check one case three ways -> {"status": pass | refused | fail, ...}."""
    from ..compiler.export import export_model
    from .verify import run_sim
    t0 = time.time()
    d = tempfile.mkdtemp(prefix="dsf_fuzz_", dir=work_dir)
    out = {"seed": case["seed"], "rtl": bool(rtl), "stimulus": list(case["stimulus"])}
    try:
        try:
            hw, model = build_model(case, d)
            export_model(model, model.random_input, hw, d, check=True)       # vs QKeras
        except MismatchError as e:     # the reference and QKeras disagree: a failure
            return {**out, "status": "fail", "reason": str(e)[:2000], "case": case}
        except DsfError as e:
            return {**out, "status": "refused", "reason": str(e)[:500]}
        seed, vp, rp = case["stimulus"]
        try:
            twin = run_sim(d, "model", seed, vp, rp)                            # vs reference
            out["cycles"] = twin["cycles_total"]
            out["expected_cycles"] = twin["expected_cycles"]       # the derived budget's basis
            if rtl:
                ver = run_sim(d, "verilator", seed, vp, rp)                     # vs RTL
                diff = [k for k in CHECKED_KEYS if ver[k] != twin[k]]
                if diff:
                    raise DsfError(f"RTL and twin differ in {diff} (cycles {ver['cycles_total']} "
                                   f"vs {twin['cycles_total']})")
        except DsfError as e:
            return {**out, "status": "fail", "reason": str(e)[:2000], "case": case}
        return {**out, "status": "pass"}
    finally:
        out["wall_s"] = round(time.time() - t0, 3)
        shutil.rmtree(d, ignore_errors=True)


def _smaller(case):
    """Simpler variants of a case, most aggressive first: handshakes at 1.0, batch 1, fewer
    bundles, no pool / add / bias / softmax in one bundle, fewer filters, a smaller input. Some
    are invalid for the graph; the export refuses those, so they never count as failing."""
    import copy
    spec = case["spec"]
    bundles = spec["bundles"]

    def variant(edit):
        c = copy.deepcopy(case)
        edit(c, c["spec"], c["spec"]["bundles"])
        return c
    if tuple(case["stimulus"][1:]) != (1.0, 1.0):
        yield variant(lambda c, s, b: c.update(stimulus=(c["stimulus"][0], 1.0, 1.0)))
    if spec["batch"] > 1:
        yield variant(lambda c, s, b: s.update(batch=1))
    for n in range(1, len(bundles)):                 # the first n bundles (skips point back)
        def cut(c, s, b, n=n):
            del b[n:]
            b[-1].pop("flatten", None)
        yield variant(cut)
    for i, b in enumerate(bundles):
        for key in ("pool", "add", "softmax", "fn"):
            if b.get(key):
                def drop(c, s, bb, i=i, key=key):
                    bb[i].pop(key)
                    if key == "add":
                        bb[i]["skip"] = None
                yield variant(drop)
        if b["core"].get("use_bias"):
            yield variant(lambda c, s, bb, i=i: bb[i]["core"].update(use_bias=False))
        n = b["core"].get("filters", b["core"].get("units"))
        if n is not None and n > 1:
            k = "filters" if "filters" in b["core"] else "units"
            yield variant(lambda c, s, bb, i=i, k=k, n=n: bb[i]["core"].update({k: max(1, n // 2)}))
    shape = tuple(spec["input"])
    for d in range(len(shape)):                      # halve one input dimension
        new = shape[:d] + (max(1, shape[d] // 2),) + shape[d + 1:]
        if new != shape:
            yield variant(lambda c, s, b, new=new: s.update(input=new))


def shrink(case, rtl=False, budget: int = 40, fails=None) -> tuple[dict, int]:
    """A smaller case that still fails (greedy: take the first simpler variant that fails, start
    again from it) and the number of runs it took; `fails(case) -> bool` defaults to run_case's
    status. At most `budget` runs."""
    fails = fails or (lambda c: run_case(c, rtl=rtl)["status"] == "fail")
    runs = 0
    improved = True
    while improved and runs < budget:
        improved = False
        for cand in _smaller(case):
            runs += 1
            if fails(cand):
                case, improved = cand, True
                break
            if runs >= budget:
                break
    return case, runs


def campaign(cases: int, rtl_every: int = 0, seed: int = 0, out_dir=None, progress=True,
             shrink_budget: int = 40) -> dict:
    """Cases seed, seed+1, ...; the RTL checks every `rtl_every`-th (0: never). Writes
    out_dir/fuzz_summary.json and one out_dir/failures/case_<seed>.json per failure (replayable
    with `replay`)."""
    from tqdm import tqdm
    from ..frontend import tf_setup  # noqa: F401  (a bad TF environment is an error, not refusals)
    if not isinstance(cases, int) or isinstance(cases, bool) or cases < 1:
        raise DsfError(f"fuzz: cases = {cases!r} is invalid: allowed an integer >= 1")
    if not isinstance(rtl_every, int) or isinstance(rtl_every, bool) or rtl_every < 0:
        raise DsfError(f"fuzz: rtl_every = {rtl_every!r} is invalid: allowed an integer >= 0")
    t0 = time.time()
    results = []
    bar = tqdm(range(cases), desc="fuzz", unit="case", disable=not progress)
    counts = {"pass": 0, "refused": 0, "fail": 0}
    for i in bar:
        r = run_case(random_case(seed + i), rtl=bool(rtl_every) and i % rtl_every == 0)
        counts[r["status"]] += 1
        results.append(r)
        bar.set_postfix(counts)
    summary = {"cases": cases, "seed": seed, "rtl_every": rtl_every, **counts,
               "rtl_cases": sum(r["rtl"] and r["status"] != "refused" for r in results),
               "wall_s": round(time.time() - t0, 1),
               "max_cycles_over_expected": max((r["cycles"] / r["expected_cycles"] for r in results
                                                if r.get("expected_cycles")), default=None),
               "refusals": [r["reason"] for r in results if r["status"] == "refused"],
               "failures": [{k: r[k] for k in ("seed", "reason")} for r in results
                            if r["status"] == "fail"]}
    if out_dir:
        os.makedirs(os.path.join(out_dir, "failures"), exist_ok=True)
        for r in results:
            if r["status"] == "fail":
                with open(os.path.join(out_dir, "failures", f"case_{r['seed']}.json"), "w") as f:
                    json.dump(r["case"], f, indent=1)
                if shrink_budget:          # the smallest variant that still fails, beside it
                    small, runs = shrink(r["case"], r["rtl"], shrink_budget)
                    r["shrunk_runs"] = runs
                    with open(os.path.join(out_dir, "failures",
                                           f"case_{r['seed']}_shrunk.json"), "w") as f:
                        json.dump(small, f, indent=1)
        with open(os.path.join(out_dir, "fuzz_summary.json"), "w") as f:
            json.dump({**summary, "results": results}, f, indent=1)
    return summary


def replay(path, rtl=True) -> dict:
    """Run a saved failing case again (a regression test once fixed)."""
    with open(path) as f:
        case = json.load(f)
    case["stimulus"] = tuple(case["stimulus"])
    return run_case(case, rtl=rtl)

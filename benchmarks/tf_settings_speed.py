"""What dsf_sim's TensorFlow settings (frontend/tf_setup.py) cost against TensorFlow's defaults:
the float QKeras forward pass (model.predict, graph mode) of the full ResNet-50 (kraken config)
and the whole export (float check included), and whether predict equals the integer reference.
dsf_sim turns off oneDNN (its float32 convolution is wrong for a 'same' kernel wider than its
input with stride > 1) and grappler's arithmetic optimizer (it flips values on rounding ties in
graph mode; architecture §8.1). Each setting is its own process (TF reads them at import), the
settings alternate twice and the faster run counts. Writes benchmarks/results/tf_settings_speed.json.

    .venv/bin/python benchmarks/tf_settings_speed.py [--repeat 3] [--input-size 224]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from tqdm import tqdm

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

SETTINGS = {   # name -> environment
    "tf_default": {"TF_ENABLE_ONEDNN_OPTS": "1", "DSF_TF_ARITHMETIC_OPT": "1"},
    "onednn_off": {"TF_ENABLE_ONEDNN_OPTS": "0", "DSF_TF_ARITHMETIC_OPT": "1"},
    "dsf_default": {"TF_ENABLE_ONEDNN_OPTS": "0", "DSF_TF_ARITHMETIC_OPT": "0"},
}

ONE = r"""
import hashlib, json, os, sys, tempfile, time
sys.path.insert(0, sys.argv[1])
from dsf_sim import Hardware
from dsf_sim.api import networks
size, repeat = int(sys.argv[2]), int(sys.argv[3])
hw = Hardware.from_json(os.path.join(sys.argv[1], "configs", "kraken.json"))
model = networks.resnet50(hw, bits=4, input_size=size)
x = model.random_input
model.predict(x, verbose=0)                       # build + trace once
fwd = []
for _ in range(repeat):
    t = time.perf_counter(); y = model.predict(x, verbose=0); fwd.append(time.perf_counter() - t)
d = tempfile.mkdtemp(prefix="dsf_tfset_")
t = time.perf_counter()
model.export_inference(x=x, hw=hw, out_dir=d)
exp = time.perf_counter() - t
import numpy as np
from dsf_sim.compiler import binfile
man = json.load(open(os.path.join(d, "manifest.json")))
ref = binfile.read(os.path.join(d, "expected.bin"), "expected", None).astype(np.float64) * \
    2.0 ** -man["bundles"][-1]["out_frac"]
y64 = np.asarray(y, np.float64).reshape(-1)
print(json.dumps({"forward_s": min(fwd), "export_s": exp,
                  "output_sha256": hashlib.sha256(y.tobytes()).hexdigest(),
                  "forward_equals_integer_reference": bool(y64.shape == ref.shape
                                                           and np.array_equal(y64, ref)),
                  "forward_values_off_reference": int(np.sum(y64 != ref)) if y64.shape == ref.shape
                  else None}))
"""


def measure(env: dict, size: int, repeat: int) -> dict:
    r = subprocess.run([sys.executable, "-c", ONE, ROOT, str(size), str(repeat)],
                       env={**os.environ, **env}, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{env}: {r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--input-size", type=int, default=224)
    a = ap.parse_args(argv)
    runs = {k: [] for k in SETTINGS}
    order = list(SETTINGS) * 2                      # alternated: no first-run bias
    for name in tqdm(order, desc="TF settings", unit="run"):
        runs[name].append(measure(SETTINGS[name], a.input_size, a.repeat))
    res = {"input_size": a.input_size, "repeat": a.repeat, "settings": SETTINGS}
    for name, rs in runs.items():
        res[name] = {**rs[-1], "forward_s": min(r["forward_s"] for r in rs),
                     "export_s": min(r["export_s"] for r in rs)}
    base = res["tf_default"]
    for name in SETTINGS:
        res[name]["forward_over_tf_default"] = res[name]["forward_s"] / base["forward_s"]
        res[name]["export_over_tf_default"] = res[name]["export_s"] / base["export_s"]
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "tf_settings_speed.json"), "w") as f:
        json.dump(res, f, indent=1)
    for name in SETTINGS:
        r = res[name]
        print(f"{name:12s} forward {r['forward_s']:.3f} s ({r['forward_over_tf_default']:.2f}x), "
              f"export {r['export_s']:.1f} s ({r['export_over_tf_default']:.2f}x), predict off the "
              f"integer reference in {r['forward_values_off_reference']} of the outputs")


if __name__ == "__main__":
    main()

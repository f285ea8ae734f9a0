"""model.predict runs QKeras in graph mode, where TensorFlow's grappler optimises the graph. Its
arithmetic optimizer made values on an exact rounding tie round the other way (found in the
oneDNN benchmark: a ResNet-50's predict differed from the engine's integer reference in ~1/3 of
its outputs while every bundle run alone agreed). frontend/tf_setup.py turns that optimizer off;
these tests keep graph mode equal to the integer reference and show that the setting matters."""
from __future__ import annotations

import json
import os
import subprocess
import sys


HERE = os.path.dirname(os.path.abspath(__file__))

PROBE = r"""
import json, os, sys, tempfile
import numpy as np
from dsf_sim import Hardware
from dsf_sim.api import networks
from dsf_sim.compiler import binfile
hw = Hardware.from_json(sys.argv[1])
m = networks.resnet50(hw, bits=4, input_size=32)
x = m.random_input
d = tempfile.mkdtemp()
try:
    m.export_inference(x=x, hw=hw, out_dir=d, check=sys.argv[2] == "1")
except Exception as e:                    # the export's graph-mode check (with check=True)
    print(json.dumps({"refused": f"{type(e).__name__}: {e}"}))
    raise SystemExit(0)
man = json.load(open(os.path.join(d, "manifest.json")))
ref = binfile.read(os.path.join(d, "expected.bin"), "expected", None).astype(np.float64)
ref *= 2.0 ** -man["bundles"][-1]["out_frac"]
y = np.asarray(m.predict(x, verbose=0), np.float64).reshape(-1)
print(json.dumps({"n": int(y.size), "off": int(np.sum(y != ref))}))
"""


def _probe(arith_opt: str, check: bool = False) -> dict:
    env = {**os.environ, "DSF_TF_ARITHMETIC_OPT": arith_opt}
    r = subprocess.run([sys.executable, "-c", PROBE,
                        os.path.join(os.path.dirname(HERE), "configs", "kraken.json"),
                        "1" if check else "0"],
                       env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_predict_in_graph_mode_equals_the_integer_reference():
    got = _probe("0", check=True)        # the export's own graph-mode check passes too
    assert got["n"] == 2048 and got["off"] == 0, got


def test_grappler_arithmetic_optimizer_breaks_ties():
    """The same probe with the optimizer back on: graph mode leaves the reference (so the test
    above can fail, and the setting in tf_setup is what makes it pass)."""
    got = _probe("1")
    assert got["off"] > 0, got
    # ... and an export with its float check refuses it by name (each bundle alone agrees)
    got = _probe("1", check=True)
    assert got["refused"].startswith("MismatchError: model.predict (graph mode) is off the "
                                     "integer reference in "), got
    assert "though every bundle alone agreed" in got["refused"], got


def test_a_bad_setting_is_one_cli_error_line():
    env = {**os.environ, "DSF_TF_ARITHMETIC_OPT": "yes"}
    r = subprocess.run([sys.executable, "-m", "dsf_sim.cli", "bench", "alexnet"], env=env,
                       capture_output=True, text=True, timeout=300)
    err = [x for x in r.stderr.splitlines() if x.startswith("dsf: ")]
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert err == ["dsf: error: DSF_TF_ARITHMETIC_OPT = 'yes' is invalid: allowed '0' (default: "
                   "grappler's arithmetic optimizer off) or '1' (on)"], r.stderr[-2000:]

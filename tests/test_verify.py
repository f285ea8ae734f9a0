"""verify_inference(SIM='verilator'): C firmware (ctypes) + RTL engine (Verilator) per job,
bit-exact at every level against the reference model; the checker itself is tested."""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from dsf_sim import MismatchError
from zoo import ZOO, small_hw

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _model(name, tmp_path, **hwkw):
    hw = small_hw(bits=hwkw.pop("bits", 4), data_dir=str(tmp_path), **hwkw)
    m = ZOO[name](hw, xn=hwkw.pop("xn", 1) if name != "mlp" else 3)
    m.export_inference(x=m.random_input, hw=hw, out_dir=str(tmp_path))
    return m, hw


@pytest.mark.parametrize("name,cfg", [
    ("residual", dict()), ("pools", dict()), ("strides", dict()), ("mlp", dict()),
    ("kernels", dict(rows=8, cols=24, axi=128)), ("stride4", dict(rows=8, cols=24, axi=128)),
    ("residual", dict(rows=8, cols=24, axi=128, bits=8)),
])
def test_zoo_on_verilator(name, cfg, tmp_path):
    m, hw = _model(name, tmp_path, **cfg)
    res = m.verify_inference(SIM="verilator", seed=3, valid_prob=0.1, ready_prob=0.1)
    assert res["bit_exact"] and res["cycles_total"] == sum(res["cycles_per_bundle"]) > 0
    assert len(res["cycles_per_bundle"]) == len(m.bundles)


def test_handshake_probability_changes_cycles_not_values(tmp_path):
    m, hw = _model("residual", tmp_path)
    fast = m.verify_inference(SIM="verilator", seed=1, valid_prob=1.0, ready_prob=1.0)
    slow = m.verify_inference(SIM="verilator", seed=2, valid_prob=0.1, ready_prob=0.1)
    assert fast["final_output"] == slow["final_output"]
    assert slow["cycles_total"] > 2 * fast["cycles_total"]


def test_corrupted_expected_vector_is_reported_with_coordinates(tmp_path):
    m, hw = _model("residual", tmp_path)
    p = tmp_path / "b01" / "raw_it0_p0.bin"
    raw = np.fromfile(p, dtype=np.uint8)
    raw[hw.AXI_BYTES + 1] ^= 0x10  # second beat of the engine output of bundle 1, it 0, pass 0
    raw.tofile(p)
    with pytest.raises(MismatchError) as e:
        m.verify_inference(SIM="verilator", seed=1, valid_prob=1.0, ready_prob=1.0)
    msg = str(e.value)
    assert "bundle 1" in msg and "pass 0" in msg and "iteration 0" in msg, msg


@pytest.mark.parametrize("seed,prob", [(1, 0.1), (2, 1.0), (3, 0.1)])
def test_seed_example_on_verilator(seed, prob, tmp_path):
    """The seed example (8x96, AXI 64) passes bit-exactly on the RTL with three seeds."""
    src = open(os.path.join(ROOT, "examples", "seed_example.py")).read()
    assert "\nmodel.verify_inference(SIM=SIM, SIM_PATH=SIM_PATH)" in src
    src = src.replace("model.verify_inference(SIM=SIM, SIM_PATH=SIM_PATH)",
                      f"model.verify_inference(SIM=SIM, SIM_PATH=SIM_PATH, seed={seed}, "
                      f"valid_prob={prob}, ready_prob={prob})")
    f = tmp_path / "seed_verify.py"
    f.write_text(src)
    r = subprocess.run([sys.executable, str(f)], cwd=tmp_path, capture_output=True, text=True,
                       timeout=1500)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "bit-exact at every level" in r.stdout


@pytest.mark.parametrize("name,cfg,prob", [
    ("residual", dict(), 0.1), ("pools", dict(), 1.0), ("strides", dict(), 0.1),
    ("mlp", dict(), 1.0), ("kernels", dict(rows=8, cols=24, axi=128), 0.1),
    ("stride4", dict(rows=8, cols=24, axi=128), 1.0),
])
def test_cycle_model_equals_rtl_per_bundle(name, cfg, prob, tmp_path):
    """SIM='model' (numba twin + real firmware) is bit-exact and cycle-identical to Verilator."""
    m, hw = _model(name, tmp_path, **cfg)
    for seed in (1, 2):
        rtl = m.verify_inference(SIM="verilator", seed=seed, valid_prob=prob, ready_prob=prob)
        mod = m.verify_inference(SIM="model", seed=seed, valid_prob=prob, ready_prob=prob)
        assert mod["final_output"] == rtl["final_output"]
        assert [j["cycles"] for j in mod["jobs"]] == [j["cycles"] for j in rtl["jobs"]]
        assert mod["cycles_per_bundle"] == rtl["cycles_per_bundle"]
        assert mod["cycles_total"] == rtl["cycles_total"] > 0

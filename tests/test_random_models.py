"""Random models on random hardware (seeded): export, then the whole system — C firmware + DMA +
engine — on the digital twin and on the Verilator system testbench; every level bit-exact and
cycles identical. Guards the general case beyond the hand-written zoo."""
import numpy as np
import pytest

from dsf_sim import DsfError
from dsf_sim.runtime.check import compare_run
from dsf_sim.compiler.export import load_export as _hardware
from dsf_sim.models.system_model import run_system_model
from zoo import random_model

MODEL_SEEDS = [2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14]
RTL_SEEDS = [3, 5, 16]


def _export(seed, tmp_path):
    hw, m = random_model(np.random.default_rng(seed))
    d = str(tmp_path / f"r{seed}")
    m.export_inference(x=m.random_input, hw=hw, out_dir=d)
    return hw, m, d


@pytest.mark.parametrize("seed", MODEL_SEEDS)
def test_random_model_on_twin(seed, tmp_path):
    hw, m, d = _export(seed, tmp_path)
    for s, p in ((1, 1.0), (2, 0.3)):
        r = run_system_model(d, seed=s, valid_prob=p, ready_prob=p)
        h2, manifest = _hardware(d)
        compare_run(r["firmware_run"], h2, manifest)
        assert sum(r["cycles_per_bundle"]) == r["cycles_total"] > 0


@pytest.mark.parametrize("seed", RTL_SEEDS)
def test_random_model_twin_equals_rtl(seed, tmp_path):
    from dsf_sim.rtl_bridge.system_tb import run_system_tb
    hw, m, d = _export(seed, tmp_path)
    a = run_system_tb(d, seed=4, valid_prob=0.4, ready_prob=0.6)
    b = run_system_model(d, seed=4, valid_prob=0.4, ready_prob=0.6)
    assert a["bit_exact"]
    for k in ("cycles_total", "cycles_per_bundle", "events", "channels", "commands"):
        assert a[k] == b[k], k


def test_random_model_beyond_limits_is_refused_by_name(tmp_path):
    """Seed 8 draws a layer with 663 input channels on a max_channels_in=256 engine."""
    with pytest.raises(DsfError, match=r"input channels = 663 is invalid: allowed <= max_channels_in 256"):
        _export(8, tmp_path)

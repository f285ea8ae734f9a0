"""16-bit words and mixed widths (architecture §1.1, §8.1): the zoo with 16-bit activations and
weights, 8-bit activations with 16-bit weights and 16-bit activations with 4-bit weights is
exported against QKeras (sums too wide for float32 are checked exactly in float64, the quantised
stages within QKeras' own float32 error bound), and runs bit-exactly on the firmware reference,
the twin (per-cycle == fast path) and the RTL with identical cycles; lockstep compares the
accumulator's bits above 32. The float check still catches a wrong sum or a wrong word."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cases import SYSTEM_KEYS, export_zoo, run_system
from dsf_sim.compiler.export import load_export
from dsf_sim.compiler.layout import pack_words
from dsf_sim.errors import DsfError, MismatchError
from dsf_sim.runtime.check import compare_run

WIDE = {   # name -> small_hw overrides
    "x16k16": dict(bits=16, ysum=48, target_cpu_int_bits=64),
    "x8k16": dict(bits=8, bits_weights=16, ysum=32, axi=32),
    "x16k4": dict(bits=16, bits_weights=4, ysum=32, axi=128),
}
CASES = [(name, w) for w in WIDE for name in ("kernels", "strides", "pools", "residual", "mlp",
                                               "resblock", "fallbacks")]
RTL_CASES = [c for c in CASES if c[1] == "x16k16"] + [("fallbacks", "x8k16"), ("pools", "x16k4")]


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    out = {}
    for name, w in CASES:
        d = tmp_path_factory.mktemp(f"wide_{name}_{w}")
        export_zoo(name, "4x8_axi64", d, **WIDE[w])      # the float check runs inside
        out[name, w] = str(d)
    return out


def test_wide_exports_are_checked_against_qkeras(dirs):
    modes = {}
    for (name, w), d in dirs.items():
        man = json.load(open(os.path.join(d, "manifest.json")))
        hw = man["hardware"]
        assert (hw["bits_input"], hw["bits_weights"]) == \
            (WIDE[w]["bits"], WIDE[w].get("bits_weights", WIDE[w]["bits"]))
        for b in man["bundles"]:
            modes.setdefault(w, set()).add(b["float_check"]["mode"])
    # 16x16-bit sums exceed float32's 24 bits: those bundles took the float64 + bound path
    assert any(m.startswith("sums exact in float64") for m in modes["x16k16"])
    assert "exact" in modes["x16k4"] or "exact" in modes["x8k16"]


@pytest.mark.parametrize("name,w", CASES, ids=[f"{n}-{w}" for n, w in CASES])
def test_wide_words_bit_exact_on_firmware_and_twin(dirs, name, w):
    d = dirs[name, w]
    hw, manifest = load_export(d)
    compare_run(run_system("reference", d)["run"], hw, manifest)
    for seed, vp, rp in ((1, 1.0, 1.0), (2, 0.3, 0.6)):
        cyc = run_system("twin", d, seed, vp, rp)
        fast = run_system("twin", d, seed, vp, rp, fast=True)
        for k in SYSTEM_KEYS:
            assert fast[k] == cyc[k], k
        compare_run(cyc["run"], hw, manifest)
        compare_run(fast["run"], hw, manifest)


@pytest.mark.parametrize("name,w", RTL_CASES, ids=[f"{n}-{w}" for n, w in RTL_CASES])
def test_wide_words_rtl_equals_twin(dirs, name, w):
    d = dirs[name, w]
    hw, manifest = load_export(d)
    rtl = run_system("rtl", d, 3, 0.5, 0.7)
    twin = run_system("twin", d, 3, 0.5, 0.7)
    compare_run(rtl["run"], hw, manifest)
    for k in SYSTEM_KEYS:
        assert rtl[k] == twin[k], k


def test_lockstep_compares_the_accumulators_high_bits(tmp_path):
    import dsf_sim.rtl_bridge.lockstep as LS
    from dsf_sim.models.engine.signals import INDEX
    from zoo import ZOO, small_hw
    hw = small_hw(data_dir=str(tmp_path), **WIDE["x16k16"])
    m = ZOO["kernels"](hw)
    ex = m.export_inference(x=m.random_input, hw=hw, out_dir=str(tmp_path))
    r = LS.lockstep(hw, LS.export_jobs(ex), 2, 0.5, 0.5, keep_traces=True)
    assert r.passed, r.report
    hi = r.rtl.sc[:, INDEX["acc00_hi"]]
    assert hi.any() and np.array_equal(hi, r.model.sc[: len(hi), INDEX["acc00_hi"]])


def _refs_and_checker(tmp_path):
    from dsf_sim.frontend.reference import _float_checker, iter_reference
    from zoo import ZOO, small_hw
    hw = small_hw(data_dir=str(tmp_path), **WIDE["x16k16"])
    m = ZOO["kernels"](hw)
    x = m.random_input
    return m, list(iter_reference(m, x, check=False)), lambda: _float_checker(m, x)


def test_float_check_still_catches_a_wrong_sum_or_word(tmp_path):
    m, refs, checker = _refs_and_checker(tmp_path)
    check = checker()
    for b, r in zip(m.bundles, refs):          # untouched: passes, the wide path is taken
        check(b, r)
    assert refs[1].float_check["mode"].startswith("sums exact in float64")
    # one sum off by one: float64 holds the sums exactly, so this is caught
    check = checker()
    check(m.bundles[0], refs[0])
    core, f = refs[1].stages["core"]
    bad = np.array(core, dtype=np.int64)
    bad.flat[5] += 1
    refs[1].stages["core"] = (bad, f)
    with pytest.raises(MismatchError, match=r"bundle 1 .*stage 'core'.*1 mismatches"):
        check(m.bundles[1], refs[1])
    refs[1].stages["core"] = (core, f)
    # a quantised word off by far more than float32 can explain
    act, fa = refs[1].stages["act"]
    bad = np.array(act, dtype=np.int64)
    bad.flat[7] = -bad.flat[7] - 1000
    refs[1].stages["act"] = (bad, fa)
    check = checker()
    check(m.bundles[0], refs[0])
    with pytest.raises(MismatchError, match=r"stage 'act'.*outside the float32 error bound"):
        check(m.bundles[1], refs[1])


def test_firmware_integer_width_is_checked_for_wide_sums(tmp_path):
    with pytest.raises(DsfError, match=r"firmware sum .*target_cpu_int_bits=32"):
        export_zoo("kernels", "4x8_axi64", tmp_path, bits=16, ysum=48, target_cpu_int_bits=32)


@settings(max_examples=200, deadline=None)
@given(bits=st.sampled_from([1, 2, 4, 8, 16, 32, 64]), data=st.data())
def test_twin_word_access_matches_the_export_layout(bits, data):
    """models/engine/words.get/put_or read and write the words layout.pack_words packs."""
    from dsf_sim.models.engine import words
    n = data.draw(st.integers(1, 12)) * max(1, 8 // bits)
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    vals = np.array(data.draw(st.lists(st.integers(lo, hi), min_size=n, max_size=n)), np.int64)
    packed = pack_words(vals, bits)
    back = np.array([words.signed(words.get(packed, 0, i * bits, bits), bits)
                     for i in range(n)])
    assert np.array_equal(back, vals)
    buf = np.zeros(packed.size, np.uint8)
    for i, v in enumerate(vals):
        words.put_or(buf, 0, i * bits, bits, np.int64(v))
    assert np.array_equal(buf, packed)

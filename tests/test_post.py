"""The output pipeline's arithmetic and the export's decision (architecture §17): the hardware
arithmetic (`post.finish_values`, mirrored by the RTL lanes and the twin) equals the integer
reference's bias/requantise/activation/add chain for every quantiser QKeras offers here, the
configuration word round-trips, and every bundle the pipeline cannot prove exact stays raw with
its reason — or, with post='on', gets a named error."""
from __future__ import annotations

import json
import os
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

from dsf_sim import Bundle, DsfError, QInput, QModel
from dsf_sim.compiler import post as P
from dsf_sim.compiler.export import export_model
from dsf_sim.compiler.hardware import POST_FIELDS, POST_SIGNED
from dsf_sim.frontend.quant import parse_quantizer, requantize, shift_align
from zoo import q, randomize, small_hw


def _act_texts(X):
    out = []
    for i in range(0, 3):
        out.append(f"quantized_bits({X},{i},False,True,1)")
        out.append(f"quantized_bits({X},{i},False,False,1)")
        out.append(f"quantized_relu({X},{i})")
        for k in range(1, X):
            out.append(f"quantized_relu({X},{i},negative_slope={2.0 ** -k})")
    return out


def _reference_chain(raw, bias, b, in_frac, skip=None, skip_spec=None):
    """The integer reference's stages (frontend/reference.py bundle_integer) on raw sums."""
    f_core = in_frac + b.kq.frac
    y, f_s = np.asarray(raw, np.int64), f_core
    if b.use_bias:
        f_s = max(f_core, b.bq.frac)
        y = shift_align(y, f_core, f_s) + shift_align(bias, b.bq.frac, f_s)
    y = requantize(y, f_s, b.act)
    if b.add_spec is not None:
        f_t = max(b.act.frac, skip_spec.frac)
        y = shift_align(y, b.act.frac, f_t) + shift_align(skip, skip_spec.frac, f_t)
        y = requantize(y, f_t, b.add_spec)
    return y


@settings(max_examples=120, deadline=None)
@given(st.sampled_from([2, 4, 8]), st.integers(0, 10 ** 6), st.booleans(), st.booleans())
def test_hardware_arithmetic_equals_the_reference(X, seed, use_bias, add):
    """Random quantisers (every slope, sign, integer bits), raw sums over the whole accumulator
    range the proof admits, biases and skips: the pipeline's values equal the reference's."""
    rng = np.random.default_rng(seed)
    hw = small_hw(bits=X, ysum=24 if X < 8 else 28)
    texts = _act_texts(X)
    act = parse_quantizer(texts[rng.integers(len(texts))])
    add_spec = parse_quantizer(texts[rng.integers(len(texts))]) if add else None
    skip_spec = parse_quantizer(texts[rng.integers(len(texts))]) if add else None
    b = SimpleNamespace(kq=parse_quantizer(f"quantized_bits({X},{int(rng.integers(0, 2))},False,True,1)"),
                        bq=parse_quantizer(f"quantized_bits(8,{int(rng.integers(0, 4))},False,True,1)"),
                        use_bias=use_bias, act=act, add_spec=add_spec)
    in_frac = int(rng.integers(-1, X + 1))
    cfg = P.job_config(P.post_config(b, in_frac, skip_spec, skip_spec.frac if add else 0), 1)
    assert not P.field_errors(cfg) and not P.shift_errors(hw, cfg)
    n = 2000
    raw = rng.integers(-(1 << (hw.Y_BITS - 2)), 1 << (hw.Y_BITS - 2), n)
    raw[:40] = np.arange(-20, 20)                              # the rounding ties near 0
    bias = rng.integers(b.bq.lo, b.bq.hi + 1, n) if use_bias else np.zeros(n, np.int64)
    skip = rng.integers(skip_spec.lo, skip_spec.hi + 1, n) if add else None
    # only configurations the export would finish (decide's proof); the others stay raw
    assume(P.pipe_bits_needed(hw, cfg, 1 << (hw.Y_BITS - 2), 128, bool(cfg["SKIP_SIGNED"]))
           <= hw.PIPE_BITS)
    got = P.finish_values(hw, raw, bias, cfg, skip)
    want = _reference_chain(raw, bias, b, in_frac, skip, skip_spec)
    bad = np.flatnonzero(got != want)
    assert bad.size == 0, (f"{act.text} / {add_spec and add_spec.text}: raw {raw[bad[0]]} bias "
                           f"{bias[bad[0]]} -> {got[bad[0]]}, reference {want[bad[0]]}")


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_configuration_word_round_trips(data):
    cfg = {}
    for name, w in POST_FIELDS:
        lo, hi = ((-(1 << (w - 1)), (1 << (w - 1)) - 1) if name in POST_SIGNED else (0, (1 << w) - 1))
        cfg[name] = data.draw(st.integers(lo, hi), label=name)
    word = P.pack_config(cfg)
    assert 0 <= word < 1 << sum(w for _, w in POST_FIELDS)
    assert P.unpack_config(word) == cfg
    assert P.field_errors(cfg) == []


def test_out_of_range_fields_and_shifts_are_named():
    cfg = P.unpack_config(0)
    cfg.update(A1=1 << 6, LO1=-(1 << 17) - 1)
    errs = P.field_errors(cfg)
    assert any(e.startswith("A1 = 64 outside 0..63") for e in errs), errs
    assert any(e.startswith("LO1 = -131073 outside -131072..131071") for e in errs), errs
    hw = small_hw()
    cfg = P.unpack_config(0)
    cfg.update(B1=40, K1=9)
    assert P.shift_errors(hw, cfg) == [f"requantisation shift B1+K1 = 49 > {hw.PIPE_BITS - 1}"]


def test_pipeline_proof_counts_the_worst_case():
    """Independent of the formula: the largest |intermediate| of a brute-force sweep over the
    operand extremes fits the width the proof claims, and one bit less does not."""
    hw = small_hw()
    cfg = P.unpack_config(0)
    cfg.update(SH_CORE=3, SH_BIAS=1, A1=2, B1=0, LO1=-8, HI1=7, ADD=1, SKIP_SIGNED=1, SH_ACT=2,
               SH_SKIP=0, A2=1, LO2=-8, HI2=7)
    need = P.pipe_bits_needed(hw, cfg, sum_bound=1000, bias_bound=100, skip_signed=True)
    worst = max(abs((1000 << 3) + (100 << 1)) << 2, abs((8 << 2) + 8) << 1)
    assert need == worst.bit_length() + 1
    assert -(1 << (need - 1)) <= -worst and worst <= (1 << (need - 1)) - 1
    assert worst > (1 << (need - 2)) - 1


def test_sum_bound_is_the_largest_channel_sum():
    spec = parse_quantizer("quantized_bits(4,0,False,True,1)")   # -8..7
    K = np.array([[[[1, -2], [3, 0]]]])                          # (1,1,2,2): CI=2, CO=2
    assert P.sum_bound(K, spec) == (1 + 3) * 8                   # channel 0 at x = -8


@settings(max_examples=150, deadline=None)
@given(st.data(), st.sampled_from(["4x8_axi64", "8x24_axi128"]), st.integers(0, 2**32 - 1))
def test_finish_values_equal_the_twin_lane_for_every_configuration(data, which, seed):
    """compiler.post's vectorised arithmetic (the export's check of every finished word) against
    the twin's scalar lane (models/engine/post_lane, the RTL's mirror) for configurations over
    every field's whole width (shifts past PIPE_BITS, LO > HI, leaky slopes), raw sums over the
    whole accumulator, biases over B_BITS and skip words as the lanes extend them."""
    from dsf_sim.models.engine import post_lane
    from cases import engine_hw
    hw = engine_hw(which)
    cfg = {}
    for name, w in POST_FIELDS:
        lo, hi = ((-(1 << (w - 1)), (1 << (w - 1)) - 1) if name in POST_SIGNED
                  else (0, (1 << w) - 1))
        cfg[name] = data.draw(st.integers(lo, hi), label=name)
    rng = np.random.default_rng(seed)
    n = 300
    raw = rng.integers(-(1 << (hw.Y_BITS - 1)), 1 << (hw.Y_BITS - 1), n)
    raw >>= rng.integers(0, hw.Y_BITS, n)                  # small sums too (rounding ties)
    bias = rng.integers(-(1 << (hw.B_BITS - 1)), 1 << (hw.B_BITS - 1), n)
    bias >>= rng.integers(0, hw.B_BITS, n)
    sk = rng.integers(0, 1 << hw.X_BITS, n)
    if cfg["SKIP_SIGNED"]:
        sk = np.where(sk >= 1 << (hw.X_BITS - 1), sk - (1 << hw.X_BITS), sk)
    got = P.finish_values(hw, raw, bias, cfg, sk)
    c = tuple(cfg[k] for k in ("SH_CORE", "SH_BIAS", "A1", "B1", "K1", "LO1", "HI1", "ADD",
                               "SKIP_SIGNED", "SH_ACT", "SH_SKIP", "A2", "B2", "K2", "LO2",
                               "HI2"))
    want = [int(post_lane.lane(int(a), int(b), int(s), c, hw.PIPE_BITS, 0))
            for a, b, s in zip(raw, bias, sk)]
    assert got.tolist() == want, cfg


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 4), st.integers(1, 5), st.integers(-40000, 40000),
       st.integers(-40000, 40000), st.integers(0, 2**32 - 1))
def test_extreme_sums_equal_the_product_bounds(ci, co, a, b, seed):
    """The bound from ΣK⁺ / ΣK⁻ (export and decide use it) against the per-product one it
    replaced, for kernels of every sign and any input range (lo > hi included)."""
    K = np.random.default_rng(seed).integers(-(1 << 15), 1 << 15, size=(3, 2, ci, co))
    c0 = int(np.random.default_rng(seed).integers(0, ci))
    kp, kn = P.signed_sums(K, [(0, ci), (c0, ci)])
    for i, lo in enumerate((0, c0)):
        assert np.array_equal(kp[i], np.where(K > 0, K, 0)[:, :, lo:].sum(axis=(0, 1, 2)))
        assert np.array_equal(kn[i], np.where(K < 0, K, 0)[:, :, lo:].sum(axis=(0, 1, 2)))
    pos, neg = P.extreme_sums(kp[0], kn[0], a, b)
    assert np.array_equal(pos, np.maximum(K * a, K * b).sum(axis=(0, 1, 2)))
    assert np.array_equal(neg, np.minimum(K * a, K * b).sum(axis=(0, 1, 2)))


def test_signed_sums_in_blocks_equal_the_whole_sums():
    """Wide kernels are summed through a scratch of a few rows: ranges that start and end
    inside blocks give the sums of the whole arrays."""
    K = np.random.default_rng(3).integers(-9, 9, size=(2, 40, 4096))   # 16-row blocks
    kp, kn = P.signed_sums(K, [(0, 40), (5, 37), (16, 17)])
    for i, (c0, c1) in enumerate([(0, 40), (5, 37), (16, 17)]):
        assert np.array_equal(kp[i], np.maximum(K[:, c0:c1], 0).sum(axis=(0, 1)))
        assert np.array_equal(kn[i], np.minimum(K[:, c0:c1], 0).sum(axis=(0, 1)))


# ----------------------------------------------------------------------------- export decisions
def _model(hw, layers, x_shape=(8, 8, 4)):
    x = x_in = QInput(x_shape, batch_size=1, hw=hw)
    for kw in layers:
        x = Bundle(**kw)(x)
    return randomize(QModel(inputs=x_in.raw, outputs=x))


def _conv(hw, filters, k=(3, 3), s=(1, 1), act=None, **kw):
    Q = q(hw)
    return dict(core={"type": "conv", "filters": filters, "kernel_size": k, "strides": s,
                      "padding": "same", "kernel_quantizer": Q["kq"], "bias_quantizer": Q["bq"],
                      "use_bias": True, "act_str": act or Q["relu"]}, **kw)


def _export(tmp_path, hw, model, post):
    x = np.random.default_rng(0).uniform(-1, 1, (1, *model.input.shape[1:]))
    d = str(tmp_path / post)
    export_model(model, x, hw, d, post=post)
    with open(os.path.join(d, "manifest.json")) as f:
        return json.load(f)


def test_decisions_and_reasons_are_recorded(tmp_path):
    """A strided layer (multi-part), a layer with more input channels than one pass holds (CP>1)
    and a plain layer: only the plain one is finished; each raw bundle says why."""
    hw = small_hw(rows=4, cols=8, ram_weights_depth=12)
    m = _model(hw, [_conv(hw, 8), _conv(hw, 8, s=(2, 2)), _conv(hw, 6, k=(1, 1))])
    mf = _export(tmp_path, hw, m, "auto")
    posts = [b["post"] for b in mf["bundles"]]
    assert posts[0]["finish"] and posts[0]["reason"] == "" and posts[0]["config"]["ADD"] == 0
    assert not posts[1]["finish"] and "parts" in posts[1]["reason"]
    assert posts[2]["finish"]
    off = _export(tmp_path, hw, m, "off")
    assert all(not b["post"]["finish"] and "post='off'" in b["post"]["reason"]
               for b in off["bundles"])


def test_multi_pass_bundle_stays_raw(tmp_path):
    hw = small_hw(rows=4, cols=8, kmax=3, ram_weights_depth=6)   # CI=12 x KH=3 = 36 rows > 6
    m = _model(hw, [_conv(hw, 8)], x_shape=(6, 6, 12))
    mf = _export(tmp_path, hw, m, "auto")
    p = mf["bundles"][0]["post"]
    assert not p["finish"] and p["reason"].startswith("CP = ") and "passes" in p["reason"]


def test_post_on_names_the_bundle_that_cannot_finish(tmp_path):
    hw = small_hw()
    m = _model(hw, [_conv(hw, 8), _conv(hw, 8, s=(2, 2))])
    with pytest.raises(DsfError, match=r"bundle 1 .*post.*multi-part"):
        _export(tmp_path, hw, m, "on")
    with pytest.raises(DsfError, match=r"post = 'sometimes' is invalid: allowed one of"):
        _export(tmp_path, hw, m, "sometimes")


def test_wide_activation_stays_raw_with_reason(tmp_path):
    """The last bundle may output more bits than the engine's inputs: raw, reason names the range."""
    hw = small_hw(bits=4)
    m = _model(hw, [_conv(hw, 8), _conv(hw, 4, act="quantized_bits(8,0,False,True,1)")])
    mf = _export(tmp_path, hw, m, "auto")
    p = mf["bundles"][1]["post"]
    assert not p["finish"] and "does not fit bits_input=4" in p["reason"], p
    assert mf["bundles"][0]["post"]["finish"]


def test_overflowing_pipeline_stays_raw():
    """A decision that needs more than PIPE_BITS bits falls back, named (PIPE_BITS shrunk on
    this instance so a real model hits the limit)."""
    hw = small_hw()
    m = _model(hw, [_conv(hw, 8)])
    hw.PIPE_BITS = 12
    b = m.bundles[0]
    from dsf_sim.compiler.lowering import map_core
    mp = map_core(b, (1, 8, 8, 4), True, hw)
    d = P.decide(hw, b, mp, b.int_weights()[0], m.input_spec_q, m.input_spec_q.frac)
    assert not d.finish and ("pipeline overflow risk" in d.reason
                             or "requantisation shift" in d.reason), d.reason


def test_fine_step_leaky_relu_stays_raw_or_is_refused_by_width(tmp_path):
    """quantized_relu(2,1,negative_slope=0.25) has words -1..2: on a 4-bit engine the bundle is
    exported raw (the pipeline rounds on one grid) and its consumer reads the 3-bit words; on a
    2-bit engine the next bundle's input cannot hold them: a named error."""
    fine = "quantized_relu(2,1,negative_slope=0.25)"
    hw = small_hw(bits=4)
    m = _model(hw, [_conv(hw, 6, act=fine), _conv(hw, 4)])
    mf = _export(tmp_path, hw, m, "auto")
    p = mf["bundles"][0]["post"]
    assert not p["finish"] and "coarser grid than its negative ones" in p["reason"]
    assert mf["bundles"][1]["post"]["finish"]
    hw2 = small_hw(bits=2)
    m2 = _model(hw2, [_conv(hw2, 6, act=fine), _conv(hw2, 4)])
    with pytest.raises(DsfError, match=r"input quantizer 'quantized_relu\(2,1,negative_slope=0.25\)'"
                                       r" range = \(-1, 2\) is invalid: allowed fits bits_input=2"):
        _export(tmp_path / "b2", hw2, m2, "auto")

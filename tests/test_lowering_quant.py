"""Stride lowering (space-to-depth) equals direct convolution; integer requantisation equals
QKeras on every input including negative ties."""
import itertools
import types

import numpy as np
import pytest

from dsf_sim.compiler.geometry import JobGeometry
from dsf_sim.compiler.layout import engine_job_reference
from dsf_sim.compiler.lowering import crop_output, lower_input, lower_weights, map_core
from dsf_sim.frontend.reference import conv_reference
from dsf_sim.frontend.quant import parse_quantizer, requantize, rhe_div

HW = types.SimpleNamespace(ROWS=4, COLS=64, Y_BITS=62, XN_MAX=4, XH_MAX=64, XW_MAX=64, CI_MAX=64,
                           KH_MAX=15, KW_MAX=15, RAM_WEIGHTS_DEPTH=10**6, XL_MAX=64)


class _B:
    idx, name, filters = 0, "t", 3
    core_cfg = {"type": "conv"}


@pytest.mark.parametrize("h,w", [(5, 1), (8, 6), (11, 9)])
def test_lowered_conv_equals_direct(h, w):
    rng = np.random.default_rng(h * 31 + w)
    n = 0
    for kh, kw, sh, sw, pad in itertools.product([1, 2, 3, 4, 5, 7], [1, 3, 4], [1, 2, 3, 4],
                                                 [1, 2], ["same", "valid"]):
        if pad == "valid" and (h < kh or w < kw):
            continue
        b = _B()
        b.kernel_size, b.strides, b.padding = (kh, kw), (sh, sw), pad
        x = rng.integers(-8, 8, (2, h, w, 2))
        k = rng.integers(-8, 8, (kh, kw, 2, 3))
        m = map_core(b, x.shape, True, HW)
        g = JobGeometry(m.KH, m.KW, m.CI_E, 2, m.H.size_e, m.W.size_e, True)
        y = crop_output(m, engine_job_reference(HW, g, lower_input(m, x), lower_weights(m, k)))
        ref = conv_reference(x, k, (sh, sw), pad)
        assert np.array_equal(y[..., :3], ref), (kh, kw, sh, sw, pad)
        # output-sized cost: the engine image is about input/stride
        assert m.H.size_e <= -(-h // sh) + m.KH
        n += 1
    assert n > 50


def test_conv_reference_equals_tensorflow():
    from dsf_sim.frontend.tf_setup import tf
    rng = np.random.default_rng(0)
    x = rng.integers(-8, 8, (2, 11, 9, 2))
    k = rng.integers(-8, 8, (5, 4, 2, 3))
    for s in [(1, 1), (2, 1), (2, 2), (3, 2), (4, 4)]:
        for pad in ["same", "valid"]:
            t = tf.nn.conv2d(x.astype("float32"), k.astype("float32"), (1,) + s + (1,),
                             pad.upper()).numpy()
            assert np.array_equal(t, conv_reference(x, k, s, pad))


def test_rhe_div_negative_ties():
    num = np.array([-5, -3, -1, 1, 3, 5, -7, 7, -6, 6])
    assert list(rhe_div(num, 2)) == [-2, -2, 0, 0, 2, 2, -4, 4, -3, 3]
    rng = np.random.default_rng(1)
    a = rng.integers(-10**6, 10**6, 5000)
    d = rng.integers(1, 50, 5000)
    assert np.array_equal(rhe_div(a, d), np.round(a / d).astype(np.int64))


QUANTS = ["quantized_bits(4,0,False,True,1)", "quantized_bits(4,0,False,False,1)",
          "quantized_relu(4,0,negative_slope=0.125)", "quantized_relu(4,0,negative_slope=0)",
          "quantized_bits(8,2,False,True,1)", "quantized_relu(8,3,negative_slope=0.5)",
          "quantized_bits(4,1,True,True,1)", "quantized_bits(2,0,False,True,1)",
          "quantized_relu(2,0)", "quantized_bits(8,4,False,True,1)"]


@pytest.mark.parametrize("text", QUANTS)
@pytest.mark.parametrize("f_in", [0, 3, 7])
def test_requantize_equals_qkeras(text, f_in):
    import qkeras
    from dsf_sim.frontend.tf_setup import tf
    s = parse_quantizer(text)
    Y = np.arange(-3000, 3000)
    ref = np.array(qkeras.get_quantizer(text)(tf.constant(Y * 2.0 ** -f_in, tf.float32)))
    assert np.array_equal(ref * 2.0 ** s.frac, requantize(Y, f_in, s))


def test_avg_requantize_exact_ties():
    s = parse_quantizer("quantized_bits(8,7,False,True,1)")  # frac 0
    assert list(requantize(np.array([3, -3, 5, -5, 1]), 0, s, count=np.array([2, 2, 2, 2, 3]))) \
        == [2, -2, 2, -2, 0]


def _sweep_texts():
    for bits in range(1, 9):
        for integer in range(0, 4):
            for sym, kn in itertools.product((0, 1), (0, 1)):
                yield f"quantized_bits({bits},{integer},{sym},{kn},1)"
            yield f"quantized_relu({bits},{integer})"
            for k in range(1, 8):
                yield f"quantized_relu({bits},{integer},negative_slope={2.0 ** -k})"


def test_every_qkeras_configuration_is_exact_or_refused_with_the_reason():
    """The whole quantized_bits / quantized_relu space QKeras accepts (bits 1..8, integer bits
    0..3, symmetric, keep_negative, every power-of-two leaky slope down to 2^-7) on a fine input
    grid including every tie: our integer view equals QKeras bit for bit; the only refusal is the
    1-bit +-1 binary quantizer, whose value set has no integer grid."""
    from dsf_sim.errors import ModelError
    from dsf_sim.frontend.quant import _qkeras
    qk = _qkeras()
    F = 10
    xs = np.arange(-24 << F, (24 << F) + 1)
    xf = (xs / 2.0 ** F).astype(np.float32)
    exact = refused = 0
    for text in _sweep_texts():
        want = np.asarray(qk.get_quantizer(text)(xf), dtype=np.float64)
        try:
            spec = parse_quantizer(text)
        except ModelError as e:
            assert text.startswith("quantized_bits(1,") and text.endswith(",1,1)"), (text, e)
            assert "1-bit +-1" in str(e)
            refused += 1
            continue
        got = requantize(xs, F, spec) * 2.0 ** -spec.frac
        bad = np.flatnonzero(got != want)
        assert bad.size == 0, f"{text}: x = {xf[bad[0]]} -> {got[bad[0]]}, QKeras {want[bad[0]]}"
        assert spec.lo <= requantize(xs, F, spec).min() and requantize(xs, F, spec).max() <= spec.hi
        exact += 1
    assert exact == 376 and refused == 8


def test_every_16_bit_qkeras_configuration_is_exact():
    """16-bit words (bits_input/bits_weights = 16): every quantized_bits / quantized_relu
    configuration with integer bits 0..3 and every leaky slope 2^-1 .. 2^-15, on a grid of half
    the finest output step (every tie and every step, |x| <= 9) plus 300 000 random points four
    bits finer."""
    from dsf_sim.frontend.quant import _qkeras
    qk = _qkeras()
    F = 20
    grid = np.arange(-(9 << F), (9 << F) + 1, 1 << (F - 17))
    xs = np.concatenate([grid, np.random.default_rng(16).integers(-(9 << F), 9 << F, 300_000)])
    xf = (xs / 2.0 ** F).astype(np.float32)
    assert np.array_equal(xf.astype(np.float64) * 2.0 ** F, xs)
    texts = [f"quantized_bits(16,{i},{s},{k},1)" for i in range(4) for s in (0, 1) for k in (0, 1)]
    texts += [f"quantized_relu(16,{i})" for i in range(4)]
    texts += [f"quantized_relu(16,{i},negative_slope={2.0 ** -k})" for i in range(4)
              for k in range(1, 16)]
    for text in texts:
        want = np.asarray(qk.get_quantizer(text)(xf), dtype=np.float64)
        spec = parse_quantizer(text)
        q = requantize(xs, F, spec)
        got = q * 2.0 ** -spec.frac
        bad = np.flatnonzero(got != want)
        assert bad.size == 0, f"{text}: x = {xf[bad[0]]} -> {got[bad[0]]}, QKeras {want[bad[0]]}"
        assert spec.lo <= q.min() and q.max() <= spec.hi
    assert len(texts) == 80


def test_fine_negative_step_leaky_relu():
    """quantized_relu(2, 1, negative_slope=0.25) gives -0.5 below -2 in QKeras (-2 itself ties to
    0; it was refused): a grid of 2^-1 whose positive values are even, the integer range -1..2
    (3 bits signed)."""
    s = parse_quantizer("quantized_relu(2,1,negative_slope=0.25)")
    assert (s.frac, s.lo, s.hi, s.slope_shift, s.pos_shift) == (1, -1, 2, 2, 1)
    assert s.word_bits() == 3
    assert list(requantize(np.array([-16, -8, -4, 0, 4, 8, 16]), 2, s)) == [-1, 0, 0, 0, 2, 2, 2]

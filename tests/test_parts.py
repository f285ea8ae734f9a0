"""Multi-part lowering (architecture §9.3): a strided conv as several sub-convolutions whose
cropped partial sums the firmware adds. Exact against the direct conv, bit-exact end to end
through the firmware (reference engine and the cycle system model), and cheaper in MAC beats."""
import itertools
import os
import types

import numpy as np
import pytest

from dsf_sim.compiler.geometry import JobGeometry
from dsf_sim.compiler.layout import engine_job_reference
from dsf_sim.compiler.lowering import (CoreMapping, _make_parts, axis_options, crop_output,
                                       lower_input, lower_weights, map_core)
from dsf_sim.frontend.reference import conv_reference

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HW = types.SimpleNamespace(ROWS=4, COLS=64, Y_BITS=62, XN_MAX=4, XH_MAX=64, XW_MAX=64, CI_MAX=64,
                           KH_MAX=15, KW_MAX=15, RAM_WEIGHTS_DEPTH=10**6, XL_MAX=64)


class _B:
    idx, name, filters = 0, "t", 3
    core_cfg = {"type": "conv"}


def _parts_conv(m, x, k, co):
    y = 0
    for qi, q in enumerate(m.parts):
        g = JobGeometry(q.KH, q.KW, q.CI_E, x.shape[0], q.H.size_e, q.W.size_e, True)
        raw = engine_job_reference(HW, g, lower_input(m, x, qi), lower_weights(m, k, qi))
        y = y + crop_output(m, raw, qi)[..., :co]
    return y


@pytest.mark.parametrize("h,w", [(5, 3), (8, 6), (11, 9), (14, 13)])
def test_parts_lowering_equals_direct(h, w):
    rng = np.random.default_rng(h * 7 + w)
    n = n_multi = n_taps = n_pairs = 0
    for kh, kw, sh, sw, pad in itertools.product(range(1, 8), [1, 2, 3, 5, 7], [1, 2, 3, 4],
                                                 [1, 2, 3, 4], ["same", "valid"]):
        if pad == "valid" and (h < kh or w < kw):
            continue
        b = _B()
        b.kernel_size, b.strides, b.padding = (kh, kw), (sh, sw), pad
        x = rng.integers(-8, 8, (2, h, w, 2))
        k = rng.integers(-8, 8, (kh, kw, 2, 3))
        m = map_core(b, x.shape, True, HW, split="parts")
        ref = conv_reference(x, k, (sh, sw), pad)
        assert np.array_equal(_parts_conv(m, x, k, 3), ref), (kh, kw, sh, sw, pad)
        # every decomposition the chooser may take: every pair of axis options
        if sh > 1 or sw > 1:
            for nh, ph in axis_options(m.H).items():
                for nw, pw in axis_options(m.W).items():
                    parts = tuple(_make_parts([(a, c) for a in ph for c in pw], 2, 3, HW))
                    mm = CoreMapping("conv", 2, m.H, m.W, 2, 3, sum(q.CI_E for q in parts), 1,
                                     1, 1, 1, True, parts)
                    assert np.array_equal(_parts_conv(mm, x, k, 3), ref), (nh, nw, kh, kw, sh,
                                                                           sw, pad)
                    n_pairs += 1
        # every tap its own channel block of one 1x1 part (im2col in channels)
        t = map_core(b, x.shape, True, HW, split="taps")
        if sh > 1 and sw > 1 and kh > 1 and kw > 1:
            assert not t.multi and t.KH == t.KW == 1 and t.CI_E == kh * kw * 2
            assert np.array_equal(_parts_conv(t, x, k, 3), ref), ("taps", kh, kw, sh, sw, pad)
            n_taps += 1
        # every (phase, tap) is in exactly one part: channels = sum over parts of phase pairs * CI
        ph = sum(len(q.H.phases) * len(q.W.phases) for q in m.parts)
        assert m.CI_E == ph * 2 and m.CP == sum(q.CP for q in m.parts)
        if sh == sw == 1:
            assert not m.multi
        n += 1
        n_multi += m.multi
    assert n > 300 and n_multi > 100 and n_taps > 50 and n_pairs > 1000


def test_single_part_mapping_unchanged():
    """Stride 1 (and split='single') keep exactly the one-part lowering and its attributes."""
    b = _B()
    b.kernel_size, b.strides, b.padding = (3, 3), (1, 1), "same"
    m = map_core(b, (1, 9, 9, 4), True, HW)
    assert len(m.parts) == 1 and m.parts[0].H == m.H and m.parts[0].CI_E == m.CI_E
    assert list(m.jobs()) == [(it, p) for it in range(m.IT) for p in range(m.CP)]
    b.strides = (2, 2)
    m = map_core(b, (1, 9, 9, 4), True, HW, split="single")
    assert not m.multi and m.KH == m.H.k_e == 3 and m.CI_E == 16


def test_parts_cost_resnet_stride2():
    """ResNet-like 3x3/2 (14x14x256 -> 256) on kraken: <= 0.5x the single-part MAC beats."""
    from dsf_sim.compiler.hardware import Hardware
    hw = Hardware.from_json(os.path.join(ROOT, "configs", "kraken.json"))
    b = _B()
    b.idx = 1       # inside the network: the firmware packs its input
    b.filters, b.kernel_size, b.strides, b.padding = 256, (3, 3), (2, 2), "same"
    single = map_core(b, (1, 14, 14, 256), False, hw, split="single")
    auto = map_core(b, (1, 14, 14, 256), False, hw)
    # every (phase, offset) tap once: its 9 taps as channel blocks of one 1x1 part, in passes
    assert not auto.multi and auto.KH == auto.KW == 1 and auto.CI_E == 9 * 256

    def beats(m):
        return sum(m.geometry(p).mac_beats(hw) for it, p in m.jobs())
    assert beats(auto) <= 0.5 * beats(single)
    # a small-CI stem stays one part (output-drain bound as 1x1 parts)
    b.filters, b.kernel_size = 64, (7, 7)
    assert not map_core(b, (1, 224, 224, 3), False, hw).multi


@pytest.mark.parametrize("bits,xn", [(4, 1), (8, 2)])
def test_parts_models_bit_exact_firmware_and_system(bits, xn, tmp_path):
    from dsf_sim import Bundle, QInput, QModel
    from dsf_sim.runtime.check import compare_run
    from dsf_sim.runtime.fw_driver import run_firmware
    from dsf_sim.compiler.export import load_export as _hardware
    from dsf_sim.models.system_model import run_system_model
    from zoo import _conv, q, randomize, small_hw
    hw = small_hw(bits=bits, data_dir=str(tmp_path))
    Q = q(hw)
    x = x_in = QInput((19, 17, 6), batch_size=xn, hw=hw, name="in_parts")
    for f, k, s, pad, act in [(8, (7, 7), (2, 2), "same", Q["relu"]),
                              (8, (3, 3), (2, 2), "same", Q["leaky"]),
                              (8, (5, 5), (2, 2), "same", Q["relu"]),
                              (6, (3, 3), (1, 1), "same", Q["sbits"])]:
        x = Bundle(core=_conv(f, k, s, pad, act, hw))(x)
    model = randomize(QModel(inputs=x_in.raw, outputs=x))
    xin = np.random.default_rng(3).uniform(-1, 1, (xn, 19, 17, 6)).astype(np.float32)
    ex = model.export_inference(x=xin, hw=hw, out_dir=str(tmp_path), split="parts")
    nparts = [len(be.mapping.parts) for be in ex.bundles]
    assert nparts[0] > 1 and nparts[1] > 1 and nparts[2] > 1 and nparts[3] == 1
    run = run_firmware(str(tmp_path))
    assert np.array_equal(run.output, ex.expected.reshape(-1))
    r = run_system_model(str(tmp_path), seed=2, valid_prob=0.6, ready_prob=0.6)
    h2, manifest = _hardware(str(tmp_path))
    compare_run(r["firmware_run"], h2, manifest)
    assert all("part" in j for bm in manifest["bundles"] for j in bm["jobs"])
    hdr = open(os.path.join(tmp_path, "config_fw.h")).read()
    assert "dsf_part_t dsf_parts[N_PARTS]" in hdr


@pytest.mark.parametrize("bits,xn", [(4, 1), (8, 2)])
def test_taps_models_bit_exact_firmware_and_system(bits, xn, tmp_path):
    """split='taps': every strided layer one 1x1 part whose channel blocks are its taps (block
    offsets beyond the stride, a leading pad: t < 0); the firmware packs them and the results
    are bit-exact against the reference at every level, with random handshakes."""
    from dsf_sim import Bundle, QInput, QModel
    from dsf_sim.runtime.check import compare_run
    from dsf_sim.runtime.fw_driver import run_firmware
    from dsf_sim.compiler.export import load_export as _hardware
    from dsf_sim.models.system_model import run_system_model
    from zoo import _conv, q, randomize, small_hw
    hw = small_hw(bits=bits, data_dir=str(tmp_path))
    Q = q(hw)
    x = x_in = QInput((19, 17, 3), batch_size=xn, hw=hw, name="in_taps")
    for f, k, s, pad, act in [(8, (5, 5), (2, 2), "same", Q["relu"]),
                              (6, (3, 3), (2, 2), "same", Q["leaky"]),
                              (6, (3, 2), (3, 2), "valid", Q["relu"]),
                              (5, (3, 3), (1, 1), "same", Q["sbits"])]:
        x = Bundle(core=_conv(f, k, s, pad, act, hw))(x)
    model = randomize(QModel(inputs=x_in.raw, outputs=x))
    xin = np.random.default_rng(4).uniform(-1, 1, (xn, 19, 17, 3)).astype(np.float32)
    ex = model.export_inference(x=xin, hw=hw, out_dir=str(tmp_path), split="taps")
    maps = [be.mapping for be in ex.bundles]
    for m, (kh, kw, ci) in zip(maps, [(5, 5, 3), (3, 3, 8), (3, 2, 6)]):
        assert not m.multi and m.KH == m.KW == 1 and m.CI_E == kh * kw * ci
    assert maps[1].H.t < 0 or maps[0].H.t < 0            # 'same' with a leading pad
    assert max(max(m.H.phases) for m in maps[:3]) >= 2   # block offsets past the stride
    assert maps[3].KH == 3
    run = run_firmware(str(tmp_path))
    assert np.array_equal(run.output, ex.expected.reshape(-1))
    r = run_system_model(str(tmp_path), seed=3, valid_prob=0.6, ready_prob=0.6)
    h2, manifest = _hardware(str(tmp_path))
    compare_run(r["firmware_run"], h2, manifest)

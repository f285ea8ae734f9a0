"""Zoo models: integer reference == QKeras float x 2^frac at every stage, and the exported
binaries decode (inverse layouts) back to the reference tensors."""
import json
import os

import numpy as np
import pytest

from dsf_sim.compiler.layout import (engine_job_reference, finish_job_reference,
                                    skip_words_of_stream, unpack_header, unpack_output_job,
                                    unpack_pixels_job, unpack_weights_job)
from dsf_sim.compiler.binfile import read as read_bin
from dsf_sim.compiler.lowering import lower_input, lower_weights
from zoo import ZOO, small_hw

CASES = [(name, bits, xn) for name in ZOO for bits, xn in ((4, 1), (8, 2), (2, 1), (16, 1))]
WIDE = dict(ysum=48, target_cpu_int_bits=64)     # what 16-bit words need (a product: 33 bits)


def _export(name, bits, xn, tmp_path, **hwkw):
    hw = small_hw(bits=bits, data_dir=str(tmp_path), **{**(WIDE if bits == 16 else {}), **hwkw})
    model = ZOO[name](hw, xn=xn if name != "mlp" else max(xn, 3))
    rng = np.random.default_rng(7)
    shape = tuple(int(s) for s in model.inputs[0].shape)
    x = rng.uniform(-1.0, 1.0, size=shape).astype(np.float32)
    return hw, model, model.export_inference(x=x, hw=hw, out_dir=str(tmp_path))


@pytest.mark.parametrize("name,bits,xn", CASES)
def test_zoo_bit_exact_and_decodes(name, bits, xn, tmp_path):
    hw, model, ex = _export(name, bits, xn, tmp_path)
    # every stage was compared inside export (raises on mismatch); here check coverage and decoding
    refs = ex.refs
    assert len(refs) == len(model.bundles)
    assert any(np.any(r.out != 0) for r in refs), "degenerate all-zero model"
    man = json.load(open(os.path.join(tmp_path, "manifest.json")))
    wbin = read_bin(os.path.join(tmp_path, "weights.bin"), "weights", int(man["config_hash"], 16))
    for be, mb in zip(ex.bundles, man["bundles"]):
        m, r = be.mapping, be.ref
        d = os.path.join(tmp_path, f"b{be.idx:02d}")
        K, B = model.bundles[be.idx].int_weights()
        xes = [lower_input(m, r.in_int, q) for q in range(len(m.parts))]
        Wes = [lower_weights(m, K, q) for q in range(len(m.parts))]
        off = mb["descriptor"]["w_offset"]
        for j in be.jobs:
            assert j.part == m.part_of(j.p)
            xe, We = xes[j.part], Wes[j.part]
            c0, c1 = m.pass_channels(j.p)
            nb = j.weights.shape[0] * hw.AXI_BYTES
            wbeats = wbin[off:off + nb].reshape(-1, hw.AXI_BYTES)
            off += nb
            hdr = unpack_header(hw, wbeats[0])
            assert hdr["WROWS_M1"] == j.geom.CM * j.geom.KH - 1
            w_dec, post = unpack_weights_job(hw, j.geom, wbeats, with_post=True)
            assert np.array_equal(w_dec[..., : j.co_hi - j.co_lo], We[:, :, c0:c1, j.co_lo:j.co_hi])
            assert not w_dec[..., j.co_hi - j.co_lo:].any()
            assert hdr["FINISH"] == int(mb["post"]["finish"]) == int(j.geom.finish)
            if j.geom.finish:       # configuration and bias beats decode to what was decided
                cfg, bias = post
                # the bundle's decision, with this job's own channel groups (architecture §17.2)
                assert cfg == dict(mb["post"]["config"], CG_M1=j.geom.CG(hw) - 1)
                assert j.geom.CG(hw) == j.co_hi - j.co_lo
                exp_b = B[j.co_lo:j.co_hi] if B is not None else np.zeros(j.co_hi - j.co_lo)
                assert np.array_equal(bias[: j.co_hi - j.co_lo], exp_b)
                assert not bias[j.co_hi - j.co_lo:].any()
            pix = read_bin(os.path.join(d, f"in_p{j.p}.bin"), "pixels", None)
            x_dec = unpack_pixels_job(hw, j.geom, pix.reshape(-1, hw.AXI_BYTES))
            assert np.array_equal(x_dec, xe[..., c0:c1])
            # the engine's sums of the decoded streams (the export keeps only the beats)
            sums = engine_job_reference(hw, j.geom, x_dec, w_dec)
            raw = read_bin(os.path.join(d, f"raw_it{j.it}_p{j.p}.bin"), "raw", None)
            raw = raw.reshape(-1, hw.AXI_BYTES)
            if not j.geom.finish:
                assert np.array_equal(unpack_output_job(hw, j.geom, raw), sums)
                continue
            # finished words = the pipeline's arithmetic on the engine sums (and skip stream)
            skip = None
            if cfg["ADD"]:
                sb = read_bin(os.path.join(d, f"skip_it{j.it}.bin"), "skip", None)
                skip = skip_words_of_stream(hw, j.geom, sb.reshape(-1, hw.AXI_BYTES),
                                            bool(cfg["SKIP_SIGNED"]))
            y = unpack_output_job(hw, j.geom, raw, signed=False)
            assert np.array_equal(y, finish_job_reference(hw, j.geom, sums, cfg, bias, skip))
        out = read_bin(os.path.join(d, "out.bin"), "bundle_out", None).reshape(r.out.shape)
        assert np.array_equal(out, r.out)
    assert np.array_equal(read_bin(os.path.join(tmp_path, "expected.bin"), "expected", None),
                          refs[-1].out.reshape(-1))


def test_wide_config_and_axi128(tmp_path):
    """Same zoo model at a wide configuration (8x24, AXI 128) is also bit-exact."""
    hw, model, ex = _export("residual", 4, 2, tmp_path, rows=8, cols=24, axi=128)
    assert ex.bundles[0].mapping.CO_PRL == 24 // 3


def test_strided_conv_costs_output_sized_beats(tmp_path):
    """A stride-(2,2) conv is lowered so its MAC beats scale with the output, not the input."""
    hw, model, ex = _export("strides", 4, 1, tmp_path)
    be = ex.bundles[2]  # (4,4) kernel, stride (2,2), same
    m = be.mapping
    assert (m.H.s, m.W.s) == (2, 2)
    out_pixels = m.H.out * m.W.out
    beats = sum(j.geom.mac_beats(hw) * 1 for j in be.jobs if j.it == 0) / m.CP
    # engine image is the *output* size (+ at most a row block), not the input size
    assert m.H.size_e <= m.H.out + 1 and m.W.size_e <= m.W.out + 1
    assert m.KH * m.KW <= 9
    assert beats > 0 and out_pixels > 0
    # a 1x1 stride-2 conv keeps only the polyphase that has its tap: no 4x channel blow-up
    m4 = ex.bundles[4].mapping
    assert (m4.H.s, m4.W.s, m4.KH, m4.KW) == (2, 2, 1, 1) and m4.CI_E == m4.CI
    # a 2x2 stride-3 conv keeps 2 of 3 phases per axis
    m5 = ex.bundles[5].mapping
    assert (m5.H.phases, m5.W.phases) == ((0, 1), (0, 1)) and m5.CI_E == 4 * m5.CI


def test_models_train_with_keras_fit(tmp_path):
    hw = small_hw(bits=4, data_dir=str(tmp_path))
    model = ZOO["residual"](hw, xn=2)
    model.compile(optimizer="adam", loss="mse")
    x = np.random.default_rng(0).uniform(-1, 1, size=(4, 9, 10, 4)).astype(np.float32)
    y = np.random.default_rng(1).uniform(0, 1, size=(4, 7)).astype(np.float32)
    h = model.fit(x, y, batch_size=2, epochs=1, verbose=0)
    assert np.isfinite(h.history["loss"][0])
    # after training the integer model is still exact
    model.export_inference(x=x[:2], hw=hw, out_dir=str(tmp_path))


def test_one_bit_activations(tmp_path):
    """bits_input = 1: unsigned 1-bit input and activations, 2-bit weights, bit-exact end to end."""
    from dsf_sim import Bundle, QInput, QModel
    from dsf_sim.runtime.check import compare_run
    from dsf_sim.compiler.export import load_export as _hardware
    from dsf_sim.models.system_model import run_system_model
    from zoo import randomize
    hw = small_hw(bits=2, bits_input=1, data_dir=str(tmp_path))
    q1 = "quantized_relu(1,0)"
    kq, bq = "quantized_bits(2,0,False,True,1)", "quantized_bits(8,0,False,True,1)"
    x = x_in = QInput((9, 8, 3), batch_size=2, hw=hw, name="in_1b")
    for k, s in ((3, 1), (3, 2), (1, 1)):
        x = Bundle(core={"type": "conv", "filters": 5, "kernel_size": k, "strides": s,
                         "kernel_quantizer": kq, "bias_quantizer": bq, "act_str": q1})(x)
    m = randomize(QModel(inputs=x_in.raw, outputs=x))
    ex = m.export_inference(x=m.random_input, hw=hw, out_dir=str(tmp_path))
    assert ex.bundles[0].mapping.x_signed is False and m.input_spec_q.lo == 0
    r = run_system_model(str(tmp_path), seed=1, valid_prob=0.5, ready_prob=0.5)
    h2, manifest = _hardware(str(tmp_path))
    compare_run(r["firmware_run"], h2, manifest)
    assert any(np.any(b.out) for b in ex.refs)


def test_export_streams_come_back_from_its_files(tmp_path):
    """A written bundle's jobs read their pixel / raw / skip streams from the export folder (not
    held in memory): the same beats as the files, and a missing or truncated file is named."""
    from dsf_sim import DsfError
    hw, model, ex = _export("residual", 4, 1, tmp_path)
    B = hw.AXI_BYTES
    j = ex.bundles[0].jobs[0]
    path = os.path.join(str(tmp_path), "b00", f"in_p{j.p}.bin")
    assert np.array_equal(j.pixels, read_bin(path, "pixels", None).reshape(-1, B))
    assert j.raw_stream.shape[1] == B and j.raw_stream.size > 0
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) - 1)
    with pytest.raises(DsfError, match=r"in_p0\.bin data = \d+ bytes is invalid: allowed \d+ "
                                       r"bytes as its header records \(truncated"):
        _ = j.pixels
    os.remove(path)
    with pytest.raises(DsfError, match=r"in_p0\.bin = missing is invalid"):
        _ = j.pixels
    # the reference keeps the output of every bundle and the shapes of the dropped stages
    r = ex.refs[0]
    assert set(r.stages) == {"out"} and "core" in r.stage_info()
    assert r.stage_info()["out"][0] == r.out.shape

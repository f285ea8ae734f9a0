"""Transformers on the engine (architecture §22): tokens, the matmul of two activations with the
operand packed by the firmware as the weight stream, and the integer softmax / LayerNorm / GELU
stages. A small encoder block (batch 2: one column block of weights per batch item, block
diagonal over the heads) is
bit-exact on the firmware reference, the twin and the RTL with identical cycles; the float
Keras graph agrees within the documented tolerances; the built-in ViT / BERT models map, bench
and train."""
from __future__ import annotations

import os

import numpy as np
import pytest

from cases import run_system
from dsf_sim import Bundle, QInput, QModel
from dsf_sim.compiler import binfile
from dsf_sim.compiler.export import load_export
from dsf_sim.runtime.check import compare_run
from zoo import _conv, _dense, q, randomize, small_hw


def encoder(hw, batch=2, side=4, dim=8, heads=2):
    """Patch conv -> tokens -> one post-LN encoder block -> dense head."""
    Q = q(hw)
    X = hw.X_BITS
    score, prob = f"quantized_bits({X},2,False,True,1)", f"quantized_bits({X},0,False,False,1)"
    x = x_in = QInput((side, side, 3), batch_size=batch, hw=hw, name="enc_in")
    x = Bundle(core=_conv(dim, 2, (2, 2), "valid", Q["sbits"], hw), tokens=True, name="patch")(x)
    qq = Bundle(core=_dense(dim, Q["sbits"], hw), name="q")(x)
    kk = Bundle(core=_dense(dim, Q["sbits"], hw), name="k")(x)
    vv = Bundle(core=_dense(dim, Q["sbits"], hw), name="v")(x)
    a = Bundle(core={"type": "matmul", "heads": heads, "transpose_b": True, "act_str": score},
               fn={"type": "softmax", "act_str": prob, "frac": 14}, name="qk")(qq, kk)
    o = Bundle(core={"type": "matmul", "heads": heads, "act_str": Q["sbits"]}, name="av")(a, vv)
    x = Bundle(core=_dense(dim, Q["sbits"], hw), add={"act_str": Q["sbits1"]},
               fn={"type": "layernorm", "act_str": score}, name="proj")(o, x)
    h = Bundle(core=_dense(2 * dim, Q["sbits1"], hw), fn={"type": "gelu", "act_str": Q["sbits1"]},
               name="mlp")(x)
    y = Bundle(core=_dense(dim, Q["sbits"], hw), name="out")(h)
    return randomize(QModel(inputs=x_in.raw, outputs=y), seed=5)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    d = tmp_path_factory.mktemp("encoder")
    hw = small_hw(bits=8, data_dir=str(d))
    m = encoder(hw)
    ex = m.export_inference(x=m.random_input, hw=hw, out_dir=str(d))
    return m, hw, ex, str(d)


def test_encoder_is_bit_exact_with_identical_cycles_on_every_level(exported):
    m, hw, ex, d = exported
    hw_, manifest = load_export(d)
    cycles = {}
    for level in ("reference", "twin", "rtl"):
        res = run_system(level, d, 3, 0.7, 0.8)
        compare_run(res["run"], hw_, manifest)          # every bundle's output, exactly
        assert np.array_equal(res["run"].output.reshape(-1), ex.refs[-1].out.reshape(-1)), level
        cycles[level] = res.get("cycles_total")
    assert cycles["twin"] == cycles["rtl"] and cycles["twin"] > 0
    fast = run_system("twin", d, 3, 0.7, 0.8, fast=True)        # the job-level fast path
    compare_run(fast["run"], hw_, manifest)
    assert fast["cycles_total"] == cycles["rtl"]
    # the matmul bundles' weights are the operand, packed by the firmware: weights.bin holds
    # their header beats and zero bodies, the per-job vectors the real streams
    w = binfile.read(os.path.join(d, "weights.bin"), "weights", None)
    B = hw.AXI_BYTES
    mm = [b for b in manifest["bundles"] if b["descriptor"]["mm"]]
    assert len(mm) == 2 and all(b["post"]["finish"] is False for b in mm)
    for b in mm:
        off = b["descriptor"]["w_offset"]
        for job in ex.bundles[b["idx"]].jobs:
            nb = b["passes"][job.p]["w_bytes"]
            assert not w[off + B:off + nb].any()
            assert np.asarray(job.weights).reshape(-1)[B:].any()
            off += nb


@pytest.mark.parametrize("bits", [4, 16])
def test_fn_tables_and_direct_path_match_the_reference(tmp_path, bits):
    """4-bit words: the firmware evaluates GELU and softmax's exp by table (every input value
    once; 36 keys per row > 16 values: each row's results per difference once); 16-bit words
    (65536 values > FN_LUT_MAX): element by element. Both give the reference's integers on the
    firmware and the twin."""
    hw = small_hw(bits=bits, data_dir=str(tmp_path), ysum=48 if bits == 16 else None,
                  target_cpu_int_bits=64)
    # 4-bit: 36 keys and 32 channels per row > 16 values: the softmax and LayerNorm row tables
    m = encoder(hw, batch=1, side=12, dim=32) if bits == 4 else encoder(hw, batch=1)
    m.export_inference(x=m.random_input, hw=hw, out_dir=str(tmp_path))
    hw_, manifest = load_export(str(tmp_path))
    for level in ("reference", "twin"):
        compare_run(run_system(level, str(tmp_path), 1, 0.9, 0.9)["run"], hw_, manifest)


def test_encoder_in_lockstep(exported, tmp_path):
    """The RTL and the twin side by side on every job of the encoder (matmul jobs included):
    every port and debug signal equal every cycle."""
    from dsf_sim.flows.equivalence import lockstep_model
    m, hw, ex, d = exported
    res, cert = lockstep_model(m, hw, seed=2, valid_prob=0.8, ready_prob=0.9, out_dir=str(tmp_path),
                               cert_path=str(tmp_path / "cert.json"), name="encoder")
    assert res.passed, res.report
    assert res.jobs == sum(len(b.jobs) for b in ex.bundles)


def test_engine_weights_are_the_operand_block_diagonal(exported):
    """The reference's kernel of a matmul core: batch n, head h's block holds b, zeros elsewhere,
    and x·K restricted to the diagonal blocks is the per-head matmul."""
    from dsf_sim.frontend.reference import matmul_int, matmul_kernel
    m, hw, ex, d = exported
    for b, r in zip(m.bundles, ex.refs):
        if not b.is_matmul:
            continue
        a = np.asarray(r.in_int, np.int64)
        bm = np.asarray(r.operand[0], np.int64)
        K = matmul_kernel(b, bm)
        N, S, _ = a.shape
        y = a.reshape(N * S, -1) @ K
        cout = K.shape[1] // N
        diag = np.stack([y[n * S:(n + 1) * S, n * cout:(n + 1) * cout] for n in range(N)])
        assert np.array_equal(diag, matmul_int(b, a, bm))
        assert np.count_nonzero(K) <= K.size // b.heads      # zero outside the head blocks


def test_fn_stages_agree_with_the_float_functions(exported):
    """Each fn stage's integer result lies within its documented tolerance of the float64
    function, and QKeras' quantised float graph lies in the same one-step bracket (the export
    checked it; here it is recomputed from the model)."""
    from dsf_sim.frontend.reference import fn_float64, run_reference
    m, hw, ex, d = exported
    refs = run_reference(m, m.random_input, check=False)
    seen = set()
    for b, r in zip(m.bundles, refs):
        if b.fn_cfg is None:
            continue
        seen.add(b.fn_cfg["type"])
        y, f = r.stages["add" if b.add_spec is not None else "act"]
        ref, tol = fn_float64(b, np.asarray(y, np.float64) * 2.0 ** -f)
        z, fz = r.stages["fn_raw"]
        assert np.all(np.abs(z * 2.0 ** -fz - ref) <= tol), b.fn_cfg
        assert np.abs(z * 2.0 ** -fz - ref).max() > 0          # integer, not the float copy
    assert seen == {"softmax", "layernorm", "gelu"}
    assert all("integer tolerance" in r.float_check["mode"] for b, r in zip(m.bundles, ex.refs)
               if b.fn_cfg is not None)


def test_a_wrong_fn_stage_is_caught_by_the_float_check():
    """A reference whose softmax forgot the head groups (one softmax over all heads) is outside
    the tolerance: the check is not vacuous."""
    from dsf_sim.errors import MismatchError
    from dsf_sim.frontend import reference as R
    hw = small_hw(bits=8)
    m = encoder(hw, batch=1)
    real = R.fn_integer

    def wrong(b, y, f):
        if b.fn_cfg["type"] == "softmax":
            from dsf_sim.frontend.int_ops import i_softmax
            return i_softmax(y, f, b.fn_frac)
        return real(b, y, f)
    R.fn_integer = wrong
    try:
        with pytest.raises(MismatchError, match=r"stage 'fn_raw' \(softmax\)"):
            R.run_reference(m, m.random_input)
    finally:
        R.fn_integer = real


def test_models_map_bench_and_train():
    """vit_tiny and bert_tiny on Kraken: every bundle maps, the bench reports the share of the
    frame per operation; a small variant trains with Keras fit (gradients through the matmul
    and the fn stages)."""
    from dsf_sim import Hardware
    from dsf_sim.api import networks as N
    from dsf_sim.perf.report import run_bench
    here = os.path.dirname(os.path.abspath(__file__))
    hw = Hardware.from_json(os.path.join(here, "..", "configs", "kraken.json"))
    for name in ("vit_tiny", "bert_tiny"):
        m = N.build(name, hw)
        assert sum(b.is_matmul for b in m.bundles) == 4
        res = run_bench(m, name, hw, "kraken", dram="ddr4-2400", plots=False, progress=False,
                        post="auto")
        share = res["op_share"]
        assert set(share) == {"matmul", "softmax", "layernorm", "gelu", "other"}
        assert all(v > 0 for v in share.values()) and abs(sum(share.values()) - 1) < 1e-9
        assert 0 < res["soc"]["fps"] < res["engine"]["fps"]
    small = N.vit_tiny(hw, input_size=8, dim=8, heads=2, blocks=1, patch=4)
    small.compile(optimizer="adam", loss="categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (4, 8, 8, 3)).astype("float32")
    y = np.eye(10, dtype="float32")[rng.integers(0, 10, 4)]
    before = [np.array(w) for w in small.trainable_weights]
    h = small.fit(x, y, batch_size=1, epochs=1, verbose=0)
    assert np.isfinite(h.history["loss"][0])
    moved = [not np.array_equal(a, np.array(w)) for a, w in zip(before, small.trainable_weights)]
    assert sum(moved) >= len(moved) // 2


CGRA4ML_SCRIPT = '''from deepsocflow import *
import numpy as np
from tensorflow import keras
from keras.layers import Input
from keras.models import Model, save_model
from qkeras.utils import load_qmodel

sb = SYS_BITS(x=8, k=8, b=16)


@keras.saving.register_keras_serializable()
class Attn(XModel):
    def __init__(self, sys_bits, x_int_bits, *args, **kwargs):
        super().__init__(sys_bits, x_int_bits, *args, **kwargs)
        lin = XActivation(sys_bits, 0)
        self.q = XBundle(core=XDense(0, 0, lin, units=8))
        self.k = XBundle(core=XDense(0, 0, lin, units=8))
        self.v = XBundle(core=XDense(0, 0, lin, units=8))
        self.s = XBundle(core=XMatMul(XActivation(sys_bits, 2), heads=2, transpose_b=True),
                         fn=XFn("softmax", XActivation(sys_bits, 1)))
        self.o = XBundle(core=XMatMul(lin, heads=2))
        self.n = XBundle(core=XDense(0, 0, lin, units=8), add_act=XActivation(sys_bits, 1),
                         fn=XFn("layernorm", XActivation(sys_bits, 2)))

    def call(self, x):
        x = self.input_quant_layer(x)
        a = self.s(self.q(x), self.k(x))
        return self.n(self.o(a, self.v(x)), x)


x = x_in = Input((6, 8), name="tokens")
m = Attn(sb, x_int_bits=0)
model = Model(x_in, m.call(x))
model.compile("adam", "mse")
rng = np.random.default_rng(0)
model.fit(rng.uniform(-1, 1, (16, 6, 8)).astype("float32"),
          rng.uniform(-1, 1, (16, 6, 8)).astype("float32"), epochs=1, batch_size=4, verbose=0)
save_model(model, "attn.h5")
loaded = load_qmodel("attn.h5")
hw = Hardware(processing_elements=(4, 8), bits_input=8, bits_weights=8, bits_sum=24,
              max_kernel_size=3, ram_weights_depth=24, valid_prob=0.6, ready_prob=0.7,
              max_batch_size=2)
export_inference(loaded, hw, batch_size=2)
verify_inference(loaded, hw, SIM="verilator", SIM_PATH="")
verify_inference(loaded, hw, SIM="model")
'''


def test_cgra4ml_api_transformer_trains_reloads_and_verifies(tmp_path):
    """XMatMul / XFn in a CGRA4ML-style XModel: trained, saved to .h5, reloaded, exported with
    batch 2, and bit-exact with identical cycles on the RTL and the twin."""
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    (tmp_path / "run.py").write_text(CGRA4ML_SCRIPT)
    env = {**os.environ, "PYTHONPATH": root, "DSF_CERT_DIR": str(tmp_path / "certs")}
    r = subprocess.run([sys.executable, "run.py"], cwd=tmp_path, capture_output=True, text=True,
                       timeout=1500, env=env)
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    out = r.stdout
    assert "6 bundles bit-exact" not in out and "with an integer softmax/GELU/LayerNorm" in out
    cyc = [line.split("total ")[1].split(",")[0] for line in out.splitlines()
           if line.startswith("verify_inference[")]
    assert len(cyc) == 2 and cyc[0] == cyc[1], out


def test_fn_costs_are_the_measured_aarch64_instruction_counts():
    """The A53 model's per-element costs of the fn stages come from counting the firmware's own
    AArch64 instructions under qemu (benchmarks/cpu_costs.py): the presets agree with a fresh
    count within 25 %, and the table paths cost far fewer instructions and no divisions."""
    import importlib.util
    from dsf_sim.models.soc_model import CPU_PRESETS
    here = os.path.dirname(os.path.abspath(__file__))
    spec = importlib.util.spec_from_file_location(
        "cpu_costs", os.path.join(here, "..", "benchmarks", "cpu_costs.py"))
    cc = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cc)
    per = cc.measure(256, 768, progress=False)
    a53 = CPU_PRESETS["a53"]
    for op in ("gelu", "softmax", "layernorm"):
        est = per[op][0] / cc.IPC + per[op][1] * cc.DIV_CYCLES
        assert abs(est - a53[op]) <= 0.25 * a53[op], (op, est, a53[op])
        assert per[op + "_table"][1] == 0 and per[op][1] >= 1
    assert per["gelu_table"][0] * 5 < per["gelu"][0]
    assert per["softmax_table"][0] * 3 < per["softmax"][0]
    assert abs(per["gelu_table"][0] - a53["gelu_lut"]) <= 0.25 * a53["gelu_lut"]

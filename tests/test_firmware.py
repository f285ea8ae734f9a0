"""C firmware (firmware/) driven through ctypes with the reference engine: every level bit-exact.

Each case: build a small QModel -> export_inference -> run_firmware(reference_engine) -> compare
every packed input stream, every raw job stream, every bundle output, the final output (+softmax).
"""
from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

from dsf_sim import Hardware, MismatchError
from dsf_sim.compiler.binfile import HEADER_BYTES, read as read_bin
from dsf_sim.runtime.fw_driver import (FirmwareError, build_firmware, load_firmware, reference_engine,
                              run_firmware)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# ----------------------------------------------------------------------------- hardware configs
HW = {
    # (4, 8) PEs, AXI 64
    "A4": dict(processing_elements=(4, 8), bits_input=4, bits_weights=4, bits_sum=20,
               bits_bias=16, max_kernel_size=5, ram_weights_depth=12, axi_width=64),
    "A8": dict(processing_elements=(4, 8), bits_input=8, bits_weights=8, bits_sum=32,
               bits_bias=16, max_kernel_size=5, ram_weights_depth=12, axi_width=64),
    "A2": dict(processing_elements=(4, 8), bits_input=2, bits_weights=2, bits_sum=16,
               bits_bias=8, max_kernel_size=5, ram_weights_depth=10, axi_width=64),
    # (8, 24) PEs, AXI 128
    "B4": dict(processing_elements=(8, 24), bits_input=4, bits_weights=4, bits_sum=24,
               bits_bias=16, max_kernel_size=7, ram_weights_depth=21, axi_width=128),
    "B8": dict(processing_elements=(8, 24), bits_input=8, bits_weights=8, bits_sum=32,
               bits_bias=32, max_kernel_size=7, ram_weights_depth=21, axi_width=128),
    "B2": dict(processing_elements=(8, 24), bits_input=2, bits_weights=2, bits_sum=16,
               bits_bias=8, max_kernel_size=7, ram_weights_depth=14, axi_width=128),
}


def make_hw(name, data_dir):
    return Hardware(frequency_mhz=100, max_batch_size=4, max_channels_in=256,
                    max_image_size=24, ram_edges_depth=64, target_cpu_int_bits=32,
                    data_dir=str(data_dir), **HW[name])


# ----------------------------------------------------------------------------- models
def _q(hw):
    X, K, B = hw.X_BITS, hw.K_BITS, hw.B_BITS
    return dict(
        kq=f"quantized_bits({K},0,False,True,1)",
        bq=f"quantized_bits({B},0,False,True,1)",
        relu=f"quantized_relu({X},0,negative_slope=0)",
        relu1=f"quantized_relu({X},1,negative_slope=0)",
        leaky=f"quantized_relu({X},0,negative_slope=0.5)" if X == 2 else
        f"quantized_relu({X},0,negative_slope=0.25)",
        sbits=f"quantized_bits({X},0,False,True,1)",
        sbits1=f"quantized_bits({X},1,False,True,1)",
        sbits2=f"quantized_bits({X},{min(2, X - 1)},False,True,1)",
        ubits=f"quantized_bits({X},0,False,False,1)",
    )


def _conv(q, filters, k, s=1, pad="same", act="relu", bias=True):
    return {"type": "conv", "filters": filters, "kernel_size": k, "strides": s, "padding": pad,
            "kernel_quantizer": q["kq"], "bias_quantizer": q["bq"], "use_bias": bias,
            "act_str": q[act]}


def _dense(q, units, act="leaky"):
    return {"type": "dense", "units": units, "kernel_quantizer": q["kq"],
            "bias_quantizer": q["bq"], "use_bias": True, "act_str": q[act]}


def model_strides(hw):
    """Strides (2,2) same, (2,1) valid, (1,2) same with odd/even image sizes."""
    from dsf_sim import Bundle, QInput, QModel
    q = _q(hw)
    x = x_in = QInput(shape=(11, 10, 3), batch_size=1, hw=hw, name="in")
    x = Bundle(core=_conv(q, 6, (3, 3), (2, 2), "same", "leaky"))(x)
    x = Bundle(core=_conv(q, 5, (3, 3), (2, 1), "valid", "sbits"))(x)
    x = Bundle(core=_conv(q, 4, (3, 5), (1, 2), "same", "relu"))(x)
    return QModel(inputs=x_in.raw, outputs=x)


def model_pool(hw):
    """Max and avg pool with same/valid padding, pool quantisers with different binary points."""
    from dsf_sim import Bundle, QInput, QModel
    q = _q(hw)
    x = x_in = QInput(shape=(9, 9, 2), batch_size=1, hw=hw, name="in")
    x = Bundle(core=_conv(q, 4, (3, 3), 1, "same", "relu"),
               pool={"type": "max", "size": (2, 2), "strides": (2, 2), "padding": "same",
                     "act_str": q["ubits"]})(x)
    x = Bundle(core=_conv(q, 5, (3, 3), 1, "valid", "leaky"),
               pool={"type": "avg", "size": (3, 3), "strides": (1, 1), "padding": "same",
                     "act_str": q["sbits"]})(x)
    x = Bundle(core=_conv(q, 6, (1, 1), 1, "same", "sbits1"),
               pool={"type": "max", "size": (3, 2), "strides": (2, 1), "padding": "valid",
                     "act_str": q["sbits"]})(x)
    return QModel(inputs=x_in.raw, outputs=x)


def model_avg_valid(hw):
    from dsf_sim import Bundle, QInput, QModel
    q = _q(hw)
    x = x_in = QInput(shape=(8, 7, 3), batch_size=2, hw=hw, name="in")
    x = Bundle(core=_conv(q, 5, (5, 3), 1, "same", "relu1"),
               pool={"type": "avg", "size": (2, 3), "strides": (2, 2), "padding": "valid",
                     "act_str": q["ubits"]})(x)
    x = Bundle(core=_conv(q, 3, (3, 3), (2, 2), "same", "leaky"),
               pool={"type": "avg", "size": (2, 2), "strides": (1, 1), "padding": "same",
                     "act_str": q["sbits1"]})(x)
    return QModel(inputs=x_in.raw, outputs=x)


def model_residual(hw):
    """Residual adds whose operands have different binary points; batch 2."""
    from dsf_sim import Bundle, QInput, QModel
    q = _q(hw)
    x = x_in = QInput(shape=(6, 6, 4), batch_size=2, hw=hw, name="in")
    x = s0 = Bundle(core=_conv(q, 4, (3, 3), 1, "same", "relu1"))(x)
    x = s1 = Bundle(core=_conv(q, 4, (3, 3), 1, "same", "sbits2"),
                    add={"act_str": q["sbits1"]})(x, s0)
    x = Bundle(core=_conv(q, 4, (1, 1), 1, "same", "leaky", bias=False),
               add={"act_str": q["leaky"]})(x, s0)
    x = Bundle(core=_conv(q, 4, (3, 3), 1, "same", "sbits"),
               add={"act_str": q["sbits"]})(x, s1)
    return QModel(inputs=x_in.raw, outputs=x)


def model_dense(hw):
    """conv -> flatten -> dense -> dense + softmax, batch 2."""
    from dsf_sim import Bundle, QInput, QModel
    q = _q(hw)
    x = x_in = QInput(shape=(5, 4, 3), batch_size=2, hw=hw, name="in")
    x = Bundle(core=_conv(q, 3, (3, 3), 1, "same", "relu"), flatten=True)(x)
    x = Bundle(core=_dense(q, 12, "sbits"))(x)
    x = Bundle(core=_dense(q, 7, "leaky"), softmax=True)(x)
    return QModel(inputs=x_in.raw, outputs=x)


def model_single_dense(hw):
    """One dense bundle (input.bin holds a dense input) with softmax, batch 3."""
    from dsf_sim import Bundle, QInput, QModel
    q = _q(hw)
    x = x_in = QInput(shape=(13,), batch_size=3, hw=hw, name="in")
    x = Bundle(core=_dense(q, 9, "leaky"), softmax=True)(x)
    return QModel(inputs=x_in.raw, outputs=x)


def model_single_conv(hw):
    """One conv bundle: 5x5 stride 2 valid, flatten, softmax."""
    from dsf_sim import Bundle, QInput, QModel
    q = _q(hw)
    x = x_in = QInput(shape=(7, 6, 2), batch_size=1, hw=hw, name="in")
    x = Bundle(core=_conv(q, 10, (5, 5), (2, 2), "valid", "sbits"), flatten=True,
               softmax=True)(x)
    return QModel(inputs=x_in.raw, outputs=x)


MODELS = {"strides": model_strides, "pool": model_pool, "avg_valid": model_avg_valid,
          "residual": model_residual, "dense": model_dense,
          "single_dense": model_single_dense, "single_conv": model_single_conv}


def _randomise(model, seed):
    """Random kernels and non-zero biases (Keras initialises biases to 0), on a coarse grid."""
    rng = np.random.default_rng(seed)
    for b in model.bundles:
        layer = b.core_layer
        k = layer.kernel.numpy()
        layer.kernel.assign(rng.uniform(-1, 1, size=k.shape).astype(np.float32))
        if b.use_bias:
            n = layer.bias.shape[0]
            layer.bias.assign((np.round(rng.uniform(-0.5, 0.5, n) * 32) / 32).astype(np.float32))


def export(model_name, hw_name, out_dir, seed=0):
    hw = make_hw(hw_name, out_dir)
    model = MODELS[model_name](hw)
    _randomise(model, seed)
    rng = np.random.default_rng(seed + 1)
    spec = model.input_spec_q
    shape = tuple(int(s) for s in model.inputs[0].shape)
    x = rng.uniform(spec.lo * 2.0 ** -spec.frac, (spec.hi + 1) * 2.0 ** -spec.frac, size=shape)
    model.export_inference(x=x.astype(np.float32), hw=hw, out_dir=str(out_dir))
    return str(out_dir)


CASES = [(m, h) for m in list(MODELS)[:5] for h in ("A4", "B4")] + [
    ("single_dense", "A4"), ("single_conv", "B2"),
    ("strides", "A8"), ("dense", "B8"), ("pool", "A2"), ("residual", "B2"), ("dense", "A2"),
    ("avg_valid", "B8")]


@pytest.mark.parametrize("model_name,hw_name", CASES, ids=[f"{m}-{h}" for m, h in CASES])
def test_firmware_bit_exact(model_name, hw_name, tmp_path):
    d = export(model_name, hw_name, tmp_path / "vec")
    run = run_firmware(d, reference_engine, jsonl=str(tmp_path / "cmds.jsonl"))
    with open(os.path.join(d, "manifest.json")) as f:
        man = json.load(f)
    n_jobs = sum(len(b["jobs"]) for b in man["bundles"])
    n_skip = sum(1 for b in man["bundles"] for j in b["jobs"] if j["geometry"]["add"])
    dmas = [c for c in run.commands if c["cmd"] == "dma"]
    assert len(dmas) == 3 * n_jobs + n_skip
    assert len(run.skip_streams) == n_skip
    assert len(run.raw_streams) == n_jobs
    assert run.commands[-1]["cmd"] == "done"
    _check_command_order(dmas)


def _check_command_order(dmas):
    """Per job: W(j) before O(j) before X(j) [before S(j)]; W(j+1) after X(j) [and S(j)]; one
    transfer per channel."""
    order = [(c["ch"], c["job"]) for c in dmas]
    pos = {k: i for i, k in enumerate(order)}
    n = max(j for _, j in order) + 1
    for j in range(n):
        assert pos[(1, j)] < pos[(2, j)] < pos[(0, j)]
        last = pos[(0, j)]
        if (3, j) in pos:
            assert pos[(0, j)] < pos[(3, j)]
            last = pos[(3, j)]
        if j + 1 < n:
            assert last < pos[(1, j + 1)] < pos[(2, j + 1)]


# ----------------------------------------------------------------------------- seed example
SEED_MODEL = os.path.join(ROOT, "examples", "seed_example.py")


@pytest.fixture(scope="module")
def seed_export(tmp_path_factory):
    """The seed example's model and hardware, exported into a temp dir."""
    d = tmp_path_factory.mktemp("seed")
    with open(SEED_MODEL) as f:
        src = f.read()
    src = src.replace("data_dir = 'vectors'", f"data_dir = {str(d / 'vectors')!r}")
    src = src.replace("hw.export()", "hw.export(out_dir=%r)" % str(d))
    src = src.replace("hw.export_vivado_tcl(board='zcu104')", "")
    src = src.replace("model.summary()", "")
    cwd = os.getcwd()
    os.chdir(d)
    try:
        exec(compile(src, SEED_MODEL, "exec"), {"__name__": "seed"})
    finally:
        os.chdir(cwd)
    return str(d / "vectors")


def test_seed_example(seed_export, tmp_path):
    run = run_firmware(seed_export, reference_engine, jsonl=str(tmp_path / "seed.jsonl"))
    assert run.softmax is not None and abs(run.softmax.sum() - 1) < 1e-12
    with open(tmp_path / "seed.jsonl") as f:
        lines = [json.loads(s) for s in f]
    assert lines[0] == {"cmd": "dma", "ch": 1, "chan": "weights", "addr": HEADER_BYTES,
                        "bytes": lines[0]["bytes"], "bundle": 0, "it": 0, "p": 0, "job": 0}
    # identical command stream on a second run (deterministic, harness-independent order)
    run2 = run_firmware(seed_export, reference_engine)
    assert [c for c in run.commands if c["cmd"] == "dma"] == \
        [c for c in run2.commands if c["cmd"] == "dma"]


def _copy(src, dst):
    shutil.copytree(src, dst)
    return str(dst)


def _flip(path, index):
    """Flip a bit of the data byte `index` (after the file's header)."""
    a = np.fromfile(path, dtype=np.uint8)
    a[HEADER_BYTES + index] ^= 0x01
    a.tofile(path)


def test_corrupt_raw_stream_names_job(seed_export, tmp_path):
    d = _copy(seed_export, tmp_path / "v")
    _flip(os.path.join(d, "b02", "raw_it0_p1.bin"), 10)  # byte 10 = word 5 (16-bit words)
    with pytest.raises(MismatchError, match=r"bundle 2 pass 1 iteration 0 raw output: 1 words "
                                            r"differ; first at word 5"):
        run_firmware(d, reference_engine)


def test_corrupt_packed_input_and_output(seed_export, tmp_path):
    d = _copy(seed_export, tmp_path / "v")
    _flip(os.path.join(d, "b03", "in_p1.bin"), 40)
    with pytest.raises(MismatchError, match=r"bundle 3 pass 1 packed input: 1 bytes differ; "
                                            r"first at byte 40"):
        run_firmware(d, reference_engine)
    d2 = _copy(seed_export, tmp_path / "v2")
    a = np.fromfile(os.path.join(d2, "b04", "out.bin"), dtype="<i4")
    a[HEADER_BYTES // 4 + 7] += 1
    a.tofile(os.path.join(d2, "b04", "out.bin"))
    with pytest.raises(MismatchError, match=r"bundle 4 output: 1 values differ; first at flat "
                                            r"index 7"):
        run_firmware(d2, reference_engine)


def test_faulty_engine_is_caught(seed_export):
    def bad_engine(info, w, x, s=None):
        out = bytearray(reference_engine(info, w, x, s))
        if (info["bundle"], info["it"], info["p"]) == (3, 0, 1):
            out[2] ^= 0x04
        return bytes(out)

    with pytest.raises(MismatchError, match=r"bundle 3 pass 1 iteration 0 raw output"):
        run_firmware(seed_export, bad_engine)


def test_short_output_transfer_is_an_error(seed_export):
    def short_engine(info, w, x, s=None):
        return reference_engine(info, w, x, s)[:-8]

    with pytest.raises(FirmwareError, match="moved .* bytes, expected"):
        run_firmware(seed_export, short_engine)


# ----------------------------------------------------------------------------- integer maths
def test_requant_matches_python(seed_export):
    from dsf_sim.frontend.quant import QSpec, parse_quantizer, requantize, rhe_div
    lib = load_firmware(build_firmware(seed_export))
    rng = np.random.default_rng(3)
    nums = np.concatenate([rng.integers(-5000, 5000, 3000), np.arange(-64, 65)])
    for den in (1, 2, 3, 4, 8, 9, 12, 16):
        exp = rhe_div(nums, den)
        got = np.array([lib.dsf_rhe_div(int(v), den) for v in nums])
        assert np.array_equal(exp, got), den
    specs = [QSpec("b", "bits", 4, 3, -8, 7), QSpec("u", "bits", 4, 4, 0, 15),
             QSpec("r", "relu", 4, 4, 0, 15, -1), QSpec("l", "relu", 4, 3, -2, 7, 2),
             QSpec("l1", "relu", 2, 1, -1, 1, 1), QSpec("b8", "bits", 8, 5, -128, 127),
             parse_quantizer("quantized_relu(2,1,negative_slope=0.25)"),    # pos_shift 1
             parse_quantizer("quantized_relu(3,0,negative_slope=0.0625)"),   # pos_shift 2
             parse_quantizer("quantized_relu(1,0,negative_slope=0.5)")]      # 1-bit: {-1/2, 0}
    assert [s.pos_shift for s in specs[-3:]] == [1, 2, 1]
    vals = np.concatenate([rng.integers(-3000, 3000, 1500), np.arange(-40, 41)])
    for spec in specs:
        for f_in in (0, 2, 3, 6, 9):
            for count in (1, 3, 4, 6):
                exp = requantize(vals, f_in, spec, count=count)
                got = np.array([lib.dsf_requant(int(v), f_in, spec.frac, spec.lo, spec.hi,
                                                spec.slope_shift, spec.pos_shift, count)
                                for v in vals])
                assert np.array_equal(exp, got), (spec, f_in, count)


def test_blocking_hal_same_commands(seed_export):
    """The board path (dsf_fw_run_blocking with a HAL) issues the same DMA list and result."""
    from dsf_sim.runtime.fw_driver import run_firmware_blocking
    dmas, out = run_firmware_blocking(seed_export, reference_engine)
    run = run_firmware(seed_export, reference_engine)
    assert dmas == [c for c in run.commands if c["cmd"] == "dma"]
    assert np.array_equal(out, read_bin(os.path.join(seed_export, "expected.bin"), "expected", None))

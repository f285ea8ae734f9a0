"""Bad models and bad model/hardware combinations give errors naming parameter, value, limit."""
import os

import numpy as np
import pytest

from dsf_sim import Bundle, DsfError, HardwareError, ModelError, QInput, QModel
from zoo import q, small_hw


def _conv(hw, **over):
    Q = q(hw)
    c = {"type": "conv", "filters": 4, "kernel_size": (3, 3), "strides": (1, 1),
         "padding": "same", "kernel_quantizer": Q["kq"], "bias_quantizer": Q["bq"],
         "use_bias": True, "act_str": Q["relu"]}
    c.update(over)
    return c


def _build_export(hw, tmp_path, shape=(8, 8, 3), xn=1, **core):
    x = x_in = QInput(shape, batch_size=xn, hw=hw, name="in_err")
    x = Bundle(core=_conv(hw, **core))(x)
    m = QModel(inputs=x_in.raw, outputs=x)
    return m.export_inference(x=m.random_input, hw=hw, out_dir=str(tmp_path))


MODEL_CASES = [
    (dict(type="lstm"), "core['type']"),
    (dict(padding="causal"), "padding"),
    (dict(kernel_quantizer="quantized_po2(4)"), "quantizer"),
    (dict(kernel_quantizer="quantized_bits(4,0,False,False,1)"), "kernel_quantizer"),
    (dict(kernel_quantizer="quantized_bits(1,0,False,True,1)"), "bits"),
    (dict(act_str="quantized_relu(4,0,negative_slope=0.3)"), "negative_slope"),
    (dict(act_str="quantized_bits(4,0,True,True,'auto')"), "alpha"),
    (dict(act_str="not_a_quantizer(3)"), "quantizer"),
    (dict(filters=0), "filters"),
    (dict(kernel_size=(3, 3, 3)), "kernel_size"),
    (dict(strides=(0, 1)), "strides"),
]


@pytest.mark.parametrize("core,needle", MODEL_CASES)
def test_bad_bundle_args(core, needle, tmp_path):
    hw = small_hw()
    with pytest.raises(ModelError) as e:
        _build_export(hw, tmp_path, **core)
    assert needle in str(e.value) and "allowed" in str(e.value)


def test_kernel_exceeds_hardware(tmp_path):
    hw = small_hw(kmax=5)
    with pytest.raises(HardwareError, match=r"engine kernel height.*= 7 .*max_kernel_size KH 5"):
        _build_export(hw, tmp_path, kernel_size=(7, 3))


@pytest.mark.parametrize("bad", [0.3, np.inf, np.nan])
def test_kernel_off_the_quantiser_grid_is_named(bad, tmp_path, monkeypatch):
    """A kernel that is not an integer multiple of the quantiser's step (or not finite) stops
    the export with the bundle named, before any file is written."""
    hw = small_hw()
    x = x_in = QInput((8, 8, 3), batch_size=1, hw=hw, name="in_grid")
    b = Bundle(core=_conv(hw))
    x = b(x)
    m = QModel(inputs=x_in.raw, outputs=x)
    k = np.array(b.quantized_kernel())
    k.flat[5] = bad
    monkeypatch.setattr(b, "quantized_kernel", lambda: k)
    with pytest.raises(ModelError, match=r"quantized kernel.*exact integers"):
        m.export_inference(x=m.random_input, hw=hw, out_dir=str(tmp_path / "e"))
    assert not os.path.exists(tmp_path / "e" / "manifest.json")


def test_image_exceeds_hardware(tmp_path):
    hw = small_hw(max_image_size=16)
    with pytest.raises(HardwareError, match=r"input image \(H, W\) = \(20, 8\).*max_image_size"):
        _build_export(hw, tmp_path, shape=(20, 8, 3))


def test_channels_exceed_hardware(tmp_path):
    hw = small_hw(max_channels_in=4)
    with pytest.raises(HardwareError, match=r"input channels = 6 .*max_channels_in 4"):
        _build_export(hw, tmp_path, shape=(8, 8, 6))


def test_batch_exceeds_hardware(tmp_path):
    hw = small_hw(max_batch_size=2)
    with pytest.raises(ModelError, match=r"batch_size = 3 .*max_batch_size"):
        _build_export(hw, tmp_path, xn=3)


def test_accumulator_overflow_risk(tmp_path):
    hw = small_hw(bits=4, ysum=10)
    with pytest.raises(HardwareError, match=r"accumulator overflow risk.*bits_sum=10"):
        _build_export(hw, tmp_path, shape=(8, 8, 8), kernel_size=(5, 5))


def test_activation_wider_than_bits_input(tmp_path):
    hw = small_hw(bits=4)
    x = x_in = QInput((6, 6, 2), batch_size=1, hw=hw, name="in_w")
    x = Bundle(core=_conv(hw, act_str="quantized_relu(8,0)"))(x)
    x = Bundle(core=_conv(hw))(x)
    m = QModel(inputs=x_in.raw, outputs=x)
    with pytest.raises(HardwareError, match=r"input quantizer.*fits bits_input=4"):
        m.export_inference(x=m.random_input, hw=hw, out_dir=str(tmp_path))


def test_add_without_skip(tmp_path):
    hw = small_hw()
    x = QInput((6, 6, 2), batch_size=1, hw=hw, name="in_a")
    with pytest.raises(ModelError, match="skip input"):
        Bundle(core=_conv(hw), add={"act_str": q(hw)["sbits"]})(x)


def test_bad_pool_type_and_padding():
    hw = small_hw()
    with pytest.raises(ModelError, match=r"pool\['type'\] = 'min'"):
        Bundle(core=_conv(hw), pool={"type": "min", "size": 2, "act_str": q(hw)["sbits"]})
    with pytest.raises(ModelError, match="pool padding"):
        Bundle(core=_conv(hw), pool={"type": "max", "size": 2, "padding": "full",
                                     "act_str": q(hw)["sbits"]})


def test_softmax_only_last():
    hw = small_hw()
    x = x_in = QInput((6, 6, 2), batch_size=1, hw=hw, name="in_s")
    x = Bundle(core=_conv(hw), softmax=True)(x)
    x = Bundle(core=_conv(hw))(x)
    with pytest.raises(ModelError, match="softmax"):
        QModel(inputs=x_in.raw, outputs=x)


def test_dense_needs_flat_input():
    hw = small_hw()
    Q = q(hw)
    x = QInput((6, 6, 2), batch_size=1, hw=hw, name="in_d")
    with pytest.raises(ModelError, match="dense input rank"):
        Bundle(core={"type": "dense", "units": 3, "kernel_quantizer": Q["kq"],
                     "bias_quantizer": Q["bq"], "act_str": Q["relu"]})(x)


def test_export_without_hardware_and_bad_sim(tmp_path):
    hw = small_hw()
    x = x_in = QInput((6, 6, 2), batch_size=1, hw=hw, name="in_h")
    x = Bundle(core=_conv(hw))(x)
    m = QModel(inputs=x_in.raw, outputs=x)
    with pytest.raises(ModelError, match="hw = None"):
        m.export_inference(x=m.random_input, hw=None)
    with pytest.raises(DsfError, match="SIM = 'xsim'"):
        m.verify_inference(SIM="xsim")


def test_cli_bad_inputs_are_named(tmp_path):
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    dsf = [sys.executable, "-m", "dsf_sim.cli"]
    cases = [
        (["bench", "lenet", "--hw", os.path.join(root, "configs", "kraken.json")],
         "network = 'lenet' is invalid: allowed one of"),
        (["bench", "resnet50", "--hw", str(tmp_path / "nope.json")],
         "hardware json = "),
        (["verify", os.path.join(root, "examples", "seed_example.py"), "--sim", "model",
          "--valid-prob", "0", "--out", str(tmp_path / "v")],
         "argument --valid-prob: 0.0 is invalid: allowed 0 < p <= 1"),
    ]
    for args, needle in cases:
        r = subprocess.run(dsf + args, capture_output=True, text=True, timeout=600, cwd=tmp_path)
        assert r.returncode == 2 and needle in r.stderr, (args, r.stderr[-800:])
        assert "Traceback" not in r.stderr


def test_hardware_json_errors(tmp_path):
    from dsf_sim import Hardware
    with pytest.raises(HardwareError, match="hardware json"):
        Hardware.from_json(str(tmp_path / "missing.json"))
    with pytest.raises(HardwareError, match="valid JSON"):
        Hardware.from_json("{not json")

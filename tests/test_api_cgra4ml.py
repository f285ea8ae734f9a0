"""Scripts written for CGRA4ML (DeepSoCFlow's successor, 2026) run with `from deepsocflow import *`
(../shared/reference/api_compat.md §B, §C): an XModel subclass of XBundles with batch-norm folded
convs, wrapped by keras.Model, trained one epoch on synthetic data, saved to .h5, reloaded with
qkeras.utils.load_qmodel, exported (bit-exact against the reloaded model's own QKeras forward pass)
and verified on the RTL and the twin; `keras` resolves to tf_keras."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from dsf_sim.errors import DsfError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SCRIPT = "from deepsocflow import *\nimport numpy as np\nfrom tensorflow import keras\nfrom keras.layers import Input\nfrom keras.models import Model, save_model\nfrom qkeras.utils import load_qmodel\n\nsys_bits = SYS_BITS(x=4, k=4, b=16)\n\n\n@keras.saving.register_keras_serializable()\nclass UserModel(XModel):\n    def __init__(self, sys_bits, x_int_bits, *args, **kwargs):\n        super().__init__(sys_bits, x_int_bits, *args, **kwargs)\n        self.b0 = XBundle(core=XConvBN(k_int_bits=0, b_int_bits=0, filters=8, kernel_size=3,\n                                       act=XActivation(sys_bits=sys_bits, o_int_bits=0,\n                                                       type='relu', slope=0)))\n        self.b1 = XBundle(core=XConvBN(k_int_bits=0, b_int_bits=0, filters=8, kernel_size=3,\n                                       act=XActivation(sys_bits, 0, type=None)),\n                          add_act=XActivation(sys_bits, 0, type='relu', slope=0.125))\n        self.b2 = XBundle(core=XConvBN(k_int_bits=0, b_int_bits=0, filters=8, kernel_size=1,\n                                       act=XActivation(sys_bits, 0, type='relu', slope=0)),\n                          pool=XPool(type='max', pool_size=2, strides=2, padding='valid',\n                                     act=XActivation(sys_bits, 0, type='relu', slope=0)),\n                          flatten=True)\n        self.b3 = XBundle(core=XDense(k_int_bits=0, b_int_bits=0, units=10,\n                                      act=XActivation(sys_bits, 0, type=None)), softmax=True)\n\n    def call(self, x):\n        x = self.input_quant_layer(x)\n        x = x_skip = self.b0(x)\n        x = self.b1(x, x_skip)\n        x = self.b2(x)\n        return self.b3(x)\n\n\nx = x_in = Input((12, 12, 3), name='input')\nuser_model = UserModel(sys_bits, x_int_bits=0)\nmodel = Model(x_in, user_model.call(x))\nmodel.compile('adam', 'categorical_crossentropy')\nrng = np.random.default_rng(0)\nxs = rng.uniform(-1, 1, (64, 12, 12, 3)).astype('float32')\nys = np.eye(10)[rng.integers(0, 10, 64)].astype('float32')\nmodel.fit(xs, ys, epochs=1, batch_size=16, verbose=0)\nsave_model(model, 'm.h5')\nloaded = load_qmodel('m.h5')\n\nhw = Hardware(processing_elements=(4, 8), max_kernel_size=3, ram_weights_depth=12,\n              bits_sum=20, valid_prob=0.5, ready_prob=0.5, max_batch_size=8)\nexport_inference(loaded, hw, batch_size=1)\nverify_inference(loaded, hw, SIM='verilator', SIM_PATH='')\nverify_inference(loaded, hw, SIM='model')\nd = predict_model_performance(hw)\nprint('PERF', d)\nb = [l for l in loaded.layers if isinstance(l, XBundle)][0]\nk, _ = b.core_layer.get_folded_weights()\nprint('FOLDED_DIFFERS', bool(np.any(np.abs(np.array(k) - np.array(b.core_layer.kernel)) > 1e-6)))\nimport keras as _k, tf_keras\nprint('KERAS_IS_TF_KERAS', _k is tf_keras)\n"


def test_cgra4ml_script_trains_saves_reloads_exports_and_verifies(tmp_path):
    (tmp_path / "run.py").write_text(SCRIPT)
    env = {**os.environ, "PYTHONPATH": ROOT, "DSF_CERT_DIR": str(tmp_path / "certs")}
    r = subprocess.run([sys.executable, "run.py"], cwd=tmp_path, capture_output=True, text=True,
                       timeout=1500, env=env)
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    out = r.stdout
    assert "export_inference: 4 bundles bit-exact against QKeras" in out
    cyc = [line.split("total ")[1].split(",")[0] for line in out.splitlines()
           if line.startswith("verify_inference[")]
    assert len(cyc) == 2 and cyc[0] == cyc[1], out                 # RTL and twin cycles equal
    assert "FOLDED_DIFFERS True" in out and "KERAS_IS_TF_KERAS True" in out
    perf = eval(out.split("PERF ")[1].splitlines()[0])             # a dict literal
    assert perf["bundles"] == 4 and perf["seconds"] > 0 and perf["bytes"] > 0
    mf = json.load(open(tmp_path / "vectors" / "manifest.json"))
    assert [b["name"] for b in mf["bundles"]] and mf["hardware"]["max_n_bundles"] == 64


def test_x_api_refuses_bad_arguments_by_name():
    from dsf_sim.api.xmodel import SYS_BITS, XActivation, XConvBN, XPool
    sb = SYS_BITS(x=4, k=4, b=16)
    assert XActivation(sb, 1, "relu", 0.25).text == "quantized_relu(4,1,negative_slope=0.25)"
    assert XActivation(sb, 0, "relu", 0).text == "quantized_relu(3,0,negative_slope=0)"
    assert XActivation(sb, 2).text == "quantized_bits(4,2,False,True,1)"
    with pytest.raises(DsfError, match=r"XActivation: slope = 0.3 is invalid: allowed 0 or 2\^-k"):
        XActivation(sb, 0, "relu", 0.3)
    with pytest.raises(DsfError, match=r"XActivation: type = 'tanh' is invalid"):
        XActivation(sb, 0, "tanh")
    with pytest.raises(DsfError, match=r"SYS_BITS: k = 0 is invalid"):
        SYS_BITS(k=0)
    with pytest.raises(DsfError, match=r"XConvBN: arguments = \['dilation'\] is invalid"):
        XConvBN(0, 0, XActivation(sb, 0), filters=4, kernel_size=3, dilation=2)
    with pytest.raises(DsfError, match=r"XPool: act = None is invalid: allowed an XActivation"):
        XPool("max", 2)


def test_cgra4ml_hardware_arguments_are_validated():
    from dsf_sim import Hardware
    hw = Hardware(max_n_bundles=3, tb_module="my_tb", config_baseaddr="A0000000")
    assert hw.to_dict()["tb_module"] == "my_tb"
    with pytest.raises(DsfError, match=r"config_baseaddr = 'xyz' is invalid"):
        Hardware(config_baseaddr="xyz")
    with pytest.raises(DsfError, match=r"axi_max_burst_len = 0 is invalid"):
        Hardware(axi_max_burst_len=0)


def test_max_n_bundles_is_enforced(tmp_path):
    from zoo import ZOO, small_hw
    hw = small_hw(max_n_bundles=2)
    m = ZOO["mlp"](hw, xn=3)
    with pytest.raises(DsfError, match=r"number of bundles = 3 is invalid: allowed <= "
                                       r"max_n_bundles 2"):
        m.export_inference(x=m.random_input, hw=hw, out_dir=str(tmp_path))

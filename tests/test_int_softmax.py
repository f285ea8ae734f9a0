"""Bundle(softmax=True, softmax_frac=F): the firmware computes the integer softmax of architecture
§21 (no float on the CPU). The export writes it as the reference computes it (int64 at F), and
the firmware reference, the twin and the RTL give those integers exactly; QKeras' float softmax
agrees within the documented bound."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from cases import run_system
from dsf_sim import Bundle, DsfError, MismatchError, QInput, QModel
from dsf_sim.compiler import binfile
from dsf_sim.compiler.export import load_export
from dsf_sim.runtime.check import compare_run
from zoo import _conv, _dense, q, randomize, small_hw


def _model(hw, frac, conv=False):
    Q = q(hw)
    if conv:        # softmax over the channels of a conv output (NHWC rows)
        x = x_in = QInput((6, 6, 3), batch_size=2, hw=hw, name="in_isc")
        x = Bundle(core=_conv(8, 3, act=Q["sbits1"], hw=hw), softmax=True, softmax_frac=frac)(x)
    else:
        x = x_in = QInput((20,), batch_size=3, hw=hw, name="in_ism")
        x = Bundle(core=_dense(16, Q["relu"], hw))(x)
        x = Bundle(core=_dense(7, Q["sbits1"], hw), softmax=True, softmax_frac=frac)(x)
    return randomize(QModel(inputs=x_in.raw, outputs=x), seed=4)


@pytest.mark.parametrize("frac,conv", [(15, False), (8, True), (30, False)])
def test_integer_softmax_is_bit_exact_on_every_level(tmp_path, frac, conv):
    from dsf_sim.frontend.int_ops import i_softmax
    hw = small_hw(bits=8, data_dir=str(tmp_path))
    m = _model(hw, frac, conv)
    ex = m.export_inference(x=m.random_input, hw=hw, out_dir=str(tmp_path))
    hw_, manifest = load_export(str(tmp_path))
    assert manifest["bundles"][-1]["descriptor"]["softmax_frac"] == frac
    want = binfile.read(os.path.join(tmp_path, "expected_softmax.bin"), "softmax_int", None)
    r = ex.refs[-1]
    assert np.array_equal(want, i_softmax(r.out, r.out_frac, frac).reshape(-1))
    assert want.min() >= 0 and want.max() <= 1 << frac and want.any()
    for level in ("reference", "twin", "rtl"):
        run = run_system(level, str(tmp_path), 2, 0.6, 0.8)["run"]
        assert np.array_equal(run.softmax, want), level
        compare_run(run, hw_, manifest)
    # QKeras' float softmax within the integer softmax's bound (the export checked it too)
    y = np.asarray(m.predict(m.random_input, verbose=0), np.float64).reshape(-1)
    assert np.abs(y - want * 2.0 ** -frac).max() < 5e-5 + 2.0 ** -frac


def test_a_wrong_integer_softmax_is_named(tmp_path):
    from dsf_sim.compiler.export import _digest
    hw = small_hw(bits=8, data_dir=str(tmp_path))
    m = _model(hw, 12)
    m.export_inference(x=m.random_input, hw=hw, out_dir=str(tmp_path))
    p = os.path.join(tmp_path, "expected_softmax.bin")
    a = np.fromfile(p, np.uint8)
    a[binfile.HEADER_BYTES + 8 * 4] ^= 1        # word 4
    a.tofile(p)
    mf = json.load(open(os.path.join(tmp_path, "manifest.json")))
    mf["file_digests"]["expected_softmax.bin"] = _digest(p)
    json.dump(mf, open(os.path.join(tmp_path, "manifest.json"), "w"))
    with pytest.raises(MismatchError, match=r"final integer softmax: 1 values differ; first at 4"):
        m.verify_inference(SIM="model", hw=hw, out_dir=str(tmp_path))


def test_the_board_driver_returns_its_values(tmp_path):
    from dsf_sim.models.twin_hal import TwinHal
    from dsf_sim.runtime.board_driver import Accelerator
    hw = small_hw(bits=8, data_dir=str(tmp_path))
    m = _model(hw, 15)
    m.export_inference(x=m.random_input, hw=hw, out_dir=str(tmp_path))
    acc = Accelerator(str(tmp_path), TwinHal(hw))
    acc.run()
    want = binfile.read(os.path.join(tmp_path, "expected_softmax.bin"), "softmax_int", None)
    assert acc.check() and np.array_equal(acc.softmax, want * 2.0 ** -15)


@pytest.mark.parametrize("kw,msg", [
    ({"softmax_frac": 12}, r"softmax_frac = 12 is invalid: allowed None unless softmax=True"),
    ({"softmax": True, "softmax_frac": 0}, r"softmax_frac = 0 is invalid: allowed None or an int "
                                           r"in 1..30"),
    ({"softmax": True, "softmax_frac": 31}, r"softmax_frac = 31 is invalid"),
    ({"softmax": True, "softmax_frac": 8.0}, r"softmax_frac = 8.0 is invalid"),
    ({"softmax": True, "softmax_frac": True}, r"softmax_frac = True is invalid"),
])
def test_bad_softmax_frac_is_named(kw, msg):
    hw = small_hw()
    with pytest.raises(DsfError, match=msg):
        Bundle(core=_dense(4, q(hw)["sbits"], hw), **kw)

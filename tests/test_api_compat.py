"""Scripts written for the public DeepSoCFlow 2024 API run with only the import changed
(../shared/reference/api_compat.md §A): export_json writes hardware.json and from_json reads it
back by default, export_vivado_tcl takes DeepSoCFlow's arguments and stays quiet before a
certificate, hw.simulate runs the exported vectors, predict_performance returns (seconds, bytes),
plain ints for sizes, 1-D inputs for MLPs. Re-exporting into a folder replaces the previous export
completely."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from dsf_sim import Bundle, DsfError, QInput, QModel
from zoo import q, randomize, small_hw

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

SCRIPT = '''
from deepsocflow import Bundle, Hardware, QModel, QInput

hw = Hardware(processing_elements=(4, 8), frequency_mhz=250, bits_input=4, bits_weights=4,
              bits_sum=20, bits_bias=16, max_batch_size=8, max_channels_in=64,
              max_kernel_size=5, max_image_size=32, ram_weights_depth=20, ram_edges_depth=32,
              axi_width=64, target_cpu_int_bits=32, valid_prob=0.5, ready_prob=0.5,
              data_dir='vectors')
hw.export_json()
hw = Hardware.from_json('hardware.json')
hw.export()
hw.export_vivado_tcl(board='zcu104')

kq = f'quantized_bits({hw.K_BITS},0,False,True,1)'
bq = f'quantized_bits({hw.B_BITS},0,False,True,1)'
q1 = f'quantized_relu({hw.X_BITS},0,negative_slope=0)'
q4 = f'quantized_relu({hw.X_BITS},0,negative_slope=0.125)'

x = x_in = QInput(shape=(16,), batch_size=4, hw=hw, int_bits=0, name='input')
x = Bundle(core={'type': 'dense', 'units': 12, 'kernel_quantizer': kq, 'bias_quantizer': bq,
                 'use_bias': True, 'act_str': q1})(x)
x = Bundle(core={'type': 'dense', 'units': 10, 'kernel_quantizer': kq, 'bias_quantizer': bq,
                 'use_bias': True, 'act_str': q4}, softmax=True)(x)
model = QModel(inputs=x_in.raw, outputs=x)
for layer in model.layers:
    layer.trainable = False
model.compile()
assert len(model.bundles) == 2
model.export_inference(x=model.random_input, hw=hw)
model.verify_inference('verilator', '')
seconds, bytes_ = model.predict_performance()
print('PREDICTED', seconds, bytes_)
hw.simulate(SIM='verilator', SIM_PATH='')

x = x_in = QInput(shape=(12, 12, 3), batch_size=1, hw=hw, int_bits=0, name='input2')
x = Bundle(core={'type': 'conv', 'filters': 8, 'kernel_size': 5, 'strides': 2, 'padding': 'same',
                 'kernel_quantizer': kq, 'bias_quantizer': bq, 'use_bias': True, 'act_str': q1},
           pool={'type': 'max', 'size': 3, 'strides': 2, 'padding': 'same', 'act_str': q1})(x)
x = Bundle(core={'type': 'conv', 'filters': 10, 'kernel_size': 1, 'strides': 1, 'padding': 'same',
                 'kernel_quantizer': kq, 'bias_quantizer': bq, 'use_bias': True, 'act_str': q4},
           flatten=True)(x)
model2 = QModel(inputs=x_in.raw, outputs=x)
model2.export_inference(x=model2.random_input, hw=hw)
model2.verify_inference('verilator', '')
print('PREDICTED2', *model2.predict_performance())
'''


def test_deepsocflow_2024_run_script(tmp_path):
    (tmp_path / "run.py").write_text(SCRIPT)
    env = {**os.environ, "DSF_CERT_DIR": str(tmp_path / "certs"),
           "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    r = subprocess.run([sys.executable, "run.py"], cwd=tmp_path, capture_output=True, text=True,
                       timeout=1200, env=env)
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    hw_json = json.loads((tmp_path / "hardware.json").read_text())
    assert hw_json["processing_elements"] == [4, 8] and hw_json["valid_prob"] == 0.5
    assert "UNCERTIFIED" in (tmp_path / "vivado_flow.tcl").read_text()
    assert "NOT written" not in r.stdout
    assert r.stdout.count("bit-exact at every level") == 3        # 2 verify + 1 simulate
    sec, nbytes = r.stdout.split("PREDICTED ")[1].split()[:2]
    assert 0 < float(sec) < 1e-3 and int(nbytes) > 0
    # the second export replaced the first completely (the first had a softmax)
    assert not (tmp_path / "vectors" / "expected_softmax.bin").exists()
    assert not (tmp_path / "vectors" / ".dsf_export_staging").exists()


def _mlp(hw, softmax, units=10):
    Q = q(hw)
    x = x_in = QInput((16,), batch_size=2, hw=hw, name="in_mlp1d")
    x = Bundle(core={"type": "dense", "units": 12, "kernel_quantizer": Q["kq"],
                     "bias_quantizer": Q["bq"], "act_str": Q["relu"]})(x)
    x = Bundle(core={"type": "dense", "units": units, "kernel_quantizer": Q["kq"],
                     "bias_quantizer": Q["bq"], "act_str": Q["sbits"]}, softmax=softmax)(x)
    return randomize(QModel(inputs=x_in.raw, outputs=x))


def test_predict_performance_is_the_engines_cycles_and_bytes(tmp_path):
    """Independent of the bench's fast path: the export's own job streams, run back to back on
    the twin engine, take seconds * f cycles; the bytes are those streams' sizes."""
    from dsf_sim.models.engine import run_engine_jobs_model
    from dsf_sim.rtl_bridge.lockstep import export_jobs
    hw = small_hw()
    m = _mlp(hw, softmax=True)
    with pytest.raises(DsfError, match=r"predict_performance: hw = None is invalid"):
        m.predict_performance()
    ex = m.export_inference(x=m.random_input, hw=hw, out_dir=str(tmp_path / "e"))
    sec, nbytes = m.predict_performance()
    jobs = export_jobs(ex)
    _, cyc = run_engine_jobs_model(hw, jobs, seed=1, valid_prob=1.0, ready_prob=1.0)
    assert round(sec * hw.frequency_mhz * 1e6) == int(sum(cyc))
    mf = json.load(open(tmp_path / "e" / "manifest.json"))
    moved = sum(j["weights"].size + j["pixels"].size + (0 if j["skip"] is None else j["skip"].size)
                for j in ({"weights": np.asarray(w), "pixels": np.asarray(p), "skip": s}
                          for w, p, s in jobs))
    out = sum(be.jobs[k].geom.output_beats(hw) * hw.AXI_BYTES
              for be in ex.bundles for k in range(len(be.jobs)))
    assert nbytes == moved + out, (nbytes, moved, out, len(mf["bundles"]))
    s2, b2 = m.predict_performance(dram="ddr4-2400", cpu="a53")
    assert s2 > sec and b2 >= nbytes
    with pytest.raises(DsfError, match=r"dram = 'ddr9' is invalid: allowed one of"):
        m.predict_performance(dram="ddr9")


def test_reexport_replaces_the_previous_export(tmp_path):
    from dsf_sim.flows.verify import run_sim
    hw = small_hw()
    d = str(tmp_path / "v")
    a = _mlp(hw, softmax=True)
    a.export_inference(x=a.random_input, hw=hw, out_dir=d)
    assert os.path.exists(os.path.join(d, "expected_softmax.bin"))
    (tmp_path / "v" / "notes.txt").write_text("mine")          # not the export's: kept
    b = _mlp(hw, softmax=False, units=7)
    b.export_inference(x=b.random_input, hw=hw, out_dir=d)
    assert not os.path.exists(os.path.join(d, "expected_softmax.bin"))
    assert (tmp_path / "v" / "notes.txt").read_text() == "mine"
    mf = json.load(open(os.path.join(d, "manifest.json")))
    assert sorted(os.listdir(d)) == sorted({f.split("/")[0] for f in mf["files"]} | {"notes.txt"})
    res = run_sim(d, "model", 1, 1.0, 1.0)
    assert len(res["final_output"]) == 2 * 7


def test_simulate_refuses_a_folder_of_another_hardware(tmp_path):
    hw = small_hw()
    m = _mlp(hw, softmax=False)
    m.export_inference(x=m.random_input, hw=hw, out_dir=str(tmp_path / "v"))
    other = small_hw(ysum=22)
    with pytest.raises(DsfError, match=r"simulate: data_dir = .* is invalid: allowed an export "
                                       r"made for this hardware \(it differs in bits_sum 20 vs "
                                       r"22\)"):
        other.simulate(SIM="model", data_dir=str(tmp_path / "v"))
    res = hw.simulate(SIM="model", data_dir=str(tmp_path / "v"))
    assert res["bit_exact"] and res["cycles_total"] > 0


def test_export_json_writes_and_from_json_reads_by_default(tmp_path, monkeypatch):
    from dsf_sim import Hardware
    monkeypatch.chdir(tmp_path)
    hw = small_hw()
    assert hw.export_json() is None
    assert Hardware.from_json() == hw == Hardware.from_json(str(tmp_path / "hardware.json"))
    hw.export_json(str(tmp_path / "sub" / "hw.json"))
    assert Hardware.from_json(str(tmp_path / "sub" / "hw.json")) == hw
    assert not [p for p in os.listdir(tmp_path / "sub") if ".tmp" in p]
    with pytest.raises(DsfError, match=r"hardware json = 12 is invalid"):
        Hardware.from_json(12)


GUARDED = '''
import sys
sys.path.insert(0, {here!r})
from dsf_sim import Hardware
from zoo import ZOO, small_hw


def make():
    hw = small_hw(bits=4, data_dir={data!r})
    return hw, ZOO["mlp"](hw, xn=3)


def main(run_sim):
    hw, net = make()
    net.export_inference(x=net.random_input, hw=hw)
    if run_sim:
        net.verify_inference(SIM="verilator", SIM_PATH="")
        hw.simulate(SIM="verilator")
    return net


if __name__ == "__main__":
    main(run_sim=len(sys.argv) < 5)
'''


def test_cli_runs_scripts_with_calls_inside_if_functions_and_main_guard(tmp_path):
    """No top-level `model` or `hw`: the model and hardware are the ones the script exported
    for, recorded when export_inference is called inside main() under the __main__ guard."""
    from dsf_sim.api.model_file import load_model
    from dsf_sim.cli import main
    f = tmp_path / "guarded.py"
    f.write_text(GUARDED.format(here=HERE, data=str(tmp_path / "vec")))
    model, hw = load_model(str(f))
    assert len(model.bundles) == 3 and hw.ROWS == 4
    assert not (tmp_path / "vec").exists()          # nothing exported or simulated by loading
    assert main(["verify", str(f), "--sim", "model", "--out", str(tmp_path / "out")]) == 0
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    with pytest.raises(DsfError, match=r"model file = .*empty.py' is invalid: allowed a file "
                                       r"that defines build\(hw\)"):
        load_model(str(empty))


def test_resnet50_with_int_sizes_exports_and_runs_on_twin_and_rtl(tmp_path):
    """The public run folder's ResNet-50 (plain ints for every kernel size, stride and pool size,
    like dsf_sim.api.networks.resnet50) at 32x32 on the Kraken configuration: exported bit-exact,
    predicted, and run on the twin and the RTL with identical cycles."""
    from dsf_sim import Hardware
    from dsf_sim.api.networks import build
    from dsf_sim.flows.verify import run_sim
    hw = Hardware.from_json(os.path.join(ROOT, "configs", "kraken.json"))
    m = build("resnet50", hw, input_size=32)
    assert len(m.bundles) == 53
    assert all(isinstance(b.core_cfg["kernel_size"], int) for b in m.bundles)
    m.export_inference(x=m.random_input, hw=hw, out_dir=str(tmp_path / "r50"))
    sec, nbytes = m.predict_performance()
    a, b = (run_sim(str(tmp_path / "r50"), sim, 1, 1.0, 1.0) for sim in ("model", "verilator"))
    assert a["bit_exact"] and b["bit_exact"] and a["cycles_total"] == b["cycles_total"]
    assert sum(a["macs_per_bundle"]) == a["macs"] > 0
    # the engine-only prediction is a lower bound of the whole system's cycles
    assert sec * hw.frequency_mhz * 1e6 <= a["cycles_total"] and nbytes > 0

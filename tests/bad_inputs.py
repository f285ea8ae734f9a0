"""The table of bad inputs (issue 15): every row is something a user can get wrong, what they
do, and the start of the named error they must get. tests/test_bad_inputs.py runs every row;
`python tests/bad_inputs.py --write-doc` writes docs/reliability.md from the same rows with the
messages as they are now (so the document cannot drift from the code).

A row: (id, what the user does, action(tmp_path) -> raises or returns a CLI exit status, regex
the message must match). CLI rows return `("cli", argv)`: the command must exit with status 2
and print exactly one line, starting `dsf: error:`, on stderr.
"""
from __future__ import annotations

import json
import os
import shutil

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def _hw(**kw):
    from zoo import small_hw
    return small_hw(**kw)


def _conv(**over):
    from zoo import q
    Q = q(_hw())
    c = {"type": "conv", "filters": 4, "kernel_size": (3, 3), "strides": (1, 1),
         "padding": "same", "kernel_quantizer": Q["kq"], "bias_quantizer": Q["bq"],
         "use_bias": True, "act_str": Q["relu"]}
    c.update(over)
    return c


def _dense_core(units=8, act=None):
    from zoo import _dense, q
    return _dense(units, act or q(_hw())["sbits"], _hw())


def _attn(heads=2, kv=None, av_bad=False, no_b=False, add=False, wide_k=False, seq=6, fn=None,
          export=None):
    """Q·Kᵀ (+ softmax) [and A·V] on tokens [1, seq, 8] with one thing wrong."""
    from dsf_sim import Bundle, QInput, QModel
    from zoo import _dense, q
    hw = _hw()
    Q = q(hw)
    x = x_in = QInput((seq, 8), batch_size=1, hw=hw)
    a = Bundle(core=_dense(8, Q["sbits"], hw))(x)
    k_act = "quantized_bits(8,0,False,True,1)" if wide_k else Q["sbits"]
    b = Bundle(core=_dense(kv or 8, k_act, hw))(x)
    mm = {"type": "matmul", "heads": heads, "transpose_b": True, "act_str": Q["sbits1"]}
    extra = {"add": {"act_str": _relu()}} if add else {}
    s = Bundle(core=mm, fn=fn or {"type": "softmax", "act_str": Q["ubits"]}, **extra)
    s = s(a) if no_b else s(a, b)
    if av_bad:
        s = Bundle(core={"type": "matmul", "heads": 2, "act_str": Q["sbits"]})(a, b)
    m = QModel(inputs=x_in.raw, outputs=s)
    if export is not None:
        m.export_inference(hw=hw, out_dir=str(export))
    return m


def _model(core=None, shape=(8, 8, 3), xn=1, **bundle):
    from dsf_sim import Bundle, QInput, QModel
    x = x_in = QInput(shape, batch_size=xn, hw=_hw())
    x = Bundle(core=core or _conv(), **bundle)(x)
    return QModel(inputs=x_in.raw, outputs=x)


def _relu():
    from zoo import q
    return q(_hw())["relu"]


def _exported(tmp, softmax=False):
    """A small exported model (conv, flatten, dense with optional softmax) in tmp/exp."""
    from dsf_sim import Bundle, QInput, QModel
    from zoo import q
    hw = _hw(data_dir=str(tmp / "exp"))
    Q = q(hw)
    x = x_in = QInput((6, 6, 3), batch_size=1, hw=hw)
    x = Bundle(core=_conv(), flatten=True)(x)
    x = Bundle(core={"type": "dense", "units": 5, "kernel_quantizer": Q["kq"],
                     "bias_quantizer": Q["bq"], "act_str": Q["sbits"]}, softmax=softmax)(x)
    m = QModel(inputs=x_in.raw, outputs=x)
    d = str(tmp / "exp")
    m.export_inference(x=m.random_input, hw=hw, out_dir=d)
    return m, hw, d


def _verify_after(edit, softmax=False):
    def run(tmp):
        m, hw, d = _exported(tmp, softmax)
        edit(d)
        m.verify_inference(SIM="model", hw=hw, out_dir=d)
    return run


def _truncate(name, n=100):
    def edit(d):
        with open(os.path.join(d, name), "r+b") as f:
            f.truncate(n)
    return edit


def _flip_byte(name):
    def edit(d):
        p = os.path.join(d, name)
        b = bytearray(open(p, "rb").read())
        b[len(b) // 2] ^= 0xFF
        open(p, "wb").write(bytes(b))
    return edit


def _foreign_input(tmp):
    """input.bin of another model's export copied in, the manifest's digest made to match (a
    hand-assembled folder): the file's header names the other export."""
    from dsf_sim.compiler.export import _digest
    (tmp / "o").mkdir()
    _, _, other = _exported(tmp / "o", softmax=True)

    def edit(d):
        shutil.copy(os.path.join(other, "input.bin"), os.path.join(d, "input.bin"))
        mp = os.path.join(d, "manifest.json")
        mf = json.load(open(mp))
        mf["file_digests"]["input.bin"] = _digest(os.path.join(d, "input.bin"))
        json.dump(mf, open(mp, "w"))
    _verify_after(edit)(tmp)


def _board_foreign_input(tmp):
    """Accelerator.run(input_bin=...) with the bytes of another export's input.bin."""
    from dsf_sim.models.twin_hal import TwinHal
    from dsf_sim.runtime.board_driver import Accelerator
    (tmp / "o").mkdir()
    _, _, other = _exported(tmp / "o", softmax=True)
    _, hw, d = _exported(tmp)
    Accelerator(d, TwinHal(hw)).run(open(os.path.join(other, "input.bin"), "rb").read())


def _hw_json(tmp, text):
    p = tmp / "hw.json"
    p.write_text(text)
    return str(p)


def _add_mismatch(tmp):
    from dsf_sim import Bundle, QInput, QModel
    x = QInput((8, 8, 3), batch_size=1, hw=_hw())
    y = Bundle(core=_conv(filters=5), add={"act_str": _relu()})(x, Bundle(core=_conv())(x))
    QModel(inputs=x.raw, outputs=y)


def _two_outputs(tmp):
    from dsf_sim import Bundle, QInput, QModel
    x = x_in = QInput((8, 8, 3), batch_size=1, hw=_hw())
    a = Bundle(core=_conv())(x)
    QModel(inputs=x_in.raw, outputs=[a, Bundle(core=_conv())(a)])


def _softmax_not_last(tmp):
    from dsf_sim import Bundle, QInput, QModel
    x = x_in = QInput((8, 8, 3), batch_size=1, hw=_hw())
    x = Bundle(core=_conv(), softmax=True)(x)
    QModel(inputs=x_in.raw, outputs=Bundle(core=_conv())(x))


def _dense_on_image(tmp):
    from zoo import q
    Q = q(_hw())
    _model({"type": "dense", "units": 3, "kernel_quantizer": Q["kq"], "bias_quantizer": Q["bq"],
            "act_str": Q["relu"]})


def _no_skip(tmp):
    from dsf_sim import Bundle, QInput
    x = QInput((8, 8, 3), batch_size=1, hw=_hw())
    Bundle(core=_conv(), add={"act_str": _relu()})(x)


def _export_x(shape):
    def run(tmp):
        m = _model()
        m.export_inference(x=np.zeros(shape, np.float32), hw=_hw(), out_dir=str(tmp / "e"))
    return run


def _verify_other_hw(tmp):
    m, hw, d = _exported(tmp)
    m.verify_inference(SIM="model", hw=_hw(rows=3, kmax=5), out_dir=d)


def _verify_other_model(tmp):
    m, hw, d = _exported(tmp)
    _model(_conv(filters=6)).verify_inference(SIM="model", hw=hw, out_dir=d)


def _manifest(edit):
    def run(tmp):
        from dsf_sim.compiler.export import load_export
        m, hw, d = _exported(tmp)
        edit(os.path.join(d, "manifest.json"))
        load_export(d)
    return run


def _sim(**kw):
    def run(tmp):
        m, hw, d = _exported(tmp)
        m.verify_inference(hw=hw, out_dir=d, **{"SIM": "model", **kw})
    return run


def _H(**kw):
    def run(tmp):
        from dsf_sim import Hardware
        Hardware(**kw)
    return run


def _from_json(text_or_path):
    def run(tmp):
        from dsf_sim import Hardware
        arg = text_or_path(tmp) if callable(text_or_path) else text_or_path
        Hardware.from_json(arg)
    return run


def _bundle(**kw):
    return lambda tmp: _model(**kw)


def _core(**over):
    return lambda tmp: _model(_conv(**over))


def _pool(**p):
    return lambda tmp: _model(pool={"type": "max", "act_str": _relu(), **p})


def _cli(*argv):
    return lambda tmp: ("cli", [a(tmp) if callable(a) else a for a in argv])


def _a_file(tmp):
    p = tmp / "a_file"
    p.write_text("x")
    return str(p)


ROWS = [
    # ---------------------------------------------------------------- Hardware(...)
    ("hw-unknown-arg", "Hardware(bits_inptu=4)", _H(bits_inptu=4),
     r"Hardware argument 'bits_inptu' = 4 is invalid: allowed one of .*did you mean 'bits_input'"),
    ("hw-float-bits", "Hardware(bits_input=4.0)", _H(bits_input=4.0),
     r"bits_input = 4.0 is invalid: allowed an int"),
    ("hw-bits-3", "Hardware(bits_input=3)", _H(bits_input=3),
     r"bits_input = 3 is invalid: allowed one of 1, 2, 4, 8, 16"),
    ("hw-bits-32", "Hardware(bits_weights=32)", _H(bits_weights=32),
     r"bits_weights = 32 is invalid: allowed one of 1, 2, 4, 8, 16"),
    ("hw-bool-bits", "Hardware(bits_sum=True)", _H(bits_sum=True),
     r"bits_sum = True is invalid: allowed an int"),
    ("hw-sum-wide", "Hardware(bits_sum=49)", _H(bits_sum=49),
     r"bits_sum = 49 is invalid: allowed 9\.\.48"),
    ("hw-sum-product", "Hardware(bits_weights=16, bits_sum=20)", _H(bits_weights=16, bits_sum=20),
     r"bits_sum = 20 is invalid: allowed 21\.\.48 \(must hold one product of 5-bit x 16-bit\)"),
    ("hw-bias-12", "Hardware(bits_bias=12)", _H(bits_bias=12),
     r"bits_bias = 12 is invalid: allowed one of 8, 16, 32"),
    ("hw-pe-float", "Hardware(processing_elements=(4.7, 8.9))",
     _H(processing_elements=(4.7, 8.9)), r"processing_elements\[0\] \(ROWS\) = 4.7 is invalid"),
    ("hw-pe-zero", "Hardware(processing_elements=(0, 8))", _H(processing_elements=(0, 8)),
     r"processing_elements\[0\] \(ROWS\) = 0 is invalid: allowed 1\.\.256"),
    ("hw-pe-three", "Hardware(processing_elements=(4, 8, 2))", _H(processing_elements=(4, 8, 2)),
     r"processing_elements = \(4, 8, 2\) is invalid: allowed a pair \(ROWS, COLS\)"),
    ("hw-cols-zero", "Hardware(processing_elements=(4, 0))", _H(processing_elements=(4, 0)),
     r"processing_elements\[1\] \(COLS\) = 0 is invalid"),
    ("hw-kernel-even", "Hardware(max_kernel_size=4)", _H(max_kernel_size=4),
     r"max_kernel_size \(KH\) = 4 is invalid: allowed an odd integer in 1\.\.63"),
    ("hw-kernel-float", "Hardware(max_kernel_size=5.9)", _H(max_kernel_size=5.9),
     r"max_kernel_size = 5.9 is invalid: allowed an int or a pair of ints"),
    ("hw-kernel-rows", "Hardware(processing_elements=(2, 8), max_kernel_size=7)",
     _H(processing_elements=(2, 8), max_kernel_size=7),
     r"max_kernel_size \(KH\) = 7 is invalid: allowed KH//2 <= ROWS = 2"),
    ("hw-image-zero", "Hardware(max_image_size=0)", _H(max_image_size=0),
     r"max_image_size \(H\) = 0 is invalid: allowed 1\.\.65536"),
    ("hw-ram-shallow", "Hardware(ram_weights_depth=5)", _H(ram_weights_depth=5),
     r"ram_weights_depth = 5 is invalid: allowed >= KH_MAX = 13"),
    ("hw-axi-48", "Hardware(axi_width=48)", _H(axi_width=48),
     r"axi_width = 48 is invalid: allowed one of 32, 64"),
    ("hw-axi-header", "Hardware(axi_width=32)", _H(axi_width=32),
     r"axi_width = 32 is invalid: allowed >= \d+ bits needed by the header beat"),
    ("hw-cpu-16", "Hardware(target_cpu_int_bits=16)", _H(target_cpu_int_bits=16),
     r"target_cpu_int_bits = 16 is invalid: allowed 32 or 64"),
    ("hw-prob-zero", "Hardware(valid_prob=0)", _H(valid_prob=0),
     r"valid_prob = 0 is invalid: allowed 0 < p <= 1"),
    ("hw-prob-bool", "Hardware(ready_prob=True)", _H(ready_prob=True),
     r"ready_prob = True is invalid: allowed 0 < p <= 1"),
    ("hw-freq", "Hardware(frequency_mhz=-1)", _H(frequency_mhz=-1),
     r"frequency_mhz = -1 is invalid: allowed 0 < f <= 5000"),
    ("hw-batch-bool", "Hardware(max_batch_size=True)", _H(max_batch_size=True),
     r"max_batch_size = True is invalid: allowed an integer in 1\.\.65536"),
    ("hw-reset-str", "Hardware(async_resetn='yes')", _H(async_resetn="yes"),
     r"async_resetn = 'yes' is invalid: allowed True or False"),
    ("hw-data-dir", "Hardware(data_dir='')", _H(data_dir=""),
     r"data_dir = '' is invalid: allowed a non-empty path string"),
    ("hw-baseaddr", "Hardware(config_baseaddr='xyz')", _H(config_baseaddr="xyz"),
     r"config_baseaddr = 'xyz' is invalid: allowed a hexadecimal address"),
    ("hw-twice", "Hardware((4, 8), processing_elements=(4, 8))",
     lambda tmp: __import__("dsf_sim").Hardware((4, 8), processing_elements=(4, 8)),
     r"processing_elements = \(4, 8\) is invalid: allowed given once"),
    ("json-unknown-key", "Hardware.from_json('{\"bits_inptu\": 4}')",
     _from_json('{"bits_inptu": 4}'),
     r"hardware json keys = \['bits_inptu'\] is invalid: .*did you mean 'bits_input'"),
    ("json-broken", "Hardware.from_json(a file holding '{\"bits_input\": 4')",
     _from_json(lambda tmp: _hw_json(tmp, '{"bits_input": 4')),
     r"hardware json = .* is invalid: allowed valid JSON"),
    ("json-missing", "Hardware.from_json('nope.json')", _from_json("nope.json"),
     r"hardware json = 'nope.json' is invalid: allowed an existing hardware.json path"),
    ("json-list", "Hardware.from_json('[4, 8]')", _from_json("[4, 8]"),
     r"hardware json = .* is invalid"),
    # ---------------------------------------------------------------- Bundle / QModel
    ("core-typo", "core={..., 'kernel_sise': (5, 5)}", _core(kernel_sise=(5, 5)),
     r"core key 'kernel_sise' = \(5, 5\) is invalid: allowed one of .*did you mean 'kernel_size'"),
    ("core-stride", "core={..., 'stride': (2, 2)}", _core(stride=(2, 2)),
     r"core key 'stride' = \(2, 2\) is invalid: .*did you mean 'strides'"),
    ("core-dilation", "core={..., 'dilation_rate': 2}", _core(dilation_rate=2),
     r"core key 'dilation_rate' = 2 is invalid: allowed one of"),
    ("pool-keras-name", "pool={'type': 'max', 'pool_size': (3, 3), ...}", _pool(pool_size=(3, 3)),
     r"pool key 'pool_size' = \(3, 3\) is invalid: .*did you mean 'size'"),
    ("add-key", "add={'act_str': ..., 'activation': 'relu'}",
     lambda tmp: _model(add={"act_str": _relu(), "activation": "relu"}),
     r"add key 'activation' = 'relu' is invalid: allowed one of \['act_str'\]"),
    ("use-bias-str", "core={..., 'use_bias': 'False'}", _core(use_bias="False"),
     r"core\['use_bias'\] = 'False' is invalid: allowed True or False"),
    ("filters-float", "core={..., 'filters': 4.0}", _core(filters=4.0),
     r"filters = 4.0 is invalid: allowed a positive int"),
    ("filters-bool", "core={..., 'filters': True}", _core(filters=True),
     r"filters = True is invalid: allowed a positive int"),
    ("kernel-bool", "core={..., 'kernel_size': True}", _core(kernel_size=True),
     r"kernel_size = True is invalid: allowed an int or a pair of ints"),
    ("kernel-3d", "core={..., 'kernel_size': (3, 3, 3)}", _core(kernel_size=(3, 3, 3)),
     r"kernel_size = \(3, 3, 3\) is invalid: allowed an int or a pair of ints"),
    ("strides-zero", "core={..., 'strides': (0, 1)}", _core(strides=(0, 1)),
     r"strides = \(0, 1\) is invalid: allowed >= 1"),
    ("core-type", "core={'type': 'lstm', ...}", _core(type="lstm"),
     r"core\['type'\] = 'lstm' is invalid: allowed 'conv', 'dense' or 'matmul'"),
    ("padding-causal", "core={..., 'padding': 'causal'}", _core(padding="causal"),
     r"padding = 'causal' is invalid: allowed 'same' or 'valid'"),
    ("kq-unsigned", "kernel_quantizer='quantized_bits(4,0,False,False,1)'",
     _core(kernel_quantizer="quantized_bits(4,0,False,False,1)"),
     r"kernel_quantizer = .* is invalid: allowed a signed quantizer"),
    ("act-slope", "act_str='quantized_relu(4,0,negative_slope=0.3)'",
     _core(act_str="quantized_relu(4,0,negative_slope=0.3)"), r"negative_slope"),
    ("act-alpha", "act_str='quantized_bits(4,0,True,True,\"auto\")'",
     _core(act_str="quantized_bits(4,0,True,True,'auto')"), r"alpha"),
    ("act-unknown", "act_str='not_a_quantizer(3)'", _core(act_str="not_a_quantizer(3)"),
     r"quantizer"),
    ("bundle-arg", "Bundle(core=..., flaten=True)", _bundle(flaten=True),
     r"argument 'flaten' = True is invalid: .*did you mean 'flatten'"),
    ("flatten-int", "Bundle(core=..., flatten=1)", _bundle(flatten=1),
     r"flatten = 1 is invalid: allowed True or False"),
    ("softmax-frac-alone", "Bundle(core=..., softmax_frac=12) without softmax=True",
     _bundle(softmax_frac=12), r"softmax_frac = 12 is invalid: allowed None unless softmax=True"),
    ("softmax-frac-range", "Bundle(core=..., softmax=True, softmax_frac=40)",
     _bundle(softmax=True, softmax_frac=40),
     r"softmax_frac = 40 is invalid: allowed None or an int in 1..30"),
    ("pool-type", "pool={'type': 'sum', ...}", _pool(type="sum"),
     r"pool\['type'\] = 'sum' is invalid: allowed 'max' or 'avg'"),
    ("pool-too-big", "a 9x9 'valid' pool on an 8x8 image", _pool(size=(9, 9), padding="valid"),
     r"pool size \(H\) = 9 is invalid: allowed <= the core output's H = 8 with padding='valid'"),
    ("kernel-too-big", "a 5x5 'valid' conv on a 3x3 image",
     lambda tmp: _model(_conv(kernel_size=(5, 5), padding="valid"), shape=(3, 3, 3)),
     r"kernel_size \(H\) = 5 is invalid: allowed <= the input's H = 3 with padding='valid'"),
    ("add-shape", "adding a 4-channel skip to a 5-channel core output", _add_mismatch,
     r"skip shape = \(1, 8, 8, 4\) is invalid: allowed \(1, 8, 8, 5\)"),
    ("add-no-skip", "Bundle(add=...)(x) without the skip", _no_skip,
     r"skip input = None is invalid: allowed a tensor"),
    ("dense-rank", "a dense core on an image without flatten", _dense_on_image,
     r"dense input rank = 4 is invalid: allowed 2 or 3 \(flatten the previous bundle, or "
     r"tokens \[N, S, D\]\)"),
    ("two-outputs", "QModel(outputs=[a, b])", _two_outputs,
     r"inputs, outputs = \(1, 2\) is invalid: allowed one input and one output"),
    ("softmax-middle", "softmax=True on a bundle that is not the last", _softmax_not_last,
     r"softmax = True is invalid: allowed only on the last bundle"),
    ("qinput-batch", "QInput(..., batch_size=0)",
     lambda tmp: __import__("dsf_sim").QInput((8, 8, 3), batch_size=0, hw=_hw()),
     r"batch_size = 0 is invalid: allowed 1\.\.8"),
    ("qinput-shape", "QInput(shape=(8, 8, 3, 2))",
     lambda tmp: __import__("dsf_sim").QInput((8, 8, 3, 2), batch_size=1, hw=_hw()),
     r"shape = \(8, 8, 3, 2\) is invalid: allowed \(H, W, C\), \(tokens, features\) or "
     r"\(features,\)"),
    # ---------------------------------------------------------------- transformers (§22)
    ("mm-head-size", "Q·Kᵀ with 3 heads on 8 channels", lambda tmp: _attn(heads=3),
     r"head size \(a·bᵀ\) = \(8, 8, 3\) is invalid: allowed a and b with the same channels, "
     r"a multiple of heads = 3"),
    ("mm-channels", "Q·Kᵀ with b of other channels", lambda tmp: _attn(kv=4),
     r"head size \(a·bᵀ\) = \(8, 4, 2\) is invalid"),
    ("mm-av-channels", "A·V where a's channels are not heads·T", lambda tmp: _attn(av_bad=True),
     r"a channels \(a·b\) = 8 is invalid: allowed heads·T = 2·6 = 12"),
    ("mm-operand-missing", "Bundle(core=matmul)(a) without b", lambda tmp: _attn(no_b=True),
     r"operand b = None is invalid: allowed the operand b"),
    ("mm-add", "a matmul core with add=", lambda tmp: _attn(add=True),
     r"add = .* is invalid: allowed None for a matmul core"),
    ("mm-operand-bits", "a matmul operand wider than bits_weights",
     lambda tmp: _attn(wide_k=True, export=tmp),
     r"matmul operand b's quantizer .* range = \(-128, 127\) is invalid: allowed -8..7 for "
     r"bits_weights=4"),
    ("seq-too-long", "a sequence longer than the engine's rows (XL_MAX·ROWS)",
     lambda tmp: _attn(seq=300, export=tmp),
     r"tokens x batch \(rows\) = 300 is invalid: allowed <= 64 \(XL_MAX\*ROWS\)"),
    ("fn-type", "fn={'type': 'tanh', ...}", lambda tmp: _attn(fn={"type": "tanh"}),
     r"fn\['type'\] = 'tanh' is invalid: allowed one of \['softmax', 'gelu', 'layernorm'\]"),
    ("fn-norm", "fn={'type': 'batchnorm'} (an unsupported normalisation)",
     lambda tmp: _attn(fn={"type": "batchnorm", "act_str": _relu()}),
     r"fn\['type'\] = 'batchnorm' is invalid"),
    ("fn-key", "fn={..., 'epsilon': 1e-3}",
     lambda tmp: _attn(fn={"type": "layernorm", "act_str": _relu(), "epsilon": 1e-3}),
     r"fn key 'epsilon' = 0.001 is invalid: allowed one of"),
    ("fn-gelu-frac", "fn={'type': 'gelu', 'frac': 12}",
     lambda tmp: _attn(fn={"type": "gelu", "act_str": _relu(), "frac": 12}),
     r"fn\['frac'\] = 12 is invalid: allowed not given for gelu"),
    ("fn-frac", "fn={'type': 'softmax', 'frac': 40}",
     lambda tmp: _attn(fn={"type": "softmax", "act_str": _relu(), "frac": 40}),
     r"fn\['frac'\] = 40 is invalid: allowed an int in 1..30"),
    ("fn-groups", "a softmax of 5 groups over 12 scores",
     lambda tmp: _attn(fn={"type": "softmax", "act_str": _relu(), "groups": 5}),
     r"fn\['groups'\] = 5 is invalid: allowed a divisor of the last axis 12"),
    ("fn-pool", "fn= together with pool=", lambda tmp: _model(
        fn={"type": "gelu", "act_str": _relu()},
        pool={"type": "max", "size": 2, "act_str": _relu()}),
     r"pool = .* is invalid: allowed None with fn="),
    ("tokens-dense", "tokens=True on a dense core", lambda tmp: _model(
        core=_dense_core(), shape=(12,), tokens=True),
     r"tokens = True is invalid: allowed only on a conv core without flatten"),
    # ---------------------------------------------------------------- export / verify
    ("export-x-size", "export_inference(x=) of another image size", _export_x((1, 10, 10, 3)),
     r"x shape = \(1, 10, 10, 3\) is invalid: allowed \(1, 8, 8, 3\), the model's input shape"),
    ("export-x-batch", "export_inference(x=) of another batch", _export_x((2, 8, 8, 3)),
     r"x shape = \(2, 8, 8, 3\) is invalid: allowed \(1, 8, 8, 3\)"),
    ("export-no-hw", "export_inference(hw=None)",
     lambda tmp: _model().export_inference(x=None, hw=None),
     r"export_inference: hw = None is invalid: allowed a dsf_sim.Hardware"),
    ("export-post", "export_inference(post='yes')",
     lambda tmp: _model().export_inference(hw=_hw(), out_dir=str(tmp / "p"), post="yes"),
     r"post = 'yes' is invalid: allowed one of"),
    ("export-split", "export_inference(split='half')",
     lambda tmp: _model().export_inference(hw=_hw(), out_dir=str(tmp / "s"), split="half"),
     r"split = 'half' is invalid: allowed one of \['auto', 'single', 'parts', 'taps'\]"),
    ("verify-other-hw", "verify_inference(hw=other) on an existing out_dir", _verify_other_hw,
     r"out_dir = .* is invalid: allowed an export made for this hardware \(it differs in "),
    ("verify-other-model", "verify_inference of model B on model A's out_dir",
     _verify_other_model, r"out_dir = .* is invalid: allowed an export of this model"),
    ("deleted-softmax", "expected_softmax.bin deleted, then verify",
     _verify_after(lambda d: os.remove(os.path.join(d, "expected_softmax.bin")), softmax=True),
     r"expected_softmax.bin is missing: the export's manifest lists it"),
    ("truncated-weights", "weights.bin truncated, then verify", _verify_after(_truncate("weights.bin")),
     r"weights.bin = 100 bytes is invalid: allowed \d+ bytes as exported \(truncated\)"),
    ("truncated-expected", "expected.bin truncated, then verify",
     _verify_after(_truncate("expected.bin", 3)),
     r"expected.bin = 3 bytes is invalid: allowed \d+ bytes as exported \(truncated\)"),
    ("edited-input", "one byte of input.bin changed, then verify",
     _verify_after(_flip_byte("input.bin")),
     r"input.bin is invalid: allowed the file as exported \(same size, different content"),
    ("foreign-input", "input.bin of another model copied in (digest refreshed), then verify",
     _foreign_input, r"input.bin config hash = 0x[0-9a-f]{16} is invalid: allowed 0x[0-9a-f]{16} "
                     r"\(this export's model and hardware; the file belongs to another export\)"),
    ("board-foreign-input", "Accelerator.run(input_bin=another export's input.bin)",
     _board_foreign_input, r"input data config hash = 0x[0-9a-f]{16} is invalid"),
    ("manifest-json", "manifest.json not JSON", _manifest(lambda p: open(p, "w").write("{oops")),
     r"manifest.json is invalid: allowed the JSON written by export_inference"),
    ("manifest-missing", "manifest.json deleted", _manifest(os.remove),
     r"export folder = .* is invalid: allowed a folder written by export_inference"),
    ("manifest-keys", "manifest.json without 'bundles'",
     _manifest(lambda p: open(p, "w").write(json.dumps({"hardware": {}}))),
     r"manifest.json is invalid: allowed a manifest with 'hardware' and 'bundles'"),
    ("manifest-format", "manifest.json of an export written before pixel slots",
     _manifest(lambda p: json.dump({k: v for k, v in json.load(open(p)).items()
                                    if k != "stream_format"}, open(p + ".new", "w"))
               or os.replace(p + ".new", p)),
     r"manifest.json: stream_format = None \(missing: written before pixel slots\) is invalid: "
     r"allowed 2"),
    ("verify-sim", "verify_inference(SIM='iverilog')", _sim(SIM="iverilog"),
     r"SIM = 'iverilog' is invalid: allowed one of"),
    ("verify-twin", "verify_inference(twin='turbo')", _sim(twin="turbo"),
     r"twin = 'turbo' is invalid: allowed one of"),
    ("verify-prob", "verify_inference(valid_prob=0)", _sim(valid_prob=0),
     r"valid_prob = 0 is invalid: allowed 0 < p <= 1"),
    # ---------------------------------------------------------------- dsf CLI
    ("cli-bw-zero", "dsf profile resnet50 --bw 0", _cli("profile", "resnet50", "--bw", "0"),
     r"argument --bw: 0.0 is invalid: allowed a finite number > 0"),
    ("cli-bw-text", "dsf profile resnet50 --bw abc", _cli("profile", "resnet50", "--bw", "abc"),
     r"argument --bw: 'abc' is not a number"),
    ("cli-input-size", "dsf bench resnet50 --input-size 0",
     _cli("bench", "resnet50", "--input-size", "0"),
     r"argument --input-size: 0 is invalid: allowed an integer >= 1"),
    ("cli-seed", "dsf verify m.py --seed -1", _cli("verify", "m.py", "--seed", "-1"),
     r"argument --seed: -1 is invalid: allowed an integer >= 0"),
    ("cli-window", "dsf lockstep m.py --window 0", _cli("lockstep", "m.py", "--window", "0"),
     r"argument --window: 0 is invalid: allowed an integer >= 1"),
    ("lockstep-window", "lockstep(hw, jobs, window=0) from Python",
     lambda tmp: __import__("dsf_sim.rtl_bridge.lockstep", fromlist=["x"]).lockstep(
         _hw(), [], window=0),
     r"lockstep: window = 0 is invalid: allowed an int >= 1"),
    ("system-tb-copt", "build_system_tb(export, copt='-O9')",
     lambda tmp: __import__("dsf_sim.rtl_bridge.system_tb", fromlist=["x"]).build_system_tb(
         str(tmp), copt="-O9"),
     r"system testbench: copt = '-O9' is invalid: allowed one of -O0, -O1, -O2, -O3, -Os"),
    ("cli-prob", "dsf verify m.py --valid-prob 2", _cli("verify", "m.py", "--valid-prob", "2"),
     r"argument --valid-prob: 2.0 is invalid: allowed 0 < p <= 1"),
    ("cli-hw-dir", "dsf bench resnet50 --hw DIR", _cli("bench", "resnet50", "--hw", HERE),
     r"hardware json = .* is invalid: allowed a hardware.json file \(this is a folder\)"),
    ("cli-out-file", "dsf bench alexnet --out FILE", _cli("bench", "alexnet", "--out", _a_file),
     r"argument --out: .* is a file: allowed a folder"),
    ("cli-hw-key", "dsf bench resnet50 --hw HW.json with an unknown key",
     _cli("bench", "resnet50", "--hw", lambda tmp: _hw_json(tmp, '{"bits_inptu": 4}')),
     r"hardware json keys = \['bits_inptu'\]"),
    ("cli-network", "dsf bench nonet", _cli("bench", "nonet"),
     r"network = 'nonet' is invalid: allowed one of"),
    ("cli-model-file", "dsf verify nothere.py", _cli("verify", "nothere.py"),
     r"model file = 'nothere.py' is invalid: allowed an existing .py file"),
    ("cli-command", "dsf frob", _cli("frob"), r"argument cmd: invalid choice: 'frob'"),
    ("cli-missing-arg", "dsf bench", _cli("bench"),
     r"the following arguments are required: network"),
]


def run_row(row, tmp_path, capsys=None):
    """-> the message the row's action produced (raises AssertionError if it produced none)."""
    from dsf_sim.errors import DsfError
    _, _, action, _ = row
    try:
        got = action(tmp_path)
    except DsfError as e:
        return str(e)
    if isinstance(got, tuple) and got and got[0] == "cli":
        from dsf_sim.cli import main
        try:
            rc = main(got[1])
        except SystemExit as e:
            rc = e.code
        assert rc == 2, f"exit status {rc}"
        if capsys is not None:
            err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
            assert len(err) == 1 and err[0].startswith("dsf: error: "), err
            return err[0]
        return ""
    raise AssertionError(f"no error: returned {got!r}")


def write_doc(path):
    """docs/reliability.md from ROWS with the messages as the code gives them now."""
    import contextlib
    import io
    import tempfile
    from pathlib import Path
    lines = []
    for row in ROWS:
        tmp = Path(tempfile.mkdtemp(prefix="dsf_bad_"))
        buf = io.StringIO()
        with contextlib.redirect_stderr(buf), contextlib.redirect_stdout(io.StringIO()):
            msg = run_row(row, tmp)
        if not msg:
            msg = [x for x in buf.getvalue().splitlines() if x.startswith("dsf: error:")][-1]
        shutil.rmtree(tmp, ignore_errors=True)
        msg = msg.replace(str(tmp), "TMP").replace(HERE, "tests").replace("|", "\\|")
        lines.append(f"| `{row[0]}` | {row[1].replace('|', chr(92) + '|')} | `{msg}` |")
    text = open(path).read()
    start, end = "<!-- table: tests/bad_inputs.py -->", "<!-- end of table -->"
    head, rest = text.split(start)
    _, tail = rest.split(end)
    table = "\n".join(["| id | what the user does | what they get |", "|---|---|---|"] + lines)
    with open(path, "w") as f:
        f.write(f"{head}{start}\n{table}\n{end}{tail}")


if __name__ == "__main__":
    import sys
    sys.path.insert(0, HERE)
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    if "--write-doc" in sys.argv:
        write_doc(os.path.join(os.path.dirname(HERE), "docs", "reliability.md"))

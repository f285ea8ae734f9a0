"""The CGRA4ML (DeepSoCFlow's successor) Keras-subclass API on dsf_sim's one representation.

`XBundle` is a `Bundle` whose core / pool / activations are given as `XConvBN`, `XDense`, `XPool`,
`XActivation` objects built from `SYS_BITS`; a user model subclasses `XModel`, applies
`self.input_quant_layer` first in `call`, is wrapped by `keras.Model(inputs, outputs)`, trained,
saved to .h5 and reloaded with `qkeras.utils.load_qmodel`. `export_inference(model, hw)` turns any
such functional model (also a reloaded one) into a `QModel` over the same layers, with a fixed
batch, and exports it like every other model (../shared/reference/api_compat.md §B).
"""
from __future__ import annotations

import math

from ..errors import ModelError
from ..frontend.bundle import Bundle
from ..frontend.tf_setup import keras


class SYS_BITS:  # noqa: N801  (CGRA4ML's name)
    """Activation (x), weight (k) and bias (b) bit widths."""

    def __init__(self, x=4, k=4, b=16):
        for n, v in (("x", x), ("k", k), ("b", b)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ModelError("SYS_BITS", n, v, "a positive int")
        self.x, self.k, self.b = x, k, b

    def __repr__(self):
        return f"SYS_BITS(x={self.x}, k={self.k}, b={self.b})"


class XActivation:
    """type=None: quantized_bits(x, o_int_bits, False, 1, 1); type='relu':
    quantized_relu(x - 1 if slope == 0 else x, o_int_bits, negative_slope=slope)."""

    def __init__(self, sys_bits, o_int_bits=0, type=None, slope=1):  # noqa: A002
        if not isinstance(sys_bits, SYS_BITS):
            raise ModelError("XActivation", "sys_bits", sys_bits, "a SYS_BITS")
        self.sys_bits, self.o_int_bits, self.type, self.slope = sys_bits, o_int_bits, type, slope
        x = sys_bits.x
        if type is None:
            self.text = f"quantized_bits({x},{o_int_bits},False,True,1)"
        elif type == "relu":
            k = -math.log2(slope) if slope > 0 else 0
            if slope != 0 and not (0 < slope < 1 and k == int(k)):
                raise ModelError("XActivation", "slope", slope, "0 or 2^-k, k >= 1")
            bits = x - 1 if slope == 0 else x
            self.text = (f"quantized_relu({bits},{o_int_bits},negative_slope={slope})" if slope
                         else f"quantized_relu({bits},{o_int_bits},negative_slope=0)")
        else:
            raise ModelError("XActivation", "type", type, "None or 'relu'")


def _act(act, where):
    if not isinstance(act, XActivation):
        raise ModelError(where, "act", act, "an XActivation")
    return act


class XConvBN:
    """A conv with batch norm folded into kernel and bias at export (QConv2DBatchnorm)."""

    def __init__(self, k_int_bits, b_int_bits, act, filters, kernel_size, strides=1,
                 padding="same", **kwargs):
        act = _act(act, "XConvBN")
        sb = act.sys_bits
        if kwargs:
            raise ModelError("XConvBN", "arguments", sorted(kwargs), "k_int_bits, b_int_bits, "
                             "act, filters, kernel_size, strides, padding")
        self.cfg = {"type": "conv", "filters": filters, "kernel_size": kernel_size,
                    "strides": strides, "padding": padding, "batchnorm": True,
                    "kernel_quantizer": f"quantized_bits({sb.k},{k_int_bits},False,True,1)",
                    "bias_quantizer": f"quantized_bits({sb.b},{b_int_bits},False,True,1)",
                    "use_bias": True, "act_str": act.text}


class XDense:
    def __init__(self, k_int_bits, b_int_bits, act, units, use_bias=True):
        act = _act(act, "XDense")
        sb = act.sys_bits
        self.cfg = {"type": "dense", "units": units, "use_bias": bool(use_bias),
                    "kernel_quantizer": f"quantized_bits({sb.k},{k_int_bits},False,True,1)",
                    "bias_quantizer": f"quantized_bits({sb.b},{b_int_bits},False,True,1)",
                    "act_str": act.text}


class XPool:
    def __init__(self, type, pool_size, strides=None, padding="valid", act=None):  # noqa: A002
        act = _act(act, "XPool")
        self.cfg = {"type": type, "size": pool_size,
                    "strides": strides if strides is not None else pool_size,
                    "padding": padding, "act_str": act.text}


class XMatMul:
    """The matmul of two activations (architecture §22): `XBundle(core=XMatMul(act, heads,
    transpose_b))(a, b)` -- a·bᵀ per head (Q·Kᵀ) or a·b per head (A·V)."""

    def __init__(self, act, heads=1, transpose_b=False):
        act = _act(act, "XMatMul")
        self.cfg = {"type": "matmul", "heads": heads, "transpose_b": transpose_b,
                    "act_str": act.text}


class XFn:
    """An integer function stage (architecture §21–§22): XFn('softmax' | 'gelu' | 'layernorm',
    act, frac=None, groups=None), then the quantiser `act`."""

    def __init__(self, type, act, frac=None, groups=None):  # noqa: A002
        act = _act(act, "XFn")
        self.cfg = {"type": type, "act_str": act.text}
        if frac is not None:
            self.cfg["frac"] = frac
        if groups is not None:
            self.cfg["groups"] = groups


@keras.saving.register_keras_serializable(package="dsf_sim")
class XBundle(Bundle):
    """XBundle(core, pool=None, add_act=None, flatten=False, softmax=False, fn=None,
    tokens=False); `b(x)`, `b(x, x_skip)` (residual add, then add_act) or, with an XMatMul core,
    `b(a, b)`. Saved as a Bundle configuration, so a reloaded model rebuilds the same layer."""

    def __init__(self, core, pool=None, add_act=None, flatten=False, softmax=False, add=None,
                 fn=None, **kwargs):
        core = core.cfg if isinstance(core, (XConvBN, XDense, XMatMul)) else core
        pool = pool.cfg if isinstance(pool, XPool) else pool
        if fn is not None:
            kwargs["fn"] = fn.cfg if isinstance(fn, XFn) else fn
        if add_act is not None:
            add = {"act_str": _act(add_act, "XBundle add_act").text}
        super().__init__(core=core, add=add, pool=pool, flatten=flatten, softmax=softmax,
                         **kwargs)


class XModel(keras.Model):
    """Base of a user's model: `self.input_quant_layer` quantises the input to
    quantized_bits(x, x_int_bits, False, True, 1); the user's `call` applies it first."""

    def __init__(self, sys_bits, x_int_bits=0, *args, **kwargs):
        import qkeras
        super().__init__(*args, **kwargs)
        if not isinstance(sys_bits, SYS_BITS):
            raise ModelError("XModel", "sys_bits", sys_bits, "a SYS_BITS")
        self.sys_bits, self.x_int_bits = sys_bits, x_int_bits
        text = f"quantized_bits({sys_bits.x},{x_int_bits},False,True,1)"
        self.input_quant_layer = qkeras.QActivation(text, name="input_quant")


def _quantizer_text(layer) -> str:
    """The quantiser string of a QActivation (as built, or as reloaded from a file)."""
    q = getattr(layer, "quantizer", None) or getattr(layer, "activation", None)
    return str(q)


def as_qmodel(model, batch_size=1):
    """A QModel over the same layers as the functional Keras `model` (XModel-built, reloaded
    from .h5, or a QModel), with the input batch fixed to `batch_size`."""
    from ..frontend.quant import parse_quantizer
    from .qmodel import QModel
    import qkeras

    if isinstance(model, QModel):
        return model
    if not isinstance(model, keras.Model) or not getattr(model, "_is_graph_network", False):
        raise ModelError("export_inference", "model", type(model).__name__,
                         "a functional keras.Model (wrap an XModel: keras.Model(x, m.call(x)))")
    if len(model.inputs) != 1:
        raise ModelError("export_inference", "model inputs", len(model.inputs), "1")
    for layer in model.layers:       # the QActivation fed by the Input is the input quantiser
        if isinstance(layer, qkeras.QActivation):
            srcs = [t._keras_history.layer for n in layer._inbound_nodes
                    for t in n.keras_inputs]
            if any(isinstance(s, keras.layers.InputLayer) for s in srcs):
                layer._dsf_is_input_quant = True
                layer._dsf_qtext = _quantizer_text(layer)
                parse_quantizer(layer._dsf_qtext, f"input quantizer {layer.name}")
    shape = tuple(model.inputs[0].shape[1:])
    x = keras.Input(shape=shape, batch_size=int(batch_size), name="input_batch")
    clone = keras.models.clone_model(model, input_tensors=x, clone_function=lambda lyr: lyr)
    return QModel(inputs=x, outputs=clone.outputs)


_LAST = {}


def export_inference(model, hw, batch_size=1, **kwargs):
    """CGRA4ML's module-level export: the model's QModel view, exported into hw.data_dir."""
    q = as_qmodel(model, batch_size)
    model._dsf_qmodel = q
    ex = q.export_inference(x=q.random_input, hw=hw, **kwargs)
    _LAST.update(qmodel=q, hw=hw)
    return ex


def verify_inference(model, hw, SIM="verilator", SIM_PATH="", TRACE=False, **kwargs):  # noqa: N803
    """Run the exported model on SIM, every level checked (TRACE: accepted, no waveform)."""
    q = getattr(model, "_dsf_qmodel", None)
    if q is None or getattr(q, "_dsf_last_hw", None) is not hw:
        export_inference(model, hw)
        q = model._dsf_qmodel
    return q.verify_inference(SIM=SIM, SIM_PATH=SIM_PATH, **kwargs)


def predict_model_performance(hw):
    """Predicted figures of the model last exported for `hw` (dict)."""
    if _LAST.get("hw") is not hw:
        raise ModelError("predict_model_performance", "hw", hw,
                         "the Hardware of the last export_inference(model, hw)")
    q = _LAST["qmodel"]
    sec, nbytes = q.predict_performance(hw)
    return {"seconds": sec, "fps": 1.0 / sec if sec else float("inf"), "bytes": nbytes,
            "cycles": int(round(sec * hw.frequency_mhz * 1e6)), "bundles": len(q.bundles),
            "frequency_mhz": hw.frequency_mhz}

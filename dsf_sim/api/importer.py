"""Import a trained QKeras model (`dsf_sim.from_keras`, `dsf import MODEL.h5|.keras`).

The layers of a functional or Sequential model are read in graph order and grouped into Bundles:
core (QConv2D | QConv2DBatchnorm | QDense) → its quantised activation (the layer's own
`activation=` quantizer or the next QActivation) → [Add with one other finished tensor →
QActivation] → [MaxPooling2D | AveragePooling2D | GlobalAveragePooling2D (→ QActivation)] →
[Flatten] → [Softmax]. The model input must be followed by a QActivation (the input quantiser).
The new QModel gets the same quantiser configurations and weights (batch-norm statistics included),
so its forward pass is the imported model's; any layer that does not fit this grammar gets a
ModelError naming the layer and the reason.
"""
from __future__ import annotations

import os

from ..errors import ModelError
from ..frontend.bundle import Bundle
from ..frontend.tf_setup import keras

CORE = ("QConv2D", "QConv2DBatchnorm", "QDense")
POOLS = ("MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D")
UNQUANTISED = {"Conv2D": "QConv2D (with a kernel_quantizer)", "Dense": "QDense",
               "Conv2DTranspose": None, "DepthwiseConv2D": None, "SeparableConv2D": None,
               "ReLU": "QActivation('quantized_relu(...)')",
               "LeakyReLU": "QActivation('quantized_relu(..., negative_slope=2^-k)')",
               "BatchNormalization": "QConv2DBatchnorm (batch norm folded into a quantised conv)"}


def quantizer_text(q, where) -> str:
    """The full constructor string of a QKeras quantizer object (every configured argument, so
    parse_quantizer sees exactly what the layer applies)."""
    import qkeras
    if q is None:
        raise ModelError(where, "quantizer", None, "a QKeras quantizer")
    if isinstance(q, str):
        q = qkeras.get_quantizer(q)
    if not hasattr(q, "get_config"):
        raise ModelError(where, "quantizer", type(q).__name__, "a QKeras quantizer object")
    cfg = q.get_config()
    args = ", ".join(f"{k}={v!r}" for k, v in cfg.items() if k != "qnoise_factor")
    return f"{type(q).__name__}({args})"


def _act_text(layer):
    """Quantiser string of a QActivation (or None if the layer is something else)."""
    if type(layer).__name__ != "QActivation":
        return None
    return quantizer_text(layer.quantizer, f"layer {layer.name!r}")


class _Graph:
    def __init__(self, model):
        self.model = model
        self.consumers = {}
        for layer in model.layers:
            for node in layer._inbound_nodes:
                for t in node.keras_inputs:
                    src = t._keras_history.layer
                    self.consumers.setdefault(src.name, []).append(layer)
        self.outputs = {t._keras_history.layer.name for t in model.outputs}

    def inputs_of(self, layer):
        node = layer._inbound_nodes[-1]
        return [t._keras_history.layer for t in node.keras_inputs]

    def single_next(self, layer):
        """The one consumer of layer (None if it is a model output or has no consumer)."""
        nxt = self.consumers.get(layer.name, [])
        if layer.name in self.outputs:
            return None
        if len(nxt) > 1:
            return "many"
        return nxt[0] if nxt else None


def _core_cfg(layer, act_text):
    kind = type(layer).__name__
    where = f"layer {layer.name!r} ({kind})"
    cfg = layer.get_config()
    if cfg.get("data_format", "channels_last") != "channels_last":
        raise ModelError(where, "data_format", cfg["data_format"], "'channels_last'")
    if tuple(cfg.get("dilation_rate", (1, 1))) not in ((1, 1), (1,)):
        raise ModelError(where, "dilation_rate", cfg["dilation_rate"], "(1, 1)")
    kq = quantizer_text(layer.kernel_quantizer_internal, where + " kernel_quantizer")
    use_bias = bool(cfg.get("use_bias", True))
    bq = None
    if use_bias:
        if layer.bias_quantizer_internal is None:
            raise ModelError(where, "bias_quantizer", None, "a quantizer (the engine adds integer "
                             "biases; set bias_quantizer= on the layer)")
        bq = quantizer_text(layer.bias_quantizer_internal, where + " bias_quantizer")
    core = {"kernel_quantizer": kq, "bias_quantizer": bq, "use_bias": use_bias,
            "act_str": act_text}
    if kind == "QDense":
        core.update(type="dense", units=int(cfg["units"]))
    else:
        core.update(type="conv", filters=int(cfg["filters"]),
                    kernel_size=tuple(int(v) for v in cfg["kernel_size"]),
                    strides=tuple(int(v) for v in cfg["strides"]), padding=cfg["padding"],
                    batchnorm=kind == "QConv2DBatchnorm")
    return core


def _identity_on(text, where):
    """A quantizer that leaves every output of quantizer `text` unchanged: the bundle's pool
    stage requantises, and a max pool without its own QActivation must pass the values through.
    quantized_bits and plain quantized_relu are idempotent; a leaky quantized_relu is not (it
    would scale a negative maximum by its slope again), so it is replaced by the quantized_bits
    of the same grid and range."""
    from ..frontend.quant import parse_quantizer
    spec = parse_quantizer(text, where)
    if spec.kind != "relu" or spec.slope_shift < 0:
        return text
    ub = spec.word_bits() - 1
    return f"quantized_bits({ub + 1},{ub - spec.frac},0,1,alpha=1)"


def _own_activation(layer):
    """The quantizer given as the core layer's activation= (None for linear)."""
    act = getattr(layer, "activation", None)
    name = getattr(act, "__name__", "")
    if act is None or name == "linear":
        return None
    return quantizer_text(act, f"layer {layer.name!r} activation")


def from_keras(model, hw, batch_size=1, name=None):
    """A QModel of Bundles equal to the trained QKeras `model` (see the module docstring);
    `batch_size` fixes the input batch."""
    import qkeras
    from .qmodel import QModel

    if isinstance(model, (str, os.PathLike)):
        model = load_keras(model)
    if not isinstance(model, keras.Model):
        raise ModelError("from_keras", "model", type(model).__name__, "a Keras / QKeras model")
    if not getattr(model, "_is_graph_network", False):
        raise ModelError("from_keras", "model", type(model).__name__,
                         "a functional or Sequential model (wrap a subclassed one: "
                         "keras.Model(x, m.call(x)))")
    if len(model.inputs) != 1:
        raise ModelError("from_keras", "model inputs", len(model.inputs), "1")
    g = _Graph(model)
    in_layer = model.inputs[0]._keras_history.layer
    first = g.single_next(in_layer)
    if first is None or first == "many" or _act_text(first) is None:
        raise ModelError(f"layer {getattr(first, 'name', first)!r}", "input quantizer",
                         type(first).__name__ if first not in (None, "many") else first,
                         "a QActivation right after the model input (the engine's input words)")
    shape = tuple(int(s) for s in model.inputs[0].shape[1:])
    x_raw = keras.Input(shape=shape, batch_size=int(batch_size), name=name or "input")
    qtext = _act_text(first)
    qlayer = qkeras.QActivation(qtext, name=f"{first.name}_in")
    qlayer._dsf_is_input_quant = True
    qlayer._dsf_qtext = qtext
    done = {first.name: qlayer(x_raw)}          # original layer name -> new tensor
    copies = []                                 # (new Bundle, original core layer)
    handled = {in_layer.name, first.name}
    order = [lyr for lyr in model.layers if lyr.name not in handled]
    for layer in order:
        if layer.name in handled:
            continue
        kind = type(layer).__name__
        where = f"layer {layer.name!r} ({kind})"
        if kind not in CORE:
            if kind in UNQUANTISED:
                hint = UNQUANTISED[kind]
                raise ModelError(where, "type", kind, f"a quantised layer: use {hint}" if hint
                                 else "a layer the engine runs (QConv2D, QConv2DBatchnorm, QDense)")
            if kind == "InputLayer":
                continue
            raise ModelError(where, "position", kind,
                             "after a core layer (QConv2D, QConv2DBatchnorm, QDense) in the "
                             "order core -> QActivation -> [Add -> QActivation] -> [pool] -> "
                             "[Flatten] -> [Softmax]")
        src = g.inputs_of(layer)
        if len(src) != 1 or src[0].name not in done:
            raise ModelError(where, "input", [s.name for s in src],
                             "one tensor produced by the input quantizer or a finished bundle")
        x_in = done[src[0].name]
        # core -> activation
        chain = [layer]
        act = _own_activation(layer)
        cur = layer
        if act is None:
            nxt = g.single_next(cur)
            if nxt in (None, "many") or _act_text(nxt) is None:
                raise ModelError(where, "activation", getattr(nxt, "name", nxt),
                                 "a quantizer: activation= on the layer or one QActivation "
                                 "consuming it")
            act, cur = _act_text(nxt), nxt
            chain.append(nxt)
        core = _core_cfg(layer, act)
        add = pool = None
        skip = None
        flatten = softmax = False
        nxt = g.single_next(cur)
        if nxt not in (None, "many") and type(nxt).__name__ == "Add":
            others = [s for s in g.inputs_of(nxt) if s.name != cur.name]
            if len(g.inputs_of(nxt)) != 2 or len(others) != 1 or others[0].name not in done:
                raise ModelError(f"layer {nxt.name!r} (Add)", "inputs",
                                 [s.name for s in g.inputs_of(nxt)],
                                 "this bundle's activation and one finished tensor")
            skip = done[others[0].name]
            a2 = g.single_next(nxt)
            if a2 in (None, "many") or _act_text(a2) is None:
                raise ModelError(f"layer {nxt.name!r} (Add)", "activation",
                                 getattr(a2, "name", a2), "a QActivation consuming the sum")
            add = {"act_str": _act_text(a2)}
            chain += [nxt, a2]
            cur = a2
            nxt = g.single_next(cur)
        if nxt not in (None, "many") and type(nxt).__name__ in POOLS:
            pk = type(nxt).__name__
            pcfg = nxt.get_config()
            if pk == "GlobalAveragePooling2D":
                if pcfg.get("keepdims"):
                    raise ModelError(f"layer {nxt.name!r}", "keepdims", True, "False")
                h, w = (int(v) for v in nxt.input_shape[1:3])
                p = {"type": "avg", "size": (h, w), "strides": (h, w), "padding": "valid"}
                flatten = True
            else:
                p = {"type": "max" if pk == "MaxPooling2D" else "avg",
                     "size": tuple(pcfg["pool_size"]), "strides": tuple(pcfg["strides"]),
                     "padding": pcfg["padding"]}
            a3 = g.single_next(nxt)
            if a3 not in (None, "many") and _act_text(a3) is not None:
                p["act_str"] = _act_text(a3)
                chain += [nxt, a3]
                cur = a3
            elif p["type"] == "max":          # max of quantised values: already on the grid
                p["act_str"] = _identity_on((add or {}).get("act_str", act),
                                            f"layer {nxt.name!r}")
                chain.append(nxt)
                cur = nxt
            else:
                raise ModelError(f"layer {nxt.name!r} ({pk})", "activation",
                                 getattr(a3, "name", a3),
                                 "a QActivation after an average pool (the mean is requantised)")
            pool = p
            nxt = g.single_next(cur)
        if nxt not in (None, "many") and type(nxt).__name__ == "Flatten" and not flatten:
            flatten = True
            chain.append(nxt)
            cur = nxt
            nxt = g.single_next(cur)
        if nxt not in (None, "many") and (type(nxt).__name__ == "Softmax" or (
                type(nxt).__name__ == "Activation"
                and nxt.get_config().get("activation") == "softmax")):
            softmax = True
            chain.append(nxt)
            cur = nxt
        b = Bundle(core=core, add=add, pool=pool, flatten=flatten, softmax=softmax,
                   name=f"{layer.name}_bundle")
        y = b(x_in, skip) if skip is not None else b(x_in)
        copies.append((b, layer))
        for c in chain:
            handled.add(c.name)
        done[cur.name] = y
    outs = [t._keras_history.layer.name for t in model.outputs]
    if len(outs) != 1 or outs[0] not in done:
        raise ModelError("from_keras", "model output", outs,
                         "the output of the last bundle")
    q = QModel(inputs=x_raw, outputs=done[outs[0]])
    for b, layer in copies:
        b.core_layer.set_weights(layer.get_weights())
    unused = [lyr.name for lyr in model.layers if lyr.name not in handled
              and type(lyr).__name__ != "InputLayer"]
    if unused:
        raise ModelError("from_keras", "layers not mapped", unused, "none (every layer in a bundle)")
    q._dsf_hw_hint = hw
    return q


def load_keras(path):
    """A QKeras model from .h5 / .keras / SavedModel (qkeras.utils.load_qmodel)."""
    from qkeras.utils import load_qmodel
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ModelError("import", "model file", path, "an existing .h5 / .keras file")
    try:
        return load_qmodel(path, compile=False)
    except Exception as e:  # noqa: BLE001 - Keras raises many types on a bad file
        raise ModelError("import", "model file", path,
                         f"a Keras/QKeras model file ({type(e).__name__}: {str(e)[:200]})") from None

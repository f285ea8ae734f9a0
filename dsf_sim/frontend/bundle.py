"""`QInput` and `Bundle`: the seed's Keras-level API.

A Bundle is one engine job group plus the firmware work after it: core (conv | dense with
quantised weights/bias, or matmul of two activations) and an activation quantiser, optional
residual add (+ quantiser), optional integer function (softmax per head, GELU, LayerNorm;
+ quantiser), optional pool (+ quantiser), optional flatten, optional softmax. It is a normal
Keras layer, so models train with `compile/fit`; the integer reference model reads its
configuration and weights.
"""
from __future__ import annotations

import itertools

import numpy as np

from ..errors import ModelError
from ..values import allowed_keys_text, is_int, plain
from .quant import QSpec, parse_quantizer
from .tf_setup import keras, tf

_ids = itertools.count()


def _two(v, name, where):
    v = plain(v)
    if is_int(v):
        return (v, v)
    if isinstance(v, tuple) and len(v) == 2 and all(is_int(i) for i in v):
        return (int(v[0]), int(v[1]))
    raise ModelError(where, name, v, "an int or a pair of ints")


# the keys each configuration dict may have (the seed's spellings); anything else is refused,
# never ignored: a misspelt 'kernel_sise' or Keras' 'pool_size' would silently build another layer
CORE_KEYS = {
    "conv": ("type", "filters", "kernel_size", "strides", "padding", "kernel_quantizer",
             "bias_quantizer", "use_bias", "act_str", "batchnorm"),
    "dense": ("type", "units", "kernel_quantizer", "bias_quantizer", "use_bias", "act_str"),
    # activation x activation (architecture §22): Bundle(core=...)(a, b); no weights of its own
    "matmul": ("type", "heads", "transpose_b", "act_str"),
}
FN_KEYS = ("type", "act_str", "frac", "groups")
FN_TYPES = ("softmax", "gelu", "layernorm")
FN_FRAC = {"softmax": (1, 30, 16), "layernorm": (0, 24, 16)}   # (min, max, default)
POOL_KEYS = ("type", "size", "strides", "padding", "act_str")
ADD_KEYS = ("act_str",)
BUNDLE_ARGS = ("core", "add", "fn", "pool", "flatten", "tokens", "softmax", "softmax_frac",
               "name", "trainable", "dtype")


def _check_dict(where, what, d, allowed):
    if not isinstance(d, dict):
        raise ModelError(where, what, d, f"a dict with keys {list(allowed)}")
    for k in d:
        if k not in allowed:
            raise ModelError(where, f"{what} key {k!r}", d[k], allowed_keys_text(k, allowed))


def _flag(where, name, v):
    v = plain(v)
    if not isinstance(v, bool):
        raise ModelError(where, name, v, "True or False")
    return v


def QInput(shape, batch_size, hw, int_bits=0, name=None):
    """Model input quantised to `quantized_bits(X_BITS, int_bits, False, True, 1)` (unsigned if X_BITS=1).

    Returns the quantised tensor; its `.raw` is the Keras `Input` to pass to `QModel(inputs=...)`.
    """
    import qkeras

    where = f"QInput({name or ''})"
    batch_size = plain(batch_size)
    if not isinstance(batch_size, int) or not 1 <= batch_size <= hw.XN_MAX:
        raise ModelError(where, "batch_size", batch_size, f"1..{hw.XN_MAX} (max_batch_size)")
    shape = tuple(int(s) for s in shape)
    if len(shape) not in (1, 2, 3):
        raise ModelError(where, "shape", shape, "(H, W, C), (tokens, features) or (features,)")
    # signed like the seed; a 1-bit input word can only be unsigned ({0, 1}: QKeras' signed 1-bit
    # quantiser is the +-1 binary one, which a two's complement 1-bit word cannot hold)
    keep_negative = hw.X_BITS > 1
    qtext = f"quantized_bits({hw.X_BITS},{int_bits},False,{keep_negative},1)"
    spec = parse_quantizer(qtext, where)
    name = name or f"input_{next(_ids)}"
    raw = keras.Input(shape=shape, batch_size=batch_size, name=name)
    qlayer = qkeras.QActivation(qtext, name=f"{name}_quant")
    qlayer._dsf_is_input_quant = True
    qlayer._dsf_qtext = qtext
    q = qlayer(raw)
    q.raw = raw
    q._dsf_spec = spec
    return q


class Bundle(keras.layers.Layer):
    """core → act → [add → act] → [fn → act] → [pool → act] → [flatten] → [softmax]."""

    def __init__(self, core, add=None, pool=None, flatten=False, softmax=False, softmax_frac=None,
                 fn=None, tokens=False, **kwargs):
        import qkeras

        for k in kwargs:
            if k not in BUNDLE_ARGS:
                raise ModelError(f"Bundle({kwargs.get('name', '')})", f"argument {k!r}", kwargs[k],
                                 allowed_keys_text(k, BUNDLE_ARGS))
        super().__init__(**kwargs)
        self.idx = None  # position in the model, set by QModel
        where = f"Bundle({self.name})"
        if not isinstance(core, dict) or core.get("type") not in CORE_KEYS:
            raise ModelError(where, "core['type']", None if not isinstance(core, dict)
                             else core.get("type"), "'conv', 'dense' or 'matmul'")
        _check_dict(where, "core", core, CORE_KEYS[core["type"]])
        if add is not None:
            _check_dict(where, "add", add, ADD_KEYS)
        if pool is not None:
            _check_dict(where, "pool", pool, POOL_KEYS)
        self.core_cfg = dict(core)
        self.add_cfg = dict(add) if add is not None else None
        self.pool_cfg = dict(pool) if pool is not None else None
        self.flatten = _flag(where, "flatten", flatten)
        # a conv output [N, H, W, C] handed on as tokens [N, H·W, C] (the same memory order:
        # a ViT's patch embedding); no data moves
        self.tokens = _flag(where, "tokens", tokens)
        if self.tokens and (self.flatten or core.get("type") != "conv"):
            raise ModelError(where, "tokens", True, "only on a conv core without flatten")
        self.softmax = _flag(where, "softmax", softmax)
        # None: the firmware's float64 softmax (DeepSoCFlow); an int: the integer softmax of
        # architecture §21 at that binary point (no float on the CPU)
        softmax_frac = plain(softmax_frac)
        if softmax_frac is not None:
            if not is_int(softmax_frac) or not 1 <= softmax_frac <= 30:
                raise ModelError(where, "softmax_frac", softmax_frac, "None or an int in 1..30")
            if not self.softmax:
                raise ModelError(where, "softmax_frac", softmax_frac, "None unless softmax=True")
        self.softmax_frac = softmax_frac

        c = self.core_cfg
        self.heads, self.transpose_b, self.operand_src = 1, False, None
        if c["type"] == "matmul":
            self._init_matmul(where, c)
        else:
            self._init_weighted(where, c, qkeras)
        self.core_act = qkeras.QActivation(c["act_str"], name=f"{self.name}_act")

        self.add_spec = None
        if self.add_cfg is not None:
            if c["type"] == "matmul":
                raise ModelError(where, "add", dict(self.add_cfg), "None for a matmul core "
                                 "(add the residual on the projection after it)")
            self.add_spec = parse_quantizer(self.add_cfg.get("act_str"), f"{where} add act_str")
            self.add_layer = keras.layers.Add(name=f"{self.name}_add")
            self.add_act = qkeras.QActivation(self.add_cfg["act_str"], name=f"{self.name}_add_act")
        self._init_fn(where, fn, qkeras)
        self._init_pool(where, qkeras)
        self.flatten_layer = keras.layers.Flatten(name=f"{self.name}_flatten")
        self.softmax_layer = keras.layers.Activation("softmax", name=f"{self.name}_softmax")

    def _init_matmul(self, where, c):
        """a·b (transpose_b False: a [N,S,H·T] per head times b [N,T,H·dv]) or a·bᵀ (a, b
        [N,S|T,H·dh]): the engine's weight operand is b, packed by the firmware (§22)."""
        heads = plain(c.get("heads", 1))
        if not is_int(heads) or heads < 1:
            raise ModelError(where, "core['heads']", heads, "a positive int")
        self.heads = int(heads)
        self.transpose_b = _flag(where, "core['transpose_b']", c.get("transpose_b", False))
        self.act = parse_quantizer(c.get("act_str"), f"{where} core act_str")
        self.kq = None          # the operand's quantizer: set when the model graph is built
        self.use_bias, self.bq, self.batchnorm = False, None, False
        self.kernel_size, self.strides, self.padding = (1, 1), (1, 1), "same"
        self.filters = None     # known from the operands' shapes (_check_shapes)
        self.core_layer = None

    def _init_weighted(self, where, c, qkeras):
        self.kq = parse_quantizer(c.get("kernel_quantizer"), f"{where} kernel_quantizer")
        if not self.kq.signed:
            raise ModelError(where, "kernel_quantizer", c.get("kernel_quantizer"),
                             "a signed quantizer (keep_negative=True)")
        self.use_bias = _flag(where, "core['use_bias']", c.get("use_bias", True))
        self.bq = parse_quantizer(c.get("bias_quantizer"), f"{where} bias_quantizer") \
            if self.use_bias else None
        self.act = parse_quantizer(c.get("act_str"), f"{where} core act_str")
        if c["type"] == "conv":
            self.kernel_size = _two(c.get("kernel_size", (3, 3)), "kernel_size", where)
            self.strides = _two(c.get("strides", (1, 1)), "strides", where)
            self.padding = c.get("padding", "same")
            if self.padding not in ("same", "valid"):
                raise ModelError(where, "padding", self.padding, "'same' or 'valid'")
            filters = plain(c.get("filters"))
            if not is_int(filters) or filters < 1:
                raise ModelError(where, "filters", filters, "a positive int")
            for n, v in (("kernel_size", self.kernel_size), ("strides", self.strides)):
                if min(v) < 1:
                    raise ModelError(where, n, v, ">= 1")
            self.batchnorm = _flag(where, "core['batchnorm']", c.get("batchnorm", False))
            if self.batchnorm and not self.use_bias:
                raise ModelError(where, "use_bias", False, "True with batchnorm (the folded "
                                 "batch norm adds a bias)")
            conv = qkeras.QConv2DBatchnorm if self.batchnorm else qkeras.QConv2D
            self.core_layer = conv(
                filters, self.kernel_size, strides=self.strides, padding=self.padding,
                kernel_quantizer=c["kernel_quantizer"],
                bias_quantizer=c.get("bias_quantizer") if self.use_bias else None,
                use_bias=self.use_bias, name=f"{self.name}_conv{'bn' if self.batchnorm else ''}")
            self.filters = filters
        else:
            units = plain(c.get("units"))
            if not is_int(units) or units < 1:
                raise ModelError(where, "units", units, "a positive int")
            self.kernel_size, self.strides, self.padding = (1, 1), (1, 1), "same"
            self.batchnorm = False
            self.core_layer = qkeras.QDense(
                units, kernel_quantizer=c["kernel_quantizer"],
                bias_quantizer=c.get("bias_quantizer") if self.use_bias else None,
                use_bias=self.use_bias, name=f"{self.name}_dense")
            self.filters = units

    def _init_fn(self, where, fn, qkeras):
        """The integer function stage (architecture §21–§22): on the CPU, in integers."""
        self.fn_cfg, self.fn_spec, self.fn_frac, self.fn_groups = None, None, None, None
        if fn is None:
            return
        _check_dict(where, "fn", fn, FN_KEYS)
        kind = fn.get("type")
        if kind not in FN_TYPES:
            raise ModelError(where, "fn['type']", kind, f"one of {list(FN_TYPES)}")
        self.fn_cfg = dict(fn)
        if kind in FN_FRAC:
            lo, hi, dflt = FN_FRAC[kind]
            fr = plain(fn.get("frac", dflt))
            if not is_int(fr) or not lo <= fr <= hi:
                raise ModelError(where, "fn['frac']", fr, f"an int in {lo}..{hi}")
            self.fn_frac = int(fr)
        elif "frac" in fn:
            raise ModelError(where, "fn['frac']", fn["frac"], "not given for gelu (its result "
                             "is Q20, architecture §21)")
        else:
            self.fn_frac = 20
        groups = plain(fn.get("groups", self.heads if kind == "softmax" else 1))
        if not is_int(groups) or groups < 1 or (kind != "softmax" and groups != 1):
            raise ModelError(where, "fn['groups']", groups, "a positive int (softmax only: one "
                             "softmax per group of the last axis, default the matmul's heads)")
        self.fn_groups = int(groups)
        if self.pool_cfg is not None:
            raise ModelError(where, "pool", dict(self.pool_cfg), "None with fn= (pool the next "
                             "bundle's input instead)")
        self.fn_spec = parse_quantizer(fn.get("act_str"), f"{where} fn act_str")
        self.fn_act = qkeras.QActivation(fn["act_str"], name=f"{self.name}_fn_act")

    def _init_pool(self, where, qkeras):
        self.pool_spec = None
        if self.pool_cfg is not None:
            p = self.pool_cfg
            if p.get("type") not in ("max", "avg"):
                raise ModelError(where, "pool['type']", p.get("type"), "'max' or 'avg'")
            self.pool_size = _two(p.get("size", (2, 2)), "pool size", where)
            self.pool_strides = _two(p.get("strides", self.pool_size), "pool strides", where)
            self.pool_padding = p.get("padding", "valid")
            if self.pool_padding not in ("same", "valid"):
                raise ModelError(where, "pool padding", self.pool_padding, "'same' or 'valid'")
            if min(self.pool_size) < 1 or min(self.pool_strides) < 1:
                raise ModelError(where, "pool size/strides", (self.pool_size, self.pool_strides),
                                 ">= 1")
            self.pool_spec = parse_quantizer(p.get("act_str"), f"{where} pool act_str")
            cls = keras.layers.MaxPooling2D if p["type"] == "max" else keras.layers.AveragePooling2D
            self.pool_layer = cls(self.pool_size, self.pool_strides, self.pool_padding,
                                  name=f"{self.name}_pool")
            self.pool_act = qkeras.QActivation(p["act_str"], name=f"{self.name}_pool_act")

    # ------------------------------------------------------------------ Keras
    @property
    def out_spec(self) -> QSpec:
        """Quantiser of the tensor this bundle hands to the next one."""
        for spec in (self.pool_spec, self.fn_spec, self.add_spec):
            if spec is not None:
                return spec
        return self.act

    @property
    def is_matmul(self) -> bool:
        return self.core_cfg["type"] == "matmul"

    # the input ranks each core accepts (dense on tokens [N, S, D] acts per token)
    RANKS = {"conv": (4,), "dense": (2, 3), "matmul": (3,)}

    def _matmul(self, a, b):
        """Float a·b / a·bᵀ per head on [N, S, C] tensors (heads = blocks of the channels)."""
        h = self.heads
        S, T = int(a.shape[1]), int(b.shape[1])
        if self.transpose_b:
            a4 = tf.reshape(a, (-1, S, h, int(a.shape[2]) // h))
            b4 = tf.reshape(b, (-1, T, h, int(b.shape[2]) // h))
            y = tf.einsum("nshd,nthd->nsht", a4, b4)
            return tf.reshape(y, (-1, S, h * T))
        a4 = tf.reshape(a, (-1, S, h, T))
        b4 = tf.reshape(b, (-1, T, h, int(b.shape[2]) // h))
        y = tf.einsum("nsht,nthd->nshd", a4, b4)
        return tf.reshape(y, (-1, S, int(b.shape[2])))

    def fn_float(self, y):
        """The float function the integer fn stage approximates (architecture §21)."""
        kind = self.fn_cfg["type"]
        if kind == "gelu":
            return tf.nn.gelu(y, approximate=False)
        if kind == "layernorm":     # population variance, no epsilon (as the integer one)
            m = tf.reduce_mean(y, axis=-1, keepdims=True)
            c = y - m
            v = tf.reduce_mean(c * c, axis=-1, keepdims=True)
            return tf.math.divide_no_nan(c, tf.sqrt(v))
        shape = tf.shape(y)
        g = self.fn_groups
        z = tf.reshape(y, tf.concat([shape[:-1], [g, int(y.shape[-1]) // g]], 0))
        return tf.reshape(tf.nn.softmax(z, axis=-1), shape)

    def stages(self, x, x_skip=None):
        """Float forward pass returning every stage (used by call and by the exactness check)."""
        s = {}
        kind = self.core_cfg["type"]
        if len(x.shape) not in self.RANKS[kind]:
            raise ModelError(f"Bundle({self.name})", f"{kind} input rank", len(x.shape),
                             " or ".join(map(str, self.RANKS[kind])))
        if self.is_matmul:
            y = self._matmul(x, x_skip)
            x_skip = None
        else:
            y = self.core_layer(x)
        s["core_bias"] = y
        y = self.core_act(y)
        s["act"] = y
        if self.add_cfg is not None:
            if x_skip is None:
                raise ModelError(f"Bundle({self.name})", "skip input", None,
                                 "a tensor (call Bundle(...)(x, x_skip) when add= is given)")
            y = self.add_layer([y, x_skip])
            s["add_raw"] = y
            y = self.add_act(y)
            s["add"] = y
        if self.fn_cfg is not None:
            y = self.fn_float(y)
            s["fn_raw"] = y
            y = self.fn_act(y)
            s["fn"] = y
        if self.pool_cfg is not None:
            y = self.pool_layer(y)
            s["pool_raw"] = y
            y = self.pool_act(y)
            s["pool"] = y
        if self.flatten:
            y = self.flatten_layer(y)
        if self.tokens:
            y = tf.reshape(y, (-1, int(y.shape[1]) * int(y.shape[2]), int(y.shape[3])))
        s["out"] = y
        if self.softmax:
            y = self.softmax_layer(y)
            s["softmax"] = y
        return s

    def __call__(self, x, x_skip=None, *args, **kwargs):
        # validate before Keras/autograph wrap our errors into staging errors
        where = f"Bundle({self.name})"
        two = self.add_cfg is not None or self.is_matmul
        what = "the operand b (Bundle(core=matmul)(a, b))" if self.is_matmul else \
            "a tensor (call Bundle(...)(x, x_skip) when add= is given)"
        if two and x_skip is None:
            raise ModelError(where, "operand b" if self.is_matmul else "skip input", None, what)
        if not two and x_skip is not None:
            raise ModelError(where, "skip input", "a tensor", "None when add= is not given")
        rank = len(getattr(x, "shape", ()))
        kind = self.core_cfg["type"]
        if rank not in self.RANKS[kind]:
            hint = {"conv": "N, H, W, C", "dense": "flatten the previous bundle, or tokens "
                    "[N, S, D]", "matmul": "tokens [N, S, C]"}[kind]
            raise ModelError(where, f"{kind} input rank", rank,
                             f"{' or '.join(map(str, self.RANKS[kind]))} ({hint})")
        self._check_shapes(where, tuple(x.shape), None if x_skip is None else
                           tuple(getattr(x_skip, "shape", ())))
        if x_skip is None:
            return super().__call__(x, *args, **kwargs)
        return super().__call__(x, x_skip, *args, **kwargs)

    def _check_matmul(self, where, xs, bs):
        """Operand shapes of a matmul core -> its output shape (named errors for head sizes)."""
        if len(bs) != 3:
            raise ModelError(where, "operand b rank", len(bs), "3 (tokens [N, T, C])")
        if xs[0] != bs[0]:
            raise ModelError(where, "operand b batch", bs[0], f"{xs[0]}, the batch of a")
        h, (S, Ca), (T, Cb) = self.heads, xs[1:], bs[1:]
        if self.transpose_b:
            if Ca % h or Cb != Ca:
                raise ModelError(where, "head size (a·bᵀ)", (Ca, Cb, h), f"a and b with the "
                                 f"same channels, a multiple of heads = {h}")
            self.filters = h * T
        else:
            if Ca != h * T:
                raise ModelError(where, "a channels (a·b)", Ca, f"heads·T = {h}·{T} = {h * T} "
                                 f"(one T-wide block of weights per head)")
            if Cb % h:
                raise ModelError(where, "head size (b channels)", Cb, f"a multiple of heads = {h}")
            self.filters = Cb
        return (xs[0], S, self.filters)

    def _check_shapes(self, where, xs, ss):
        """The shapes this bundle produces, checked before Keras builds anything (Keras' own
        errors arrive wrapped in layer-call noise): kernels and pools against the image they
        slide over, the skip against the tensor it is added to, matmul operands' heads."""
        from .padding import tf_padding
        if self.is_matmul:
            y, ss = self._check_matmul(where, xs, ss), None
        elif self.core_cfg["type"] == "conv":
            (h, w) = (int(v) for v in xs[1:3])
            out = []
            for n, size, k, s in (("H", h, self.kernel_size[0], self.strides[0]),
                                  ("W", w, self.kernel_size[1], self.strides[1])):
                if self.padding == "valid" and size < k:
                    raise ModelError(where, f"kernel_size ({n})", k,
                                     f"<= the input's {n} = {size} with padding='valid'")
                out.append(tf_padding(size, k, s, self.padding)[0])
            y = (xs[0], out[0], out[1], self.filters)
        else:
            y = tuple(xs[:-1]) + (self.filters,)
        if ss is not None and tuple(ss) != tuple(y):
            raise ModelError(where, "skip shape", tuple(ss),
                             f"{tuple(y)}, the shape of the core output it is added to")
        if self.fn_cfg is not None and self.fn_groups > 1 and y[-1] % self.fn_groups:
            raise ModelError(where, "fn['groups']", self.fn_groups,
                             f"a divisor of the last axis {y[-1]}")
        if self.pool_cfg is not None:
            if len(y) != 4:
                raise ModelError(where, "pool", self.pool_cfg["type"], "only after a conv core")
            for n, size, k in (("H", y[1], self.pool_size[0]), ("W", y[2], self.pool_size[1])):
                if self.pool_padding == "valid" and size < k:
                    raise ModelError(where, f"pool size ({n})", k,
                                     f"<= the core output's {n} = {size} with padding='valid'")

    def call(self, x, x_skip=None):
        s = self.stages(x, x_skip)
        return s["softmax"] if self.softmax else s["out"]

    def get_config(self):
        cfg = super().get_config()
        cfg.update(core=self.core_cfg, add=self.add_cfg, fn=self.fn_cfg, tokens=self.tokens,
                   pool=self.pool_cfg,
                   flatten=self.flatten, softmax=self.softmax, softmax_frac=self.softmax_frac)
        return cfg

    # ------------------------------------------------------------------ integer weights
    def float_weights(self):
        """(kernel, bias) the core applies before quantisation: its own, or with the batch norm
        folded in exactly as QConv2DBatchnorm does at inference (moving statistics)."""
        if self.batchnorm:
            k, b = self.core_layer.get_folded_weights()
            return k, b
        return self.core_layer.kernel, (self.core_layer.bias if self.use_bias else None)

    def quantized_kernel(self):
        """The float quantised kernel the core convolves with (QKeras' own quantiser call)."""
        return self.core_layer.kernel_quantizer_internal(self.float_weights()[0])

    def int_weights(self):
        """(kernel int array, bias int array or None) after quantisation, exact or raising."""
        # in place, one float64 copy and one rounded copy: ResNet-50's 25 M weights made five
        # temporaries each, and their fresh pages were most of the export's first run
        K = np.array(self.quantized_kernel(), dtype=np.float64)
        K *= 2.0 ** self.kq.frac
        Kr = np.rint(K)
        if not (np.array_equal(K, Kr) and np.isfinite(Kr).all()):
            raise ModelError(f"Bundle({self.name})", "quantized kernel", "non-integer * 2^frac",
                             "exact integers (check kernel_quantizer alpha/scale)")
        del K
        Ki = Kr.astype(np.int64)
        B = None
        if self.use_bias:
            bqz = self.core_layer.bias_quantizer_internal
            bf = np.array(bqz(self.float_weights()[1]), dtype=np.float64) * 2.0 ** self.bq.frac
            B = np.round(bf).astype(np.int64)
            if not np.array_equal(bf, B):
                raise ModelError(f"Bundle({self.name})", "quantized bias", "non-integer * 2^frac",
                                 "exact integers")
        return Ki, B

"""Model zoo for tests: every Bundle option, kernel shape, stride, padding, pool, add, bit width."""
from __future__ import annotations

import numpy as np

from dsf_sim import Hardware


def small_hw(bits=4, rows=4, cols=8, axi=64, kmax=7, ysum=None, **kw):
    """A small engine; bits_sum large enough for the zoo's worst cases."""
    args = dict(processing_elements=(rows, cols), frequency_mhz=250, bits_input=bits,
                bits_weights=bits, bits_sum=ysum or (24 if bits >= 8 else 20), bits_bias=16,
                max_batch_size=8, max_channels_in=512, max_kernel_size=kmax, max_image_size=64,
                ram_weights_depth=4 * kmax, ram_edges_depth=64, axi_width=axi,
                target_cpu_int_bits=32, valid_prob=1.0, ready_prob=1.0, data_dir="vectors")
    args.update(kw)
    return Hardware(**args)


def q(hw):
    """Quantiser strings like the seed's."""
    X, K = hw.X_BITS, hw.K_BITS
    return dict(
        kq=f"quantized_bits({K},0,False,True,1)",
        bq=f"quantized_bits({hw.B_BITS},0,False,True,1)",
        relu=f"quantized_relu({X},0,negative_slope=0)",
        ubits=f"quantized_bits({X},0,False,False,1)",
        sbits=f"quantized_bits({X},0,False,True,1)",
        sbits1=f"quantized_bits({X},1,False,True,1)",
        leaky=f"quantized_relu({X},0,negative_slope={0.5 if X <= 2 else 0.125})",
    )


def randomize(model, seed=0):
    """Random weights spread over the whole quantiser range (Keras init would round to ~0)."""
    rng = np.random.default_rng(seed)
    for b in model.bundles:
        if b.core_layer is None:        # a matmul core: its operands are activations
            continue
        k = b.core_layer.kernel
        k.assign(rng.uniform(-1.0, 1.0, size=k.shape).astype(np.float32))
        if b.use_bias:
            bb = b.core_layer.bias
            bb.assign(rng.uniform(-0.5, 0.5, size=bb.shape).astype(np.float32))
    return model


def _conv(filters, k, s=(1, 1), pad="same", act=None, hw=None, bias=True):
    Q = q(hw)
    return {"type": "conv", "filters": filters, "kernel_size": k, "strides": s, "padding": pad,
            "kernel_quantizer": Q["kq"], "bias_quantizer": Q["bq"], "use_bias": bias,
            "act_str": act or Q["relu"]}


def _dense(units, act, hw, bias=True):
    Q = q(hw)
    return {"type": "dense", "units": units, "kernel_quantizer": Q["kq"],
            "bias_quantizer": Q["bq"], "use_bias": bias, "act_str": act}


def m_kernels(hw, xn=1):
    """Odd kernels 1..KH_MAX, non-square, stride 1, same and valid."""
    from dsf_sim import Bundle, QInput, QModel
    Q = q(hw)
    x = x_in = QInput((13, 11, 3), batch_size=xn, hw=hw, name="in_kernels")
    for k, pad, act in [((1, 1), "same", Q["relu"]), ((3, 3), "same", Q["sbits"]),
                        ((5, 5), "valid", Q["leaky"]), ((hw.KH_MAX, 3), "same", Q["ubits"]),
                        ((3, 5), "same", Q["sbits"]), ((5, 1), "valid", Q["relu"]),
                        ((1, 7), "same", Q["leaky"])]:
        x = Bundle(core=_conv(5, k, pad=pad, act=act, hw=hw))(x)
    return randomize(QModel(inputs=x_in.raw, outputs=x))


def m_strides(hw, xn=1):
    """Strides (2,1),(1,2),(2,2),(4,4) incl. even kernels and valid padding."""
    from dsf_sim import Bundle, QInput, QModel
    Q = q(hw)
    x = x_in = QInput((23, 21, 2), batch_size=xn, hw=hw, name="in_strides")
    for k, s, pad in [((3, 3), (2, 1), "same"), ((5, 3), (1, 2), "valid"),
                      ((4, 4), (2, 2), "same"), ((1, 1), (1, 1), "same"),
                      ((1, 1), (2, 2), "same"), ((2, 2), (3, 3), "valid")]:
        x = Bundle(core=_conv(4, k, s, pad, Q["leaky"], hw))(x)
    return randomize(QModel(inputs=x_in.raw, outputs=x))


def m_stride4(hw, xn=1):
    from dsf_sim import Bundle, QInput, QModel
    Q = q(hw)
    x = x_in = QInput((17, 19, 2), batch_size=xn, hw=hw, name="in_s4")
    x = Bundle(core=_conv(6, (7, 7), (4, 4), "same", Q["relu"], hw))(x)
    x = Bundle(core=_conv(3, (3, 3), (2, 2), "valid", Q["sbits"], hw))(x)
    return randomize(QModel(inputs=x_in.raw, outputs=x))


def m_pools(hw, xn=1):
    """Max and avg pools, same and valid, with leaky / signed / unsigned pool quantisers."""
    from dsf_sim import Bundle, QInput, QModel
    Q = q(hw)
    x = x_in = QInput((15, 14, 3), batch_size=xn, hw=hw, name="in_pools")
    x = Bundle(core=_conv(6, (3, 3), act=Q["sbits"], hw=hw),
               pool={"type": "max", "size": (3, 3), "strides": (2, 2), "padding": "same",
                     "act_str": Q["leaky"]})(x)
    x = Bundle(core=_conv(6, (3, 3), act=Q["sbits"], hw=hw),
               pool={"type": "avg", "size": (3, 2), "strides": (1, 2), "padding": "same",
                     "act_str": Q["sbits1"]})(x)
    x = Bundle(core=_conv(5, (1, 1), act=Q["leaky"], hw=hw),
               pool={"type": "avg", "size": (2, 2), "strides": (2, 2), "padding": "valid",
                     "act_str": Q["leaky"]})(x)
    x = Bundle(core=_conv(4, (3, 1), act=Q["ubits"], hw=hw),
               pool={"type": "max", "size": (1, 2), "strides": (1, 1), "padding": "valid",
                     "act_str": Q["ubits"]})(x)
    return randomize(QModel(inputs=x_in.raw, outputs=x))


def m_residual(hw, xn=1):
    """Residual adds whose operands have different binary points, then flatten+dense+softmax."""
    from dsf_sim import Bundle, QInput, QModel
    Q = q(hw)
    x = x_in = QInput((9, 10, 4), batch_size=xn, hw=hw, name="in_res")
    a = Bundle(core=_conv(6, (3, 3), act=Q["sbits1"], hw=hw))(x)          # frac X-2
    b = Bundle(core=_conv(6, (1, 1), act=Q["sbits"], hw=hw),              # frac X-1
               add={"act_str": Q["leaky"]})(a, a)
    c = Bundle(core=_conv(6, (5, 3), act=Q["ubits"], hw=hw, bias=False),  # frac X (unsigned)
               add={"act_str": Q["sbits"]},
               pool={"type": "avg", "size": (2, 2), "strides": (2, 2), "padding": "same",
                     "act_str": Q["sbits"]})(b, a)
    d = Bundle(core=_conv(5, (1, 1), act=Q["leaky"], hw=hw), flatten=True)(c)
    e = Bundle(core=_dense(7, Q["sbits"], hw), softmax=True)(d)
    return randomize(QModel(inputs=x_in.raw, outputs=e))


def m_mlp(hw, xn=3):
    """Dense-only MLP with batch > 1."""
    from dsf_sim import Bundle, QInput, QModel
    Q = q(hw)
    x = x_in = QInput((20,), batch_size=xn, hw=hw, name="in_mlp")
    x = Bundle(core=_dense(16, Q["relu"], hw))(x)
    x = Bundle(core=_dense(12, Q["leaky"], hw, bias=False))(x)
    x = Bundle(core=_dense(5, Q["sbits"], hw), softmax=True)(x)
    return randomize(QModel(inputs=x_in.raw, outputs=x))


def m_resblock(hw, xn=1):
    """ResNet-style adds finished on chip: skips that are the producer's finished output
    (direct), the model input, a pooled producer; a second bundle reading the model input."""
    from dsf_sim import Bundle, QInput, QModel
    Q = q(hw)
    x = x_in = QInput((9, 7, 6), batch_size=xn, hw=hw, name="in_resblock")
    a = Bundle(core=_conv(6, (1, 1), act=Q["relu"], hw=hw))(x)
    b = Bundle(core=_conv(6, (1, 1), act=Q["sbits"], hw=hw), add={"act_str": Q["relu"]})(a, a)
    c = Bundle(core=_conv(6, (3, 3), act=Q["leaky"], hw=hw))(b)
    d = Bundle(core=_conv(6, (1, 1), act=Q["sbits"], hw=hw),
               add={"act_str": Q["leaky"]})(c, b)
    e = Bundle(core=_conv(6, (1, 1), act=Q["ubits"], hw=hw, bias=False),
               add={"act_str": Q["sbits"]})(d, x)
    f = Bundle(core=_conv(6, (1, 1), act=Q["relu"], hw=hw),
               pool={"type": "max", "size": (2, 2), "strides": (1, 1), "padding": "same",
                     "act_str": Q["relu"]})(x)
    g = Bundle(core=_conv(6, (3, 3), act=Q["sbits"], hw=hw), add={"act_str": Q["sbits"]})(e, f)
    return randomize(QModel(inputs=x_in.raw, outputs=g))


def m_fallbacks(hw, xn=1):
    """Bundles that stay raw beside finished ones (architecture §17.5): more kernel rows than one
    pass holds (CP > 1), a strided 5x5 lowered into parts (on 8x24), an add on chip whose skip is a raw
    bundle's output (packed by the firmware), a leaky relu rounding on two grids, an output
    wider than bits_input."""
    from dsf_sim import Bundle, QInput, QModel
    Q = q(hw)
    x = x_in = QInput((10, 9, 12), batch_size=xn, hw=hw, name="in_fallbacks")
    a = Bundle(core=_conv(8, (3, 3), act=Q["relu"], hw=hw))(x)
    b = Bundle(core=_conv(8, (5, 5), s=(2, 2), act=Q["sbits"], hw=hw))(a)
    c = Bundle(core=_conv(8, (1, 1), act=Q["leaky"], hw=hw), add={"act_str": Q["sbits"]})(b, b)
    # a leaky relu whose negative step is finer than its positive one (word range -1..2: needs
    # 3-bit words, so on a 2-bit engine the plain leaky relu)
    fine = "quantized_relu(2,1,negative_slope=0.25)" if hw.X_BITS >= 3 else Q["leaky"]
    c = Bundle(core=_conv(6, (1, 1), act=fine, hw=hw))(c)
    d = Bundle(core=_conv(5, (1, 1), act=f"quantized_bits({2 * hw.X_BITS},2,False,True,1)",
                          hw=hw))(c)
    return randomize(QModel(inputs=x_in.raw, outputs=d))


ZOO = {"kernels": m_kernels, "strides": m_strides, "stride4": m_stride4, "pools": m_pools,
       "residual": m_residual, "mlp": m_mlp, "resblock": m_resblock, "fallbacks": m_fallbacks}


def random_model(rng):
    """A random (Hardware, QModel): array shape, AXI width, bits, kernels, strides, pads, pools,
    adds, flatten + dense + softmax, batch — for tests that must hold for configurations nobody
    wrote down."""
    from dsf_sim import Bundle, QInput, QModel
    rows = rng.choice([1, 2, 3, 4, 5, 7, 8])
    kmax = rng.choice([1, 3, 5, 7])
    while kmax // 2 > rows: kmax -= 2
    cols = rng.choice([max(kmax, 1), 5, 8, 12, 24, 32])
    cols = max(cols, kmax)
    axi = rng.choice([32, 64, 128, 256])
    bits = rng.choice([2, 4, 8])
    hw = Hardware(processing_elements=(rows, cols), bits_input=bits, bits_weights=bits,
                  bits_sum=32 if bits == 8 else 24, bits_bias=rng.choice([8, 16, 32]),
                  max_batch_size=4, max_channels_in=256, max_kernel_size=kmax,
                  max_image_size=64, ram_weights_depth=rng.choice([kmax, 2 * kmax + 1, 40]),
                  ram_edges_depth=16, axi_width=axi, valid_prob=1.0, ready_prob=1.0)
    X = bits
    Q = dict(kq=f"quantized_bits({bits},0,False,True,1)", bq=f"quantized_bits({min(hw.B_BITS,16)},0,False,True,1)",
             relu=f"quantized_relu({X},0)", sb=f"quantized_bits({X},0,False,True,1)",
             ub=f"quantized_bits({X},0,False,False,1)", lk=f"quantized_relu({X},0,negative_slope=0.5)",
             sb1=f"quantized_bits({X},1,False,True,1)")
    acts = [Q["relu"], Q["sb"], Q["ub"], Q["lk"], Q["sb1"]]
    xn = rng.choice([1, 1, 2, 3])
    H, W, C = rng.integers(3, 20), rng.integers(1, 20), rng.integers(1, 9)
    x = x_in = QInput((int(H), int(W), int(C)), batch_size=int(xn), hw=hw)
    outs = []
    h, w = int(H), int(W)
    nb = rng.integers(1, 5)
    for i in range(nb):
        kh = int(rng.integers(1, kmax + 1)); kw = int(rng.integers(1, kmax + 1))
        sh = int(rng.choice([1, 1, 2, 3])); sw = int(rng.choice([1, 1, 2]))
        pad = rng.choice(["same", "valid"])
        if pad == "valid" and (h < kh or w < kw): pad = "same"
        f = int(rng.integers(1, 14))
        core = {"type": "conv", "filters": f, "kernel_size": (kh, kw), "strides": (sh, sw),
                "padding": pad, "kernel_quantizer": Q["kq"], "bias_quantizer": Q["bq"],
                "use_bias": bool(rng.integers(0, 2)), "act_str": acts[rng.integers(0, 5)]}
        kwargs = {}
        oh = -(-h // sh) if pad == "same" else (h - kh) // sh + 1
        ow = -(-w // sw) if pad == "same" else (w - kw) // sw + 1
        if rng.random() < 0.4 and oh >= 2 and ow >= 1:
            ps = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
            pp = rng.choice(["same", "valid"])
            if pp == "valid" and (oh < ps[0] or ow < ps[1]): pp = "same"
            kwargs["pool"] = {"type": rng.choice(["max", "avg"]), "size": ps,
                              "strides": (int(rng.integers(1, 3)), int(rng.integers(1, 3))),
                              "padding": pp, "act_str": acts[rng.integers(0, 5)]}
        x = Bundle(core=core, **kwargs)(x)
        h, w = x.shape[1], x.shape[2]
        outs.append(x)
    if rng.random() < 0.5:
        x = Bundle(core={"type": "conv", "filters": int(x.shape[3]), "kernel_size": 1,
                         "kernel_quantizer": Q["kq"], "bias_quantizer": Q["bq"], "act_str": Q["sb"]},
                   add={"act_str": acts[rng.integers(0, 5)]})(x, x)
    if rng.random() < 0.5:
        x = Bundle(core={"type": "conv", "filters": 3, "kernel_size": 1, "kernel_quantizer": Q["kq"],
                         "bias_quantizer": Q["bq"], "act_str": Q["sb"]}, flatten=True)(x)
        x = Bundle(core={"type": "dense", "units": int(rng.integers(1, 12)), "kernel_quantizer": Q["kq"],
                         "bias_quantizer": Q["bq"], "act_str": Q["lk"]}, softmax=bool(rng.integers(0, 2)))(x)
    m = randomize(QModel(inputs=x_in.raw, outputs=x), int(rng.integers(0, 1000)))
    return hw, m

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


ZOO = {"kernels": m_kernels, "strides": m_strides, "stride4": m_stride4, "pools": m_pools,
       "residual": m_residual, "mlp": m_mlp}

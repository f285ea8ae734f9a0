"""Import alias for scripts written against the public DeepSoCFlow (2024) and CGRA4ML (2026)
APIs: `from deepsocflow import Bundle, Hardware, QModel, QInput` or `from deepsocflow import *`.

CGRA4ML scripts write `import keras` / `from keras.layers import Input`: with TensorFlow >= 2.16
that is Keras 3, which cannot mix with QKeras' tf_keras layers, so unless the script already
imported Keras 3, `keras` (and its common submodules) resolve to tf_keras here
(architecture §15: the Keras name).
"""
import sys as _sys

from dsf_sim import *  # noqa: F401,F403
from dsf_sim import Bundle, QInput, QModel  # noqa: F401
from dsf_sim.frontend.tf_setup import keras as _tf_keras

if "keras" not in _sys.modules or _sys.modules["keras"] is _tf_keras:
    _sys.modules["keras"] = _tf_keras
    for _name in ("layers", "models", "saving", "optimizers", "losses", "metrics", "backend",
                  "utils", "callbacks", "activations", "initializers", "regularizers",
                  "constraints", "datasets"):
        if hasattr(_tf_keras, _name):
            _sys.modules[f"keras.{_name}"] = getattr(_tf_keras, _name)

from dsf_sim.api.xmodel import (SYS_BITS, XActivation, XBundle, XConvBN, XDense,  # noqa: E402
                                XFn, XMatMul, XModel, XPool, export_inference,
                                predict_model_performance, verify_inference)
from dsf_sim.api.hardware import Hardware as _Hardware  # noqa: E402


class Hardware(_Hardware):
    """dsf_sim's Hardware with CGRA4ML's defaults (every argument optional)."""

    def __init__(self, processing_elements=(8, 24), frequency_mhz=250, bits_input=4,
                 bits_weights=4, bits_sum=16, bits_bias=16, max_batch_size=512,
                 max_channels_in=2048, max_kernel_size=13, max_image_size=32,
                 ram_weights_depth=20, ram_edges_depth=288, axi_width=64,
                 target_cpu_int_bits=32, async_resetn=True, valid_prob=0.1, ready_prob=0.1,
                 data_dir="vectors", max_n_bundles=64, header_width=64,
                 config_baseaddr="B0000000", axi_max_burst_len=16, tb_module="top_tb"):
        super().__init__(processing_elements, frequency_mhz, bits_input, bits_weights,
                         bits_sum, bits_bias, max_batch_size, max_channels_in, max_kernel_size,
                         max_image_size, ram_weights_depth, ram_edges_depth, axi_width,
                         target_cpu_int_bits, async_resetn, valid_prob, ready_prob, data_dir,
                         max_n_bundles, header_width, config_baseaddr, axi_max_burst_len,
                         tb_module)


__all__ = ["Hardware", "Bundle", "QInput", "QModel", "SYS_BITS", "XActivation", "XBundle",
           "XConvBN", "XDense", "XFn", "XMatMul", "XModel", "XPool", "export_inference",
           "verify_inference",
           "predict_model_performance"]

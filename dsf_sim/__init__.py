"""dsf_sim: quantized DNN -> parameterised accelerator (RTL + firmware) + cycle-accurate twin.

The user API follows DeepSoCFlow: Hardware, QInput, Bundle, QModel. The package is layered
(lower layers never import higher ones; tests/test_layers.py checks it):

    errors, values -> frontend -> compiler -> runtime -> models -> rtl_bridge -> flows -> perf
    -> api, sweep, cli
"""
from .api.hardware import Hardware  # noqa: F401  (no TensorFlow needed)
from .errors import DsfError, HardwareError, MismatchError, ModelError  # noqa: F401

__version__ = "0.1.0"


def __getattr__(name):
    # TensorFlow-backed names are imported lazily so `dsf info` and Hardware stay fast.
    if name in ("QInput", "Bundle"):
        from .frontend import bundle
        return getattr(bundle, name)
    if name == "QModel":
        from .api.qmodel import QModel
        return QModel
    if name == "from_keras":
        from .api.importer import from_keras
        return from_keras
    raise AttributeError(f"module 'dsf_sim' has no attribute {name!r}")


__all__ = ["Hardware", "QInput", "Bundle", "QModel", "from_keras", "DsfError", "HardwareError",
           "ModelError", "MismatchError"]

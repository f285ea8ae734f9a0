"""dsf_sim: quantized DNN -> parameterised accelerator (RTL + firmware) + cycle-accurate twin.

The user API follows DeepSoCFlow: Hardware, QInput, Bundle, QModel.
"""
from .hardware import Hardware  # noqa: F401  (no TensorFlow needed)
from .errors import DsfError, HardwareError, ModelError, MismatchError  # noqa: F401

__version__ = "0.1.0"


def __getattr__(name):
    # TensorFlow-backed names are imported lazily so `dsf info` and Hardware stay fast.
    if name in ("QInput", "Bundle"):
        from . import bundle
        return getattr(bundle, name)
    if name == "QModel":
        from .qmodel import QModel
        return QModel
    raise AttributeError(f"module 'dsf_sim' has no attribute {name!r}")


__all__ = ["Hardware", "QInput", "Bundle", "QModel", "DsfError", "HardwareError", "ModelError",
           "MismatchError"]

"""Error types that name the offending parameter, its value and the allowed range."""


class DsfError(ValueError):
    """Base class: every user-facing error of dsf_sim is a ValueError subclass."""


class HardwareError(DsfError):
    """A `Hardware` argument (or a layer against a hardware limit) is out of range."""

    def __init__(self, param, value, allowed):
        self.param, self.value, self.allowed = param, value, allowed
        super().__init__(f"{param} = {value!r} is invalid: allowed {allowed}")


class ModelError(DsfError):
    """A Bundle/QModel argument is invalid or unsupported by the engine."""

    def __init__(self, where, param, value, allowed):
        self.where, self.param, self.value, self.allowed = where, param, value, allowed
        super().__init__(f"{where}: {param} = {value!r} is invalid: allowed {allowed}")


class MismatchError(DsfError):
    """Two computations that must agree bit-exactly do not."""

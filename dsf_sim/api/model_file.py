"""Model files users hand to the CLI, and the built-in benchmark networks, as (model, hw).

A model file either defines `build(hw) -> QModel` (and optionally `HARDWARE = {...}` kwargs), or is
a seed-style script. A script runs unmodified (as `__main__`, in a temporary folder) with its
export_inference / verify_inference / hw.simulate calls intercepted when they are made — wherever
they are: top level, inside an `if`, a function or a `__main__` guard. The model is the one the
script last exported (else its `model`), the hardware the one it exported for (else its `hw`).
"""
from __future__ import annotations

import ast
import os
import tempfile
from pathlib import Path

from ..errors import DsfError


class _Intercepted:
    """QModel.export_inference / verify_inference / summary and Hardware.simulate replaced for
    the duration of a script run: the calls are recorded, nothing is exported or simulated."""

    def __init__(self):
        self.model = self.hw = None

    def __enter__(self):
        from .hardware import Hardware
        from .qmodel import QModel
        rec = self
        self._saved = [(QModel, n, QModel.__dict__[n]) for n in
                       ("export_inference", "verify_inference", "summary")
                       if n in QModel.__dict__] + [(Hardware, "simulate",
                                                    Hardware.__dict__["simulate"])]

        def export_inference(model, x=None, hw=None, out_dir=None, *a, **k):
            rec.model, rec.hw = model, hw if hw is not None else rec.hw
            model._dsf_last_hw, model._dsf_last_out = rec.hw, None
            return None

        def verify_inference(model, *a, **k):
            rec.model = rec.model or model
            return None

        QModel.export_inference = export_inference
        QModel.verify_inference = verify_inference
        QModel.summary = lambda model, *a, **k: None
        Hardware.simulate = lambda hw, *a, **k: None
        return self

    def __exit__(self, *exc):
        from .qmodel import QModel
        for cls, n in ((QModel, "export_inference"), (QModel, "verify_inference"),
                       (QModel, "summary")):
            if n in cls.__dict__:
                delattr(cls, n)
        for cls, n, f in self._saved:
            setattr(cls, n, f)
        return False


def load_model(path: str, hw_json: str | None = None, hw=None):
    """Return (model, hw) from a model file (see module docstring). `hw` (a Hardware) builds a
    build(hw) file for that hardware (dsf bench --hw), ahead of hw_json and HARDWARE."""
    from .hardware import Hardware

    if not os.path.exists(path):
        raise DsfError(f"model file = {path!r} is invalid: allowed an existing .py file (it does not exist)")
    with open(path) as f:
        src = f.read()
    g = {"__name__": "__dsf_model__", "__file__": os.path.abspath(path)}
    code = compile(src, path, "exec")
    tree_has_build = any(isinstance(n, ast.FunctionDef) and n.name == "build"
                         for n in ast.parse(src).body)
    if tree_has_build:
        exec(code, g)
        if hw is None:
            hw = Hardware.from_json(hw_json) if hw_json else Hardware(**g.get("HARDWARE", {}))
        return g["build"](hw), hw
    cwd = os.getcwd()
    g["__name__"] = "__main__"
    with tempfile.TemporaryDirectory() as tmp, _Intercepted() as rec:
        os.chdir(tmp)                       # seed scripts write hw.export() files into cwd
        try:
            exec(code, g)
        finally:
            os.chdir(cwd)
    model = rec.model if rec.model is not None else g.get("model")
    hw = rec.hw if rec.hw is not None else g.get("hw")
    from .qmodel import QModel
    if not isinstance(model, QModel) or (hw is None and not hw_json):
        raise DsfError(f"model file = {path!r} is invalid: allowed a file that defines build(hw), "
                       f"or a script that calls model.export_inference(hw=...) or defines `model` "
                       f"and `hw`")
    hw = Hardware.from_json(hw_json) if hw_json else hw
    return model, hw


def resolve_network(network: str, hw, input_size=None, seed=0, batch=1):
    """(model, name, reference fps) for a built-in network name, a model file (.py) or a
    trained QKeras model (.h5 / .keras, imported with `batch` images per inference)."""
    if network.endswith(".py"):
        model, _ = load_model(network, None, hw=hw)
        return model, Path(network).stem, None
    if network.endswith((".h5", ".keras")):
        from .importer import from_keras
        return from_keras(network, hw, batch_size=batch), Path(network).stem, None
    from . import networks as N
    from ..perf.report import KRAKEN_REF
    if network not in N.NETWORKS:
        raise DsfError(f"network = {network!r} is invalid: allowed one of "
                       f"{sorted(N.NETWORKS)}, a model file ending in .py or a trained "
                       f"QKeras model (.h5 / .keras)")
    model = N.build(network, hw, bits=hw.X_BITS, input_size=input_size, seed=seed, batch=batch)
    return model, network, KRAKEN_REF.get(network) if input_size is None else None

"""Model files users hand to the CLI, and the built-in benchmark networks, as (model, hw).

A model file either defines `build(hw) -> QModel` (and optionally `HARDWARE = {...}` kwargs), or is
a seed-style script that builds `model` and `hw` at top level (its export/verify calls are
skipped).
"""
from __future__ import annotations

import ast
import os
import tempfile
from pathlib import Path

from ..errors import DsfError


def _strip_seed_calls(src: str) -> str:
    """Remove top-level export_inference / verify_inference calls from a seed-style script."""
    tree = ast.parse(src)
    keep = []
    for node in tree.body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            f = node.value.func
            if isinstance(f, ast.Attribute) and f.attr in ("export_inference", "verify_inference",
                                                           "summary", "fit"):
                continue
        keep.append(node)
    tree.body = keep
    return ast.unparse(tree)


def load_model(path: str, hw_json: str | None = None):
    """Return (model, hw) from a model file (see module docstring)."""
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
        hw = Hardware.from_json(hw_json) if hw_json else Hardware(**g.get("HARDWARE", {}))
        return g["build"](hw), hw
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:  # seed scripts write hw.export() files into cwd
        os.chdir(tmp)
        try:
            exec(compile(_strip_seed_calls(src), path, "exec"), g)
        finally:
            os.chdir(cwd)
    if "model" not in g or "hw" not in g:
        raise DsfError(f"model file = {path!r} is invalid: allowed a file that defines build(hw) or top-level `model` and `hw`")
    hw = Hardware.from_json(hw_json) if hw_json else g["hw"]
    return g["model"], hw


def resolve_network(network: str, hw, input_size=None, seed=0):
    """(model, name, reference fps) for a built-in network name or a model file (.py)."""
    if network.endswith(".py"):
        model, _ = load_model(network, None)
        return model, Path(network).stem, None
    from . import networks as N
    from ..perf.report import KRAKEN_REF
    if network not in N.NETWORKS:
        raise DsfError(f"network = {network!r} is invalid: allowed one of "
                       f"{sorted(N.NETWORKS)} or a model file ending in .py")
    model = N.build(network, hw, bits=hw.X_BITS, input_size=input_size, seed=seed)
    return model, network, KRAKEN_REF.get(network) if input_size is None else None

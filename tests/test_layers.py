"""The package is layered: no import cycle, and no module imports a higher layer (function-level
imports included), so each layer can be understood, tested and changed from below."""
from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "dsf_sim"
LAYERS = {"errors": 0, "values": 0, "assets": 0, "frontend": 1, "compiler": 2, "runtime": 3, "models": 4,
          "rtl_bridge": 5, "flows": 6, "perf": 7, "api": 8, "sweep": 8,
          "cli": 8, "__init__": 8}


def _module(p: Path) -> str:
    rel = p.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(p: Path, mod: str):
    pkg = mod if p.name == "__init__.py" else mod.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(p.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [f"{target}.{a.name}" for a in node.names]
            yield from (names if not node.module or target.startswith("dsf_sim") else [target])
        elif isinstance(node, ast.Import):
            yield from (a.name for a in node.names)


def _graph():
    mods = {_module(p): p for p in PKG.rglob("*.py")}
    graph = {}
    for m, p in mods.items():
        deps = set()
        for t in _imports(p, m):
            while t and t not in mods:
                t = t.rsplit(".", 1)[0] if "." in t else ""
            if t and t != m and t.startswith("dsf_sim"):
                deps.add(t)
        graph[m] = deps
    return graph


def _layer(mod: str) -> int:
    parts = mod.split(".")
    return LAYERS["__init__"] if len(parts) == 1 else LAYERS[parts[1]]


def test_every_module_has_a_layer():
    for m in _graph():
        assert m == "dsf_sim" or m.split(".")[1] in LAYERS, m


def test_no_module_imports_a_higher_layer():
    bad = [(m, d) for m, deps in _graph().items() for d in deps
           if d != "dsf_sim" and _layer(d) > _layer(m)]
    assert not bad, "\n".join(f"{m} (layer {_layer(m)}) imports {d} (layer {_layer(d)})"
                              for m, d in bad)


def test_no_import_cycle():
    graph = _graph()
    state = {}

    def visit(m, stack):
        state[m] = "open"
        for d in graph[m]:
            if state.get(d) == "open":
                raise AssertionError("import cycle: " + " -> ".join(stack + [m, d]))
            if d not in state:
                visit(d, stack + [m])
        state[m] = "done"

    for m in graph:
        if m not in state:
            visit(m, [])


def test_twin_functions_are_short():
    """The twin stays readable next to the RTL: no function in dsf_sim/models over 120 lines."""
    long = []
    for p in (PKG / "models").rglob("*.py"):
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > 120:
                    long.append(f"{p.relative_to(PKG)}:{node.lineno} {node.name} ({n} lines)")
    assert not long, long

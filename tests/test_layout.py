"""The package's shape: phases import only phases below them, no import cycles, modules a person can
read in one sitting, and a CLI that starts without loading a model library."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "personatune"
# Lowest first: a module may import from its own layer and the layers before it, never after.
LAYERS = ["core", "data", "train", "persona", "runtime", "export", "eval", "cli"]
MAX_LINES = 400


def _layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) > 2 and parts[1] in LAYERS:
        return parts[1]
    return "cli" if module in ("personatune.cli", "personatune.__main__") else "core"


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """Every personatune module the file imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from pkg import mod` imports pkg.mod when it is a module, else a name from pkg
            names = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                     for a in node.names]
        else:
            continue
        found.update(n for n in names if n in modules)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(path, modules) - {name} for name, path in modules.items()}


def test_phases_import_only_the_phases_below_them():
    graph = _graph()
    upward = [f"{a} ({_layer(a)}) imports {b} ({_layer(b)})" for a, deps in sorted(graph.items()) for b in sorted(deps)
              if LAYERS.index(_layer(b)) > LAYERS.index(_layer(a))]
    assert upward == []


def test_no_import_cycles():
    graph = _graph()
    # Tarjan's strongly connected components: any component of two or more modules is a cycle.
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert cycles == []


def test_the_checker_sees_a_cycle_and_an_upward_import(tmp_path, monkeypatch):
    """The two checks above would pass on an empty graph; make sure they can fail."""
    pkg = tmp_path / "personatune"
    (pkg / "data").mkdir(parents=True)
    (pkg / "eval").mkdir()
    for init in (pkg / "__init__.py", pkg / "data" / "__init__.py", pkg / "eval" / "__init__.py"):
        init.write_text("")
    (pkg / "data" / "a.py").write_text("def f():\n    from personatune.eval import b\n")
    (pkg / "eval" / "b.py").write_text("from personatune.data.a import f\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", pkg)
    graph = _graph()
    assert graph["personatune.data.a"] == {"personatune.eval.b"}
    assert graph["personatune.eval.b"] == {"personatune.data.a"}
    assert _layer("personatune.eval.b") == "eval" and _layer("personatune.workspace") == "core"


def test_modules_stay_readable_in_one_sitting():
    long = {name: n for name, path in _modules().items()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}


def test_every_phase_says_what_it_reads_and_writes():
    for phase in LAYERS[1:-1]:
        doc = ast.get_docstring(ast.parse((PACKAGE / phase / "__init__.py").read_text(encoding="utf-8")))
        assert doc and "Reads" in doc and "writes" in doc, phase


def test_the_cli_starts_without_a_model_library():
    code = ("import sys, personatune.cli; "
            "print(sorted(m for m in ('torch', 'transformers', 'llama_cpp', 'onnx', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_every_personatune_import_resolves():
    """`from personatune.x import name` anywhere (src, tests, bench, tools), at the top or inside a
    function, names a module that exists and a name it defines."""
    import importlib

    root = PACKAGE.parents[1]
    missing = []
    for folder in ("src", "tests", "bench", "tools"):
        for path in sorted((root / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("personatune"):
                    module = importlib.import_module(node.module)
                    for alias in node.names:
                        if not hasattr(module, alias.name):
                            try:
                                importlib.import_module(f"{node.module}.{alias.name}")
                            except ModuleNotFoundError:
                                missing.append(f"{path.relative_to(root)}:{node.lineno} {node.module}.{alias.name}")
                elif isinstance(node, ast.Import):
                    for alias in node.names:
                        if alias.name.startswith("personatune"):
                            importlib.import_module(alias.name)
    assert missing == []

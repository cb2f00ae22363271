"""The package's layers: no import cycles, and imports point one way (function-local imports
included; a package's ``__init__`` re-exporting its own modules aside)."""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "quality_widgets"

# Lower rank = lower layer; a module may import only modules of its rank or below.
RANKS = {"errors": 0, "jsonsafe": 0, "data": 1, "frames": 2, "slicing": 2, "compute": 3,
         "evaluation": 4, "analysis": 5, "export": 5, "export_fixes": 5, "widgets": 6, "cli": 7,
         "__main__": 8}


def _modules() -> dict:
    mods = {}
    for file in PACKAGE.rglob("*.py"):
        parts = file.relative_to(PACKAGE.parent).with_suffix("").parts
        mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = file
    return mods


def _imports(mods: dict) -> dict:
    graph = {name: set() for name in mods}
    for name, file in mods.items():
        package = name if file.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(file.read_text())):
            targets = []
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                    base = ".".join(base + ([node.module] if node.module else []))
                elif (node.module or "").startswith("quality_widgets"):
                    base = node.module
                else:
                    continue
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base
                           for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names if a.name.startswith("quality_widgets")]
            for target in targets:
                while target not in mods and "." in target:
                    target = target.rsplit(".", 1)[0]
                # importing an ancestor package (its __version__, its lazy names) is no edge
                if target in mods and target != name and not name.startswith(target + "."):
                    graph[name].add(target)
    return graph


def _rank(module: str):
    parts = module.split(".")
    return RANKS.get(parts[1]) if len(parts) > 1 else None


def test_no_import_cycles():
    graph = _imports(_modules())
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(v):  # Tarjan's strongly connected components
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

    for v in graph:
        if v not in index:
            visit(v)
    assert cycles == []


def test_imports_point_down_the_layers():
    graph = _imports(_modules())
    upward = [(m, t) for m, targets in graph.items() for t in targets
              if _rank(m) is not None and _rank(t) is not None and _rank(t) > _rank(m)]
    assert upward == []


def test_every_module_has_a_layer():
    unranked = [m for m in _modules() if m != "quality_widgets" and _rank(m) is None]
    assert unranked == []


def test_no_command_modules_outside_cli():
    strays = [p.name for p in PACKAGE.rglob("*command*.py")]
    assert strays == []


@pytest.mark.parametrize("command", [["quality-widgets"],
                                     [sys.executable, "-m", "quality_widgets"]])
def test_help_lists_every_subcommand(command):
    exe = Path(sys.executable).parent / "quality-widgets"
    if command == ["quality-widgets"]:
        if not exe.exists():
            pytest.skip("the console script is not installed in this environment")
        command = [str(exe)]
    out = subprocess.run([*command, "--help"], capture_output=True, text=True, check=True).stdout
    for name in ("metrics", "evaluate", "hypothesis", "test-cases", "drift", "export", "demo"):
        assert f"    {name}" in out


def _compiled_kernels(tree) -> set:
    """Names compiled by numba: decorated with (n)jit, or passed to it as ``njit(...)(f)`` /
    ``_jit(f)`` (the modules compile lazily, so numba stays optional)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and any(
                "jit" in ast.unparse(d) for d in node.decorator_list):
            names.add(node.name)
        if isinstance(node, ast.Call) and "jit" in ast.unparse(node.func):
            names.update(a.id for a in node.args if isinstance(a, ast.Name))
    return names


def test_modules_and_functions_stay_small():
    """No library module over 500 lines, no function over 80 (compiled kernels excepted: one
    loop nest is clearer whole than split across calls numba must inline)."""
    too_long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text()
        name = path.relative_to(PACKAGE.parent)
        if len(text.splitlines()) > 500:
            too_long.append(f"{name}: {len(text.splitlines())} lines")
        tree = ast.parse(text)
        kernels = _compiled_kernels(tree)
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and \
                    node.name not in kernels and node.end_lineno - node.lineno + 1 > 80:
                too_long.append(f"{name}:{node.lineno} {node.name}: "
                                f"{node.end_lineno - node.lineno + 1} lines")
    assert not too_long, "\n".join(too_long)

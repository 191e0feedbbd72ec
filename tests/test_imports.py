"""The package's imports run one way, downward through its floors (kerasgp/README.md, "Architecture"), and
no module imports another that imports it back, at module level or inside a function. Reads the source
only (ast): nothing is imported."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "kerasgp"

# Floors, lowest first: a module may import its own floor and those below. The longest matching prefix
# names a module's floor. deploy.bench and deploy.runtime (numpy and an interpreter only, what a board
# runs) sit on the ground floor although their folder is higher up: deploy/__init__ imports nothing eagerly.
FLOORS = [
    ("kerasgp", "kerasgp.machine", "kerasgp.results", "kerasgp._preload", "kerasgp.metrics", "kerasgp.deploy",
     "kerasgp.deploy.bench", "kerasgp.deploy.runtime", "kerasgp.deploy.report"),
    ("kerasgp.data",),
    ("kerasgp.layers", "kerasgp.weights"),
    ("kerasgp.backbones",),
    ("kerasgp.pose", "kerasgp.reference"),
    ("kerasgp.analysis",),
    ("kerasgp.deploy.tflite", "kerasgp.deploy.calibration", "kerasgp.deploy.arm", "kerasgp.deploy.replay"),
    ("kerasgp.experiments", "kerasgp.exercises", "kerasgp.viz"),
    ("kerasgp.cli", "kerasgp.__main__"),
]


def _modules() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


MODULES = _modules()


def floor(module: str) -> int:
    best, level = "", None
    for i, prefixes in enumerate(FLOORS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > len(best):
                best, level = prefix, i
    return level


def imports(module: str) -> list[tuple[str, int, bool]]:
    """(imported kerasgp module, line, inside a function) for every import statement of `module`."""
    path = MODULES[module]
    tree = ast.parse(path.read_text())
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    in_function = {id(node) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                   for node in ast.walk(f)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [f"{target}.{a.name}" if f"{target}.{a.name}" in MODULES else target for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for name in dict.fromkeys(names):
            if name.split(".")[0] == "kerasgp" and name != module:
                found.append((name, node.lineno, id(node) in in_function))
    return found


def test_every_module_has_a_floor():
    assert [m for m in MODULES if floor(m) is None] == []


def test_no_module_imports_upward():
    upward = [f"{m}:{line} imports {target} (floor {floor(target)} above {floor(m)})"
              for m in MODULES for target, line, _ in imports(m) if floor(target) > floor(m)]
    assert upward == []


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
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
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def _package_of(module: str) -> str:
    return module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]


def test_no_import_cycle_between_modules():
    # A package's __init__ re-exporting its own modules is no cycle: those edges are left out.
    edges = {m: {t for t, _, _ in imports(m) if t in MODULES and not (MODULES[m].name == "__init__.py"
                                                                       and _package_of(t).startswith(m))}
             for m in MODULES}
    assert _cycles(edges) == []


def test_the_check_sees_an_upward_import_and_a_cycle():
    # the checks themselves: a lower module importing a higher one, and two modules importing each other
    assert floor("kerasgp.layers.conv") < floor("kerasgp.backbones.common") < floor("kerasgp.experiments.runner")
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []

"""The shape of the code, checked: small functions, one class per name, no private imports across modules, no
import circles, TensorFlow-free result types, and pages that read results by their properties."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from .conftest import ROOT

PACKAGES = ("cnnviz", "app")
MAX_PARAMETERS, MAX_LINES = 8, 80


def _modules() -> dict[str, tuple[Path, ast.Module]]:
    out = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            out[name] = (path, ast.parse(path.read_text(), str(path)))
    return out


MODULES = _modules()


def _functions():
    for name, (path, tree) in MODULES.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                yield name, path, node


def test_no_function_takes_more_than_8_parameters_or_runs_over_80_lines():
    too_many, too_long = [], []
    for name, _, fn in _functions():
        a = fn.args
        params = [p.arg for p in (*a.posonlyargs, *a.args, *a.kwonlyargs) if p.arg not in ("self", "cls")]
        params += [p.arg for p in (a.vararg, a.kwarg) if p is not None]
        if len(params) > MAX_PARAMETERS:
            too_many.append(f"{name}.{fn.name}: {len(params)}")
        lines = fn.end_lineno - fn.lineno + 1
        if lines > MAX_LINES:
            too_long.append(f"{name}.{fn.name}: {lines}")
    assert not too_many, f"over {MAX_PARAMETERS} parameters: {too_many}"
    assert not too_long, f"over {MAX_LINES} lines: {too_long}"


def test_no_class_is_defined_twice_under_one_name():
    where = defaultdict(list)
    for name, (_, tree) in MODULES.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                where[node.name].append(name)
    twice = {k: v for k, v in where.items() if len(v) > 1}
    assert not twice, twice


def _resolve(module: str, node: ast.ImportFrom) -> str:
    """The absolute module an ``from ... import`` names."""
    if not node.level:
        return node.module or ""
    base = module.split(".")
    is_package = MODULES[module][0].name == "__init__.py"
    base = base if is_package else base[:-1]
    base = base[:len(base) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def _imports() -> dict[str, set[str]]:
    """Every module's imports of the project's own modules (at any depth of the code: function-level too)."""
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for module, (_, tree) in MODULES.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                target = _resolve(module, node)
                names = [f"{target}.{a.name}" for a in node.names]
                graph[module] |= {n for n in names if n in MODULES} | ({target} if target in MODULES else set())
                graph[module].discard(module)
            elif isinstance(node, ast.Import):
                graph[module] |= {a.name for a in node.names if a.name in MODULES}
    return graph


def test_no_module_imports_another_modules_private_names():
    found = []
    for module, (_, tree) in MODULES.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                target = _resolve(module, node)
                found += [f"{module}: from {target} import {a.name}" for a in node.names
                          if a.name.startswith("_") and target != module and not a.name.startswith("__")]
    assert not found, found


def test_no_import_circle():
    graph = _imports()
    circles = []

    def visit(node: str, path: list[str], seen: set[str]) -> None:
        for nxt in sorted(graph[node]):
            if nxt == path[0]:
                circles.append(" -> ".join([*path, nxt]))
            elif nxt not in seen and nxt > path[0]:  # each circle once, from its smallest module
                seen.add(nxt)
                visit(nxt, [*path, nxt], seen)

    for start in sorted(graph):
        visit(start, [start], {start})
    # a package importing its own submodules (for its public face) is no circle of modules
    circles = [c for c in circles if not any(c.split(" -> ")[i + 1].startswith(c.split(" -> ")[i] + ".")
                                             for i in range(len(c.split(" -> ")) - 1))]
    assert not circles, circles


@pytest.mark.parametrize("modules", [
    ["cnnviz.search", "cnnviz.results", "cnnviz.errors", "cnnviz.stats", "cnnviz.catalog", "cnnviz.noise"],
    ["app.requests", "app.engine.results", "app.engine.protocol", "app.engine.client", "app.jobs", "app.shell"],
    ["cnnviz.cli"],
], ids=["engine-types", "web-side", "cli-parser"])
def test_result_types_and_the_web_side_load_without_tensorflow(modules):
    code = "import sys\n" + "".join(f"import {m}\n" for m in modules) + \
        "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')]\nassert not bad, bad[:5]\n"
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]


RESULT_NAMES = {"res", "result", "r", "run", "s", "summary", "h", "e"}


def test_pages_read_results_by_their_properties_not_by_string_keys():
    """No ``res["images"]`` or ``res.summary()["candidate"]`` in the pages: a typo there would be a KeyError at
    run time (a fault shown as one), while a misspelt property fails the type check and the tests."""
    found = []
    for module, (_, tree) in MODULES.items():
        if not (module.startswith("app.pages") or module in ("app.insight_views", "app.jobs")):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) \
                    and isinstance(node.slice.value, str):
                value = node.value
                named = isinstance(value, ast.Name) and value.id in RESULT_NAMES
                summary = isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) \
                    and value.func.attr in ("summary", "rows", "dead_statistics")
                if named or summary:
                    found.append(f"{module}:{node.lineno}: {ast.unparse(node)}")
    assert not found, found

"""Structure of the code (issue 16, STYLE): no import cycles, data flowing one way between the
stage packages, Optuna only where it belongs, and importing any module changes no process-wide
state (Optuna's log level, warning filters).

The import graph is read statically (`ast`): every `import` / `from … import` of a module of
`ador_opt`, at module level *and* inside functions (a lazy import only hides a cycle), except
under `if TYPE_CHECKING:`. `from pkg import name` depends on `pkg/__init__` only when `name` is
not itself a submodule.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import ROOT

PACKAGE = ROOT / "ador_opt"
# Modules that may import Optuna (STYLE: "Optuna only in explore/ and report/").
OPTUNA_PACKAGES = {"explore", "report"}


def _modules() -> dict[str, Path]:
    mods = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = path
    return mods


MODULES = _modules()


def _imports(body: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from _imports(node.orelse)
        else:
            for field in ("body", "orelse", "finalbody", "handlers", "cases"):
                for sub in getattr(node, field, None) or []:
                    if isinstance(sub, ast.stmt):
                        yield from _imports([sub])
                    elif hasattr(sub, "body"):  # except handlers, match cases
                        yield from _imports(sub.body)


def _targets(module: str, node: ast.Import | ast.ImportFrom, is_package: bool) -> set[str]:
    if isinstance(node, ast.Import):
        return {a.name for a in node.names}
    base = node.module or ""
    if node.level:
        parts = module.split(".")
        if not is_package:
            parts = parts[:-1]
        parts = parts[: len(parts) - (node.level - 1)]
        base = ".".join([*parts, base] if base else parts)
    subs = {f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in MODULES}
    return subs | ({base} if len(subs) < len(node.names) else set())


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        is_package = path.name == "__init__.py"
        found: set[str] = set()
        for node in _imports(tree.body):
            found |= _targets(module, node, is_package)
        graph[module] = {t for t in found if t in MODULES and t != module}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_the_checker_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_between_modules() -> None:
    graph = import_graph()
    assert len(graph) > 50 and graph["ador_opt.perf.hda"]  # the graph was read
    assert cycles(graph) == []


def test_stage_packages_depend_one_way() -> None:
    graph = import_graph()
    packages: dict[str, set[str]] = {}
    for module, targets in graph.items():
        deps = packages.setdefault(_package(module), set())
        deps |= {_package(t) for t in targets if _package(t) != _package(module)}
    assert cycles(packages) == []
    # Nothing below the CLI imports it, and the report reads what the search wrote, not back.
    above = {"cli", "__main__"}
    assert all("cli" not in deps for pkg, deps in packages.items() if pkg not in above)
    assert "report" not in packages["explore"]


def test_optuna_only_in_explore_and_report() -> None:
    users = set()
    for module, path in MODULES.items():
        for node in _imports(ast.parse(path.read_text(encoding="utf-8")).body):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module]
            if any((n or "").split(".")[0] in {"optuna", "optuna_dashboard"} for n in names):
                users.add(_package(module))
    assert users and users <= OPTUNA_PACKAGES, users


IMPORT_ALL = """
import importlib, json, sys, warnings
import optuna
import plotly.offline  # third-party: plotly.tools adds a DeprecationWarning filter at import
level = optuna.logging.get_verbosity()
filters = list(warnings.filters)
failed = []
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except Exception as exc:  # a module that cannot be imported on its own
        failed.append(f"{name}: {type(exc).__name__}: {exc}")
print(json.dumps({"failed": failed, "level_same": optuna.logging.get_verbosity() == level,
                  "filters_same": list(warnings.filters) == filters}))
"""


def test_every_module_imports_alone_and_sets_no_process_state() -> None:
    """Each module imports (in a fresh interpreter, all of them), and importing them changes
    neither Optuna's log level nor the warning filters (a library must not)."""
    names = sorted(MODULES, key=lambda m: (m.count("."), m))
    names = [n for n in names if n != "ador_opt.__main__"]  # runs the CLI
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_ALL, *names],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout.strip().splitlines()[-1])
    assert doc == {"failed": [], "level_same": True, "filters_same": True}

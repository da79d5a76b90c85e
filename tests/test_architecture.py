"""The layers of the design, checked on the source: who imports whom, and how big a module is.

The import graph is read with ``ast`` from every ``import`` statement of the project's packages,
including those inside functions (a function-local import still ties two modules together; it
only hides the tie from the interpreter at start-up).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("kintwin_cli", "converters", "policies")
LIBRARIES = ("converters", "policies")
MAX_LINES = 800

# Library modules known to be over MAX_LINES, each being split (issue 14). The lead empties this
# list once the splits land; any module not listed here fails the size test.
OVERSIZED_ALLOWED: set[str] = set()


def _modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the project's packages."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def _imported(module: str, path: Path, known: set[str]) -> set[str]:
    """The project modules ``module`` imports anywhere in its file (the deepest module each
    statement names: ``from a.b import c`` is ``a.b.c`` when that is a module, else ``a.b``)."""
    is_package = path.name == "__init__.py"
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package this module is in (or is)
                package = module.split(".")
                package = package if is_package else package[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join([*package, base] if base else package)
            for alias in node.names:
                names.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    found = set()
    for name in names:
        while name and name not in known:  # `import a.b.c` of a name inside a module
            name = name.rpartition(".")[0]
        if name and name != module:
            found.add(name)
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imported(name, path, set(modules)) for name, path in modules.items()}


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (a list of modules starting and ending with the same one), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_graph_sees_function_local_imports(graph):
    """The reader finds imports inside functions and relative imports (or the checks below
    could pass by not looking)."""
    assert "policies.train" in graph["kintwin_cli.commands.train"]  # inside the command body
    assert "converters.version" in graph["kintwin_cli"]
    assert {"policies.agent", "policies.checkpoint", "policies.ppo"} <= graph["policies.train"]


def test_cycle_finder_reports_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set()}
    assert _find_cycle(graph) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": set()}) is None


def test_nothing_outside_the_cli_imports_it(graph):
    offenders = sorted(
        f"{module} imports {target}"
        for module, targets in graph.items()
        if not module.startswith("kintwin_cli")
        for target in targets
        if target.split(".")[0] == "kintwin_cli"
    )
    assert not offenders, "libraries must not import kintwin_cli: " + "; ".join(offenders)


def test_libraries_import_only_layers_below(graph):
    """kintwin_cli -> policies -> converters: converters never import policies."""
    offenders = sorted(
        f"{module} imports {target}"
        for module, targets in graph.items()
        if module.startswith("converters")
        for target in targets
        if target.startswith("policies")
    )
    assert not offenders, "; ".join(offenders)


def test_no_import_cycle(graph):
    cycle = _find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_no_library_module_over_the_size_limit():
    sizes = {
        path.relative_to(REPO).as_posix(): len(path.read_text().splitlines())
        for package in LIBRARIES
        for path in (REPO / package).rglob("*.py")
    }
    over = {name: n for name, n in sizes.items() if n > MAX_LINES}
    new = sorted(f"{name} ({n} lines)" for name, n in over.items() if name not in OVERSIZED_ALLOWED)
    assert not new, f"library modules over {MAX_LINES} lines (split by concept): {new}"
    stale = sorted(OVERSIZED_ALLOWED - set(over))
    assert not stale, f"no longer over {MAX_LINES} lines: drop {stale} from OVERSIZED_ALLOWED"

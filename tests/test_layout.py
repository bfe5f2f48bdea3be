"""The house rules of docs/architecture.rst, read from the code's own imports (every ``import`` statement,
also those inside functions; those under ``if TYPE_CHECKING:`` are left out, as they never run)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "galzoo_fm"
MAX_LINES = 600
MAX_TOP_MODULES = 8
#: folder -> folders (or top-level modules) it must never import. A stage may import an earlier stage's
#: vocabulary (preprocess reads the surveys' default table), never a later stage or an orchestrator.
NEVER = {
    "surveys": {"embedding", "training", "datasets", "explore", "cli", "images"},
    "images": {"embedding", "training", "datasets", "explore", "cli", "store", "models", "preprocess", "fetch"},
    "store": {"embedding", "training", "datasets", "explore", "cli", "surveys"},
    "models": {"embedding", "training", "datasets", "explore", "cli", "surveys", "store"},
    "_utils": {"embedding", "training", "datasets", "explore", "cli", "surveys", "store", "models", "losses",
               "schemas", "preprocess", "catalog", "fetch"},
    "cutout": {"*"},
    "preprocess": {"embedding", "training", "datasets", "explore", "cli", "store", "models"},
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """The package modules that ``path`` imports (a ``from a import b`` of a submodule ``b`` names ``a.b``)."""
    tree = ast.parse(path.read_text(), str(path))
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            skip.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in modules else node.module
                     for alias in node.names]
        else:
            continue
        found.update(n for n in names if n in modules)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(path, modules) - {name} for name, path in modules.items()}


def _room(module: str) -> str:
    """The folder (or top-level module) of ``galzoo_fm.<room>...``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
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

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_circle_between_files():
    assert _cycles(_graph()) == []


def test_no_import_circle_between_folders():
    rooms: dict[str, set[str]] = {}
    for module, imported in _graph().items():
        if _room(module) in ("__init__", "__main__"):
            continue  # the face and the entry point sit above everything
        rooms.setdefault(_room(module), set()).update(_room(m) for m in imported)
    rooms = {room: targets - {room, "__init__"} for room, targets in rooms.items()}
    assert _cycles(rooms) == []


@pytest.mark.parametrize("room", sorted(NEVER))
def test_arrows_run_one_way(room):
    forbidden = NEVER[room]
    wrong = sorted(
        f"{module} -> {target}"
        for module, imported in _graph().items() if _room(module) == room
        for target in imported
        if _room(target) != room and ("*" in forbidden or _room(target) in forbidden))
    assert wrong == []


def test_the_top_level_is_small_and_files_are_short():
    top = sorted(p.name for p in PACKAGE.glob("*.py") if p.name not in ("__init__.py", "__main__.py"))
    assert len(top) <= MAX_TOP_MODULES, top
    long = sorted(f"{p.relative_to(PACKAGE)}: {n}" for p in PACKAGE.rglob("*.py")
                  if (n := len(p.read_text().splitlines())) > MAX_LINES)
    assert long == []


def test_the_graph_reader_sees_imports_inside_functions(tmp_path):
    """The rules above would pass vacuously if function-level imports were missed."""
    graph = _graph()
    assert "galzoo_fm.embedding.pipeline" in graph["galzoo_fm.cli"] or any(
        "galzoo_fm.embedding" in targets for name, targets in graph.items() if name.startswith("galzoo_fm.cli"))
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_nothing_inside_imports_the_package_face():
    """``galzoo_fm/__init__.py`` hands names on to users; the package itself imports where they live."""
    importers = sorted(module for module, imported in _graph().items()
                       if "galzoo_fm" in imported and module != "galzoo_fm")
    assert importers == []

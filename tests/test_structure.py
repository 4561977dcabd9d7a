"""The package's layout: public paths that keep working, and the rules of its rooms.

Every dotted path the docs, README and the public-surface list show a user must
resolve; the modules that moved still import from their old paths (with a
``DeprecationWarning``); no two modules import each other in a loop (imports
inside functions count, only ``if TYPE_CHECKING:`` ones do not); no module is
over 450 lines; at most 16 modules stand at the top of the package.
"""

from __future__ import annotations

import ast
import importlib
import re
import warnings
from pathlib import Path

import pytest

import django_sepsms

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "django_sepsms"
DOTTED = re.compile(r"\bdjango_sepsms(?:\.[A-Za-z_]\w*)+")
#: Dotted names the docs show that are logger names, not import paths.
LOGGERS = {"django_sepsms.http"}


def _documented_paths() -> set[str]:
    texts = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.rst"))]
    spec = ROOT.parent / "shared" / "spec" / "public-api.md"
    if spec.exists():
        texts.append(spec)
    found: set[str] = set()
    for path in texts:
        found.update(DOTTED.findall(path.read_text(encoding="utf-8")))
    return found - LOGGERS


def _resolve(dotted: str) -> object:
    """Import the longest module prefix of ``dotted``, then walk its attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for name in parts[cut:]:
            obj = getattr(obj, name)
        return obj
    raise ModuleNotFoundError(dotted)


@pytest.mark.parametrize("dotted", sorted(_documented_paths()))
def test_every_documented_path_resolves(dotted: str) -> None:
    old = any(dotted == m or dotted.startswith(m + ".") for m in django_sepsms.MOVED_MODULES)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore" if old else "error", DeprecationWarning)
        assert _resolve(dotted) is not None


@pytest.mark.parametrize("old", sorted(django_sepsms.MOVED_MODULES))
def test_a_moved_module_imports_from_its_old_path_with_a_warning(old: str) -> None:
    import sys

    sys.modules.pop(old, None)
    new = importlib.import_module(django_sepsms.MOVED_MODULES[old])
    with pytest.warns(DeprecationWarning, match=re.escape(f"{old} moved to {new.__name__}")):
        module = importlib.import_module(old)
    public = [name for name in vars(new) if not name.startswith("_")]
    assert public
    for name in public:
        assert getattr(module, name) is getattr(new, name)


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(name: str, path: Path, modules: set[str]) -> set[str]:
    """The package's modules that ``name`` imports, anywhere but under TYPE_CHECKING."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def add(target: str) -> None:
        while target and target not in modules:
            target = target.rpartition(".")[0]
        if target and target != name:
            found.add(target)

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for branch in node.orelse:
                visit(branch)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                item = stack.pop()
                group.append(item)
                if item == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in graph:
        if node not in index:
            connect(node)
    return groups


def test_no_module_imports_itself_back() -> None:
    modules = _modules()
    graph = {name: _imports(name, path, set(modules)) for name, path in modules.items()}
    # A package's __init__ only hands its modules' names on: an arrow from a
    # module to its own package's face is no loop of code.
    for name, targets in graph.items():
        targets.difference_update(p for p in list(targets) if name.startswith(p + "."))
    assert _cycles(graph) == []


def test_no_module_is_over_450_lines() -> None:
    long = {
        name: n
        for name, path in _modules().items()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > 450
    }
    assert long == {}


def test_at_most_16_modules_at_the_top() -> None:
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= 16, top

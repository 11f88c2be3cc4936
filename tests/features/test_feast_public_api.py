"""No module uses a private name of Feast's: a Feast upgrade cannot break it unseen."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

FEATURES = Path(__file__).resolve().parents[2] / "features"
# Underscored, but public API: namedtuple's methods.
PUBLIC_UNDERSCORED = frozenset({"_asdict", "_fields", "_field_defaults", "_make", "_replace"})


def _private(name: str) -> bool:
    """Return whether a name is private (underscored, not a dunder, not namedtuple API)."""
    return name.startswith("_") and not name.startswith("__") and name not in PUBLIC_UNDERSCORED


def _own_attributes(tree: ast.Module) -> dict[str, tuple[set[str], list[str]]]:
    """Return, per class, the names it defines itself and the names of its bases."""
    classes: dict[str, tuple[set[str], list[str]]] = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.ClassDef):
            continue
        names: set[str] = set()
        for child in ast.walk(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) and child in node.body:
                names.add(child.name)
            elif isinstance(child, ast.Attribute) and isinstance(child.ctx, ast.Store):
                names.add(child.attr)
            elif isinstance(child, ast.Name) and isinstance(child.ctx, ast.Store):
                names.add(child.id)
        bases = [b.id if isinstance(b, ast.Name) else ast.unparse(b) for b in node.bases]
        classes[node.name] = (names, bases)
    return classes


def private_uses(sources: dict[str, str]) -> list[str]:
    """Return every private name the sources take from Feast (or from anything not their own).

    Without types an object's origin is unknown, so any `_name` read off anything
    but `self`/`cls` counts, and so does a `self._name` that neither the class nor
    one of our own classes it derives from defines: it would be inherited from
    Feast's `OnlineStore`.
    """
    trees = {path: ast.parse(source) for path, source in sources.items()}
    classes: dict[str, tuple[set[str], list[str]]] = {}
    for tree in trees.values():
        classes.update(_own_attributes(tree))

    def defined(name: str, seen: frozenset[str] = frozenset()) -> set[str]:
        """Return the names a class or one of our classes it derives from defines."""
        own, bases = classes.get(name, (set(), []))
        names = set(own)
        for base in bases:
            if base in classes and base not in seen:
                names |= defined(base, seen | {name})
        return names

    found: list[str] = []
    for path, tree in trees.items():
        for node in ast.walk(tree):
            where = f"{path}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("feast"):
                modules = (node.module or "").split(".")
                found += [
                    f"{where} {node.module}.{a.name}"
                    for a in node.names
                    if _private(a.name) or any(map(_private, modules))
                ]
            elif isinstance(node, ast.Import):
                found += [
                    f"{where} {a.name}"
                    for a in node.names
                    if a.name.startswith("feast") and any(map(_private, a.name.split(".")))
                ]
            elif isinstance(node, ast.Attribute) and _private(node.attr):
                receiver = node.value
                if not (isinstance(receiver, ast.Name) and receiver.id in ("self", "cls")):
                    found.append(f"{where} {ast.unparse(node)}")
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ("getattr", "hasattr", "setattr")
                and len(node.args) > 1
                and isinstance(node.args[1], ast.Constant)
                and isinstance(node.args[1].value, str)
                and _private(node.args[1].value)
            ):
                found.append(f"{where} {ast.unparse(node)}")
        for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
            names = defined(cls.name)
            for node in ast.walk(cls):
                if (
                    isinstance(node, ast.Attribute)
                    and isinstance(node.value, ast.Name)
                    and node.value.id == "self"
                    and _private(node.attr)
                    and node.attr not in names
                ):
                    found.append(f"{path}:{node.lineno} inherited self.{node.attr}")
    return found


def _imports_feast(source: str) -> bool:
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import) and any(
            a.name.split(".")[0] == "feast" for a in node.names
        ):
            return True
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "feast":
            return True
    return False


def test_no_module_that_imports_feast_uses_a_private_name() -> None:
    # Only `features` may import Feast (an import-linter contract holds the rest to it).
    root = FEATURES.parent
    folders = ("features", "models", "explain", "training", "service", "benchmarks")
    sources = {
        str(path.relative_to(root)): path.read_text()
        for folder in folders
        for path in sorted((root / folder).rglob("*.py"))
    }
    with_feast = {path: source for path, source in sources.items() if _imports_feast(source)}
    assert len(with_feast) > 5 and "features/state_stores.py" in with_feast
    assert all(path.startswith("features/") for path in with_feast)
    assert private_uses(with_feast) == []


@pytest.mark.parametrize(
    "source",
    [
        "from feast.infra.online_stores.helpers import _mmh3",
        "from feast.infra.online_stores.sqlite import _quote_id as quote",
        "from feast.infra._internal import thing",
        "import feast.infra._internal",
        "def f(store):\n    return store._get_provider().online_store",
        "def f(online_store, config):\n    return online_store._get_db_path(config)",
        "import feast\nfeast.utils._get_unique_entities",
        "def f(store):\n    return getattr(store, '_provider')",
        "from feast.infra.online_stores.online_store import OnlineStore\n"
        "class S(OnlineStore):\n    def f(self, refs):\n"
        "        self._check_versioned_read_support(refs)",
    ],
)
def test_each_private_use_is_caught(source: str) -> None:
    assert private_uses({"snippet.py": source})


def test_a_class_may_use_its_own_and_its_own_bases_private_names() -> None:
    source = (
        "class A:\n    def __init__(self):\n        self._x = 1\n"
        "class B(A):\n    def f(self):\n        return self._x + self._g()\n"
        "    def _g(self):\n        return 2\n"
        "def h(row):\n    return row._replace(a=1)\n"
    )
    assert private_uses({"snippet.py": source}) == []

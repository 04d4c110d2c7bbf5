"""A migration is frozen in time: it imports none of the application's code, whose rules move on
after it was written (what it needs, it keeps a copy of)."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from domain import media_refs
from tests.conftest import REPO_ROOT

VERSIONS = REPO_ROOT / "migrations" / "versions"
REVISIONS = sorted(path for path in VERSIONS.glob("*.py") if path.name != "__init__.py")
APPLICATION = frozenset({"app", "domain", "eventstore", "workers", "workflows"})


def _imported(tree: ast.AST) -> list[str]:
    """Every module the code imports, ``importlib.import_module("…")`` and ``__import__`` included;
    a relative import as ``.name``."""
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.append("." * node.level + (node.module or ""))
        elif (
            isinstance(node, ast.Call)
            and (
                (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
                or (isinstance(node.func, ast.Name) and node.func.id in ("__import__", "import_module"))
            )
            and node.args
        ):
            first = node.args[0]
            found.append(first.value if isinstance(first, ast.Constant) else "<computed>")
    return found


def test_the_import_check_sees_every_kind_of_import() -> None:
    tree = ast.parse(
        "import domain.media_refs\n"
        "from app.projections import tables\n"
        "from . import sibling\n"
        "def f():\n"
        "    import importlib\n"
        "    importlib.import_module('eventstore.base')\n"
        "    __import__(name)\n"
    )
    assert _imported(tree) == [
        "domain.media_refs",
        "app.projections",
        ".",
        "importlib",
        "eventstore.base",
        "<computed>",
    ]


def test_there_are_revisions_to_check() -> None:
    assert [path.name[:4] for path in REVISIONS] == [f"{n:04d}" for n in range(1, len(REVISIONS) + 1)]
    assert len(REVISIONS) >= 6


@pytest.mark.parametrize("path", REVISIONS, ids=lambda path: path.name)
def test_a_migration_imports_nothing_of_the_application(path: Path) -> None:
    imported = _imported(ast.parse(path.read_text(), filename=str(path)))
    offending = [
        name
        for name in imported
        if name.startswith(".") or name == "<computed>" or name.split(".")[0] in APPLICATION
    ]
    assert offending == [], (
        f"{path.name} imports {offending}: a migration must not use live code, which changes after it "
        "was written; copy into it what it needs, as it is now"
    )


def _revision(name: str) -> ModuleType:
    path = next(path for path in REVISIONS if path.name.startswith(name))
    spec = importlib.util.spec_from_file_location(f"_revision_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_media_references_backfill_keeps_the_rules_of_the_events_it_can_meet() -> None:
    """0003 fills ``media_references`` by its own copy of the rules of its day. The rules have grown
    since only for verbs that came later (a database at 0002 holds none of their events); were a
    verb 0003 knows ever to change its rule, its backfill would no longer match the projection,
    and a later migration would have to fill the table again."""
    frozen = _revision("0003")
    for verb, paths in frozen.MEDIA_FIELDS.items():
        assert media_refs.MEDIA_FIELDS[verb] == paths, verb
    assert frozen.RELEASING_VERBS == media_refs.RELEASING_VERBS
    assert frozen.RELEASED == media_refs.RELEASED
    assert not set(frozen.MEDIA_FIELDS) & media_refs.REPLACING_VERBS

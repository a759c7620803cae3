"""The import rule of docs/design.md: imports point down, and only adapters know a platform."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.backend_free

ROOT = Path(__file__).resolve().parent.parent / "bot"
PLATFORM_LIBS = {"discord", "telegram"}
HEAVY_LIBS = {"stripe", "sklearn"}

# package -> top-level modules it must never import
FORBIDDEN: dict[str, set[str]] = {
    "core": PLATFORM_LIBS | HEAVY_LIBS | {"bot.adapters", "bot.cogs", "bot.web", "bot.runtime"},
    "store": PLATFORM_LIBS | HEAVY_LIBS | {"bot.core", "bot.adapters", "bot.cogs", "bot.web"},
    "cogs": PLATFORM_LIBS | {"bot.adapters", "bot.web", "bot.runtime"},
    "recommend": PLATFORM_LIBS | {"bot.adapters", "bot.cogs", "bot.web"},
    # The web app reads the store only through cog APIs (the dashboard included).
    "web": PLATFORM_LIBS | {"stripe", "bot.adapters", "bot.runtime", "bot.store.tables"},
}


def imported_modules(path: Path) -> set[str]:
    """Return every module a file imports, at any depth in the file."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def violations(package: str) -> list[str]:
    """Return ``file: module`` for each forbidden import in ``bot/<package>``."""
    bad = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for module in imported_modules(path):
            for banned in FORBIDDEN[package]:
                if module == banned or module.startswith(banned + "."):
                    bad.append(f"{path.relative_to(ROOT.parent)}: {module}")
    return bad


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_point_down(package: str) -> None:
    assert violations(package) == []


STRIPE_GATEWAY = "bot/cogs/gating/_stripe.py"


def test_only_the_stripe_gateway_imports_stripe() -> None:
    importers = sorted(
        str(path.relative_to(ROOT.parent))
        for path in ROOT.rglob("*.py")
        if any(m == "stripe" or m.startswith("stripe.") for m in imported_modules(path))
    )
    assert importers == [STRIPE_GATEWAY]


def test_the_rule_catches_a_violation(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from telegram import Bot\n    import sklearn.linear_model\n")
    assert imported_modules(sample) == {"telegram", "sklearn.linear_model"}


def module_graph() -> dict[str, set[str]]:
    """Return each ``bot`` module's imports of other ``bot`` modules, type-only ones included."""
    graph: dict[str, set[str]] = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        graph[name] = {m for m in imported_modules(path) if m.startswith("bot.")}
    return graph


def reaches(graph: dict[str, set[str]], start: str, goal: str) -> list[str]:
    """Return a chain of imports from ``start`` to ``goal``, or an empty list."""
    paths = {start: [start]}
    todo = [start]
    while todo:
        here = todo.pop()
        for there in sorted(graph.get(here, ())):
            if there == goal:
                return [*paths[here], there]
            if there not in paths:
                paths[there] = [*paths[here], there]
                todo.append(there)
    return []


@pytest.mark.parametrize(
    "module", ["bot.core.cohort", "bot.core.dispatch", "bot.core.context", "bot.core.services"]
)
def test_nothing_the_cohort_imports_imports_it_back(module: str) -> None:
    """Handlers and the dispatcher see ``Services``, so ``Cohort`` closes no circle."""
    graph = module_graph()
    assert all(reaches(graph, start, "bot.core.cohort") == [] for start in graph[module])


def test_the_circle_check_finds_a_circle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"c"}}
    assert reaches(graph, "b", "a") == ["b", "c", "a"]
    assert reaches(graph, "a", "d") == []

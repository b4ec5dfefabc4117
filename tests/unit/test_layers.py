"""Dependency direction (docs/architecture.md): checked on the source, not on trust."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).parents[2] / "src" / "keliu"

# package -> keliu modules it may import (prefixes)
ALLOWED = {
    "domain": ("keliu.domain",),
    "vision": ("keliu.domain", "keliu.vision", "keliu.errors"),
    "evaluation": ("keliu.domain", "keliu.evaluation"),
    "models": ("keliu.models", "keliu.errors", "keliu.paths"),
    "store": ("keliu.domain", "keliu.store", "keliu.errors", "keliu.paths"),
    "resolve": ("keliu.domain", "keliu.resolve"),
    "analytics": ("keliu.domain", "keliu.analytics", "keliu.store", "keliu.errors", "keliu.paths"),
    # the simulated demo chain and its loader (keliu demo seed, make run, benchmarks)
    "demo": ("keliu.domain", "keliu.analytics", "keliu.store", "keliu.errors", "keliu.paths", "keliu.demo"),
    # cameras, event bus, supervisor, resolution workers: never the CLI, the service or processing
    "runtime": (
        "keliu.domain",
        "keliu.vision",
        "keliu.resolve",
        "keliu.store",
        "keliu.runtime",
        "keliu.config",
        "keliu.wiring",
        "keliu.errors",
    ),
}

# package -> keliu packages it must never import, whatever its allowed list grows to. A rule naming
# a package that does not exist yet (``service``, ``ui``) holds from the day it appears.
FORBIDDEN = {
    # the demo simulator lives in keliu.demo; the product's analytics never need it, nor a runtime,
    # a web service, a user interface or the command line
    "analytics": ("keliu.demo", "keliu.runtime", "keliu.service", "keliu.ui", "keliu.cli"),
    "vision": ("keliu.runtime", "keliu.service"),
    "resolve": ("keliu.runtime", "keliu.service"),
    "runtime": ("keliu.service", "keliu.cli", "keliu.ui"),
    "store": ("keliu.runtime", "keliu.service"),
    # the web UI reads through the REST API only (keliu.ui.api): no second path to the data
    "ui": ("keliu.store", "keliu.analytics", "keliu.runtime", "keliu.resolve", "keliu.vision", "keliu.demo"),
}


def keliu_imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.startswith("keliu"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("keliu"):
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_what_its_layer_allows(package: str) -> None:
    files = sorted((SRC / package).rglob("*.py"))
    assert files, f"no modules in {package}"
    for path in files:
        bad = {n for n in keliu_imports(path) if not n.startswith(ALLOWED[package])}
        assert not bad, f"{path.relative_to(SRC)} imports {sorted(bad)}"


def _is_within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_never_imports_what_is_above_it(package: str) -> None:
    files = sorted((SRC / package).rglob("*.py"))
    assert files, f"no modules in {package}"
    for path in files:
        bad = {n for n in keliu_imports(path) if any(_is_within(n, p) for p in FORBIDDEN[package])}
        assert not bad, f"{path.relative_to(SRC)} imports {sorted(bad)}"


def test_the_forbidden_rules_and_the_allowed_lists_agree() -> None:
    for package, forbidden in FORBIDDEN.items():
        allowed = ALLOWED.get(package, ())
        assert not [p for p in forbidden if any(_is_within(p, a) for a in allowed)], package


def test_product_never_reads_shared_test_data() -> None:
    for path in SRC.rglob("*.py"):
        assert "shared/data" not in path.read_text(), path

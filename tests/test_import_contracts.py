"""The import contracts see every module, and each of them can still fail.

A contract over a graph that leaves modules out passes without checking them,
so every source file must be a module of the graph; and each contract is run
once on a copy of the tree with a forbidden import injected, which must break it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
PACKAGES: tuple[str, ...] = tuple(CONFIG["root_packages"])
CONTRACTS = {contract["id"] for contract in CONFIG["contracts"]}
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def source_modules() -> set[str]:
    """Return the dotted name of every Python file of the root packages."""
    names = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            names.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def service_areas() -> list[str]:
    """Return every package directly under `service` but its command line."""
    return sorted(
        p.parent.name for p in (ROOT / "service").glob("*/__init__.py") if p.parent.name != "cli"
    )


def test_every_source_module_is_in_the_graph() -> None:
    sources = source_modules()
    assert {"service.scoring.service", "service.cli.main", "features.spec"} <= sources
    assert {"auth", "scoring", "ui", "persistence"} <= set(service_areas())
    graph = grimp.build_graph(*PACKAGES)
    assert sources - graph.modules == set(), "folders without __init__.py drop out of the graph"


def lint_copy(tmp_path: Path, mutation: tuple[str, str] | None, contract: str | None) -> str:
    """Copy the packages, add `mutation` (file, import line) and run lint-imports; return output.

    The output ends with the exit status, so a caller can tell kept from broken.
    """
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("*.pyc"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    if mutation is not None:
        relative, line = mutation
        target = tmp_path / relative
        target.write_text(target.read_text() + f"\n{line}  # injected\n")
    command = [str(LINT_IMPORTS), "--no-cache"]
    if contract is not None:
        command += ["--contract", contract]
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    done = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    return f"{done.stdout}{done.stderr}\nexit {done.returncode}"


def test_the_untouched_copy_keeps_every_contract(tmp_path: Path) -> None:
    output = lint_copy(tmp_path, None, None)
    assert output.endswith("exit 0"), output
    assert f"Contracts: {len(CONTRACTS)} kept, 0 broken" in output


# One forbidden import per contract, each breaking that contract (by id) on its own.
MUTATIONS = [
    ("layers", "features/spec.py", "import models.scorer"),
    ("layers", "models/scorer.py", "import explain.reasons"),
    ("layers", "explain/reasons.py", "import training.splits"),
    ("layers", "training/splits.py", "import service.errors"),
    ("service-without-training", "service/scoring/service.py", "import training.train"),
    ("service-without-training", "service/app.py", "import training.train"),
    ("cli-is-the-root", "service/app.py", "import service.cli.main"),
    ("cli-is-the-root", "service/scoring/service.py", "import service.cli.server"),
    ("feast-in-features", "service/health/router.py", "import feast"),
    ("feast-in-features", "models/registry.py", "from feast import FeatureStore"),
    ("no-cycles", "service/deps.py", "import service.app"),
    ("no-cycles", "service/cli/server.py", "import service.cli.main"),
]


def test_every_contract_has_a_mutation() -> None:
    assert {contract for contract, _, _ in MUTATIONS} == CONTRACTS


@pytest.mark.parametrize(("contract", "module", "line"), MUTATIONS)
def test_an_injected_import_breaks_its_contract(
    tmp_path: Path, contract: str, module: str, line: str
) -> None:
    output = lint_copy(tmp_path, (module, line), contract)
    assert "BROKEN" in output and not output.endswith("exit 0"), output


@pytest.mark.parametrize("area", service_areas())
def test_every_service_area_is_held_to_the_service_contract(tmp_path: Path, area: str) -> None:
    output = lint_copy(tmp_path, (f"service/{area}/__init__.py", "import training.train"), None)
    assert "only its command line imports training BROKEN" in output, output

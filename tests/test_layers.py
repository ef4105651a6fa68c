"""The house's floors and public faces, checked on the import graph (../shared/STYLE.md, 9 and 12)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("agentslo", "alerts", "collector", "dashboards", "ground", "slo")


def test_the_layer_contracts_hold() -> None:
    # The contracts live in pyproject.toml ([tool.importlinter]): a back-edge fails here.
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_no_package_imports_another_packages_private_modules() -> None:
    graph = grimp.build_graph(*PACKAGES)
    reaching_in = sorted(
        f"{importer} imports {imported}"
        for imported in graph.modules
        if any(part.startswith("_") and part != "__init__" for part in imported.split(".")[1:])
        for importer in graph.find_modules_that_directly_import(imported)
        if _package(importer) != _package(imported)
    )
    assert reaching_in == []


def _package(module: str) -> str:
    """The package a module belongs to: its top level, or ground's subpackage (ground.storage)."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "ground" else parts[0]

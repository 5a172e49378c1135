"""Layers import one way: fixtures (the stack) -> faults -> gameday (the engine) -> reporting.
A module never imports a layer above its own; the tests, bench and conftest sit on top."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
LAYERS = ("fixtures", "faults", "gameday", "reporting")


def upward_imports(root: Path) -> list[str]:
    """`file:line imports X` for every import of a higher layer than the file's own."""
    found = []
    for rank, layer in enumerate(LAYERS):
        for path in sorted((root / layer).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top in LAYERS and LAYERS.index(top) > rank:
                        found.append(f"{path.relative_to(root)}:{node.lineno} imports {name}")
    return found


def test_no_module_imports_a_layer_above_its_own() -> None:
    assert upward_imports(ROOT) == []


def test_a_planted_upward_import_is_caught(tmp_path: Path) -> None:
    for layer in LAYERS:
        (tmp_path / layer).mkdir()
    (tmp_path / "faults" / "sneaky.py").write_text("from gameday.catalog import SCENARIOS\n")
    (tmp_path / "fixtures" / "fine.py").write_text("import os\n")
    assert upward_imports(tmp_path) == ["faults/sneaky.py:1 imports gameday.catalog"]


def test_checking_a_scenario_name_needs_no_docker_and_no_fault() -> None:
    """`make chaos scenario=typo` answers from the catalog alone."""
    probe = ("import sys, gameday.catalog as c; "
             "print(sorted(m for m in sys.modules if m.split('.')[0] in "
             "('docker', 'faults', 'fixtures', 'testcontainers')))")
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                            text=True, check=True)
    assert result.stdout.strip() == "[]"

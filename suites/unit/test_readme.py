"""The README's scenario table is the catalog's, and its first commands are the two that work."""

from __future__ import annotations

from pathlib import Path

import pytest

from gameday import catalog

pytestmark = pytest.mark.unit
README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_scenario_table_is_generated_from_the_catalog() -> None:
    assert catalog.markdown_table() in README.read_text()


def test_readme_starts_with_the_main_job_and_the_tests() -> None:
    block = README.read_text().split("```bash\n", 1)[1].split("```", 1)[0].splitlines()
    assert [line.split()[:2] for line in block[:2]] == [["make", "gameday"], ["make", "test"]]

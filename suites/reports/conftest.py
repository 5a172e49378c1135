"""Fixtures of the report tests: the sample journals in a throw-away reports folder."""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

DATA = Path(__file__).with_name("data")
OLD_RUN, NEW_RUN = "a1b2c3d4e5", "f6e5d4c3b2"


def sample(name: str) -> dict:
    """A sample journal by file stem, e.g. 'f6e5d4c3b2--db-down'."""
    return json.loads((DATA / f"{name}.json").read_text())


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A reports folder holding every sample journal."""
    folder = tmp_path / "reports"
    # Fresh modification times, as journals written during the session have.
    shutil.copytree(DATA, folder / "journals", copy_function=shutil.copyfile)
    return folder


@pytest.fixture
def journal() -> Callable[[str], dict]:
    """A fresh copy of a sample journal, free to mutate."""
    return lambda name: copy.deepcopy(sample(name))

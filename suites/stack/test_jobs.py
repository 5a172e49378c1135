"""`make gameday jobs=2`: two shards at once on one engine, each with its own stack, merged into
one game day (one summary over both shards' journals), leaving nothing behind. Run from a clone
of this checkout, so that its reports are its own."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures import engine, labels, sweep

pytestmark = pytest.mark.stack
ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ("redis-restart", "redis-down")  # the two shortest: one per shard


def test_two_shards_at_once_make_one_game_day(tmp_path: Path) -> None:
    repo = tmp_path / "checkout"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(repo)], check=True)
    (repo / ".cache").symlink_to(ROOT / ".cache")
    gameday = labels.new_run_id()
    args = [arg for name in SCENARIOS for arg in ("--scenario", name)]
    result = subprocess.run([sys.executable, "-m", "gameday.jobs", "--jobs", "2", "--run-id",
                             gameday, "--", "-p", "no:locust", *args],
                            cwd=repo, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-4000:]
    for shard in ("1/2", "2/2"):  # each shard ran one scenario, and said so with its prefix
        assert any(line.startswith(f"[{shard}] ") and " 1 passed" in line
                   for line in result.stdout.splitlines()), result.stdout[-4000:]
    journals = [json.loads(p.read_text()) for p in (repo / "reports" / "journals").glob("*.json")]
    assert sorted(j["scenario"] for j in journals) == sorted(SCENARIOS)
    assert {j["run_id"] for j in journals} == {gameday}
    summary = (repo / "reports" / "summary" / f"{gameday}.md").read_text()
    assert "2 scenarios: 2 passed" in summary and all(name in summary for name in SCENARIOS)
    client = engine.client()
    for shard in ("1of2", "2of2"):  # the shards' own stacks, gone
        assert sweep.leftovers(client, f"{gameday}-{shard}") == []

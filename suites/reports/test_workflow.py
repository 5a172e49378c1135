"""The nightly GitHub Actions workflow: scheduled, runs the game day and the report, and
uploads the reports whatever happened."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.report

WORKFLOW = Path(__file__).resolve().parents[2] / ".github" / "workflows" / "nightly-gameday.yml"


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def _triggers(workflow: dict) -> dict:
    # YAML 1.1 reads a bare `on` key as the boolean True.
    return workflow.get("on", workflow.get(True))


def test_scheduled_nightly_and_by_hand(workflow) -> None:
    triggers = _triggers(workflow)
    crons = [entry["cron"] for entry in triggers["schedule"]]
    assert len(crons) == 1
    minute, hour, day, month, weekday = crons[0].split()
    assert minute.isdigit() and hour.isdigit() and (day, month, weekday) == ("*", "*", "*")
    assert "workflow_dispatch" in triggers


def test_shards_run_the_game_day_and_upload_always(workflow) -> None:
    job = workflow["jobs"]["gameday"]
    assert job["runs-on"].startswith("ubuntu")
    shards = job["strategy"]["matrix"]["shard"]
    count = len(shards)
    assert shards == [f"{i}/{count}" for i in range(1, count + 1)]
    assert job["strategy"]["fail-fast"] is False
    steps = job["steps"]
    assert steps[0]["uses"].startswith("actions/checkout@")
    runs = [s.get("run", "") for s in steps]
    assert any("make gameday shard=" in r and "--run-id" in r for r in runs)
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["if"] == "always()"
    assert "reports/journals" in upload["with"]["path"].split()


def test_one_job_merges_the_shards_then_reports_and_uploads_always(workflow) -> None:
    job = workflow["jobs"]["report"]
    assert job["needs"] == ["gameday", "explore"] and job["if"] == "always()"
    steps = job["steps"]
    runs = [(i, s.get("run", "")) for i, s in enumerate(steps)]
    download = next(i for i, s in enumerate(steps)
                    if s.get("uses", "").startswith("actions/download-artifact@"))
    merge = next(i for i, r in runs if "reporting.session --run-id" in r)
    report = next(i for i, r in runs if "make report" in r)
    upload = next(i for i, s in enumerate(steps)
                  if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert download < merge < report < upload
    assert steps[report].get("if") == "always()"
    assert steps[upload]["if"] == "always()"
    paths = steps[upload]["with"]["path"].split()
    for wanted in ("reports/html", "reports/incidents", "reports/summary",
                   "reports/allure-results", "reports/journals", "gameday/journal.schema.json"):
        assert wanted in paths
    assert any("junit" in p for p in paths)


def test_every_broken_variant_runs_nightly(workflow) -> None:
    """Every case, over shards that cover the catalog exactly once."""
    from gameday.catalog import SCENARIOS, shard

    job = workflow["jobs"]["variants"]
    steps = job["steps"]
    assert any(s.get("run", "").strip() == 'make variants shard="$SHARD"' for s in steps)
    shards = job["strategy"]["matrix"]["shard"]
    covered = [s.name for spec in shards for s in shard(SCENARIOS, spec)]
    assert sorted(covered) == sorted(s.name for s in SCENARIOS)


def test_the_exploration_runs_after_the_game_day_with_its_own_budget(workflow) -> None:
    job = workflow["jobs"]["explore"]
    assert job["needs"] == "gameday" and job["if"] == "always()"
    assert 0 < job["timeout-minutes"] <= 30
    steps = job["steps"]
    restore = next(i for i, s in enumerate(steps)
                   if s.get("uses", "").startswith("actions/cache/restore@"))
    explore = next(i for i, s in enumerate(steps) if s.get("run", "").startswith("make explore"))
    save = next(i for i, s in enumerate(steps)
                if s.get("uses", "").startswith("actions/cache/save@"))
    assert restore < explore < save
    # Failing examples, night to night: saved above all when the exploration failed.
    assert steps[save]["if"] == "always()"
    assert steps[restore]["with"]["path"] == steps[save]["with"]["path"] == "reports/hypothesis"
    assert any(s.get("run", "").startswith("make explore") and "--run-id" in s["run"]
               for s in steps)
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["if"] == "always()" and "reports/journals" in upload["with"]["path"].split()
    report = workflow["jobs"]["report"]["steps"]
    assert any(s.get("with", {}).get("name") == upload["with"]["name"] for s in report)

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


def test_game_day_then_report_then_upload_always(workflow) -> None:
    (job,) = workflow["jobs"].values()
    assert job["runs-on"].startswith("ubuntu")
    steps = job["steps"]
    assert steps[0]["uses"].startswith("actions/checkout@")
    runs = [(i, s.get("run", "")) for i, s in enumerate(steps)]
    gameday = next(i for i, r in runs if "make gameday" in r)
    report = next(i for i, r in runs if "make report" in r)
    upload = next(i for i, s in enumerate(steps)
                  if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert gameday < report < upload
    assert steps[report].get("if") == "always()"
    assert steps[upload]["if"] == "always()"
    paths = steps[upload]["with"]["path"].split()
    for wanted in ("reports/html", "reports/incidents", "reports/summary",
                   "reports/allure-results", "reports/journals", "gameday/journal.schema.json"):
        assert wanted in paths
    assert any("junit" in p for p in paths)

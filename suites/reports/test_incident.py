"""Incident reports from typed journals: times from the journal, the commands with their runbook
lines and results, the escalation criteria, a self-healing fault, broken variants left out."""

from __future__ import annotations

import json
import re

import pytest

from gameday.journal import Category, Failure, Figure, Phase, Result
from reporting import incident
from suites.reports.conftest import NEW_RUN, db_down, failed, port_conflict, service_crash

pytestmark = pytest.mark.report


def test_one_report_per_real_journal(root, journals) -> None:
    written = [p for j in journals if j.run_id == NEW_RUN for p in incident.write(j, root)]
    assert sorted(p.name for p in written) == [
        "db-down.json", "db-down.md", "port-conflict.json", "port-conflict.md",
        "service-crash.json", "service-crash.md"]
    assert all(p.parent == root / "incidents" / NEW_RUN for p in written)


def test_broken_variant_is_not_an_incident(root) -> None:
    variant = db_down(variant="alert-rule-removed")
    assert not variant.is_real
    assert incident.write(variant, root) == []
    assert not (root / "incidents").exists()


def test_times_come_from_the_journal(root) -> None:
    j = db_down()
    incident.write(j, root)
    md = (root / "incidents" / NEW_RUN / "db-down.md").read_text()
    report = json.loads((root / "incidents" / NEW_RUN / "db-down.json").read_text())
    for name in (Figure.TIME_TO_DETECT, Figure.TIME_TO_ALERT, Figure.TIME_TO_RESOLVE,
                 Figure.TIME_TO_ALERT_RESOLVED):
        assert report["times"][name.value] == j.figures[name.value]
        assert f"| {j.figures[name.value]:.2f} s |" in md
    assert {name.value for name in Figure} <= set(report["times"])
    # Events carry absolute UTC time and seconds since injection, both from the journal.
    injected = j.phase(Phase.INJECT).details["injected_at"]
    ready = next(o for o in j.timeline if o["endpoint"] == "ready" and not o["ok"])
    event = next(e for e in report["timeline"] if e["event"] == "first failed probe: /ready")
    assert event["since_injection"] == pytest.approx(ready["at"] - injected, abs=1e-3)
    assert event["utc"] == "2025-11-27 19:00:03.773Z"
    firing = next(e for e in report["timeline"] if "firing" in e["event"])
    assert firing["since_injection"] == pytest.approx(j.figures[Figure.TIME_TO_ALERT.value])
    resolved = next(e for e in report["timeline"] if "resolved" in e["event"])
    assert resolved["at"] == j.notifications[1]["received_at"]
    events = [e["event"] for e in report["timeline"]]
    for expected in ("fault injected", "first failed probe: /health",
                     "DatabaseConnectionFailure pending in Prometheus",
                     "DatabaseConnectionFailure delivered to the webhook receiver",
                     "recovered: /health answers 200"):
        assert expected in events
    assert [e["at"] for e in report["timeline"]] == sorted(e["at"] for e in report["timeline"])


def test_changing_the_journal_changes_the_report() -> None:
    """Nothing is a constant: shift every clock and change a figure, and the report follows."""
    j = db_down(start=1764270000.0 + 3600, alert=9.876)
    report = incident.build(j)
    assert report["injected_utc"].startswith("2025-11-27 20:00:01")
    assert report["times"]["time_to_alert"] == 9.876
    firing = next(e for e in report["timeline"] if "firing" in e["event"])
    assert firing["since_injection"] == pytest.approx(9.876)
    assert "9.88 s" in incident.render_markdown(report)


def test_a_figure_not_measured_is_a_dash() -> None:
    """No figure is made up from the probes: a run that ended early shows what it measured."""
    j = port_conflict()
    report = incident.build(j)
    assert report["times"]["time_to_resolve"] is None
    assert "| time to resolve (/health 200) | - |" in incident.render_markdown(report)
    assert "The service did not recover during the run." in incident.render_markdown(report)


def test_actions_name_runbook_lines_commands_and_results(root) -> None:
    incident.write(db_down(), root)
    incident.write(port_conflict(), root)
    md = (root / "incidents" / NEW_RUN / "db-down.md").read_text()
    assert "`database-issues.md:132` (recover): exit 0 after 0.52 s" in md
    assert "$ docker-compose up -d postgres" in md
    assert "postgres:5432 - accepting connections" in md  # trimmed output is kept
    assert "`database-issues.md:185` (validate)" in md
    assert "`database-issues.md:133` (recover): not run, marked for another deployment" in md
    conflict = (root / "incidents" / NEW_RUN / "port-conflict.md").read_text()
    assert "`service-down.md:39` (recover): exit 1 after 1.64 s" in conflict
    assert "port is already allocated" in conflict
    assert "## Root cause" in conflict and "binds the app's published port" in conflict


def test_self_healing_fault_shows_its_heal_and_that_nobody_was_paged(root) -> None:
    j = service_crash()
    incident.write(j, root)
    md = (root / "incidents" / NEW_RUN / "service-crash.md").read_text()
    report = json.loads((root / "incidents" / NEW_RUN / "service-crash.json").read_text())
    assert report["self_healing"] is True and report["nobody_paged"] is True
    assert report["times"]["time_to_self_heal"] == 4.25
    assert "| healed by itself (/health 200) | 4.25 s |" in md
    assert "Nobody was paged: the deployment healed the fault by itself." in md
    assert "time to alert" not in md.split("## Timeline")[0]
    events = [e["event"] for e in report["timeline"]]
    assert "nobody paged" in events and "healed by itself: /health answers 200" in events
    assert not any("firing" in e for e in events)
    assert report["times"]["downtime"] == pytest.approx(4.25 - 0.41, abs=1e-3)


def test_a_page_where_the_deployment_heals_by_itself_is_a_product_defect() -> None:
    j = service_crash()
    j.figures.pop(Figure.TIME_TO_SELF_HEAL.value)
    j.phase(Phase.ALERT).ok = False
    j.result = Result.FAILED
    j.failure = Failure(Phase.ALERT, Category.PAGED, "['ModelServiceDown'] paged")
    report = incident.build(j)
    assert report["nobody_paged"] is False
    assert incident.FOLLOW_UPS[Category.PAGED] in report["follow_ups"]
    assert "Someone was paged" in incident.render_markdown(report)


def test_healed_by_something_else_than_the_restart_policy_is_not_nobody_paged() -> None:
    j = service_crash()
    j.phase(Phase.ALERT).ok = False
    j.result = Result.FAILED
    j.failure = Failure(Phase.ALERT, Category.RECOVERY_FAILED, "restart count stayed at 0")
    report = incident.build(j)
    assert report["self_healing"] is True and report["nobody_paged"] is False
    md = incident.render_markdown(report)
    assert "The run ended before it could show that nobody was paged." in md
    assert "| healed by itself (/health 200) | 4.25 s |" in md


def test_every_category_has_a_follow_up() -> None:
    assert set(incident.FOLLOW_UPS) == set(Category)


def test_escalation_when_nothing_went_wrong() -> None:
    report = incident.build(db_down())
    assert not any(c["met"] for c in report["escalation"])
    assert "No escalation criterion met." in incident.render_markdown(report)


def test_escalation_when_the_restart_failed() -> None:
    report = incident.build(port_conflict())
    met = {c["criterion"] for c in report["escalation"] if c["met"]}
    assert met == {"more than one restart needed, or a restart failed"}
    assert report["times"]["recovered"] is False
    md = incident.render_markdown(report)
    assert "- [x] more than one restart needed, or a restart failed" in md
    assert "not recovered when the run ended" in md


@pytest.mark.parametrize(("category", "criterion"), [
    (Category.DATA_LOST, "data loss or corruption suspected"),
    (Category.SUITE, "root cause indicates a larger infrastructure issue"),
    (Category.STEADY_STATE, "root cause indicates a larger infrastructure issue"),
])
def test_escalation_by_failure_category(category, criterion) -> None:
    j = db_down()
    j.result = Result.FAILED
    j.failure = Failure(Phase.VALIDATE, category, "sample")
    met = {c["criterion"] for c in incident.build(j)["escalation"] if c["met"]}
    assert met == {criterion}


def test_escalation_when_down_for_more_than_15_minutes() -> None:
    j = db_down(recover=16 * 60.0)
    report = incident.build(j)
    assert report["escalation"][0]["met"] is True
    assert report["times"]["downtime"] > 15 * 60


def test_two_restarts_escalate() -> None:
    j = db_down()
    again = dict(next(c for c in j.commands if "up -d postgres" in c["command"]))
    j.commands.append({**again, "command": "docker-compose restart app-prod"})
    j.commands.append({**again, "command": "docker compose up -d app-prod"})
    met = {c["criterion"] for c in incident.build(j)["escalation"] if c["met"]}
    assert met == {"more than one restart needed, or a restart failed"}


def test_a_late_page_becomes_a_follow_up() -> None:
    j = failed(db_down(alert=30.0), Phase.ALERT, Category.ALERT_LATE, "paged at 31.5s")
    follow_ups = incident.build(j)["follow_ups"]
    assert incident.FOLLOW_UPS[Category.ALERT_LATE] in follow_ups
    assert any(re.match(r"Time to alert 31\.50 s is over its budget 19\.91 s", f)
               for f in follow_ups)
    assert ("The page reached the receiver 31.50 s after the injection, later than its "
            "deadline 19.91 s.") in incident.render_markdown(incident.build(j))


def test_a_late_page_of_a_passed_run_is_no_follow_up() -> None:
    """The lifecycle judged it: a report does not turn a passed run's figure into a verdict."""
    report = incident.build(db_down(alert=30.0))
    assert not any("budget" in f for f in report["follow_ups"])
    assert ("The page reached the receiver 31.50 s after the injection (deadline 19.91 s)."
            in incident.render_markdown(report))

"""Incident reports from the sample journals: times computed from the journal, the commands
with their runbook lines and results, the escalation criteria, broken variants left out."""

from __future__ import annotations

import json

import pytest

from reporting import incident, journals
from suites.reports.conftest import NEW_RUN

pytestmark = pytest.mark.report


def test_one_report_per_real_journal(root) -> None:
    written = incident.write_run(NEW_RUN, root)
    names = sorted(p.name for p in written)
    assert names == ["db-down.json", "db-down.md", "service-crash.json", "service-crash.md"]
    assert all(p.parent == root / "incidents" / NEW_RUN for p in written)


def test_broken_variant_is_not_an_incident(journal, root) -> None:
    assert incident.write(journal(f"{NEW_RUN}--db-down--alert-rule-removed"), root) == []
    incident.write_run(NEW_RUN, root)
    text = "".join(p.read_text() for p in (root / "incidents").rglob("*") if p.is_file())
    assert "alert-rule-removed" not in text and "2.22 s" not in text


def test_times_come_from_the_journal(journal, root) -> None:
    j = journal(f"{NEW_RUN}--db-down")
    figures, injected = j["figures"], j["phases"][1]["details"]["injected_at"]
    incident.write(j, root)
    md = (root / "incidents" / NEW_RUN / "db-down.md").read_text()
    report = json.loads((root / "incidents" / NEW_RUN / "db-down.json").read_text())
    for name in ("time_to_detect", "time_to_alert", "time_to_resolve", "time_to_alert_resolved"):
        assert report["times"][name] == figures[name]
        assert f"| {figures[name]:.2f} s |" in md
    # Events carry absolute UTC time and seconds since injection, both from the journal.
    first_ready_failure = next(o for o in j["timeline"] if o["endpoint"] == "ready" and not o["ok"])
    event = next(e for e in report["timeline"] if e["event"] == "first failed probe: /ready")
    assert event["since_injection"] == pytest.approx(first_ready_failure["at"] - injected, abs=1e-3)
    assert event["utc"] == "2025-11-27 19:00:03.773Z"
    firing = next(e for e in report["timeline"] if "firing" in e["event"])
    assert firing["since_injection"] == pytest.approx(figures["time_to_alert"])
    resolved = next(e for e in report["timeline"] if "resolved" in e["event"])
    assert resolved["at"] == j["notifications"][1]["received_at"]
    events = [e["event"] for e in report["timeline"]]
    for expected in ("fault injected", "first failed probe: /health",
                     "DatabaseConnectionFailure pending in Prometheus",
                     "DatabaseConnectionFailure delivered to the webhook receiver",
                     "recovered: /health answers 200"):
        assert expected in events
    assert [e["at"] for e in report["timeline"]] == sorted(e["at"] for e in report["timeline"])


def test_changing_the_journal_changes_the_report(journal) -> None:
    """Nothing is a constant: shift every clock and change a figure, and the report follows."""
    j = journal(f"{NEW_RUN}--db-down")
    shift = 3600.0
    for phase in j["phases"]:
        phase["started"] += shift
        phase["ended"] += shift
        if "injected_at" in phase.get("details", {}):
            phase["details"]["injected_at"] += shift
    for o in j["timeline"]:
        o["at"] += shift
    for n in j["notifications"]:
        n["received_at"] += shift
    j["figures"]["time_to_alert"] = 9.876
    report = incident.build(j)
    assert report["injected_utc"].startswith("2025-11-27 20:00:01")
    assert report["times"]["time_to_alert"] == 9.876
    firing = next(e for e in report["timeline"] if "firing" in e["event"])
    assert firing["since_injection"] == pytest.approx(9.876)
    assert "9.88 s" in incident.render_markdown(report)


def test_figures_missing_are_derived_from_timeline_and_notifications(journal) -> None:
    j = journal(f"{NEW_RUN}--db-down")
    expected = dict(j["figures"])
    for name in ("time_to_detect", "time_to_delivered", "time_to_resolve",
                 "time_to_alert_resolved"):
        del j["figures"][name]
    times = journals.times(j)
    for name in ("time_to_detect", "time_to_delivered", "time_to_resolve",
                 "time_to_alert_resolved"):
        assert times[name] == pytest.approx(expected[name], abs=2e-3), name


def test_actions_name_runbook_lines_commands_and_results(root) -> None:
    incident.write_run(NEW_RUN, root)
    md = (root / "incidents" / NEW_RUN / "db-down.md").read_text()
    assert "`service-down.md:132` (recover): exit 0 after 0.52 s" in md
    assert "$ docker-compose up -d postgres" in md
    assert "postgres:5432 - accepting connections" in md  # trimmed output is kept
    assert "`service-down.md:185` (validate)" in md
    crash = (root / "incidents" / NEW_RUN / "service-crash.md").read_text()
    assert "`service-down.md:39` (recover): exit 1 after 1.64 s" in crash
    assert "port is already allocated" in crash
    assert "## Root cause" in crash and "killed with SIGKILL" in crash


def test_escalation_when_nothing_went_wrong(journal) -> None:
    report = incident.build(journal(f"{NEW_RUN}--db-down"))
    assert not any(c["met"] for c in report["escalation"])
    assert "No escalation criterion met." in incident.render_markdown(report)


def test_escalation_when_the_restart_failed(journal) -> None:
    report = incident.build(journal(f"{NEW_RUN}--service-crash"))
    met = {c["criterion"] for c in report["escalation"] if c["met"]}
    assert met == {"more than one restart needed, or a restart failed"}
    assert report["times"]["recovered"] is False
    md = incident.render_markdown(report)
    assert "- [x] more than one restart needed, or a restart failed" in md
    assert "not recovered when the run ended" in md


@pytest.mark.parametrize(("category", "criterion"), [
    ("data-lost", "data loss or corruption suspected"),
    ("suite-or-infrastructure", "root cause indicates a larger infrastructure issue"),
])
def test_escalation_by_failure_category(journal, category, criterion) -> None:
    j = journal(f"{NEW_RUN}--db-down")
    j["result"] = "failed"
    j["failure"] = {"phase": "validate", "category": category, "message": "sample"}
    met = {c["criterion"] for c in incident.build(j)["escalation"] if c["met"]}
    assert met == {criterion}


def test_escalation_when_down_for_more_than_15_minutes(journal) -> None:
    j = journal(f"{NEW_RUN}--db-down")
    j["figures"]["time_to_resolve"] = 16 * 60.0
    report = incident.build(j)
    assert report["escalation"][0]["met"] is True
    assert report["times"]["downtime"] > 15 * 60


def test_two_restarts_escalate(journal) -> None:
    j = journal(f"{NEW_RUN}--db-down")
    again = dict(next(c for c in j["commands"] if "restart app-prod" in c["command"]))
    j["commands"].append(again)
    met = {c["criterion"] for c in incident.build(j)["escalation"] if c["met"]}
    assert met == {"more than one restart needed, or a restart failed"}

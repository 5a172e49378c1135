"""What a fault cost users (journal.impact, from gameday.traffic.impact over the sample runs'
load): the incident report's section and JSON, the summary's columns and its chart, "no load
ran" where a run had none, and a cost over the scenario's allowance (user-impact) flagged.

The sample load sends 50 inferences a second. service-crash: refused from 0.4 s to 3.6 s after
the injection (160), 503 until 4.2 s (30), healed at 4.25 s: 190 of the 212 inferences of the
fault window failed. db-down: none failed (the outbox), three times slower until recovery.
"""

from __future__ import annotations

import json
import re

import pytest

from gameday.journal import Category
from reporting import charts, cost, incident, summary
from reporting.journals import runs
from suites.reports.conftest import NEW_RUN, db_down, port_conflict, service_crash

pytestmark = pytest.mark.report

CRASH_WINDOWS = ["| before | 1.86 s | 94 | 0 | 0 | 0 | 0 | 100.00% | 39.0 ms | 48.0 ms | 49.0 ms |",
                 "| during | 4.25 s | 212 | 190 | 30 | 160 | 0 | 10.38% | 78.0 ms | 96.0 ms | "
                 "98.0 ms |",
                 "| after | 8.68 s | 433 | 0 | 0 | 0 | 0 | 100.00% | 40.0 ms | 48.0 ms | 49.0 ms |"]


def _section(md: str) -> str:
    return md.split("## What it cost users")[1].split("## Timeline")[0]


def test_incident_report_says_what_the_fault_cost_users(root) -> None:
    j = service_crash()
    incident.write(j, root)
    md = (root / "incidents" / NEW_RUN / "service-crash.md").read_text()
    report = json.loads((root / "incidents" / NEW_RUN / "service-crash.json").read_text())
    assert report["impact"] == j.impact
    during = report["impact"]["windows"]["during"]
    assert during["failed_by_kind"] == {"connection": 160, "5xx": 30}
    assert during["availability"] == pytest.approx(22 / 212, abs=1e-5)
    # The compressed budget: 0.5% of 50.07/s over 30 days / 20 = 32,445 inferences.
    assert report["impact"]["error_budget_burned"] == pytest.approx(190 / 32445.36, rel=1e-4)
    section = _section(md)
    assert ("SLO: 99.5% of inferences over 30 days (compressed by 20); the load sent 50.07 "
            "inferences a second.") in section
    assert ("| window | seconds | inferences | failed | 5xx | connection | 4xx | availability "
            "| p50 | p95 | p99 |") in section
    for row in CRASH_WINDOWS:
        assert row in section
    assert ("190 inferences failed during the fault and after recovery (5xx 30 / connection "
            "160); they burned 0.59% of the error budget.") in section


def test_latency_during_the_fault_is_its_own() -> None:
    section = _section(incident.render_markdown(incident.build(db_down())))
    assert "| during | 28.66 s | 1433 | 0 | 0 | 0 | 0 | 100.00% | 117.0 ms | 147.0 ms |" in section
    assert "| before | 1.86 s | 94 | 0 | 0 | 0 | 0 | 100.00% | 39.0 ms | 48.0 ms |" in section
    assert "0 inferences failed" in section and "burned 0.00% of the error budget" in section


def test_a_run_without_load_says_so(root) -> None:
    j = port_conflict()
    assert j.impact == {}
    report = incident.build(j)
    assert report["impact"] == {}
    assert _section(incident.render_markdown(report)).strip() == (
        "No load ran: nothing measured what the fault cost users.")
    row = summary.scenario_row(j)
    assert row["impact"] == {} and row["user_impact"] is False


def test_a_cost_over_the_allowance_is_user_impact() -> None:
    j = db_down(outbox=False)  # every inference fails while PostgreSQL is down
    assert j.failure is not None and j.failure.category == Category.USER_IMPACT
    report = incident.build(j)
    assert incident.FOLLOW_UPS[Category.USER_IMPACT] in report["follow_ups"]
    section = _section(incident.render_markdown(report))
    assert "| during | 28.66 s | 1433 | 1338 | 1338 | 0 | 0 | 6.63% |" in section
    assert "burned 4.13% of the error budget" in section
    row = summary.scenario_row(j)
    assert row["user_impact"] is True
    page = {"run_id": NEW_RUN, "started": None, "compression_factor": 20.0, "rows": [row],
            "counts": {"passed": 0, "failed": 1, "broken": 0}, "journals": [j], "trends": {}}
    assert "| 6.63% | 1338 (5xx 1338 / connection 0) ❌ over | 4.13% |" in (
        summary.render_markdown(page))
    assert ('<td class="cost over">1338<br><small>5xx 1338 / connection 0 · over budget'
            in summary.render_html(page))


def test_summary_table_has_the_cost_per_scenario(root, journals) -> None:
    summary.write(NEW_RUN, runs(journals)[NEW_RUN], root, latest=False)
    md = (root / "summary" / f"{NEW_RUN}.md").read_text()
    assert ("| availability during the fault | failed (5xx / connection) | budget burned | "
            "p95 during vs before | incident |") in md
    assert ("| 100.00% | 0 (5xx 0 / connection 0) | 0.00% | 147.0 ms (vs 48.0 ms before · "
            "3.06×) | [report](../incidents/f6e5d4c3b2/db-down.md) |") in md
    assert ("| 10.38% | 190 (5xx 30 / connection 160) | 0.59% | 96.0 ms (vs 48.0 ms before · "
            "2.00×) | [report](../incidents/f6e5d4c3b2/service-crash.md) |") in md
    assert "| - | no load ran | - | - | - | [report](../incidents/f6e5d4c3b2/port-conflict" in md
    page = (root / "summary" / f"{NEW_RUN}.html").read_text()
    assert "<th>Availability during the fault</th>" in page
    assert '<td class="cost ">10.38%</td>' in page
    assert "96.0 ms<br><small>vs 48.0 ms before · 2.00×</small>" in page


def _bar(page: str, title: str) -> float:
    """The width of the chart's bar with this exact title."""
    found = re.search(r'<rect [^>]*width="([\d.]+)"[^>]*><title>' + re.escape(title), page)
    assert found, title
    return float(found.group(1))


def test_summary_chart_shows_each_window(root, journals) -> None:
    summary.write(NEW_RUN, runs(journals)[NEW_RUN], root, latest=False)
    page = (root / "summary" / f"{NEW_RUN}.html").read_text()
    chart = page.split('class="impact"')[1].split("</svg>")[0]
    assert page.count('class="impact"') == 1
    assert "SLO: 99.5% of inferences over 30 days (compressed by 20)." in page
    for scenario in ("db-down", "service-crash", "port-conflict"):
        assert f'class="lane">{scenario}</text>' in chart
    assert f'class="no-load" fill="#777">{cost.NO_LOAD}</text>' in chart  # port-conflict
    assert chart.count("<rect") == 3 + 2 * 3 * 2  # the legend, then 2 panels x 3 windows x 2
    crash = "service-crash {} the fault: availability {} ({} inferences, {} failed)"
    full = _bar(chart, crash.format("before", "100.00%", 94, 0))
    assert _bar(chart, crash.format("during", "10.38%", 212, 190)) == pytest.approx(
        full * 0.10377, abs=0.1)
    # p95 latency on one scale for every scenario: db-down's 147 ms against 48 ms before.
    p95 = "db-down {} the fault: p95 latency {} ms"
    assert _bar(chart, p95.format("during", "147.0")) / _bar(chart, p95.format("before", "48.0")
                                                           ) == pytest.approx(147 / 48, rel=1e-3)
    assert "150 ms</text>" in chart  # the latency axis ends at a round step above 147 ms


def test_chart_of_runs_without_load() -> None:
    svg = charts.impact_svg([("port-conflict", {})])
    assert cost.NO_LOAD in svg and "<rect" in svg  # the legend only
    assert svg.count("<rect") == 3


def test_failures_by_kind_name_4xx_only_when_there_are_some() -> None:
    impact = service_crash().impact
    assert cost.failed_by_kind(impact) == {"5xx": 30, "connection": 160, "4xx": 0}
    assert cost.failed_by_kind(impact, ("before",)) == {"5xx": 0, "connection": 0, "4xx": 0}
    assert cost.kinds({"5xx": 1, "connection": 0, "4xx": 2}) == "5xx 1 / connection 0 / 4xx 2"
    assert cost.percent(None) == "-" and cost.ms(None) == "-"
    assert "no error budget could be counted" in cost.burned({**impact,
                                                              "error_budget_burned": None})

"""The game-day summary: the scenario table against budgets, a timeline per scenario, trends
from the history file (idempotent per run id), broken variants left out."""

from __future__ import annotations

import json
import re

import pytest

from reporting import history, summary
from suites.reports.conftest import NEW_RUN, OLD_RUN

pytestmark = pytest.mark.report


def test_summary_table_has_times_budgets_and_ratios(root) -> None:
    written = summary.write(NEW_RUN, root)
    assert {p.name for p in written} == {f"{NEW_RUN}.md", f"{NEW_RUN}.html", "latest.md",
                                        "latest.html"}
    md = (root / "summary" / f"{NEW_RUN}.md").read_text()
    # db-down: detect 1.912 of 15 s; alert 12.1 against 1.5 x 8.25 = 12.375, 12.1/8.25 = 1.47.
    assert "| db-down | passed | 1.91 s / 15 s (0.13x) ✅ | 12.10 s / 12.38 s (1.47x floor) ✅ " \
           "| 15.05 s / 90 s (0.17x) ✅ |" in md
    assert "| service-crash | failed (recover/recovery-failed) |" in md
    assert "2 scenarios: 1 passed, 1 failed, 0 broken" in md
    assert "[report](../incidents/f6e5d4c3b2/db-down.md)" in md


def test_over_budget_is_flagged(root, journal) -> None:
    j = journal(f"{NEW_RUN}--db-down")
    j["figures"]["time_to_alert"] = 20.0  # floor 8.25: target 12.375
    row = summary.scenario_row(j)
    assert row["alert"] == {"seconds": 20.0, "budget": 12.375, "ratio": 2.42, "within": False,
                            "floor": 8.25}


def test_broken_variants_are_not_counted(root) -> None:
    summary.write(NEW_RUN, root)
    md = (root / "summary" / f"{NEW_RUN}.md").read_text()
    page = (root / "summary" / f"{NEW_RUN}.html").read_text()
    for text in (md, page):
        assert "alert-rule-removed" not in text and "alert-missing" not in text
    lines = history.load(root / "history.jsonl")
    assert {(e["run_id"], e["scenario"]) for e in lines} == {(NEW_RUN, "db-down"),
                                                            (NEW_RUN, "service-crash")}


def test_html_is_self_contained_with_a_timeline_per_scenario(root) -> None:
    summary.write(NEW_RUN, root)
    page = (root / "summary" / f"{NEW_RUN}.html").read_text()
    assert "<script" not in page and "<link" not in page and " src=" not in page
    assert not re.search(r'href="(?:https?:)?//', page)  # only the relative incident links
    assert page.count('<svg xmlns="http://www.w3.org/2000/svg" class="timeline"') == 2
    assert 'class="probe-failure"' in page  # probe failures are marked
    assert "<style>" in page
    for phase in ("steady state", "inject", "detect", "alert", "recover", "validate", "residue"):
        assert f'class="lane">{phase}</text>' in page
    assert "12.10 s" in page and "budget 12.38 s · 1.47× floor" in page


def test_history_is_idempotent_and_shows_trends_over_two_runs(root) -> None:
    summary.write(OLD_RUN, root)
    summary.write(NEW_RUN, root)
    first = (root / "history.jsonl").read_text()
    summary.write(NEW_RUN, root)  # the same run again: no new line
    summary.write(OLD_RUN, root)
    assert (root / "history.jsonl").read_text() == first
    lines = [json.loads(line) for line in first.splitlines()]
    assert [(e["run_id"], e["scenario"]) for e in lines] == [
        (OLD_RUN, "db-down"), (NEW_RUN, "db-down"), (NEW_RUN, "service-crash")]
    md = (root / "summary" / f"{NEW_RUN}.md").read_text()
    assert "| db-down | 2 | █▁ 13.1 → 12.1 | █▁ 16.6 → 15.1 | ✅ ✅ |" in md
    page = (root / "summary" / f"{NEW_RUN}.html").read_text()
    assert f"{OLD_RUN}, {NEW_RUN}" in page and "13.1 → 12.1 s" in page
    assert page.count('class="spark"') >= 3


def test_latest_is_the_newest_run(root) -> None:
    summary.write(NEW_RUN, root)
    summary.write(OLD_RUN, root)  # rebuilding an older run leaves latest alone
    latest = (root / "summary" / "latest.md").read_text()
    assert latest == (root / "summary" / f"{NEW_RUN}.md").read_text()
    assert summary.write(None, root)[0].name == f"{NEW_RUN}.md"  # default: the newest run


def test_trend_stops_at_the_reported_run(root) -> None:
    summary.write(NEW_RUN, root)
    summary.write(OLD_RUN, root)
    md = (root / "summary" / f"{OLD_RUN}.md").read_text()
    assert "| db-down | 1 |" in md and "12.1" not in md.split("## Trends")[1]


def test_cli_writes_the_newest_run(root, capsys) -> None:
    assert summary.main(["--root", str(root)]) == 0
    assert f"{NEW_RUN}.html" in capsys.readouterr().out


def test_a_run_of_broken_variants_only_has_an_empty_summary(root, journal) -> None:
    j = journal(f"{NEW_RUN}--db-down--alert-rule-removed")
    j["run_id"] = "brokenonly"
    (root / "journals" / "brokenonly--db-down--alert-rule-removed.json").write_text(json.dumps(j))
    written = summary.write("brokenonly", root)
    assert [p.name for p in written] == ["brokenonly.md", "brokenonly.html"]  # latest untouched
    assert "No real scenario ran in this run." in written[0].read_text()

"""The game-day summary: the scenario table against budgets, a timeline per scenario, trends
from the history file (idempotent per run id), broken variants left out."""

from __future__ import annotations

import json
import re

import pytest

from gameday.journal import Figure, Phase
from reporting import history, session, summary
from reporting.journals import runs
from suites.reports.conftest import NEW_RUN, OLD_RUN, OLD_START, db_down

pytestmark = pytest.mark.report


def _write(root, journals, run_id: str, latest: bool = True) -> list:
    run = runs(journals)[run_id]
    return summary.write(run_id, run, root, latest=latest)


def test_summary_table_has_times_budgets_and_ratios(root, journals) -> None:
    written = _write(root, journals, NEW_RUN)
    assert {p.name for p in written} == {f"{NEW_RUN}.md", f"{NEW_RUN}.html", "latest.md",
                                        "latest.html"}
    md = (root / "summary" / f"{NEW_RUN}.md").read_text()
    # db-down: detect 1.912 of 15 s; the page delivered at 13.6 s against its deadline 1.912 +
    # 18 = 19.912; fired 8.7 s after the symptom, 8.7 / 8.25 = 1.05 (information); recover
    # 15.05 of 90 s.
    assert ("| db-down | passed | 1.91 s (budget 15 s · 0.13×) ✅ | 13.60 s (deadline 19.91 s · "
            "fired 12.10 s · 8.70 s after the symptom, 1.05× expected) ✅ | 15.05 s (budget 90 s "
            "· 0.17×) ✅ |") in md
    assert "| port-conflict | failed (recover/recovery-failed) |" in md
    assert "3 scenarios: 2 passed, 1 failed, 0 broken" in md
    assert "the alert's deadline is the catalog's maximum delay after detection" in md
    assert "target" not in md
    assert "[report](../incidents/f6e5d4c3b2/db-down.md)" in md


def test_self_healing_scenario_shows_nobody_paged_and_its_heal(root, journals) -> None:
    _write(root, journals, NEW_RUN)
    md = (root / "summary" / f"{NEW_RUN}.md").read_text()
    assert ("| service-crash | passed | 0.41 s (budget 15 s · 0.03×) ✅ | nobody paged (healed "
            "by itself) ✅ | 4.25 s (budget 30 s · 0.14× · healed by itself) ✅ |") in md
    page = (root / "summary" / f"{NEW_RUN}.html").read_text()
    assert "nobody paged" in page and "healed by itself +4.2s" in page


def test_the_alert_is_held_against_its_deadline() -> None:
    row = summary.scenario_row(db_down(alert=20.0))  # 16.6 s after the symptom, 2.01×
    assert row["alert"] == {"seconds": 21.5, "budget": 19.912, "ratio": 1.08, "state": None,
                            "firing": 20.0, "after_symptom": 16.6, "expected": 8.25,
                            "expected_ratio": 2.01, "nobody_paged": False, "paged": False}


def test_a_journal_without_an_alert_deadline_shows_no_budget() -> None:
    old = db_down()
    del old.budgets["alert"]  # written before the catalog gave alerts a deadline
    row = summary.scenario_row(old)
    assert row["alert"]["budget"] is None and row["alert"]["state"] is None
    md = summary.render_markdown({
        "run_id": NEW_RUN, "started": None, "compression_factor": 20.0, "rows": [row],
        "counts": {"passed": 1, "failed": 0, "broken": 0}, "journals": [old], "trends": {}})
    assert ("| 13.60 s (fired 12.10 s · 8.70 s after the symptom, 1.05× expected) | 15.05 s"
            in md)


def test_broken_variants_are_not_counted(root, journals) -> None:
    session.write_runs(runs(journals), NEW_RUN, root)
    md = (root / "summary" / f"{NEW_RUN}.md").read_text()
    page = (root / "summary" / f"{NEW_RUN}.html").read_text()
    for text in (md, page):
        assert "alert-rule-removed" not in text and "alert-missing" not in text
    lines = history.load(root / "history.jsonl")
    assert {(e["run_id"], e["scenario"]) for e in lines if e["run_id"] == NEW_RUN} == {
        (NEW_RUN, "db-down"), (NEW_RUN, "service-crash"), (NEW_RUN, "port-conflict")}


def test_html_is_self_contained_with_a_timeline_per_scenario(root, journals) -> None:
    _write(root, journals, NEW_RUN)
    page = (root / "summary" / f"{NEW_RUN}.html").read_text()
    assert "<script" not in page and "<link" not in page and " src=" not in page
    assert not re.search(r'href="(?:https?:)?//', page)  # only the relative incident links
    assert page.count('<svg xmlns="http://www.w3.org/2000/svg" class="timeline"') == 3
    assert 'class="probe-failure"' in page  # probe failures are marked
    assert "<style>" in page
    for phase in Phase:
        if phase is not Phase.SUITE:
            assert f'class="lane">{phase.value}</text>' in page
    assert "13.60 s" in page and "deadline 19.91 s · fired 12.10 s" in page


def test_history_is_idempotent_and_shows_trends_over_two_runs(root, journals) -> None:
    _write(root, journals, OLD_RUN)
    _write(root, journals, NEW_RUN)
    first = (root / "history.jsonl").read_text()
    _write(root, journals, NEW_RUN)  # the same run again: no new line
    _write(root, journals, OLD_RUN, latest=False)
    assert (root / "history.jsonl").read_text() == first
    lines = [json.loads(line) for line in first.splitlines()]
    assert [(e["run_id"], e["scenario"]) for e in lines] == [
        (OLD_RUN, "db-down"), (NEW_RUN, "db-down"), (NEW_RUN, "service-crash"),
        (NEW_RUN, "port-conflict")]
    assert all({name.value for name in Figure} <= set(line) for line in lines)
    md = (root / "summary" / f"{NEW_RUN}.md").read_text()
    assert ("| db-down | 2 | time to alert (firing) █▁ 13.1 → 12.1 s; time to recover (the "
            "recovery acted to signals cleared) █▁ 16.6 → 15.1 s | ✅ ✅ |") in md
    assert "| service-crash | 1 | healed by itself (/health 200) ▁ 4.2 s | ✅ |" in md
    page = (root / "summary" / f"{NEW_RUN}.html").read_text()
    assert f"{OLD_RUN}, {NEW_RUN}" in page and "13.1 → 12.1 s" in page
    assert page.count('class="spark"') >= 3


def test_an_older_history_line_without_a_figure_shows_a_dash(root, journals) -> None:
    old = {"run_id": "0000000000", "scenario": "db-down", "started_at": OLD_START - 86400,
           "result": "passed", "category": None, "time_to_alert": 14.0}  # an earlier shape
    (root / "history.jsonl").write_text(json.dumps(old) + "\n")
    _write(root, journals, NEW_RUN)
    md = (root / "summary" / f"{NEW_RUN}.md").read_text()
    assert "14.0 → 12.1 s" in md and "- → 15.1 s" in md


def test_latest_is_only_written_for_the_newest_run(root, journals) -> None:
    _write(root, journals, NEW_RUN)
    _write(root, journals, OLD_RUN, latest=False)  # rebuilding an older run leaves latest
    latest = (root / "summary" / "latest.md").read_text()
    assert latest == (root / "summary" / f"{NEW_RUN}.md").read_text()


def test_trend_stops_at_the_reported_run(root, journals) -> None:
    _write(root, journals, NEW_RUN)
    _write(root, journals, OLD_RUN, latest=False)
    md = (root / "summary" / f"{OLD_RUN}.md").read_text()
    assert "| db-down | 1 |" in md and "12.1" not in md.split("## Trends")[1]


def test_a_run_of_broken_variants_only_has_an_empty_summary(root) -> None:
    variant = db_down(run_id="brokenonly", variant="alert-rule-removed")
    written = session.write_runs(runs([variant]), None, root)
    assert [p.name for p in written] == ["brokenonly.md", "brokenonly.html"]  # latest untouched
    assert "No real scenario ran in this run." in written[0].read_text()


def test_cli_rebuilds_the_newest_run_from_its_journal_files(root, capsys) -> None:
    (root / "journals" / "0000000000--db-down.json").write_text('{"schema_version": 1}')
    assert session.main(["--root", str(root)]) == 0
    out, err = capsys.readouterr()
    assert f"summary/{NEW_RUN}.html" in out and "summary/latest.md" in out
    assert OLD_RUN not in out
    assert "skipping" in err and "0000000000--db-down.json" in err  # another schema
    assert session.main(["--root", str(root), "--run-id", OLD_RUN]) == 0
    assert "latest" not in capsys.readouterr().out
    assert session.main(["--root", str(root), "--run-id", "nosuchrun"]) == 1

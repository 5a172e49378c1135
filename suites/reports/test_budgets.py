"""Issue 16: a budget either fails or is not a budget, and a report never shows a red mark on a
passed scenario. The summary (markdown and HTML) and the incident report mark a figure over its
budget only where the run failed on it (reporting.journals.verdict): budget-exceeded in detect
or recover on that cell, alert-late on the alert, user-impact or load-missing on the users'."""

from __future__ import annotations

import re

import pytest

from gameday.journal import Category, Journal, Phase
from reporting import incident, journals, summary
from suites.reports.conftest import NEW_RUN, db_down, failed

pytestmark = pytest.mark.report

# The summary's columns after the scenario, in order.
COLUMNS = ("result", "detect", "alert", "recover", *summary.USERS)


def over_everything() -> Journal:
    """A run that passed although every figure is above a number: detect 1.91 s against 1 s,
    the page at 31.5 s against its deadline 19.91 s, recovery 15.05 s against 10 s."""
    journal = db_down(alert=30.0)
    journal.budgets.update(detect=1.0, recover=10.0)
    return journal


def pages(journal: Journal) -> tuple[str, str]:
    """The summary of this one journal, as markdown and as HTML."""
    page = {"run_id": NEW_RUN, "started": None, "compression_factor": 20.0,
            "rows": [summary.scenario_row(journal)], "journals": [journal], "trends": {},
            "counts": {"passed": 0, "failed": 0, "broken": 0}}
    return summary.render_markdown(page), summary.render_html(page)


def md_cells(markdown: str) -> dict[str, str]:
    row = next(line for line in markdown.splitlines() if line.startswith("| db-down |"))
    return dict(zip(COLUMNS, row.split(" | ")[1:], strict=False))


def html_cells(page: str) -> dict[str, str]:
    """Each cell's class: a red one has "over"."""
    row = next(tr for tr in page.split("<tr>") if "<b>db-down</b>" in tr)
    return dict(zip(COLUMNS, re.findall(r'<td class="([^"]*)"', row), strict=True))


def test_a_passed_run_over_every_number_shows_no_red_mark() -> None:
    journal = over_everything()
    markdown, page = pages(journal)
    table = markdown.split("## Failures")[0].split("## Phases")[0]
    assert "❌" not in markdown and not re.search(r"\bover\b", table)
    assert "over budget" not in page and "❌" not in page
    assert not any("over" in cls.split() for cls in html_cells(page).values())
    assert "✅" not in md_cells(markdown)["detect"]  # nor a tick: 1.91 s is above 1 s
    report = incident.build(journal)
    assert report["over"] == {"detect": False, "alert": False, "recover": False}
    text = incident.render_markdown(report)
    assert "❌" not in text and "over its budget" not in text and "later than" not in text
    assert not any("budget" in item for item in report["follow_ups"])


@pytest.mark.parametrize(("phase", "category", "column"), [
    (Phase.DETECT, Category.BUDGET_EXCEEDED, "detect"),
    (Phase.RECOVER, Category.BUDGET_EXCEEDED, "recover"),
    (Phase.ALERT, Category.ALERT_LATE, "alert"),
    (Phase.ALERT, Category.PAGED, "alert"),
    (Phase.VALIDATE, Category.USER_IMPACT, "failed (5xx / connection)"),
    (Phase.VALIDATE, Category.LOAD_MISSING, "failed (5xx / connection)"),
], ids=lambda v: str(v))
def test_a_failure_marks_its_own_cell_only(phase, category, column) -> None:
    journal = failed(over_everything(), phase, category, "sample")
    markdown, page = pages(journal)
    assert [name for name, cell in md_cells(markdown).items() if "❌" in cell] == [column]
    assert md_cells(markdown)[column].endswith(" ❌ over")
    assert [name for name, cls in html_cells(page).items() if "over" in cls.split()] == [column]
    assert page.count("over budget") == 1


def test_a_page_that_never_came_in_time_is_marked_late() -> None:
    """As the lifecycle fails alert-late: it stopped waiting at the deadline, so the journal
    has no delivery and no deadline figure, only the failure."""
    journal = db_down(alert=30.0)
    for name in ("time_to_delivered", "alert_deadline", "time_to_alert", "time_to_pending",
                 "alert_after_symptom", "expected_alert_delay"):
        del journal.figures[name]
    del journal.budgets["alert"]
    journal = failed(journal, Phase.ALERT, Category.ALERT_LATE, "firing but not delivered")
    markdown, page = pages(journal)
    assert md_cells(markdown)["alert"] == "not delivered by its deadline ❌ over"
    assert [name for name, cls in html_cells(page).items() if "over" in cls.split()] == ["alert"]
    report = incident.build(journal)
    assert "The page did not reach the receiver by its deadline." in (
        incident.render_markdown(report))
    assert incident.FOLLOW_UPS[Category.ALERT_LATE] in report["follow_ups"]


def test_too_little_load_marks_no_load_ran() -> None:
    journal = db_down()
    journal.impact = {}
    markdown, page = pages(failed(journal, Phase.VALIDATE, Category.LOAD_MISSING, "sample"))
    assert md_cells(markdown)["availability during the fault"] == "no load ran ❌ over"
    assert [name for name, cell in md_cells(markdown).items() if "❌" in cell] == [
        "availability during the fault"]
    assert html_cells(page)["availability during the fault"] == "cost over"


@pytest.mark.parametrize(("phase", "measure"), [(Phase.DETECT, "detect"),
                                                (Phase.RECOVER, "recover")])
def test_an_exceeded_budget_is_a_follow_up_of_its_measure_only(phase, measure) -> None:
    journal = failed(over_everything(), phase, Category.BUDGET_EXCEEDED, "sample")
    report = incident.build(journal)
    assert [name for name, over in report["over"].items() if over] == [measure]
    budgets = [item for item in report["follow_ups"] if "over its budget" in item]
    assert len(budgets) == 1 and budgets[0].startswith(f"Time to {measure} ")
    assert incident.FOLLOW_UPS[Category.BUDGET_EXCEEDED] in report["follow_ups"]


def test_another_failure_marks_no_budget() -> None:
    """A run that failed for something else keeps its figures unjudged (and its ticks)."""
    journal = failed(over_everything(), Phase.VALIDATE, Category.DATA_LOST, "sample")
    markdown, page = pages(journal)
    assert "❌" not in "".join(md_cells(markdown).values())
    assert "over budget" not in page
    assert not any(incident.build(journal)["over"].values())


def test_a_broken_run_is_never_judged() -> None:
    """budget-exceeded is a product defect; a suite failure in its place judges nothing."""
    journal = failed(over_everything(), Phase.DETECT, Category.SUITE, "docker went away")
    assert not any(journals.failed_on(journal, m) for m in journals.JUDGED_BY)

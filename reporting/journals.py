"""What every report derives from a typed journal (gameday.journal): runs, moments, verdicts.

The lifecycle's figures are the only figures: a run that failed before one was measured has
none, and the reports say "-". Nothing is looked up on disk here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from gameday.journal import Category, Figure, Journal, Phase, Result
from gameday.redact import redact_data

LABELS: dict[Figure, str] = {
    Figure.TIME_TO_DETECT: "time to detect",
    Figure.EXPECTED_ALERT_DELAY: "expected alert delay",
    Figure.ALERT_DEADLINE: "alert deadline (page at the receiver)",
    Figure.TIME_TO_PENDING: "alert pending",
    Figure.TIME_TO_ALERT: "time to alert (firing)",
    Figure.ALERT_AFTER_SYMPTOM: "alert after the symptom",
    Figure.TIME_TO_DELIVERED: "alert delivered",
    Figure.TIME_TO_RECOVER: "time to recover (the recovery acted to signals cleared)",
    Figure.TIME_TO_RESOLVE: "time to resolve (/health 200)",
    Figure.TIME_TO_ALERT_RESOLVED: "alert resolved",
    Figure.TIME_TO_SELF_HEAL: "healed by itself (/health 200)",
}


def runs(journals: Iterable[Journal]) -> dict[str, list[Journal]]:
    """Each run's real journals in the order they ran, runs oldest first. A run with broken
    variants only is there with no journal: it has a summary, but nothing to report."""
    grouped: dict[str, list[Journal]] = {}
    for journal in sorted(journals, key=lambda j: (j.started_at or 0.0, j.scenario)):
        grouped.setdefault(journal.run_id, [])
        if journal.is_real:
            grouped[journal.run_id].append(journal)
    return grouped


def redacted(journal: Journal, secrets: Iterable[str]) -> Journal:
    """A copy with every secret masked, for writers that quote command output and probes."""
    return Journal.from_dict(redact_data(journal.to_dict(), list(secrets)))


def figure(journal: Journal, name: Figure) -> float | None:
    """A figure the lifecycle measured, None where the run ended before measuring it."""
    return journal.figures.get(name.value)


def injected_at(journal: Journal) -> float | None:
    inject = journal.phase(Phase.INJECT)
    if inject is None:
        return None
    return inject.details["injected_at"] if inject.ok else inject.started


def at(journal: Journal, name: Figure) -> float | None:
    """The moment of a figure counted from the injection."""
    value, injected = figure(journal, name), injected_at(journal)
    return None if value is None or injected is None else injected + value


def healed_by_itself(journal: Journal) -> bool:
    return figure(journal, Figure.TIME_TO_SELF_HEAL) is not None


def self_healing(journal: Journal) -> bool:
    """A fault the deployment is to heal by itself, as the catalog declared it."""
    return journal.self_heals


def nobody_paged(journal: Journal) -> bool:
    """The alert phase watched a self-healing fault and nobody was paged."""
    alert = journal.phase(Phase.ALERT)
    return bool(alert and alert.ok and healed_by_itself(journal))


def back_to_healthy(journal: Journal) -> float | None:
    """Seconds from the injection to /health 200, by the runbook or by the deployment."""
    resolve = figure(journal, Figure.TIME_TO_RESOLVE)
    return resolve if resolve is not None else figure(journal, Figure.TIME_TO_SELF_HEAL)


def recovery(journal: Journal) -> float | None:
    """What the recover budget is held against: the runbook's recovery, or the self-heal."""
    recover = figure(journal, Figure.TIME_TO_RECOVER)
    return recover if recover is not None else figure(journal, Figure.TIME_TO_SELF_HEAL)


def alert_ratio(figures: Mapping[str, float | None]) -> float | None:
    """Alert after the symptom over the expected alert delay: information only, the alert's
    budget is its deadline (alert_deadline). Bench reads the same ratio."""
    after = figures.get(Figure.ALERT_AFTER_SYMPTOM.value)
    expected = figures.get(Figure.EXPECTED_ALERT_DELAY.value)
    return None if after is None or not expected else round(after / expected, 2)


def alert_deadline(journal: Journal) -> float | None:
    """Seconds after the injection by which the page had to reach the receiver (the catalog's
    maximum delay after detection); None in a journal written before there was one."""
    return journal.budgets.get("alert")


# ---- verdicts -------------------------------------------------------------------------------
# Issue 16: a budget either fails or is not a budget. A report marks a measure over its budget
# only where the run failed on that measure, as the lifecycle judged it; a passed run is never
# marked, whatever its figures say. These are the failures that judge each measure (a phase of
# None: any phase).
Measure = Literal["detect", "alert", "recover", "users"]
JUDGED_BY: dict[Measure, tuple[tuple[Category, Phase | None], ...]] = {
    "detect": ((Category.BUDGET_EXCEEDED, Phase.DETECT),),
    "alert": ((Category.ALERT_LATE, None), (Category.PAGED, None)),
    "recover": ((Category.BUDGET_EXCEEDED, Phase.RECOVER),),
    "users": ((Category.USER_IMPACT, None), (Category.LOAD_MISSING, None)),
}


def budgeted(journal: Journal) -> dict[Measure, tuple[float | None, float | None]]:
    """Each measure held against a time budget, as (value, budget); the alert's is the page's
    arrival at the receiver against its deadline."""
    return {"detect": (figure(journal, Figure.TIME_TO_DETECT), journal.budgets["detect"]),
            "alert": (figure(journal, Figure.TIME_TO_DELIVERED), alert_deadline(journal)),
            "recover": (recovery(journal), journal.budgets["recover"])}


def failed_on(journal: Journal, measure: Measure) -> bool:
    """Whether the run failed because of this measure."""
    failure = journal.failure
    if journal.result != Result.FAILED or failure is None:
        return False
    return any(failure.category == category and phase in (None, failure.phase)
               for category, phase in JUDGED_BY[measure])


def verdict(journal: Journal, measure: Measure, value: float | None,
            budget: float | None) -> Literal["over", "within"] | None:
    """How a report marks a measure: "over" where the run failed on it, "within" where its
    value is within its budget, else no mark (a report does not judge what the run did not)."""
    if failed_on(journal, measure):
        return "over"
    return "within" if value is not None and budget is not None and value <= budget else None


def failure_tag(journal: Journal) -> str:
    """`phase/category` of a failed run, '' for a passed one."""
    failure = journal.failure
    return "" if failure is None else f"{failure.phase.value}/{failure.category.value}"


def category(journal: Journal) -> Category | None:
    return None if journal.failure is None else journal.failure.category


def first_failure(journal: Journal) -> dict[str, Any] | None:
    """The first failing probe at or after the injection."""
    injected = injected_at(journal)
    if injected is None:
        return None
    return next((o for o in journal.timeline if not o["ok"] and o["at"] >= injected), None)


def first_alert(journal: Journal, status: str) -> tuple[dict, dict] | None:
    """The first notification the receiver got with an alert of `status`, and that alert."""
    for payload in journal.notifications:
        for alert in payload["alerts"]:
            if alert["status"] == status:
                return payload, alert
    return None

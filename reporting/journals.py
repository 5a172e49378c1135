"""Reading scenario journals and the times every report derives from them.

A journal is kept as the dict the lifecycle wrote (suites/scenarios/lifecycle.py `Journal`):
reports read fields defensively because a run that failed early lacks phases and figures.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from reporting import REPORTS

JOURNALS = REPORTS / "journals"
REAL = "real"
# Used only when the journal does not carry its budgets and the catalog cannot be imported.
DEFAULT_DETECT_BUDGET = 15.0
DEFAULT_RECOVER_BUDGET = 90.0
ALERT_TARGET_FACTOR = 1.5  # the alert target: 1.5 x the theoretical floor

Journal = dict[str, Any]


def load(path: Path) -> Journal:
    journal = json.loads(path.read_text(encoding="utf-8"))
    journal.setdefault("variant", REAL)
    return journal


def load_all(directory: Path = JOURNALS) -> list[Journal]:
    """Every journal in `directory`; an unreadable one is reported and skipped, since one
    half-written file must not cost the whole game day its reports."""
    found = []
    for path in sorted(directory.glob("*.json")):
        try:
            found.append(load(path))
        except (OSError, ValueError) as error:
            print(f"reports: skipping unreadable journal {path}: {error}", file=sys.stderr)
    return found


def is_real(journal: Journal) -> bool:
    return journal.get("variant", REAL) == REAL


def started_at(journal: Journal) -> float | None:
    """When the run of this scenario began (its first phase)."""
    starts = [p["started"] for p in journal.get("phases", []) if p.get("started") is not None]
    return min(starts) if starts else None


def ended_at(journal: Journal) -> float | None:
    """The last moment the journal knows about (phases, probes, notifications)."""
    moments = [p.get("ended") for p in journal.get("phases", [])]
    moments += [o.get("at") for o in journal.get("timeline", [])]
    moments += [n.get("received_at") for n in journal.get("notifications", [])]
    moments = [m for m in moments if m is not None]
    return max(moments) if moments else None


def for_run(run_id: str, directory: Path = JOURNALS) -> list[Journal]:
    """The real journals of one run, in the order the scenarios ran."""
    chosen = [j for j in load_all(directory) if j.get("run_id") == run_id and is_real(j)]
    return sorted(chosen, key=lambda j: (started_at(j) or 0.0, j.get("scenario", "")))


def run_ids(directory: Path = JOURNALS) -> list[str]:
    """Run ids that have real journals, oldest first."""
    first: dict[str, float] = {}
    for journal in load_all(directory):
        if not is_real(journal) or not journal.get("run_id"):
            continue
        start = started_at(journal) or 0.0
        run = journal["run_id"]
        first[run] = min(first.get(run, start), start)
    return sorted(first, key=lambda run: (first[run], run))


def newest_run_id(directory: Path = JOURNALS) -> str | None:
    ids = run_ids(directory)
    return ids[-1] if ids else None


def phase(journal: Journal, name: str) -> dict | None:
    return next((p for p in journal.get("phases", []) if p.get("name") == name), None)


def injected_at(journal: Journal) -> float | None:
    inject = phase(journal, "inject")
    if inject is None:
        return None
    return (inject.get("details") or {}).get("injected_at", inject.get("started"))


def _notification_at(journal: Journal, status: str) -> float | None:
    times = [n["received_at"] for n in journal.get("notifications", [])
             if n.get("received_at") is not None
             and any(a.get("status") == status for a in n.get("alerts", []))]
    return min(times) if times else None


def first_failure(journal: Journal, after: float | None) -> dict | None:
    """The first failing probe at or after `after` (the injection)."""
    return next((o for o in journal.get("timeline", [])
                 if not o.get("ok") and (after is None or o.get("at", 0) >= after)), None)


def health_back(journal: Journal, after: float | None) -> dict | None:
    """The first healthy /health probe after it had failed since `after`."""
    failed = False
    for o in journal.get("timeline", []):
        if o.get("endpoint") != "health" or (after is not None and o.get("at", 0) < after):
            continue
        if not o.get("ok"):
            failed = True
        elif failed:
            return o
    return None


def times(journal: Journal) -> dict[str, float | None]:
    """The scenario's figures, in seconds since injection unless named otherwise.

    The lifecycle's own figures win; when one is missing (an older journal, a run that failed
    part way) it is derived from the probe timeline and the notifications where that is sound.
    """
    figures = dict(journal.get("figures") or {})
    injected = injected_at(journal)

    def since_injection(moment: float | None) -> float | None:
        if moment is None or injected is None:
            return None
        return round(moment - injected, 3)

    if figures.get("time_to_detect") is None:
        failure = first_failure(journal, injected)
        figures["time_to_detect"] = since_injection(failure and failure.get("at"))
    if figures.get("time_to_delivered") is None:
        figures["time_to_delivered"] = since_injection(_notification_at(journal, "firing"))
    if figures.get("time_to_alert_resolved") is None:
        figures["time_to_alert_resolved"] = since_injection(_notification_at(journal, "resolved"))
    if figures.get("time_to_resolve") is None:
        back = health_back(journal, injected)
        figures["time_to_resolve"] = since_injection(back and back.get("at"))
    names = ("time_to_detect", "alert_floor", "time_to_pending", "time_to_alert",
             "time_to_delivered", "time_to_recover", "time_to_resolve", "time_to_alert_resolved")
    return {name: figures.get(name) for name in names}


def budgets(journal: Journal) -> dict[str, float | None]:
    """Detect, alert and recover budgets of the scenario.

    Detect and recover come from the journal when it carries them, else from the catalog entry
    (the single source of the budgets), else the catalog's defaults. The alert target is
    1.5 x the alert floor the lifecycle measured from the live rules.
    """
    given = journal.get("budgets") or {}
    detect, recover = given.get("detect"), given.get("recover")
    if detect is None or recover is None:
        try:
            from gameday import catalog

            entry = catalog.BY_NAME.get(journal.get("scenario", ""))
        except Exception:  # the reports must build even where the suite cannot be imported
            entry = None
        detect = detect if detect is not None else (
            entry.detect_budget if entry else DEFAULT_DETECT_BUDGET)
        recover = recover if recover is not None else (
            entry.recover_budget if entry else DEFAULT_RECOVER_BUDGET)
    floor = (journal.get("figures") or {}).get("alert_floor")
    alert = given.get("alert", ALERT_TARGET_FACTOR * floor if floor else None)
    return {"detect": detect, "alert": alert, "recover": recover}


def failure_tag(journal: Journal) -> str:
    """`phase/category` of a failed run, '' for a passed one."""
    failure = journal.get("failure") or {}
    if not failure:
        return ""
    return f"{failure.get('phase', '?')}/{failure.get('category', '?')}"

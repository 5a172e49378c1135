"""reports/history.jsonl: one line per run per scenario, for the trends of the summary.

Recording is idempotent per (run id, scenario): building the reports of a run twice, or
after more of its journals arrived, leaves one line for each of its scenarios.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from reporting import REPORTS, journals
from reporting.journals import Journal

HISTORY = REPORTS / "history.jsonl"
FIGURES = ("time_to_detect", "time_to_alert", "alert_floor", "time_to_recover", "time_to_resolve")


def entry(journal: Journal) -> dict[str, Any]:
    times = journals.times(journal)
    return {"run_id": journal.get("run_id"), "scenario": journal.get("scenario"),
            "started_at": journals.started_at(journal), "result": journal.get("result"),
            "category": (journal.get("failure") or {}).get("category"),
            **{name: times.get(name) for name in FIGURES}}


def load(path: Path = HISTORY) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    lines = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        if raw.strip():
            try:
                lines.append(json.loads(raw))
            except ValueError:
                continue  # a torn line from an interrupted write must not stop the reports
    return lines


def record(run: Iterable[Journal], path: Path = HISTORY) -> list[dict[str, Any]]:
    """Add (or replace) the lines of these real journals; returns the whole history."""
    new = [entry(j) for j in run if journals.is_real(j)]
    old = load(path)
    keys = {(e["run_id"], e["scenario"]) for e in new}
    merged = [e for e in old if (e.get("run_id"), e.get("scenario")) not in keys] + new
    merged.sort(key=lambda e: (e.get("started_at") or 0.0, e.get("run_id") or "",
                               e.get("scenario") or ""))
    if merged != old:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text("".join(json.dumps(e, sort_keys=True) + "\n" for e in merged),
                       encoding="utf-8")
        tmp.replace(path)
    return merged


def last_runs(history: list[dict[str, Any]], scenario: str, until_run: str,
              limit: int = 10) -> list[dict[str, Any]]:
    """The scenario's last `limit` runs up to and including `until_run`, oldest first."""
    rows = [e for e in history if e.get("scenario") == scenario]
    cut = next((i for i, e in enumerate(rows) if e.get("run_id") == until_run), None)
    if cut is not None:
        rows = rows[:cut + 1]
    return rows[-limit:]

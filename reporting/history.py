"""reports/history.jsonl: one line per run per scenario, for the trends of the summary.

Each line carries every Figure by its name; a line written before a figure existed lacks it,
and the trends show "-" there.

Recording is idempotent per (run id, scenario): building the reports of a run twice, or
after more of its journals arrived, leaves one line for each of its scenarios.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from gameday.journal import Figure, Journal
from reporting import REPORTS, journals

HISTORY = REPORTS / "history.jsonl"


def entry(journal: Journal) -> dict[str, Any]:
    """A history line: who, when, how it ended, and every figure (None where not measured)."""
    category = journals.category(journal)
    return {"run_id": journal.run_id, "scenario": journal.scenario,
            "started_at": journal.started_at, "result": journal.result.value,
            "category": category and category.value,
            **{name.value: journals.figure(journal, name) for name in Figure}}


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
    new = [entry(j) for j in run if j.is_real]
    old = load(path)
    keys = {(e["run_id"], e["scenario"]) for e in new}
    merged = [e for e in old if (e["run_id"], e["scenario"]) not in keys] + new
    merged.sort(key=lambda e: (e["started_at"] or 0.0, e["run_id"], e["scenario"]))
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
    rows = [e for e in history if e["scenario"] == scenario]
    cut = next((i for i, e in enumerate(rows) if e["run_id"] == until_run), None)
    if cut is not None:
        rows = rows[:cut + 1]
    return rows[-limit:]

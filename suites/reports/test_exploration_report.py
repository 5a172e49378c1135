"""The exploration's failing sequence as a journal: an incident report and a summary row like
any scenario's, with the shrunk steps in order and the replay command (gameday.explore)."""

from __future__ import annotations

import json

import pytest

from gameday.explore import SCENARIO, journal_of
from gameday.journal import Category, Journal, Phase, Result
from gameday.lifecycle import ScenarioFailed
from reporting import incident, summary
from suites.reports.conftest import NEW_RUN, NEW_START

pytestmark = pytest.mark.report
REPLAY = "make explore examples=3 seed=7"


def _step(line: int, command: str, at: float, ok: bool = True) -> dict:
    return {"line": line, "command": command, "run": True, "phase": Phase.INJECT.value,
            "started": at, "seconds": 0.5, "exit_code": 0 if ok else 1, "output": "said"}


def shrunk() -> list[dict]:
    return [_step(1, "state.inject(model-corruption)", NEW_START + 1),
            _step(2, "state.inject(db-down)", NEW_START + 2),
            _step(3, "check: inferences served", NEW_START + 3, ok=False)]


def failed_exploration() -> Journal:
    error = ScenarioFailed(Phase.VALIDATE, Category.USER_IMPACT,
                           "inferences failed while only ['db-down'] was broken: [503]")
    return journal_of(NEW_RUN, 15.0, 3, None, NEW_START, error, REPLAY, shrunk())


def test_a_failed_sequence_keeps_its_steps_category_and_replay() -> None:
    journal = failed_exploration()
    assert journal.scenario == SCENARIO and journal.is_real
    assert journal.result is Result.FAILED
    assert journal.failure.category is Category.USER_IMPACT
    assert journal.failure.phase is Phase.VALIDATE
    assert REPLAY in journal.failure.message
    assert journal.fault == "inject(model-corruption) → inject(db-down) → check: inferences served"
    assert Journal.from_dict(json.loads(journal.to_json())) == journal


def test_a_suite_error_is_not_a_product_defect() -> None:
    journal = journal_of(NEW_RUN, 15.0, 3, None, NEW_START, OSError("docker went away"),
                         REPLAY, shrunk())
    assert journal.result is Result.BROKEN and journal.failure.category is Category.SUITE


def test_a_green_exploration_has_no_steps_to_blame() -> None:
    journal = journal_of(NEW_RUN, 15.0, 3, None, NEW_START, None, REPLAY, shrunk())
    assert journal.result is Result.PASSED and journal.failure is None
    assert journal.commands == [] and journal.fault.startswith("every sequence kept")


def test_incident_report_lists_the_sequence_in_order(root) -> None:
    incident.write(failed_exploration(), root)
    md = (root / "incidents" / NEW_RUN / f"{SCENARIO}.md").read_text()
    steps = [md.index(text) for text in ("state.inject(model-corruption)",
                                         "state.inject(db-down)", "check: inferences")]
    assert steps == sorted(steps)
    assert "user-impact" in md and REPLAY in md


def test_summary_counts_the_exploration_as_a_failed_run(root) -> None:
    written = summary.write(NEW_RUN, [failed_exploration()], root, [], latest=True)
    text = next(p for p in written if p.suffix == ".md").read_text()
    assert SCENARIO in text and "user-impact" in text


def test_a_green_exploration_gets_its_report_too(root) -> None:
    """The session writes an incident report for every real journal: a passed exploration's
    must build (its journal once lacked the injection time every report reads)."""
    green = journal_of(NEW_RUN, 15.0, 3, None, NEW_START, None, REPLAY, [])
    written = incident.write(green, root)
    assert [p.name for p in written] == [f"{SCENARIO}.md", f"{SCENARIO}.json"]
    assert "every sequence kept" in written[0].read_text()
    summary.write(NEW_RUN, [green], root, [], latest=True)

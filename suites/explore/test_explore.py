"""`make explore`: random fault sequences on the live stack, shrunk to the shortest that fails.

Bounded: --explore-examples sequences (default 10) of up to 6 steps. Hypothesis keeps the
failing examples it found in reports/hypothesis, so a failure found one night is tried first
the next. --explore-variant deploys a known-bad build (a broken variant's app) first.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.database import DirectoryBasedExampleDatabase
from hypothesis.stateful import run_state_machine_as_test

from fixtures.stack import Stack
from gameday.explore import MAX_STEPS, FaultSequences, journal_of, replay_command
from gameday.journal import Category, Result
from gameday.variants import APPS

pytestmark = [pytest.mark.stack, pytest.mark.explore]
DATABASE = Path(__file__).resolve().parents[2] / "reports" / "hypothesis"
KNOWN_BAD = {"no-outbox": ("no-outbox.yml", "no_outbox.py"),
             "no-store": ("no-store.yml", "no_store.py")}


def explore(stack: Stack, examples: int, variant: str | None, database,
            machine: type[FaultSequences] = FaultSequences, **chosen) -> None:
    FaultSequences.stack = stack
    FaultSequences.rules_run.clear()
    chosen = settings(**{"max_examples": examples, "stateful_step_count": MAX_STEPS,
                         "deadline": None,
                         "database": database, "print_blob": True,
                         "phases": (Phase.reuse, Phase.generate, Phase.shrink),
                         "suppress_health_check": list(HealthCheck), **chosen})
    if variant is None:
        run_state_machine_as_test(machine, settings=chosen)
        return
    with stack.with_files(*(APPS / name for name in KNOWN_BAD[variant])):
        run_state_machine_as_test(machine, settings=chosen)


def test_explore_fault_sequences(stack, request: pytest.FixtureRequest, observers) -> None:
    """The sequences hypothesis draws keep every promise; the exploration is one journal (with
    the shrunk sequence when one fails), hence an incident report and an Allure result."""
    examples = request.config.getoption("--explore-examples")
    variant = request.config.getoption("--explore-variant")
    replay = replay_command(request.config.getoption("--hypothesis-seed", None), examples,
                            variant)
    started, failed = time.time(), None
    try:
        # One bug, shrunk: the journal pairs its message with its own (shrunk) steps.
        explore(stack, examples, variant, DirectoryBasedExampleDatabase(str(DATABASE)),
                report_multiple_bugs=False)
    except BaseException as error:
        failed = error
        # Hypothesis prints the shrunk sequence (state.inject(...), ...) above this line; its
        # database replays it first next time.
        print(f"\nreplay the shrunk sequence: {replay}")
        raise
    finally:
        journal = journal_of(stack.gameday_id, stack.compression.factor, examples, variant,
                             started, _first(failed), replay, FaultSequences.last_steps)
        for observer in observers:
            observer.finished(journal)
    print(f"\nsteps taken, by rule: {dict(FaultSequences.rules_run)}")


def _failures(error: BaseException) -> list[BaseException]:
    nested = getattr(error, "exceptions", None)
    return [leaf for e in nested for leaf in _failures(e)] if nested else [error]


def _first(error: BaseException | None) -> BaseException | None:
    return None if error is None else _failures(error)[0]


def test_exploration_finds_a_build_without_outbox_in_three_steps(stack) -> None:
    """Seeded with a known-bad build, the exploration fails and shrinks to a short sequence.
    Not luck: the promises are checked after every step, so any sequence that brings a
    database fault fails right there. One bug is shrunk, not each distinct one: every attempt
    waits for the stack's steady state."""
    started = time.time()
    with pytest.raises(BaseException) as caught:
        explore(stack, 6, "no-outbox", None, report_multiple_bugs=False)
    failure = _first(caught.value)
    assert "inferences failed" in str(failure), f"not the outbox's promise: {caught.value!r}"
    shrunk = [step["command"] for step in FaultSequences.last_steps]
    assert len(shrunk) <= 3, shrunk
    assert any("db-down" in step or "db-hung" in step for step in shrunk), shrunk
    journal = journal_of(stack.gameday_id, stack.compression.factor, 6, "no-outbox", started,
                         failure, "replay", FaultSequences.last_steps)
    assert journal.result is Result.FAILED
    assert journal.failure.category is Category.USER_IMPACT
    assert journal.fault == " → ".join(s.removeprefix("state.") for s in shrunk)

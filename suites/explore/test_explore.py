"""`make explore`: random fault sequences on the live stack, shrunk to the shortest that fails.

Bounded: --explore-examples sequences (default 10) of up to 6 steps. Hypothesis keeps the
failing examples it found in reports/hypothesis, so a failure found one night is tried first
the next. --explore-variant deploys a known-bad build (a broken variant's app) first.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.database import DirectoryBasedExampleDatabase, InMemoryExampleDatabase
from hypothesis.stateful import run_state_machine_as_test

from fixtures.stack import Stack
from gameday.explore import FaultSequences, replay_command
from gameday.variants import APPS

pytestmark = [pytest.mark.stack, pytest.mark.explore]
DATABASE = Path(__file__).resolve().parents[2] / "reports" / "hypothesis"
KNOWN_BAD = {"no-outbox": ("no-outbox.yml", "no_outbox.py"),
             "no-store": ("no-store.yml", "no_store.py")}
RULES = ("state.inject(", "state.revert(", "state.traffic(")


def explore(stack: Stack, examples: int, variant: str | None, database) -> None:
    FaultSequences.stack = stack
    chosen = settings(max_examples=examples, stateful_step_count=6, deadline=None,
                      database=database, phases=(Phase.reuse, Phase.generate, Phase.shrink),
                      suppress_health_check=list(HealthCheck), print_blob=True)
    if variant is None:
        run_state_machine_as_test(FaultSequences, settings=chosen)
        return
    with stack.with_files(*(APPS / name for name in KNOWN_BAD[variant])):
        run_state_machine_as_test(FaultSequences, settings=chosen)


def test_explore_fault_sequences(stack, request: pytest.FixtureRequest) -> None:
    examples = request.config.getoption("--explore-examples")
    variant = request.config.getoption("--explore-variant")
    try:
        explore(stack, examples, variant, DirectoryBasedExampleDatabase(str(DATABASE)))
    except BaseException:
        # Hypothesis prints the shrunk sequence (state.inject(...), ...) above this line; its
        # database replays it first next time.
        seed = request.config.getoption("--hypothesis-seed", None)
        print(f"\nreplay the shrunk sequence: {replay_command(seed, examples)}"
              + (f" variant={variant}" if variant else ""))
        raise


def _failures(error: BaseException) -> list[BaseException]:
    nested = getattr(error, "exceptions", None)
    return [leaf for e in nested for leaf in _failures(e)] if nested else [error]


def test_exploration_finds_a_build_without_outbox_in_three_steps(stack) -> None:
    """Seeded with a known-bad build, the exploration fails and shrinks to a short sequence."""
    with pytest.raises(BaseException) as caught:
        explore(stack, 6, "no-outbox", InMemoryExampleDatabase())
    shrunk = []
    for failure in _failures(caught.value):
        notes = getattr(failure, "__notes__", [])
        steps = [line for note in notes for line in note.splitlines()
                 if line.strip().startswith(RULES)]
        if "inferences failed" in str(failure):
            shrunk.append(steps)
    assert shrunk, f"no failing sequence about failed inferences: {caught.value!r}"
    assert min(len(steps) for steps in shrunk) <= 3, shrunk
    assert any("db-down" in line or "db-hung" in line for line in min(shrunk, key=len))

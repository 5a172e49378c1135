"""`make explore`: random fault sequences on the live stack, shrunk to the shortest that fails.

Bounded: --explore-examples sequences (default 10) of up to 6 steps. Hypothesis keeps the
failing examples it found in reports/hypothesis, so a failure found one night is tried first
the next. --explore-variant deploys a known-bad build (a broken variant's app) first, to prove
that the exploration finds what it must.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.database import DirectoryBasedExampleDatabase
from hypothesis.stateful import run_state_machine_as_test

from gameday.explore import FaultSequences, replay_command
from gameday.variants import APPS

pytestmark = [pytest.mark.stack, pytest.mark.explore]
DATABASE = Path(__file__).resolve().parents[2] / "reports" / "hypothesis"
KNOWN_BAD = {"no-outbox": ("no-outbox.yml", "no_outbox.py"),
             "no-store": ("no-store.yml", "no_store.py")}


def test_explore_fault_sequences(stack, request: pytest.FixtureRequest) -> None:
    examples = request.config.getoption("--explore-examples")
    seed = request.config.getoption("--hypothesis-seed", None)
    variant = request.config.getoption("--explore-variant")
    FaultSequences.stack = stack
    explore = settings(max_examples=examples, stateful_step_count=6, deadline=None,
                       database=DirectoryBasedExampleDatabase(str(DATABASE)),
                       phases=(Phase.reuse, Phase.generate, Phase.shrink),
                       suppress_health_check=list(HealthCheck), print_blob=True)
    files = [APPS / name for name in KNOWN_BAD[variant]] if variant else []
    try:
        if files:
            with stack.with_files(*files):
                run_state_machine_as_test(FaultSequences, settings=explore)
        else:
            run_state_machine_as_test(FaultSequences, settings=explore)
    except BaseException:
        print(f"\nminimal failing sequence ({len(FaultSequences.steps)} steps): "
              f"{' -> '.join(FaultSequences.steps)}\nreplay: {replay_command(seed, examples)}"
              + (f" variant={variant}" if variant else ""))
        raise

"""Run only by test_cleanup.py in a child pytest: start a stack, say so, then wait.

In "killed" mode the parent kills this pytest with SIGKILL while it waits; in "complete" mode
it ends normally, like the next run after the kill.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from fixtures import engine, labels, sweep
from fixtures.stack import Stack


def test_hold_a_stack() -> None:
    ready = Path(os.environ["GAMEDAY_CHILD_READY_FILE"])
    swept = sweep.sweep_stale(engine.client())  # what every run does first
    with Stack(labels.new_run_id()) as stack:
        ready.write_text(f"{stack.run_id} {swept}")
        if os.environ.get("GAMEDAY_CHILD_MODE") == "killed":
            release = ready.with_suffix(".never")
            deadline = time.monotonic() + 300  # bounded, in case nobody kills us
            while not release.exists() and time.monotonic() < deadline:
                time.sleep(0.5)
        assert stack.container("app-prod").status == "running"

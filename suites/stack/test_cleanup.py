"""A pytest killed with SIGKILL mid-run leaves its stack; the next run sweeps it, and leaves
nothing of its own behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures import engine, sweep
from fixtures.clients import wait_until

pytestmark = pytest.mark.stack
CHILD = Path(__file__).with_name("hold_stack_child.py")


def start_child(ready: Path, mode: str) -> subprocess.Popen:
    env = {**os.environ, "GAMEDAY_CHILD_READY_FILE": str(ready), "GAMEDAY_CHILD_MODE": mode}
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", str(CHILD), "-q", "-p", "no:cacheprovider",
         "-o", f"python_files={CHILD.name}", "-p", "no:allure_pytest"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )


def test_sigkilled_run_is_swept_by_the_next_and_nothing_is_left(tmp_path: Path) -> None:
    client = engine.client()
    killed_ready = tmp_path / "killed.ready"
    killed = start_child(killed_ready, "killed")
    try:
        wait_until(killed_ready.exists, timeout=180, interval=0.5, what="the child's stack")
    finally:
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=30)
    killed_run = killed_ready.read_text().split()[0]
    left = sweep.leftovers(client, killed_run)
    assert any(item.startswith("container") for item in left), left
    assert any(item.startswith("network") for item in left), left
    assert any(item.startswith("volume") for item in left), left
    assert any(item.startswith("loop device") for item in left), left  # under the data volume

    next_ready = tmp_path / "next.ready"
    next_run = start_child(next_ready, "complete")
    output = next_run.communicate(timeout=300)[0].decode(errors="replace")
    assert next_run.returncode == 0, output[-3000:]
    next_run_id, swept = next_ready.read_text().split()
    assert int(swept) >= len(left)
    assert sweep.leftovers(client, killed_run) == []
    assert sweep.leftovers(client, next_run_id) == []

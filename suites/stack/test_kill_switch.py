"""The kill switch. A run stopped with SIGTERM mid-fault reverts its fault, takes its stack down
and journals `aborted`; a run killed outright (SIGKILL) mid-fault leaves the fault on the record
(fixtures/ledger.py), and `make abort` reverts it on the deployment the run left behind.

Each run is a game day of one scenario from a clone of this checkout (its reports stay its own);
db-hung pauses PostgreSQL: a fault that nothing but a revert would ever undo."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures import engine, ledger, sweep
from fixtures.clients import wait_until

pytestmark = pytest.mark.stack
ROOT = Path(__file__).resolve().parents[2]
SCENARIO = "db-hung"


def start_run(repo: Path) -> subprocess.Popen:
    if not repo.exists():
        subprocess.run(["git", "clone", "-q", str(ROOT), str(repo)], check=True)
        (repo / ".cache").symlink_to(ROOT / ".cache")
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:locust", "-q",
         "suites/scenarios/test_scenarios.py", "--scenario", SCENARIO],
        cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)


def postgres_state(entry: ledger.Entry) -> str:
    containers = engine.client().api.containers(all=True, filters={"label": [
        f"com.docker.compose.project=gameday-{entry.run_id}",
        "com.docker.compose.service=postgres"]})
    return containers[0]["State"] if containers else "gone"


def fault_in_force(run: subprocess.Popen) -> ledger.Entry:
    """The run's entry on the record, once its fault is really there (PostgreSQL paused)."""
    def paused() -> ledger.Entry | None:
        assert run.poll() is None, run.stdout.read().decode(errors="replace")[-3000:]
        mine = [e for e in ledger.in_force() if e.owner_pid == run.pid]
        return mine[0] if mine and postgres_state(mine[0]) == "paused" else None

    return wait_until(paused, timeout=300, interval=0.5, what="the run's fault in force")


def test_make_abort_reverts_the_fault_of_a_sigkilled_run(tmp_path: Path) -> None:
    run = start_run(tmp_path / "checkout")
    entry = None
    try:
        entry = fault_in_force(run)
        os.killpg(run.pid, signal.SIGKILL)
        run.wait(timeout=30)
        assert entry.path.exists() and postgres_state(entry) == "paused"

        aborted = subprocess.run(["make", "--no-print-directory", "abort", f"run={entry.run_id}"],
                                 cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert aborted.returncode == 0, aborted.stdout + aborted.stderr
        assert f"{SCENARIO}: pause_container reverted" in aborted.stdout, aborted.stdout
        assert postgres_state(entry) == "running"
        assert not entry.path.exists()
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
        if entry:
            sweep.sweep_run(engine.client(), entry.run_id)
    assert sweep.leftovers(engine.client(), entry.run_id) == []


def test_sigterm_reverts_the_fault_and_the_journal_says_aborted(tmp_path: Path) -> None:
    repo = tmp_path / "checkout"
    run = start_run(repo)
    try:
        entry = fault_in_force(run)
        run.send_signal(signal.SIGTERM)
        output = run.communicate(timeout=240)[0].decode(errors="replace")
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
    assert run.returncode != 0, output[-2000:]
    assert not entry.path.exists(), output[-2000:]
    assert sweep.leftovers(engine.client(), entry.run_id) == [], output[-2000:]
    journal = json.loads(next((repo / "reports" / "journals").glob(f"*--{SCENARIO}.json"))
                         .read_text())
    assert journal["failure"]["category"] == "aborted", journal["failure"]
    assert "SIGTERM" in journal["failure"]["message"]

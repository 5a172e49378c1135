"""A run owned from another PID namespace on the same engine is not swept while it lives."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures import engine, sweep

pytestmark = pytest.mark.stack
ROOT = Path(__file__).resolve().parents[2]
# The owner: a process in a new PID namespace that labels a network and a volume as its run's
# and waits. Its pid is 1 in its own namespace and means nothing in ours.
OWNER = """
import sys, time
from fixtures import engine, labels
client = engine.client()
run = labels.new_run_id()
tags = labels.run_labels(run)
client.networks.create(f"gameday-{run}-ns", labels=tags)
client.volumes.create(f"gameday-{run}-ns", labels=tags)
print(run, tags[labels.OWNER_LABEL], flush=True)
deadline = time.monotonic() + 120
while time.monotonic() < deadline and sys.stdin.readline():
    pass
"""


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs util-linux unshare")
def test_a_run_owned_from_another_pid_namespace_is_not_swept() -> None:
    client = engine.client()
    owner = subprocess.Popen(
        ["unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-c", OWNER],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        run, label = owner.stdout.readline().split()
        assert "/1/" in label  # pid 1: its own namespace's init, not ours
        assert run not in sweep.stale_runs(client)
        sweep.sweep_stale(client)
        assert sweep.leftovers(client, run), "the living run was swept"
    finally:
        owner.stdin.close()
        owner.wait(timeout=30)
    sweep.sweep_run(client, run)
    assert sweep.leftovers(client, run) == []

"""`make abort`: the kill switch. Reverts every fault in force on this machine (fixtures/ledger.py).

A fault whose run is alive is stopped first: the run gets SIGTERM and reverts its own fault as
it stops (its journal says `aborted`); whatever it has not reverted within STOP_SECONDS, or the
fault of a run that was killed outright, is reverted here by the fault's own `revert` on the
deployment the run left (fixtures.stack.Stack.attach). A fault whose deployment is gone is
gone with it. Exits non-zero if a revert failed (its entry stays for the next try).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

from fixtures import ledger
from fixtures.monitoring import Compression
from fixtures.stack import Stack
from gameday.catalog import FaultSpec

STOP_SECONDS = 90.0  # a run's own revert: a compose recreate and a wait for health


def _settings(settings: dict) -> dict:
    """JSON gave lists where the catalog wrote tuples."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in settings.items()}


def stop_owner(entry: ledger.Entry) -> bool:
    """SIGTERM to the live run that injected the fault; True once its entry is gone."""
    try:
        os.kill(entry.owner_pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    print(f"[abort] {entry.scenario}: its run (pid {entry.owner_pid}) is alive: SIGTERM sent",
          flush=True)
    deadline = time.monotonic() + STOP_SECONDS
    while time.monotonic() < deadline and entry.path.exists():
        time.sleep(0.5)  # the run reverts its own fault as it stops
    return not entry.path.exists()


def revert(entry: ledger.Entry) -> None:
    deploy_dir = Path(entry.deploy_dir)
    if not (deploy_dir / ".env").exists():
        print(f"[abort] {entry.scenario}: its deployment {deploy_dir} is gone, and the fault "
              "with it", flush=True)
        ledger.remove(entry)
        return
    stack = Stack.attach(deploy_dir, Compression(entry.compression), entry.gameday_id)
    fault = FaultSpec(entry.module, _settings(entry.settings)).build()
    fault.revert(stack)
    stack.clear_fault_flag()
    left = fault.residue(stack)
    if left:
        raise RuntimeError(f"still there after the revert: {left}")
    ledger.remove(entry)
    print(f"[abort] {entry.scenario}: {entry.module} reverted on {stack.project}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="only the faults of this stack's run id (default: all)")
    args = parser.parse_args(argv)
    # Some faults read and write model files with the service's own code (as pytest's
    # pythonpath has it).
    sys.path.append(str(Path(__file__).resolve().parent.parent / "target" / "service"))
    entries = [e for e in ledger.in_force() if args.run in (None, e.run_id)]
    if not entries:
        print("[abort] no fault in force on this machine"
              + (f" for run {args.run}" if args.run else ""))
        return 0
    failed = 0
    for entry in entries:
        if entry.owner_alive and stop_owner(entry):
            print(f"[abort] {entry.scenario}: reverted by its own run as it stopped", flush=True)
            continue
        try:
            revert(entry)
        except Exception as error:  # the next entry still gets its revert
            failed += 1
            print(f"[abort] {entry.scenario}: revert FAILED, entry kept ({entry.path}): "
                  f"{type(error).__name__}: {error}", file=sys.stderr, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""`make gameday jobs=N`: the game day's scenarios in N shards at once on this engine, merged into
one game day, as the nightly merges the shards of its runners.

    python -m gameday.jobs --jobs 2 [--run-id ID] [-- PYTEST ARGS]

Each shard is a pytest session of its own, with its own stack (its id is the game day's plus
the shard's: `<id>-1of2`), ports and work directory, writing its journals under the game day's
id. Their output is relayed line by line, prefixed with the shard. When all have ended, the
summary and incident reports are written once over every shard's journals. SIGINT or SIGTERM
is passed to every shard, and each removes its own stack.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

from fixtures.labels import new_run_id

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "reports" / "allure-results"
MAX_JOBS = 4  # each shard is a whole stack: more than the cores only makes every one slower


def shard_command(index: int, jobs: int, run_id: str, extra: list[str]) -> list[str]:
    return [sys.executable, "-m", "pytest", "suites/scenarios/test_scenarios.py",
            "--shard", f"{index}/{jobs}", "--run-id", run_id,
            f"--junitxml=reports/junit-gameday-{index}of{jobs}.xml", f"--alluredir={RESULTS}",
            *extra]


def _relay(prefix: str, stream, lock: threading.Lock) -> None:
    for line in stream:
        with lock:
            sys.stdout.write(f"{prefix} {line}")
            sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, required=True, help=f"shards at once, 1..{MAX_JOBS}")
    parser.add_argument("--run-id", help="the game day's id (default: a new one)")
    parser.add_argument("pytest_args", nargs="*", help="after --: passed to every shard")
    args = parser.parse_args(argv)
    if not 1 <= args.jobs <= MAX_JOBS:
        parser.error(f"--jobs must be 1..{MAX_JOBS}, not {args.jobs}")
    run_id = args.run_id or new_run_id()
    shutil.rmtree(RESULTS, ignore_errors=True)  # once here: every shard adds its own results
    lock = threading.Lock()
    shards = [subprocess.Popen(shard_command(i, args.jobs, run_id, args.pytest_args), cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
              for i in range(1, args.jobs + 1)]
    relays = [threading.Thread(target=_relay, args=(f"[{i}/{args.jobs}]", shard.stdout, lock))
              for i, shard in enumerate(shards, 1)]
    for relay in relays:
        relay.start()

    def stop(signum: int, frame: object) -> None:
        for shard in shards:
            if shard.poll() is None:
                shard.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    codes = [shard.wait() for shard in shards]
    for relay in relays:
        relay.join()
    print(f"[jobs] game day {run_id}: shards ended with {codes}; merging their reports",
          flush=True)
    merged = subprocess.run([sys.executable, "-m", "reporting.session", "--run-id", run_id],
                            cwd=ROOT)
    return max([*codes, merged.returncode])


if __name__ == "__main__":
    sys.exit(main())

"""A bounded locust run against the stack: no failures; prints median and p95 latency."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.stack, pytest.mark.load]
LOCUSTFILE = Path(__file__).with_name("locustfile.py")


def test_light_load_has_no_failures(stack) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--users", "10",
         "--spawn-rate", "10", "--run-time", "15s", "--stop-timeout", "5",
         "--host", stack.endpoints.app, "--json", "--only-summary", "--loglevel", "WARNING"],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "MMLLM_API_KEY": stack.api_key},  # not on the command line
    )
    stats = json.loads(result.stdout)
    by_name = {entry["name"]: entry for entry in stats}
    requests = sum(e["num_requests"] for e in stats)
    failures = sum(e["num_failures"] for e in stats)
    assert requests > 50, result.stderr[-2000:]
    assert failures == 0, result.stderr[-2000:]
    inference = by_name["/model/inference"]
    times = sorted(inference["response_times"].items(), key=lambda kv: float(kv[0]))
    total = sum(count for _, count in times)
    seen, median = 0, None
    for millis, count in times:
        seen += count
        if median is None and seen >= total / 2:
            median = float(millis)
    print(f"locust: {requests} requests, 0 failures; inference median {median} ms over {total}")

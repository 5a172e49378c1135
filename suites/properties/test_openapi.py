"""schemathesis on the live stack, from the service's own OpenAPI document.

The document describes every route and the inference body (fields, types, the known tasks, the
Bearer key). `schemathesis run`, from the suite's environment, derives requests from it: the
documented example, the coverage phase's boundary cases and fuzzed ones, valid and invalid
(wrong types, missing fields, values out of the enum, odd strings), and sends them with the
deployment's key to the app's published port. No answer may be a 5xx (`not_a_server_error`),
and the app must be the same process afterwards: same container, no restart, no OOM kill.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import pytest

from fixtures.container_state import Life

pytestmark = [pytest.mark.stack, pytest.mark.property]

# Bounded: fuzzing repeats until the time budget is spent, at a bounded rate (below the
# AnomalousTraffic threshold of the compressed monitoring, so that no alert outlives the test).
MAX_SECONDS = 40
RATE = "100/s"
OPERATIONS = {"POST /model/inference", "GET /health", "GET /ready", "GET /metrics", "GET /alive"}
# The key comes from the environment through the config file: never on a command line.
CONFIG = 'headers = { Authorization = "Bearer ${MMLLM_API_KEY}" }\n'


def schemathesis_run(app: str, api_key: str, workdir: Path) -> subprocess.CompletedProcess:
    """`schemathesis run` on the app's /openapi.json, with only the server-error check."""
    config = workdir / "schemathesis.toml"
    config.write_text(CONFIG)
    command = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "run",
               f"{app}/openapi.json", "--checks", "not_a_server_error", "--mode", "all",
               "--phases", "examples,coverage,fuzzing", "--max-time", str(MAX_SECONDS),
               "--rate-limit", RATE, "--request-timeout", "30", "--workers", "1",
               "--generation-database", "none", "--report", "ndjson",
               "--report-dir", str(workdir / "report"), "--no-color"]
    return subprocess.run(command, capture_output=True, text=True, timeout=MAX_SECONDS + 60,
                          cwd=workdir, env={**os.environ, "MMLLM_API_KEY": api_key})


def answers(report_dir: Path) -> Counter[tuple[str, int]]:
    """(operation, status) -> how many answers, from schemathesis' own event log."""
    seen: Counter[tuple[str, int]] = Counter()
    for path in report_dir.glob("*.ndjson"):
        with path.open() as events:
            for line in events:
                finished = json.loads(line).get("ScenarioFinished")
                if not finished:
                    continue
                label = finished["recorder"]["label"]
                for interaction in finished["recorder"].get("interactions", {}).values():
                    if interaction.get("response"):
                        seen[(label, interaction["response"]["status_code"])] += 1
    return seen


def test_no_request_from_the_document_gets_a_server_error(stack) -> None:
    before = Life.of(stack.container("app-prod"))
    # In the run's work directory: the sweep removes it with the run, whatever happens.
    workdir = Path(tempfile.mkdtemp(prefix="schemathesis-", dir=stack.workdir))
    result = schemathesis_run(stack.endpoints.app, stack.api_key, workdir)
    output = result.stdout[-6000:] + result.stderr[-2000:]
    seen = answers(workdir / "report")
    print(f"schemathesis: {sum(seen.values())} answers: "
          + ", ".join(f"{label} {status}: {n}" for (label, status), n in sorted(seen.items())))
    assert result.returncode == 0, output
    assert {label for label, _ in seen} == OPERATIONS, output
    assert not {key: n for key, n in seen.items() if key[1] >= 500}, output
    inference = Counter({status: n for (label, status), n in seen.items()
                         if label == "POST /model/inference"})
    assert inference[200] >= 1, inference  # the document's example is a real inference
    assert sum(n for status, n in inference.items() if 400 <= status < 500) >= 100, inference
    after = Life.of(stack.container("app-prod"))
    assert after.same_process_as(before) == []

"""`make monitor url=... key=...`: the deployment's synthetic monitor, run from a checkout
against a deployment that already exists, prints its progress and exports its metrics."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from fixtures.clients import wait_until
from fixtures.stack import free_loopback_port

pytestmark = [pytest.mark.stack, pytest.mark.synthetic]
ROOT = Path(__file__).resolve().parents[2]


def test_make_monitor_watches_a_running_deployment(stack) -> None:
    port = free_loopback_port()
    process = subprocess.Popen(
        ["make", "--no-print-directory", "monitor", f"url={stack.endpoints.app}",
         f"port={port}"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True,
        env={**os.environ, "MMLLM_API_KEY": stack.api_key})  # as `key=...` passes it
    try:
        def scraped() -> str | None:
            try:
                text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
            except httpx.HTTPError:
                return None
            wanted = ['probe_success{check="health",reason="ok"} 1.0',
                      *(f'inference_answer_correct{{task="{task}"}} 1.0'
                        for task in ("captioning", "ocr", "vqa"))]
            return text if all(line in text for line in wanted) else None

        # The checks are spread over their intervals (30 s for the golden inferences).
        metrics = wait_until(scraped, timeout=45, what="the monitor's metrics")
        assert 'probe_success{check="caption-blue-square",reason="ok"} 1.0' in metrics
    finally:
        os.killpg(process.pid, signal.SIGINT)
        output, _ = process.communicate(timeout=20)
    assert "synthetic monitor started" in output and '"check changed"' in output, output


def test_make_monitor_without_a_url_says_how() -> None:
    result = subprocess.run(["make", "--no-print-directory", "monitor"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "usage: make monitor url=" in result.stdout

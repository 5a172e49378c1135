"""`make synthetic url=...` against a deployment that already exists: the same checks, no
containers started, JUnit and Allure results written, non-zero exit naming the failing check."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from fixtures.stack import free_loopback_port

pytestmark = [pytest.mark.stack, pytest.mark.synthetic]
ROOT = Path(__file__).resolve().parents[2]


def run_synthetic(tmp_path: Path, *options: str, api_key: str = ""
                  ) -> tuple[int, str, ET.Element]:
    junit = tmp_path / "junit.xml"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "suites/synthetic", "-p", "no:cacheprovider",
         f"--junitxml={junit}", f"--alluredir={tmp_path / 'allure'}", *options],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "MMLLM_API_KEY": api_key},  # as `make synthetic key=...` passes it
    )
    assert any((tmp_path / "allure").glob("*-result.json")), result.stdout[-2000:]
    return result.returncode, result.stdout, ET.parse(junit).getroot()


def test_synthetic_checks_pass_against_a_running_deployment(stack, tmp_path: Path) -> None:
    before = {c.id for c in stack.docker.containers.list(all=True)}
    code, output, junit = run_synthetic(
        tmp_path, "--target-url", stack.endpoints.app,
        "--prometheus-url", stack.endpoints.prometheus,
        "--alertmanager-url", stack.endpoints.alertmanager, api_key=stack.api_key)
    assert code == 0, output[-3000:]
    suite = junit if junit.tag == "testsuite" else junit.find("testsuite")
    assert int(suite.get("tests")) >= 9 and int(suite.get("failures")) == 0
    assert {c.id for c in stack.docker.containers.list(all=True)} == before


def test_synthetic_checks_fail_and_name_the_check_when_nothing_answers(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_loopback_port()}"
    code, output, junit = run_synthetic(tmp_path, "--target-url", dead)
    assert code != 0
    assert "test_synthetic_check[health]" in output
    failed = [case.get("name") for case in junit.iter("testcase")
              if case.find("failure") is not None or case.find("error") is not None]
    assert "test_synthetic_check[health]" in failed

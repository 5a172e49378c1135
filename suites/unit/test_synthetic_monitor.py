"""The synthetic monitor (target/images/synthetic-monitor/monitor.py) against the real app in
uvicorn: its golden answers are the released model's, and each way a probe fails is told."""

from __future__ import annotations

import dataclasses
import importlib.util
import re
import socket
import sys
from pathlib import Path

import httpx
import pytest

from fixtures import monitoring
from suites.unit.conftest import TEST_API_KEY, closed_port

MONITOR = Path(__file__).resolve().parents[2] / "target" / "images" / "synthetic-monitor" / \
    "monitor.py"
spec = importlib.util.spec_from_file_location("synthetic_monitor", MONITOR)
monitor_module = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = monitor_module  # dataclasses look their module up there
spec.loader.exec_module(monitor_module)

CHECKS = monitor_module.load_checks(monitoring.HEALTH_CHECKS)
GOLDEN = [check for check in CHECKS if check.expect_result is not None]


def new_monitor(base_url: str, checks=CHECKS):
    return monitor_module.Monitor(checks, base_url, TEST_API_KEY, None, "test")


def sample(monitor, name: str, **labels: str) -> float | None:
    return monitor.registry.get_sample_value(name, labels)


def test_the_golden_inferences_cover_every_task() -> None:
    assert {check.task for check in GOLDEN} == {"captioning", "ocr", "vqa"}


def test_the_released_model_answers_every_golden_inference(live_server) -> None:
    monitor = new_monitor(live_server())
    with httpx.Client() as http:
        assert [monitor.probe(check, http) for check in GOLDEN] == ["ok"] * len(GOLDEN)
    for task in ("captioning", "ocr", "vqa"):
        assert sample(monitor, "inference_answer_correct", task=task) == 1.0


def test_another_answer_is_a_wrong_answer_and_marks_its_task(live_server) -> None:
    wrong = dataclasses.replace(GOLDEN[0], expect_result="a green square on a yellow background")
    monitor = new_monitor(live_server(), [wrong, *GOLDEN[1:]])
    with httpx.Client() as http:
        assert monitor.probe(wrong, http) == "wrong-answer"
        assert [monitor.probe(check, http) for check in GOLDEN[1:]] == ["ok", "ok"]
    assert sample(monitor, "inference_answer_correct", task=wrong.task) == 0.0
    assert sample(monitor, "probe_success", check=wrong.name, reason="wrong-answer") == 0.0
    assert sample(monitor, "synthetic_probes_total", check=wrong.name, reason="wrong-answer") == 1


def test_a_failing_health_check_is_a_status_failure(live_server) -> None:
    """The unit app runs without PostgreSQL and Redis: /health answers 503."""
    health = next(check for check in CHECKS if check.name == "health")
    monitor = new_monitor(live_server())
    with httpx.Client() as http:
        assert monitor.probe(health, http) == "status"
    assert sample(monitor, "probe_success", check="health", reason="status") == 0.0


def test_refused_and_timeout_are_told_apart() -> None:
    alive = dataclasses.replace(next(c for c in CHECKS if c.name == "alive"), timeout=0.5)
    with httpx.Client() as http:
        assert new_monitor(f"http://127.0.0.1:{closed_port()}").probe(alive, http) == "refused"
        with socket.socket() as silent:  # accepts connections (backlog), never answers
            silent.bind(("127.0.0.1", 0))
            silent.listen(8)
            url = f"http://127.0.0.1:{silent.getsockname()[1]}"
            assert new_monitor(url).probe(alive, http) == "timeout"


def test_a_check_keeps_one_probe_success_series_the_last() -> None:
    monitor = new_monitor("http://127.0.0.1:1")
    alive = next(c for c in CHECKS if c.name == "alive")
    monitor.record(alive, "refused", 0.01)
    monitor.record(alive, "ok", 0.01)
    assert sample(monitor, "probe_success", check="alive", reason="ok") == 1.0
    assert sample(monitor, "probe_success", check="alive", reason="refused") is None


def test_every_metric_the_monitor_rules_use_is_exported() -> None:
    from prometheus_client import generate_latest

    monitor = new_monitor("http://127.0.0.1:1")
    for check in GOLDEN:
        monitor.record(check, "ok", 0.01)
    exported = {line.split("{")[0].split(" ")[0]
                for line in generate_latest(monitor.registry).decode().splitlines()
                if line and not line.startswith("#")}
    used = set()
    for rule in monitoring.rules_by_alert(monitoring.load_rules()).values():
        if 'job="synthetic-monitor"' in str(rule["expr"]):
            expr = re.sub(r'\{[^}]*\}|"[^"]*"|\[[^]]*\]', "", str(rule["expr"]))
            used |= set(re.findall(r"[a-z_][a-z0-9_]*", expr)) - {
                "min", "by", "job", "instance", "task", "or", "absent", "up"}
    assert used and used <= exported, used - exported


def test_a_duplicate_check_name_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "health-checks.yml"
    config.write_text("base_url: http://x\nprobes:\n"
                      "  - {name: alive, path: /alive}\n  - {name: alive, path: /ready}\n")
    with pytest.raises(ValueError, match="unique"):
        monitor_module.load_checks(config)

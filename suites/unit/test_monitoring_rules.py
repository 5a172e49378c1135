"""The real rules, checked and unit-tested by promtool (run in the stack's Prometheus image),
and the time-compressed copy the stack uses."""

from __future__ import annotations

import pytest

from fixtures import monitoring

RULES_DIR = monitoring.MONITORING


def promtool(*args: str) -> tuple[int, str]:
    from fixtures import engine, images

    client = engine.client()
    container = client.containers.run(
        images.current_refs()["prometheus"], ["promtool", *args], detach=True,
        volumes={str(RULES_DIR): {"bind": "/monitoring", "mode": "ro"}},
        working_dir="/monitoring", entrypoint=[], labels={"io.gameday.project": "gameday"},
    )
    try:
        code = container.wait(timeout=120)["StatusCode"]
        return code, container.logs().decode(errors="replace")
    finally:
        container.remove(force=True)


@pytest.mark.rules
def test_promtool_check_rules() -> None:
    code, output = promtool("check", "rules", "alerts.yml")
    assert code == 0, output
    assert "SUCCESS" in output


@pytest.mark.rules
def test_promtool_unit_tests_cover_every_rule() -> None:
    import yaml

    tests = yaml.safe_load((RULES_DIR / "tests" / "alerts_test.yml").read_text())
    tested = {a["alertname"] for t in tests["tests"] for a in t.get("alert_rule_test", [])}
    assert set(monitoring.rules_by_alert(monitoring.load_rules())) <= tested
    code, output = promtool("test", "rules", "tests/alerts_test.yml")
    assert code == 0, output


@pytest.mark.rules
def test_promtool_fails_on_a_broken_rule(tmp_path) -> None:
    """The unit tests can fail: with ModelServiceDown's threshold changed they must."""
    text = (RULES_DIR / "alerts.yml").read_text()
    assert 'up{job="mobile-multimodal-app"} == 0' in text
    broken = RULES_DIR / "tests" / ".broken-alerts.yml"
    broken.write_text(text.replace('up{job="mobile-multimodal-app"} == 0',
                                   'up{job="mobile-multimodal-app"} == 2'))
    test_file = RULES_DIR / "tests" / ".broken-test.yml"
    test_file.write_text((RULES_DIR / "tests" / "alerts_test.yml").read_text()
                         .replace("../alerts.yml", ".broken-alerts.yml"))
    try:
        code, output = promtool("test", "rules", "tests/.broken-test.yml")
    finally:
        broken.unlink()
        test_file.unlink()
    assert code != 0, output
    assert "ModelServiceDown" in output

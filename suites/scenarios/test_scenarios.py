"""Every catalog scenario on the live stack: detected, alerted, recovered by the runbook."""

from __future__ import annotations

import allure
import pytest

from fixtures import monitoring
from suites.scenarios.catalog import Scenario
from suites.scenarios.lifecycle import Lifecycle

pytestmark = [pytest.mark.stack, pytest.mark.scenario]


def label_for_allure(scenario: Scenario) -> None:
    severity = monitoring.rules_by_alert(monitoring.load_rules())[scenario.alerts[0]]["labels"][
        "severity"]
    allure.dynamic.epic("Game Day")
    allure.dynamic.feature(f"runbook: {scenario.runbook}")
    allure.dynamic.story(scenario.name)
    allure.dynamic.title(f"{scenario.name}: {scenario.title}")
    allure.dynamic.severity(allure.severity_level.CRITICAL if severity == "critical"
                            else allure.severity_level.NORMAL)
    allure.dynamic.tag(*scenario.alerts)


def test_scenario(stack, scenario: Scenario) -> None:
    label_for_allure(scenario)
    journal = Lifecycle(stack, scenario).run()
    figures = journal.figures
    print(f"{scenario.name}: detect {figures.get('time_to_detect')}s, "
          f"alert {figures.get('time_to_alert')}s (floor {figures.get('alert_floor')}s), "
          f"recover {figures.get('time_to_recover')}s")
    assert journal.result == "passed"
    assert figures["time_to_detect"] is not None and figures["time_to_alert"] is not None

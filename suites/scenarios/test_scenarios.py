"""Every catalog scenario on the live stack: detected, alerted, recovered by the runbook."""

from __future__ import annotations

import allure
import pytest

from gameday.catalog import ALERTS, Scenario
from gameday.lifecycle import Lifecycle

pytestmark = [pytest.mark.stack, pytest.mark.scenario]


def label_for_allure(scenario: Scenario) -> None:
    """Labels from the catalog (never from alerts.yml, which the drill is checking)."""
    severities = {ALERTS[name].severity for name in scenario.alerts or scenario.must_not_page}
    allure.dynamic.epic("Game Day")
    allure.dynamic.feature(f"runbook: {scenario.runbook}")
    allure.dynamic.story(scenario.name)
    allure.dynamic.title(f"{scenario.name}: {scenario.title}")
    allure.dynamic.severity(allure.severity_level.CRITICAL if "critical" in severities
                            else allure.severity_level.NORMAL)
    allure.dynamic.tag(*(scenario.alerts or scenario.must_not_page))


def test_scenario(stack, scenario: Scenario, observers, load_rate) -> None:
    label_for_allure(scenario)
    journal = Lifecycle(stack, scenario, observers=observers, load_rate=load_rate).run()
    print(f"{scenario.name}: " + ", ".join(f"{k} {v}s" for k, v in journal.figures.items()))

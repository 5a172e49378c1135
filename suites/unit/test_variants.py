"""The broken variants really break what they claim to (checked without a stack)."""

from __future__ import annotations

import re

import pytest

from fixtures import monitoring
from gameday.variants import _mistyped, _without_alert

pytestmark = pytest.mark.unit
RULES = monitoring.load_rules()
ALERTS = sorted(monitoring.rules_by_alert(RULES))


@pytest.mark.parametrize("alert", ALERTS)
def test_a_mistyped_rule_selects_no_real_metric(alert: str) -> None:
    """Every selector misspelled: an `or` with an intact second metric would still fire."""
    expr = monitoring.rules_by_alert(_mistyped(RULES, alert))[alert]["expr"]
    selectors = re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\{", expr)
    assert selectors and all(name.endswith("_mistyped") for name in selectors), expr
    others = {a: r for a, r in monitoring.rules_by_alert(_mistyped(RULES, alert)).items()
              if a != alert}
    assert others == {a: r for a, r in monitoring.rules_by_alert(RULES).items() if a != alert}


@pytest.mark.parametrize("alert", ALERTS)
def test_a_removed_rule_is_gone_and_only_it(alert: str) -> None:
    left = monitoring.rules_by_alert(_without_alert(RULES, alert))
    assert set(left) == set(ALERTS) - {alert}

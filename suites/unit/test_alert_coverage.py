"""Every alert of the catalog fires end to end in some scenario, or says why not."""

from __future__ import annotations

import pytest

from fixtures import monitoring
from gameday import catalog

pytestmark = pytest.mark.unit


def test_every_alert_fires_in_a_scenario_or_says_why_not() -> None:
    fired = {name for s in catalog.SCENARIOS for name in s.alerts}
    declared = set(catalog.ALERTS)
    assert declared - fired == set(catalog.UNPROVEN), (
        f"not fired and not explained: {sorted(declared - fired - set(catalog.UNPROVEN))}; "
        f"explained but fired: {sorted(set(catalog.UNPROVEN) & fired)}")
    assert all(reason.strip() for reason in catalog.UNPROVEN.values())


def test_every_rule_is_declared_in_the_catalog() -> None:
    rules = monitoring.rules_by_alert(monitoring.load_rules(monitoring.MONITORING / "alerts.yml"))
    assert set(rules) == set(catalog.ALERTS)


def test_the_mistyped_variant_breaks_every_metric_of_every_rule() -> None:
    """alert-expr-wrong must leave no rule able to fire: every metric name in it misspelled."""
    import re

    from gameday import variants

    rules = monitoring.load_rules(monitoring.MONITORING / "alerts.yml")
    for name, rule in monitoring.rules_by_alert(rules).items():
        broken = monitoring.rules_by_alert(variants._mistyped(rules, name))[name]["expr"]
        names = set(re.findall(r"\b([a-z_:]+)\s*[{\[]", str(rule["expr"]))) - {"by", "on"}
        assert names, name
        assert all(f"{metric}_mistyped" in broken for metric in names), (name, broken)

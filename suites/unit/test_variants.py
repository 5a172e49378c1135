"""The broken variants really break what they claim to (checked without a stack)."""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

import pytest
import yaml

from fixtures import monitoring
from fixtures.monitoring import Compression
from gameday import catalog, runbook
from gameday.catalog import ALERTS as CATALOG_ALERTS
from gameday.catalog import SCENARIOS
from gameday.variants import (
    RESTART_APP,
    STRAY,
    VARIANTS,
    _downgraded,
    _event_style,
    _misrouted,
    _mistyped,
    _runbook_elsewhere,
    _slowed,
    _with_stray,
    _without_alert,
    with_restart,
)

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


CASES = [(s, v) for s in SCENARIOS for v in VARIANTS if v.applies(s)]
BY_NAME = {v.name: v for v in VARIANTS}


class FakeStack:
    """What a variant touches on the stack, recorded instead of reloaded."""

    def __init__(self) -> None:
        self.rules = RULES
        self.rule_sets: list[dict] = []
        self.configs: list[dict] = []

    def set_alert_rules(self, rules: dict) -> None:
        self.rule_sets.append(rules)

    def set_alertmanager_config(self, config: dict) -> None:
        self.configs.append(config)


def _changed(mutated: dict) -> set[str]:
    before, after = monitoring.rules_by_alert(RULES), monitoring.rules_by_alert(mutated)
    return {a for a in before.keys() | after.keys() if before.get(a) != after.get(a)}


def _both(mutated: dict, alert: str) -> tuple[dict, dict]:
    """The alert's rule before and after the mutation."""
    return monitoring.rules_by_alert(RULES)[alert], monitoring.rules_by_alert(mutated)[alert]


def test_every_variant_runs_on_some_scenario_and_the_sample_takes_each_once() -> None:
    """A variant that applies nowhere never runs: the suite would never prove it fails."""
    names = [v.name for v in VARIANTS]
    assert len(names) == len(set(names))
    assert [v.name for v in VARIANTS if not any(v.applies(s) for s in SCENARIOS)] == []
    sample = {v.name: (s, v) for s, v in reversed(CASES)}  # as test_broken_variants.SAMPLE
    assert sorted(sample) == sorted(names)


def test_every_alert_of_every_scenario_is_removed_somewhere_in_turn() -> None:
    wanted = {(n, alert) for s in SCENARIOS for n, alert in enumerate(s.alerts)}
    removed = set()
    for scenario, variant in CASES:
        if variant.name.startswith("alert-rule-removed"):
            stack = FakeStack()
            with variant.breaks(stack, scenario):  # type: ignore[attr-defined]
                (gone,) = _changed(stack.rule_sets[-1])
            assert stack.rule_sets[-1:] == [RULES]  # put back
            removed.add((scenario.alerts.index(gone), gone))
    assert removed == wanted
    assert {s.name for s in SCENARIOS if BY_NAME["alert-rule-removed-2"].applies(s)} >= {
        "memory-climb", "error-burst"}


@pytest.mark.parametrize("alert", ALERTS)
def test_for_slowed_30x_multiplies_only_that_for(alert: str) -> None:
    mutated = _slowed(RULES, alert)
    assert _changed(mutated) == {alert}
    before, after = _both(mutated, alert)
    assert monitoring.seconds(after["for"]) == 30 * monitoring.seconds(before.get("for", "1m"))
    assert {k: v for k, v in after.items() if k != "for"} == {
        k: v for k, v in before.items() if k != "for"}
    monitoring.compress_rules(mutated, Compression())  # Prometheus can still load it


def test_for_slowed_30x_reads_as_production_durations() -> None:
    assert monitoring.rules_by_alert(_slowed(RULES, "ModelServiceDown"))["ModelServiceDown"][
        "for"] == "30m"
    dead = monitoring.rules_by_alert(_slowed(RULES, "InferenceRecordsDeadLettered"))
    assert dead["InferenceRecordsDeadLettered"]["for"] == "30m"  # no `for`: as if 1m


@pytest.mark.parametrize("alert", [a for a in ALERTS if CATALOG_ALERTS[a].severity == "critical"])
def test_severity_downgraded_changes_only_that_label(alert: str) -> None:
    mutated = _downgraded(RULES, alert)
    assert _changed(mutated) == {alert}
    before, after = _both(mutated, alert)
    assert after["labels"] == {**before["labels"], "severity": "warning"}
    assert {k: v for k, v in after.items() if k != "labels"} == {
        k: v for k, v in before.items() if k != "labels"}


@pytest.mark.parametrize("alert", ALERTS)
def test_runbook_url_elsewhere_names_another_real_runbook(alert: str) -> None:
    mutated = _runbook_elsewhere(RULES, alert)
    assert _changed(mutated) == {alert}
    before, after = _both(mutated, alert)
    url = PurePosixPath(after["annotations"]["runbook_url"])
    assert url.parent == PurePosixPath(before["annotations"]["runbook_url"]).parent
    assert url.name != CATALOG_ALERTS[alert].runbook and (runbook.RUNBOOKS / url.name).is_file()
    assert after["annotations"] == {**before["annotations"], "runbook_url": str(url)}


def _receiver(config: dict, severity: str) -> str:
    """Alertmanager's choice for an alert with that severity: the first matching child route."""
    route = config["route"]
    return next((r["receiver"] for r in route.get("routes", [])
                 if f'severity="{severity}"' in r.get("matchers", [])), route["receiver"])


def test_wrong_receiver_routes_only_that_severity_to_the_other_receiver(tmp_path: Path) -> None:
    production = monitoring.load_alertmanager_config()
    assert _receiver(production, "critical") == "oncall-critical"
    assert _receiver(production, "warning") == "team-warning"
    critical = _misrouted(production, "critical")
    assert (_receiver(critical, "critical"), _receiver(critical, "warning")) == (
        "team-warning", "team-warning")
    assert _receiver(_misrouted(production, "warning"), "warning") == "oncall-critical"
    # Written like the production file, compressed: what Stack.set_alertmanager_config deploys.
    written = monitoring.write_alertmanager_config(tmp_path / "am.yml", Compression(), critical)
    assert _receiver(yaml.safe_load(written.read_text()), "critical") == "team-warning"


def test_wrong_receiver_puts_production_routing_back() -> None:
    stack = FakeStack()
    with BY_NAME["wrong-receiver"].breaks(stack, catalog.get("oom")):  # type: ignore[arg-type]
        assert _receiver(stack.configs[-1], "critical") == "team-warning"
    assert stack.configs[-1] == monitoring.load_alertmanager_config()


def test_event_style_rule_replaces_only_model_load_failures_expr_and_for() -> None:
    mutated = _event_style(RULES)
    assert _changed(mutated) == {"ModelLoadFailure"}
    before, after = _both(mutated, "ModelLoadFailure")
    assert after["expr"] == (
        'increase(model_load_failures_total{job="mobile-multimodal-app"}[5m]) > 0')
    assert "for" not in after
    assert {k: v for k, v in after.items() if k != "expr"} == {
        k: v for k, v in before.items() if k not in ("expr", "for")}
    monitoring.compress_rules(mutated, Compression())
    assert [s.name for s in SCENARIOS if BY_NAME["event-style-rule"].applies(s)] == [
        "model-corruption"]


@pytest.mark.parametrize("alert", ALERTS)
def test_the_stray_warning_fires_with_the_alert(alert: str) -> None:
    mutated = _with_stray(RULES, alert)
    assert _changed(mutated) == {STRAY} and STRAY not in CATALOG_ALERTS
    rule = monitoring.rules_by_alert(RULES)[alert]
    stray = monitoring.rules_by_alert(mutated)[STRAY]
    assert (stray["expr"], stray.get("for")) == (rule["expr"], rule.get("for"))
    assert stray["labels"] == {"severity": "warning", "service": rule["labels"]["service"]}
    assert stray["annotations"]["runbook_url"] == rule["annotations"]["runbook_url"]
    # In the alert's own group, so that it is evaluated at the same interval.
    assert any(r.get("alert") == STRAY and any(o.get("alert") == alert for o in g["rules"])
               for g in mutated["groups"] for r in g["rules"])
    monitoring.compress_rules(mutated, Compression())


RESTARTABLE = [s for s in SCENARIOS if s.keeps_running and s.key_step]


@pytest.mark.parametrize("restartable", RESTARTABLE, ids=[s.name for s in RESTARTABLE])
def test_the_restart_is_a_command_right_after_the_key_step(restartable: catalog.Scenario) -> None:
    scenario = restartable
    text, line = with_restart(scenario)
    before = runbook.commands(runbook.load(scenario.runbook), scenario.section)
    after = runbook.commands(text, scenario.section)
    key = next(n for n, c in enumerate(after) if scenario.key_step in c.text)  # type: ignore[operator]
    assert after[key + 1] == runbook.Command(RESTART_APP, line, block=after[key].block)
    assert text.splitlines()[line - 1].strip() == RESTART_APP
    # Everything else is as it was: the key step still runs, so the service still recovers.
    assert [c.text for c in after[:key + 1] + after[key + 2:]] == [c.text for c in before]


def test_the_restart_variant_runs_on_the_first_scenario_that_promises_no_restart() -> None:
    (chosen,) = [s for s in SCENARIOS if BY_NAME["runbook-restarts-app"].applies(s)]
    assert chosen.keeps_running and chosen.key_step
    assert chosen == next(s for s in SCENARIOS if s.keeps_running and s.key_step)
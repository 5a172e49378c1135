"""Deliberately broken detection, alerting, recovery and deployment: the suite must fail on each,
in the right phase and with the right category.

A variant is a context manager that breaks one thing on the live stack (or in the runbook the
lifecycle reads), yields the Lifecycle keyword arguments, and puts everything back afterwards.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePosixPath

from fixtures import monitoring
from fixtures.stack import Stack
from gameday import runbook
from gameday.catalog import ALERTS, SCENARIOS, Scenario, Signal
from gameday.journal import Category, Phase

APPS = Path(__file__).with_name("variant_apps")


@dataclass(frozen=True)
class Variant:
    name: str
    breaks: Callable[[Stack, Scenario], Iterator[dict]]  # yields Lifecycle keyword arguments
    phase: Phase  # where the suite must notice
    category: Category  # and how it must classify it
    applies: Callable[[Scenario], bool] = lambda scenario: True
    names_runbook_line: bool = False  # the failure must name the runbook file and line


def _without_alert(rules: dict, alert: str) -> dict:
    mutated = copy.deepcopy(rules)
    for group in mutated["groups"]:
        group["rules"] = [r for r in group["rules"] if r.get("alert") != alert]
    return mutated


# Every metric an alert rule reads: a name with a selector or a range (a unit test checks that no
# metric of any rule is left as it was).
METRIC_NAMES = r"\b([a-z_:][a-z0-9_:]*)(?=[{[])"


def _mistyped(rules: dict, alert: str) -> dict:
    """Every metric the alert selects misspelled, as a renamed metric leaves a rule behind."""
    mutated = copy.deepcopy(rules)
    for group in mutated["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") == alert:
                # A metric is a name before its label matchers `{` or its range `[`.
                rule["expr"] = re.sub(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)(?=[{\[])", r"\1_mistyped",
                                      str(rule["expr"]))
    return mutated


def _edited(rules: dict, alert: str, edit: Callable[[dict], object]) -> dict:
    """A copy of the rules with `edit` applied to the alert's rule, and nothing else changed."""
    mutated = copy.deepcopy(rules)
    found = [r for g in mutated["groups"] for r in g["rules"] if r.get("alert") == alert]
    if not found:
        raise LookupError(f"no rule for {alert}")
    for rule in found:
        edit(rule)
    return mutated


def _downgraded(rules: dict, alert: str) -> dict:
    """A critical page filed as a warning: it goes to the team's queue, nobody is woken."""
    return _edited(rules, alert, lambda rule: rule["labels"].update(severity="warning"))


def _runbook_elsewhere(rules: dict, alert: str) -> dict:
    """The alert links to a real runbook, only not the one that recovers it."""
    def elsewhere(rule: dict) -> None:
        url = PurePosixPath(rule["annotations"]["runbook_url"])
        other = next(p.name for p in sorted(runbook.RUNBOOKS.glob("*.md")) if p.name != url.name)
        rule["annotations"]["runbook_url"] = str(url.with_name(other))

    return _edited(rules, alert, elsewhere)


SLOWED = 30  # far past any catalog max_delay (at most 16m), however short the rule's `for`


def _slowed(rules: dict, alert: str) -> dict:
    """`for:` times SLOWED (a rule without one as if it had `for: 1m`): it pends, pages late."""
    def slow(rule: dict) -> None:
        seconds = SLOWED * monitoring.seconds(rule.get("for", "1m"))
        rule["for"] = f"{seconds / 60:.0f}m" if seconds % 60 == 0 else f"{seconds:.0f}s"

    return _edited(rules, alert, slow)


# The upstream project's rule: a counter's increase fires once per event (the app counts one
# failure per bad file) and clears by itself one window (5m) later, fixed or not: before the
# on-call, who acts 5m after the page, has run anything.
EVENT_STYLE = ("ModelLoadFailure",
               'increase(model_load_failures_total{job="mobile-multimodal-app"}[5m]) > 0')


def _event_style(rules: dict) -> dict:
    alert, expr = EVENT_STYLE

    def on_event(rule: dict) -> None:
        rule["expr"] = expr
        rule.pop("for", None)

    return _edited(rules, alert, on_event)


STRAY = "StrayWarning"


def _with_stray(rules: dict, alert: str) -> dict:
    """A warning outside the catalog that fires with the alert: a well-formed rule (labels,
    runbook link) that nobody declared, as a rule added without its scenario would be."""
    mutated = copy.deepcopy(rules)
    for group in mutated["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") == alert:
                stray = {"alert": STRAY, "expr": rule["expr"]}
                if "for" in rule:
                    stray["for"] = rule["for"]
                stray["labels"] = {"severity": "warning", "service": rule["labels"]["service"]}
                stray["annotations"] = {"summary": f"Stray warning beside {alert}",
                                        "runbook_url": rule["annotations"]["runbook_url"]}
                group["rules"].append(stray)
                return mutated
    raise LookupError(f"no rule for {alert}")


@contextmanager
def _rules(stack: Stack, mutated: dict) -> Iterator[dict]:
    stack.set_alert_rules(mutated)
    try:
        yield {}
    finally:
        stack.set_alert_rules(stack.rules)


def _rule_variant(mutate: Callable[[dict, str], dict],
                  position: int = 0) -> Callable[[Stack, Scenario], Iterator[dict]]:
    """The live rules with `mutate` applied to the scenario's alert at `position`."""
    @contextmanager
    def broken(stack: Stack, scenario: Scenario) -> Iterator[dict]:
        with _rules(stack, mutate(stack.rules, scenario.alerts[position])) as kwargs:
            yield kwargs

    return broken


@contextmanager
def event_style_rule(stack: Stack, scenario: Scenario) -> Iterator[dict]:
    with _rules(stack, _event_style(stack.rules)) as kwargs:
        yield kwargs


def _misrouted(config: dict, severity: str) -> dict:
    """Alertmanager's config with `severity`'s route sent to the other receiver."""
    mutated = copy.deepcopy(config)
    route = next((r for r in mutated["route"].get("routes", [])
                  if f'severity="{severity}"' in r.get("matchers", [])), None)
    if route is None:
        raise LookupError(f"no route matches severity={severity}")
    route["receiver"] = next(r["name"] for r in mutated["receivers"]
                             if r["name"] != route["receiver"])
    return mutated


@contextmanager
def wrong_receiver(stack: Stack, scenario: Scenario) -> Iterator[dict]:
    severity = ALERTS[scenario.alerts[0]].severity
    stack.set_alertmanager_config(_misrouted(monitoring.load_alertmanager_config(), severity))
    try:
        yield {}
    finally:
        stack.set_alertmanager_config(monitoring.load_alertmanager_config())


@contextmanager
def golden_checks_removed(stack: Stack, _scenario: Scenario) -> Iterator[dict]:
    """The monitor's configuration without its golden inferences: it still probes health and
    captions the red circle, but checks no answer."""
    config = monitoring.load_health_checks()
    stack.set_health_checks({key: value for key, value in config.items() if key != "golden"})
    try:
        yield {}
    finally:
        stack.set_health_checks(monitoring.load_health_checks())


def without_step(scenario: Scenario) -> tuple[str, int]:
    """The scenario's runbook with its key recovery line removed, and that line's number."""
    text = runbook.load(scenario.runbook)
    lines = text.splitlines()
    section = {n for n, _ in runbook.section_lines(text, scenario.section)}
    removed = [n for n, line in enumerate(lines, 1)
               if n in section and scenario.key_step in line]
    if not removed:
        raise LookupError(f"{scenario.key_step!r} is not in '{scenario.section}'")
    kept = [line for n, line in enumerate(lines, 1) if n not in removed]
    return "\n".join(kept), removed[0]


@contextmanager
def runbook_step_removed(stack: Stack, scenario: Scenario) -> Iterator[dict]:
    text, _ = without_step(scenario)
    yield {"runbook_text": text}


RESTART_APP = "docker-compose restart app-prod"


def with_restart(scenario: Scenario) -> tuple[str, int]:
    """The scenario's runbook with the app restarted right after its key step (so it still
    recovers), and the restart's line number."""
    text = runbook.load(scenario.runbook)
    key = next((c for c in runbook.commands(text, scenario.section)
                if scenario.key_step and scenario.key_step in c.text), None)
    if key is None:
        raise LookupError(f"{scenario.key_step!r} is not a command of '{scenario.section}'")
    lines = text.splitlines()
    after = key.line + key.text.count("\n")  # the key step's last line, if it continues
    first = lines[key.line - 1]
    lines.insert(after, first[:len(first) - len(first.lstrip())] + RESTART_APP)
    return "\n".join(lines), after + 1


@contextmanager
def runbook_restarts_app(stack: Stack, scenario: Scenario) -> Iterator[dict]:
    text, _ = with_restart(scenario)
    yield {"runbook_text": text}


@contextmanager
def holder_stopped_not_removed(stack: Stack, scenario: Scenario) -> Iterator[dict]:
    """A sloppy runbook: it stops the container that held the port instead of removing it.
    The service recovers, and only the residue check can see what was left behind."""
    text = runbook.load(scenario.runbook).replace("docker rm -f $(", "docker stop $(")
    yield {"runbook_text": text}


def _app_variant(*files: str) -> Callable[[Stack, Scenario], Iterator[dict]]:
    @contextmanager
    def deployed(stack: Stack, scenario: Scenario) -> Iterator[dict]:
        with stack.with_files(*(APPS / name for name in files)):
            yield {}

    return deployed


def _first_for_its_alert(scenario: Scenario, position: int = 0) -> bool:
    """A broken rule is the same defect whichever fault fires it: proven once per alert, on
    the first scenario of the catalog that fires it (at that position of its alerts)."""
    def at(s: Scenario) -> str | None:
        return s.alerts[position] if len(s.alerts) > position else None

    return at(scenario) is not None and scenario == next(
        s for s in SCENARIOS if at(s) == at(scenario))


def _first_critical(scenario: Scenario) -> bool:
    return (_first_for_its_alert(scenario)
            and ALERTS[scenario.alerts[0]].severity == "critical")


def _first_for_its_severity(scenario: Scenario) -> bool:
    """Routing goes by severity: proven once per severity."""
    def severity(s: Scenario) -> str | None:
        return ALERTS[s.alerts[0]].severity if s.alerts else None

    return severity(scenario) is not None and scenario == next(
        s for s in SCENARIOS if severity(s) == severity(scenario))


def _first_with(alert: str) -> Callable[[Scenario], bool]:
    return lambda scenario: scenario == next(s for s in SCENARIOS if alert in s.alerts)


def _restart_shows_as_restart(scenario: Scenario) -> bool:
    """The first scenario whose runbook promises no restart, with a key step to restart after
    (validation checks the restart before what it cost users)."""
    def fits(s: Scenario) -> bool:
        return s.keeps_running and s.key_step is not None

    return fits(scenario) and scenario == next(s for s in SCENARIOS if fits(s))


def _key_step(scenario: Scenario) -> bool:
    return scenario.key_step is not None


def _health_detects(scenario: Scenario) -> bool:
    """Only where the process stays up can a lying /health hide the fault (when it is down,
    nothing answers at all); proven once per set of signals, like the rules above."""
    def lying_hides(s: Scenario) -> bool:
        # Only probe signals: /health has nothing to hide from a Prometheus query.
        return bool(s.detect) and all(isinstance(signal, Signal)
                                      and signal.endpoint in ("health", "ready")
                                      and signal.mentions for signal in s.detect)

    return lying_hides(scenario) and scenario == next(
        s for s in SCENARIOS if lying_hides(s) and s.detect == scenario.detect)


def _one(name: str) -> Callable[[Scenario], bool]:
    return lambda scenario: scenario.name == name


# One removal per position of a scenario's alerts: every alert of a multi-alert scenario must be
# checked, not only its first.
REMOVED = tuple(
    Variant("alert-rule-removed" + (f"-{n + 1}" if n else ""), _rule_variant(_without_alert, n),
            Phase.ALERT, Category.ALERT_MISSING, partial(_first_for_its_alert, position=n))
    for n in range(max(len(s.alerts) for s in SCENARIOS)))

VARIANTS: tuple[Variant, ...] = (
    *REMOVED,
    Variant("alert-expr-wrong", _rule_variant(_mistyped), Phase.ALERT, Category.ALERT_MISSING,
            _first_for_its_alert),
    Variant("severity-downgraded", _rule_variant(_downgraded), Phase.ALERT, Category.ALERT_WRONG,
            _first_critical),
    Variant("runbook-url-elsewhere", _rule_variant(_runbook_elsewhere), Phase.ALERT,
            Category.ALERT_WRONG, _first_for_its_alert),
    Variant("wrong-receiver", wrong_receiver, Phase.ALERT, Category.ALERT_WRONG,
            _first_for_its_severity),
    Variant("for-slowed-30x", _rule_variant(_slowed), Phase.ALERT, Category.ALERT_LATE,
            _first_for_its_alert),
    Variant("event-style-rule", event_style_rule, Phase.ALERT, Category.RESOLVED_EARLY,
            _first_with(EVENT_STYLE[0])),
    # db-down: its alert fires within seconds, so the stray shows early.
    Variant("stray-warning-alert", _rule_variant(_with_stray), Phase.ALERT,
            Category.ALERT_UNEXPECTED, _one("db-down")),
    Variant("runbook-step-removed", runbook_step_removed, Phase.RECOVER,
            Category.RECOVERY_FAILED, _key_step, names_runbook_line=True),
    Variant("runbook-restarts-app", runbook_restarts_app, Phase.VALIDATE, Category.RESTARTED,
            _restart_shows_as_restart),
    Variant("health-always-healthy", _app_variant("lying-health.yml", "lying_health.py"),
            Phase.DETECT, Category.NOT_DETECTED, _health_detects),
    Variant("acknowledges-without-storing", _app_variant("no-store.yml", "no_store.py"),
            Phase.VALIDATE, Category.DATA_LOST, _one("db-down")),
    # Without the outbox every inference fails while PostgreSQL is down: the error-rate
    # alerts fire beside DatabaseConnectionFailure, outside db-down's declared set.
    Variant("outbox-disabled", _app_variant("no-outbox.yml", "no_outbox.py"),
            Phase.ALERT, Category.ALERT_UNEXPECTED, _one("db-down")),
    Variant("restart-policy-removed", _app_variant("no-restart-policy.yml"),
            Phase.ALERT, Category.PAGED, _one("service-crash")),
    Variant("golden-checks-removed", golden_checks_removed, Phase.DETECT, Category.NOT_DETECTED,
            _one("silent-wrong-answers")),
    Variant("holder-left-behind", holder_stopped_not_removed, Phase.RESIDUE, Category.RESIDUE,
            _one("port-conflict")),
)

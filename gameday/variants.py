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
from pathlib import Path

from fixtures.stack import Stack
from gameday import runbook
from gameday.catalog import Scenario
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


@contextmanager
def _rules(stack: Stack, mutated: dict) -> Iterator[dict]:
    stack.set_alert_rules(mutated)
    try:
        yield {}
    finally:
        stack.set_alert_rules(stack.rules)


@contextmanager
def alert_rule_removed(stack: Stack, scenario: Scenario) -> Iterator[dict]:
    with _rules(stack, _without_alert(stack.rules, scenario.alerts[0])) as kwargs:
        yield kwargs


@contextmanager
def alert_expr_wrong(stack: Stack, scenario: Scenario) -> Iterator[dict]:
    with _rules(stack, _mistyped(stack.rules, scenario.alerts[0])) as kwargs:
        yield kwargs


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


def _first_for_its_alert(scenario: Scenario) -> bool:
    """A broken rule is the same defect whichever fault fires it: proven once per alert, on
    the first scenario of the catalog that fires it."""
    from gameday.catalog import SCENARIOS

    return bool(scenario.alerts) and scenario == next(
        s for s in SCENARIOS if s.alerts and s.alerts[0] == scenario.alerts[0])


def _key_step(scenario: Scenario) -> bool:
    return scenario.key_step is not None


def _health_detects(scenario: Scenario) -> bool:
    """Only where the process stays up can a lying /health hide the fault (when it is down,
    nothing answers at all); proven once per set of signals, like the rules above."""
    from gameday.catalog import SCENARIOS

    def lying_hides(s: Scenario) -> bool:
        # No probe signal at all (credential stuffing): /health has nothing to hide.
        return bool(s.detect) and all(signal.endpoint in ("health", "ready") and signal.mentions
                                      for signal in s.detect)

    return lying_hides(scenario) and scenario == next(
        s for s in SCENARIOS if lying_hides(s) and s.detect == scenario.detect)


def _one(name: str) -> Callable[[Scenario], bool]:
    return lambda scenario: scenario.name == name


VARIANTS: tuple[Variant, ...] = (
    Variant("alert-rule-removed", alert_rule_removed, Phase.ALERT, Category.ALERT_MISSING,
            _first_for_its_alert),
    Variant("alert-expr-wrong", alert_expr_wrong, Phase.ALERT, Category.ALERT_MISSING,
            _first_for_its_alert),
    Variant("runbook-step-removed", runbook_step_removed, Phase.RECOVER,
            Category.RECOVERY_FAILED, _key_step, names_runbook_line=True),
    Variant("health-always-healthy", _app_variant("lying-health.yml", "lying_health.py"),
            Phase.DETECT, Category.NOT_DETECTED, _health_detects),
    Variant("acknowledges-without-storing", _app_variant("no-store.yml", "no_store.py"),
            Phase.VALIDATE, Category.DATA_LOST, _one("db-down")),
    Variant("outbox-disabled", _app_variant("no-outbox.yml", "no_outbox.py"),
            Phase.VALIDATE, Category.USER_IMPACT, _one("db-down")),
    Variant("restart-policy-removed", _app_variant("no-restart-policy.yml"),
            Phase.ALERT, Category.PAGED, _one("service-crash")),
    Variant("holder-left-behind", holder_stopped_not_removed, Phase.RESIDUE, Category.RESIDUE,
            _one("port-conflict")),
)

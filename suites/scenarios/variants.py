"""Deliberately broken detection, alerting and recovery: the suite must fail on each.

A variant is a context manager that breaks one thing on the live stack (or in the runbook the
lifecycle reads) and puts it back afterwards, plus the failure category it must cause.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from fixtures.stack import Stack
from suites.scenarios import runbook
from suites.scenarios.catalog import Scenario

LYING_ENTRYPOINT = Path(__file__).with_name("lying_health_main.py")


@dataclass(frozen=True)
class Variant:
    name: str
    breaks: Callable[[Stack, Scenario], Iterator[dict]]  # yields Lifecycle keyword arguments
    expected: tuple[str, ...]  # failure categories that count as "the suite noticed"
    applies: Callable[[Scenario], bool] = lambda scenario: True


def _without_alert(rules: dict, alert: str) -> dict:
    mutated = copy.deepcopy(rules)
    for group in mutated["groups"]:
        group["rules"] = [r for r in group["rules"] if r.get("alert") != alert]
    return mutated


def _mistyped(rules: dict, alert: str) -> dict:
    """The alert's first metric name misspelled, as a careless edit would leave it."""
    mutated = copy.deepcopy(rules)
    for group in mutated["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") == alert:
                rule["expr"] = re.sub(r"\b([a-z_]+(?:_total|_bytes|_loaded|_up)|up)\b",
                                      r"\1_mistyped", str(rule["expr"]), count=1)
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


@contextmanager
def runbook_step_removed(stack: Stack, scenario: Scenario) -> Iterator[dict]:
    text = runbook.load(scenario.runbook)
    lines = text.splitlines()
    section = {n for n, _ in runbook.section_lines(text, scenario.section)}
    kept = [line for n, line in enumerate(lines, 1)
            if not (n in section and scenario.key_step in line)]
    assert len(kept) < len(lines), f"{scenario.key_step!r} is not in '{scenario.section}'"
    yield {"runbook_text": "\n".join(kept)}


@contextmanager
def health_always_healthy(stack: Stack, scenario: Scenario) -> Iterator[dict]:
    """The app replaced by one whose /health and /ready say healthy whatever is true."""
    stack.recreate("app-prod", mounts={str(LYING_ENTRYPOINT): "/app/lying_health_main.py:ro"},
                   command=["python", "/app/lying_health_main.py"])
    stack.wait_healthy()  # the swap itself made Prometheus see the app down for a moment
    try:
        yield {}
    finally:
        stack.recreate("app-prod")


def _health_detects(scenario: Scenario) -> bool:
    # Only where the process stays up can a lying /health hide the fault; when it is down,
    # nothing answers at all.
    return any(s.endpoint in ("health", "ready") and s.mentions for s in scenario.detect)


VARIANTS: tuple[Variant, ...] = (
    Variant("alert-rule-removed", alert_rule_removed, ("alert-missing",)),
    Variant("alert-expr-wrong", alert_expr_wrong, ("alert-missing",)),
    Variant("runbook-step-removed", runbook_step_removed, ("recovery-failed",)),
    Variant("health-always-healthy", health_always_healthy, ("not-detected",), _health_detects),
)

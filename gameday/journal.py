"""The journal: the one record of a scenario run, and the words every reader shares.

The lifecycle writes it; the incident reports, the summary, Allure and bench read it through
these same types. Phase names, failure categories, figure names, budgets and the on-call response
live here and nowhere else. `journal.schema.json` beside this file describes the JSON for
readers outside Python; SCHEMA_VERSION changes whenever the shape does.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 3
SCHEMA_FILE = Path(__file__).with_name("journal.schema.json")
REAL = "real"  # the variant name of a run of the product as it is (not a broken variant)

# Budgets a scenario gets unless its catalog entry says otherwise (seconds, drill time).
DETECT_BUDGET = 15.0
RECOVER_BUDGET = 90.0
RESOLVE_BUDGET = 60.0
# How long after the page the on-call starts the runbook's resolution (production seconds,
# compressed with the drill): acknowledged within the 5-minute paging target, then the
# runbook's immediate checks. An alert must still be firing then: a page that clears by itself
# before anyone could act (an event-style rule over a 5-minute window) tells the on-call
# nothing, whether or not the fault is fixed.
ON_CALL_RESPONSE_SECONDS = 450.0


# What no factor compresses on the way to a page: the service's own timeouts before it counts a
# dependency as failed (up to 3 s for a hung one) and the delivery through Alertmanager.
UNCOMPRESSED_ALERT_SECONDS = 5.0


def alert_deadline(max_delay: float, detected: float) -> float:
    """Seconds from the injection by which an alert must have reached the receiver: the
    catalog's maximum delay (drill seconds) after the fault was first seen from outside, plus
    what the drill cannot compress."""
    return detected + max_delay + UNCOMPRESSED_ALERT_SECONDS


class Phase(StrEnum):
    STEADY_STATE = "steady state"
    INJECT = "inject"
    DETECT = "detect"
    ALERT = "alert"
    RECOVER = "recover"
    VALIDATE = "validate"
    RESIDUE = "residue"
    SUITE = "suite"  # a failure outside the phases: the suite's or the machine's


class Category(StrEnum):
    STEADY_STATE = "steady-state"
    NOT_DETECTED = "not-detected"
    ALERT_MISSING = "alert-missing"
    ALERT_WRONG = "alert-wrong"
    ALERT_LATE = "alert-late"  # paged, but later than the catalog's maximum delay
    RESOLVED_EARLY = "resolved-early"  # the alert cleared before the on-call could act
    ALERT_UNEXPECTED = "alert-unexpected"  # an alert outside the scenario's declared set
    PAGED = "paged"  # someone was paged where the deployment promises to heal silently
    RECOVERY_FAILED = "recovery-failed"
    BUDGET_EXCEEDED = "budget-exceeded"
    DATA_LOST = "data-lost"
    RESIDUE = "residue"
    USER_IMPACT = "user-impact"  # the fault cost users more than the scenario allows
    LOAD_MISSING = "load-missing"  # the load recorded too little to judge what users lost
    RESTARTED = "restarted"  # the service was restarted where the runbook promises it is not
    ABORTED = "aborted"  # stopped from outside (SIGTERM, SIGINT, make abort); fault reverted
    SUITE = "suite-or-infrastructure"

    @property
    def product_defect(self) -> bool:
        """A defect of the product or its runbooks, not of the suite or the machine."""
        return self not in (Category.SUITE, Category.STEADY_STATE, Category.ABORTED)


class Result(StrEnum):
    RUNNING = "running"
    PASSED = "passed"
    FAILED = "failed"  # a product defect: the run proves something is broken
    BROKEN = "broken"  # the suite or the machine failed


class Figure(StrEnum):
    """Seconds, measured in drill time."""

    TIME_TO_DETECT = "time_to_detect"  # injection -> first outside signal (probe, Prometheus)
    EXPECTED_ALERT_DELAY = "expected_alert_delay"  # compressed for + scrape + evaluation
    ALERT_DEADLINE = "alert_deadline"  # injection -> latest the page may arrive (catalog)
    TIME_TO_PENDING = "time_to_pending"  # injection -> alert pending
    TIME_TO_ALERT = "time_to_alert"  # injection -> alert firing
    ALERT_AFTER_SYMPTOM = "alert_after_symptom"  # first failing evaluation -> firing
    TIME_TO_DELIVERED = "time_to_delivered"  # injection -> receiver got it
    TIME_TO_RECOVER = "time_to_recover"  # the recovery acted (key step) -> signals cleared
    TIME_TO_RESOLVE = "time_to_resolve"  # injection -> signals cleared, /health 200
    TIME_TO_ALERT_RESOLVED = "time_to_alert_resolved"  # injection -> resolved notification
    TIME_TO_SELF_HEAL = "time_to_self_heal"  # injection -> healthy with no operator
    TIME_TO_FAULT_FLAG = "time_to_fault_flag"  # injection -> Prometheus shows the drill's flag


@dataclass
class PhaseRecord:
    name: Phase
    started: float
    ended: float | None = None
    seconds: float | None = None
    ok: bool | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class Failure:
    phase: Phase
    category: Category
    message: str


@dataclass
class Journal:
    scenario: str
    title: str
    run_id: str
    variant: str
    fault: str
    runbook: str
    section: str
    compression_factor: float
    alerts: list[str] = field(default_factory=list)  # must fire, reach the receiver, resolve
    must_not_page: list[str] = field(default_factory=list)  # healed by the deployment itself
    compression_reason: str = ""
    schema_version: int = SCHEMA_VERSION
    budgets: dict[str, float] = field(default_factory=dict)
    phases: list[PhaseRecord] = field(default_factory=list)
    figures: dict[str, float | None] = field(default_factory=dict)
    commands: list[dict[str, Any]] = field(default_factory=list)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    impact: dict[str, Any] = field(default_factory=dict)  # gameday.traffic.impact()
    injection: str = ""
    result: Result = Result.RUNNING
    failure: Failure | None = None

    @property
    def is_real(self) -> bool:
        return self.variant == REAL

    @property
    def self_heals(self) -> bool:
        return not self.alerts and bool(self.must_not_page)

    @property
    def started_at(self) -> float | None:
        return min((p.started for p in self.phases), default=None)

    @property
    def ended_at(self) -> float | None:
        moments = [p.ended for p in self.phases if p.ended is not None]
        moments += [o["at"] for o in self.timeline if o.get("at") is not None]
        moments += [n["received_at"] for n in self.notifications if n.get("received_at")]
        return max(moments, default=None)

    def phase(self, name: Phase) -> PhaseRecord | None:
        return next((p for p in self.phases if p.name == name), None)

    def file_name(self) -> str:
        suffix = f"--{self.variant}" if self.variant != REAL else ""
        return f"{self.run_id}--{self.scenario}{suffix}.json"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=str)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Journal:
        """The inverse of to_dict; a journal of another schema version is refused."""
        if data.get("schema_version") != SCHEMA_VERSION:
            raise ValueError(f"journal schema {data.get('schema_version')!r}, "
                             f"this reader knows {SCHEMA_VERSION}")
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["phases"] = [PhaseRecord(**{**p, "name": Phase(p["name"])})
                            for p in data.get("phases", [])]
        values["result"] = Result(data.get("result", Result.RUNNING))
        failure = data.get("failure")
        values["failure"] = (Failure(Phase(failure["phase"]), Category(failure["category"]),
                                     failure["message"]) if failure else None)
        return cls(**values)

    @classmethod
    def load(cls, path: Path) -> Journal:
        return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))

"""One lifecycle for every scenario of the catalog.

    steady state -> inject -> detect -> alert -> recover (runbook) -> validate -> residue

Each phase is an Allure step with its timestamps; the run's record (the journal) is written
as JSON for the incident reports and the game-day summary. A product defect raises
ScenarioFailed with the phase and a category; the fault is reverted whatever happens.
"""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import allure
import psycopg

from fixtures import monitoring
from fixtures.clients import PrometheusClient, WebhookClient, wait_until
from fixtures.stack import Stack
from reports.redact import redact as redact_text
from suites.scenarios import runbook
from suites.scenarios.catalog import Scenario
from suites.scenarios.prober import Prober
from suites.synthetic import checks

JOURNALS = Path(__file__).resolve().parents[2] / "reports" / "journals"
SERVICE_LABEL = "mobile-multimodal"
ALERT_BUDGET_FACTOR = 3.0  # hard limit; the target (1.5x the floor) is reported by the bench
RESOLVE_TIMEOUT = 60.0
STEADY_STATE_CHECKS = ("health", "ready", "prometheus-up")
PRODUCT_DEFECTS = ("not-detected", "alert-missing", "alert-wrong", "recovery-failed",
                   "budget-exceeded", "data-lost", "residue")


class ScenarioFailed(AssertionError):
    def __init__(self, phase: str, category: str, message: str) -> None:
        super().__init__(f"[{phase}/{category}] {message}")
        self.phase = phase
        self.category = category
        self.message = message


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
    budgets: dict[str, float] = field(default_factory=dict)
    phases: list[dict] = field(default_factory=list)
    figures: dict[str, float | None] = field(default_factory=dict)
    commands: list[dict] = field(default_factory=list)
    notifications: list[dict] = field(default_factory=list)
    timeline: list[dict] = field(default_factory=list)
    injection: str = ""
    result: str = "running"
    failure: dict[str, str] | None = None

    def write(self, directory: Path = JOURNALS) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        suffix = f"--{self.variant}" if self.variant != "real" else ""
        path = directory / f"{self.run_id}--{self.scenario}{suffix}.json"
        path.write_text(redact(json.dumps(asdict(self), indent=2, default=str)))
        return path


SECRETS: set[str] = set()  # the running stacks' passwords: never in a report or attachment


def redact(text: str) -> str:
    return redact_text(text, SECRETS)


def _attach_json(name: str, value: Any) -> None:
    allure.attach(redact(json.dumps(value, indent=2, default=str)), name=name,
                  attachment_type=allure.attachment_type.JSON)


def _attach_text(name: str, text: str) -> None:
    allure.attach(redact(text), name=name, attachment_type=allure.attachment_type.TEXT)


class Lifecycle:
    def __init__(self, stack: Stack, scenario: Scenario, *, runbook_text: str | None = None,
                 variant: str = "real") -> None:
        self.stack = stack
        SECRETS.add(stack.db_password)
        self.scenario = scenario
        self.fault = scenario.fault()
        self.runbook_text = runbook_text or runbook.load(scenario.runbook)
        self.prometheus = PrometheusClient(stack.endpoints.prometheus)
        self.webhook = WebhookClient(stack.endpoints.webhook)
        self.journal = Journal(
            scenario=scenario.name, title=scenario.title, run_id=stack.run_id, variant=variant,
            fault=self.fault.description, runbook=scenario.runbook, section=scenario.section,
            compression_factor=stack.compression.factor,
            budgets={"detect": scenario.detect_budget, "recover": scenario.recover_budget},
        )
        self.t0 = 0.0  # when the prober started
        self.injected_at = 0.0
        self.recover_started = 0.0

    # ---- the run ------------------------------------------------------------------------
    def run(self) -> Journal:
        self.t0 = time.time()
        prober = Prober(self.stack.endpoints.app, checks.tiny_png_b64())
        try:
            with prober:
                self.prober = prober
                self._phase("steady state", self.steady_state)
                self._phase("inject", self.inject)
                self._phase("detect", self.detect)
                self._phase("alert", self.alert)
                self._phase("recover", self.recover)
                self._phase("validate", self.validate)
            self._phase("residue", self.residue)
            self.journal.result = "passed"
        except ScenarioFailed as failure:
            self.journal.result = "failed"
            self.journal.failure = {"phase": failure.phase, "category": failure.category,
                                    "message": failure.message}
            raise
        except BaseException as error:
            self.journal.result = "broken"
            self.journal.failure = {"phase": "suite", "category": "suite-or-infrastructure",
                                    "message": f"{type(error).__name__}: {error}"}
            raise
        finally:
            self.journal.timeline = prober.timeline(self.t0)
            try:
                self.fault.revert(self.stack)  # the safety net: the fault never outlives the run
            finally:
                _attach_json("journal", asdict(self.journal))
                self.journal.write()
        return self.journal

    @contextmanager
    def _timed(self, name: str):
        record: dict[str, Any] = {"name": name, "started": time.time()}
        try:
            with allure.step(f"{name}"):
                yield record
            record["ok"] = True
        except BaseException:
            record["ok"] = False
            raise
        finally:
            record["ended"] = time.time()
            record["seconds"] = round(record["ended"] - record["started"], 3)
            self.journal.phases.append(record)

    def _phase(self, name: str, action) -> None:
        with self._timed(name) as record:
            details = action()
            if details:
                record["details"] = details

    def _fail(self, phase: str, category: str, message: str) -> None:
        raise ScenarioFailed(phase, category, message)

    # ---- phases -------------------------------------------------------------------------
    def steady_state(self) -> dict:
        try:
            seen = {check.name: check.run(self.stack.endpoints) for check in checks.CHECKS
                    if check.name in STEADY_STATE_CHECKS}
        except checks.CheckFailed as failed:
            self._fail("steady state", "steady-state", f"the stack is not healthy: {failed}")
        active = [a["labels"]["alertname"] for a in self.prometheus.alerts()]
        if active:
            self._fail("steady state", "steady-state", f"alerts already active: {active}")
        wait_until(lambda: any(o.ok for o in self.prober.since(self.t0)), timeout=10,
                   what="a first successful probe")
        return seen

    def inject(self) -> dict:
        self.injected_at = time.time()
        note = self.fault.inject(self.stack)
        self.journal.injection = note
        _attach_text("injection", note)
        return {"injected_at": self.injected_at, "note": note}

    def detect(self) -> dict:
        scenario = self.scenario
        found: dict[str, float] = {}

        def all_seen() -> bool:
            for signal in scenario.detect:
                if str(signal) not in found:
                    hit = self.prober.first(self.injected_at,
                                            lambda o, s=signal: s.matches(o.endpoint, o.ok, o.body))
                    if hit:
                        found[str(signal)] = hit.at - self.injected_at
            return len(found) == len(scenario.detect)

        try:
            wait_until(all_seen, timeout=scenario.detect_budget, interval=0.1, what="detection")
        except TimeoutError:
            missing = [str(s) for s in scenario.detect if str(s) not in found]
            last = [asdict(o) for o in self.prober.since(self.injected_at)[-3:]]
            self._fail("detect", "not-detected", f"not seen within {scenario.detect_budget:.0f}s: "
                       f"{missing}; last probes: {last}")
        seen: dict[str, str] = {}

        def evidence_found() -> bool:
            # Polled: a restarted app may log its reason a moment after the probes fail.
            seen["logs"] = self.stack.logs("app-prod", since=self.injected_at - 2)
            state = self.stack.container("app-prod").attrs["State"]
            missing = [str(e) for e in scenario.evidence
                       if not e.found(self.journal.injection, state, seen["logs"])]
            seen["missing"] = ", ".join(missing)
            return not missing

        try:
            wait_until(evidence_found, timeout=scenario.detect_budget, what="evidence")
        except TimeoutError:
            self._fail("detect", "not-detected", f"missing evidence: {seen['missing']}")
        finally:
            _attach_text("app-prod logs around the fault", seen.get("logs", "")[-20000:])
        self.journal.figures["time_to_detect"] = round(min(found.values()), 3)
        return {"signals": found, "evidence": [str(e) for e in scenario.evidence]}

    def alert(self) -> dict:
        details = {}
        for name in self.scenario.alerts:
            details[name] = self._alert_fires(name)
        return details

    def _alert_fires(self, name: str) -> dict:
        rules = monitoring.rules_by_alert(self.stack.rules)
        if name not in rules:
            self._fail("alert", "alert-missing", f"{name} is not in target/monitoring/alerts.yml")
        floor = monitoring.alert_floor_seconds(self.stack.rules, name, self.stack.compression)
        budget = ALERT_BUDGET_FACTOR * floor + self.journal.figures.get("time_to_detect", 0)
        marks: dict[str, float] = {}

        def firing() -> bool:
            for active in self.prometheus.alerts():
                if active["labels"].get("alertname") == name:
                    marks.setdefault("pending", time.time())
                    if active["state"] == "firing":
                        marks["firing"] = time.time()
                        return True
            return False

        try:
            wait_until(firing, timeout=budget, interval=0.2, what=f"{name} firing")
        except TimeoutError:
            state = self.prometheus.alert_state(name)
            self._fail("alert", "alert-missing",
                       f"{name} not firing within {budget:.1f}s (state: {state}); "
                       f"rules loaded: {[r['name'] for r in self.prometheus.rules()]}")
        _attach_json(f"Prometheus /api/v1/alerts when {name} fired", self.prometheus.alerts())
        delivered = self._notification(name, "firing", after=self.injected_at, timeout=30)
        alert = next(a for a in delivered["alerts"] if a["labels"].get("alertname") == name)
        expected = {"severity": rules[name]["labels"]["severity"], "service": SERVICE_LABEL}
        labels = alert["labels"]
        wrong = {k: labels.get(k) for k, v in expected.items() if labels.get(k) != v}
        if wrong:
            self._fail("alert", "alert-wrong",
                       f"{name} delivered with labels {wrong}, want {expected}")
        runbook_url = alert.get("annotations", {}).get("runbook_url", "")
        if not runbook_url.endswith(f"runbooks/{self.scenario.alert_runbook}"):
            self._fail("alert", "alert-wrong", f"{name} runbook_url {runbook_url!r} does not "
                       f"name {self.scenario.alert_runbook}")
        figures = {
            "alert_floor": round(floor, 3),
            "time_to_pending": round(marks["pending"] - self.injected_at, 3),
            "time_to_alert": round(marks["firing"] - self.injected_at, 3),
            "time_to_delivered": round(delivered["received_at"] - self.injected_at, 3),
        }
        if name == self.scenario.alerts[0]:
            self.journal.figures.update(figures)
        _attach_json(f"{name} notification (firing)", delivered)
        return figures

    def _notification(self, name: str, status: str, after: float, timeout: float) -> dict:
        def received() -> dict | None:
            for payload in self.webhook.notifications(alertname=name, since=after):
                for alert in payload["alerts"]:
                    if alert["labels"].get("alertname") == name and alert["status"] == status:
                        return payload
            return None

        try:
            payload = wait_until(received, timeout=timeout, what=f"{name} {status} notification")
        except TimeoutError:
            category = "alert-missing" if status == "firing" else "alert-wrong"
            self._fail("alert" if status == "firing" else "validate", category,
                       f"the webhook receiver got no {status} notification for {name} "
                       f"within {timeout:.0f}s")
        self.journal.notifications.append(payload)
        return payload

    def _run_section(self, phase: str, heading: str) -> list[dict]:
        try:
            commands = runbook.commands(self.runbook_text, heading)
        except runbook.SectionNotFound as missing:
            self._fail(phase, "recovery-failed", f"{self.scenario.runbook}: {missing}")
        if not commands:
            self._fail(phase, "recovery-failed", f"{self.scenario.runbook}: section {heading!r} "
                       "has no commands")
        records = []
        for command in commands:
            where = command.where(self.scenario.runbook)
            if not command.runnable:
                record = {"line": command.line, "command": command.text, "run": False,
                          "why": "marked for another deployment", "phase": phase}
                records.append(record)
                self.journal.commands.append(record)
                continue
            started = time.time()
            result = self.stack.toolbox(command.text, timeout=120)
            record = {"line": command.line, "command": command.text, "run": True,
                      "started": started,
                      "exit_code": result.exit_code, "seconds": round(result.seconds, 3),
                      "output": result.output[-4000:]}
            records.append(record)
            self.journal.commands.append({**record, "phase": phase})
            _attach_text(f"{where} $ {command.text[:60]}",
                         f"$ {command.text}\n{result.output}\n[exit {result.exit_code}]")
            if result.exit_code != 0:
                self._fail(phase, "recovery-failed",
                           f"{where}: `{command.text}` exited {result.exit_code}: "
                           f"{result.output.strip()[-500:]}")
        return records

    def recover(self) -> dict:
        started = self.recover_started = time.time()
        records = self._run_section("recover", self.scenario.section)
        try:
            healthy = wait_until(
                lambda: self.prober.first(started, lambda o: o.endpoint == "health" and o.ok),
                timeout=self.scenario.recover_budget, what="health answering 200 again")
        except TimeoutError:
            self._fail("recover", "recovery-failed",
                       f"{self.scenario.runbook} '{self.scenario.section}' ran, but /health "
                       "did not "
                       f"answer 200 within {self.scenario.recover_budget:.0f}s")
        self.journal.figures["time_to_recover"] = round(healthy.at - started, 3)
        self.journal.figures["time_to_resolve"] = round(healthy.at - self.injected_at, 3)
        return {"commands": records}

    def validate(self) -> dict:
        runbook_checks = self._run_section("validate", "Validation")
        try:
            seen = checks.run_all(self.stack.endpoints)
        except checks.CheckFailed as failed:
            self._fail("validate", "recovery-failed", f"validation check {failed}")
        # Until the operator acts: the runbook's own restart may drop a request or two.
        fault_window = [o for o in self.prober.since(self.injected_at)
                        if o.at < self.recover_started]
        for endpoint in self.scenario.never_fails:
            failed = [o for o in fault_window if o.endpoint == endpoint and not o.ok]
            if failed:
                self._fail("validate", "recovery-failed",
                           f"{endpoint} must keep answering during the fault, but failed "
                           f"{len(failed)} times, first: {asdict(failed[0])}")
        data = self._no_answer_lost()
        resolved = {name: self._resolved(name) for name in self.scenario.alerts}
        self._no_unrelated_critical()
        return {"runbook": runbook_checks, "checks": seen, "data": data, "resolved": resolved}

    def _no_answer_lost(self) -> dict:
        """Every inference answered 200 during the run is in PostgreSQL, once."""
        answered = self.prober.answered_request_ids(self.t0)

        def stored() -> dict | None:
            with psycopg.connect(self.stack.endpoints.postgres_dsn) as db:
                rows = db.execute(
                    "SELECT request_id::text, count(*) FROM inference_records "
                    "WHERE request_id::text = ANY(%s) GROUP BY request_id", (answered,)).fetchall()
            counts = dict(rows)
            return counts if len(counts) == len(set(answered)) else None

        try:
            counts = wait_until(stored, timeout=30, what="every answered inference stored")
        except TimeoutError:
            with psycopg.connect(self.stack.endpoints.postgres_dsn) as db:
                have = {r[0] for r in db.execute(
                    "SELECT request_id::text FROM inference_records "
                    "WHERE request_id::text = ANY(%s)", (answered,))}
            lost = sorted(set(answered) - have)
            self._fail("validate", "data-lost",
                       f"{len(lost)} of {len(set(answered))} answered inferences are not in "
                       f"PostgreSQL, e.g. {lost[:3]}")
        doubled = {rid: n for rid, n in counts.items() if n != 1}
        if doubled:
            self._fail("validate", "data-lost", f"records stored more than once: {doubled}")
        return {"answered": len(set(answered)), "stored_once": len(counts)}

    def _resolved(self, name: str) -> dict:
        started = time.time()
        try:
            wait_until(lambda: self.prometheus.alert_state(name) is None,
                       timeout=RESOLVE_TIMEOUT, what=f"{name} resolved in Prometheus")
        except TimeoutError:
            state = self.prometheus.alert_state(name)
            self._fail("validate", "alert-wrong", f"{name} still {state}"
                       f" {RESOLVE_TIMEOUT:.0f}s after recovery")
        payload = self._notification(name, "resolved", after=self.injected_at,
                                     timeout=RESOLVE_TIMEOUT)
        if name == self.scenario.alerts[0]:
            self.journal.figures["time_to_alert_resolved"] = round(
                payload["received_at"] - self.injected_at, 3)
        _attach_json(f"{name} notification (resolved)", payload)
        return {"seconds_after_validation": round(time.time() - started, 3)}

    def _no_unrelated_critical(self) -> None:
        expected = set(self.scenario.alerts) | set(self.scenario.allowed_alerts)
        unrelated = sorted({
            alert["labels"].get("alertname")
            for payload in self.webhook.notifications(since=self.injected_at)
            for alert in payload["alerts"]
            if alert["labels"].get("severity") == "critical"
            and alert["labels"].get("alertname") not in expected
        })
        if unrelated:
            self._fail("validate", "alert-wrong", f"unrelated critical alerts fired: {unrelated}")

    def residue(self) -> dict:
        left = self.fault.residue(self.stack)
        services = set(self.stack.containers)
        strays = [c.name for c in self.stack.docker.containers.list(
            all=True, filters={"label": f"io.gameday.run={self.stack.run_id}"})
            if c.labels.get("com.docker.compose.service") not in services]
        if left or strays:
            self._fail("residue", "residue", f"left behind: {left + strays}")
        return {"residue": "none"}

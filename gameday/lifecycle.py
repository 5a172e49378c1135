"""One lifecycle for every scenario of the catalog.

    steady state -> inject -> detect -> alert -> recover (runbook) -> validate -> residue

A small runner: each phase is a method that returns its details or fails with a Category.
What watches the run (Allure steps, the console, the journal file, bench) is an observer, so
the runner knows nothing of any of them. A product defect raises ScenarioFailed with the phase
and its category; the fault is reverted whatever happens.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from contextlib import ExitStack, nullcontext
from dataclasses import asdict
from typing import Any, Protocol

from fixtures import monitoring
from fixtures.clients import PrometheusClient, WebhookClient, stored_counts, wait_until
from fixtures.stack import Stack
from gameday import checks, runbook
from gameday.catalog import ALERTS, Scenario
from gameday.journal import (
    RESOLVE_BUDGET,
    Category,
    Failure,
    Figure,
    Journal,
    Phase,
    PhaseRecord,
    Result,
    alert_deadline,
)
from gameday.prober import Prober
from gameday.traffic import DEFAULT_RATE, Load, impact

STEADY_STATE_CHECKS = ("health", "ready", "prometheus-up")
NOTIFICATION_TIMEOUT = 30.0
LOAD_MAX_SECONDS = 600.0  # the load stops by itself after this, whatever happens


class ScenarioFailed(AssertionError):
    def __init__(self, phase: Phase, category: Category, message: str) -> None:
        super().__init__(f"[{phase}/{category}] {message}")
        self.phase = phase
        self.category = category
        self.message = message


class Observer(Protocol):
    """Something that watches a run: Allure, the console, the journal writer, bench."""

    def phase(self, journal: Journal, name: Phase) -> Any:
        """A context manager around one phase."""

    def attach(self, name: str, content: str, kind: str) -> None:
        """Evidence worth keeping: kind is "text" or "json"."""

    def finished(self, journal: Journal) -> None:
        """The run is over (passed, failed or broken) and the fault reverted."""


def _fail(phase: Phase, category: Category, message: str) -> ScenarioFailed:
    return ScenarioFailed(phase, category, message)


class Lifecycle:
    def __init__(self, stack: Stack, scenario: Scenario, *, runbook_text: str | None = None,
                 variant: str = "real", observers: tuple[Observer, ...] = (),
                 load_rate: float = DEFAULT_RATE) -> None:
        self.stack = stack
        self.scenario = scenario
        self.fault = scenario.fault.build()
        self.runbook_text = runbook_text or runbook.load(scenario.runbook)
        self.observers = observers
        self.prometheus = PrometheusClient(stack.endpoints.prometheus)
        self.webhook = WebhookClient(stack.endpoints.webhook)
        self.journal = Journal(
            scenario=scenario.name, title=scenario.title, run_id=stack.run_id, variant=variant,
            fault=self.fault.description, runbook=scenario.runbook, section=scenario.section,
            compression_factor=stack.compression.factor,
            compression_reason=monitoring.FACTOR_REASON,
            alerts=list(scenario.alerts), must_not_page=list(scenario.must_not_page),
            budgets={"detect": scenario.detect_budget, "recover": scenario.recover_budget},
        )
        self.load = (Load(stack.endpoints.app, load_rate, max_seconds=LOAD_MAX_SECONDS,
                          api_keys_file=stack.endpoints.api_keys_file, directory=stack.workdir)
                     if load_rate > 0 else None)
        self.t0 = 0.0  # when the prober started
        self.injected_at = 0.0
        self.recover_started = 0.0
        self.restarts_before = 0

    # ---- the runner -----------------------------------------------------------------------
    def run(self) -> Journal:
        self.t0 = time.time()
        prober = Prober(self.stack.endpoints.app, checks.tiny_png_b64(),
                        api_key=self.stack.endpoints.current_key)
        phases: tuple[tuple[Phase, Callable[[], dict | None]], ...] = (
            (Phase.STEADY_STATE, self.steady_state), (Phase.INJECT, self.inject),
            (Phase.DETECT, self.detect), (Phase.ALERT, self.alert),
            (Phase.RECOVER, self.recover), (Phase.VALIDATE, self.validate))
        try:
            with prober, self.load or nullcontext():
                self.prober = prober
                for name, action in phases:
                    self._phase(name, action)
            self._phase(Phase.RESIDUE, self.residue)
            self.journal.result = Result.PASSED
        except ScenarioFailed as failure:
            self.journal.result = Result.FAILED
            self.journal.failure = Failure(failure.phase, failure.category, failure.message)
            raise
        except BaseException as error:
            self.journal.result = Result.BROKEN
            self.journal.failure = Failure(Phase.SUITE, Category.SUITE,
                                           f"{type(error).__name__}: {error}")
            raise
        finally:
            self.journal.timeline = prober.timeline(self.t0)
            try:
                self.fault.revert(self.stack)  # the safety net: the fault never outlives the run
            finally:
                for observer in self.observers:
                    observer.finished(self.journal)
        return self.journal

    def _phase(self, name: Phase, action: Callable[[], dict | None]) -> None:
        record = PhaseRecord(name=name, started=time.time())
        self.journal.phases.append(record)
        try:
            with ExitStack() as watching:
                for observer in self.observers:
                    watching.enter_context(observer.phase(self.journal, name))
                record.details = action() or {}
            record.ok = True
        except BaseException:
            record.ok = False
            raise
        finally:
            record.ended = time.time()
            record.seconds = round(record.ended - record.started, 3)

    def _attach(self, name: str, content: Any) -> None:
        text, kind = ((content, "text") if isinstance(content, str)
                      else (json.dumps(content, indent=2, default=str), "json"))
        for observer in self.observers:
            observer.attach(name, text, kind)

    def _figure(self, name: Figure, seconds: float) -> None:
        self.journal.figures[name.value] = round(seconds, 3)

    # ---- phases ---------------------------------------------------------------------------
    def steady_state(self) -> dict:
        try:
            seen = {check.name: check.run(self.stack.endpoints) for check in checks.CHECKS
                    if check.name in STEADY_STATE_CHECKS}
        except checks.CheckFailed as failed:
            raise _fail(Phase.STEADY_STATE, Category.STEADY_STATE,
                        f"the stack is not healthy: {failed}") from None
        active = [a["labels"]["alertname"] for a in self.prometheus.alerts()]
        if active:
            raise _fail(Phase.STEADY_STATE, Category.STEADY_STATE,
                        f"alerts already active: {active}")
        wait_until(lambda: any(o.ok for o in self.prober.since(self.t0)), timeout=10,
                   what="a first successful probe")
        if self.load is not None:
            self.load.wait_answering()  # the "before" window is the baseline
        self.restarts_before = self.stack.container("app-prod").attrs["RestartCount"]
        return seen

    def inject(self) -> dict:
        prepare = getattr(self.fault, "prepare", None)  # a wait that is not the fault's time
        prepared = prepare(self.stack) if prepare else ""
        self.injected_at = time.time()
        note = self.fault.inject(self.stack)
        self.journal.injection = note
        self._attach("injection", note)
        return {"injected_at": self.injected_at, "note": note, "fault": str(self.scenario.fault),
                **({"prepared": prepared} if prepared else {})}

    def detect(self) -> dict:
        scenario = self.scenario
        found: dict[str, float] = {}

        def all_seen() -> bool:
            for signal in scenario.detect:
                if str(signal) not in found:
                    hit = self.prober.first(self.injected_at, lambda o, s=signal: s.matches(
                        o.endpoint, o.ok, o.body, o.seconds))
                    if hit:
                        found[str(signal)] = hit.at - self.injected_at
            return len(found) == len(scenario.detect)

        try:
            wait_until(all_seen, timeout=scenario.detect_budget, interval=0.1, what="detection")
        except TimeoutError:
            missing = [str(s) for s in scenario.detect if str(s) not in found]
            last = [asdict(o) for o in self.prober.since(self.injected_at)[-3:]]
            raise _fail(Phase.DETECT, Category.NOT_DETECTED,
                        f"not seen within {scenario.detect_budget:.0f}s: {missing}; "
                        f"last probes: {last}") from None
        seen: dict[str, str] = {}

        def evidence_found() -> bool:
            # Polled: a restarted app may log its reason a moment after the probes fail.
            seen["logs"] = self.stack.logs("app-prod", since=self.injected_at - 2)
            app = self.stack.container("app-prod").attrs
            restarts = app["RestartCount"] - self.restarts_before
            missing = [str(e) for e in scenario.evidence
                       if not e.found(self.journal.injection, app["State"], seen["logs"],
                                      restarts)]
            seen["missing"] = ", ".join(missing)
            if not missing:
                seen.setdefault("at", str(time.time()))
            return not missing

        try:
            wait_until(evidence_found, timeout=scenario.detect_budget, what="evidence")
        except TimeoutError:
            raise _fail(Phase.DETECT, Category.NOT_DETECTED,
                        f"missing evidence: {seen['missing']}") from None
        finally:
            self._attach("app-prod logs around the fault", seen.get("logs", "")[-20000:])
        # A fault no probe sees (credential stuffing: the service keeps serving) is detected by
        # its evidence alone, when that was first found.
        self._figure(Figure.TIME_TO_DETECT, min(found.values()) if found
                     else float(seen["at"]) - self.injected_at)
        return {"signals": found, "evidence": [str(e) for e in scenario.evidence]}

    def alert(self) -> dict:
        if self.scenario.self_heals:
            return self._nobody_paged()
        return {name: self._alert_fires(name) for name in self.scenario.alerts}

    def _expected_delay(self, name: str) -> float:
        try:
            return monitoring.expected_alert_delay(self.stack.rules, name,
                                                   self.stack.compression)
        except KeyError:
            raise _fail(Phase.ALERT, Category.ALERT_MISSING,
                        f"{name} is not in target/monitoring/alerts.yml") from None

    def _alert_fires(self, name: str) -> dict:
        expected = self._expected_delay(name)
        detected = self.journal.figures.get(Figure.TIME_TO_DETECT.value) or 0.0
        budget = alert_deadline(expected, detected)
        marks: dict[str, float] = {}

        def firing() -> bool:
            for active in self.prometheus.alerts():
                if active["labels"].get("alertname") == name:
                    marks.setdefault("pending", time.time())
                    marks.setdefault("active_at", _unix(active["activeAt"]))
                    if active["state"] == "firing":
                        marks["firing"] = time.time()
                        return True
            return False

        try:
            wait_until(firing, timeout=budget, interval=0.2, what=f"{name} firing")
        except TimeoutError:
            raise _fail(Phase.ALERT, Category.ALERT_MISSING,
                        f"{name} not firing within {budget:.1f}s (state: "
                        f"{self.prometheus.alert_state(name)}); rules loaded: "
                        f"{[r['name'] for r in self.prometheus.rules()]}") from None
        self._attach(f"Prometheus /api/v1/alerts when {name} fired", self.prometheus.alerts())
        delivered = self._notification(name, "firing", Phase.ALERT)
        self._delivered_as_declared(name, delivered)
        figures = {
            Figure.EXPECTED_ALERT_DELAY: expected,
            Figure.TIME_TO_PENDING: marks["pending"] - self.injected_at,
            Figure.TIME_TO_ALERT: marks["firing"] - self.injected_at,
            Figure.ALERT_AFTER_SYMPTOM: marks["firing"] - marks["active_at"],
            Figure.TIME_TO_DELIVERED: delivered["received_at"] - self.injected_at,
        }
        if name == self.scenario.alerts[0]:
            for figure, seconds in figures.items():
                self._figure(figure, seconds)
        self._attach(f"{name} notification (firing)", delivered)
        return {figure.value: round(seconds, 3) for figure, seconds in figures.items()}

    def _delivered_as_declared(self, name: str, payload: dict) -> None:
        """The labels, receiver and runbook link the catalog declares, not what alerts.yml says."""
        want = ALERTS[name]
        alert = next(a for a in payload["alerts"] if a["labels"].get("alertname") == name)
        labels = alert["labels"]
        wrong = {key: labels.get(key) for key, value in
                 (("severity", want.severity), ("service", want.service))
                 if labels.get(key) != value}
        if payload.get("receiver") != want.receiver:
            wrong["receiver"] = payload.get("receiver")
        runbook_url = alert.get("annotations", {}).get("runbook_url", "")
        if not runbook_url.endswith(f"runbooks/{want.runbook}"):
            wrong["runbook_url"] = runbook_url
        if wrong:
            raise _fail(Phase.ALERT, Category.ALERT_WRONG,
                        f"{name} delivered with {wrong}; the catalog declares {want}")

    def _nobody_paged(self) -> dict:
        """A fault the deployment heals by itself: the service comes back before any alert
        that would page has fired, and stays quiet for one more alert delay after that."""
        silent = self.scenario.must_not_page
        quiet_for = max(self._expected_delay(name) for name in silent)
        budget = self.scenario.recover_budget
        detected = self.injected_at + self.journal.figures[Figure.TIME_TO_DETECT.value]
        healed: float | None = None
        deadline = time.time() + budget
        while healed is None or time.time() < healed + quiet_for:
            paged = self._paged(silent)
            if paged:
                raise _fail(Phase.ALERT, Category.PAGED,
                            f"{paged} paged, but the deployment promises to heal this fault "
                            f"by itself; restart policy: {self._restart_policy()}")
            if healed is None:
                back = self.prober.first(detected, lambda o: o.endpoint == "health" and o.ok)
                if back:
                    healed = back.at
                    self._figure(Figure.TIME_TO_SELF_HEAL, healed - self.injected_at)
                    self._restarted_by_policy()
                elif time.time() > deadline:
                    raise _fail(Phase.ALERT, Category.RECOVERY_FAILED,
                                f"the service did not heal by itself within {budget:.0f}s; "
                                f"restart policy: {self._restart_policy()}")
            time.sleep(0.2)
        return {"paged": [], "healed_after": round(healed - self.injected_at, 3),
                "quiet_for": round(quiet_for, 3)}

    def _restarted_by_policy(self) -> None:
        """Healthy again because the engine restarted the same container, not by chance."""
        restarts = self.stack.container("app-prod").attrs["RestartCount"]
        if restarts <= self.restarts_before:
            raise _fail(Phase.ALERT, Category.RECOVERY_FAILED,
                        f"healthy again, but the restart count stayed at {restarts}: "
                        "something other than the restart policy brought it back")

    def _paged(self, names: tuple[str, ...]) -> list[str]:
        sent = [a["labels"]["alertname"] for p in self.webhook.notifications(
            since=self.injected_at) for a in p["alerts"] if a["status"] == "firing"]
        firing = [a["labels"]["alertname"] for a in self.prometheus.alerts()
                  if a["state"] == "firing"]
        return sorted({name for name in sent + firing if name in names})

    def _restart_policy(self) -> str:
        policy = self.stack.container("app-prod").attrs["HostConfig"]["RestartPolicy"]
        return policy.get("Name") or "none"

    def _notification(self, name: str, status: str, phase: Phase,
                      timeout: float = NOTIFICATION_TIMEOUT) -> dict:
        def received() -> dict | None:
            for payload in self.webhook.notifications(alertname=name, since=self.injected_at):
                for alert in payload["alerts"]:
                    if alert["labels"].get("alertname") == name and alert["status"] == status:
                        return payload
            return None

        try:
            payload = wait_until(received, timeout=timeout, what=f"{name} {status} notification")
        except TimeoutError:
            category = Category.ALERT_MISSING if status == "firing" else Category.ALERT_WRONG
            raise _fail(phase, category, f"the webhook receiver got no {status} notification "
                        f"for {name} within {timeout:.0f}s") from None
        self.journal.notifications.append(payload)
        return payload

    def _run_section(self, phase: Phase, heading: str) -> list[dict]:
        name = self.scenario.runbook
        try:
            commands = runbook.commands(self.runbook_text, heading)
        except runbook.SectionNotFound as missing:
            raise _fail(phase, Category.RECOVERY_FAILED, f"{name}: {missing}") from None
        if not commands:
            raise _fail(phase, Category.RECOVERY_FAILED,
                        f"{name}: section {heading!r} has no commands")
        records = []
        for command in commands:
            where = command.where(name)
            record = {**runbook.execute(self.stack, command), "phase": phase.value}
            if command.runnable:
                self._attach(f"{where} $ {command.text[:60]}",
                             f"$ {command.text}\n{record['output']}\n[exit {record['exit_code']}]")
            records.append(record)
            self.journal.commands.append(record)
            if record.get("exit_code"):
                raise _fail(phase, Category.RECOVERY_FAILED,
                            f"{where}: `{command.text}` exited {record['exit_code']}: "
                            f"{record['output'].strip()[-500:]}")
        return records

    def recover(self) -> dict:
        started = self.recover_started = time.time()
        if self.scenario.self_heals:
            # Nothing to recover: the section only verifies what the restart policy did.
            return {"commands": self._run_section(Phase.RECOVER, self.scenario.section)}
        records = self._run_section(Phase.RECOVER, self.scenario.section)
        try:
            healthy = wait_until(
                lambda: self.prober.first(started, lambda o: o.endpoint == "health" and o.ok),
                timeout=self.scenario.recover_budget, what="health answering 200 again")
        except TimeoutError:
            raise _fail(Phase.RECOVER, Category.RECOVERY_FAILED,
                        f"{self.scenario.runbook} '{self.scenario.section}' ran, but /health "
                        f"did not answer 200 within {self.scenario.recover_budget:.0f}s"
                        ) from None
        self._figure(Figure.TIME_TO_RECOVER, healthy.at - started)
        self._figure(Figure.TIME_TO_RESOLVE, healthy.at - self.injected_at)
        return {"commands": records}

    def validate(self) -> dict:
        cost = self._user_impact()
        runbook_checks = self._run_section(Phase.VALIDATE, "Validation")
        try:
            seen = checks.run_all(self.stack.endpoints)
        except checks.CheckFailed as failed:
            raise _fail(Phase.VALIDATE, Category.RECOVERY_FAILED,
                        f"validation check {failed}") from None
        # Until the operator acts: the runbook's own restart may drop a request or two.
        # ... unless the recovery itself must cost nothing either (a key rotation).
        until = time.time() if self.scenario.recovery_keeps_serving else self.recover_started
        fault_window = [o for o in self.prober.since(self.injected_at) if o.at < until]
        for endpoint in self.scenario.never_fails:
            failed = [o for o in fault_window if o.endpoint == endpoint and not o.ok]
            if failed:
                raise _fail(Phase.VALIDATE, Category.RECOVERY_FAILED,
                            f"{endpoint} must keep answering during the fault, but failed "
                            f"{len(failed)} times, first: {asdict(failed[0])}")
        data = self._no_answer_lost()
        resolved = {name: self._resolved(name) for name in self.scenario.alerts}
        self._no_unrelated_critical()
        return {"runbook": runbook_checks, "checks": seen, "data": data, "resolved": resolved,
                "impact": cost}

    def _user_impact(self) -> dict:
        """Stop the load and judge what the fault cost its users against the catalog's limit."""
        if self.load is None:
            return {}
        requests = self.load.stop()
        healthy = self.journal.figures.get(Figure.TIME_TO_RESOLVE.value,
                                           self.journal.figures.get(Figure.TIME_TO_SELF_HEAL.value))
        recovered = self.injected_at + (healthy or 0.0)
        cost = impact(requests, self.injected_at, recovered, time.time(),
                      self.stack.compression.factor)
        self.journal.impact = cost
        self._attach("what the fault cost users", cost)
        limit = self.scenario.may_fail_seconds
        if limit is not None:
            allowed = limit * cost["rate_per_second"]
            if cost["failed_inferences"] > allowed:
                raise _fail(Phase.VALIDATE, Category.USER_IMPACT,
                            f"{cost['failed_inferences']} inferences failed; this fault may cost "
                            f"at most {limit:g}s of traffic ({allowed:.0f} at "
                            f"{cost['rate_per_second']}/s): {cost['windows']['during']}")
        return cost

    def _acknowledged(self) -> set[str]:
        """Every inference answered 200 during the run: the prober's and the fault's own."""
        ids = set(self.prober.answered_request_ids(self.t0))
        if self.load is not None:
            ids |= self.load.acknowledged()
        return ids | set(getattr(self.fault, "acknowledged_ids", ()))

    def _no_answer_lost(self) -> dict:
        """Every inference answered 200 during the run is in PostgreSQL, once."""
        answered = sorted(self._acknowledged())

        def counts() -> dict[str, int]:
            return stored_counts(self.stack.endpoints.postgres_dsn, answered)

        try:
            stored = wait_until(lambda: (c := counts()) and len(c) == len(answered) and c,
                                timeout=30, what="every answered inference stored")
        except TimeoutError:
            lost = sorted(set(answered) - set(counts()))
            raise _fail(Phase.VALIDATE, Category.DATA_LOST,
                        f"{len(lost)} of {len(answered)} answered inferences are not in "
                        f"PostgreSQL, e.g. {lost[:3]}") from None
        doubled = {rid: n for rid, n in stored.items() if n != 1}
        if doubled:
            raise _fail(Phase.VALIDATE, Category.DATA_LOST,
                        f"records stored more than once: {doubled}")
        return {"answered": len(answered), "stored_once": len(stored)}

    def _resolved(self, name: str) -> dict:
        started = time.time()
        try:
            wait_until(lambda: self.prometheus.alert_state(name) is None,
                       timeout=RESOLVE_BUDGET, what=f"{name} resolved in Prometheus")
        except TimeoutError:
            raise _fail(Phase.VALIDATE, Category.ALERT_WRONG,
                        f"{name} still {self.prometheus.alert_state(name)} "
                        f"{RESOLVE_BUDGET:.0f}s after recovery") from None
        payload = self._notification(name, "resolved", Phase.VALIDATE, timeout=RESOLVE_BUDGET)
        if name == self.scenario.alerts[0]:
            self._figure(Figure.TIME_TO_ALERT_RESOLVED, payload["received_at"] - self.injected_at)
        self._attach(f"{name} notification (resolved)", payload)
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
            raise _fail(Phase.VALIDATE, Category.ALERT_WRONG,
                        f"unrelated critical alerts fired: {unrelated}")

    def residue(self) -> dict:
        left = self.fault.residue(self.stack)
        services = self.stack.services()
        strays = [c.name for c in self.stack.docker.containers.list(
            all=True, filters={"label": f"io.gameday.run={self.stack.run_id}"})
            if c.labels.get("com.docker.compose.service") not in services]
        if left or strays:
            raise _fail(Phase.RESIDUE, Category.RESIDUE, f"left behind: {left + strays}")
        return {"residue": "none"}


def _unix(rfc3339: str) -> float:
    """Prometheus's activeAt (RFC 3339, nanoseconds) as unix time."""
    from datetime import datetime

    text = rfc3339.rstrip("Z")
    whole, _, fraction = text.partition(".")
    stamp = datetime.fromisoformat(whole + "+00:00").timestamp()
    return stamp + (float(f"0.{fraction}") if fraction else 0.0)


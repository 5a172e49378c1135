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

from fixtures import ledger, monitoring
from fixtures.clients import PrometheusClient, WebhookClient, stored_counts, wait_until
from fixtures.stack import Stack
from gameday import checks, runbook
from gameday.catalog import ALERTS, Query, Scenario, Signal
from gameday.journal import (
    ON_CALL_RESPONSE_SECONDS,
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
from gameday.prober import ENDPOINTS, Prober
from gameday.traffic import DEFAULT_RATE, Load, could_send, impact

STEADY_STATE_CHECKS = ("health", "ready", "prometheus-up")
NOTIFICATION_TIMEOUT = 30.0
LOAD_MAX_SECONDS = 600.0  # the load stops by itself after this, whatever happens
# Steady state waits this long for the previous scenario's traces to fade (latency back to the
# stack's healthy baseline, every detection signal absent) before it fails.
STEADY_WAIT_SECONDS = 60.0
STEADY_WINDOW_SECONDS = 3.0  # how recent the last probe of each endpoint must be
STEADY_PROBES = 5  # the last probes of each endpoint that steady state judges
# Steady latency: the prober's recent inferences at most this multiple of the baseline p95
# measured when the stack started (plus a floor, for a baseline of a few milliseconds).
STEADY_LATENCY_FACTOR = 3.0
STEADY_LATENCY_FLOOR = 0.25
# A load that recorded fewer inferences than this share of what its users could send (the rate,
# or fewer where the service was slow: gameday.traffic.could_send), over the run or during the
# fault, proves nothing about what users lost.
LOAD_MIN_SHARE = 0.5


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
            scenario=scenario.name, title=scenario.title, run_id=stack.gameday_id, variant=variant,
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
        self.app_started_before = ""
        self.first_firing: dict[str, float] = {}  # alert -> when it fired (unix time)
        self.in_force: ledger.Entry | None = None  # the kill switch's record of the fault

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
        except KeyboardInterrupt as stop:  # SIGINT, or SIGTERM (conftest), or make abort
            self.journal.result = Result.BROKEN
            phase = self.journal.phases[-1].name if self.journal.phases else Phase.SUITE
            self.journal.failure = Failure(phase, Category.ABORTED,
                                           f"stopped from outside ({stop or 'SIGINT'}); the "
                                           "fault is reverted at once")
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
                if self.in_force:  # reverted: off the kill switch's record
                    ledger.remove(self.in_force)
            finally:
                self.stack.clear_fault_flag()
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
        wait_until(lambda: any(o.ok for o in self.prober.since(self.t0)), timeout=10,
                   what="a first successful probe")
        seen["steady"] = self._wait_steady()
        if self.load is not None:
            self.load.wait_answering()  # the "before" window is the baseline
        app = self.stack.container("app-prod").attrs
        self.restarts_before = app["RestartCount"]
        self.app_started_before = app["State"]["StartedAt"]
        return seen

    def _wait_steady(self) -> str:
        """Until the previous scenario has faded: no alert active, the prober's recent
        inferences as fast as the stack's healthy baseline, and no detection signal of this
        scenario present (a signal that is there before the fault detects nothing)."""
        baseline = self.stack.inference_baseline
        if baseline is None:
            baseline = self.stack.inference_baseline = self.stack.measure_inference_latency()
        limit = max(STEADY_LATENCY_FACTOR * baseline, baseline + STEADY_LATENCY_FLOOR)
        why: list[str] = []

        def steady() -> bool:
            why.clear()
            active = [a["labels"]["alertname"] for a in self.prometheus.alerts()]
            if active:
                why.append(f"alerts active: {active}")
            paged = self.webhook.still_paged()
            if paged:
                # Alertmanager does not page again for an alert whose last notification was
                # "firing" until repeat_interval: a resolution still to be sent would swallow
                # this scenario's page (measured: alert-late after a variant that failed early).
                why.append(f"on-call still paged for {paged}: no resolution delivered yet")
            # The last probes of each endpoint whatever their age: a hung inference is judged
            # too, not hidden behind the fast health probes of the same window.
            seen = self.prober.since(self.t0)
            recent = [o for endpoint in ENDPOINTS
                      for o in [o for o in seen if o.endpoint == endpoint][-STEADY_PROBES:]]
            slow = [o.seconds for o in recent if o.endpoint == "inference" and o.seconds > limit]
            failing = sorted({o.endpoint for o in recent if not o.ok})
            stale = [e for e in ENDPOINTS if not any(
                o.endpoint == e and o.at > time.time() - STEADY_WINDOW_SECONDS for o in recent)]
            if stale:
                why.append(f"no recent answer from {stale}")
            if slow or failing:
                why.append(f"probes failing {failing}, inferences slower than {limit:.3f}s "
                           f"(baseline p95 {baseline:.3f}s): {slow[:5]}")
            present = [str(signal) for signal in self.scenario.detect
                       if self._present(signal, time.time() - STEADY_WINDOW_SECONDS)]
            if present:
                why.append(f"detection signals already present: {present}")
            return not why

        try:
            wait_until(steady, timeout=STEADY_WAIT_SECONDS, interval=0.5, what="steady state")
        except TimeoutError:
            raise _fail(Phase.STEADY_STATE, Category.STEADY_STATE,
                        f"not steady after {STEADY_WAIT_SECONDS:.0f}s: {'; '.join(why)}"
                        ) from None
        return f"steady: inference p95 limit {limit:.3f}s (baseline {baseline:.3f}s)"

    def _query(self, query: Query) -> list[dict]:
        return self.prometheus.query(self.stack.compression.expr(query.expr))

    def _present(self, signal: Signal | Query, since: float) -> bool:
        """Whether the signal shows now (a query) or showed since `since` (a probe)."""
        if isinstance(signal, Query):
            return bool(self._query(signal))
        return any(signal.matches(o.endpoint, o.ok, o.body, o.seconds)
                   for o in self.prober.since(since))

    def _seen_at(self, signal: Signal | Query) -> float | None:
        """When the signal was first seen after the injection (a lasting one: when it had
        lasted long enough), or None."""
        if isinstance(signal, Query):
            return time.time() if self._query(signal) else None
        return signal.seen_at(self.prober.since(self.injected_at))

    def inject(self) -> dict:
        # On the kill switch's record before anything of the fault happens (prepare too).
        self.in_force = ledger.record(
            self.scenario.name, self.scenario.fault.module, self.scenario.fault.settings,
            self.stack.deploy_dir, self.stack.run_id, self.stack.gameday_id,
            self.stack.compression.factor)
        prepare = getattr(self.fault, "prepare", None)  # a wait that is not the fault's time
        prepared = prepare(self.stack) if prepare else ""
        if prepare:  # the prepared stack is the baseline (a fault may have recreated the app)
            app = self.stack.container("app-prod").attrs
            self.restarts_before = app["RestartCount"]
            self.app_started_before = app["State"]["StartedAt"]
        self.stack.flag_fault(self.scenario.name, self.scenario.fault.module)
        self.injected_at = time.time()
        note = self.fault.inject(self.stack)
        self.journal.injection = note
        self._attach("injection", note)
        return {"injected_at": self.injected_at, "note": note, "fault": str(self.scenario.fault),
                **({"prepared": prepared} if prepared else {})}

    def detect(self) -> dict:
        """Every signal seen from outside (a probe, Prometheus); the first within the detect
        budget (later: budget-exceeded; none within twice the budget: not-detected). The
        engine's evidence (container state, logs, what the injection saw) is found too, but is
        evidence, never detection."""
        scenario = self.scenario
        budget = scenario.detect_budget
        found: dict[str, float] = {}

        def all_seen() -> bool:
            for signal in scenario.detect:
                if str(signal) not in found and (at := self._seen_at(signal)) is not None:
                    found[str(signal)] = at - self.injected_at
            return len(found) == len(scenario.detect)

        # Waits past the budget, so that a late detection is told from none at all.
        try:
            wait_until(all_seen, timeout=self.injected_at + 2 * budget - time.time(),
                       interval=0.2, what="detection")
        except TimeoutError:
            missing = [str(s) for s in scenario.detect if str(s) not in found]
            last = [asdict(o) for o in self.prober.since(self.injected_at)[-3:]]
            raise _fail(Phase.DETECT, Category.NOT_DETECTED,
                        f"not seen within {2 * budget:.0f}s: {missing}; "
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
            return not missing

        try:
            wait_until(evidence_found, timeout=budget, what="evidence")
        except TimeoutError:
            raise _fail(Phase.DETECT, Category.NOT_DETECTED,
                        f"missing evidence: {seen['missing']}") from None
        finally:
            self._attach("app-prod logs around the fault", seen.get("logs", "")[-20000:])
        detected = min(found.values())
        self._figure(Figure.TIME_TO_DETECT, detected)
        if detected > budget:
            raise _fail(Phase.DETECT, Category.BUDGET_EXCEEDED,
                        f"detected {detected:.1f}s after the injection, over the "
                        f"{budget:.0f}s budget: {found}")
        return {"signals": found, "evidence": [str(e) for e in scenario.evidence]}

    def alert(self) -> dict:
        if self.scenario.self_heals:
            return self._nobody_paged()
        fired = {name: self._alert_fires(name) for name in self.scenario.alerts}
        return {**fired, "held": self._hold_until_on_call_acts()}

    def _expected_delay(self, name: str) -> float | None:
        """What alerts.yml itself makes of the delay: information for the reports, never the
        verdict (the deadline is the catalog's)."""
        try:
            return monitoring.expected_alert_delay(self.stack.rules, name,
                                                   self.stack.compression)
        except KeyError:
            return None

    def _deadline(self, name: str) -> float:
        """Seconds from the injection by which `name` must reach the receiver."""
        max_delay = self.stack.compression.scale(ALERTS[name].max_delay)
        return alert_deadline(max_delay, self.journal.figures[Figure.TIME_TO_DETECT.value])

    def _alert_fires(self, name: str) -> dict:
        deadline = self._deadline(name)
        if name == self.scenario.alerts[0]:  # recorded before the wait: a late page shows it
            self.journal.budgets["alert"] = round(deadline, 3)
            self._figure(Figure.ALERT_DEADLINE, deadline)
        marks: dict[str, float] = {}

        def paged() -> dict | None:
            for active in self.prometheus.alerts():
                if active["labels"].get("alertname") == name:
                    marks.setdefault("pending", time.time())
                    marks.setdefault("active_at", _unix(active["activeAt"]))
                    if active["state"] == "firing":
                        marks.setdefault("firing", time.time())
            return self._received(name, "firing")

        try:
            delivered = wait_until(paged, timeout=self.injected_at + deadline - time.time(),
                                   interval=0.2, what=f"{name} delivered")
        except TimeoutError:
            state = self.prometheus.alert_state(name)
            if state is not None:
                raise _fail(Phase.ALERT, Category.ALERT_LATE,
                            f"{name} is {state} but was not delivered within "
                            f"{deadline:.1f}s of the injection (catalog: "
                            f"{ALERTS[name].max_delay} after detection, compressed)") from None
            raise _fail(Phase.ALERT, Category.ALERT_MISSING,
                        f"{name} not delivered within {deadline:.1f}s and not active; rules "
                        f"loaded: {[r['name'] for r in self.prometheus.rules()]}") from None
        self.journal.notifications.append(delivered)
        if delivered["received_at"] - self.injected_at > deadline:  # seen late by this poll
            raise _fail(Phase.ALERT, Category.ALERT_LATE,
                        f"{name} was delivered {delivered['received_at'] - self.injected_at:.1f}s "
                        f"after the injection, over its {deadline:.1f}s deadline (catalog: "
                        f"{ALERTS[name].max_delay} after detection, compressed)")
        self._attach(f"Prometheus /api/v1/alerts when {name} was delivered",
                     self.prometheus.alerts())
        self._delivered_as_declared(name, delivered)
        # Polling began after detection: a page delivered before that fired no later.
        firing = min(marks.get("firing", delivered["received_at"]), delivered["received_at"])
        pending = min(marks.get("pending", firing), marks.get("active_at", firing))
        figures = {
            Figure.ALERT_DEADLINE: deadline,
            Figure.TIME_TO_PENDING: pending - self.injected_at,
            Figure.TIME_TO_ALERT: firing - self.injected_at,
            Figure.TIME_TO_DELIVERED: delivered["received_at"] - self.injected_at,
        }
        expected = self._expected_delay(name)
        if expected is not None:
            figures[Figure.EXPECTED_ALERT_DELAY] = expected
        if "active_at" in marks:
            figures[Figure.ALERT_AFTER_SYMPTOM] = firing - marks["active_at"]
        self.first_firing[name] = firing
        if name == self.scenario.alerts[0]:
            for figure, seconds in figures.items():
                self._figure(figure, seconds)
        self._attach(f"{name} notification (firing)", delivered)
        return {figure.value: round(seconds, 3) for figure, seconds in figures.items()}

    def _hold_until_on_call_acts(self) -> dict:
        """The on-call starts the runbook ON_CALL_RESPONSE_SECONDS (compressed) after the first
        page. Until then every expected alert must keep firing (a page that clears by itself
        tells nobody whether the fault is fixed), and no alert outside the scenario's declared
        set may fire."""
        first_page = min(n["received_at"] for n in self.journal.notifications)
        acts_at = first_page + self.stack.compression.scale(f"{ON_CALL_RESPONSE_SECONDS:.0f}s")
        while True:
            self._no_unexpected_alert()
            states = {name: self.prometheus.alert_state(name) for name in self.scenario.alerts}
            cleared = {name: state for name, state in states.items() if state != "firing"}
            if cleared:
                raise _fail(Phase.ALERT, Category.RESOLVED_EARLY,
                            f"{cleared} {time.time() - first_page:.1f}s after the first page, "
                            f"before the on-call could act "
                            f"({ON_CALL_RESPONSE_SECONDS:.0f}s in production); nothing of the "
                            f"recovery had run")
            if time.time() >= acts_at:
                return {"on_call_acts_after_page": round(acts_at - first_page, 3)}
            time.sleep(0.5)

    def _no_unexpected_alert(self, phase: Phase = Phase.ALERT) -> None:
        """No alert fires, in Prometheus or at the receiver, beyond what the catalog declares
        for this scenario (any severity)."""
        expected = set(self.scenario.alerts) | set(self.scenario.allowed_alerts)
        firing = {a["labels"].get("alertname") for a in self.prometheus.alerts()
                  if a["state"] == "firing"}
        sent = {a["labels"].get("alertname")
                for payload in self.webhook.notifications(since=self.injected_at)
                for a in payload["alerts"] if a["status"] == "firing"}
        unexpected = sorted((firing | sent) - expected)
        if unexpected:
            severities = {name: ALERTS[name].severity if name in ALERTS else "not in the catalog"
                          for name in unexpected}
            raise _fail(phase, Category.ALERT_UNEXPECTED,
                        f"alerts outside the scenario's declared set fired: {severities}; "
                        f"declared: {sorted(expected)}")

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
        """A fault the deployment absorbs by itself (a crash the restart policy heals, a blip
        or a rate under an alert's threshold): the service is healthy again and the signals are
        gone without an operator, and nobody is paged until one more alert deadline after that.
        """
        silent = self.scenario.must_not_page
        quiet_for = max(alert_deadline(self.stack.compression.scale(ALERTS[name].max_delay), 0.0)
                        for name in silent)
        budget = self.scenario.recover_budget
        detected = self.injected_at + self.journal.figures[Figure.TIME_TO_DETECT.value]
        healed: float | None = None
        cleared: float | None = None
        deadline = time.time() + budget
        while healed is None or cleared is None or time.time() < cleared + quiet_for:
            paged = self._paged(silent)
            if paged:
                raise _fail(Phase.ALERT, Category.PAGED,
                            f"{paged} paged, but the deployment promises to absorb this fault "
                            f"by itself; restart policy: {self._restart_policy()}")
            self._no_unexpected_alert()
            if healed is None:
                back = self.prober.first(detected, lambda o: o.endpoint == "health" and o.ok)
                if back:
                    healed = back.at
                    self._figure(Figure.TIME_TO_SELF_HEAL, healed - self.injected_at)
                    if any(e.kind == "died" for e in self.scenario.evidence):
                        self._restarted_by_policy()
            if cleared is None and all(self._cleared(s, detected) for s in self.scenario.detect):
                cleared = max(time.time(), healed or 0.0)
            if (healed is None or cleared is None) and time.time() > deadline:
                raise _fail(Phase.ALERT, Category.RECOVERY_FAILED,
                            f"the fault was not absorbed within {budget:.0f}s (healthy: "
                            f"{healed is not None}, signals gone: {cleared is not None}); "
                            f"restart policy: {self._restart_policy()}")
            time.sleep(0.2)
        return {"paged": [], "healed_after": round(healed - self.injected_at, 3),
                "signals_gone_after": round(cleared - self.injected_at, 3),
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

    def _received(self, name: str, status: str) -> dict | None:
        """The first notification since the injection carrying `name` with `status`."""
        for payload in self.webhook.notifications(alertname=name, since=self.injected_at):
            for alert in payload["alerts"]:
                if alert["labels"].get("alertname") == name and alert["status"] == status:
                    return payload
        return None

    def _notification(self, name: str, status: str, phase: Phase,
                      timeout: float = NOTIFICATION_TIMEOUT) -> dict:
        try:
            payload = wait_until(lambda: self._received(name, status), timeout=timeout,
                                 what=f"{name} {status} notification")
        except TimeoutError:
            category = Category.ALERT_MISSING if status == "firing" else Category.ALERT_WRONG
            raise _fail(phase, category, f"the webhook receiver got no {status} notification "
                        f"for {name} within {timeout:.0f}s") from None
        self.journal.notifications.append(payload)
        return payload

    def _run_section(self, phase: Phase, heading: str,
                     escalated: Callable[[], list[dict]] | None = None) -> list[dict]:
        """Run the section's commands in the toolbox, one by one. `escalated` (an external
        repair) happens where the runbook escalates: after its first code block (the diagnosis),
        before the next; at the start if it has one block only."""
        name = self.scenario.runbook
        try:
            commands = runbook.commands(self.runbook_text, heading)
        except runbook.SectionNotFound as missing:
            raise _fail(phase, Category.RECOVERY_FAILED, f"{name}: {missing}") from None
        if not commands:
            raise _fail(phase, Category.RECOVERY_FAILED,
                        f"{name}: section {heading!r} has no commands")
        records: list[dict] = []
        escalation = runbook.escalation_index(commands)
        for index, command in enumerate(commands):
            if escalated and index == escalation:
                records += escalated()
                escalated = None
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
        records = self._run_section(Phase.RECOVER, self.scenario.section,
                                    self._external_repair if self.scenario.repaired_by else None)
        done = time.time()
        self._fired_until_recovery_acted(records)
        acted, _ = self._acted_at(records)
        budget = self.scenario.recover_budget
        pending: list[str] = []

        def cleared() -> float | None:
            """When every signal and /health had been seen healthy after the last command."""
            pending[:] = [str(s) for s in self.scenario.detect if not self._cleared(s, done)]
            healthy = self.prober.first(done, lambda o: o.endpoint == "health" and o.ok)
            if healthy is None:
                pending.append("health answering 200")
            return None if pending else time.time()

        try:
            at = wait_until(cleared, timeout=2 * budget, interval=0.2, what="signals cleared")
        except TimeoutError:
            raise _fail(Phase.RECOVER, Category.RECOVERY_FAILED,
                        f"{self.scenario.runbook} '{self.scenario.section}' ran, but "
                        f"{pending} still showed {2 * budget:.0f}s after its last command"
                        ) from None
        # Figures: from when the recovery acted (its key step or the external repair: the
        # runbook's own waits for the service are part of the recovery) to the scenario's own
        # signals seen gone after its last command; from the injection to that.
        self._figure(Figure.TIME_TO_RECOVER, at - acted)
        self._figure(Figure.TIME_TO_RESOLVE, at - self.injected_at)
        if at - acted > budget:
            raise _fail(Phase.RECOVER, Category.BUDGET_EXCEEDED,
                        f"the signals cleared {at - acted:.1f}s after the recovery acted, "
                        f"over the {budget:.0f}s budget")
        return {"commands": records, "started": started, "last_command_done": done}

    def _acted_at(self, records: list[dict]) -> tuple[float, str]:
        """When the recovery acted: its external repair or key step started (else the first
        command that ran), and what that was."""
        ran = [r for r in records if r.get("run")]
        acting = [r for r in ran if r.get("external") or (
            self.scenario.key_step and self.scenario.key_step in r["command"])] or ran[:1]
        if not acting:
            return self.recover_started, "the recovery's start"
        return acting[0]["started"], acting[0]["command"][:80]

    def _fired_until_recovery_acted(self, records: list[dict]) -> None:
        """Every alert fired without a break from its first firing until the recovery acted:
        Prometheus's own record of ALERTS, over the whole span and at that very moment. An
        alert that clears by itself first proves nothing of the fault or of its fix."""
        acted, what = self._acted_at(records)
        step = self.stack.compression.evaluation_seconds
        for name, fired in self.first_firing.items():
            firing = f'count(ALERTS{{alertname="{name}", alertstate="firing"}})'
            gap = 0.0
            if acted > fired + step:  # from its first firing sample
                series = self.prometheus.query_range(firing, fired + step, acted, step)
                seen = sorted(float(t) for t, _ in (series[0]["values"] if series else []))
                gap = max(b - a for a, b in zip([fired + step, *seen], [*seen, acted],
                                                strict=True))
            if gap > 2.5 * step or not self.prometheus.query(firing, at=acted):
                raise _fail(Phase.ALERT, Category.RESOLVED_EARLY,
                            f"{name} was not firing throughout from its first firing to the "
                            f"recovery's `{what}` ({acted - fired:.1f}s later; longest gap "
                            f"{gap:.1f}s): it cleared by itself, before the recovery acted")

    def _external_repair(self) -> list[dict]:
        """The repair that is not the service's runbook's to make (a network link): a simulated
        external event, journaled as such, never a command of the runbook."""
        started, clock = time.time(), time.monotonic()
        note = self.fault.repair(self.stack)
        record = {"line": 0, "command": f"[simulated external event] "
                  f"{self.scenario.repaired_by}", "run": True, "started": started,
                  "exit_code": 0, "output": note, "seconds": round(time.monotonic() - clock, 3),
                  "phase": Phase.RECOVER.value, "external": True}
        self.journal.commands.append(record)
        self._attach("simulated external event", f"{self.scenario.repaired_by}\n{note}")
        return [record]

    def _cleared(self, signal: Signal | Query, since: float) -> bool:
        """The signal is gone: a query returns nothing now; a probe of its endpoint answered
        since `since` without showing it."""
        if isinstance(signal, Query):
            return not self._query(signal)
        return self.prober.first(since, lambda o: o.endpoint == signal.endpoint and o.ok and not
                                 signal.matches(o.endpoint, o.ok, o.body, o.seconds)) is not None

    def validate(self) -> dict:
        self._not_restarted()  # a restart's own cost to users is no reason to hide it
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
        self._fault_flag_seen()
        resolved = {name: self._resolved(name) for name in self.scenario.alerts}
        self._no_unexpected_alert(Phase.VALIDATE)
        return {"runbook": runbook_checks, "checks": seen, "data": data, "resolved": resolved,
                "impact": cost}

    def _fault_flag_seen(self) -> None:
        """When Prometheus first showed the drill's flag (gameday_fault_active): what on-call
        sees to tell this drill's alerts from an incident. Not seen while the node exporter,
        which exports it, is down (node-exporter-down): no figure then."""
        step = self.stack.compression.scrape_seconds
        series = self.prometheus.query_range(
            f'gameday_fault_active{{scenario="{self.scenario.name}"}} == 1',
            self.injected_at - step, time.time(), step)
        seen = [float(at) for s in series for at, _ in s["values"]]
        if seen:
            self._figure(Figure.TIME_TO_FAULT_FLAG, max(0.0, min(seen) - self.injected_at))

    def _not_restarted(self) -> None:
        """Where the runbook promises the service keeps running, it is the same process."""
        if not self.scenario.keeps_running:
            return
        app = self.stack.container("app-prod").attrs
        now = (app["RestartCount"], app["State"]["StartedAt"])
        if now != (self.restarts_before, self.app_started_before):
            raise _fail(Phase.VALIDATE, Category.RESTARTED,
                        f"app-prod was restarted (restarts {self.restarts_before} -> {now[0]}, "
                        f"started {self.app_started_before} -> {now[1]}), but "
                        f"{self.scenario.runbook} '{self.scenario.section}' must recover "
                        "without restarting the service")

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
        now = time.time()
        for what, recorded, start in (
                ("the run", sum(w["inferences"] for w in cost["windows"].values()), self.t0),
                ("the fault", cost["windows"]["during"]["inferences"], self.injected_at)):
            end = now if what == "the run" else recovered
            could = could_send(requests, start, end, self.load.rate)
            if recorded < LOAD_MIN_SHARE * could:
                raise _fail(Phase.VALIDATE, Category.LOAD_MISSING,
                            f"the load recorded {recorded} inferences in {end - start:.0f}s of "
                            f"{what}, where its users could send {could:.0f} at "
                            f"{self.load.rate:g}/s: too few to judge what the fault cost users")
        limit = self.scenario.may_fail_seconds
        allowed = limit * cost["rate_per_second"]  # the rate users really sent
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


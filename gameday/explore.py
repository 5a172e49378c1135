"""Exploration: random sequences of the catalog's faults on the live stack, two at once where
they do not contradict each other, with the service's promises checked after every step.
Hypothesis shrinks a failing sequence to the fewest steps that still fail.

Steps (rules): inject a fault, revert it (the safety net, as after an incident), run the
runbook section that recovers it (when it is the only fault present: a section is written for
one fault), or wait for the alerts of the faults present.

The promises (invariants, checked after every step):
- while only PostgreSQL or the model file is impaired (the outbox's and the verified model's
  promise) or nothing is, /alive answers and a burst of valid inferences all get 200;
  a model file that went bad before the app last started is no longer such a fault (a start
  with a bad file fails, as the runbook says), nor is the app's own process;
- the alerts of the faults present fire within their budget (the lifecycle's own limit),
  unless the app restarted since the fault came (then the alert's condition changed);
- once everything is reverted, the stack is back in steady state (healthy, every alert
  resolved) within a budget, and every acknowledged inference is in PostgreSQL exactly once.

The burst is an invariant rather than a step so that a broken promise shows right after the
step that broke it: a build without the outbox fails at `inject(db-down)` itself.

A failure is a ScenarioFailed with the same phases and categories as a scenario's, and the
final (shrunk) sequence becomes a journal, so that it gets an incident report and an Allure
result like any scenario.
"""

from __future__ import annotations

import base64
import io
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import httpx
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from PIL import Image

from faults.base import Fault
from fixtures import monitoring
from fixtures.clients import PrometheusClient, stored_counts, wait_until
from fixtures.stack import Stack
from gameday import runbook
from gameday.catalog import ALERTS, BY_NAME, Scenario
from gameday.journal import (
    DETECT_BUDGET,
    REAL,
    RECOVER_BUDGET,
    Category,
    Failure,
    Journal,
    Phase,
    PhaseRecord,
    Result,
    alert_deadline,
)
from gameday.lifecycle import ScenarioFailed

STEADY_STATE_BUDGET = 90.0
ALIVE_BUDGET = 60.0  # a restart after a crash loop waits out Docker's restart back-off
BURST = 5  # inferences after every step
MAX_STEPS = 6  # steps of one sequence
SCENARIO = "explore"  # the journal's scenario name for an exploration


@dataclass(frozen=True)
class Explorable:
    scenario: str  # whose fault, from the catalog
    target: str  # what it breaks: one fault per target at a time
    dependency_only: bool  # the app stays up and must keep answering (outbox, verified model)

    @property
    def entry(self) -> Scenario:
        return BY_NAME[self.scenario]


EXPLORABLE = (
    Explorable("db-down", "postgres", True),
    Explorable("db-hung", "postgres", True),
    Explorable("model-corruption", "model", True),
    Explorable("service-crash", "app", False),
)


@dataclass
class Present:
    """A fault in place: what it is, when it came, and the app process it came to."""

    explorable: Explorable
    fault: Fault
    injected_at: float
    app_started: str  # the app container's StartedAt at injection
    alerted: bool = False


def _png(seed: int) -> str:
    buffer = io.BytesIO()
    rng = random.Random(seed)
    Image.new("RGB", (16, 16), tuple(rng.randrange(256) for _ in range(3))).save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode()


class FaultSequences(RuleBasedStateMachine):
    """One instance explores one sequence; `stack` is set by the test before it runs.
    `last_steps` holds the steps of the latest sequence: after a failure, the shrunk one.
    `rules_run` counts the steps taken, by rule: what a green exploration did try."""

    stack: Stack
    last_steps: list[dict[str, Any]] = []
    rules_run: Counter[str] = Counter()  # over every sequence since it was last reset

    def __init__(self) -> None:
        super().__init__()
        self.active: dict[str, Present] = {}
        self.acknowledged: set[str] = set()
        self.steps: list[dict[str, Any]] = []
        FaultSequences.last_steps = self.steps
        self.http = httpx.Client(base_url=self.stack.endpoints.app, timeout=8,
                                 headers=self.stack.endpoints.headers())
        self.prometheus = PrometheusClient(self.stack.endpoints.prometheus)

    def _step(self, text: str, started: float, output: str = "", ok: bool = True) -> None:
        FaultSequences.rules_run[text.removeprefix("state.").split("(")[0]] += 1
        print(f"[explore] {text} {'ok' if ok else 'FAILED'} ({time.time() - started:.1f}s)",
              file=sys.stderr, flush=True)  # so that a long exploration shows where it is
        self.steps.append({"line": len(self.steps) + 1, "command": text, "run": True,
                           "phase": Phase.INJECT.value, "started": started,
                           "seconds": round(time.time() - started, 3),
                           "exit_code": 0 if ok else 1, "output": output})

    def _app_started(self) -> str:
        container = self.stack.container("app-prod")
        return container.attrs["State"]["StartedAt"]

    # ---- rules ------------------------------------------------------------------------------
    @rule(choice=st.sampled_from(EXPLORABLE))
    def inject(self, choice: Explorable) -> None:
        if choice.target in {p.explorable.target for p in self.active.values()}:
            return  # contradicts a fault already present (same target)
        started = time.time()
        present = Present(choice, choice.entry.fault.build(), started, self._app_started())
        # Present before it is injected: an injection that fails half-way is reverted too.
        self.active[choice.scenario] = present
        said = present.fault.inject(self.stack)
        self._step(f"state.inject({choice.scenario})", started, said)

    @precondition(lambda self: bool(self.active))
    @rule(data=st.data())
    def revert(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(sorted(self.active)))
        started = time.time()
        self.active.pop(name).fault.revert(self.stack)
        self._step(f"state.revert({name})", started)

    @precondition(lambda self: len(self.active) == 1)
    @rule()
    def recover_by_runbook(self) -> None:
        """The one fault present recovered by its runbook section's own commands; the fault's
        residue must then be gone (no safety net is called)."""
        name, present = next(iter(self.active.items()))
        scenario = present.explorable.entry
        started = time.time()
        commands = runbook.commands(runbook.load(scenario.runbook), scenario.section)
        for command in commands:
            record = runbook.execute(self.stack, command)
            if record.get("exit_code"):
                self._step(f"state.recover_by_runbook({name})", started, record["output"], False)
                raise ScenarioFailed(
                    Phase.RECOVER, Category.RECOVERY_FAILED,
                    f"{command.where(scenario.runbook)}: `{command.text}` exited "
                    f"{record['exit_code']}: {record['output'].strip()[-300:]}")
        try:
            wait_until(lambda: not present.fault.residue(self.stack), timeout=RECOVER_BUDGET,
                       what=f"{name} gone after its runbook")
        except TimeoutError:
            raise ScenarioFailed(Phase.RECOVER, Category.RECOVERY_FAILED,
                                 f"{scenario.runbook} ({scenario.section}) ran, but "
                                 f"{present.fault.residue(self.stack)}") from None
        del self.active[name]
        self._step(f"state.recover_by_runbook({name})", started,
                   f"{len(commands)} commands of {scenario.runbook}")

    @precondition(lambda self: any(p.explorable.entry.alerts and not p.alerted
                                   for p in self.active.values()))
    @rule()
    def wait_for_alerts(self) -> None:
        """Let time pass until the present faults' alerts are due, and see them fire."""
        started = time.time()
        fired = self._alerts_fired(wait=True)
        self._step("state.wait_for_alerts()", started, f"firing: {fired}")

    # ---- invariants and the end -------------------------------------------------------------
    @invariant()
    def alerts_fire_within_budget(self) -> None:
        self._alerts_fired(wait=False)

    @invariant()
    def serves_inferences(self) -> None:
        """While only dependencies are impaired, /alive answers and valid inferences get 200."""
        if not self._serving_promised():
            return
        started = time.time()
        try:  # a process the restart policy or a revert just started gets a moment
            wait_until(self._alive, timeout=ALIVE_BUDGET, what="/alive answering")
        except TimeoutError:
            self._step("check: /alive", started, "no answer", ok=False)
            raise ScenarioFailed(Phase.VALIDATE, Category.USER_IMPACT,
                                 f"/alive did not answer within {ALIVE_BUDGET:.0f}s while only "
                                 f"{sorted(self.active) or 'nothing'} was broken") from None
        if not self._serving_promised():
            # The app restarted while /alive was awaited: a crash's restart by the restart
            # policy lands after the step that caused it, and a model file that went bad
            # before this start is no longer a fault the service can serve through.
            return
        answers = [self._infer() for _ in range(BURST)]
        failed = [a for a in answers if a != 200]
        if failed:
            self._step("check: inferences served", started, f"answers: {answers}", ok=False)
            raise ScenarioFailed(Phase.VALIDATE, Category.USER_IMPACT,
                                 f"inferences failed while only "
                                 f"{sorted(self.active) or 'nothing'} was broken: {failed}")

    def _serving_promised(self) -> bool:
        app_started = self._app_started()
        return all(p.explorable.dependency_only
                   and not (p.explorable.target == "model" and p.app_started != app_started)
                   for p in self.active.values())

    def _alive(self) -> bool:
        try:
            return self.http.get("/alive").status_code == 200
        except httpx.HTTPError:
            return False

    def _infer(self) -> int | str:
        try:
            answer = self.http.post("/model/inference", json={
                "image": _png(random.getrandbits(40)), "task": "captioning"})
        except httpx.HTTPError as error:
            return type(error).__name__
        if answer.status_code == 200:
            self.acknowledged.add(answer.json()["request_id"])
        return answer.status_code

    def teardown(self) -> None:
        """Revert what is left, then judge the end state, unless a step already failed:
        hypothesis calls this in a `finally`, and a second error would replace the first."""
        failing = sys.exc_info()[1] is not None
        try:
            errors = []
            for name, present in self.active.items():  # the safety net, not a step
                try:
                    present.fault.revert(self.stack)
                except Exception as error:  # the others are reverted all the same
                    errors.append(f"revert of {name}: {error!r}")
            self.active.clear()
            if errors:
                raise ScenarioFailed(Phase.RESIDUE, Category.SUITE, "; ".join(errors))
            started = time.time()
            try:
                self.stack.wait_healthy(timeout=STEADY_STATE_BUDGET)
                print(f"[explore] sequence over: steady state again after "
                      f"{time.time() - started:.1f}s", file=sys.stderr, flush=True)
            except TimeoutError as error:
                if not failing:
                    raise ScenarioFailed(Phase.RESIDUE, Category.RESIDUE,
                                         f"not back to steady state {STEADY_STATE_BUDGET:.0f}s "
                                         f"after every fault was reverted: {error}") from None
            if not failing:
                self._all_stored()
        finally:
            self.http.close()

    def _alerts_fired(self, wait: bool) -> list[str]:
        """Each present fault's alerts firing once its budget has passed (with wait, waits
        for that). A fault whose app restarted since it came, or any fault while the app's
        own process is faulted, is not judged: the alert's condition changed."""
        if any(p.explorable.target == "app" for p in self.active.values()):
            return []
        app_started = self._app_started()
        fired = []
        for name, present in self.active.items():
            if present.alerted:
                continue
            if present.app_started != app_started:
                present.alerted = True  # not judged: the app restarted since the fault came
                continue
            deadlines = {alert: present.injected_at + alert_deadline(
                self._max_delay(alert), present.explorable.entry.detect_budget)
                for alert in present.explorable.entry.alerts}
            if not wait and time.time() < max(deadlines.values(), default=0.0):
                continue  # judged once every alert of the fault is due
            for alert, deadline in deadlines.items():
                try:
                    wait_until(lambda a=alert: self.prometheus.alert_state(a) == "firing",
                               timeout=max(deadline - time.time(), 0.5), interval=0.5,
                               what=f"{alert} firing")
                except TimeoutError:
                    raise ScenarioFailed(
                        Phase.ALERT, Category.ALERT_MISSING,
                        f"{alert} not firing {time.time() - present.injected_at:.1f}s after "
                        f"{name} was injected (budget {deadline - present.injected_at:.1f}s; "
                        f"state: {self.prometheus.alert_state(alert)})") from None
                fired.append(alert)
            present.alerted = True
        return fired

    def _max_delay(self, alert: str) -> float:
        """The catalog's promise for the alert (never alerts.yml's own), compressed."""
        return self.stack.compression.scale(ALERTS[alert].max_delay)

    def _all_stored(self) -> None:
        wanted = sorted(self.acknowledged)
        if not wanted:
            return

        def counts() -> dict[str, int]:
            return stored_counts(self.stack.endpoints.postgres_dsn, wanted)

        try:
            found = wait_until(lambda: (c := counts()) and len(c) == len(wanted) and c,
                               timeout=30, what="acknowledged stored")
        except TimeoutError:
            lost = sorted(set(wanted) - set(counts()))
            raise ScenarioFailed(Phase.VALIDATE, Category.DATA_LOST,
                                 f"{len(lost)} acknowledged inferences never reached "
                                 f"PostgreSQL, e.g. {lost[:3]}") from None
        twice = sorted(key for key, n in found.items() if n != 1)
        if twice:
            raise ScenarioFailed(Phase.VALIDATE, Category.DATA_LOST,
                                 f"{len(twice)} inferences stored more than once, e.g. {twice[:3]}")


def replay_command(seed: int | None, examples: int, variant: str | None = None) -> str:
    return (f"make explore examples={examples}" + (f" seed={seed}" if seed is not None else "")
            + (f" variant={variant}" if variant else ""))


def journal_of(run_id: str, compression_factor: float, examples: int, variant: str | None,
               started: float, error: BaseException | None, replay: str,
               steps: list[dict[str, Any]]) -> Journal:
    """The exploration as a journal: its steps are the last (on failure, the shrunk) sequence,
    in `commands`; a failure keeps the phase and category the sequence failed in."""
    steps = steps if error is not None else []
    ended = time.time()
    failure = None
    if isinstance(error, ScenarioFailed):
        failure = Failure(error.phase, error.category, f"{error.message}\nreplay: {replay}")
    elif error is not None:
        failure = Failure(Phase.SUITE, Category.SUITE, f"{error!r}\nreplay: {replay}")
    sequence = " → ".join(s["command"].removeprefix("state.") for s in steps)
    tried = ", ".join(f"{rule} ×{n}" for rule, n in sorted(FaultSequences.rules_run.items()))
    journal = Journal(
        scenario=SCENARIO, run_id=run_id, variant=variant or REAL,
        title=f"Random fault sequences: {examples} examples of up to {MAX_STEPS} steps",
        fault=sequence or f"every sequence kept the promises (steps: {tried or 'none'})",
        runbook="the sequence",
        section="", compression_factor=compression_factor,
        compression_reason=monitoring.FACTOR_REASON, commands=steps, injection=replay,
        budgets={"detect": DETECT_BUDGET, "recover": STEADY_STATE_BUDGET})
    # The exploration's first injection is its start: readers measure from `injected_at`.
    journal.phases.append(PhaseRecord(Phase.INJECT, started, ended, round(ended - started, 3),
                                      ok=failure is None, details={"injected_at": started}))
    if failure is not None:
        journal.failure = failure
        journal.result = Result.FAILED if failure.category.product_defect else Result.BROKEN
    else:
        journal.result = Result.PASSED
    return journal

"""Journals for the report tests, built with the lifecycle's own types (gameday.journal), so that
a change of the journal's shape breaks these tests rather than the reports of a game day.

`Run` lays a journal down phase after phase as gameday.lifecycle does; the functions below it
are the sample runs: a passing db-down (two runs, for the trends), a self-healing
service-crash, a port-conflict whose runbook fails, and db-down's alert-rule-removed variant.
Each run that reaches validation carries the cost of its fault to the users of a bounded load
(`Run.load`, judged by gameday.traffic's own `impact`); the others have none, as no load was
judged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from gameday import catalog
from gameday.journal import (
    DETECT_BUDGET,
    REAL,
    RECOVER_BUDGET,
    Category,
    Failure,
    Figure,
    Journal,
    Phase,
    PhaseRecord,
    Result,
    alert_deadline,
)
from gameday.observers import JournalFile
from gameday.prober import Observation
from gameday.traffic import Request, impact

OLD_RUN, NEW_RUN = "a1b2c3d4e5", "f6e5d4c3b2"
NEW_START = 1764270000.0  # 2025-11-27 19:00:00 UTC
OLD_START = NEW_START - 86400.0
PG_ALERT = "DatabaseConnectionFailure"
RATE = 50.0  # the load's inferences a second
MAX_DELAY = 13.0  # drill seconds after detection the samples state (with the uncompressed 5 s: 18)


class Run:
    """A journal written the way the lifecycle writes it, one phase after the other."""

    def __init__(self, scenario: str, title: str, run_id: str, start: float, *, fault: str,
                 runbook: str, section: str, variant: str = REAL,
                 recover_budget: float = RECOVER_BUDGET) -> None:
        declared = catalog.get(scenario)  # what the scenario must fire (or must not page)
        self.journal = Journal(
            scenario=scenario, title=title, run_id=run_id, variant=variant, fault=fault,
            runbook=runbook, section=section, compression_factor=20.0,
            alerts=list(declared.alerts), must_not_page=list(declared.must_not_page),
            compression_reason="every `for:` and range window divided by 20",
            budgets={"detect": DETECT_BUDGET, "recover": recover_budget})
        self.t0 = self.clock = start
        self.injected = 0.0

    def start(self, name: Phase) -> PhaseRecord:
        record = PhaseRecord(name=name, started=self.clock)
        self.journal.phases.append(record)
        return record

    def close(self, record: PhaseRecord, until: float, ok: bool = True, **details: Any) -> None:
        """The phase ends at `until`; a failed one returns no details."""
        record.ended, record.ok = until, ok
        record.seconds = round(until - record.started, 3)
        record.details = details if ok else {}
        self.clock = until + 0.01

    def phase(self, name: Phase, seconds: float, ok: bool = True, **details: Any) -> None:
        self.close(self.start(name), self.clock + seconds, ok, **details)

    def inject(self, note: str, fault: str) -> None:
        self.injected = self.clock + 0.001
        self.journal.injection = note
        self.phase(Phase.INJECT, 0.55, injected_at=self.injected, note=note, fault=fault)

    def probe(self, after: float, endpoint: str, ok: bool, status: int | None,
              body: str = "") -> float:
        """A probe that changed state `after` seconds after the injection (the steady ones
        before it are at the start of the run)."""
        at = self.injected + after if self.injected else self.t0 + after
        self.journal.timeline.append({**asdict(Observation(at, endpoint, ok, status, body)),
                                      "t": round(at - self.t0, 3)})
        self.journal.timeline.sort(key=lambda o: o["at"])
        return at

    def command(self, phase: Phase, line: int, text: str, seconds: float = 0.4,
                exit_code: int = 0, output: str = "") -> None:
        """A runbook line run in the toolbox, starting now."""
        self.journal.commands.append({"line": line, "command": text, "run": True,
                                      "phase": phase.value, "started": self.clock,
                                      "exit_code": exit_code, "seconds": seconds,
                                      "output": output})
        self.clock += seconds + 0.01

    def skipped(self, phase: Phase, line: int, text: str) -> None:
        self.journal.commands.append({"line": line, "command": text, "run": False,
                                      "phase": phase.value,
                                      "why": "marked for another deployment"})

    def notify(self, alertname: str, status: str, after: float, severity: str = "critical",
               runbook: str = "database-issues.md") -> None:
        self.journal.notifications.append({
            "receiver": f"oncall-{severity}", "status": status,
            "received_at": self.injected + after,
            "alerts": [{"status": status, "annotations": {
                "runbook_url": f"https://runbooks.example/runbooks/{runbook}"},
                "labels": {"alertname": alertname, "severity": severity,
                           "service": "mobile-multimodal"}}]})

    def load(self, status: Callable[[float], int], slower: float = 1.0) -> None:
        """The load's inferences from the start until now, judged as the lifecycle does when
        validation starts: `status(s)` answers the one sent s seconds after the injection (0:
        connection refused); answers take 30-49 ms, `slower` times that until recovery."""
        figures = self.journal.figures
        healed = figures.get(Figure.TIME_TO_RESOLVE.value,
                             figures.get(Figure.TIME_TO_SELF_HEAL.value, 0.0))
        requests = []
        for n in range(int((self.clock - self.t0) * RATE)):
            at = self.t0 + n / RATE
            since = at - self.injected
            code = status(since)
            ms = (30 + n % 20) * (slower if 0 <= since < healed else 1.0)
            requests.append(Request(at, "inference", code, None if code else "ConnectError", ms))
        self.journal.impact = impact(requests, self.injected, self.injected + healed,
                                     self.clock, self.journal.compression_factor)

    def deadline(self) -> None:
        """The alert's deadline, recorded as the lifecycle does: a figure and the budget."""
        detected = self.journal.figures[Figure.TIME_TO_DETECT.value]
        self.journal.budgets["alert"] = alert_deadline(MAX_DELAY, detected)
        self.figures(alert_deadline=self.journal.budgets["alert"])

    def figures(self, **seconds: float) -> None:
        self.journal.figures.update({Figure(name).value: round(value, 3)
                                     for name, value in seconds.items()})

    def end(self, failure: Failure | None = None) -> Journal:
        if failure is None:
            self.phase(Phase.RESIDUE, 0.3, residue="none")
        self.journal.result = (Result.PASSED if failure is None else
                               Result.FAILED if failure.category.product_defect else
                               Result.BROKEN)
        self.journal.failure = failure
        return self.journal


STEADY = {"health": {"status": 200}, "ready": {"status": 200}, "prometheus-up": {"value": "1"}}


def _steady(run: Run) -> None:
    run.phase(Phase.STEADY_STATE, 1.85, **STEADY)
    for endpoint in ("health", "ready", "inference"):
        run.probe(0.05, endpoint, True, 200, '{"status": "healthy"}')


def db_down(run_id: str = NEW_RUN, start: float = NEW_START, *, variant: str = REAL,
            alert: float = 12.1, recover: float = 15.05, outbox: bool = True) -> Journal:
    """PostgreSQL stopped; DatabaseConnectionFailure fires, the runbook brings it back. Without
    the outbox, inferences fail while it is down: more than db-down may cost (user-impact)."""
    run = Run("db-down", "PostgreSQL is stopped", run_id, start, variant=variant,
              fault="The PostgreSQL container is stopped.", runbook="database-issues.md",
              section="Scenario 1: PostgreSQL is stopped or crashed")
    _steady(run)
    run.inject("stopped gameday-postgres (was running, exit code 0)",
               "stop_container(service='postgres')")
    run.probe(1.912, "ready", False, 503, '{"detail": "database unavailable"}')
    run.probe(1.937, "health", False, 503, '{"status": "unhealthy", "database": "down"}')
    run.figures(time_to_detect=1.912)
    run.phase(Phase.DETECT, 2.378, signals={"ready fails naming 'database'": 1.912},
              evidence=["app log says /Database connection error/"])
    run.deadline()
    if variant != REAL:  # the rule is gone: nothing fires
        run.probe(2.22, "inference", False, 500, "variant")
        run.phase(Phase.ALERT, 26.9, ok=False)
        return run.end(Failure(Phase.ALERT, Category.ALERT_MISSING,
                               f"{PG_ALERT} not firing within 26.9s (state: None)"))
    figures = {"expected_alert_delay": 8.25, "time_to_pending": 3.6, "time_to_alert": alert,
               "alert_after_symptom": alert - 3.4, "time_to_delivered": alert + 1.5}
    run.figures(**figures)
    run.notify(PG_ALERT, "firing", alert + 1.5)
    run.close(run.start(Phase.ALERT), run.injected + alert + 1.5, **{PG_ALERT: figures})
    recovery = run.start(Phase.RECOVER)
    run.command(Phase.RECOVER, 130, "docker-compose ps postgres", 0.41,
                output="gameday-postgres   postgres:16   Exited (0) 14 seconds ago")
    run.command(Phase.RECOVER, 131, "docker-compose logs --tail=20 postgres", 0.38,
                output="LOG:  database system is shut down")
    run.command(Phase.RECOVER, 132, "docker-compose up -d postgres", 0.52,
                output=" Container gameday-postgres  Started")
    run.skipped(Phase.RECOVER, 133, "kubectl rollout status statefulset/postgres")
    healthy = recovery.started + recover
    run.probe(healthy - run.injected - 0.6, "ready", True, 200, '{"status": "ready"}')
    run.probe(healthy - run.injected, "health", True, 200, '{"status": "healthy"}')
    run.figures(time_to_recover=recover, time_to_resolve=healthy - run.injected)
    run.close(recovery, healthy + 0.15, commands=run.journal.commands[:])
    validation = run.start(Phase.VALIDATE)
    if not outbox:
        run.load(lambda since: 503 if 1.9 <= since < healthy - run.injected else 200)
        run.close(validation, run.clock + 0.05, ok=False)
        cost = run.journal.impact
        return run.end(Failure(Phase.VALIDATE, Category.USER_IMPACT,
                               f"{cost['failed_inferences']} inferences failed; this fault may "
                               f"cost at most 0s of traffic (0 at {cost['rate_per_second']}/s)"))
    run.load(lambda since: 200, slower=3.0)  # the outbox answers while PostgreSQL is down
    run.command(Phase.VALIDATE, 185, "pg_isready -h postgres -p 5432", 0.21,
                output="postgres:5432 - accepting connections")
    resolved = run.clock + 6.0 - run.injected
    run.notify(PG_ALERT, "resolved", resolved)
    run.figures(time_to_alert_resolved=resolved)
    run.close(validation, run.clock + 6.2, data={"answered": 212, "stored_once": 212},
              resolved={PG_ALERT: {"seconds_after_validation": 6.0}})
    return run.end()


def service_crash(run_id: str = NEW_RUN, start: float = NEW_START + 60) -> Journal:
    """The process is killed; the restart policy brings it back before anyone is paged."""
    run = Run("service-crash", "The service's process dies; the restart policy brings it back",
              run_id, start, fault="The app's process is killed with SIGKILL.",
              runbook="service-down.md", section="A crash the restart policy healed",
              recover_budget=30.0)
    _steady(run)
    run.inject("killed app-prod's process with SIGKILL", "kill_process(service='app-prod')")
    run.probe(0.41, "health", False, None, "ConnectError: connection refused")
    run.probe(0.42, "inference", False, None, "ConnectError: connection refused")
    run.figures(time_to_detect=0.41)
    run.phase(Phase.DETECT, 0.8, signals={"health fails": 0.41},
              evidence=["the restart policy restarted the app"])
    run.probe(4.2, "inference", True, 200, '{"caption": "a tiny image"}')
    run.probe(4.25, "health", True, 200, '{"status": "healthy"}')
    run.figures(time_to_self_heal=4.25)
    run.close(run.start(Phase.ALERT), run.injected + 4.25 + 8.25, paged=[],
              healed_after=4.25, quiet_for=8.25)
    recovery = run.start(Phase.RECOVER)
    run.command(Phase.RECOVER, 52, "docker-compose ps app-prod", 0.4,
                output="app-prod   Up 9 seconds (healthy)")
    run.close(recovery, run.clock, commands=run.journal.commands[:])
    validation = run.start(Phase.VALIDATE)
    # Refused while the process is gone, then a few 503s while the model loads again.
    run.load(lambda since: 200 if not 0.4 <= since < 4.2 else 0 if since < 3.6 else 503,
             slower=2.0)
    run.command(Phase.VALIDATE, 190, "curl -fsS http://app-prod:8080/health", 0.1,
                output='{"status": "healthy"}')
    run.close(validation, run.clock + 0.1, data={"answered": 98, "stored_once": 98},
              resolved={})
    return run.end()


def port_conflict(run_id: str = NEW_RUN, start: float = NEW_START + 120) -> Journal:
    """Another container holds the port; the runbook's restart fails: recovery failed."""
    run = Run("port-conflict", "Another container holds the service's published port",
              run_id, start, fault="Another container binds the app's published port.",
              runbook="service-down.md", section="Scenario 5: Port conflicts")
    _steady(run)
    run.inject("app-prod did not start: Bind for 127.0.0.1:8080 failed: port is already "
               "allocated", "hold_port(service='app-prod')")
    run.probe(0.3, "health", False, None, "ConnectError: connection refused")
    run.figures(time_to_detect=0.3)
    run.phase(Phase.DETECT, 0.6, signals={"health fails": 0.3}, evidence=["injection saw"])
    run.deadline()
    figures = {"expected_alert_delay": 4.1, "time_to_pending": 1.2, "time_to_alert": 5.3,
               "alert_after_symptom": 4.9, "time_to_delivered": 6.4}
    run.figures(**figures)
    run.notify("ModelServiceDown", "firing", 6.4, runbook="service-down.md")
    run.close(run.start(Phase.ALERT), run.injected + 6.4, ModelServiceDown=figures)
    recovery = run.start(Phase.RECOVER)
    run.command(Phase.RECOVER, 37, "docker-compose ps app-prod", 0.3,
                output="app-prod   Created")
    output = ("Error response from daemon: driver failed programming external connectivity: "
              "Bind for 127.0.0.1:8080 failed: port is already allocated")
    run.command(Phase.RECOVER, 39, "docker-compose up -d app-prod", 1.64, exit_code=1,
                output=output)
    run.close(recovery, run.clock, ok=False)
    return run.end(Failure(Phase.RECOVER, Category.RECOVERY_FAILED,
                           f"service-down.md:39: `docker-compose up -d app-prod` exited 1: "
                           f"{output}"))


def failed(journal: Journal, phase: Phase, category: Category, message: str) -> Journal:
    """The same run, failed as the lifecycle would have failed it."""
    journal.result = Result.FAILED if category.product_defect else Result.BROKEN
    journal.failure = Failure(phase, category, message)
    return journal


def session_journals() -> list[Journal]:
    """Every sample journal, as one session of two runs would hand them to the reports."""
    return [db_down(OLD_RUN, OLD_START, alert=13.1, recover=16.6), db_down(),
            service_crash(), port_conflict(), db_down(variant="alert-rule-removed")]


@pytest.fixture
def journals() -> list[Journal]:
    return session_journals()


@pytest.fixture
def root(tmp_path: Path, journals: list[Journal]) -> Path:
    """A reports folder holding the journal files, written by the lifecycle's own writer."""
    folder = tmp_path / "reports"
    writer = JournalFile(folder / "journals")
    for journal in journals:
        writer.finished(journal)
    return folder


@pytest.fixture
def new_run(journals: list[Journal]) -> Callable[[], list[Journal]]:
    """The real journals of NEW_RUN, in the order they ran."""
    return lambda: [j for j in journals if j.run_id == NEW_RUN and j.is_real]

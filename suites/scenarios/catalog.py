"""The catalog: every game-day scenario as data. Adding a scenario is one entry here.

Each entry names its fault, the signals that must detect it (seen from outside, as a user or a
probe sees the service), the alerts that must fire and resolve, the runbook section that
recovers it and the line of that section without which recovery must fail.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass

from faults.bad_config import BadConfig
from faults.base import Fault
from faults.container_stop import StopContainer
from faults.memory_limit import MemoryLimit
from faults.model_corruption import CorruptModel
from faults.port_holder import PortHolder
from faults.process_kill import KillProcess


@dataclass(frozen=True)
class Signal:
    """A probe observation that shows the fault: an endpoint failing, optionally naming a cause."""

    endpoint: str  # health | ready | inference
    mentions: str | None = None  # a word the failing answer must contain (e.g. "database")

    def matches(self, endpoint: str, ok: bool, body: str) -> bool:
        if endpoint != self.endpoint or ok:
            return False
        return self.mentions is None or self.mentions in body.lower()

    def __str__(self) -> str:
        return f"{self.endpoint} fails" + (f" naming {self.mentions!r}" if self.mentions else "")


@dataclass(frozen=True)
class Evidence:
    """A fact about the fault seen on the engine: the app's container state or its logs."""

    kind: str  # "oom-killed" | "log" | "injection"
    pattern: str = ""

    def __str__(self) -> str:
        return {"oom-killed": "docker reports OOMKilled", "log": f"app log says /{self.pattern}/",
                "injection": f"injection saw /{self.pattern}/"}[self.kind]

    def found(self, injection_note: str, app_state: dict, app_logs: str) -> bool:
        if self.kind == "oom-killed":
            return bool(app_state.get("OOMKilled"))
        text = app_logs if self.kind == "log" else injection_note
        return re.search(self.pattern, text) is not None


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    fault: Callable[[], Fault]
    detect: tuple[Signal, ...]
    alerts: tuple[str, ...]
    section: str  # heading of the runbook section that recovers it
    key_step: str  # a recovery line without which recovery must fail
    evidence: tuple[Evidence, ...] = ()
    never_fails: tuple[str, ...] = ()  # endpoints that must keep answering throughout
    allowed_alerts: tuple[str, ...] = ()  # collateral alerts that may also fire
    runbook: str = "service-down.md"  # whose section recovers it
    alert_runbook: str = "service-down.md"  # the runbook_url its alert must carry
    detect_budget: float = 15.0
    recover_budget: float = 90.0


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        name="service-crash",
        title="The service's process is killed",
        fault=KillProcess,
        detect=(Signal("health"), Signal("inference")),
        alerts=("ModelServiceDown",),
        section="3. Quick restart",
        key_step="docker-compose restart app-prod",
    ),
    Scenario(
        name="oom",
        title="The service outgrows its memory limit",
        fault=MemoryLimit,
        detect=(Signal("health"),),
        evidence=(Evidence("oom-killed"),),
        alerts=("ModelServiceDown",),
        allowed_alerts=("HighMemoryUsage", "CriticalMemoryUsage"),
        section="Scenario 1: Out of memory",
        key_step="docker-compose up -d app-prod",
    ),
    Scenario(
        name="model-corruption",
        title="The model file is corrupted on its volume",
        fault=CorruptModel,
        detect=(Signal("health", "model"), Signal("ready", "model"), Signal("inference")),
        evidence=(Evidence("log", r"Model loading failure"),),
        alerts=("ModelLoadFailure",),
        allowed_alerts=("HighErrorRate", "CriticalErrorRate"),
        section="Scenario 2: Model loading failure",
        alert_runbook="model-load-failure.md",
        key_step="download_models.py",
    ),
    Scenario(
        name="db-down",
        title="PostgreSQL is down",
        fault=StopContainer,
        detect=(Signal("ready", "database"), Signal("health", "database")),
        never_fails=("inference",),
        evidence=(Evidence("log", r"Database connection error"),),
        alerts=("DatabaseConnectionFailure",),
        section="Scenario 3: Database connection issues",
        alert_runbook="database-issues.md",
        key_step="docker-compose up -d postgres",
    ),
    Scenario(
        name="bad-config",
        title="An invalid configuration is deployed",
        fault=BadConfig,
        detect=(Signal("health"),),
        evidence=(Evidence("log", r"Configuration error: server\.port"),),
        alerts=("ModelServiceDown",),
        section="Scenario 4: Configuration issues",
        key_step="cp /app/release/config/production.yml config/production.yml",
    ),
    Scenario(
        name="port-conflict",
        title="Another process holds the service's port",
        fault=PortHolder,
        detect=(Signal("health"),),
        evidence=(Evidence("injection", r"port is already allocated|address already in use"),),
        alerts=("ModelServiceDown",),
        section="Scenario 5: Port conflicts",
        key_step="docker rm -f",
    ),
)

BY_NAME = {scenario.name: scenario for scenario in SCENARIOS}


class UnknownScenario(KeyError):
    def __str__(self) -> str:
        return f"unknown scenario {self.args[0]!r}; known scenarios: {', '.join(BY_NAME)}"


def get(name: str) -> Scenario:
    try:
        return BY_NAME[name]
    except KeyError:
        raise UnknownScenario(name) from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check a scenario name, or list them.")
    parser.add_argument("--check", metavar="NAME", help="exit non-zero unless NAME is known")
    args = parser.parse_args(argv)
    if args.check is None:
        print("\n".join(f"{s.name:18} {s.title}" for s in SCENARIOS))
        return 0
    if args.check not in BY_NAME:
        given = f"unknown scenario {args.check!r}" if args.check else "no scenario given"
        print(f"{given}. Usage: make chaos scenario=NAME, where NAME is one of:", file=sys.stderr)
        print("\n".join(f"  {s.name:18} {s.title}" for s in SCENARIOS), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

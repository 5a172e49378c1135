"""The catalog: every game-day scenario as data. Adding a scenario is one entry here.

Each entry names its fault with every setting visible, the signals that must detect it (seen
from outside, as a user or a probe sees the service), the alerts that must fire and resolve
(or, for a fault the deployment heals by itself, the alerts that must NOT page), the runbook
section that recovers it and the line of that section without which recovery must fail.

What an alert must carry when it reaches the receiver is declared here too (ALERTS), from the
spec, never read from the monitoring files the drill is checking. This module imports no
fault and no Docker client, so that a scenario name is checked in well under a second.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gameday.journal import DETECT_BUDGET, RECOVER_BUDGET

if TYPE_CHECKING:
    from faults.base import Fault

SERVICE_LABEL = "mobile-multimodal"
# How long a fault that restarts the service must keep /health failing before it is told from
# the restart itself: a healthy release restarts the app in about 3 s on these machines.
RESTART_SECONDS = 10.0


@dataclass(frozen=True)
class Paging:
    """What one alert must carry when it reaches Alertmanager's receiver, and by when."""

    severity: str  # critical | warning
    runbook: str  # the runbook its runbook_url names, whose sections recover it
    # The longest production delay from the symptom (first seen from outside) to the page
    # reaching the receiver: what on-call was promised. The drill divides it by its factor; a
    # rule whose `for:` or window outgrows it fails with alert-late. Each is the rule's `for`
    # and the window it must fill, plus 2 minutes: a scrape and an evaluation (30 s), and
    # Alertmanager's group_interval (1m) for an alert whose group paged before, with room.
    max_delay: str = "3m"
    service: str = SERVICE_LABEL

    @property
    def receiver(self) -> str:
        return {"critical": "oncall-critical", "warning": "team-warning"}[self.severity]


ALERTS: dict[str, Paging] = {
    "ModelServiceDown": Paging("critical", "service-down.md", "3m"),
    "ModelLoadFailure": Paging("critical", "model-load-failure.md", "3m"),
    "NodeExporterDown": Paging("warning", "service-down.md", "7m"),
    "HighErrorRate": Paging("warning", "high-error-rate.md", "8m"),
    "CriticalErrorRate": Paging("critical", "high-error-rate.md", "5m"),
    "HighInferenceLatency": Paging("warning", "high-error-rate.md", "12m"),
    "HighMemoryUsage": Paging("warning", "high-memory.md", "4m"),
    "CriticalMemoryUsage": Paging("critical", "high-memory.md", "3m"),
    "HighCPUUsage": Paging("warning", "high-memory.md", "9m"),
    "DiskSpaceLow": Paging("warning", "service-down.md", "7m"),
    "DatabaseConnectionFailure": Paging("critical", "database-issues.md", "3m"),
    "RedisDown": Paging("warning", "database-issues.md", "3m"),
    "InferenceOutboxStuck": Paging("warning", "database-issues.md", "17m"),
    "InferenceRecordsDeadLettered": Paging("warning", "database-issues.md", "2m"),
    "UnauthorizedAccess": Paging("warning", "security-incident.md", "4m"),
    "AnomalousTraffic": Paging("warning", "security-incident.md", "12m"),
    # The golden inferences run every 30 s: a wrong answer shows within one interval.
    "InferenceAnswersWrong": Paging("critical", "synthetic-monitoring.md", "5m"),
    "SyntheticMonitorDown": Paging("critical", "synthetic-monitoring.md", "4m"),
}


@dataclass(frozen=True)
class FaultSpec:
    """A fault by module name (faults/NAME.py, class in CamelCase) with all its settings."""

    module: str
    settings: dict[str, Any] = field(default_factory=dict)

    def build(self) -> Fault:
        module = importlib.import_module(f"faults.{self.module}")
        cls = getattr(module, "".join(part.title() for part in self.module.split("_")))
        return cls(**self.settings)

    def __str__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.settings.items())
        return f"{self.module}({args})"


def fault(module: str, **settings: Any) -> FaultSpec:
    return FaultSpec(module, settings)


@dataclass(frozen=True)
class Signal:
    """A probe observation that shows the fault: an endpoint failing, optionally naming a cause,
    or (with slower_than) an endpoint answering slower than that many seconds. With `lasting`,
    the endpoint must fail for that many seconds in a row: longer than a healthy restart of the
    deployment keeps it down, so that a fault which restarts the service (a release) is told
    from the restart itself."""

    endpoint: str  # health | ready | inference
    mentions: str | None = None  # a word the failing answer must contain (e.g. "database")
    slower_than: float | None = None
    lasting: float | None = None

    def matches(self, endpoint: str, ok: bool, body: str, seconds: float = 0.0) -> bool:
        if endpoint != self.endpoint:
            return False
        if self.slower_than is not None:
            return seconds > self.slower_than
        if ok:
            return False
        return self.mentions is None or self.mentions in body.lower()

    def seen_at(self, observations: Iterable[Any]) -> float | None:
        """When the signal first shows in the prober's observations (`at`, `endpoint`, `ok`,
        `body`, `seconds`, in time order); a lasting one, when it had lasted long enough."""
        run_start = None
        for o in observations:
            if o.endpoint != self.endpoint:
                continue
            if not self.matches(o.endpoint, o.ok, o.body, o.seconds):
                run_start = None
                continue
            run_start = o.at if run_start is None else run_start
            if not self.lasting or o.at - run_start >= self.lasting:
                return o.at
        return None

    def __str__(self) -> str:
        if self.slower_than is not None:
            return f"{self.endpoint} slower than {self.slower_than:g}s"
        text = f"{self.endpoint} fails" + (f" naming {self.mentions!r}" if self.mentions else "")
        return text + (f" for {self.lasting:g}s in a row" if self.lasting else "")


@dataclass(frozen=True)
class Query:
    """What Prometheus sees: a PromQL expression (production durations, compressed with the
    drill) that returns nothing in steady state and something while the fault is present."""

    expr: str
    what: str  # a few words for the reports

    def __str__(self) -> str:
        return f"Prometheus: {self.what} ({self.expr})"


Detection = Signal | Query


@dataclass(frozen=True)
class Evidence:
    """A fact about the fault seen on the engine: the app's container state or its logs."""

    kind: str  # "oom-killed" | "died" | "log" | "injection"
    pattern: str = ""

    def __str__(self) -> str:
        return {"oom-killed": "docker reports OOMKilled",
                "died": "the engine saw the app's process die (restarted or stopped)",
                "log": f"app log says /{self.pattern}/",
                "injection": f"injection saw /{self.pattern}/"}[self.kind]

    def found(self, injection_note: str, app_state: dict, app_logs: str,
              restarts: int = 0) -> bool:
        if self.kind == "oom-killed":
            return bool(app_state.get("OOMKilled"))
        if self.kind == "died":
            return restarts > 0 or not app_state.get("Running")
        text = app_logs if self.kind == "log" else injection_note
        return re.search(self.pattern, text) is not None


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    fault: FaultSpec
    detect: tuple[Detection, ...]  # outside signals, all absent in steady state
    alerts: tuple[str, ...]  # must fire, reach the receiver, and resolve
    section: str  # heading of the runbook section that recovers it (or verifies a self-heal)
    key_step: str | None  # a recovery line without which recovery must fail
    evidence: tuple[Evidence, ...] = ()
    never_fails: tuple[str, ...] = ()  # endpoints that must keep answering throughout
    allowed_alerts: tuple[str, ...] = ()  # collateral alerts that may also fire
    must_not_page: tuple[str, ...] = ()  # the deployment heals this by itself: nobody paged
    # What the fault may cost users: seconds' worth of inferences (at the load's rate) that may
    # fail, from the injection until validation begins. 0 where the service promises to keep
    # serving; where it is down until the runbook acts, the honest figure (measured, with room).
    may_fail_seconds: float = 0.0
    # never_fails holds through the runbook's recovery too (e.g. a key rotation, which must not
    # cost a client that follows line 1 of the keys file a single answer), not only until it.
    recovery_keeps_serving: bool = False
    # The runbook says not to restart the service for this fault: its process must be the same
    # from steady state to validation (start time and restart count unchanged).
    keeps_running: bool = False
    # Who repairs the fault outside the service's runbook (e.g. the network team restores a
    # link): the drill does it for them at the start of the recovery (the fault's repair(),
    # journaled as a simulated external event), and the runbook proves the service recovers
    # by itself. Empty: the runbook's commands must do the recovery.
    repaired_by: str = ""
    # Its usual length in a game day on a 2-core machine (median of measured game days), only to
    # balance shards: nothing is judged against it.
    usual_seconds: float = 15.0
    detect_budget: float = DETECT_BUDGET
    recover_budget: float = RECOVER_BUDGET

    @property
    def self_heals(self) -> bool:
        return not self.alerts

    @property
    def runbook(self) -> str:
        """The runbook the scenario's alert links to: the one that must recover it."""
        return ALERTS[(self.alerts or self.must_not_page)[0]].runbook


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        name="service-crash",
        title="The service's process dies; the restart policy brings it back",
        fault=fault("kill_process", service="app-prod", signal="SIGKILL"),
        # The restart can be over before a probe lands (clients then see a slow answer, not a
        # failed one); Prometheus sees the process start anew. The engine's record is evidence.
        detect=(Query('changes(process_start_time_seconds{job="mobile-multimodal-app"}[5m]) > 0'
                      ' or up{job="mobile-multimodal-app"} == 0',
                      "the service's process started anew, or is not scraped"),),
        evidence=(Evidence("died"),),
        alerts=(),
        must_not_page=("ModelServiceDown",),
        may_fail_seconds=5.0,  # the restart's worth of traffic, at most
        section="A crash the restart policy healed",
        key_step=None,
        recover_budget=30.0,
        usual_seconds=34.0,
    ),
    Scenario(
        name="oom",
        title="A release lowers the memory limit below the service's footprint",
        fault=fault("lower_memory_limit", service="app-prod", limit="40m"),
        detect=(Signal("health", lasting=RESTART_SECONDS),),
        evidence=(Evidence("oom-killed"),),
        alerts=("ModelServiceDown",),
        allowed_alerts=("HighMemoryUsage", "CriticalMemoryUsage"),
        section="Scenario 1: Out of memory",
        key_step="cp /app/release/docker-compose.yml",
        may_fail_seconds=60.0,  # down until the runbook acts: measured 34 s
        usual_seconds=38.0,
    ),
    Scenario(
        name="memory-climb",
        title="A release raises the upload cache to most of the memory limit; a burst of "
              "distinct photos fills it and the memory stays resident",
        fault=fault("cache_release", field="server.upload_cache_mb", value=864, photos=406,
                    side=1600),
        detect=(Signal("ready", "memory"),),
        evidence=(Evidence("injection", r"'app_upload_cache_bytes': 8[67]\d\b"),),
        may_fail_seconds=5.0,  # the release's restart, at most
        # The memory fills while the burst is sent: the symptom shows 40-60 s after the release.
        detect_budget=75.0,
        alerts=("HighMemoryUsage", "CriticalMemoryUsage"),
        # Decoding the burst keeps a core busy for 21-36 s (measured), 5-9 production minutes:
        # past HighCPUUsage's 2m window and 5m `for` when it lasts longer than about 28 s.
        allowed_alerts=("HighCPUUsage",),
        section="Scenario 2: memory stays high after a release or a burst (a cache, a leak)",
        key_step="docker-compose restart app-prod",
        usual_seconds=58.0,
    ),
    Scenario(
        name="cpu-saturation",
        title="A release raises the pixel limit; a client app's full-resolution screenshots "
              "saturate the service's CPU",
        fault=fault("pixel_release", field="server.max_image_pixels", value=25_000_000,
                    width=6000, height=4000, clients=4),
        # The heavy uploads hold every running place: users' inferences are refused at once.
        detect=(Signal("inference", "overloaded"),),
        allowed_alerts=("HighInferenceLatency",),
        alerts=("HighCPUUsage",),
        section="Scenario 4: CPU saturated",
        key_step="cp /app/release/config/production.yml config/production.yml",
        usual_seconds=70.0,
        may_fail_seconds=20.0,  # refused while saturated: measured 6.5 s
    ),
    Scenario(
        name="model-corruption",
        title="The model file is corrupted on its volume; the verified model keeps serving",
        fault=fault("corrupt_model", offset=256, length=64),
        detect=(Signal("health", "model"), Signal("ready", "model")),
        never_fails=("inference",),
        may_fail_seconds=0.0,  # the verified model keeps serving
        evidence=(Evidence("log", r"Model loading failure"),),
        alerts=("ModelLoadFailure",),
        section="Scenario 1: the weights or the manifest are missing",
        key_step="download_models.py",
        keeps_running=True,
        usual_seconds=32.0,
    ),
    Scenario(
        name="model-store-down-during-recovery",
        title="The model file is corrupted while the model store is down; the first download "
              "fails",
        fault=fault("corrupt_model_store_down", offset=256, length=64),
        detect=(Signal("health", "model"), Signal("ready", "model")),
        never_fails=("inference",),
        evidence=(Evidence("log", r"Model loading failure"),
                  Evidence("injection", r"model-store is exited")),
        alerts=("ModelLoadFailure",),
        section="Scenario 2: the model store is not reachable",
        key_step="docker-compose up -d model-store",
        keeps_running=True,
        usual_seconds=31.0,
    ),
    Scenario(
        name="error-burst",
        title="A model release that verifies and loads but fails every inference is installed",
        fault=fault("bad_model_release", version="1.1.0-rc1", extra_inputs=8),
        detect=(Signal("inference"),),
        never_fails=("health", "ready"),
        evidence=(Evidence("log", r"Inference failed"),),
        alerts=("HighErrorRate", "CriticalErrorRate"),
        section="Scenario 7: a new model release fails every inference",
        key_step="download_models.py",
        usual_seconds=58.0,
        keeps_running=True,
        may_fail_seconds=70.0,  # every inference fails until the rollback: measured 43 s
    ),
    Scenario(
        name="silent-wrong-answers",
        title="A model release that verifies, loads and answers every request with 200, "
              "wrongly, is installed",
        fault=fault("wrong_answers_release", version="1.1.0"),
        # Only the monitor's golden inferences can tell: every answer is a 200.
        detect=(Query('min(inference_answer_correct{job="synthetic-monitor"}) == 0',
                      "a golden inference of the synthetic monitor answered wrong"),),
        never_fails=("health", "ready", "inference"),
        evidence=(Evidence("injection", r"installed 1\.1\.0 sha256"),),
        alerts=("InferenceAnswersWrong",),
        section="Scenario 1: a model release answers wrongly",
        key_step="download_models.py",
        keeps_running=True,
        # The golden inferences run every 30 s in the drill too (a rate, not compressed): the
        # first wrong answer comes up to 30 s after the release is loaded.
        detect_budget=40.0,
        usual_seconds=70.0,
    ),
    Scenario(
        name="db-down",
        title="PostgreSQL is stopped",
        fault=fault("stop_container", service="postgres"),
        detect=(Signal("ready", "database"), Signal("health", "database")),
        never_fails=("inference",),
        may_fail_seconds=0.0,
        evidence=(Evidence("log", r"Database connection error"),),
        alerts=("DatabaseConnectionFailure",),
        section="Scenario 1: PostgreSQL is stopped or crashed",
        key_step="docker-compose up -d postgres",
        keeps_running=True,
        usual_seconds=37.0,
    ),
    Scenario(
        name="db-hung",
        title="PostgreSQL hangs: connections accepted, never answered",
        fault=fault("pause_container", service="postgres"),
        detect=(Signal("ready", "database"), Signal("health", "database")),
        never_fails=("inference",),
        may_fail_seconds=0.0,  # timeouts, then the outbox: a hung database costs no answer
        evidence=(Evidence("log", r"Database connection error"),),
        alerts=("DatabaseConnectionFailure",),
        section="Scenario 2: PostgreSQL runs but does not answer",
        key_step="docker-compose restart postgres",
        usual_seconds=58.0,
        keeps_running=True,
    ),
    Scenario(
        name="redis-restart-during-db-outage",
        title="Redis restarts while PostgreSQL is down and the outbox holds acknowledged records",
        fault=fault("restart_during_outage", down="postgres", restarted="redis",
                    acknowledged=200),
        detect=(Signal("ready", "database"), Signal("health", "database")),
        evidence=(Evidence("log", r"Database connection error"),),
        alerts=("DatabaseConnectionFailure",),
        allowed_alerts=("RedisDown",),
        section="Scenario 1: PostgreSQL is stopped or crashed",
        key_step="docker-compose up -d postgres",
        keeps_running=True,
        # The few requests in flight when Redis goes while PostgreSQL is down have no store
        # to take their record for a moment, and are refused (measured: 2 at 50/s).
        may_fail_seconds=0.2,
        usual_seconds=43.0,
    ),
    Scenario(
        name="redis-down",
        title="Redis is stopped; the service answers without its cache",
        fault=fault("stop_container", service="redis"),
        detect=(Signal("health", "redis"), Signal("ready", "redis")),
        never_fails=("inference",),
        evidence=(Evidence("log", r"Redis connection error"),),
        alerts=("RedisDown",),
        section="Scenario 3: Redis is stopped or not answering",
        key_step="docker-compose up -d redis",
        keeps_running=True,
        usual_seconds=31.0,
    ),
    Scenario(
        name="network-partition",
        title="The network path to PostgreSQL is cut: connections hang, nothing is delivered",
        fault=fault("network_toxic", proxies=("postgres",), toxic="timeout",
                    attributes={"timeout": 0}),
        detect=(Signal("ready", "database"), Signal("health", "database")),
        never_fails=("inference",),
        evidence=(Evidence("log", r"Database connection error"),),
        alerts=("DatabaseConnectionFailure",),
        allowed_alerts=("RedisDown",),
        section="Scenario 6: the network path to PostgreSQL is cut",
        repaired_by="the network team restores the cut link between the service and PostgreSQL",
        key_step=None,  # the link's owner repairs it; the runbook waits for the reconnection
        usual_seconds=46.0,
        keeps_running=True,
    ),
    Scenario(
        name="dependency-resets",
        title="Every connection to PostgreSQL and Redis is reset on its first data; the "
              "service answers through its file outbox",
        fault=fault("network_toxic", proxies=("postgres", "redis"), toxic="reset_peer",
                    attributes={"timeout": 0}, streams=("upstream",)),
        detect=(Signal("health", "database"), Signal("health", "redis"),
                Signal("ready", "database")),
        never_fails=("inference",),
        may_fail_seconds=0.0,  # the cache is skipped and the file outbox takes every record
        # libpq reports a reset as the server closing the connection; redis-py names the reset.
        evidence=(Evidence("log", r"Database connection error: .*server closed the connection"),
                  Evidence("log", r"Redis connection error: .*Connection reset by peer")),
        alerts=("DatabaseConnectionFailure", "RedisDown"),
        section="Scenario 7: connections to PostgreSQL and Redis are reset",
        repaired_by="the network team fixes the middlebox that resets the service's connections "
                    "to PostgreSQL and Redis",
        key_step=None,  # the middlebox's owner repairs it; the runbook waits for the reconnection
        usual_seconds=39.0,
        keeps_running=True,
    ),
    Scenario(
        name="outbox-stuck",
        title="A schema migration renames a column the service writes; the outbox stops draining",
        fault=fault("schema_migration", column="image_sha256", renamed_to="image_digest"),
        detect=(Signal("health", "refuses inference records"),
                Signal("ready", "refuses inference records")),
        never_fails=("inference",),
        evidence=(Evidence("log", r"PostgreSQL refuses inference records"),),
        alerts=("InferenceOutboxStuck",),
        section="Scenario 4: the outbox does not drain although PostgreSQL is up",
        key_step="down.sql",
        usual_seconds=88.0,
        keeps_running=True,
    ),
    Scenario(
        name="node-exporter-down",
        title="The node exporter stops; the host's metrics go blind while the service is fine",
        fault=fault("stop_container", service="node-exporter"),
        detect=(Query('up{job="node"} == 0', "the node exporter is not scraped"),),
        evidence=(Evidence("injection", r"node-exporter is exited"),),
        never_fails=("health", "ready", "inference"),
        alerts=("NodeExporterDown",),
        section="Scenario 6: the node exporter is not scraped (NodeExporterDown)",
        key_step="docker-compose up -d node-exporter",
        usual_seconds=47.0,
        keeps_running=True,
    ),
    Scenario(
        name="monitor-down",
        title="The synthetic monitor stops: nobody checks the answers, while the service is fine",
        fault=fault("stop_container", service="synthetic-monitor"),
        detect=(Query('up{job="synthetic-monitor"} == 0', "the synthetic monitor is not scraped"),),
        evidence=(Evidence("injection", r"synthetic-monitor is exited"),),
        never_fails=("health", "ready", "inference"),
        alerts=("SyntheticMonitorDown",),
        section="Scenario 2: the synthetic monitor is down",
        key_step="docker-compose up -d synthetic-monitor",
        usual_seconds=45.0,
        keeps_running=True,
    ),
    Scenario(
        name="disk-full",
        title="A job writes an export to the service's data volume until the disk is full",
        fault=fault("fill_disk", path="/app/data/exports/nightly-export.bin"),
        detect=(Signal("health", "disk"),),
        evidence=(Evidence("injection", r"No space left on device"),),
        # PostgreSQL takes every record: a full data volume costs users nothing yet.
        never_fails=("ready", "inference"),
        may_fail_seconds=0.0,
        alerts=("DiskSpaceLow",),
        section="Scenario 7: the disk under the service's volumes is full (DiskSpaceLow)",
        key_step="xargs -r -d '\\n' rm -v",
        usual_seconds=47.0,
        keeps_running=True,
    ),
    Scenario(
        name="records-dead-lettered",
        title="A data migration adds a CHECK constraint the service's records violate",
        fault=fault("constraint_migration", constraint="task_known",
                    check="task IN ('caption', 'ocr', 'vqa')"),
        detect=(Query('increase(inference_outbox_dead_letters_total{job="mobile-multimodal-app"}'
                      '[1m]) > 0', "records dead-lettered"),),
        evidence=(Evidence("log", r"Outbox entry dead-lettered"),),
        never_fails=("health", "ready", "inference"),
        alerts=("InferenceRecordsDeadLettered",),
        section="Scenario 5: records in the dead-letter table",
        key_step="down.sql",
        usual_seconds=87.0,
        keeps_running=True,
    ),
    Scenario(
        name="slow-database",
        title="The link to PostgreSQL gets slow; every inference waits for its record",
        fault=fault("network_toxic", proxies=("postgres",), toxic="latency",
                    attributes={"latency": 400, "jitter": 0}, streams=("downstream",)),
        detect=(Signal("inference", slower_than=0.4),),  # nothing fails; it is slow
        never_fails=("health", "ready"),
        alerts=("HighInferenceLatency",),
        section="Scenario 8: slow inference because PostgreSQL answers slowly",
        repaired_by="the network team removes the delay on the link between the service and "
                    "PostgreSQL",
        key_step=None,  # the link's owner repairs it; the runbook waits until it is fast again
        usual_seconds=89.0,
        keeps_running=True,
    ),
    Scenario(
        name="bad-config",
        title="An invalid configuration is deployed",
        fault=fault("bad_config", field="server.port", value=99999),
        detect=(Signal("health", lasting=RESTART_SECONDS),),
        evidence=(Evidence("log", r"Configuration error: server\.port"),),
        alerts=("ModelServiceDown",),
        section="Scenario 4: Configuration issues",
        key_step="cp /app/release/config/production.yml config/production.yml",
        may_fail_seconds=60.0,  # down until the runbook acts: measured 27-35 s
        usual_seconds=32.0,
    ),
    Scenario(
        name="port-conflict",
        title="Another container holds the service's published port when it starts",
        fault=fault("hold_port", service="app-prod"),
        detect=(Signal("health", lasting=RESTART_SECONDS),),
        evidence=(Evidence("injection", r"port is already allocated|address already in use"),),
        alerts=("ModelServiceDown",),
        section="Scenario 5: Port conflicts",
        key_step="docker rm -f",
        may_fail_seconds=75.0,  # down until the runbook acts: measured 24-48 s
        usual_seconds=44.0,
    ),
    Scenario(
        name="credential-stuffing",
        title="A client on the network tries hundreds of guessed API keys within seconds",
        # An attack goes on until it is stopped: 20 guesses a second for up to 15 minutes.
        fault=fault("credential_stuffing", rate=20.0, duration="15m"),
        # The service keeps serving: no probe fails; Prometheus sees the refusals.
        detect=(Query('sum(rate(auth_failures_total{job="mobile-multimodal-app", '
                      'reason="invalid"}[1m])) > 0', "inference requests with invalid keys"),),
        evidence=(Evidence("log", r"Unauthorized request from \S+ \(invalid\)"),
                  Evidence("injection", r"first answer \{401: 1\}")),
        never_fails=("health", "ready", "inference"),
        recovery_keeps_serving=True,  # the rotation cuts off no client that reads line 1
        may_fail_seconds=0.0,  # the load follows line 1 too: not one inference may fail
        alerts=("UnauthorizedAccess",),
        allowed_alerts=("AnomalousTraffic",),
        section="Scenario 1: credential stuffing",
        key_step="python -m mmllm.auth --new-key",
        usual_seconds=48.0,
        keeps_running=True,
    ),
    Scenario(
        name="retry-storm",
        title="A client release retries its connectivity check in a tight loop: one address "
              "sends 400 requests a second",
        # 45m (180 s in the drill): longer than the lifecycle runs, so that a runbook that did
        # not stop it fails its own check (not one request from that address) and the residue
        # check. The alert alone proves nothing here: a storm that lasts becomes its own
        # baseline (about 80 s in, compressed; 20 minutes in production) and the alert
        # resolves by itself.
        fault=fault("retry_storm", rate=400.0, duration="45m", path="/alive", history="15m",
                    quiet="70m"),
        # The service answers every request: Prometheus sees the rate, not a probe.
        detect=(Query('sum(rate(http_requests_total{job="mobile-multimodal-app", '
                      'handler="/alive"}[1m])) > 100', "over 100 requests a second to /alive"),),
        evidence=(Evidence("injection", r"first answer \{200: 1\}"),
                  Evidence("log", r'"GET /alive HTTP/1\.1\\" 200')),
        never_fails=("health", "ready", "inference"),
        may_fail_seconds=0.0,
        alerts=("AnomalousTraffic",),
        section="Scenario 3: a flood from one client (AnomalousTraffic)",
        key_step="xargs -r docker kill",
        usual_seconds=78.0,
        keeps_running=True,
    ),
    # Quiet cases: a fault under an alert's threshold or shorter than its `for`, which
    # production absorbs without paging. Each passes only if nobody is paged.
    Scenario(
        name="redis-restart",
        title="Redis is restarted for maintenance: a blip of a second or two that pages nobody",
        fault=fault("restart_container", service="redis"),
        detect=(Signal("health", "redis"),),
        evidence=(Evidence("log", r"Redis connection error"),),
        never_fails=("inference",),
        alerts=(),
        must_not_page=("RedisDown",),
        section="Scenario 8: Redis was restarted (a blip, no page)",
        key_step=None,
        keeps_running=True,
        recover_budget=30.0,
        usual_seconds=17.0,
    ),
    Scenario(
        name="mistyped-keys",
        title="A client mistypes its API key now and then: refusals under UnauthorizedAccess's "
              "threshold that page nobody",
        fault=fault("credential_stuffing", rate=0.5, duration="5m", exposes_key=False,
                    description="A client sent a mistyped API key about once every two seconds "
                                "for a few minutes."),
        detect=(Query('sum(rate(auth_failures_total{job="mobile-multimodal-app", '
                      'reason="invalid"}[1m])) > 0', "inference requests with invalid keys"),),
        evidence=(Evidence("log", r"Unauthorized request from \S+ \(invalid\)"),),
        never_fails=("health", "ready", "inference"),
        alerts=(),
        must_not_page=("UnauthorizedAccess",),
        section="Scenario 4: a few refused keys (no page)",
        key_step=None,
        keeps_running=True,
        recover_budget=60.0,
        usual_seconds=45.0,
    ),
    Scenario(
        name="traffic-surge",
        title="A client app's busy hour doubles the service's traffic for ten minutes: under "
              "AnomalousTraffic's bar, nobody is paged",
        # 55/s beside the game day's ~55/s: twice the usual, under 4x (the rule's bar).
        fault=fault("retry_storm", rate=55.0, duration="10m", path="/alive", history="15m",
                    quiet="", description="A client app's busy hour doubled the service's "
                    "traffic for ten minutes."),
        detect=(Query('sum(rate(http_requests_total{job="mobile-multimodal-app", '
                      'handler="/alive"}[1m])) > 25', "over 25 requests a second to /alive"),),
        evidence=(Evidence("injection", r"first answer \{200: 1\}"),),
        never_fails=("health", "ready", "inference"),
        alerts=(),
        must_not_page=("AnomalousTraffic",),
        section="Scenario 5: a surge within the usual bounds (no page)",
        key_step=None,
        keeps_running=True,
        recover_budget=90.0,
        usual_seconds=98.0,
    ),
    Scenario(
        name="cpu-spike",
        title="A client app uploads a burst of full-resolution photos for a minute: a CPU spike "
              "shorter than HighCPUUsage's five minutes, nobody is paged",
        fault=fault("photo_burst", width=4000, height=3000, clients=4, duration="1m"),
        detect=(Query('rate(process_cpu_seconds_total{job="mobile-multimodal-app"}[1m]) > 0.9',
                      "the service's process over 90% of a core"),),
        never_fails=("health", "ready"),
        alerts=(),
        must_not_page=("HighCPUUsage",),
        section="Scenario 6: a short CPU spike (no page)",
        key_step=None,
        keeps_running=True,
        may_fail_seconds=2.0,  # a user's inference may be refused while the burst holds a slot
        recover_budget=60.0,
        usual_seconds=52.0,
    ),
)

# Alerts that no scenario fires end to end yet, and why (a test keeps this list and the
# catalog in step: every alert of ALERTS is fired by a scenario or named here).
UNPROVEN: dict[str, str] = {}

BY_NAME = {scenario.name: scenario for scenario in SCENARIOS}


class UnknownScenario(KeyError):
    def __str__(self) -> str:
        return f"unknown scenario {self.args[0]!r}; known scenarios: {', '.join(BY_NAME)}"


def get(name: str) -> Scenario:
    try:
        return BY_NAME[name]
    except KeyError:
        raise UnknownScenario(name) from None


def shard(scenarios: tuple[Scenario, ...], spec: str) -> list[Scenario]:
    """The scenarios of shard "i/n": the n shards cover the catalog exactly once and take about
    as long each (longest first, each to the shard with the least so far; ties by name), so
    that a game day sharded over n machines lasts about 1/n of the whole."""
    index, _, count = spec.partition("/")
    if not (index.isdigit() and count.isdigit() and 1 <= int(index) <= int(count)):
        raise ValueError(f"a shard is i/n with 1 <= i <= n, not {spec!r}")
    loads = [0.0] * int(count)
    chosen = []
    for scenario in sorted(scenarios, key=lambda s: (-s.usual_seconds, s.name)):
        lightest = loads.index(min(loads))
        loads[lightest] += scenario.usual_seconds
        if lightest == int(index) - 1:
            chosen.append(scenario)
    order = {s.name: i for i, s in enumerate(scenarios)}
    return sorted(chosen, key=lambda s: order[s.name])  # in catalog order, as unsharded


def markdown_table() -> str:
    """The README's scenario table, generated from this catalog (a test keeps them equal)."""
    rows = ["| name | fault | must fire | recovered by |", "|---|---|---|---|"]
    for s in SCENARIOS:
        fires = ", ".join(s.alerts) or f"nothing ({', '.join(s.must_not_page)} must not page)"
        rows.append(f"| `{s.name}` | {s.title} (`{s.fault}`) | {fires} | "
                    f"{s.runbook}: {s.section} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check a scenario name, or list them.")
    parser.add_argument("--check", metavar="NAME", help="exit non-zero unless NAME is known")
    parser.add_argument("--markdown", action="store_true", help="the README's scenario table")
    args = parser.parse_args(argv)
    if args.markdown:
        print(markdown_table())
        return 0
    if args.check is None:
        print("\n".join(f"{s.name:32} {s.title}" for s in SCENARIOS))
        return 0
    if args.check not in BY_NAME:
        given = f"unknown scenario {args.check!r}" if args.check else "no scenario given"
        print(f"{given}. Usage: make chaos scenario=NAME, where NAME is one of:", file=sys.stderr)
        print("\n".join(f"  {s.name:32} {s.title}" for s in SCENARIOS), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
